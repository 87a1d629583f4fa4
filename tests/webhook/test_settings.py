"""Tests for mailtwist.webhook.settings: validation and the stored form."""

from __future__ import annotations

from datetime import timedelta

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.webhook.settings import (
    IncomingWebhook,
    InvalidWebhookSettings,
    OutgoingWebhook,
    StoredWebhookSettings,
    WebhookSettings,
    defaults_from_accounts,
    new_secret,
    secret_key,
)


class ValidationTests(SynchronousTestCase):
    """Bad settings are refused with a message naming the setting."""

    def test_http_and_https_only(self) -> None:
        """Only absolute http(s) URLs with a host are accepted."""
        OutgoingWebhook("http://127.0.0.1:8025/outgoing")
        IncomingWebhook("https://hooks.example/in")
        for url in ("ftp://x.example/", "example.com/hook", "http:///path", "", "http://x:99999/"):
            e = self.assertRaises(InvalidWebhookSettings, OutgoingWebhook, url)
            self.assertIn("OutgoingWebhook.URL", str(e))

    def test_unknown_event(self) -> None:
        """Events must be spec §3.4 names."""
        e = self.assertRaises(
            InvalidWebhookSettings, OutgoingWebhook, "http://h.example/", events=("bounced",)
        )
        self.assertIn("'bounced'", str(e))

    def test_events_filter(self) -> None:
        """An empty Events list wants every event, otherwise only those listed."""
        self.assertTrue(OutgoingWebhook("http://h.example/").wants("delayed"))
        only = OutgoingWebhook("http://h.example/", events=("failed",))
        self.assertTrue(only.wants("failed"))
        self.assertFalse(only.wants("delayed"))

    def test_authorization_one_line(self) -> None:
        """An Authorization with a line break is refused and not echoed."""
        e = self.assertRaises(
            InvalidWebhookSettings, IncomingWebhook, "http://h.example/", "Bearer x\r\nX-Evil: 1"
        )
        self.assertNotIn("Evil", str(e))

    def test_secrets(self) -> None:
        """Secrets are whsec_ base64 keys, at most two."""
        secret = new_secret()
        self.assertEqual(len(secret_key(secret)), 32)
        WebhookSettings(secrets=(secret, new_secret()))
        self.assertRaises(InvalidWebhookSettings, WebhookSettings, secrets=("nope",))
        self.assertRaises(InvalidWebhookSettings, WebhookSettings, secrets=("whsec_!!!",))
        self.assertRaises(InvalidWebhookSettings, WebhookSettings, secrets=(secret,) * 3)

    def test_repr_hides_credentials(self) -> None:
        """Neither Authorization values nor secrets appear in a repr."""
        secret = new_secret()
        settings = WebhookSettings(
            outgoing=OutgoingWebhook("http://h.example/", "Bearer hunter2"), secrets=(secret,)
        )
        self.assertNotIn("hunter2", repr(settings))
        self.assertNotIn("hunter2", repr(settings.outgoing))
        self.assertNotIn(secret, repr(settings))


class StoredFormTests(SynchronousTestCase):
    """Settings survive their JSON form and bad JSON gets a precise error."""

    def test_round_trip(self) -> None:
        """to_json and from_json give back equal settings."""
        settings = WebhookSettings(
            outgoing=OutgoingWebhook("http://h.example/o", "Basic x", ("failed", "delayed")),
            incoming=IncomingWebhook("http://h.example/i", "Bearer y"),
            keep_retired_webhook_period=timedelta(days=7),
            secrets=(new_secret(),),
        )
        self.assertEqual(WebhookSettings.from_json(settings.to_json()), settings)

    def test_bad_json(self) -> None:
        """Wrong JSON, unknown fields and wrong types are InvalidWebhookSettings."""
        for text in (
            "nope",
            "[]",
            '{"Foo": 1}',
            '{"OutgoingWebhook": {"URL": 5}}',
            '{"KeepRetiredWebhookPeriod": "1h"}',
            '{"WebhookSecrets": "x"}',
            '{"OutgoingWebhook": "http://x/"}',
        ):
            self.assertRaises(InvalidWebhookSettings, WebhookSettings.from_json, text)


class FakeSettingsStore:
    def __init__(self) -> None:
        self.values: dict[str, str | None] = {}

    def webhook_settings(self, account: str):  # type: ignore[no-untyped-def]
        return succeed(self.values.get(account))

    def set_webhook_settings(self, account: str, settings: str | None):  # type: ignore[no-untyped-def]
        self.values[account] = settings
        return succeed(None)


