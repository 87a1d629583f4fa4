"""SQLiteStore: the IStore on an embedded SQLite database (WAL, one database thread)."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, fail
from twisted.logger import Logger
from zope.interface import implementer

from mailtwist.store import messages, schema, webhooks
from mailtwist.store._interfaces import AttemptOutcome, IStore
from mailtwist.store.database import CommitObserver, DatabaseClosed, DatabaseThread
from mailtwist.store.messages import MailboxMessageQueries
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
from mailtwist.store.schema import migrate
from mailtwist.store.webhooks import WebhookQueries

T = TypeVar("T")

_log = Logger()

#: Error of the result that replaces ``delivering...`` after a restart.
INTERRUPTED = "attempt interrupted: server stopped"

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"

_QUEUE_COLUMNS = (
    "id",
    "base_id",
    "queued",
    "hold",
    "account",
    "sender",
    "recipient",
    "recipient_domain",
    "message_id",
    "subject",
    "size",
    "next_attempt",
    "last_attempt",
    "attempts",
    "max_attempts",
    "results",
    "data_id",
    "has8bit",
    "smtputf8",
    "future_release_request",
    "require_tls",
    "from_id",
    "transport",
    "extra",
)

_RETIRED_COLUMNS = (
    "id",
    "base_id",
    "queued",
    "account",
    "sender",
    "recipient",
    "recipient_domain",
    "message_id",
    "subject",
    "size",
    "last_attempt",
    "attempts",
    "max_attempts",
    "results",
    "success",
    "event",
    "last_activity",
    "keep_until",
    "has8bit",
    "smtputf8",
    "future_release_request",
    "require_tls",
    "from_id",
    "transport",
    "extra",
)


class MessageNotFound(LookupError):
    """No queued message (or message data) with the asked id."""


class FromIDNotUnique(ValueError):
    """The NewMessage's fromid is already used by a queued or retired message."""


# -- conversions between records and columns (pure; run on the database thread)


def time_text(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, fixed width so text order is time order."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: the store needs timezone-aware times")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """The timezone-aware UTC datetime of a stored time."""
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)


def _optional_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


def _attempt_json(attempt: DeliveryAttempt) -> dict[str, Any]:
    fields = dataclasses.asdict(attempt)
    fields["start"] = time_text(attempt.start)
    return fields


def _results_text(results: Iterable[DeliveryAttempt]) -> str:
    return json.dumps([_attempt_json(a) for a in results], separators=(",", ":"))


def _parse_results(text: str) -> tuple[DeliveryAttempt, ...]:
    attempts = []
    for fields in json.loads(text):
        fields["start"] = parse_time(fields["start"])
        attempts.append(DeliveryAttempt(**fields))
    return tuple(attempts)


def _extra_text(extra: Mapping[str, str]) -> str:
    return json.dumps(dict(extra), sort_keys=True, separators=(",", ":"))


def _require_tls_column(value: bool | None) -> int | None:
    return None if value is None else int(value)


def _require_tls(value: int | None) -> bool | None:
    return None if value is None else bool(value)


