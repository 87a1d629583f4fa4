"""The scheduler against the real SQLite store: the two agree on the IStore contract."""

from __future__ import annotations

from datetime import timedelta

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from mailtwist.metrics import NullMetrics
from mailtwist.queue.localdelivery import LocalDeliveryTransport
from mailtwist.queue.scheduler import QueueScheduler
from mailtwist.store import SQLiteStore
from mailtwist.store.records import DEFAULT_MAILBOXES, NewMessage
from tests.queue.fakes import FakeDirectory


class OutcomeWaiter(NullMetrics):
    """Metrics hook firing ``done`` once ``expected`` outcomes are recorded."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.outcomes: list[str] = []
        self.done: Deferred[list[str]] = Deferred()

    def delivery(self, outcome: str) -> None:
        self.outcomes.append(outcome)
        if len(self.outcomes) == self.expected:
            self.done.callback(self.outcomes)


class SchedulerOnSQLiteTests(TestCase):
    async def test_deliver_and_fail(self) -> None:
        """On SQLite, a local message is delivered to the Inbox and a permerror one fails
        with a failure DSN to the sender."""
        store = SQLiteStore(self.mktemp())
        await store.start()
        self.addCleanup(store.close)
        await store.ensure_account("mox", DEFAULT_MAILBOXES)
        waiter = OutcomeWaiter(2)
        transport = LocalDeliveryTransport(
            directory=FakeDirectory({"localhost"}, {"mox@localhost": "mox"}),
            clock=reactor,
            hostname="localhost",
        )
        scheduler = QueueScheduler(
            store=store,
            transport=transport,
            clock=reactor,
            keep_retired_for=lambda account: timedelta(days=1),
            metrics=waiter,
        )
        await scheduler.start()
        await scheduler.submit(
            NewMessage(
                account="mox",
                sender="mox@localhost",
                recipients=("mox@localhost", "x-permerror@example.org"),
                data=b"Subject: hi\r\n\r\nhi\r\n",
            )
        )
        self.assertEqual(sorted(await waiter.done), ["delivered", "failed"])
        await scheduler.stop()
        retired = {m.recipient: m for m in await store.list_retired()}
        self.assertEqual(retired["mox@localhost"].event, "delivered")
        self.assertEqual(retired["x-permerror@example.org"].event, "failed")
        self.assertEqual(retired["x-permerror@example.org"].results[0].code, 550)
        inbox = await store.list_messages("mox", "Inbox")
        [stored] = [m for m in inbox if not m.dsn]
        self.assertEqual(await store.message_data(stored.data_id), b"Subject: hi\r\n\r\nhi\r\n")
        # The failure DSN to the sender commits with the outcome (spec §4.7).
        [dsn] = [m for m in inbox if m.dsn]
        self.assertEqual((dsn.mail_from, dsn.rcpt_to), ("", "mox@localhost"))
        self.assertIn(b"x-permerror@example.org", await store.message_data(dsn.data_id))
        self.assertEqual(await store.list_queue(), [])
