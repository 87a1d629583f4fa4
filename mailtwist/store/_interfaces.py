"""The store interface: what the rest of mailtwist may ask of persistent storage."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from zope.interface import Interface

from mailtwist.store.records import DeliveryAttempt, MailboxDelivery


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
        recipient every record gets ``base_id`` = the first record's id.
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
        next attempt set to ``next_attempt``. Deferred[QueuedMessage].
        """

    def finish_attempt(message_id, outcome):  # type: ignore[no-untyped-def]
        """Apply an AttemptOutcome in one durable transaction.

        The ``delivering...`` result is replaced by ``outcome.attempt``. Deferred[None].
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


__all__ = ["AttemptOutcome", "IStore", "Retirement"]
