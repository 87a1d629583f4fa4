"""MemoryStore: an in-memory, synchronous IStore whose Deferreds have already fired."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock
from zope.interface import implementer

from mailtwist.store import INTERRUPTED, DatabaseClosed, FromIDNotUnique, MessageNotFound
from mailtwist.store._interfaces import AttemptOutcome, IStore
from mailtwist.store.records import (
    DELIVERING,
    Credentials,
    DeliveryAttempt,
    MailboxDelivery,
    NewMessage,
    QueuedMessage,
    RetiredMessage,
    StoredMessage,
)


def _check_time(name: str, value: object) -> datetime:
    # Like the SQLite store: UTC inside, a naive time is refused rather than guessed.
    if not isinstance(value, datetime) or value.tzinfo is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, not {value!r}")
    return value.astimezone(UTC)


@implementer(IStore)
class MemoryStore:
    """Every IStore method, in memory, answering with already-fired Deferreds.

    It checks its inputs like the SQLite store (types, unknown ids, aware
    datetimes) so a test cannot pass by calling it wrongly. ``clock`` gives the
    receive time of ``deliver``; attempts retire at ``start + duration`` of their
    attempt. ``fail_next(method, error)`` makes the next call of a method fail,
    to test how callers survive store errors.
    """

    def __init__(self, clock: IReactorTime | None = None) -> None:
        self._clock = clock if clock is not None else Clock()
        self._closed = False
        self._accounts: dict[str, set[str]] = {}
        self._credentials: dict[str, Credentials] = {}
        self._queue: dict[int, QueuedMessage] = {}
        self._retired: dict[int, RetiredMessage] = {}
        self._messages: dict[int, StoredMessage] = {}
        self._data: dict[int, bytes] = {}
        self._next_queue_id = 1
        self._next_message_id = 1
        self._next_data_id = 1
        self._failures: dict[str, list[BaseException]] = {}
        #: Names of the methods called, in order, for tests that assert on traffic.
        self.calls: list[str] = []

    # -- test knobs

    def fail_next(self, method: str, error: BaseException) -> None:
        """Make the next call of ``method`` errback with ``error`` (and change nothing)."""
        if method not in IStore.names():
            raise ValueError(f"IStore has no method {method!r}")
        self._failures.setdefault(method, []).append(error)

    def _call(self, method: str, work: Any, *args: Any) -> Deferred[Any]:
        self.calls.append(method)
        pending = self._failures.get(method)
        if pending:
            return fail(pending.pop(0))
        if self._closed:
            return fail(DatabaseClosed(f"{method}: the store is closed"))
        try:
            result = work(*args)
        except Exception as e:
            return fail(e)
        return succeed(result)

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), tz=UTC)

    # -- lifecycle

    def start(self) -> Deferred[None]:
        self.calls.append("start")
        self._closed = False
        return succeed(None)

    def close(self) -> Deferred[None]:
        self.calls.append("close")
        self._closed = True
        return succeed(None)

    # -- accounts and credentials

    def ensure_account(self, account: str, mailboxes: Iterable[str]) -> Deferred[None]:
        def work() -> None:
            if isinstance(mailboxes, str):
                raise TypeError("mailboxes must be a collection of names, not a string")
            _check_str("account", account)
            names = list(mailboxes)
            for name in names:
                _check_str("mailbox", name)
            self._accounts.setdefault(account, set()).update(names)

        return self._call("ensure_account", work)

    def mailboxes(self, account: str) -> Deferred[list[str]]:
        return self._call("mailboxes", lambda: sorted(self._accounts.get(account, ())))

    def set_credentials(self, credentials: Credentials) -> Deferred[None]:
        def work() -> None:
            if not isinstance(credentials, Credentials):
                raise TypeError(f"expected Credentials, not {credentials!r}")
            self._credentials[credentials.account] = credentials

        return self._call("set_credentials", work)

    def credentials(self, account: str) -> Deferred[Credentials | None]:
        return self._call("credentials", lambda: self._credentials.get(account))

    # -- the queue

    def enqueue(self, message: NewMessage, now: datetime) -> Deferred[list[QueuedMessage]]:
        def work() -> list[QueuedMessage]:
            if not isinstance(message, NewMessage):
                raise TypeError(f"expected NewMessage, not {message!r}")
            queued = _check_time("now", now)
            if message.from_id:
                self._check_from_id(message)
            next_attempt = queued
            if message.next_attempt is not None:
                next_attempt = _check_time("next_attempt", message.next_attempt)
            data_id = self._add_data(message.data)
            first = self._next_queue_id
            base_id = first if len(message.recipients) > 1 else 0
            out = []
            for recipient in message.recipients:
                qm = QueuedMessage(
                    id=self._next_queue_id,
                    base_id=base_id,
                    queued=queued,
                    hold=message.hold,
                    account=message.account,
                    sender=message.sender,
                    recipient=recipient,
                    recipient_domain=recipient.rpartition("@")[2],
                    message_id=message.message_id,
                    subject=message.subject,
                    size=len(message.data),
                    next_attempt=next_attempt,
                    last_attempt=None,
                    attempts=0,
                    max_attempts=message.max_attempts,
                    results=(),
                    data_id=data_id,
                    has8bit=message.has8bit,
                    smtputf8=message.smtputf8,
                    future_release_request=message.future_release_request,
                    require_tls=message.require_tls,
                    from_id=message.from_id,
                    transport=message.transport,
                    extra=message.extra,
                )
                self._queue[qm.id] = qm
                self._next_queue_id += 1
                out.append(qm)
            return out

        return self._call("enqueue", work)

    def queued_message(self, message_id: int) -> Deferred[QueuedMessage | None]:
        return self._call("queued_message", lambda: self._queue.get(message_id))

    def list_queue(self, account: str | None = None) -> Deferred[list[QueuedMessage]]:
        def work() -> list[QueuedMessage]:
            found = [m for m in self._queue.values() if account is None or m.account == account]
            return sorted(found, key=lambda m: (m.next_attempt, m.id))

        return self._call("list_queue", work)

    def due_messages(
        self, now: datetime, limit: int, exclude: Iterable[int]
    ) -> Deferred[list[QueuedMessage]]:
        def work() -> list[QueuedMessage]:
            due = _check_time("now", now)
            if limit < 0:
                raise ValueError(f"negative limit {limit}")
            skip = set(exclude)
            found = [
                m
                for m in self._queue.values()
                if not m.hold and m.next_attempt <= due and m.id not in skip
            ]
            return sorted(found, key=lambda m: (m.next_attempt, m.id))[:limit]

        return self._call("due_messages", work)

    def next_attempt_at(self, exclude: Iterable[int]) -> Deferred[datetime | None]:
        def work() -> datetime | None:
            skip = set(exclude)
            times = [
                m.next_attempt for m in self._queue.values() if not m.hold and m.id not in skip
            ]
            return min(times) if times else None

        return self._call("next_attempt_at", work)

    def start_attempt(
        self, message_id: int, now: datetime, next_attempt: datetime
    ) -> Deferred[QueuedMessage]:
        def work() -> QueuedMessage:
            start = _check_time("now", now)
            following = _check_time("next_attempt", next_attempt)
            qm = self._queued(message_id)
            qm = dataclasses.replace(
                qm,
                attempts=qm.attempts + 1,
                last_attempt=start,
                next_attempt=following,
                results=(*qm.results, DeliveryAttempt(start=start, error=DELIVERING)),
            )
            self._queue[message_id] = qm
            return qm

        return self._call("start_attempt", work)

    def finish_attempt(self, message_id: int, outcome: AttemptOutcome) -> Deferred[None]:
        def work() -> None:
            if not isinstance(outcome, AttemptOutcome):
                raise TypeError(f"expected AttemptOutcome, not {outcome!r}")
            qm = self._queued(message_id)
            attempt = dataclasses.replace(
                outcome.attempt, start=_check_time("start", outcome.attempt.start)
            )
            retry_at = None
            if outcome.retry_at is not None:
                retry_at = _check_time("retry_at", outcome.retry_at)
            retire = outcome.retire
            if retire is not None and retire.keep_until is not None:
                retire = dataclasses.replace(
                    retire, keep_until=_check_time("keep_until", retire.keep_until)
                )
            # Check every delivery before changing anything: one transaction.
            for delivery in outcome.deliveries:
                self._check_delivery(delivery, need_data=False)
            results = list(qm.results)
            if results and results[-1].error == DELIVERING:
                results[-1] = attempt
            else:
                results.append(attempt)
            finished = attempt.start + timedelta(seconds=attempt.duration)
            data = self._data[qm.data_id]
            if retire is None:
                assert retry_at is not None
                self._queue[message_id] = dataclasses.replace(
                    qm, results=tuple(results), next_attempt=retry_at
                )
            else:
                del self._queue[message_id]
                if retire.keep_until is not None:
                    self._retired[message_id] = _retired(qm, tuple(results), retire, finished)
                if not any(m.data_id == qm.data_id for m in self._queue.values()):
                    del self._data[qm.data_id]
            for delivery in outcome.deliveries:
                self._store_delivery(
                    delivery, data if delivery.data is None else delivery.data, finished
                )

        return self._call("finish_attempt", work)

    def recover_interrupted(self, now: datetime) -> Deferred[int]:
        def work() -> int:
            due = _check_time("now", now)
            count = 0
            for qm in list(self._queue.values()):
                if not qm.results or qm.results[-1].error != DELIVERING:
                    continue
                last = dataclasses.replace(qm.results[-1], error=INTERRUPTED)
                self._queue[qm.id] = dataclasses.replace(
                    qm, results=(*qm.results[:-1], last), next_attempt=due
                )
                count += 1
            return count

        return self._call("recover_interrupted", work)

    def message_data(self, data_id: int) -> Deferred[bytes]:
        def work() -> bytes:
            try:
                return self._data[data_id]
            except KeyError:
                raise MessageNotFound(f"no message data {data_id}") from None

        return self._call("message_data", work)

    def list_retired(self, account: str | None = None) -> Deferred[list[RetiredMessage]]:
        def work() -> list[RetiredMessage]:
            found = [m for m in self._retired.values() if account is None or m.account == account]
            return sorted(found, key=lambda m: (m.last_activity, m.id))

        return self._call("list_retired", work)

    # -- mailboxes

    def deliver(self, deliveries: Iterable[MailboxDelivery]) -> Deferred[list[StoredMessage]]:
        def work() -> list[StoredMessage]:
            batch = list(deliveries)
            for delivery in batch:
                self._check_delivery(delivery, need_data=True)
            now = self._now()
            out = []
            for delivery in batch:
                assert delivery.data is not None
                out.append(self._store_delivery(delivery, delivery.data, now))
            return out

        return self._call("deliver", work)

    def list_messages(
        self, account: str, mailbox: str | None = None
    ) -> Deferred[list[StoredMessage]]:
        def work() -> list[StoredMessage]:
            found = [
                m
                for m in self._messages.values()
                if m.account == account and (mailbox is None or m.mailbox == mailbox)
            ]
            return sorted(found, key=lambda m: m.id)

        return self._call("list_messages", work)

    # -- internals

    def _queued(self, message_id: int) -> QueuedMessage:
        try:
            return self._queue[message_id]
        except KeyError:
            raise MessageNotFound(f"no queued message {message_id}") from None

    def _check_from_id(self, message: NewMessage) -> None:
        # spec §4.3, §7.2: a fromid names exactly one queued message, current or retired.
        if len(message.recipients) > 1:
            raise FromIDNotUnique(
                f"fromid {message.from_id!r} given for {len(message.recipients)} recipients:"
                " a fromid names one queued message"
            )
        used: list[QueuedMessage | RetiredMessage] = [
            *self._queue.values(),
            *self._retired.values(),
        ]
        if any(m.from_id == message.from_id for m in used):
            raise FromIDNotUnique(f"fromid {message.from_id!r} not unique")

    def _add_data(self, data: bytes) -> int:
        if not isinstance(data, bytes):
            raise TypeError(f"message data must be bytes, not {type(data).__name__}")
        data_id = self._next_data_id
        self._next_data_id += 1
        self._data[data_id] = data
        return data_id

    def _check_delivery(self, delivery: MailboxDelivery, need_data: bool) -> None:
        if not isinstance(delivery, MailboxDelivery):
            raise TypeError(f"expected MailboxDelivery, not {delivery!r}")
        _check_str("account", delivery.account)
        _check_str("mailbox", delivery.mailbox)
        if need_data and delivery.data is None:
            raise ValueError("a delivery outside an attempt needs its data")

    def _store_delivery(
        self, delivery: MailboxDelivery, data: bytes, received: datetime
    ) -> StoredMessage:
        # Like the SQLite store: a missing account or mailbox is created.
        self._accounts.setdefault(delivery.account, set()).add(delivery.mailbox)
        stored = StoredMessage(
            id=self._next_message_id,
            account=delivery.account,
            mailbox=delivery.mailbox,
            received=received,
            size=len(data),
            flags=tuple(delivery.flags),
            mail_from=delivery.mail_from,
            rcpt_to=delivery.rcpt_to,
            dsn=delivery.dsn,
            remote_ip=delivery.remote_ip,
            data_id=self._add_data(data),
        )
        self._next_message_id += 1
        self._messages[stored.id] = stored
        return stored


def _check_str(name: str, value: object) -> None:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{name} must be a non-empty string, not {value!r}")


def _retired(
    qm: QueuedMessage, results: tuple[DeliveryAttempt, ...], retire: Any, finished: datetime
) -> RetiredMessage:
    return RetiredMessage(
        id=qm.id,
        base_id=qm.base_id,
        queued=qm.queued,
        account=qm.account,
        sender=qm.sender,
        recipient=qm.recipient,
        recipient_domain=qm.recipient_domain,
        message_id=qm.message_id,
        subject=qm.subject,
        size=qm.size,
        last_attempt=qm.last_attempt,
        attempts=qm.attempts,
        max_attempts=qm.max_attempts,
        results=results,
        success=retire.success,
        event=retire.event,
        last_activity=finished,
        keep_until=retire.keep_until,
        has8bit=qm.has8bit,
        smtputf8=qm.smtputf8,
        future_release_request=qm.future_release_request,
        require_tls=qm.require_tls,
        from_id=qm.from_id,
        transport=qm.transport,
        extra=qm.extra,
    )


__all__ = ["MemoryStore"]