#: What an account without saved settings and not in the config gets.
_GONE = WebhookSettings(keep_retired_webhook_period=timedelta(weeks=1))


class StoredSettingsTests(SynchronousTestCase):
    """StoredWebhookSettings: saved changes apply at once, also when reads are cached."""

    def test_defaults_then_saved(self) -> None:
        """Config defaults apply until the account saves settings; None restores them; an
        account not in the config has no webhooks and keeps retired ones a week."""
        default = WebhookSettings(incoming=IncomingWebhook("http://h.example/default"))
        source = StoredWebhookSettings(FakeSettingsStore(), {"mox": default})
        self.assertEqual(self.successResultOf(source.settings_for("mox")), default)
        self.assertEqual(
            self.successResultOf(source.settings_for("other")),
            WebhookSettings(keep_retired_webhook_period=timedelta(weeks=1)),
        )
        saved = WebhookSettings(outgoing=OutgoingWebhook("http://h.example/new"))
        source.save("mox", saved)
        self.assertEqual(self.successResultOf(source.settings_for("mox")), saved)
        source.save("mox", None)
        self.assertEqual(self.successResultOf(source.settings_for("mox")), default)

    def test_cached_reads(self) -> None:
        """With ``cached`` the store is read once per lifetime; save and forget read afresh,
        and a change made behind its back (the CLI) is seen after the lifetime."""
        store = FakeSettingsStore()
        reads: list[str] = []
        read = store.webhook_settings

        def counted(account: str) -> Deferred[str | None]:
            reads.append(account)
            return read(account)

        store.webhook_settings = counted  # type: ignore[method-assign]
        clock = Clock()
        source = StoredWebhookSettings(store, cached=(clock, 10.0))
        first = WebhookSettings(outgoing=OutgoingWebhook("http://h.example/1"))
        source.save("mox", first)
        self.assertEqual(self.successResultOf(source.settings_for("mox")), first)
        self.assertEqual(self.successResultOf(source.settings_for("mox")), first)
        self.assertEqual(reads, ["mox"])
        second = WebhookSettings(outgoing=OutgoingWebhook("http://h.example/2"))
        source.save("mox", second)
        self.assertEqual(self.successResultOf(source.settings_for("mox")), second)
        behind = WebhookSettings(outgoing=OutgoingWebhook("http://h.example/3"))
        store.set_webhook_settings("mox", behind.to_json())
        self.assertEqual(self.successResultOf(source.settings_for("mox")), second)
        clock.advance(10.0)
        self.assertEqual(self.successResultOf(source.settings_for("mox")), behind)
        store.set_webhook_settings("mox", None)
        source.forget()
        self.assertEqual(
            self.successResultOf(source.settings_for("mox")),
            WebhookSettings(keep_retired_webhook_period=timedelta(weeks=1)),
        )
        self.assertEqual(len(reads), 4)

    def test_read_during_save_is_not_kept(self) -> None:
        """A cached read made while a save is still being written (old value) is
        forgotten once the save is durable, so the new settings apply at once."""
        store = FakeSettingsStore()
        writes: list[Deferred[None]] = []
        write = store.set_webhook_settings

        def slow(account: str, settings: str | None) -> Deferred[None]:
            writes.append(Deferred())
            return writes[-1].addCallback(lambda _: write(account, settings))

        store.set_webhook_settings = slow  # type: ignore[method-assign]
        source = StoredWebhookSettings(store, cached=(Clock(), 10.0))
        new = WebhookSettings(outgoing=OutgoingWebhook("http://h.example/new"))
        saved = source.save("mox", new)
        self.assertEqual(self.successResultOf(source.settings_for("mox")), _GONE)
        writes[0].callback(None)
        self.successResultOf(saved)
        self.assertEqual(self.successResultOf(source.settings_for("mox")), new)

    def test_defaults_from_config(self) -> None:
        """Config-file accounts give their KeepRetiredWebhookPeriod as defaults."""
        from mailtwist.address import parse_address
        from mailtwist.config.model import AccountConfig

        account = AccountConfig(
            name="mox",
            addresses=(parse_address("mox@localhost"),),
            keep_retired_webhook_period=timedelta(hours=2),
        )
        defaults = defaults_from_accounts({"mox": account})
        self.assertEqual(defaults["mox"].keep_retired_webhook_period, timedelta(hours=2))
