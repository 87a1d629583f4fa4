"""Tests for the webhook keys of an account in mailtwist.toml (spec §10.1, issue 5 item 1)."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.config import Config, ConfigError, load_config
from mailtwist.config.model import IncomingWebhookConfig, OutgoingWebhookConfig
from mailtwist.webhook.settings import (
    IncomingWebhook,
    OutgoingWebhook,
    WebhookSettings,
    defaults_from_accounts,
)

SECRET_1 = "whsec_" + base64.b64encode(b"1" * 32).decode("ascii")
SECRET_2 = "whsec_" + base64.b64encode(b"2" * 32).decode("ascii")
AUTHORIZATION = "Bearer top-secret-token"

BASE = """\
mode = "localserve"
hostname = "localhost"
postmaster_account = "admin"

[domains.localhost]

[accounts.admin]
addresses = ["admin@localhost"]
"""

FULL = (
    BASE
    + f"""\
keep_retired_webhook_period = "72h"
webhook_secrets = ["{SECRET_1}", "{SECRET_2}"]

[accounts.admin.outgoing_webhook]
url = "https://app.example/hooks/outgoing"
authorization = "{AUTHORIZATION}"
events = ["delivered", "failed"]

[accounts.admin.incoming_webhook]
url = "http://127.0.0.1:8000/incoming"
"""
)


class WebhookConfigTests(SynchronousTestCase):
    """Webhook keys load into the account, and webhook settings come from them."""

    def load(self, text: str) -> Config:
        path = Path(self.mktemp())
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return load_config(path)

    def refused(self, text: str) -> ConfigError:
        with self.assertRaises(ConfigError) as caught:
            self.load(text)
        return caught.exception

    def test_all_keys(self) -> None:
        """Every webhook key is read into the account's record."""
        account = self.load(FULL).accounts["admin"]
        self.assertEqual(
            account.outgoing_webhook,
            OutgoingWebhookConfig(
                "https://app.example/hooks/outgoing", AUTHORIZATION, ("delivered", "failed")
            ),
        )
        self.assertEqual(
            account.incoming_webhook, IncomingWebhookConfig("http://127.0.0.1:8000/incoming")
        )
        self.assertEqual(account.webhook_secrets, (SECRET_1, SECRET_2))
        self.assertEqual(account.keep_retired_webhook_period, timedelta(hours=72))

    def test_absent_means_no_webhooks(self) -> None:
        """An account without webhook keys has no webhooks and no secrets."""
        account = self.load(BASE).accounts["admin"]
        self.assertIsNone(account.outgoing_webhook)
        self.assertIsNone(account.incoming_webhook)
        self.assertEqual(account.webhook_secrets, ())
        self.assertEqual(defaults_from_accounts({"admin": account})["admin"], WebhookSettings())

    def test_credentials_not_in_repr(self) -> None:
        """The account's repr (what a log line shows) has neither secrets nor Authorization."""
        text = repr(self.load(FULL).accounts["admin"])
        self.assertIn("https://app.example/hooks/outgoing", text)
        for credential in (SECRET_1, SECRET_2, AUTHORIZATION):
            self.assertNotIn(credential, text)

    def test_defaults_from_accounts(self) -> None:
        """defaults_from_accounts turns the config's keys into the account's WebhookSettings."""
        defaults = defaults_from_accounts(self.load(FULL).accounts)
        self.assertEqual(
            defaults["admin"],
            WebhookSettings(
                outgoing=OutgoingWebhook(
                    "https://app.example/hooks/outgoing", AUTHORIZATION, ("delivered", "failed")
                ),
                incoming=IncomingWebhook("http://127.0.0.1:8000/incoming"),
                keep_retired_webhook_period=timedelta(hours=72),
                secrets=(SECRET_1, SECRET_2),
            ),
        )

    def test_errors_name_key_and_reason(self) -> None:
        """Each bad value is refused naming its dotted key and why."""
        outgoing = "\n[accounts.admin.outgoing_webhook]\n"
        incoming = "\n[accounts.admin.incoming_webhook]\n"
        cases = [
            (outgoing + 'url = "ftp://h.example/"\n', "accounts.admin.outgoing_webhook.url",
             "scheme must be http or https, not 'ftp'"),
            (outgoing + 'url = "https:///path"\n', "accounts.admin.outgoing_webhook.url",
             "no host in 'https:///path'"),
            (outgoing + 'authorization = "x"\n', "accounts.admin.outgoing_webhook.url",
             "required key missing"),
            (outgoing + 'url = "http://h.example/"\nevents = ["delivered", "bounced"]\n',
             "accounts.admin.outgoing_webhook.events[1]", "unknown event 'bounced', known: "),
            (outgoing + 'url = "http://h.example/"\nevents = ["failed", "failed"]\n',
             "accounts.admin.outgoing_webhook.events[1]", "duplicate event 'failed'"),
            (outgoing + 'url = "http://h.example/"\nevents = "failed"\n',
             "accounts.admin.outgoing_webhook.events", "must be an array, not a string"),
            (outgoing + 'url = "http://h.example/"\nretries = 3\n',
             "accounts.admin.outgoing_webhook.retries", "unknown key"),
            (incoming + 'url = "mailto:a@b.example"\n', "accounts.admin.incoming_webhook.url",
             "scheme must be http or https"),
            (incoming + 'url = "http://h.example:99999/"\n',
             "accounts.admin.incoming_webhook.url", "Port out of range"),
            ('outgoing_webhook = "http://h.example/"\n', "accounts.admin.outgoing_webhook",
             "must be a table, not a string"),
            ('webhook_secrets = ["plain"]\n', "accounts.admin.webhook_secrets[0]",
             "a secret starts with 'whsec_'"),
            ('webhook_secrets = ["whsec_!!!"]\n', "accounts.admin.webhook_secrets[0]",
             "a secret is not valid base64"),
            ('webhook_secrets = ["whsec_c2hvcnQ="]\n', "accounts.admin.webhook_secrets[0]",
             "24 to 64 bytes"),
            (f'webhook_secrets = ["{SECRET_1}", "{SECRET_1}"]\n',
             "accounts.admin.webhook_secrets[1]", "the same secret twice"),
            (f'webhook_secrets = ["{SECRET_1}", "{SECRET_2}", "{SECRET_1}"]\n',
             "accounts.admin.webhook_secrets", "at most 2 secrets"),
        ]  # fmt: skip
        for extra, key, reason in cases:
            error = self.refused(BASE + extra)
            self.assertEqual(error.key, key, extra)
            self.assertIn(reason, error.reason, extra)
            self.assertIn(key, str(error))

    def test_credentials_not_in_errors(self) -> None:
        """A bad Authorization or secret is refused without repeating its value."""
        bad_authorization = "Bearer leaked-value "
        error = self.refused(
            BASE + "\n[accounts.admin.incoming_webhook]\n"
            f'url = "http://h.example/"\nauthorization = "{bad_authorization}"\n'
        )
        self.assertEqual(error.key, "accounts.admin.incoming_webhook.authorization")
        self.assertIn("printable text without leading or trailing spaces", error.reason)
        self.assertNotIn("leaked-value", str(error))
        for secret in ("whsec_leaked!value", "leaked-secret-value", "whsec_bGVha2Vk"):
            error = self.refused(BASE + f'webhook_secrets = ["{secret}"]\n')
            self.assertEqual(error.key, "accounts.admin.webhook_secrets[0]")
            self.assertNotIn("leaked", str(error))
            self.assertNotIn(secret, str(error))
