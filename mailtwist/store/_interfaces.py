"""The store interface: what the rest of mailtwist may ask of persistent storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zope.interface import Interface

from mailtwist.store.records import DeliveryAttempt, MailboxDelivery, Suppression
from mailtwist.store.webhooks import PreparedWebhook


@dataclass(frozen=True)
class Retirement:
    """How a message leaves the queue.

    ``keep_until`` None means the retired record is not kept (account
    ``KeepRetiredMessagePeriod`` of 0, spec §4.2).
    """

    success: bool
    event: str
    keep_until: datetime | None

    def __post_init__(self) -> None:
        if self.event not in ("delivered", "failed", "suppressed", "canceled"):
            raise ValueError(f"unknown retirement event {self.event!r}")
        if self.success != (self.event == "delivered"):
            raise ValueError("only a delivered message retires as a success")


@dataclass(frozen=True)
class AttemptOutcome:
    """The result of one attempt, applied to a queued message in one transaction.

    Exactly one of ``retry_at`` (temporary failure: stays queued) and ``retire``
    (delivered, failed, ...) is set. ``deliveries`` are stored in mailboxes in the
    same transaction (localserve delivery, DSNs to the sender), so a crash never
    leaves a message both delivered and still queued.
    """

    attempt: DeliveryAttempt
    retry_at: datetime | None = None
    retire: Retirement | None = None
    deliveries: tuple[MailboxDelivery, ...] = ()
    #: Added to the suppression list in the same transaction, unless its base
    #: address is already listed for the account (spec §6.4).
    suppression: Suppression | None = None
    #: The outcome's outgoing webhooks, queued in the same transaction (issue 5):
    #: a crash cannot leave an outcome without the event the application expects.
    webhooks: tuple[PreparedWebhook, ...] = ()

    def __post_init__(self) -> None:
        if (self.retry_at is None) == (self.retire is None):
            raise ValueError("an outcome either retries or retires the message")


class IStore(Interface):
    """Persistent state of mailtwist. Every method returns a Deferred.

    Methods run on the store's own database thread, never on the reactor thread.
    Writes that answer a client (``enqueue``, ``deliver``) fire only once the
    transaction is durable (fsync'd), and concurrent writes share one commit.
    """

    def start():  # type: ignore[misc]
        """Open the database and apply pending migrations. Deferred[None]."""

    def close():  # type: ignore[misc]
        """Finish pending work and close the database. Deferred[None]."""

    # -- accounts and credentials

    def ensure_account(account, mailboxes):  # type: ignore[no-untyped-def]
        """Create the account and any missing mailboxes. Deferred[None]."""

    def mailboxes(account):  # type: ignore[no-untyped-def]
        """Mailbox names of an account, sorted. Deferred[list[str]]."""

    def set_credentials(credentials):  # type: ignore[no-untyped-def]
        """Store (replace) an account's Credentials. Deferred[None]."""

    def credentials(account):  # type: ignore[no-untyped-def]
        """The account's Credentials, or None. Deferred[Credentials | None]."""

    # -- the queue

    def enqueue(message, now):  # type: ignore[no-untyped-def]
        """Queue a NewMessage, one record per recipient, durably.

        Deferred[list[QueuedMessage]] in recipient order. ``next_attempt`` of the
        records is ``message.next_attempt`` or ``now``. With more than one
        recipient every record gets ``base_id`` = the first record's id. A message
        of origin "webapi" counts its recipients toward the webapi send limits in
        the same transaction.
        """

    def enqueue_many(messages, now):  # type: ignore[no-untyped-def]
        """Queue several NewMessages in ONE durable transaction: all or none.

        For one submission split into several messages (a fromid per recipient).
        Deferred[list[list[QueuedMessage]]], one list per message, in order.
        """

    def queued_message(message_id):  # type: ignore[no-untyped-def]
        """One queued message by id, or None. Deferred[QueuedMessage | None]."""

    def list_queue(account=None):  # type: ignore[no-untyped-def]
        """Queued messages (of one account, or all) by next attempt, id."""

    def due_messages(now, limit, exclude):  # type: ignore[no-untyped-def]
        """Up to ``limit`` messages not on hold with next attempt <= now.

        Ordered by next attempt then id; ids in ``exclude`` (attempts in flight)
        are skipped. Deferred[list[QueuedMessage]].
        """

    def next_attempt_at(exclude):  # type: ignore[no-untyped-def]
        """Earliest next attempt of messages not on hold and not in ``exclude``.

        Deferred[datetime | None].
        """

    def start_attempt(message_id, now, next_attempt):  # type: ignore[no-untyped-def]
        """Record that an attempt starts (spec §4.4), durably.

        Attempts += 1, last attempt = now, a ``delivering...`` result appended,
        next attempt set to ``next_attempt``. Deferred[QueuedMessage], or None when
        the message is on hold or not due at ``now`` any more (changed since it was
        found due); a message no longer queued fails with a lookup error.
        """

    def finish_attempt(message_id, outcome):  # type: ignore[no-untyped-def]
        """Apply an AttemptOutcome in one durable transaction.

        The ``delivering...`` result is replaced by ``outcome.attempt``.
        Deferred[list[StoredMessage]]: the mailbox messages ``outcome.deliveries`` made.
        """

    def recover_interrupted(now):  # type: ignore[no-untyped-def]
        """After a restart: attempts still ``delivering...`` get an error result
        and become due at ``now``. Deferred[int] (how many)."""

    def message_data(data_id):  # type: ignore[no-untyped-def]
        """The raw bytes of a stored message. Deferred[bytes]."""

    def list_retired(account=None):  # type: ignore[no-untyped-def]
        """Retired messages by last activity, id. Deferred[list[RetiredMessage]]."""

    # -- mailboxes

    def deliver(deliveries):  # type: ignore[no-untyped-def]
        """Store MailboxDeliveries (each with ``data``) durably, in one transaction.

        Deferred[list[StoredMessage]].
        """

    def list_messages(account, mailbox=None):  # type: ignore[no-untyped-def]
        """Messages of an account (one mailbox or all) by id. Deferred[list[StoredMessage]]."""

    def pending_stored_events(after_id=0, limit=1000):  # type: ignore[no-untyped-def]
        """Stored messages delivered with ``notify`` whose event is not handled yet,
        by id, after ``after_id`` (keyset pages).

        Deferred[list[StoredMessage]]; after a crash, the events to catch up on.
        """

    def stored_event_handled(message_id):  # type: ignore[no-untyped-def]
        """The incoming event of a stored message is handled. Deferred[None]."""

    # -- queue control (issue 3). ``filter`` is a MessageFilter; operations return
    # Deferred[int], the number of messages changed, each in one transaction.

    def queue_count():  # type: ignore[misc]
        """How many messages are queued. Deferred[int]."""

    def queue_page(filter, sort="next_attempt", ascending=True, after=None, limit=100):  # type: ignore[no-untyped-def]
        """Queued messages by (sort field, id), keyset-paginated. Deferred[Page[QueuedMessage]].

        ``sort`` is "next_attempt" or "queued"; ``after`` a Cursor from the previous
        page; never OFFSET, so a late page costs what the first does.
        """

    def retired_page(filter, sort="last_activity", ascending=False, after=None, limit=100):  # type: ignore[no-untyped-def]
        """Retired messages by (sort field, id); ``sort`` is "last_activity" or "queued".

        Deferred[Page[RetiredMessage]].
        """

    def set_hold(filter, hold):  # type: ignore[no-untyped-def]
        """Hold or release matching queued messages. Deferred[int]."""

    def set_next_attempt(filter, when):  # type: ignore[no-untyped-def]
        """Reschedule matching queued messages to ``when``. Deferred[int]."""

    def set_max_attempts(filter, max_attempts):  # type: ignore[no-untyped-def]
        """Change the attempt limit of matching queued messages (0 = default). Deferred[int]."""

    def finish_attempts(outcomes):  # type: ignore[no-untyped-def]
        """Apply {queue id: AttemptOutcome} in ONE transaction (drop/fail by filter).

        Ids no longer queued, and messages with an attempt in progress (their last
        result ``delivering...``), are skipped. Deferred[list[int]]: the ids applied.
        """

    def add_hold_rule(rule):  # type: ignore[no-untyped-def]
        """Store a HoldRule and hold the queued messages it matches, in one transaction.

        Deferred[HoldRule] (with its id). ``enqueue`` holds new messages matching any rule.
        """

    def hold_rules():  # type: ignore[misc]
        """All hold rules by id. Deferred[list[HoldRule]]."""

    def remove_hold_rule(rule_id):  # type: ignore[no-untyped-def]
        """Remove a rule (held messages stay held). Deferred[bool] (whether it existed)."""

    def add_suppression(suppression):  # type: ignore[no-untyped-def]
        """Add a Suppression. Deferred[Suppression] with id and created set.

        Fails with SuppressionExists when the account already lists the base address.
        """

    def remove_suppression(account, base_address):  # type: ignore[no-untyped-def]
        """Remove by base address. Deferred[bool] (whether it existed)."""

    def suppressions(account):  # type: ignore[no-untyped-def]
        """An account's suppressions by id. Deferred[list[Suppression]]."""

    def suppression(account, base_address):  # type: ignore[no-untyped-def]
        """The account's entry for a base address, or None. Deferred[Suppression | None]."""

    def retired_by_from_id(from_id):  # type: ignore[no-untyped-def]
        """The retired message with this fromid (any account), or None (spec §7.3).

        Deferred[RetiredMessage | None].
        """

    def record_retired_activity(retired_id, attempt, now):  # type: ignore[no-untyped-def]
        """Append ``attempt`` to a retired message's results and set its last
        activity to ``now``, in one transaction (spec §7.3: an incoming DSN).

        Deferred[RetiredMessage | None]: the updated record, None when the id is
        not retired (or was not kept).
        """

    def recent_retired_to(account, recipient, exclude_id, limit):  # type: ignore[no-untyped-def]
        """The account's latest retired messages to exactly ``recipient``, newest
        last activity first, without ``exclude_id`` (spec §6.4). Deferred[list[RetiredMessage]].
        """

    def delete_expired_retired(now):  # type: ignore[no-untyped-def]
        """Delete retired messages whose keep-until has passed. Deferred[int]."""


__all__ = ["AttemptOutcome", "IStore", "Retirement"]
