"""Tests for the Config lookups: listeners, domains, accounts by address and login."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.address import parse_address, parse_domain
from mailtwist.config import AccountConfig, Config, ConfigError, DomainConfig, ListenerConfig


def _config(**overrides: object) -> Config:
    example = parse_domain("example.com")
    strict = parse_domain("strict.example")
    values: dict[str, object] = dict(
        path=Path("/etc/mailtwist.toml"),
        mode="production",
        hostname=parse_domain("mail.example.com"),
        data_dir=Path("/var/mailtwist"),
        postmaster_account="admin",
        tls_certificate=None,
        tls_key=None,
        listeners=(
            ListenerConfig("smtp", ("0.0.0.0",), 25),
            ListenerConfig("smtp", ("127.0.0.1",), 2525),
        ),
        max_message_size=1000,
        max_recipients=10,
        max_connections=10,
        idle_timeout=60.0,
        queue_concurrency=1,
        attempt_timeout=60.0,
        allow_plaintext_auth=False,
        webapi_enabled=True,
        webapi_path="/webapi/",
        domains={
            "example.com": DomainConfig(example, catchall_separators=("+", "-")),
            "strict.example": DomainConfig(strict, localpart_case_sensitive=True, disabled=True),
        },
        accounts={
            "admin": AccountConfig("admin", (parse_address("admin@example.com"),)),
            "mixed": AccountConfig("mixed", (parse_address("MiXed@strict.example"),)),
            "jose": AccountConfig("jose", (parse_address("jose\u0301@example.com"),)),
        },
    )
    values.update(overrides)
    return Config(**values)  # type: ignore[arg-type]


class LookupTests(SynchronousTestCase):
    def test_retired_message_period(self) -> None:
        """A configured account keeps retired messages its own period; an account no
        longer configured keeps them a week (spec §4.2)."""
        config = _config()
        self.assertEqual(
            config.retired_message_period("admin"),
            config.accounts["admin"].keep_retired_message_period,
        )
        self.assertEqual(config.retired_message_period("gone"), timedelta(weeks=1))

    def test_account_for_address(self) -> None:
        """Exact addresses and their catchall variants find the account, any case."""
        config = _config()
        for text in (
            "admin@example.com",
            "ADMIN@Example.COM",
            "admin+tag@example.com",
            "admin-tag+more@example.com",
            "Admin-@example.com",
        ):
            with self.subTest(text=text):
                self.assertEqual(config.account_for_address(parse_address(text)), "admin")
        for text in ("adminx@example.com", "admin@example.org", "+admin@example.com"):
            with self.subTest(text=text):
                self.assertIsNone(config.account_for_address(parse_address(text)))

    def test_case_sensitive_domain(self) -> None:
        """A case-sensitive domain compares localparts exactly and has no separators."""
        config = _config()
        self.assertEqual(config.account_for_address(parse_address("MiXed@strict.example")), "mixed")
        self.assertIsNone(config.account_for_address(parse_address("mixed@strict.example")))
        self.assertIsNone(config.account_for_address(parse_address("MiXed+x@strict.example")))

    def test_nfc(self) -> None:
        """Decomposed and composed forms of a localpart are the same account (spec §13)."""
        config = _config()
        self.assertEqual(config.account_for_address(parse_address("jos\u00e9@example.com")), "jose")
        self.assertEqual(config.account_for_login("JOSE\u0301+x@example.com"), "jose")

    def test_account_for_login(self) -> None:
        """Logins parse as addresses; bad syntax gives None, not an exception."""
        config = _config()
        self.assertEqual(config.account_for_login("admin+webapi@EXAMPLE.com"), "admin")
        for login in ("admin", "", "admin@", "a b@example.com", "admin@exa mple.com"):
            with self.subTest(login=login):
                self.assertIsNone(config.account_for_login(login))

    def test_listener(self) -> None:
        """listener() gives the first of a kind, or None."""
        config = _config()
        listener = config.listener("smtp")
        assert listener is not None
        self.assertEqual(listener.port, 25)
        self.assertIsNone(config.listener("submission"))

    def test_domains(self) -> None:
        """Domains are found by either form; disabled domains are still local."""
        config = _config()
        domain = config.domain_config(parse_domain("EXAMPLE.com"))
        assert domain is not None
        self.assertEqual(domain.catchall_separators, ("+", "-"))
        self.assertTrue(config.is_local_domain(parse_domain("strict.example")))
        self.assertFalse(config.is_local_domain(parse_domain("example.org")))
        self.assertIsNone(config.domain_config(parse_domain("example.org")))

    def test_mode(self) -> None:
        """localserve is true only in localserve mode."""
        self.assertFalse(_config().localserve)
        self.assertTrue(_config(mode="localserve").localserve)

    def test_immutable(self) -> None:
        """The mappings of a Config cannot be changed."""
        config = _config()
        with self.assertRaises(TypeError):
            config.accounts["x"] = config.accounts["admin"]  # type: ignore[index]

    def test_address_of_two_accounts(self) -> None:
        """A Config built by hand still refuses an address owned by two accounts."""
        accounts = {
            "a": AccountConfig("a", (parse_address("x@example.com"),)),
            "b": AccountConfig("b", (parse_address("X+y@example.com"),)),
        }
        self.assertRaises(ValueError, _config, accounts=accounts)


class ConfigErrorTests(SynchronousTestCase):
    def test_str(self) -> None:
        """str() is "file: key: reason", without the key for whole-file errors."""
        error = ConfigError(Path("/etc/m.toml"), "accounts.admin.addresses[0]", "bad")
        self.assertEqual(
            (error.file, error.key, error.reason),
            ("/etc/m.toml", "accounts.admin.addresses[0]", "bad"),
        )
        self.assertEqual(str(error), "/etc/m.toml: accounts.admin.addresses[0]: bad")
        self.assertEqual(
            str(ConfigError("m.toml", "", "TOML syntax error")), "m.toml: TOML syntax error"
        )
