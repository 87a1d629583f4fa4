"""Tests for the localserve and quickstart config writers and self-signed certificates."""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import stat
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.address import parse_domain
from mailtwist.config import (
    ConfigError,
    load_config,
    write_localserve_config,
    write_quickstart,
    write_self_signed_certificate,
)
from mailtwist.config.writer import toml_key, toml_string

# 2026-11-28 12:00 UTC
_WHEN = datetime(2026, 11, 28, 12, tzinfo=UTC)


def _clock() -> Clock:
    clock = Clock()
    clock.advance(_WHEN.timestamp())
    return clock


class TOMLRenderingTests(SynchronousTestCase):
    def test_strings_round_trip(self) -> None:
        """Rendered strings read back identically, quotes and control characters included."""
        for value in (
            "plain",
            'a "quoted" \\ path',
            "tab\tnew\nline\x01\x7f",
            "h\u00e9 \u263a",
            "",
        ):
            with self.subTest(value=value):
                self.assertEqual(tomllib.loads(f"x = {toml_string(value)}")["x"], value)

    def test_keys(self) -> None:
        """Keys are bare when TOML allows, quoted otherwise."""
        self.assertEqual(toml_key("admin"), "admin")
        self.assertEqual(toml_key("example.com"), '"example.com"')
        key = toml_key("\u263a x")
        self.assertEqual(tomllib.loads(f"{key} = 1"), {"\u263a x": 1})


class LocalserveTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())

    def test_loads(self) -> None:
        """The localserve config loads and has the spec §9.1 defaults (ports + 1000)."""
        path = write_localserve_config(self.dir, clock=_clock())
        self.assertEqual(path, self.dir / "mailtwist.toml")
        config = load_config(path)
        self.assertTrue(config.localserve)
        self.assertEqual(config.hostname.ascii, "localhost")
        self.assertEqual(config.data_dir, self.dir.absolute())
        self.assertEqual(config.postmaster_account, "mailtwist")
        self.assertTrue(config.allow_plaintext_auth)
        self.assertTrue(config.webapi_enabled)
        self.assertEqual(
            [(x.kind, x.addresses, x.port) for x in config.listeners],
            [
                ("smtp", ("127.0.0.1",), 1025),
                ("submission", ("127.0.0.1",), 1587),
                ("submissions", ("127.0.0.1",), 1465),
                ("http", ("127.0.0.1",), 1080),
                ("metrics", ("127.0.0.1",), 1081),
            ],
        )
        domain = config.domains["localhost"]
        self.assertEqual(domain.catchall_separators, ("+",))
        self.assertEqual(
            [(d.selector, d.algorithm) for d in domain.dkim], [("localserve", "ed25519-sha256")]
        )
        account = config.accounts["mailtwist"]
        self.assertEqual(account.keep_retired_message_period.total_seconds(), 72 * 3600)
        self.assertEqual(account.keep_retired_webhook_period.total_seconds(), 72 * 3600)
        self.assertEqual(config.account_for_login("mailtwist+x@localhost"), "mailtwist")
        self.assertEqual(config.tls_certificate, self.dir.absolute() / "localhost.crt")

    def test_options(self) -> None:
        """Login, account, addresses and base port shape the config."""
        path = write_localserve_config(
            self.dir,
            login="dev@localhost",
            account="dev",
            addresses=("127.0.0.1", "::1"),
            base_port=2000,
            clock=_clock(),
        )
        config = load_config(path)
        self.assertEqual(config.account_for_login("dev@localhost"), "dev")
        listener = config.listener("smtp")
        assert listener is not None
        self.assertEqual((listener.addresses, listener.port), (("127.0.0.1", "::1"), 2025))

    def test_other_login_domain(self) -> None:
        """A login at another domain gets that domain configured too."""
        config = load_config(
            write_localserve_config(self.dir, login="me@example.org", clock=_clock())
        )
        self.assertEqual(config.account_for_login("me@example.org"), "mailtwist")

    def test_idempotent(self) -> None:
        """A second call keeps the existing config, certificate and keys untouched."""
        path = write_localserve_config(self.dir, clock=_clock())
        before = {p: p.read_bytes() for p in self.dir.rglob("*") if p.is_file()}
        again = write_localserve_config(self.dir, login="other@localhost", clock=_clock())
        self.assertEqual(again, path)
        self.assertEqual({p: p.read_bytes() for p in self.dir.rglob("*") if p.is_file()}, before)

    def test_certificate(self) -> None:
        """The certificate is ECDSA P-256 for localhost, 127.0.0.1 and ::1, dated by the clock."""
        write_localserve_config(self.dir, clock=_clock())
        cert = x509.load_pem_x509_certificate((self.dir / "localhost.crt").read_bytes())
        self.assertEqual(cert.public_key().curve.name, "secp256r1")  # type: ignore[union-attr]
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(san.get_values_for_type(x509.DNSName), ["localhost"])
        self.assertEqual(
            san.get_values_for_type(x509.IPAddress),
            [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")],
        )
        self.assertTrue(cert.not_valid_before_utc < _WHEN < cert.not_valid_after_utc)

    def test_key_permissions(self) -> None:
        """Private keys are readable by their owner only (where the OS has modes)."""
        if os.name != "posix":
            raise self.skipTest("file modes are POSIX")
        write_localserve_config(self.dir, clock=_clock())
        for name in ("localhost.key", "dkim/localhost-localserve-ed25519.pem"):
            with self.subTest(name=name):
                self.assertEqual(stat.S_IMODE((self.dir / name).stat().st_mode), 0o600)

    def test_bad_base_port(self) -> None:
        """A base port that pushes listeners past 65535 is refused before writing."""
        self.assertRaises(
            ValueError, write_localserve_config, self.dir, base_port=65000, clock=_clock()
        )
        self.assertFalse(self.dir.exists())


class QuickstartTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())

    def test_loads(self) -> None:
        """The quickstart config loads: production, public listeners, TLS, webapi, DKIM."""
        quick = write_quickstart("Example.com", self.dir, clock=_clock())
        self.assertEqual((quick.account, quick.login), ("admin", "admin@example.com"))
        config = load_config(quick.config_path)
        self.assertEqual(config.mode, "production")
        self.assertEqual(config.hostname.ascii, "mail.example.com")
        self.assertFalse(config.allow_plaintext_auth)
        self.assertTrue(config.webapi_enabled)
        self.assertEqual(
            [(x.kind, x.port) for x in config.listeners],
            [
                ("smtp", 25),
                ("submission", 587),
                ("submissions", 465),
                ("http", 80),
                ("metrics", 8010),
            ],
        )
        self.assertEqual(config.listener("smtp").addresses, ("0.0.0.0", "::"))  # type: ignore[union-attr]
        self.assertEqual(config.listener("metrics").addresses, ("127.0.0.1",))  # type: ignore[union-attr]
        self.assertIsNotNone(config.tls_certificate)
        dkim = config.domains["example.com"].dkim
        self.assertEqual(
            [(d.selector, d.algorithm) for d in dkim],
            [("20261128e", "ed25519-sha256"), ("20261128r", "rsa-sha256")],
        )
        for address in ("admin@example.com", "postmaster@example.com", "dmarc-reports@example.com"):
            with self.subTest(address=address):
                self.assertEqual(config.account_for_login(address), "admin")

    def test_dns_records(self) -> None:
        """MX, SPF, one DKIM TXT per selector and DMARC are given as zone-file lines."""
        records = write_quickstart("example.com", self.dir, clock=_clock()).dns_records
        self.assertEqual(records[0], "example.com. MX 10 mail.example.com.")
        self.assertIn('example.com. TXT "v=spf1 mx -all"', records)
        self.assertIn(
            '_dmarc.example.com. TXT "v=DMARC1; p=reject; rua=mailto:dmarc-reports@example.com"',
            records,
        )
        ed25519 = [r for r in records if r.startswith("20261128e._domainkey.example.com. TXT ")]
        self.assertEqual(len(ed25519), 1)
        self.assertIn('"v=DKIM1; k=ed25519; p=', ed25519[0])
        rsa = [r for r in records if r.startswith("20261128r._domainkey.example.com. TXT ")]
        self.assertEqual(len(rsa), 1)
        strings = rsa[0].split(" TXT ", 1)[1]
        chunks = re.findall(r'"([^"]*)"', strings)
        self.assertEqual(" ".join(f'"{c}"' for c in chunks), strings)
        self.assertGreater(len(chunks), 1)
        for chunk in chunks:
            self.assertLessEqual(len(chunk), 255)
        value = "".join(chunks)
        self.assertTrue(value.startswith("v=DKIM1; k=rsa; p="))
        base64.b64decode(value.split("p=")[1], validate=True)

    def test_idn(self) -> None:
        """An IDN domain is written in Unicode in the config and in A-labels in DNS."""
        quick = write_quickstart(
            "\u263a.Example", self.dir, hostname="mx.\u263a.example", clock=_clock()
        )
        config = load_config(quick.config_path)
        self.assertEqual(config.hostname, parse_domain("mx.xn--74h.example"))
        self.assertIn("\u263a.example", quick.config_path.read_text(encoding="utf-8"))
        self.assertEqual(quick.dns_records[0], "xn--74h.example. MX 10 mx.xn--74h.example.")
        for record in quick.dns_records:
            self.assertTrue(record.isascii(), record)

    def test_refuses_overwrite(self) -> None:
        """An existing config is never overwritten."""
        self.dir.mkdir()
        (self.dir / "mailtwist.toml").write_text("# mine\n")
        self.assertRaises(
            FileExistsError, write_quickstart, "example.com", self.dir, clock=_clock()
        )
        self.assertEqual((self.dir / "mailtwist.toml").read_text(), "# mine\n")

    def test_keeps_existing_certificate(self) -> None:
        """A certificate already in tls/ is kept, not replaced by the stand-in."""
        cert, key = self.dir / "tls" / "cert.pem", self.dir / "tls" / "key.pem"
        write_self_signed_certificate(cert, key, ["mail.example.com"], now=_WHEN)
        before = cert.read_bytes()
        write_quickstart("example.com", self.dir, clock=_clock())
        self.assertEqual(cert.read_bytes(), before)

    def test_invalid_domain(self) -> None:
        """A domain or hostname that is not a domain name is a ConfigError naming it."""
        error = self.assertRaises(
            ConfigError, write_quickstart, "exa mple.com", self.dir, clock=_clock()
        )
        self.assertEqual(error.key, "domain")
        error = self.assertRaises(
            ConfigError, write_quickstart, "example.com", self.dir, hostname="-bad", clock=_clock()
        )
        self.assertEqual(error.key, "hostname")
        self.assertFalse(self.dir.exists())
