"""Tests for mailtwist.webhook.control: the CLI's webhook operations."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.store.records import Cursor
from mailtwist.store.webhooks import NewWebhook, WebhookFilter
from mailtwist.testing.store import MemoryStore
from mailtwist.testing.webhooks import WebhookReceiver
from mailtwist.webhook import control
from mailtwist.webhook.settings import (
    OutgoingWebhook,
    StoredWebhookSettings,
    WebhookSettings,
    new_secret,
)

START = 1_800_000_000.0
NOW = datetime.fromtimestamp(START, UTC)


def new(queue_msg_id: int, account: str = "mox", event: str = "failed") -> NewWebhook:
    return NewWebhook(
        account=account,
        url="http://127.0.0.1:8025/outgoing",
        payload=b"{}",
        submitted=NOW,
        outgoing_event=event,
        queue_msg_id=queue_msg_id,
    )


class ControlTests(SynchronousTestCase):
    """Listing, retrying and canceling pending webhooks; sending a test webhook."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.store = MemoryStore(self.clock)
        self.settings = StoredWebhookSettings(self.store)
        kept = WebhookSettings(
            outgoing=OutgoingWebhook("http://127.0.0.1:8025/outgoing"),
            keep_retired_webhook_period=timedelta(days=2),
        )
        self.successResultOf(self.settings.save("mox", kept))
        for n in range(3):
            self.successResultOf(
                self.store.add_webhook(new(n + 1), NOW + timedelta(hours=n + 1), None)
            )
        self.successResultOf(
            self.store.add_webhook(new(9, "other", "delayed"), NOW + timedelta(hours=1), None)
        )

    def test_filter_validation(self) -> None:
        """Unknown events and bad ids are refused with a precise message."""
        e = self.assertRaises(control.BadWebhookFilter, control.webhook_filter, event="bounced")
        self.assertIn("'bounced'", str(e))
        self.assertRaises(control.BadWebhookFilter, control.webhook_filter, ids=[0])
        self.assertEqual(control.webhook_filter(event="incoming").event, "incoming")

    def test_cursor_text(self) -> None:
        """A page cursor survives its CLI text form; garbage is refused."""
        cursor = Cursor(NOW, 7)
        self.assertEqual(control.parse_cursor(control.cursor_text(cursor)), cursor)
        self.assertIsNone(control.parse_cursor(""))
        for text in ("nope", "2026-01-01T00:00:00/x", "2026-01-01T00:00:00/3"):
            self.assertRaises(control.BadWebhookFilter, control.parse_cursor, text)

    def test_list_pending_paginated(self) -> None:
        """Pending webhooks list by next attempt, keyset-paginated, filtered by account."""
        flt = control.webhook_filter(account="mox")
        page = self.successResultOf(control.list_pending(self.store, flt, limit=2))
        self.assertEqual([h.queue_msg_id for h in page.rows], [1, 2])
        page = self.successResultOf(control.list_pending(self.store, flt, page.next, 2))
        self.assertEqual(([h.queue_msg_id for h in page.rows], page.next), ([3], None))
        self.assertIn("mox failed msg=3 attempts=0", control.format_pending(page.rows[0]))

    def test_retry_now(self) -> None:
        """Retry now makes the matching hooks due at the clock's time."""
        count = self.successResultOf(
            control.retry_now(self.store, self.clock, control.webhook_filter(event="delayed"))
        )
        self.assertEqual(count, 1)
        [hook] = self.successResultOf(self.store.webhook_page(WebhookFilter(event="delayed"))).rows
        self.assertEqual(hook.next_attempt, NOW)

    def test_cancel(self) -> None:
        """Cancel removes hooks; kept per account period with "canceled by admin" (a week
        for an account that is not configured, spec §3.6)."""
        count = self.successResultOf(
            control.cancel(self.store, self.clock, self.settings, WebhookFilter())
        )
        self.assertEqual(count, 4)
        self.assertEqual(self.successResultOf(self.store.webhook_count()), 0)
        page = self.successResultOf(control.list_retired(self.store, WebhookFilter()))
        self.assertEqual(len(page.rows), 4)
        [gone] = [h for h in page.rows if h.account == "other"]
        self.assertEqual(gone.keep_until, NOW + timedelta(weeks=1))
        hook = next(h for h in page.rows if h.account == "mox")
        self.assertEqual(hook.results[-1].error, control.CANCELED_BY_ADMIN)
        self.assertEqual(hook.keep_until, NOW + timedelta(days=2))
        self.assertIn("failed", control.format_retired(hook))

    def test_send_test(self) -> None:
        """A test webhook goes to the configured URL as id 1, attempt 1, unescaped and signed."""
        receiver = WebhookReceiver()
        stub = receiver.client()
        settings = WebhookSettings(
            outgoing=OutgoingWebhook("http://127.0.0.1:8025/outgoing-test", "Basic dGVzdA=="),
            secrets=(new_secret(),),
        )
        d = control.send_test(stub, self.clock, settings, "outgoing", "mox.example")
        stub.flush()
        response = self.successResultOf(d)
        self.assertEqual((response.code, response.response), (200, b"ok\n"))
        [got] = receiver.received
        self.assertEqual(
            (got.path, got.headers["x-mox-webhook-id"], got.headers["x-mox-webhook-attempt"]),
            ("/outgoing-test", "1", "1"),
        )
        self.assertIn(b'"Subject": "test <subject>"', got.body)
        self.assertEqual(json.loads(got.body)["QueueMsgID"], 101)
        self.assertIn("webhook-signature", got.headers)

    def test_send_test_unconfigured(self) -> None:
        """Without a configured webhook the test names what is missing."""
        e = self.assertRaises(
            control.BadWebhookFilter,
            control.send_test,
            None,
            self.clock,
            WebhookSettings(),
            "incoming",
        )
        self.assertIn("no incoming webhook", str(e))
