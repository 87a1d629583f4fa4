"""Tests for the config that shapes sending: fromid logins and DSNs for webapi sends."""

from __future__ import annotations

from mailtwist.address import parse_domain
from tests.config.test_loader import FULL, LoaderTestCase


class FromIDLookupTests(LoaderTestCase):
    def test_uses_fromid(self) -> None:
        """Only the listed login, compared as a parsed address, sends with a fromid."""
        config = self.load(FULL)
        self.assertTrue(config.uses_fromid("admin", "admin+fromid@example.com"))
        self.assertTrue(config.uses_fromid("admin", "admin+fromid@EXAMPLE.com"))
        for account, login in (
            ("admin", "admin@example.com"),
            ("admin", "Admin+FromID@example.com"),
            ("admin", None),
            ("admin", "not an address"),
            ("other", "admin+fromid@example.com"),
            ("nobody", "admin+fromid@example.com"),
        ):
            self.assertFalse(config.uses_fromid(account, login), (account, login))

    def test_fromid_separator(self) -> None:
        """The first catchall separator of the domain goes before a fromid (spec §7.2)."""
        config = self.load(FULL)
        self.assertEqual(config.fromid_separator(parse_domain("example.com")), "+")
        self.assertIsNone(config.fromid_separator(parse_domain("xn--74h.example")))
        self.assertIsNone(config.fromid_separator(parse_domain("example.org")))


class DSNForWebapiSendsTests(LoaderTestCase):
    def test_default_true(self) -> None:
        """Without the key, webapi sends get DSNs like SMTP submissions."""
        self.assertTrue(self.load(FULL).accounts["admin"].dsn_for_webapi_sends)

    def test_false(self) -> None:
        """dsn_for_webapi_sends = false is read per account."""
        config = self.load(FULL + "dsn_for_webapi_sends = false\n")
        self.assertFalse(config.accounts["other"].dsn_for_webapi_sends)
        self.assertTrue(config.accounts["admin"].dsn_for_webapi_sends)

    def test_dsn_enabled(self) -> None:
        """dsn_enabled turns DSNs off only for webapi sends of an account that says so."""
        config = self.load(FULL + "dsn_for_webapi_sends = false\n")
        self.assertFalse(config.dsn_enabled("other", "webapi"))
        self.assertTrue(config.dsn_enabled("other", "submission"))
        self.assertTrue(config.dsn_enabled("admin", "webapi"))
        self.assertTrue(config.dsn_enabled("gone", "webapi"))

    def test_must_be_boolean(self) -> None:
        """A non-boolean value names the key and the type."""
        self.assertError(
            FULL + 'dsn_for_webapi_sends = "no"\n',
            "accounts.other.dsn_for_webapi_sends",
            "must be a boolean",
        )
