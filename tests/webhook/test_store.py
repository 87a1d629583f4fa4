"""Tests for mailtwist.store.webhooks: the webhook tables of the SQLite store."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta

from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from mailtwist.store.records import DELIVERING
from mailtwist.store.schema import latest_version
from mailtwist.store.sqlite import MIGRATIONS
from mailtwist.store.webhooks import (
    IWebhookStore,
    NewWebhook,
    WebhookFilter,
    WebhookNotFound,
    WebhookResult,
)
from mailtwist.testing.store import MemoryStore

T0 = datetime(2026, 11, 26, 4, 0, tzinfo=UTC)


def new(url: str = "http://h.example/o", queue_msg_id: int = 1, **kw: object) -> NewWebhook:
    values: dict[str, object] = {
        "account": "mox",
        "url": url,
        "payload": b"{}",
        "submitted": T0,
        "authorization": "Bearer x",
        "outgoing_event": "delivered",
        "queue_msg_id": queue_msg_id,
        "extra": {"a": "1"},
    }
    values.update(kw)
    return NewWebhook(**values)  # type: ignore[arg-type]


class WebhookStoreTests(SynchronousTestCase):
    """The store keeps the webhook queue and retired hooks in single transactions."""

    def setUp(self) -> None:
        self.store = MemoryStore()

    def add(self, hook: NewWebhook, at: datetime = T0, keep: datetime | None = None) -> int:
        added, _ = self.successResultOf(self.store.add_webhook(hook, at, keep))
        return added.id

    def test_interface(self) -> None:
        """SQLiteStore provides IWebhookStore, at schema version 4 or later."""
        verifyObject(IWebhookStore, self.store)
        self.assertIn(4, [m.version for m in MIGRATIONS])
        self.assertGreaterEqual(latest_version(MIGRATIONS), 4)

    def test_round_trip(self) -> None:
        """A queued hook reads back with every field."""
        hook_id = self.add(new())
        hook = self.successResultOf(self.store.webhook(hook_id))
        assert hook is not None
        self.assertEqual(
            (hook.url, hook.authorization, hook.payload, dict(hook.extra), hook.attempts),
            ("http://h.example/o", "Bearer x", b"{}", {"a": "1"}, 0),
        )
        self.assertEqual(hook.next_attempt, T0)

    def test_heads_one_per_url(self) -> None:
        """webhook_heads gives the earliest hook of each URL, skipping excluded URLs."""
        for n in range(50):
            self.add(new("http://slow.example/", n + 1), T0 + timedelta(seconds=n))
        fast = self.add(new("http://fast.example/", 100), T0 + timedelta(hours=1))
        heads = self.successResultOf(self.store.webhook_heads(()))
        self.assertEqual([h.url for h in heads], ["http://slow.example/", "http://fast.example/"])
        self.assertEqual(heads[0].next_attempt, T0)
        heads = self.successResultOf(self.store.webhook_heads({"http://slow.example/"}))
        self.assertEqual([h.id for h in heads], [fast])

    def test_attempt_then_retire(self) -> None:
        """An attempt sets next attempt first; finishing it retires with keep-until."""
        hook_id = self.add(new())
        started = self.successResultOf(
            self.store.start_webhook_attempt(hook_id, T0, lambda n: T0 + timedelta(minutes=n + 1))
        )
        self.assertEqual((started.attempts, started.results[-1].error), (1, DELIVERING))
        self.assertEqual(started.next_attempt, T0 + timedelta(minutes=1))
        result = WebhookResult(start=T0, url=started.url, success=True, code=200)
        keep = T0 + timedelta(days=1)
        self.assertEqual(
            self.successResultOf(self.store.finish_webhook_attempt(hook_id, result, True, keep)),
            ("retired", None),
        )
        self.assertIsNone(self.successResultOf(self.store.webhook(hook_id)))
        [retired] = self.successResultOf(self.store.retired_webhook_page(WebhookFilter())).rows
        self.assertEqual(
            (retired.success, retired.authorization, retired.keep_until), (True, True, keep)
        )
        self.assertEqual(retired.results, (result,))

    def test_finish_starts_next_of_url(self) -> None:
        """Finishing can start the same URL's next due hook in the same transaction."""
        first = self.add(new(queue_msg_id=1))
        second = self.add(new(queue_msg_id=2))
        self.add(new(queue_msg_id=3), T0 + timedelta(hours=1))  # not due yet
        self.successResultOf(self.store.start_webhook_attempt(first, T0, lambda n: T0))
        result = WebhookResult(start=T0, url="http://h.example/o", success=True, code=200)
        later = lambda n: T0 + timedelta(minutes=1)  # noqa: E731
        status, started = self.successResultOf(
            self.store.finish_webhook_attempt(first, result, True, None, later)
        )
        assert started is not None
        self.assertEqual((status, started.id, started.attempts), ("retired", second, 1))
        self.assertEqual(started.results[-1].error, DELIVERING)
        result = WebhookResult(start=T0, url="http://h.example/o", success=True, code=200)
        status, started = self.successResultOf(
            self.store.finish_webhook_attempt(second, result, True, None, later)
        )
        self.assertIsNone(started)

    def test_start_missing(self) -> None:
        """Starting an attempt of a hook that is gone fails with WebhookNotFound."""
        self.failureResultOf(
            self.store.start_webhook_attempt(99, T0, lambda n: T0), WebhookNotFound
        )

    def test_supersede_not_kept(self) -> None:
        """Without a keep-until the superseded hook is simply removed."""
        first = self.add(new())
        _, superseded = self.successResultOf(self.store.add_webhook(new(), T0, None))
        self.assertEqual(superseded, first)
        self.assertEqual(self.successResultOf(self.store.webhook_count()), 1)
        self.assertEqual(
            self.successResultOf(self.store.retired_webhook_page(WebhookFilter())).rows, ()
        )

    def test_incoming_not_superseded(self) -> None:
        """Incoming hooks never supersede one another."""
        incoming = new(queue_msg_id=0, outgoing_event="", is_incoming=True)
        self.add(incoming)
        _, superseded = self.successResultOf(self.store.add_webhook(incoming, T0, None))
        self.assertIsNone(superseded)
        self.assertEqual(self.successResultOf(self.store.webhook_count()), 2)

    def test_pages_and_filters(self) -> None:
        """Pending hooks page by (next attempt, id) and filter by account and event."""
        ids = [self.add(new(queue_msg_id=n + 1)) for n in range(5)]
        self.add(new(queue_msg_id=9, account="other", outgoing_event="failed"))
        page = self.successResultOf(self.store.webhook_page(WebhookFilter(account="mox"), None, 2))
        self.assertEqual([h.id for h in page.rows], ids[:2])
        page = self.successResultOf(
            self.store.webhook_page(WebhookFilter(account="mox"), page.next, 2)
        )
        self.assertEqual([h.id for h in page.rows], ids[2:4])
        page = self.successResultOf(
            self.store.webhook_page(WebhookFilter(account="mox"), page.next, 2)
        )
        self.assertEqual(([h.id for h in page.rows], page.next), (ids[4:], None))
        page = self.successResultOf(self.store.webhook_page(WebhookFilter(event="failed")))
        self.assertEqual([h.account for h in page.rows], ["other"])

    def test_cancel_and_retry_now(self) -> None:
        """Cancel retires with the given result; retry-now makes hooks due."""
        a = self.add(new(queue_msg_id=1), T0 + timedelta(hours=1))
        b = self.add(new(queue_msg_id=2), T0 + timedelta(hours=1))
        self.assertEqual(
            self.successResultOf(self.store.retry_webhooks_now(WebhookFilter(ids=(a,)), T0)), 1
        )
        hook = self.successResultOf(self.store.webhook(a))
        assert hook is not None
        self.assertEqual(hook.next_attempt, T0)
        canceled = WebhookResult(start=T0, url="", error="canceled by admin")
        count = self.successResultOf(
            self.store.cancel_webhooks(
                WebhookFilter(ids=(b,)), canceled, {"mox": T0 + timedelta(days=1)}
            )
        )
        self.assertEqual(count, 1)
        [retired] = self.successResultOf(self.store.retired_webhook_page(WebhookFilter())).rows
        self.assertEqual((retired.id, retired.results[-1].error), (b, "canceled by admin"))
        self.assertEqual(retired.results[-1].url, "http://h.example/o")

    def test_recover_and_expire(self) -> None:
        """Interrupted attempts become due at once; expired retired hooks are deleted."""
        hook_id = self.add(new())
        self.successResultOf(
            self.store.start_webhook_attempt(hook_id, T0, lambda n: T0 + timedelta(hours=1))
        )
        later = T0 + timedelta(minutes=5)
        self.assertEqual(self.successResultOf(self.store.recover_interrupted_webhooks(later)), 1)
        hook = self.successResultOf(self.store.webhook(hook_id))
        assert hook is not None
        self.assertEqual(hook.next_attempt, later)
        self.assertNotEqual(hook.results[-1].error, DELIVERING)
        self.assertEqual(self.successResultOf(self.store.recover_interrupted_webhooks(later)), 0)
        result = WebhookResult(start=T0, url=hook.url, code=500)
        self.successResultOf(
            self.store.finish_webhook_attempt(hook_id, result, True, T0 + timedelta(hours=1))
        )
        self.assertEqual(self.successResultOf(self.store.delete_expired_webhooks(T0)), 0)
        self.assertEqual(
            self.successResultOf(self.store.delete_expired_webhooks(T0 + timedelta(hours=1))), 1
        )

    def test_settings(self) -> None:
        """Settings text is saved, replaced and removed per account."""
        self.assertIsNone(self.successResultOf(self.store.webhook_settings("mox")))
        self.successResultOf(self.store.set_webhook_settings("mox", "{}"))
        self.successResultOf(self.store.set_webhook_settings("mox", '{"a":1}'))
        self.assertEqual(self.successResultOf(self.store.webhook_settings("mox")), '{"a":1}')
        self.successResultOf(self.store.set_webhook_settings("mox", None))
        self.assertIsNone(self.successResultOf(self.store.webhook_settings("mox")))

    def test_heads_uses_index(self) -> None:
        """The per-URL head lookup seeks the (url, next_attempt, id) index, not a scan."""
        connection = sqlite3.connect(":memory:")
        for migration in MIGRATIONS:
            migration.apply(connection)
        plan = connection.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM webhook WHERE url = ?"
            " ORDER BY next_attempt, id LIMIT 1",
            ("x",),
        ).fetchall()
        self.assertIn("webhook_url", " ".join(str(row) for row in plan))
