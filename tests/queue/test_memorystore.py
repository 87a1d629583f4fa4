"""Tests for MemoryStore (SQLite in memory, inline): the IStore contract, knobs, synchrony."""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase

from mailtwist.store import DatabaseClosed
from mailtwist.store.records import MailboxDelivery, MessageFilter, NewMessage, Suppression
from mailtwist.testing.store import MemoryStore
from tests.store.contract import StoreContractMixin


class MemoryStoreContractTests(StoreContractMixin, TestCase):  # type: ignore[misc]
    """The IStore contract, shared with the SQLite store, against MemoryStore."""

    def make_store(self) -> MemoryStore:
        return MemoryStore()


class MemoryStoreKnobTests(SynchronousTestCase):
    """What MemoryStore adds to SQLiteStore: synchronous answers and test knobs."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_767_225_600)
        self.store = MemoryStore(self.clock)
        self.now = datetime(2026, 1, 1, tzinfo=UTC)

    def test_already_fired(self) -> None:
        """Every answer is an already-fired Deferred."""
        message = NewMessage(account="a", sender="a@x", recipients=("b@y",), data=b"d")
        [queued] = self.successResultOf(self.store.enqueue(message, self.now))
        self.assertEqual(self.successResultOf(self.store.due_messages(self.now, 5, ())), [queued])

    def test_fail_next(self) -> None:
        """fail_next fails only the next call of that method, changing nothing."""
        message = NewMessage(account="a", sender="a@x", recipients=("b@y",), data=b"d")
        self.store.fail_next("enqueue", RuntimeError("boom"))
        self.failureResultOf(self.store.enqueue(message, self.now), RuntimeError)
        self.assertEqual(self.successResultOf(self.store.list_queue()), [])
        self.successResultOf(self.store.enqueue(message, self.now))
        self.assertEqual(self.store.calls, ["enqueue", "list_queue", "enqueue"])

    def test_fail_next_unknown_method(self) -> None:
        """fail_next refuses a name that is no IStore method, so a typo cannot pass silently."""
        self.assertRaises(ValueError, self.store.fail_next, "enqeue", RuntimeError())

    def test_closed(self) -> None:
        """After close() calls fail like on a closed database."""
        self.successResultOf(self.store.close())
        self.failureResultOf(self.store.list_queue(), DatabaseClosed)

    def test_deliver_received_from_clock(self) -> None:
        """deliver stamps messages with the injected clock's time."""
        [stored] = self.successResultOf(
            self.store.deliver([MailboxDelivery("a", "Inbox", data=b"x")])
        )
        self.assertEqual(stored.received, self.now)

    def test_usable_without_start(self) -> None:
        """MemoryStore is migrated at construction; start() afterwards changes nothing."""
        message = NewMessage(account="a", sender="a@x", recipients=("b@y",), data=b"d")
        [queued] = self.successResultOf(self.store.enqueue(message, self.now))
        self.successResultOf(self.store.start())
        self.assertEqual(self.successResultOf(self.store.queued_message(queued.id)), queued)
        self.assertEqual(self.store.calls, ["enqueue", "start", "queued_message"])

    def test_start_after_close(self) -> None:
        """A closed MemoryStore lost its database and refuses to start again."""
        self.successResultOf(self.store.close())
        self.failureResultOf(self.store.start(), DatabaseClosed)

    def test_fail_next_issue_3_method(self) -> None:
        """The knobs cover the queue-control methods too: the add fails and stores nothing."""
        entry = Suppression("a", "b@y", "b@y", manual=True, reason="test")
        self.store.fail_next("add_suppression", RuntimeError("disk full"))
        self.failureResultOf(self.store.add_suppression(entry), RuntimeError)
        self.assertEqual(self.successResultOf(self.store.suppressions("a")), [])
        added = self.successResultOf(self.store.add_suppression(entry))
        self.assertEqual(added.created, self.now)
        self.assertEqual(self.store.calls, ["add_suppression", "suppressions", "add_suppression"])

    def test_pages_already_fired(self) -> None:
        """Listings answer at once like every other method."""
        page = self.successResultOf(self.store.queue_page(MessageFilter()))
        self.assertEqual((page.rows, page.next), ((), None))
