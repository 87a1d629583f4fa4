"""Tests for mailtwist.store.messages: the webapi's SQL on the real (in-memory) SQLite store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from mailtwist.store.messages import (
    AlreadyInMailbox,
    IdempotencyRecord,
    IMessageStore,
    MailboxMessageNotFound,
    MailboxMessageRemoved,
    MailboxNotFound,
)
from mailtwist.store.records import DEFAULT_MAILBOXES, MailboxDelivery, NewMessage
from mailtwist.testing.store import MemoryStore

NOW = datetime(2026, 11, 28, 3, 39, 48, tzinfo=UTC)


class MessageStoreTests(SynchronousTestCase):
    """Message lookups, removal, flags and moves, always scoped to one account."""

    def setUp(self) -> None:
        self.store = MemoryStore(Clock())
        for account in ("a", "b"):
            self.successResultOf(self.store.ensure_account(account, DEFAULT_MAILBOXES))
        (self.stored,) = self.successResultOf(
            self.store.deliver([MailboxDelivery("a", "Inbox", data=b"Subject: x\r\n\r\nx\r\n")])
        )

    def test_provides_interface(self) -> None:
        """SQLiteStore provides IMessageStore."""
        self.assertTrue(verifyObject(IMessageStore, self.store))

    def test_account_message(self) -> None:
        """The owner gets meta and bytes; another account gets MailboxMessageNotFound."""
        found = self.successResultOf(self.store.account_message("a", self.stored.id))
        self.assertEqual(found.message, self.stored)
        self.assertEqual(found.data, b"Subject: x\r\n\r\nx\r\n")
        self.failureResultOf(
            self.store.account_message("b", self.stored.id), MailboxMessageNotFound
        )

    def test_remove(self) -> None:
        """Removal is remembered per account and drops the unreferenced data."""
        self.successResultOf(self.store.remove_account_message("a", self.stored.id, NOW))
        self.failureResultOf(self.store.account_message("a", self.stored.id), MailboxMessageRemoved)
        self.failureResultOf(
            self.store.remove_account_message("a", self.stored.id, NOW), MailboxMessageRemoved
        )
        self.failureResultOf(
            self.store.account_message("b", self.stored.id), MailboxMessageNotFound
        )
        self.failureResultOf(self.store.message_data(self.stored.data_id))

    def test_flags(self) -> None:
        """Flags are lower-cased, added once, removed if present."""
        flags = self.successResultOf(
            self.store.change_account_message_flags("a", self.stored.id, ["\\Seen", "kw"], [])
        )
        self.assertEqual(flags, ("\\seen", "kw"))
        flags = self.successResultOf(
            self.store.change_account_message_flags("a", self.stored.id, ["kw"], ["\\SEEN", "x"])
        )
        self.assertEqual(flags, ("kw",))
        self.failureResultOf(
            self.store.change_account_message_flags("b", self.stored.id, ["kw"], []),
            MailboxMessageNotFound,
        )

    def test_move(self) -> None:
        """Moves go to the account's own mailbox by name only."""
        moved = self.successResultOf(
            self.store.move_account_message("a", self.stored.id, "Archive")
        )
        self.assertEqual(moved.mailbox, "Archive")
        self.failureResultOf(
            self.store.move_account_message("a", self.stored.id, "Archive"), AlreadyInMailbox
        )
        self.failureResultOf(
            self.store.move_account_message("a", self.stored.id, "Nope"), MailboxNotFound
        )
        self.failureResultOf(
            self.store.move_account_message("b", self.stored.id, "Inbox"), MailboxMessageNotFound
        )