def _queued_from_row(row: sqlite3.Row) -> QueuedMessage:
    return QueuedMessage(
        id=row["id"],
        base_id=row["base_id"],
        queued=parse_time(row["queued"]),
        hold=bool(row["hold"]),
        account=row["account"],
        sender=row["sender"],
        recipient=row["recipient"],
        recipient_domain=row["recipient_domain"],
        message_id=row["message_id"],
        subject=row["subject"],
        size=row["size"],
        next_attempt=parse_time(row["next_attempt"]),
        last_attempt=_optional_time(row["last_attempt"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        results=_parse_results(row["results"]),
        data_id=row["data_id"],
        has8bit=bool(row["has8bit"]),
        smtputf8=bool(row["smtputf8"]),
        future_release_request=row["future_release_request"],
        require_tls=_require_tls(row["require_tls"]),
        from_id=row["from_id"],
        transport=row["transport"],
        extra=json.loads(row["extra"]),
    )


def _retired_from_row(row: sqlite3.Row) -> RetiredMessage:
    return RetiredMessage(
        id=row["id"],
        base_id=row["base_id"],
        queued=parse_time(row["queued"]),
        account=row["account"],
        sender=row["sender"],
        recipient=row["recipient"],
        recipient_domain=row["recipient_domain"],
        message_id=row["message_id"],
        subject=row["subject"],
        size=row["size"],
        last_attempt=_optional_time(row["last_attempt"]),
        attempts=row["attempts"],
        max_attempts=row["max_attempts"],
        results=_parse_results(row["results"]),
        success=bool(row["success"]),
        event=row["event"],
        last_activity=parse_time(row["last_activity"]),
        keep_until=parse_time(row["keep_until"]),
        has8bit=bool(row["has8bit"]),
        smtputf8=bool(row["smtputf8"]),
        future_release_request=row["future_release_request"],
        require_tls=_require_tls(row["require_tls"]),
        from_id=row["from_id"],
        transport=row["transport"],
        extra=json.loads(row["extra"]),
    )


def _stored_from_row(row: sqlite3.Row) -> StoredMessage:
    return StoredMessage(
        id=row["id"],
        account=row["account"],
        mailbox=row["mailbox"],
        received=parse_time(row["received"]),
        size=row["size"],
        flags=tuple(json.loads(row["flags"])),
        mail_from=row["mail_from"],
        rcpt_to=row["rcpt_to"],
        dsn=bool(row["dsn"]),
        remote_ip=row["remote_ip"],
        data_id=row["data_id"],
    )


def _recipient_domain(recipient: str) -> str:
    # The domain follows the last "@": a quoted localpart may contain "@"
    # (RFC 5321 §4.1.2).
    _local, at, domain = recipient.rpartition("@")
    return domain if at else ""


# -- SQL run on the database thread, inside a job's savepoint


def _insert(connection: sqlite3.Connection, table: str, values: Mapping[str, Any]) -> int:
    names = ", ".join(values)
    marks = ", ".join("?" for _ in values)
    cursor = connection.execute(
        f"INSERT INTO {table} ({names}) VALUES ({marks})", tuple(values.values())
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not name:
        raise ValueError(f"{kind} name must be a non-empty string, not {name!r}")


def _mailbox_id(connection: sqlite3.Connection, account: str, mailbox: str) -> int:
    """The id of the account's mailbox, creating the account and mailbox if missing."""
    _check_name("account", account)
    _check_name("mailbox", mailbox)
    connection.execute("INSERT OR IGNORE INTO account (name) VALUES (?)", (account,))
    connection.execute(
        "INSERT OR IGNORE INTO mailbox (account, name) VALUES (?, ?)", (account, mailbox)
    )
    row = connection.execute(
        "SELECT id FROM mailbox WHERE account = ? AND name = ?", (account, mailbox)
    ).fetchone()
    return int(row[0])


def _insert_data(connection: sqlite3.Connection, data: bytes) -> int:
    if not isinstance(data, bytes):
        raise TypeError(f"message data must be bytes, not {type(data).__name__}")
    return _insert(connection, "message_data", {"data": data})


def _drop_unreferenced_data(connection: sqlite3.Connection, data_id: int) -> None:
    connection.execute(
        "DELETE FROM message_data WHERE id = ?"
        " AND NOT EXISTS (SELECT 1 FROM queue WHERE data_id = ?)"
        " AND NOT EXISTS (SELECT 1 FROM mailbox_message WHERE data_id = ?)",
        (data_id, data_id, data_id),
    )


def _check_from_id(connection: sqlite3.Connection, message: NewMessage) -> None:
    # spec §4.3, §7.2: a fromid names exactly one queue message, current or
    # retired, so an incoming DSN matches back to one recipient.
    if len(message.recipients) > 1:
        raise FromIDNotUnique(
            f"fromid {message.from_id!r} given for {len(message.recipients)} recipients:"
            " a fromid names one queued message"
        )
    used = connection.execute(
        "SELECT 1 FROM queue WHERE from_id = ? AND from_id != ''"
        " UNION ALL SELECT 1 FROM retired WHERE from_id = ? AND from_id != '' LIMIT 1",
        (message.from_id, message.from_id),
    ).fetchone()
    if used is not None:
        raise FromIDNotUnique(f"fromid {message.from_id!r} not unique")


def _load_queued(connection: sqlite3.Connection, message_id: int) -> QueuedMessage:
    row = connection.execute("SELECT * FROM queue WHERE id = ?", (message_id,)).fetchone()
    if row is None:
        raise MessageNotFound(f"no queued message with id {message_id}")
    return _queued_from_row(row)


def _store_deliveries(
    connection: sqlite3.Connection,
    deliveries: Iterable[MailboxDelivery],
    received: datetime,
    queued_data_id: int | None,
) -> list[StoredMessage]:
    received_text = time_text(received)
    data_ids: dict[bytes, int] = {}
    stored = []
    for delivery in deliveries:
        if delivery.data is None:
            if queued_data_id is None:
                raise ValueError("a mailbox delivery needs its data here")
            data_id = queued_data_id
            size = connection.execute(
                "SELECT length(data) FROM message_data WHERE id = ?", (data_id,)
            ).fetchone()[0]
        else:
            data = delivery.data
            if data not in data_ids:
                data_ids[data] = _insert_data(connection, data)
            data_id = data_ids[data]
            size = len(data)
        flags = tuple(delivery.flags)
        message_id = _insert(
            connection,
            "mailbox_message",
            {
                "mailbox_id": _mailbox_id(connection, delivery.account, delivery.mailbox),
                "received": received_text,
                "size": size,
                "flags": json.dumps(list(flags)),
                "mail_from": delivery.mail_from,
                "rcpt_to": delivery.rcpt_to,
                "dsn": int(delivery.dsn),
                "remote_ip": delivery.remote_ip,
                "data_id": data_id,
            },
        )
        stored.append(
            StoredMessage(
                id=message_id,
                account=delivery.account,
                mailbox=delivery.mailbox,
                received=parse_time(received_text),
                size=size,
                flags=flags,
                mail_from=delivery.mail_from,
                rcpt_to=delivery.rcpt_to,
                dsn=delivery.dsn,
                remote_ip=delivery.remote_ip,
                data_id=data_id,
            )
        )
    return stored


def _replace_delivering(
    results: tuple[DeliveryAttempt, ...], attempt: DeliveryAttempt
) -> tuple[DeliveryAttempt, ...]:
    if results and results[-1].error == DELIVERING:
        return (*results[:-1], attempt)
    # No attempt in progress (e.g. canceled before any attempt): keep history.
    return (*results, attempt)


_STORED_SELECT = (
    "SELECT mm.*, mailbox.account AS account, mailbox.name AS mailbox"
    " FROM mailbox_message AS mm JOIN mailbox ON mailbox.id = mm.mailbox_id"
)


#: Every schema step of the store, from each module that owns tables, in version order.
MIGRATIONS = tuple(
    sorted(
        (*schema.MIGRATIONS, *messages.MIGRATIONS, *webhooks.MIGRATIONS),
        key=lambda m: m.version,
    )
)


@implementer(IStore)
class SQLiteStore(MailboxMessageQueries, WebhookQueries):
    """The store in one SQLite file; see IStore for what each method does.

    All SQL runs on one database thread per store; concurrent calls share one
    transaction and one fsync (group commit). ``on_commit(seconds, jobs)`` is
    called on the reactor thread after each commit (the metrics hook). The
    reactor provides IReactorFromThreads and IReactorTime (the time of mailbox
    deliveries, which IStore does not pass in).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        reactor: Any = None,
        on_commit: CommitObserver | None = None,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self._reactor = reactor
        self._database = DatabaseThread(path, reactor, on_commit)

    @property
    def path(self) -> str:
        return self._database.path

    def _run(self, job: Callable[[sqlite3.Connection], T]) -> Deferred[T]:
        try:
            return self._database.run(job)
        except DatabaseClosed:
            return fail()

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._reactor.seconds(), UTC)

    # -- lifecycle

    def start(self) -> Deferred[None]:
        return self._database.start(self._setup)

    @staticmethod
    def _setup(connection: sqlite3.Connection) -> None:
        connection.row_factory = sqlite3.Row
        migrate(connection, MIGRATIONS)

    def close(self) -> Deferred[None]:
        return self._database.close()

    # -- accounts and credentials

    def ensure_account(self, account: str, mailboxes: Iterable[str]) -> Deferred[None]:
        if isinstance(mailboxes, str):
            return fail(TypeError("mailboxes must be a collection of names, not a string"))
        names = tuple(mailboxes)

        def job(connection: sqlite3.Connection) -> None:
            _check_name("account", account)
            connection.execute("INSERT OR IGNORE INTO account (name) VALUES (?)", (account,))
            for name in names:
                _mailbox_id(connection, account, name)

        return self._run(job)

    def mailboxes(self, account: str) -> Deferred[list[str]]:
        def job(connection: sqlite3.Connection) -> list[str]:
            rows = connection.execute(
                "SELECT name FROM mailbox WHERE account = ? ORDER BY name", (account,)
            )
            return [row[0] for row in rows]

        return self._run(job)

    def set_credentials(self, credentials: Credentials) -> Deferred[None]:
        def job(connection: sqlite3.Connection) -> None:
            _check_name("account", credentials.account)
            connection.execute(
                "INSERT OR IGNORE INTO account (name) VALUES (?)", (credentials.account,)
            )
            connection.execute(
                "INSERT OR REPLACE INTO credentials (account, password_hash, scram_salt,"
                " scram_iterations, scram_stored_key, scram_server_key, cram_md5_ipad,"
                " cram_md5_opad) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    credentials.account,
                    credentials.password_hash,
                    credentials.scram_salt,
                    credentials.scram_iterations,
                    credentials.scram_stored_key,
                    credentials.scram_server_key,
                    credentials.cram_md5_ipad,
                    credentials.cram_md5_opad,
                ),
            )

        return self._run(job)

    def credentials(self, account: str) -> Deferred[Credentials | None]:
        def job(connection: sqlite3.Connection) -> Credentials | None:
            row = connection.execute(
                "SELECT * FROM credentials WHERE account = ?", (account,)
            ).fetchone()
            if row is None:
                return None
            return Credentials(
                account=row["account"],
                password_hash=row["password_hash"],
                scram_salt=bytes(row["scram_salt"]),
                scram_iterations=row["scram_iterations"],
                scram_stored_key=bytes(row["scram_stored_key"]),
                scram_server_key=bytes(row["scram_server_key"]),
                cram_md5_ipad=bytes(row["cram_md5_ipad"]),
                cram_md5_opad=bytes(row["cram_md5_opad"]),
            )

        return self._run(job)

    # -- the queue

    def enqueue(self, message: NewMessage, now: datetime) -> Deferred[list[QueuedMessage]]:
        def job(connection: sqlite3.Connection) -> list[QueuedMessage]:
            if message.from_id:
                _check_from_id(connection, message)
            queued = time_text(now)
            next_attempt = time_text(message.next_attempt or now)
            data_id = _insert_data(connection, message.data)
            ids: list[int] = []
            base_id = 0
            for recipient in message.recipients:
                row_id = _insert(
                    connection,
                    "queue",
                    {
                        "base_id": base_id,
                        "queued": queued,
                        "hold": int(message.hold),
                        "account": message.account,
                        "sender": message.sender,
                        "recipient": recipient,
                        "recipient_domain": _recipient_domain(recipient),
                        "message_id": message.message_id,
                        "subject": message.subject,
                        "size": len(message.data),
                        "next_attempt": next_attempt,
                        "last_attempt": None,
                        "attempts": 0,
                        "max_attempts": message.max_attempts,
                        "results": "[]",
                        "data_id": data_id,
                        "has8bit": int(message.has8bit),
                        "smtputf8": int(message.smtputf8),
                        "future_release_request": message.future_release_request,
                        "require_tls": _require_tls_column(message.require_tls),
                        "from_id": message.from_id,
                        "transport": message.transport,
                        "extra": _extra_text(message.extra),
                    },
                )
                ids.append(row_id)
                if len(message.recipients) > 1 and not base_id:
                    # spec §4.3: every copy of a batch gets the first copy's id.
                    base_id = row_id
                    connection.execute(
                        "UPDATE queue SET base_id = ? WHERE id = ?", (base_id, row_id)
                    )
            return [
                QueuedMessage(
                    id=row_id,
                    base_id=base_id,
                    queued=parse_time(queued),
                    hold=message.hold,
                    account=message.account,
                    sender=message.sender,
                    recipient=recipient,
                    recipient_domain=_recipient_domain(recipient),
                    message_id=message.message_id,
                    subject=message.subject,
                    size=len(message.data),
                    next_attempt=parse_time(next_attempt),
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
                for row_id, recipient in zip(ids, message.recipients, strict=True)
            ]

        return self._run(job)

    def queued_message(self, message_id: int) -> Deferred[QueuedMessage | None]:
        def job(connection: sqlite3.Connection) -> QueuedMessage | None:
            row = connection.execute("SELECT * FROM queue WHERE id = ?", (message_id,)).fetchone()
            return None if row is None else _queued_from_row(row)

        return self._run(job)

    def list_queue(self, account: str | None = None) -> Deferred[list[QueuedMessage]]:
        def job(connection: sqlite3.Connection) -> list[QueuedMessage]:
            if account is None:
                rows = connection.execute("SELECT * FROM queue ORDER BY next_attempt, id")
            else:
                rows = connection.execute(
                    "SELECT * FROM queue WHERE account = ? ORDER BY next_attempt, id", (account,)
                )
            return [_queued_from_row(row) for row in rows]

        return self._run(job)

    def due_messages(
        self, now: datetime, limit: int, exclude: Collection[int]
    ) -> Deferred[list[QueuedMessage]]:
        skip = frozenset(exclude)

        def job(connection: sqlite3.Connection) -> list[QueuedMessage]:
            if limit <= 0:
                return []
            # At most len(skip) of the rows are excluded, so this many suffice.
            rows = connection.execute(
                "SELECT * FROM queue WHERE hold = 0 AND next_attempt <= ?"
                " ORDER BY next_attempt, id LIMIT ?",
                (time_text(now), limit + len(skip)),
            )
            due = [_queued_from_row(row) for row in rows if row["id"] not in skip]
            return due[:limit]

        return self._run(job)

    def next_attempt_at(self, exclude: Collection[int]) -> Deferred[datetime | None]:
        skip = frozenset(exclude)

        def job(connection: sqlite3.Connection) -> datetime | None:
            rows = connection.execute(
                "SELECT id, next_attempt FROM queue WHERE hold = 0"
                " ORDER BY next_attempt, id LIMIT ?",
                (len(skip) + 1,),
            )
            for row in rows:
                if row["id"] not in skip:
                    return parse_time(row["next_attempt"])
            return None

        return self._run(job)

    def start_attempt(
        self, message_id: int, now: datetime, next_attempt: datetime
    ) -> Deferred[QueuedMessage]:
        def job(connection: sqlite3.Connection) -> QueuedMessage:
            message = _load_queued(connection, message_id)
            # spec §4.4: attempts += 1, last attempt = now, "delivering..." result.
            results = (*message.results, DeliveryAttempt(start=now, error=DELIVERING))
            connection.execute(
                "UPDATE queue SET attempts = ?, last_attempt = ?, next_attempt = ?, results = ?"
                " WHERE id = ?",
                (
                    message.attempts + 1,
                    time_text(now),
                    time_text(next_attempt),
                    _results_text(results),
                    message_id,
                ),
            )
            return _load_queued(connection, message_id)

        return self._run(job)

    def finish_attempt(self, message_id: int, outcome: AttemptOutcome) -> Deferred[None]:
        received = self._now()

        def job(connection: sqlite3.Connection) -> None:
            message = _load_queued(connection, message_id)
            results = _replace_delivering(message.results, outcome.attempt)
            if outcome.retry_at is not None:
                connection.execute(
                    "UPDATE queue SET results = ?, next_attempt = ? WHERE id = ?",
                    (_results_text(results), time_text(outcome.retry_at), message_id),
                )
            _store_deliveries(connection, outcome.deliveries, received, message.data_id)
            retire = outcome.retire
            if retire is None:
                return
            connection.execute("DELETE FROM queue WHERE id = ?", (message_id,))
            if retire.keep_until is not None:
                attempt = outcome.attempt
                last_activity = attempt.start + timedelta(seconds=attempt.duration)
                _insert(
                    connection,
                    "retired",
                    {
                        "id": message.id,
                        "base_id": message.base_id,
                        "queued": time_text(message.queued),
                        "account": message.account,
                        "sender": message.sender,
                        "recipient": message.recipient,
                        "recipient_domain": message.recipient_domain,
                        "message_id": message.message_id,
                        "subject": message.subject,
                        "size": message.size,
                        "last_attempt": (
                            None
                            if message.last_attempt is None
                            else time_text(message.last_attempt)
                        ),
                        "attempts": message.attempts,
                        "max_attempts": message.max_attempts,
                        "results": _results_text(results),
                        "success": int(retire.success),
                        "event": retire.event,
                        "last_activity": time_text(last_activity),
                        "keep_until": time_text(retire.keep_until),
                        "has8bit": int(message.has8bit),
                        "smtputf8": int(message.smtputf8),
                        "future_release_request": message.future_release_request,
                        "require_tls": _require_tls_column(message.require_tls),
                        "from_id": message.from_id,
                        "transport": message.transport,
                        "extra": _extra_text(message.extra),
                    },
                )
            _drop_unreferenced_data(connection, message.data_id)

        return self._run(job)

    def recover_interrupted(self, now: datetime) -> Deferred[int]:
        def job(connection: sqlite3.Connection) -> int:
            next_attempt = time_text(now)
            rows = connection.execute(
                "SELECT id, results FROM queue WHERE json_extract(results, '$[#-1].error') = ?",
                (DELIVERING,),
            ).fetchall()
            for row in rows:
                results = _parse_results(row["results"])
                interrupted = DeliveryAttempt(start=results[-1].start, error=INTERRUPTED)
                connection.execute(
                    "UPDATE queue SET results = ?, next_attempt = ? WHERE id = ?",
                    (_results_text((*results[:-1], interrupted)), next_attempt, row["id"]),
                )
            if rows:
                _log.info("{count} interrupted delivery attempts will be retried", count=len(rows))
            return len(rows)

        return self._run(job)

    def message_data(self, data_id: int) -> Deferred[bytes]:
        def job(connection: sqlite3.Connection) -> bytes:
            row = connection.execute(
                "SELECT data FROM message_data WHERE id = ?", (data_id,)
            ).fetchone()
            if row is None:
                raise MessageNotFound(f"no message data with id {data_id}")
            return bytes(row[0])

        return self._run(job)

    def list_retired(self, account: str | None = None) -> Deferred[list[RetiredMessage]]:
        def job(connection: sqlite3.Connection) -> list[RetiredMessage]:
            if account is None:
                rows = connection.execute("SELECT * FROM retired ORDER BY last_activity, id")
            else:
                rows = connection.execute(
                    "SELECT * FROM retired WHERE account = ? ORDER BY last_activity, id",
                    (account,),
                )
            return [_retired_from_row(row) for row in rows]

        return self._run(job)

    # -- mailboxes

    def deliver(self, deliveries: Iterable[MailboxDelivery]) -> Deferred[list[StoredMessage]]:
        batch = tuple(deliveries)
        received = self._now()

        def job(connection: sqlite3.Connection) -> list[StoredMessage]:
            return _store_deliveries(connection, batch, received, None)

        return self._run(job)

    def list_messages(
        self, account: str, mailbox: str | None = None
    ) -> Deferred[list[StoredMessage]]:
        def job(connection: sqlite3.Connection) -> list[StoredMessage]:
            if mailbox is None:
                rows = connection.execute(
                    f"{_STORED_SELECT} WHERE mailbox.account = ? ORDER BY mm.id", (account,)
                )
            else:
                rows = connection.execute(
                    f"{_STORED_SELECT} WHERE mailbox.account = ? AND mailbox.name = ?"
                    " ORDER BY mm.id",
                    (account, mailbox),
                )
            return [_stored_from_row(row) for row in rows]

        return self._run(job)


__all__ = [
    "INTERRUPTED",
    "FromIDNotUnique",
    "MessageNotFound",
    "SQLiteStore",
    "parse_time",
    "time_text",
]
