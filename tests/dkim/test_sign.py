"""Tests for DKIM signing: Ed25519 and RSA, tags, oversigning, parent-domain keys, no keys."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dkim
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.address import parse_domain
from mailtwist.config import Config, DKIMSelector, DomainConfig
from mailtwist.dkim.keys import dkim_dns_value, generate_ed25519_key, generate_rsa_key
from mailtwist.dkim.sign import SIGN_INLINE_BELOW, DKIMSigner, sign_message
from mailtwist.message.headers import field_values, split_message

_ED25519 = generate_ed25519_key()
_RSA = generate_rsa_key(2048)

MESSAGE = (
    b"From: Sender <sender@example.com>\r\n"
    b"To: rcpt@example.org\r\n"
    b"Subject: hello\r\n"
    b"Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
    b"Message-ID: <m1@example.com>\r\n"
    b"X-Unsigned: yes\r\n"
    b"\r\n"
    b"Hello there.\r\n"
)


def _config(tmp: Path, domains: dict[str, tuple[tuple[str, bytes], ...] | None]) -> Config:
    """A Config with the given domains; None marks a disabled domain without keys."""
    tmp.mkdir(parents=True, exist_ok=True)
    configs = {}
    for name, keys in domains.items():
        selectors = []
        for selector, pem in keys or ():
            path = tmp / f"{name}-{selector}.pem"
            path.write_bytes(pem)
            algorithm = "ed25519-sha256" if pem == _ED25519 else "rsa-sha256"
            selectors.append(DKIMSelector(selector, algorithm, path))
        configs[name] = DomainConfig(
            parse_domain(name), disabled=keys is None, dkim=tuple(selectors)
        )
    return Config(
        path=tmp / "mailtwist.toml",
        mode="production",
        hostname=parse_domain("mail.example.com"),
        data_dir=tmp,
        postmaster_account="admin",
        tls_certificate=None,
        tls_key=None,
        listeners=(),
        max_message_size=1000,
        max_recipients=10,
        max_connections=10,
        idle_timeout=60.0,
        queue_concurrency=1,
        attempt_timeout=60.0,
        allow_plaintext_auth=False,
        webapi_enabled=False,
        webapi_path="/webapi/",
        domains=configs,
        accounts={},
    )


def _dns(records: dict[str, bytes]) -> object:
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        return records.get(name.decode().rstrip("."))

    return dnsfunc


def _records(domain: str, keys: tuple[tuple[str, bytes], ...]) -> dict[str, bytes]:
    return {f"{sel}._domainkey.{domain}": dkim_dns_value(pem).encode() for sel, pem in keys}


def _tags(message: bytes, index: int = 0) -> dict[str, str]:
    value = field_values(split_message(message)[0], "DKIM-Signature")[index].decode()
    tags = {}
    for part in value.split(";"):
        if "=" in part:
            name, _, tag = part.partition("=")
            tags[name.strip()] = "".join(tag.split())
    return tags


class SignTests(SynchronousTestCase):
    def _signer(self, domains: dict[str, tuple[tuple[str, bytes], ...] | None]) -> DKIMSigner:
        return DKIMSigner(_config(Path(self.mktemp()), domains))

    def test_ed25519(self) -> None:
        """An Ed25519 signature (RFC 8463) verifies with dkimpy against the published key."""
        keys = (("ed", _ED25519),)
        signed = self._signer({"example.com": keys}).sign(MESSAGE, parse_domain("example.com"))
        self.assertTrue(signed.endswith(MESSAGE))
        self.assertTrue(dkim.verify(signed, dnsfunc=_dns(_records("example.com", keys))))
        self.assertEqual(_tags(signed)["a"], "ed25519-sha256")

    def test_rsa(self) -> None:
        """An RSA-SHA256 signature verifies with dkimpy against the published key."""
        keys = (("rsa", _RSA),)
        signed = self._signer({"example.com": keys}).sign(MESSAGE, parse_domain("example.com"))
        self.assertTrue(dkim.verify(signed, dnsfunc=_dns(_records("example.com", keys))))
        self.assertEqual(_tags(signed)["a"], "rsa-sha256")

    def test_one_signature_per_selector(self) -> None:
        """Each selector of the domain adds its own DKIM-Signature, and each verifies."""
        keys = (("ed", _ED25519), ("rsa", _RSA))
        signed = self._signer({"example.com": keys}).sign(MESSAGE, parse_domain("example.com"))
        header, _ = split_message(signed)
        self.assertEqual(len(field_values(header, "DKIM-Signature")), 2)
        dns = _dns(_records("example.com", keys))
        for index in (0, 1):
            self.assertTrue(dkim.DKIM(signed).verify(idx=index, dnsfunc=dns))
        self.assertEqual({_tags(signed, 0)["s"], _tags(signed, 1)["s"]}, {"ed", "rsa"})

    def test_tags(self) -> None:
        """relaxed/relaxed, d= the domain, h= the present listed fields with From oversigned."""
        keys = (("ed", _ED25519),)
        signed = self._signer({"example.com": keys}).sign(MESSAGE, parse_domain("example.com"))
        tags = _tags(signed)
        self.assertEqual(tags["c"], "relaxed/relaxed")
        self.assertEqual(tags["d"], "example.com")
        self.assertEqual(tags["h"], "from:to:subject:date:message-id:from")

    def test_oversigned_from(self) -> None:
        """A From added after signing breaks the signature (RFC 6376 §8.15)."""
        keys = (("ed", _ED25519),)
        signed = self._signer({"example.com": keys}).sign(MESSAGE, parse_domain("example.com"))
        forged = signed.replace(b"From: Sender", b"From: evil@example.net\r\nFrom: Sender", 1)
        self.assertFalse(dkim.verify(forged, dnsfunc=_dns(_records("example.com", keys))))

    def test_relaxed_survives_refolding(self) -> None:
        """Relaxed canonicalization tolerates whitespace changes in transit (RFC 6376 §3.4.2)."""
        keys = (("ed", _ED25519),)
        signed = self._signer({"example.com": keys}).sign(MESSAGE, parse_domain("example.com"))
        changed = signed.replace(b"Subject: hello", b"Subject:   hello").replace(
            b"Hello there.", b"Hello   there.  "
        )
        self.assertTrue(dkim.verify(changed, dnsfunc=_dns(_records("example.com", keys))))

    def test_parent_domain(self) -> None:
        """mail.example.com without keys is signed with example.com's keys (spec §11.3)."""
        keys = (("ed", _ED25519),)
        cases: list[dict[str, tuple[tuple[str, bytes], ...] | None]] = [
            {"example.com": keys},
            {"example.com": keys, "mail.example.com": ()},
        ]
        for domains in cases:
            signer = self._signer(domains)
            signed = signer.sign(MESSAGE, parse_domain("mail.example.com"))
            self.assertEqual(_tags(signed)["d"], "example.com")
            self.assertTrue(dkim.verify(signed, dnsfunc=_dns(_records("example.com", keys))))

    def test_own_keys_first(self) -> None:
        """A subdomain with its own keys signs as itself, not as its parent."""
        signer = self._signer(
            {"example.com": (("ed", _ED25519),), "mail.example.com": (("sub", _ED25519),)}
        )
        signed = signer.sign(MESSAGE, parse_domain("mail.example.com"))
        self.assertEqual(_tags(signed)["d"], "mail.example.com")

    def test_no_keys_pass_through(self) -> None:
        """Without keys on the domain or any parent the message is returned unchanged."""
        signer = self._signer({"example.com": (), "other.org": (("ed", _ED25519),)})
        for name in ("example.com", "mail.example.com", "example.net", "[127.0.0.1]"):
            self.assertEqual(signer.sign(MESSAGE, parse_domain(name)), MESSAGE)

    def test_disabled_domain(self) -> None:
        """A disabled domain on the way up stops signing (spec §11.3)."""
        signer = self._signer({"example.com": (("ed", _ED25519),), "mail.example.com": None})
        self.assertEqual(signer.sign(MESSAGE, parse_domain("mail.example.com")), MESSAGE)

    def test_signs_quickly(self) -> None:
        """Only Ed25519-only signing (or none) counts as quick: any RSA key of the domain
        that would sign, found through the parent too, does not."""
        signer = self._signer(
            {
                "ed.example": (("ed", _ED25519),),
                "both.example": (("ed", _ED25519), ("rsa", _RSA)),
                "rsa.example": (("rsa", _RSA),),
                "off.rsa.example": None,
            }
        )
        for name, quick in (
            ("ed.example", True),
            ("mail.ed.example", True),
            ("both.example", False),
            ("mail.rsa.example", False),
            ("off.rsa.example", True),
            ("unknown.example", True),
            ("[127.0.0.1]", True),
        ):
            self.assertEqual(signer.signs_quickly(parse_domain(name)), quick, name)

    def test_unsignable_messages(self) -> None:
        """A message without From or with a broken header is returned unchanged."""
        signer = self._signer({"example.com": (("ed", _ED25519),)})
        domain = parse_domain("example.com")
        no_from = b"To: a@example.org\r\n\r\nbody\r\n"
        self.assertEqual(signer.sign(no_from, domain), no_from)
        broken = b"not a header line\r\n\r\nbody\r\n"
        self.assertEqual(signer.sign(broken, domain), broken)

    def test_unreadable_key(self) -> None:
        """A missing or bad key file is refused at construction, naming the file."""
        tmp = Path(self.mktemp())
        config = _config(tmp, {"example.com": (("ed", _ED25519),)})
        key = tmp / "example.com-ed.pem"
        key.write_bytes(b"garbage")
        error = self.assertRaises(ValueError, DKIMSigner, config)
        self.assertIn(str(key), str(error))
        key.unlink()
        error = self.assertRaises(ValueError, DKIMSigner, config)
        self.assertIn(str(key), str(error))

    def test_sign_message_inline_or_on_thread(self) -> None:
        """sign_message signs a small message with Ed25519 keys here, and hands RSA keys or
        a message of SIGN_INLINE_BELOW bytes to the runner; both give signed messages."""
        calls: list[object] = []

        def runner(function: Callable[..., bytes], *args: object) -> Deferred[bytes]:
            calls.append(function)
            return maybeDeferred(function, *args)

        domain = parse_domain("example.com")
        quick = self._signer({"example.com": (("ed", _ED25519),)})
        slow = self._signer({"example.com": (("ed", _ED25519), ("rsa", _RSA))})
        big = MESSAGE + b"x" * SIGN_INLINE_BELOW + b"\r\n"
        for signer, message, threaded in (
            (quick, MESSAGE, False),
            (slow, MESSAGE, True),
            (quick, big, True),
        ):
            calls.clear()
            signed = self.successResultOf(sign_message(signer, message, domain, runner))
            self.assertEqual(calls, [signer.sign] if threaded else [])
            self.assertTrue(signed.startswith(b"DKIM-Signature: "))
            self.assertTrue(signed.endswith(message))

    def test_dkimpy_failure_leaves_message_unsigned(self) -> None:
        """When dkimpy refuses to sign, the message goes out unsigned (spec §11.3)."""
        signer = self._signer({"example.com": (("ed", _ED25519),)})

        def refuse(*args: object, **kwargs: object) -> bytes:
            raise dkim.KeyFormatError("bad key")

        self.patch(dkim, "sign", refuse)
        self.assertEqual(signer.sign(MESSAGE, parse_domain("example.com")), MESSAGE)