class SendRecordTests(SynchronousTestCase):
    """Send counts over a window and idempotency keys with their expiry."""

    def setUp(self) -> None:
        self.store = MemoryStore(Clock())

    def send(
        self, account: str, recipients: list[str], when: datetime, origin: str = "webapi"
    ) -> None:
        message = NewMessage(
            account=account,
            sender=f"{account}@x",
            recipients=tuple(recipients),
            data=b"M\r\n",
            origin=origin,
        )
        self.successResultOf(self.store.enqueue(message, when))

    def test_counts(self) -> None:
        """Queueing a webapi message counts its recipients: in the window, and first-time ones."""
        self.send("a", ["Old@x"], NOW - timedelta(days=2))
        self.send("a", ["old@x", "new@x"], NOW)
        self.send("b", ["z@x"], NOW)
        # SMTP submissions do not count toward the webapi limits.
        self.send("a", ["smtp@x"], NOW, origin="submission")
        since = NOW - timedelta(days=1)
        counts = self.successResultOf(self.store.webapi_send_counts("a", ["new@x", "n2@x"], since))
        # old@x was sent to before the window; n2@x was never sent to.
        self.assertEqual((counts.messages, counts.first_time), (2, 2))

    def test_history_bounded_whatever_is_pruned(self) -> None:
        """A send older than the kept history does not make a recipient known, also while
        its row is still there (another account's sends never prune it)."""
        self.send("a", ["x@x"], NOW - timedelta(days=40))
        self.send("b", ["z@x"], NOW)
        counts = self.successResultOf(
            self.store.webapi_send_counts("a", ["x@x"], NOW - timedelta(days=1))
        )
        self.assertEqual((counts.messages, counts.first_time), (0, 1))

    def test_old_sends_forgotten(self) -> None:
        """Sends older than the kept history are deleted when the account queues again."""
        self.send("a", ["x@x"], NOW - timedelta(days=31))
        self.send("a", ["y@x"], NOW)
        counts = self.successResultOf(
            self.store.webapi_send_counts("a", ["x@x"], NOW - timedelta(days=40))
        )
        self.assertEqual((counts.messages, counts.first_time), (1, 2))

    def test_forget_expired_sends(self) -> None:
        """forget_expired_sends deletes, in every account, the sends older than the kept
        history and the expired keys, and nothing newer; it answers how many rows went."""
        self.send("a", ["x@x", "y@x"], NOW - timedelta(days=31))
        self.send("b", ["z@x"], NOW - timedelta(days=31))
        self.send("b", ["w@x"], NOW - timedelta(days=29))
        for account, key, expires in (("a", "old", NOW), ("b", "new", NOW + timedelta(hours=1))):
            record = IdempotencyRecord(key, "h", b"{}", expires)
            self.successResultOf(self.store.remember_idempotent_response(account, record))
        self.assertEqual(self.successResultOf(self.store.forget_expired_sends(NOW)), 4)
        long_ago = NOW - timedelta(days=60)
        for account, left in (("a", 0), ("b", 1)):
            counts = self.successResultOf(self.store.webapi_send_counts(account, [], long_ago))
            self.assertEqual(counts.messages, left)
        earlier = NOW - timedelta(hours=1)
        self.assertIsNone(self.successResultOf(self.store.idempotent_response("a", "old", earlier)))
        self.assertIsNotNone(
            self.successResultOf(self.store.idempotent_response("b", "new", earlier))
        )
        self.assertEqual(self.successResultOf(self.store.forget_expired_sends(NOW)), 0)

    def test_idempotency_keys(self) -> None:
        """A key answers until it expires, per account."""
        record = IdempotencyRecord("k", "hash", b"{}\n", NOW + timedelta(hours=24))
        self.successResultOf(self.store.remember_idempotent_response("a", record))
        found = self.successResultOf(self.store.idempotent_response("a", "k", NOW))
        assert found is not None
        self.assertEqual((found.request_hash, found.response), ("hash", b"{}\n"))
        self.assertIsNone(self.successResultOf(self.store.idempotent_response("b", "k", NOW)))
        later = NOW + timedelta(hours=24)
        self.assertIsNone(self.successResultOf(self.store.idempotent_response("a", "k", later)))
