"""The IStore contract as reusable tests, applied to every store implementation."""

from __future__ import annotations

import dataclasses
import operator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from mailtwist.store import AttemptOutcome, IStore, Retirement
from mailtwist.store.records import (
    DEFAULT_MAILBOXES,
    DELIVERING,
    Credentials,
    DeliveryAttempt,
    MailboxDelivery,
    NewMessage,
    QueuedMessage,
)

NOW = datetime(2026, 11, 28, 3, 0, 0, 123456, tzinfo=UTC)

#: The error text recover_interrupted puts in place of ``delivering...``.
INTERRUPTED = "attempt interrupted: server stopped"


def new_message(**fields: Any) -> NewMessage:
    """A valid NewMessage, with ``fields`` overriding the defaults."""
    values: dict[str, Any] = {
        "account": "mjl",
        "sender": "mjl@example.org",
        "recipients": ("a@example.com",),
        "data": b"Subject: hi\r\n\r\nbody\r\n",
        "message_id": "<m1@example.org>",
        "subject": "hi",
    }
    values.update(fields)
    return NewMessage(**values)


def credentials(account: str = "mjl", password_hash: str = "$hash$1") -> Credentials:
    return Credentials(
        account=account,
        password_hash=password_hash,
        scram_salt=b"salt\x00",
        scram_iterations=4096,
        scram_stored_key=b"\x01" * 32,
        scram_server_key=b"\x02" * 32,
        cram_md5_ipad=b"\x03" * 16,
        cram_md5_opad=b"\x04" * 16,
    )


