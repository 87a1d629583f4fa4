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
    Cursor,
    DeliveryAttempt,
    HoldRule,
    MailboxDelivery,
    MessageFilter,
    NewMessage,
    QueuedMessage,
    Suppression,
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
    assertLessEqual: Any
    assertIsNot: Any
    assertIsNotNone: Any
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

    async def test_enqueue_many_all_or_nothing(self) -> None:
        """Several messages queue in one transaction, each with its own records; when one
        is refused (a reused fromid) none of them is queued."""
        first, second = await self.store.enqueue_many(
            [
                new_message(recipients=("a@example.com",), from_id="one"),
                new_message(recipients=("b@example.com",), from_id="two"),
            ],
            NOW,
        )
        self.assertEqual([m.from_id for m in first + second], ["one", "two"])
        self.assertEqual(len(await self.store.list_queue()), 2)
        await self.assertFailure(
            self.store.enqueue_many(
                [
                    new_message(recipients=("c@example.com",), from_id="three"),
                    new_message(recipients=("d@example.com",), from_id="one"),
                ],
                NOW,
            ),
            ValueError,
        )
        self.assertEqual(
            sorted(m.recipient for m in await self.store.list_queue()),
            ["a@example.com", "b@example.com"],
        )

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
        # A second attempt, after a retry: what it returns is still what is stored.
        failed = DeliveryAttempt(start=NOW, duration=1.0, code=451, error="busy")
        await self.store.finish_attempt(queued.id, AttemptOutcome(failed, retry_at=later))
        again = await self.store.start_attempt(queued.id, later, later + timedelta(hours=1))
        self.assertEqual(again.attempts, 2)
        self.assertEqual(len(again.results), 2)
        self.assertEqual(await self.store.queued_message(queued.id), again)

    async def test_start_attempt_not_when_held_or_not_due(self) -> None:
        """A message held or rescheduled since it was found due is not started (None) and
        stays as it is."""
        [held, later] = await self.enqueue(recipients=("a@example.com", "b@example.com"))
        await self.store.set_hold(MessageFilter(ids=(held.id,)), True)
        await self.store.set_next_attempt(MessageFilter(ids=(later.id,)), NOW + timedelta(1))
        self.assertIsNone(await self.store.start_attempt(held.id, NOW, NOW + timedelta(1)))
        self.assertIsNone(await self.store.start_attempt(later.id, NOW, NOW + timedelta(1)))
        self.assertEqual([m.attempts for m in await self.store.list_queue()], [0, 0])

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
        """Outcome deliveries land in mailboxes, created if missing; data None is the message;
        finish_attempt returns the stored messages."""
        [queued] = await self.enqueue(account="sender")
        dsn = b"Subject: delayed\r\n\r\n"
        outcome = retire_outcome(
            keep=False,
            deliveries=(
                MailboxDelivery(account="rcpt", mailbox="Inbox", rcpt_to="a@example.com"),
                MailboxDelivery(account="sender", mailbox="Inbox", data=dsn, dsn=True),
            ),
        )
        stored = await self.store.finish_attempt(queued.id, outcome)
        [delivered] = await self.store.list_messages("rcpt", "Inbox")
        [notice] = await self.store.list_messages("sender")
        self.assertEqual(stored, [delivered, notice])
        self.assertEqual(delivered.rcpt_to, "a@example.com")
        self.assertEqual(delivered.size, queued.size)
        self.assertEqual(await self.store.message_data(delivered.data_id), new_message().data)
        [notice] = await self.store.list_messages("sender")
        self.assertEqual((notice.dsn, notice.size), (True, len(dsn)))
        self.assertEqual(await self.store.message_data(notice.data_id), dsn)
        self.assertEqual(await self.store.mailboxes("rcpt"), ["Inbox"])

    async def test_finish_attempt_queues_its_webhooks(self) -> None:
        """An outcome's prepared webhooks are queued in its transaction, and a failing
        outcome queues none."""
        from mailtwist.store.webhooks import NewWebhook, PreparedWebhook, WebhookFilter

        [queued, other] = await self.enqueue(recipients=("a@example.com", "b@example.com"))
        hook = NewWebhook(
            account="mjl",
            url="http://127.0.0.1:9/hook",
            payload=b"{}",
            submitted=NOW,
            outgoing_event="delivered",
            queue_msg_id=queued.id,
        )
        outcome = dataclasses.replace(
            retire_outcome(keep=False), webhooks=(PreparedWebhook(hook, NOW, None),)
        )
        await self.store.finish_attempt(queued.id, outcome)
        page = await self.store.webhook_page(WebhookFilter())
        self.assertEqual(
            [(h.queue_msg_id, h.outgoing_event) for h in page.rows], [(queued.id, "delivered")]
        )
        broken = dataclasses.replace(
            retire_outcome(
                keep=True,
                deliveries=(MailboxDelivery(account="", mailbox="Inbox", data=b"x"),),
            ),
            webhooks=(
                PreparedWebhook(dataclasses.replace(hook, queue_msg_id=other.id), NOW, None),
            ),
        )
        await self.assertFailure(self.store.finish_attempt(other.id, broken), ValueError)
        self.assertEqual(await self.store.webhook_count(), 1)

    async def test_stored_events_outbox(self) -> None:
        """A delivery with notify leaves a pending event in its own transaction, by
        deliver() or by an outcome; handling removes it; other deliveries leave none."""
        [inbound, plain] = await self.store.deliver(
            [
                MailboxDelivery(account="mjl", mailbox="Inbox", data=b"a", notify=True),
                MailboxDelivery(account="mjl", mailbox="Sent", data=b"b"),
            ]
        )
        [queued] = await self.enqueue()
        [local] = await self.store.finish_attempt(
            queued.id,
            retire_outcome(
                keep=False,
                deliveries=(MailboxDelivery(account="rcpt", mailbox="Inbox", notify=True),),
            ),
        )
        pending = await self.store.pending_stored_events()
        self.assertEqual([m.id for m in pending], [inbound.id, local.id])
        self.assertEqual(pending[0], inbound)
        await self.store.stored_event_handled(inbound.id)
        await self.store.stored_event_handled(plain.id)  # no event: nothing to do
        self.assertEqual([m.id for m in await self.store.pending_stored_events()], [local.id])

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

    # -- queue control (issue 3): listings

    async def retire(
        self,
        queued: QueuedMessage,
        at: datetime,
        event: str = "failed",
        keep_for: timedelta = timedelta(days=7),
        attempt: DeliveryAttempt | None = None,
    ) -> None:
        """Retire ``queued`` with last activity ``at`` (an attempt starting then)."""
        if attempt is None:
            attempt = DeliveryAttempt(start=at, success=event == "delivered")
        retirement = Retirement(success=event == "delivered", event=event, keep_until=at + keep_for)
        await self.store.finish_attempt(queued.id, AttemptOutcome(attempt, retire=retirement))

    async def all_pages(self, method: str, message_filter: MessageFilter, **kwargs: Any) -> Any:
        """Every row of a listing, following cursors; asserts each page's size."""
        limit = kwargs.pop("limit", 3)
        rows: list[Any] = []
        after = None
        for _ in range(100):
            page = await getattr(self.store, method)(
                message_filter, after=after, limit=limit, **kwargs
            )
            rows.extend(page.rows)
            if page.next is None:
                self.assertLessEqual(len(page.rows), limit)
                return rows
            self.assertEqual(len(page.rows), limit)
            after = page.next
        raise AssertionError("pagination does not end")

    async def test_queue_count(self) -> None:
        """queue_count counts queued records, one per recipient."""
        self.assertEqual(await self.store.queue_count(), 0)
        await self.enqueue(recipients=("a@x", "b@x"))
        await self.enqueue()
        self.assertEqual(await self.store.queue_count(), 3)

    async def test_queue_page_sorts(self) -> None:
        """Both queue sorts, both directions, order by (field, id) with ties broken by id."""
        times = [5, 1, 5, 3, 1, 4, 5]
        messages = []
        for i, minutes in enumerate(times):
            [m] = await self.enqueue(
                now=NOW + timedelta(minutes=times[-1 - i]),
                next_attempt=NOW + timedelta(minutes=minutes),
            )
            messages.append(m)
        everything = MessageFilter()
        for sort in ("next_attempt", "queued"):
            expected = sorted(messages, key=lambda m: (getattr(m, sort), m.id))
            for ascending in (True, False):
                want = [m.id for m in (expected if ascending else expected[::-1])]
                got = await self.all_pages("queue_page", everything, sort=sort, ascending=ascending)
                self.assertEqual([m.id for m in got], want, (sort, ascending))
                one = await self.store.queue_page(
                    everything, sort=sort, ascending=ascending, limit=100
                )
                self.assertEqual([m.id for m in one.rows], want)
                self.assertIsNone(one.next)

    async def test_queue_page_default_and_cursor(self) -> None:
        """Default: next attempt ascending, 100 rows; next is the last row's cursor."""
        queued = []
        for minutes in (3, 1, 2):
            queued += await self.enqueue(next_attempt=NOW + timedelta(minutes=minutes))
        page = await self.store.queue_page(MessageFilter(), limit=2)
        self.assertEqual([m.id for m in page.rows], [queued[1].id, queued[2].id])
        self.assertEqual(page.next, Cursor(NOW + timedelta(minutes=2), queued[2].id))
        rest = await self.store.queue_page(MessageFilter(), after=page.next, limit=2)
        self.assertEqual(([m.id for m in rest.rows], rest.next), ([queued[0].id], None))
        exact = await self.store.queue_page(MessageFilter(), limit=3)
        self.assertIsNone(exact.next)
        self.assertEqual(len((await self.store.queue_page(MessageFilter())).rows), 3)

    async def test_pagination_many_ties(self) -> None:
        """Paging 50 rows sharing one sort value gives each row once, in id order."""
        queued = await self.enqueue(recipients=tuple(f"r{i}@x" for i in range(50)))
        for sort in ("next_attempt", "queued"):
            for ascending in (True, False):
                got = await self.all_pages(
                    "queue_page", MessageFilter(), sort=sort, ascending=ascending, limit=7
                )
                ids = [m.id for m in queued]
                self.assertEqual([m.id for m in got], ids if ascending else ids[::-1])

    async def test_queue_filters(self) -> None:
        """Each queue filter field selects alone; several combine with AND."""
        [a] = await self.enqueue(
            account="acc1", sender="Alice@Example.ORG", recipients=("x_1@one.example",)
        )
        [b] = await self.enqueue(
            account="acc2",
            sender="bob@other.example",
            recipients=("y%2@two.example",),
            now=NOW + timedelta(minutes=1),
            next_attempt=NOW + timedelta(hours=1),
            hold=True,
        )
        [c] = await self.enqueue(
            account="acc1",
            sender="",
            recipients=("X.1@ONE.example",),
            now=NOW + timedelta(minutes=2),
            next_attempt=NOW + timedelta(hours=2),
        )
        cases: list[tuple[MessageFilter, list[int]]] = [
            (MessageFilter(), [a.id, b.id, c.id]),
            (MessageFilter(ids=(a.id, c.id, 9999)), [a.id, c.id]),
            (MessageFilter(account="acc1"), [a.id, c.id]),
            (MessageFilter(account="acc"), []),
            (MessageFilter(sender="alice@example.org"), [a.id]),
            (MessageFilter(sender="@OTHER."), [b.id]),
            (MessageFilter(recipient="@one.example"), [a.id, c.id]),
            # % and _ are literal characters, not LIKE wildcards.
            (MessageFilter(recipient="x_1"), [a.id]),
            (MessageFilter(recipient="y%2"), [b.id]),
            (MessageFilter(recipient="%"), [b.id]),
            (MessageFilter(recipient="_"), [a.id]),
            (MessageFilter(hold=True), [b.id]),
            (MessageFilter(hold=False), [a.id, c.id]),
            (MessageFilter(queued_after=NOW + timedelta(minutes=1)), [b.id, c.id]),
            (MessageFilter(queued_before=NOW + timedelta(minutes=1)), [a.id]),
            (MessageFilter(next_attempt_after=NOW + timedelta(hours=1)), [b.id, c.id]),
            (MessageFilter(next_attempt_before=NOW + timedelta(hours=2)), [a.id, b.id]),
            (
                MessageFilter(
                    account="acc1",
                    next_attempt_after=NOW + timedelta(minutes=1),
                    next_attempt_before=NOW + timedelta(hours=3),
                ),
                [c.id],
            ),
        ]
        for message_filter, want in cases:
            page = await self.store.queue_page(message_filter, sort="queued")
            self.assertEqual([m.id for m in page.rows], want, message_filter)

    async def test_listing_bad_input(self) -> None:
        """Unknown sorts, bad limits and cursors, misplaced filter fields fail precisely."""
        await self.enqueue()
        everything = MessageFilter()
        bad_queue_calls = [
            self.store.queue_page(everything, sort="last_activity"),
            self.store.queue_page(everything, limit=0),
            self.store.queue_page(everything, after=(NOW, 1)),
            self.store.queue_page(MessageFilter(success=True)),
            self.store.queue_page(MessageFilter(event="failed")),
            self.store.queue_page(MessageFilter(last_activity_after=NOW)),
            self.store.queue_page(MessageFilter(ids=("1",))),  # type: ignore[arg-type]
            self.store.queue_page(MessageFilter(queued_after=datetime(2026, 1, 1))),
            self.store.set_hold(MessageFilter(success=True), True),
            self.store.retired_page(everything, sort="next_attempt"),
            self.store.retired_page(MessageFilter(hold=True)),
            self.store.retired_page(MessageFilter(next_attempt_before=NOW)),
            self.store.retired_page(MessageFilter(event="lost")),
        ]
        for call in bad_queue_calls:
            failure = await self.assertFailure(call, ValueError, TypeError)
            self.assertTrue(str(failure))
        await self.assertFailure(self.store.queue_page("account=mjl"), TypeError)

    async def test_retired_page(self) -> None:
        """Retired listing: last activity descending by default; filters; queued sort."""
        queued = await self.enqueue(recipients=("a@x", "b@y", "c@x", "d@x"))
        late = await self.enqueue(account="other", now=NOW + timedelta(hours=1))
        await self.retire(queued[0], NOW + timedelta(minutes=3), event="delivered")
        await self.retire(queued[1], NOW + timedelta(minutes=1), event="failed")
        await self.retire(queued[2], NOW + timedelta(minutes=3), event="canceled")
        await self.retire(late[0], NOW + timedelta(minutes=2), event="suppressed")
        ids = [m.id for m in (*queued, *late)]
        page = await self.store.retired_page(MessageFilter())
        self.assertEqual([m.id for m in page.rows], [ids[2], ids[0], ids[4], ids[1]])
        self.assertIsNone(page.next)
        cases: list[tuple[MessageFilter, list[int]]] = [
            (MessageFilter(success=True), [ids[0]]),
            (MessageFilter(success=False), [ids[2], ids[4], ids[1]]),
            (MessageFilter(event="canceled"), [ids[2]]),
            (MessageFilter(account="other"), [ids[4]]),
            (MessageFilter(recipient="@X"), [ids[2], ids[0]]),
            (MessageFilter(ids=(ids[1], ids[3])), [ids[1]]),
            (
                MessageFilter(last_activity_after=NOW + timedelta(minutes=2)),
                [ids[2], ids[0], ids[4]],
            ),
            (MessageFilter(last_activity_before=NOW + timedelta(minutes=2)), [ids[1]]),
            (MessageFilter(queued_after=NOW + timedelta(minutes=30)), [ids[4]]),
            (MessageFilter(queued_before=NOW + timedelta(minutes=30)), [ids[2], ids[0], ids[1]]),
        ]
        for message_filter, want in cases:
            found = await self.store.retired_page(message_filter)
            self.assertEqual([m.id for m in found.rows], want, message_filter)
        by_queued = await self.all_pages("retired_page", MessageFilter(), sort="queued", limit=1)
        self.assertEqual([m.id for m in by_queued], [ids[4], ids[2], ids[1], ids[0]])
        ascending = await self.all_pages(
            "retired_page", MessageFilter(), sort="last_activity", ascending=True, limit=2
        )
        self.assertEqual([m.id for m in ascending], [ids[1], ids[4], ids[0], ids[2]])
        by_account = await self.all_pages(
            "retired_page", MessageFilter(account="mjl"), sort="queued", ascending=True, limit=2
        )
        self.assertEqual([m.id for m in by_account], [ids[0], ids[1], ids[2]])

    # -- queue control (issue 3): operations

    async def test_set_hold(self) -> None:
        """set_hold changes matching messages and counts those whose flag changed."""
        [a, b] = await self.enqueue(recipients=("a@x", "b@y"))
        [c] = await self.enqueue(account="other", hold=True)
        self.assertEqual(await self.store.set_hold(MessageFilter(account="mjl"), True), 2)
        self.assertEqual(await self.store.set_hold(MessageFilter(), True), 0)
        self.assertEqual(await self.store.set_hold(MessageFilter(recipient="@y"), False), 1)
        held = {m.id: m.hold for m in await self.store.list_queue()}
        self.assertEqual(held, {a.id: True, b.id: False, c.id: True})
        await self.assertFailure(self.store.set_hold(MessageFilter(), 1), TypeError)

    async def test_set_next_attempt(self) -> None:
        """set_next_attempt reschedules only matching messages; naive times are refused."""
        [a] = await self.enqueue()
        [b] = await self.enqueue(account="other")
        later = NOW + timedelta(days=1)
        self.assertEqual(await self.store.set_next_attempt(MessageFilter(ids=(b.id,)), later), 1)
        self.assertEqual((await self.store.queued_message(b.id)).next_attempt, later)
        self.assertEqual((await self.store.queued_message(a.id)).next_attempt, NOW)
        await self.assertFailure(
            self.store.set_next_attempt(MessageFilter(), datetime(2026, 1, 1)), ValueError
        )
        self.assertEqual((await self.store.queued_message(a.id)).next_attempt, NOW)

    async def test_set_max_attempts(self) -> None:
        """set_max_attempts changes the limit of matching messages; negative is refused."""
        [a] = await self.enqueue()
        [b] = await self.enqueue(account="other")
        self.assertEqual(await self.store.set_max_attempts(MessageFilter(account="mjl"), 3), 1)
        self.assertEqual((await self.store.queued_message(a.id)).max_attempts, 3)
        self.assertEqual((await self.store.queued_message(b.id)).max_attempts, 0)
        await self.assertFailure(self.store.set_max_attempts(MessageFilter(), -1), ValueError)

    async def test_finish_attempts(self) -> None:
        """finish_attempts applies every outcome and skips ids no longer queued and messages
        with an attempt in progress; it returns the ids applied."""
        [a, b, c, d] = await self.enqueue(recipients=("a@x", "b@x", "c@x", "d@x"))
        await self.store.start_attempt(d.id, NOW, NOW + timedelta(1))
        canceled = retire_outcome(keep=True, event="canceled")
        retry = AttemptOutcome(DeliveryAttempt(start=NOW, code=451), retry_at=NOW + timedelta(1))
        applied = await self.store.finish_attempts(
            {a.id: canceled, c.id: retry, d.id: canceled, 9999: canceled}
        )
        self.assertEqual(applied, [a.id, c.id])
        self.assertEqual([m.id for m in await self.store.list_retired()], [a.id])
        self.assertEqual(
            [(m.id, m.next_attempt) for m in await self.store.list_queue()],
            [(b.id, NOW), (c.id, NOW + timedelta(1)), (d.id, NOW + timedelta(1))],
        )
        self.assertEqual(await self.store.finish_attempts({}), [])

    async def test_finish_attempts_atomic(self) -> None:
        """One bad outcome fails finish_attempts and none of the outcomes is applied."""
        [a, b] = await self.enqueue(recipients=("a@x", "b@x"))
        bad = retire_outcome(
            keep=True, deliveries=(MailboxDelivery(account="", mailbox="Inbox", data=b"x"),)
        )
        await self.assertFailure(
            self.store.finish_attempts({a.id: retire_outcome(keep=True), b.id: bad}), ValueError
        )
        self.assertEqual([m.id for m in await self.store.list_queue()], [a.id, b.id])
        self.assertEqual(await self.store.list_retired(), [])

    # -- hold rules

    async def test_hold_rules_at_enqueue(self) -> None:
        """A new message is held when any rule matches all of its non-empty fields."""
        await self.store.add_hold_rule(HoldRule(account="mjl", recipient_domain="held.example"))
        await self.store.add_hold_rule(HoldRule(sender_domain="spam.example"))
        queued = await self.enqueue(recipients=("a@held.example", "b@free.example"))
        self.assertEqual([m.hold for m in queued], [True, False])
        [other] = await self.enqueue(account="other", recipients=("a@held.example",))
        self.assertFalse(other.hold)
        [spam] = await self.enqueue(account="other", sender="x@y@spam.example")
        self.assertTrue(spam.hold)
        # The null sender has sender domain "": only rules without one match it.
        [bounce] = await self.enqueue(account="other", sender="")
        self.assertFalse(bounce.hold)
        stored = {m.id: m.hold for m in await self.store.list_queue()}
        self.assertEqual(stored, {m.id: m.hold for m in (*queued, other, spam, bounce)})

    async def test_empty_hold_rule_pauses_everything(self) -> None:
        """An all-empty rule holds every queued and every new message, null sender included."""
        [before] = await self.enqueue()
        await self.store.add_hold_rule(HoldRule())
        [after] = await self.enqueue(sender="", account="x")
        self.assertTrue(after.hold)
        self.assertTrue((await self.store.queued_message(before.id)).hold)
        self.assertEqual(await self.store.due_messages(NOW, 10, ()), [])

    async def test_add_hold_rule_holds_existing(self) -> None:
        """Adding a rule holds matching queued messages (AND of its fields) and only those."""
        [a] = await self.enqueue(sender="s@one.example", recipients=("r@two.example",))
        [b] = await self.enqueue(sender="s@one.example", recipients=("r@three.example",))
        [c] = await self.enqueue(sender="s@sub.one.example", recipients=("r@two.example",))
        [d] = await self.enqueue(
            account="other", sender="s@one.example", recipients=("r@two.example",)
        )
        rule = await self.store.add_hold_rule(
            HoldRule(account="mjl", sender_domain="one.example", recipient_domain="two.example")
        )
        self.assertNotEqual(rule.id, 0)
        held = {m.id: m.hold for m in await self.store.list_queue()}
        self.assertEqual(held, {a.id: True, b.id: False, c.id: False, d.id: False})

    async def test_hold_rules_list_and_remove(self) -> None:
        """Rules are listed by id; removing one leaves held messages held."""
        first = await self.store.add_hold_rule(HoldRule(account="mjl"))
        second = await self.store.add_hold_rule(HoldRule(recipient_domain="x.example"))
        self.assertEqual(await self.store.hold_rules(), [first, second])
        self.assertLess(first.id, second.id)
        [held] = await self.enqueue()
        self.assertTrue(held.hold)
        self.assertTrue(await self.store.remove_hold_rule(first.id))
        self.assertFalse(await self.store.remove_hold_rule(first.id))
        self.assertEqual(await self.store.hold_rules(), [second])
        self.assertTrue((await self.store.queued_message(held.id)).hold)
        [free] = await self.enqueue()
        self.assertFalse(free.hold)
        await self.assertFailure(self.store.add_hold_rule(("mjl", "", "")), TypeError)

    # -- suppression list

    async def test_suppressions(self) -> None:
        """add sets id and created; lookup by base address; listing by id; per account."""
        created = NOW - timedelta(days=1)
        first = await self.store.add_suppression(
            Suppression("mjl", "ab@x.example", "A.b+t@x.example", True, "manual", created=created)
        )
        self.assertEqual(
            (first.created, first.manual, first.original_address),
            (created, True, "A.b+t@x.example"),
        )
        second = await self.store.add_suppression(
            Suppression("mjl", "c@x.example", "c@x.example", False, "bounced")
        )
        self.assertLess(first.id, second.id)
        self.assertIsNot(second.created, None)
        self.assertEqual(second.created.utcoffset(), timedelta(0))
        await self.store.add_suppression(
            Suppression("other", "ab@x.example", "ab@x.example", False, "")
        )
        self.assertEqual(await self.store.suppressions("mjl"), [first, second])
        self.assertEqual(await self.store.suppression("mjl", "ab@x.example"), first)
        self.assertIsNone(await self.store.suppression("mjl", "zz@x.example"))
        self.assertTrue(await self.store.remove_suppression("mjl", "ab@x.example"))
        self.assertFalse(await self.store.remove_suppression("mjl", "ab@x.example"))
        self.assertEqual(await self.store.suppressions("mjl"), [second])
        self.assertEqual(len(await self.store.suppressions("other")), 1)
        self.assertEqual(await self.store.suppressions("nobody"), [])

    async def test_suppression_unique(self) -> None:
        """A second entry for the same account and base address fails with SuppressionExists."""
        from mailtwist.store import SuppressionExists

        await self.store.add_suppression(Suppression("mjl", "ab@x", "ab@x", False, "one"))
        await self.assertFailure(
            self.store.add_suppression(Suppression("mjl", "ab@x", "A.B@x", True, "two")),
            SuppressionExists,
        )
        [only] = await self.store.suppressions("mjl")
        self.assertEqual(only.reason, "one")
        await self.assertFailure(
            self.store.add_suppression(Suppression("mjl", "", "", True, "")), ValueError
        )

    async def test_outcome_suppression(self) -> None:
        """An outcome's suppression is added with the retirement, unless already listed."""
        [a, b] = await self.enqueue(recipients=("x.y@z", "xy+1@z"))
        entry = Suppression("mjl", "xy@z", "x.y@z", False, "delivery failure")
        failed = retire_outcome(keep=True, event="failed")
        await self.store.finish_attempt(a.id, dataclasses.replace(failed, suppression=entry))
        [listed] = await self.store.suppressions("mjl")
        self.assertEqual((listed.base_address, listed.reason), ("xy@z", "delivery failure"))
        again = dataclasses.replace(entry, original_address="xy+1@z", reason="again")
        await self.store.finish_attempt(b.id, dataclasses.replace(failed, suppression=again))
        self.assertEqual(await self.store.suppressions("mjl"), [listed])
        self.assertEqual(len(await self.store.list_retired()), 2)

    # -- retired history

    async def test_classification_and_origin_round_trip(self) -> None:
        """An attempt's classification and a message's origin survive queue and retirement."""
        [queued] = await self.enqueue(origin="webapi")
        self.assertEqual(queued.origin, "webapi")
        self.assertEqual((await self.store.queued_message(queued.id)).origin, "webapi")
        temporary = DeliveryAttempt(start=NOW, code=421, secode="7.0", classification="policy")
        await self.store.finish_attempt(
            queued.id, AttemptOutcome(temporary, retry_at=NOW + timedelta(minutes=5))
        )
        self.assertEqual((await self.store.queued_message(queued.id)).results, (temporary,))
        final = DeliveryAttempt(
            start=NOW, code=550, secode="1.1", permanent=True, classification="recipient"
        )
        await self.retire(queued, NOW, attempt=final)
        [retired] = await self.store.list_retired()
        self.assertEqual(retired.origin, "webapi")
        self.assertEqual([r.classification for r in retired.results], ["policy", "recipient"])
        [default] = await self.enqueue()
        self.assertEqual((await self.store.queued_message(default.id)).origin, "submission")

    async def test_delete_expired_retired(self) -> None:
        """Retired messages past their keep-until are deleted; queued ones never are."""
        [a, b, c] = await self.enqueue(recipients=("a@x", "b@x", "c@x"))
        await self.retire(a, NOW, keep_for=timedelta(hours=1))
        await self.retire(b, NOW, keep_for=timedelta(hours=3))
        self.assertEqual(await self.store.delete_expired_retired(NOW + timedelta(hours=1)), 0)
        self.assertEqual(await self.store.delete_expired_retired(NOW + timedelta(hours=2)), 1)
        self.assertEqual([m.id for m in await self.store.list_retired()], [b.id])
        self.assertEqual(await self.store.delete_expired_retired(NOW + timedelta(days=9)), 1)
        self.assertEqual([m.id for m in await self.store.list_queue()], [c.id])

    async def test_retired_by_from_id(self) -> None:
        """A retired message is found by its fromid in any account; queued ones are not."""
        [a] = await self.enqueue(account="one", from_id="fid-a")
        [b] = await self.enqueue(account="two", from_id="fid-b")
        await self.enqueue(account="three")
        await self.retire(a, NOW)
        found = await self.store.retired_by_from_id("fid-a")
        self.assertEqual((found.id, found.account), (a.id, "one"))
        self.assertIsNone(await self.store.retired_by_from_id("fid-b"))
        self.assertIsNone(await self.store.retired_by_from_id(""))
        self.assertIsNone(await self.store.retired_by_from_id("nope"))
        self.assertIsNotNone(await self.store.queued_message(b.id))

    async def test_record_retired_activity(self) -> None:
        """An incoming DSN's result is appended to a retired record, with its last
        activity; ids that are queued, unknown or not kept give None."""
        [a, b, c] = await self.enqueue(recipients=("a@x", "b@x", "c@x"))
        await self.retire(a, NOW)
        b_retirement = Retirement(success=False, event="failed", keep_until=None)
        await self.store.finish_attempt(
            b.id, AttemptOutcome(DeliveryAttempt(start=NOW), retire=b_retirement)
        )
        later = NOW + timedelta(days=2)
        incoming = DeliveryAttempt(start=later, code=550, secode="1.1", error="incoming message")
        updated = await self.store.record_retired_activity(a.id, incoming, later)
        self.assertEqual(updated.last_activity, later)
        self.assertEqual(updated.results[-1], incoming)
        self.assertEqual(len(updated.results), 2)
        [stored] = await self.store.list_retired()
        self.assertEqual(stored, updated)
        self.assertIsNone(await self.store.record_retired_activity(b.id, incoming, later))
        self.assertIsNone(await self.store.record_retired_activity(c.id, incoming, later))
        self.assertIsNone(await self.store.record_retired_activity(9999, incoming, later))
        self.assertEqual((await self.store.queued_message(c.id)).results, ())

    async def test_recent_retired_to(self) -> None:
        """Latest retired messages to exactly one recipient of one account, newest first."""
        queued = await self.enqueue(recipients=("r@x", "r@x", "r@x", "R@x", "s@x"))
        [foreign] = await self.enqueue(account="other", recipients=("r@x",))
        minutes = [2, 5, 3, 9, 9]
        for message, m in zip(queued, minutes, strict=True):
            await self.retire(message, NOW + timedelta(minutes=m))
        await self.retire(foreign, NOW + timedelta(minutes=20))
        ids = [m.id for m in queued]
        recent = await self.store.recent_retired_to("mjl", "r@x", ids[2], 2)
        self.assertEqual([m.id for m in recent], [ids[1], ids[0]])
        everything = await self.store.recent_retired_to("mjl", "r@x", 0, 10)
        self.assertEqual([m.id for m in everything], [ids[1], ids[2], ids[0]])
        self.assertEqual(await self.store.recent_retired_to("mjl", "t@x", 0, 2), [])


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