class StoreContractMixin:
    """Tests every IStore method; mix into a trial TestCase with ``make_store``.

    ``make_store()`` returns a new, not yet started, empty store. The mixin
    starts it in setUp and closes it at cleanup. ``not_found`` is the exception
    class the store raises for an unknown message id.
    """

    not_found: type[Exception] = LookupError

    # Provided by the TestCase this is mixed into.
    assertEqual: Any
    assertIs: Any
    assertIsNone: Any
    assertIn: Any
    assertTrue: Any
    assertFalse: Any
    assertRaises: Any
    assertLess: Any
    assertNotEqual: Any
    assertFailure: Any
    addCleanup: Any

    def make_store(self) -> Any:
        raise NotImplementedError

    async def setUp(self) -> None:
        self.store = self.make_store()
        await self.store.start()
        self.addCleanup(self.store.close)

    async def enqueue(self, **fields: Any) -> list[QueuedMessage]:
        now = fields.pop("now", NOW)
        return list(await self.store.enqueue(new_message(**fields), now))

    def test_provides_istore(self) -> None:
        """The store declares and verifies as an IStore."""
        from zope.interface.verify import verifyObject

        self.assertTrue(verifyObject(IStore, self.store))

    # -- accounts and credentials

    async def test_ensure_account_mailboxes(self) -> None:
        """ensure_account creates the mailboxes, sorted by name, and is idempotent."""
        await self.store.ensure_account("mjl", DEFAULT_MAILBOXES)
        await self.store.ensure_account("mjl", ("Inbox", "Lists/Twisted"))
        self.assertEqual(
            await self.store.mailboxes("mjl"), sorted([*DEFAULT_MAILBOXES, "Lists/Twisted"])
        )

    async def test_mailboxes_of_unknown_account(self) -> None:
        """An account that was never created has no mailboxes."""
        self.assertEqual(await self.store.mailboxes("nobody"), [])

    async def test_mailboxes_per_account(self) -> None:
        """Mailboxes of one account are not seen in another."""
        await self.store.ensure_account("a", ("Inbox",))
        await self.store.ensure_account("b", ("Other",))
        self.assertEqual(await self.store.mailboxes("a"), ["Inbox"])
        self.assertEqual(await self.store.mailboxes("b"), ["Other"])

    async def test_credentials_absent(self) -> None:
        """An account without credentials gets None."""
        self.assertIsNone(await self.store.credentials("mjl"))

    async def test_credentials_replaced(self) -> None:
        """set_credentials stores the record and replaces an earlier one."""
        await self.store.set_credentials(credentials())
        self.assertEqual(await self.store.credentials("mjl"), credentials())
        await self.store.set_credentials(credentials(password_hash="$hash$2"))
        self.assertEqual(await self.store.credentials("mjl"), credentials(password_hash="$hash$2"))
        self.assertIsNone(await self.store.credentials("other"))

    # -- enqueue and reading the queue

    async def test_enqueue_single(self) -> None:
        """One recipient: base id 0, every field from the NewMessage, next attempt now."""
        [queued] = await self.enqueue(
            recipients=("x@y@example.com",),
            has8bit=True,
            smtputf8=True,
            max_attempts=3,
            future_release_request="for;60",
            require_tls=False,
            from_id="abc",
            transport="submit",
            extra={"k": "v"},
        )
        self.assertEqual(queued.base_id, 0)
        self.assertEqual(queued.queued, NOW)
        self.assertEqual(queued.next_attempt, NOW)
        self.assertIsNone(queued.last_attempt)
        self.assertEqual((queued.attempts, queued.results), (0, ()))
        self.assertEqual(queued.recipient, "x@y@example.com")
        self.assertEqual(queued.recipient_domain, "example.com")
        self.assertEqual(queued.size, len(new_message().data))
        self.assertEqual(
            (queued.account, queued.sender, queued.message_id, queued.subject),
            ("mjl", "mjl@example.org", "<m1@example.org>", "hi"),
        )
        self.assertEqual(
            (queued.has8bit, queued.smtputf8, queued.max_attempts, queued.hold),
            (True, True, 3, False),
        )
        self.assertEqual(
            (queued.future_release_request, queued.require_tls, queued.from_id, queued.transport),
            ("for;60", False, "abc", "submit"),
        )
        self.assertEqual(dict(queued.extra), {"k": "v"})
        self.assertEqual(await self.store.queued_message(queued.id), queued)
        self.assertEqual(await self.store.message_data(queued.data_id), new_message().data)

    async def test_enqueue_batch(self) -> None:
        """Several recipients: ids ascending in recipient order, base id the first id, one data."""
        rcpts = ("a@one.example", "b@two.example", "c@one.example")
        queued = await self.enqueue(recipients=rcpts)
        self.assertEqual([m.recipient for m in queued], list(rcpts))
        self.assertEqual(
            [m.recipient_domain for m in queued],
            ["one.example", "two.example", "one.example"],
        )
        ids = [m.id for m in queued]
        self.assertEqual(ids, sorted(set(ids)))
        self.assertEqual({m.base_id for m in queued}, {ids[0]})
        self.assertEqual(len({m.data_id for m in queued}), 1)
        for message in queued:
            self.assertEqual(await self.store.queued_message(message.id), message)

    async def test_enqueue_next_attempt_and_hold(self) -> None:
        """A NewMessage's next attempt and hold are kept; require_tls None round-trips."""
        later = NOW + timedelta(hours=1)
        [queued] = await self.enqueue(next_attempt=later, hold=True, require_tls=None)
        stored = await self.store.queued_message(queued.id)
        self.assertEqual(
            (stored.next_attempt, stored.hold, stored.require_tls), (later, True, None)
        )
        [other] = await self.enqueue(require_tls=True)
        self.assertIs((await self.store.queued_message(other.id)).require_tls, True)

    async def test_ids_never_reused(self) -> None:
        """A new message never gets the id of one that left the queue."""
        [first] = await self.enqueue()
        await self.store.start_attempt(first.id, NOW, NOW)
        await self.store.finish_attempt(first.id, retire_outcome(keep=False))
        [second] = await self.enqueue()
        self.assertLess(first.id, second.id)

    async def test_from_id_unique(self) -> None:
        """A fromid names one message: reuse (queued or retired) and several recipients fail."""
        [queued] = await self.enqueue(from_id="fid1")
        await self.assertFailure(self.store.enqueue(new_message(from_id="fid1"), NOW), ValueError)
        await self.store.finish_attempt(queued.id, retire_outcome(keep=True))
        await self.assertFailure(self.store.enqueue(new_message(from_id="fid1"), NOW), ValueError)
        await self.assertFailure(
            self.store.enqueue(new_message(from_id="fid2", recipients=("a@x", "b@x")), NOW),
            ValueError,
        )
        [other] = await self.enqueue(from_id="fid3")
        self.assertEqual(other.from_id, "fid3")
        self.assertEqual(len(await self.store.list_queue()), 1)

    async def test_bad_account_input(self) -> None:
        """An empty account name or a string of mailboxes is refused precisely."""
        await self.assertFailure(self.store.ensure_account("", ("Inbox",)), ValueError)
        await self.assertFailure(self.store.ensure_account("mjl", "Inbox"), TypeError)
        self.assertEqual(await self.store.mailboxes("mjl"), [])

    async def test_queued_message_unknown(self) -> None:
        """An unknown id gives None."""
        self.assertIsNone(await self.store.queued_message(12345))

    async def test_message_data_unknown(self) -> None:
        """Asking for data that does not exist fails with a lookup error."""
        await self.assertFailure(self.store.message_data(12345), self.not_found)

    async def test_list_queue(self) -> None:
        """list_queue orders by next attempt then id and filters by account."""
        [late] = await self.enqueue(next_attempt=NOW + timedelta(minutes=5))
        [early1, early2] = await self.enqueue(account="other", recipients=("a@x", "b@x"))
        all_ids = [m.id for m in await self.store.list_queue()]
        self.assertEqual(all_ids, [early1.id, early2.id, late.id])
        self.assertEqual([m.id for m in await self.store.list_queue("mjl")], [late.id])
        self.assertEqual(
            [m.id for m in await self.store.list_queue(account="other")], [early1.id, early2.id]
        )
        self.assertEqual(await self.store.list_queue("nobody"), [])

    async def test_due_messages(self) -> None:
        """Due: not on hold, next attempt <= now, by next attempt then id, limit, exclude."""
        [m2] = await self.enqueue(next_attempt=NOW - timedelta(seconds=1))
        [m1] = await self.enqueue(next_attempt=NOW - timedelta(minutes=1))
        [m3] = await self.enqueue(next_attempt=NOW)
        await self.enqueue(next_attempt=NOW - timedelta(hours=1), hold=True)
        await self.enqueue(next_attempt=NOW + timedelta(microseconds=1))
        due = await self.store.due_messages(NOW, 10, ())
        self.assertEqual([m.id for m in due], [m1.id, m2.id, m3.id])
        self.assertEqual([m.id for m in await self.store.due_messages(NOW, 2, ())], [m1.id, m2.id])
        self.assertEqual(
            [m.id for m in await self.store.due_messages(NOW, 2, {m1.id})], [m2.id, m3.id]
        )
        self.assertEqual(await self.store.due_messages(NOW, 0, ()), [])
        self.assertEqual(await self.store.due_messages(NOW, 5, [m1.id, m2.id, m3.id]), [])

    async def test_next_attempt_at(self) -> None:
        """The earliest next attempt, ignoring held and excluded messages; None when none."""
        self.assertIsNone(await self.store.next_attempt_at(()))
        await self.enqueue(next_attempt=NOW - timedelta(hours=2), hold=True)
        [a] = await self.enqueue(next_attempt=NOW + timedelta(minutes=1))
        await self.enqueue(next_attempt=NOW + timedelta(minutes=2))
        self.assertEqual(await self.store.next_attempt_at(()), NOW + timedelta(minutes=1))
        self.assertEqual(await self.store.next_attempt_at({a.id}), NOW + timedelta(minutes=2))

    # -- attempts

    async def test_start_attempt(self) -> None:
        """start_attempt counts the attempt, sets last/next attempt, appends delivering..."""
        [queued] = await self.enqueue()
        later = NOW + timedelta(minutes=7, seconds=30)
        started = await self.store.start_attempt(queued.id, NOW, later)
        self.assertEqual((started.attempts, started.last_attempt), (1, NOW))
        self.assertEqual(started.next_attempt, later)
        self.assertEqual(started.results, (DeliveryAttempt(start=NOW, error=DELIVERING),))
        self.assertEqual(await self.store.queued_message(queued.id), started)

    async def test_start_attempt_unknown(self) -> None:
        """Starting an attempt on an unknown message fails with a lookup error."""
        await self.assertFailure(self.store.start_attempt(999, NOW, NOW), self.not_found)

    async def test_finish_attempt_unknown(self) -> None:
        """Finishing an attempt on an unknown message fails with a lookup error."""
        await self.assertFailure(
            self.store.finish_attempt(999, retire_outcome(keep=True)), self.not_found
        )

    async def test_finish_attempt_retry(self) -> None:
        """A retry replaces delivering... with the attempt and sets the next attempt."""
        [queued] = await self.enqueue()
        await self.store.start_attempt(queued.id, NOW, NOW + timedelta(minutes=1))
        failed = DeliveryAttempt(
            start=NOW, duration=1.5, code=451, secode="4.0", error="try later", remote_host="mx"
        )
        retry_at = NOW + timedelta(minutes=15)
        await self.store.finish_attempt(queued.id, AttemptOutcome(failed, retry_at=retry_at))
        stored = await self.store.queued_message(queued.id)
        self.assertEqual(stored.results, (failed,))
        self.assertEqual((stored.next_attempt, stored.attempts), (retry_at, 1))

    async def test_finish_attempt_retire_kept(self) -> None:
        """Retiring removes the queue record and writes the retired record."""
        [queued] = await self.enqueue(extra={"a": "b"}, from_id="fid", require_tls=True)
        await self.store.start_attempt(queued.id, NOW, NOW + timedelta(minutes=1))
        outcome = retire_outcome(keep=True)
        await self.store.finish_attempt(queued.id, outcome)
        self.assertIsNone(await self.store.queued_message(queued.id))
        [retired] = await self.store.list_retired()
        self.assertEqual((retired.id, retired.base_id, retired.queued), (queued.id, 0, NOW))
        self.assertEqual((retired.success, retired.event), (True, "delivered"))
        self.assertEqual(retired.results, (outcome.attempt,))
        self.assertEqual(retired.last_activity, NOW + timedelta(seconds=2.5))
        self.assertEqual(retired.keep_until, NOW + timedelta(days=7))
        self.assertEqual((retired.last_attempt, retired.attempts), (NOW, 1))
        self.assertEqual(
            (retired.recipient, retired.recipient_domain, retired.size),
            (queued.recipient, queued.recipient_domain, queued.size),
        )
        self.assertEqual(
            (dict(retired.extra), retired.from_id, retired.require_tls), ({"a": "b"}, "fid", True)
        )
        self.assertEqual(await self.store.list_retired("mjl"), [retired])
        self.assertEqual(await self.store.list_retired("other"), [])

    async def test_finish_attempt_retire_not_kept(self) -> None:
        """Without keep_until the message leaves the queue and no retired record is written."""
        [queued] = await self.enqueue()
        await self.store.start_attempt(queued.id, NOW, NOW)
        await self.store.finish_attempt(queued.id, retire_outcome(keep=False))
        self.assertEqual(await self.store.list_queue(), [])
        self.assertEqual(await self.store.list_retired(), [])

    async def test_data_dropped_after_last_recipient(self) -> None:
        """Message data stays while any recipient is queued and goes with the last."""
        first, second = await self.enqueue(recipients=("a@x", "b@x"))
        await self.store.finish_attempt(first.id, retire_outcome(keep=True))
        self.assertEqual(await self.store.message_data(first.data_id), new_message().data)
        await self.store.finish_attempt(second.id, retire_outcome(keep=False))
        await self.assertFailure(self.store.message_data(first.data_id), self.not_found)

    async def test_finish_attempt_without_start(self) -> None:
        """With no attempt in progress the outcome's attempt is appended to the results."""
        [queued] = await self.enqueue()
        outcome = retire_outcome(keep=True, event="canceled")
        await self.store.finish_attempt(queued.id, outcome)
        [retired] = await self.store.list_retired()
        self.assertEqual((retired.event, retired.success), ("canceled", False))
        self.assertEqual(retired.results, (outcome.attempt,))

    async def test_finish_attempt_deliveries(self) -> None:
        """Outcome deliveries land in mailboxes, created if missing; data None is the message."""
        [queued] = await self.enqueue(account="sender")
        dsn = b"Subject: delayed\r\n\r\n"
        outcome = retire_outcome(
            keep=False,
            deliveries=(
                MailboxDelivery(account="rcpt", mailbox="Inbox", rcpt_to="a@example.com"),
                MailboxDelivery(account="sender", mailbox="Inbox", data=dsn, dsn=True),
            ),
        )
        await self.store.finish_attempt(queued.id, outcome)
        [delivered] = await self.store.list_messages("rcpt", "Inbox")
        self.assertEqual(delivered.rcpt_to, "a@example.com")
        self.assertEqual(delivered.size, queued.size)
        self.assertEqual(await self.store.message_data(delivered.data_id), new_message().data)
        [notice] = await self.store.list_messages("sender")
        self.assertEqual((notice.dsn, notice.size), (True, len(dsn)))
        self.assertEqual(await self.store.message_data(notice.data_id), dsn)
        self.assertEqual(await self.store.mailboxes("rcpt"), ["Inbox"])

    async def test_retry_with_deliveries(self) -> None:
        """A retrying outcome also stores its deliveries (the delay DSN)."""
        [queued] = await self.enqueue()
        await self.store.start_attempt(queued.id, NOW, NOW)
        outcome = AttemptOutcome(
            DeliveryAttempt(start=NOW, code=451),
            retry_at=NOW + timedelta(hours=1),
            deliveries=(MailboxDelivery(account="mjl", mailbox="Inbox", data=b"x", dsn=True),),
        )
        await self.store.finish_attempt(queued.id, outcome)
        self.assertEqual(len(await self.store.list_messages("mjl", "Inbox")), 1)
        self.assertEqual(len(await self.store.list_queue()), 1)

    async def test_recover_interrupted(self) -> None:
        """Attempts left delivering... get an interrupted error and become due now."""
        [busy, idle, done] = await self.enqueue(recipients=("a@x", "b@y", "c@z"))
        later = NOW + timedelta(hours=1)
        await self.store.start_attempt(busy.id, NOW, later)
        await self.store.start_attempt(done.id, NOW, later)
        failed = DeliveryAttempt(start=NOW, code=451)
        await self.store.finish_attempt(done.id, AttemptOutcome(failed, retry_at=later))
        restart = NOW + timedelta(minutes=3)
        self.assertEqual(await self.store.recover_interrupted(restart), 1)
        recovered = await self.store.queued_message(busy.id)
        self.assertEqual(recovered.results, (DeliveryAttempt(start=NOW, error=INTERRUPTED),))
        self.assertEqual((recovered.next_attempt, recovered.attempts), (restart, 1))
        self.assertEqual(await self.store.queued_message(idle.id), idle)
        self.assertEqual((await self.store.queued_message(done.id)).results, (failed,))
        self.assertEqual(await self.store.recover_interrupted(restart), 0)

    # -- mailboxes

    async def test_deliver(self) -> None:
        """deliver stores each message with its data and flags, listed by id."""
        await self.store.ensure_account("mjl", DEFAULT_MAILBOXES)
        stored = await self.store.deliver(
            [
                MailboxDelivery(
                    account="mjl",
                    mailbox="Inbox",
                    mail_from="x@example.com",
                    rcpt_to="mjl@example.org",
                    data=b"one",
                    flags=("\\Seen", "$Junk"),
                    remote_ip="127.0.0.1",
                ),
                MailboxDelivery(account="mjl", mailbox="New/Box", data=b"two"),
                MailboxDelivery(account="mjl", mailbox="Inbox", data=b"one"),
            ]
        )
        self.assertEqual([m.mailbox for m in stored], ["Inbox", "New/Box", "Inbox"])
        first = stored[0]
        self.assertEqual(
            (first.account, first.size, first.flags, first.mail_from, first.rcpt_to),
            ("mjl", 3, ("\\Seen", "$Junk"), "x@example.com", "mjl@example.org"),
        )
        self.assertEqual((first.dsn, first.remote_ip), (False, "127.0.0.1"))
        self.assertEqual(first.received.utcoffset(), timedelta(0))
        self.assertEqual(
            [await self.store.message_data(m.data_id) for m in stored], [b"one", b"two", b"one"]
        )
        self.assertEqual(await self.store.list_messages("mjl"), stored)
        self.assertEqual(await self.store.list_messages("mjl", "Inbox"), [stored[0], stored[2]])
        self.assertIn("New/Box", await self.store.mailboxes("mjl"))
        self.assertEqual(await self.store.list_messages("other"), [])

    async def test_deliver_needs_data(self) -> None:
        """A delivery without data is refused by deliver and nothing of the call is stored."""
        good = MailboxDelivery(account="mjl", mailbox="Inbox", data=b"x")
        bad = MailboxDelivery(account="mjl", mailbox="Inbox")
        await self.assertFailure(self.store.deliver([good, bad]), ValueError)
        self.assertEqual(await self.store.list_messages("mjl"), [])

    # -- values

    async def test_datetimes_round_trip(self) -> None:
        """Times in other zones come back as the same instant, timezone-aware UTC."""
        zone = timezone(timedelta(hours=5, minutes=30))
        local = datetime(2026, 1, 2, 8, 30, 0, 1, tzinfo=zone)
        [queued] = await self.enqueue(now=local, next_attempt=local + timedelta(days=1))
        stored = await self.store.queued_message(queued.id)
        self.assertEqual(stored.queued, local)
        self.assertEqual(stored.queued.tzinfo, UTC)
        self.assertEqual(stored.queued.microsecond, 1)
        self.assertEqual(stored.next_attempt.tzinfo, UTC)

    async def test_naive_datetime_refused(self) -> None:
        """A naive datetime is refused with ValueError rather than guessed."""
        naive = datetime(2026, 1, 2, 8, 30)
        await self.assertFailure(self.store.enqueue(new_message(), naive), ValueError)
        self.assertEqual(await self.store.list_queue(), [])

    async def test_records_immutable(self) -> None:
        """Records handed out are frozen, and their extra mapping is read-only."""
        [queued] = await self.enqueue(extra={"a": "b"})
        stored = await self.store.queued_message(queued.id)
        self.assertRaises(dataclasses.FrozenInstanceError, setattr, stored, "hold", True)
        self.assertRaises(TypeError, operator.setitem, stored.extra, "a", "c")
        self.assertEqual(type(stored.results), tuple)


def retire_outcome(
    keep: bool,
    event: str = "delivered",
    deliveries: tuple[MailboxDelivery, ...] = (),
) -> AttemptOutcome:
    """An outcome retiring a message at NOW, kept for a week when ``keep``."""
    attempt = DeliveryAttempt(
        start=NOW,
        duration=2.5,
        success=event == "delivered",
        code=250 if event == "delivered" else 0,
        secode="0.0" if event == "delivered" else "",
        reply="ok\nqueued as 1" if event == "delivered" else "",
        tls=True,
    )
    retirement = Retirement(
        success=event == "delivered",
        event=event,
        keep_until=NOW + timedelta(days=7) if keep else None,
    )
    return AttemptOutcome(attempt, retire=retirement, deliveries=deliveries)
