"""SQLiteStore: the IStore on an embedded SQLite database (WAL, one database thread)."""

from __future__ import annotations

import dataclasses
import json
import os
import sqlite3
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from twisted.internet.defer import Deferred, fail
from twisted.logger import Logger
from zope.interface import implementer

from mailtwist.store import messages, schema, webhooks
from mailtwist.store._interfaces import AttemptOutcome, IStore, Retirement
from mailtwist.store.database import (
    CommitObserver,
    DatabaseClosed,
    DatabaseThread,
    InlineDatabase,
)
from mailtwist.store.messages import STORED_SELECT, MailboxMessageQueries, stored_from_row
from mailtwist.store.records import (
    DELIVERING,
    QUEUE_SORTS,
    RETIRED_SORTS,
    Credentials,
    Cursor,
    DeliveryAttempt,
    HoldRule,
    MailboxDelivery,
    MessageFilter,
    NewMessage,
    Page,
    QueuedMessage,
    RetiredMessage,
    StoredMessage,
    Suppression,
)
from mailtwist.store.schema import migrate
from mailtwist.store.times import parse_time, time_text
from mailtwist.store.webhooks import WebhookQueries

T = TypeVar("T")

_log = Logger()

#: Error of the result that replaces ``delivering...`` after a restart.
INTERRUPTED = "attempt interrupted: server stopped"

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
    "origin",
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
    "origin",
)

#: The events a retired message can have (see Retirement).
_RETIRED_EVENTS = ("delivered", "failed", "suppressed", "canceled")


class MessageNotFound(LookupError):
    """No queued message (or message data) with the asked id."""


class FromIDNotUnique(ValueError):
    """The NewMessage's fromid is already used by a queued or retired message."""


class SuppressionExists(ValueError):
    """The account's suppression list already has an entry for this base address."""


# -- conversions between records and columns (pure; run on the database thread)


def _optional_time(text: str | None) -> datetime | None:
    return None if text is None else parse_time(text)


#: DeliveryAttempt's fields, all scalars: dataclasses.asdict would deep-copy each one.
_ATTEMPT_FIELDS = tuple(f.name for f in dataclasses.fields(DeliveryAttempt))


def _attempt_json(attempt: DeliveryAttempt) -> dict[str, Any]:
    fields = {name: getattr(attempt, name) for name in _ATTEMPT_FIELDS}
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


def _message_fields(row: sqlite3.Row) -> dict[str, Any]:
    """The columns the queue and retired tables share, as record fields."""
    return {
        "id": row["id"],
        "base_id": row["base_id"],
        "queued": parse_time(row["queued"]),
        "account": row["account"],
        "sender": row["sender"],
        "recipient": row["recipient"],
        "recipient_domain": row["recipient_domain"],
        "message_id": row["message_id"],
        "subject": row["subject"],
        "size": row["size"],
        "last_attempt": _optional_time(row["last_attempt"]),
        "attempts": row["attempts"],
        "max_attempts": row["max_attempts"],
        "results": _parse_results(row["results"]),
        "has8bit": bool(row["has8bit"]),
        "smtputf8": bool(row["smtputf8"]),
        "future_release_request": row["future_release_request"],
        "require_tls": _require_tls(row["require_tls"]),
        "from_id": row["from_id"],
        "transport": row["transport"],
        "extra": json.loads(row["extra"]),
        "origin": row["origin"],
    }


def _queued_from_row(row: sqlite3.Row) -> QueuedMessage:
    return QueuedMessage(
        **_message_fields(row),
        hold=bool(row["hold"]),
        next_attempt=parse_time(row["next_attempt"]),
        data_id=row["data_id"],
    )


def _retired_from_row(row: sqlite3.Row) -> RetiredMessage:
    return RetiredMessage(
        **_message_fields(row),
        success=bool(row["success"]),
        event=row["event"],
        last_activity=parse_time(row["last_activity"]),
        keep_until=parse_time(row["keep_until"]),
    )


def _recipient_domain(recipient: str) -> str:
    # The domain follows the last "@": a quoted localpart may contain "@"
    # (RFC 5321 §4.1.2). The null reverse-path "<>" has none.
    _local, at, domain = recipient.rpartition("@")
    return domain if at else ""


def _hold_rule_from_row(row: sqlite3.Row) -> HoldRule:
    return HoldRule(
        id=row["id"],
        account=row["account"],
        sender_domain=row["sender_domain"],
        recipient_domain=row["recipient_domain"],
    )


def _suppression_from_row(row: sqlite3.Row) -> Suppression:
    return Suppression(
        id=row["id"],
        account=row["account"],
        base_address=row["base_address"],
        original_address=row["original_address"],
        manual=bool(row["manual"]),
        reason=row["reason"],
        created=parse_time(row["created"]),
    )


def _like_substring(text: str) -> str:
    """A LIKE pattern (with ESCAPE '\\') matching ``text`` anywhere, literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _filter_where(message_filter: MessageFilter, table: str) -> tuple[list[str], list[Any]]:
    """SQL conditions (AND) and their parameters for a MessageFilter on ``table``.

    A field that does not apply to the table (``hold`` on retired messages,
    ``success`` on the queue, ...) is refused rather than silently ignored.
    """
    if not isinstance(message_filter, MessageFilter):
        raise TypeError(f"expected MessageFilter, not {message_filter!r}")
    f = message_filter
    queue = table == "queue"
    misplaced = (
        ["success", "event", "last_activity_after", "last_activity_before"]
        if queue
        else ["hold", "next_attempt_after", "next_attempt_before"]
    )
    for name in misplaced:
        if getattr(f, name) not in (None, ""):
            kind = "queued" if queue else "retired"
            raise ValueError(f"filter field {name} does not apply to {kind} messages")
    clauses: list[str] = []
    params: list[Any] = []
    if f.ids:
        for message_id in f.ids:
            if not isinstance(message_id, int) or isinstance(message_id, bool):
                raise ValueError(f"message ids must be integers, not {message_id!r}")
        # json_each instead of one "?" per id: any number of ids is one parameter.
        clauses.append("id IN (SELECT value FROM json_each(?))")
        params.append(json.dumps(list(f.ids)))
    if f.account:
        clauses.append("account = ?")
        params.append(f.account)
    # LIKE is case-insensitive for ASCII letters only (SQLite without ICU).
    if f.sender:
        clauses.append("sender LIKE ? ESCAPE '\\'")
        params.append(_like_substring(f.sender))
    if f.recipient:
        clauses.append("recipient LIKE ? ESCAPE '\\'")
        params.append(_like_substring(f.recipient))
    if f.hold is not None:
        clauses.append("hold = ?")
        params.append(int(f.hold))
    if f.success is not None:
        clauses.append("success = ?")
        params.append(int(f.success))
    if f.event:
        if f.event not in _RETIRED_EVENTS:
            raise ValueError(f"unknown retired event {f.event!r}")
        clauses.append("event = ?")
        params.append(f.event)
    bounds = (
        ("queued", f.queued_after, f.queued_before),
        ("next_attempt", f.next_attempt_after, f.next_attempt_before),
        ("last_activity", f.last_activity_after, f.last_activity_before),
    )
    for column, after, before in bounds:
        # Inclusive-exclusive: after <= t < before.
        if after is not None:
            clauses.append(f"{column} >= ?")
            params.append(time_text(after))
        if before is not None:
            clauses.append(f"{column} < ?")
            params.append(time_text(before))
    return clauses, params


def page_query(
    table: str,
    message_filter: MessageFilter,
    sort: str,
    ascending: bool,
    after: Cursor | None,
    limit: int,
) -> tuple[str, tuple[Any, ...]]:
    """The SQL and parameters of one keyset page of ``table`` (fetching limit + 1 rows)."""
    sorts = QUEUE_SORTS if table == "queue" else RETIRED_SORTS
    if sort not in sorts:
        raise ValueError(f"unknown sort {sort!r} for {table} messages, expected one of {sorts}")
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ValueError(f"page limit must be a positive integer, not {limit!r}")
    clauses, params = _filter_where(message_filter, table)
    if after is not None:
        if not isinstance(after, Cursor):
            raise TypeError(f"expected a Cursor, not {after!r}")
        # A row value comparison: rows strictly after the cursor, found by a
        # range seek on the (account,) sort, id index: a late page costs what
        # the first does, unlike OFFSET.
        clauses.append(f"({sort}, id) {'>' if ascending else '<'} (?, ?)")
        params.extend((time_text(after.value), after.id))
    direction = "ASC" if ascending else "DESC"
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = f"SELECT * FROM {table}{where} ORDER BY {sort} {direction}, id {direction} LIMIT ?"
    return sql, (*params, limit + 1)


def _page_rows(
    connection: sqlite3.Connection,
    table: str,
    message_filter: MessageFilter,
    sort: str,
    ascending: bool,
    after: Cursor | None,
    limit: int,
) -> tuple[list[sqlite3.Row], Cursor | None]:
    """One keyset page of ``table``: rows after ``after`` by (sort, id), and the next cursor."""
    sql, params = page_query(table, message_filter, sort, ascending, after, limit)
    rows = connection.execute(sql, params).fetchall()
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, Cursor(value=parse_time(last[sort]), id=last["id"])


# -- SQL run on the database thread, inside a job's transaction


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
        if delivery.notify:
            connection.execute(
                "INSERT INTO stored_event (mailbox_message_id) VALUES (?)", (message_id,)
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


def _retire(
    connection: sqlite3.Connection,
    message: QueuedMessage,
    results: tuple[DeliveryAttempt, ...],
    retire: Retirement,
    last_activity: datetime,
) -> None:
    assert retire.keep_until is not None
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
                None if message.last_attempt is None else time_text(message.last_attempt)
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
            "origin": message.origin,
        },
    )


def _apply_outcome(
    connection: sqlite3.Connection,
    message: QueuedMessage,
    outcome: AttemptOutcome,
    received: datetime,
) -> list[StoredMessage]:
    """Record an attempt's outcome on a queued message (see IStore.finish_attempt).

    Returns the mailbox messages the outcome stored.
    """
    if not isinstance(outcome, AttemptOutcome):
        raise TypeError(f"expected AttemptOutcome, not {outcome!r}")
    results = _replace_delivering(message.results, outcome.attempt)
    if outcome.retry_at is not None:
        connection.execute(
            "UPDATE queue SET results = ?, next_attempt = ? WHERE id = ?",
            (_results_text(results), time_text(outcome.retry_at), message.id),
        )
    stored = _store_deliveries(connection, outcome.deliveries, received, message.data_id)
    if outcome.suppression is not None:
        _insert_suppression(connection, outcome.suppression, received, if_absent=True)
    for prepared in outcome.webhooks:
        webhooks.insert_webhook(
            connection, prepared.hook, prepared.next_attempt, prepared.superseded_keep_until
        )
    retire = outcome.retire
    if retire is None:
        return stored
    connection.execute("DELETE FROM queue WHERE id = ?", (message.id,))
    if retire.keep_until is not None:
        attempt = outcome.attempt
        last_activity = attempt.start + timedelta(seconds=attempt.duration)
        _retire(connection, message, results, retire, last_activity)
    _drop_unreferenced_data(connection, message.data_id)
    return stored


def _enqueue(
    connection: sqlite3.Connection, message: NewMessage, now: datetime
) -> list[QueuedMessage]:
    """Insert one NewMessage: its data once, a queue row per recipient (IStore.enqueue)."""
    if message.from_id:
        _check_from_id(connection, message)
    queued = time_text(now)
    next_attempt = time_text(message.next_attempt or now)
    rules = _hold_rules(connection)
    sender_domain = _recipient_domain(message.sender)
    holds = [
        message.hold
        or any(
            rule.matches(message.account, sender_domain, _recipient_domain(recipient))
            for rule in rules
        )
        for recipient in message.recipients
    ]
    data_id = _insert_data(connection, message.data)
    if message.origin == "webapi":
        messages.count_webapi_send(connection, message.account, message.recipients, queued)
    ids: list[int] = []
    base_id = 0
    for recipient, hold in zip(message.recipients, holds, strict=True):
        row_id = _insert(
            connection,
            "queue",
            {
                "base_id": base_id,
                "queued": queued,
                "hold": int(hold),
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
                "origin": message.origin,
            },
        )
        ids.append(row_id)
        if len(message.recipients) > 1 and not base_id:
            # spec §4.3: every copy of a batch gets the first copy's id.
            base_id = row_id
            connection.execute("UPDATE queue SET base_id = ? WHERE id = ?", (base_id, row_id))
    return [
        QueuedMessage(
            id=row_id,
            base_id=base_id,
            queued=parse_time(queued),
            hold=hold,
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
            origin=message.origin,
        )
        for row_id, recipient, hold in zip(ids, message.recipients, holds, strict=True)
    ]


def _hold_rules(connection: sqlite3.Connection) -> list[HoldRule]:
    rows = connection.execute("SELECT * FROM hold_rule ORDER BY id")
    return [_hold_rule_from_row(row) for row in rows]


def _hold_matching(connection: sqlite3.Connection, rule: HoldRule) -> int:
    """Hold the queued messages ``rule`` matches; how many were not held before."""
    # SQL narrows the candidates; HoldRule.matches decides, so a rule means
    # the same thing here as at enqueue (the sender domain follows the last "@").
    clauses, params = ["hold = 0"], []
    if rule.account:
        clauses.append("account = ?")
        params.append(rule.account)
    if rule.recipient_domain:
        clauses.append("recipient_domain = ?")
        params.append(rule.recipient_domain)
    if rule.sender_domain:
        clauses.append("sender LIKE ? ESCAPE '\\'")
        params.append(_like_substring("@" + rule.sender_domain))
    rows = connection.execute(
        f"SELECT id, account, sender, recipient_domain FROM queue WHERE {' AND '.join(clauses)}",
        params,
    ).fetchall()
    ids = [
        row["id"]
        for row in rows
        if rule.matches(row["account"], _recipient_domain(row["sender"]), row["recipient_domain"])
    ]
    connection.execute(
        "UPDATE queue SET hold = 1 WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(ids),),
    )
    return len(ids)


def _check_suppression(suppression: Suppression) -> None:
    if not isinstance(suppression, Suppression):
        raise TypeError(f"expected Suppression, not {suppression!r}")
    _check_name("account", suppression.account)
    if not isinstance(suppression.base_address, str) or not suppression.base_address:
        raise ValueError(
            f"base address must be a non-empty string, not {suppression.base_address!r}"
        )


def _insert_suppression(
    connection: sqlite3.Connection, suppression: Suppression, now: datetime, if_absent: bool
) -> Suppression | None:
    """Insert a suppression; None when listed already and ``if_absent``, else SuppressionExists."""
    _check_suppression(suppression)
    created = time_text(suppression.created or now)
    listed = connection.execute(
        "SELECT 1 FROM suppression WHERE account = ? AND base_address = ?",
        (suppression.account, suppression.base_address),
    ).fetchone()
    if listed is not None:
        if if_absent:
            return None
        raise SuppressionExists(
            f"account {suppression.account!r} already suppresses {suppression.base_address!r}"
        )
    row_id = _insert(
        connection,
        "suppression",
        {
            "account": suppression.account,
            "base_address": suppression.base_address,
            "original_address": suppression.original_address,
            "manual": int(suppression.manual),
            "reason": suppression.reason,
            "created": created,
        },
    )
    return dataclasses.replace(suppression, id=row_id, created=parse_time(created))


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
    deliveries and of new suppressions, which IStore does not pass in).

    ``inline=True`` runs every job on the calling thread instead
    (InlineDatabase): the Deferreds have fired when a method returns, and the
    reactor needs only IReactorTime (a Clock). ``MemoryStore`` in
    ``mailtwist.testing.store`` is that on ``":memory:"``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        reactor: Any = None,
        on_commit: CommitObserver | None = None,
        inline: bool = False,
    ) -> None:
        if reactor is None:
            from twisted.internet import reactor as global_reactor

            reactor = global_reactor
        self._reactor = reactor
        self._database: DatabaseThread | InlineDatabase
        if inline:
            self._database = InlineDatabase(path, on_commit)
        else:
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
        return self._run(lambda connection: _enqueue(connection, message, now))

    def enqueue_many(
        self, messages: Sequence[NewMessage], now: datetime
    ) -> Deferred[list[list[QueuedMessage]]]:
        batch = tuple(messages)
        if not batch:
            raise ValueError("enqueue_many needs at least one message")

        def job(connection: sqlite3.Connection) -> list[list[QueuedMessage]]:
            return [_enqueue(connection, message, now) for message in batch]

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
    ) -> Deferred[QueuedMessage | None]:
        def job(connection: sqlite3.Connection) -> QueuedMessage | None:
            message = _load_queued(connection, message_id)
            if message.hold or message.next_attempt > now:
                # Held or rescheduled since it was found due (queue control, the CLI).
                return None
            # spec §4.4: attempts += 1, last attempt = now, "delivering..." result.
            results = (*message.results, DeliveryAttempt(start=now, error=DELIVERING))
            started = dataclasses.replace(
                message,
                attempts=message.attempts + 1,
                last_attempt=parse_time(time_text(now)),
                next_attempt=parse_time(time_text(next_attempt)),
                results=results,
            )
            connection.execute(
                "UPDATE queue SET attempts = ?, last_attempt = ?, next_attempt = ?, results = ?"
                " WHERE id = ?",
                (
                    started.attempts,
                    time_text(now),
                    time_text(next_attempt),
                    _results_text(results),
                    message_id,
                ),
            )
            # The record as the row now reads, without reading it back.
            return started

        return self._run(job)

    def finish_attempt(
        self, message_id: int, outcome: AttemptOutcome
    ) -> Deferred[list[StoredMessage]]:
        received = self._now()

        def job(connection: sqlite3.Connection) -> list[StoredMessage]:
            return _apply_outcome(
                connection, _load_queued(connection, message_id), outcome, received
            )

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

    # -- queue control (issue 3)

    def queue_count(self) -> Deferred[int]:
        def job(connection: sqlite3.Connection) -> int:
            return int(connection.execute("SELECT COUNT(*) FROM queue").fetchone()[0])

        return self._run(job)

    def queue_page(
        self,
        filter: MessageFilter,
        sort: str = "next_attempt",
        ascending: bool = True,
        after: Cursor | None = None,
        limit: int = 100,
    ) -> Deferred[Page[QueuedMessage]]:
        def job(connection: sqlite3.Connection) -> Page[QueuedMessage]:
            rows, following = _page_rows(connection, "queue", filter, sort, ascending, after, limit)
            return Page(tuple(_queued_from_row(row) for row in rows), following)

        return self._run(job)

    def retired_page(
        self,
        filter: MessageFilter,
        sort: str = "last_activity",
        ascending: bool = False,
        after: Cursor | None = None,
        limit: int = 100,
    ) -> Deferred[Page[RetiredMessage]]:
        def job(connection: sqlite3.Connection) -> Page[RetiredMessage]:
            rows, following = _page_rows(
                connection, "retired", filter, sort, ascending, after, limit
            )
            return Page(tuple(_retired_from_row(row) for row in rows), following)

        return self._run(job)

    def _update_queue(
        self, message_filter: MessageFilter, assignment: str, values: Sequence[Any], changed: str
    ) -> Deferred[int]:
        def job(connection: sqlite3.Connection) -> int:
            clauses, params = _filter_where(message_filter, "queue")
            clauses.append(changed)
            cursor = connection.execute(
                f"UPDATE queue SET {assignment} WHERE {' AND '.join(clauses)}",
                (*values, *params, *values),
            )
            return cursor.rowcount

        return self._run(job)

    def set_hold(self, filter: MessageFilter, hold: bool) -> Deferred[int]:
        """Counts the messages whose hold flag changed (not those already so)."""
        if not isinstance(hold, bool):
            return fail(TypeError(f"hold must be a bool, not {hold!r}"))
        return self._update_queue(filter, "hold = ?", (int(hold),), "hold != ?")

    def set_next_attempt(self, filter: MessageFilter, when: datetime) -> Deferred[int]:
        """Counts the matching messages whose next attempt was not ``when`` already."""
        try:
            text = time_text(when)
        except (ValueError, AttributeError, TypeError) as e:
            return fail(ValueError(f"next attempt must be an aware datetime: {e}"))
        return self._update_queue(filter, "next_attempt = ?", (text,), "next_attempt != ?")

    def set_max_attempts(self, filter: MessageFilter, max_attempts: int) -> Deferred[int]:
        """Counts the matching messages whose limit was not ``max_attempts`` already."""
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 0:
            return fail(ValueError(f"max attempts must be an integer >= 0, not {max_attempts!r}"))
        return self._update_queue(filter, "max_attempts = ?", (max_attempts,), "max_attempts != ?")

    def finish_attempts(self, outcomes: Mapping[int, AttemptOutcome]) -> Deferred[list[int]]:
        received = self._now()
        batch = dict(outcomes)

        def job(connection: sqlite3.Connection) -> list[int]:
            applied = []
            for message_id in sorted(batch):
                row = connection.execute(
                    "SELECT * FROM queue WHERE id = ?", (message_id,)
                ).fetchone()
                if row is None:
                    continue  # retired meanwhile: skipped, not an error
                message = _queued_from_row(row)
                if message.results and message.results[-1].error == DELIVERING:
                    # An attempt is running (in this process or another, e.g. the CLI
                    # against a running server): its own outcome will be recorded.
                    continue
                _apply_outcome(connection, message, batch[message_id], received)
                applied.append(message_id)
            return applied

        return self._run(job)

    def add_hold_rule(self, rule: HoldRule) -> Deferred[HoldRule]:
        def job(connection: sqlite3.Connection) -> HoldRule:
            if not isinstance(rule, HoldRule):
                raise TypeError(f"expected HoldRule, not {rule!r}")
            for name in ("account", "sender_domain", "recipient_domain"):
                if not isinstance(getattr(rule, name), str):
                    raise TypeError(f"hold rule {name} must be a string")
            row_id = _insert(
                connection,
                "hold_rule",
                {
                    "account": rule.account,
                    "sender_domain": rule.sender_domain,
                    "recipient_domain": rule.recipient_domain,
                },
            )
            stored = dataclasses.replace(rule, id=row_id)
            held = _hold_matching(connection, stored)
            _log.info("hold rule {id} added, {held} queued messages held", id=row_id, held=held)
            return stored

        return self._run(job)

    def hold_rules(self) -> Deferred[list[HoldRule]]:
        return self._run(_hold_rules)

    def remove_hold_rule(self, rule_id: int) -> Deferred[bool]:
        def job(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute("DELETE FROM hold_rule WHERE id = ?", (rule_id,))
            return cursor.rowcount > 0

        return self._run(job)

    def add_suppression(self, suppression: Suppression) -> Deferred[Suppression]:
        now = self._now()

        def job(connection: sqlite3.Connection) -> Suppression:
            added = _insert_suppression(connection, suppression, now, if_absent=False)
            assert added is not None
            return added

        return self._run(job)

    def remove_suppression(self, account: str, base_address: str) -> Deferred[bool]:
        def job(connection: sqlite3.Connection) -> bool:
            cursor = connection.execute(
                "DELETE FROM suppression WHERE account = ? AND base_address = ?",
                (account, base_address),
            )
            return cursor.rowcount > 0

        return self._run(job)

    def suppressions(self, account: str) -> Deferred[list[Suppression]]:
        def job(connection: sqlite3.Connection) -> list[Suppression]:
            rows = connection.execute(
                "SELECT * FROM suppression WHERE account = ? ORDER BY id", (account,)
            )
            return [_suppression_from_row(row) for row in rows]

        return self._run(job)

    def suppression(self, account: str, base_address: str) -> Deferred[Suppression | None]:
        def job(connection: sqlite3.Connection) -> Suppression | None:
            row = connection.execute(
                "SELECT * FROM suppression WHERE account = ? AND base_address = ?",
                (account, base_address),
            ).fetchone()
            return None if row is None else _suppression_from_row(row)

        return self._run(job)

    def retired_by_from_id(self, from_id: str) -> Deferred[RetiredMessage | None]:
        def job(connection: sqlite3.Connection) -> RetiredMessage | None:
            if not from_id:
                return None
            # "from_id != ''" lets SQLite use the partial index retired_from_id.
            row = connection.execute(
                "SELECT * FROM retired WHERE from_id = ? AND from_id != '' LIMIT 1", (from_id,)
            ).fetchone()
            return None if row is None else _retired_from_row(row)

        return self._run(job)

    def record_retired_activity(
        self, retired_id: int, attempt: DeliveryAttempt, now: datetime
    ) -> Deferred[RetiredMessage | None]:
        def job(connection: sqlite3.Connection) -> RetiredMessage | None:
            if not isinstance(attempt, DeliveryAttempt):
                raise TypeError(f"expected DeliveryAttempt, not {attempt!r}")
            row = connection.execute("SELECT * FROM retired WHERE id = ?", (retired_id,)).fetchone()
            if row is None:
                return None
            retired = _retired_from_row(row)
            results = (*retired.results, attempt)
            # spec §7.3 step 3: an incoming message about it is activity on the record.
            connection.execute(
                "UPDATE retired SET results = ?, last_activity = ? WHERE id = ?",
                (_results_text(results), time_text(now), retired_id),
            )
            return dataclasses.replace(retired, results=results, last_activity=now)

        return self._run(job)

    def recent_retired_to(
        self, account: str, recipient: str, exclude_id: int, limit: int
    ) -> Deferred[list[RetiredMessage]]:
        def job(connection: sqlite3.Connection) -> list[RetiredMessage]:
            if not isinstance(limit, int) or limit < 0:
                raise ValueError(f"limit must be an integer >= 0, not {limit!r}")
            rows = connection.execute(
                "SELECT * FROM retired WHERE account = ? AND recipient = ? AND id != ?"
                " ORDER BY last_activity DESC, id DESC LIMIT ?",
                (account, recipient, exclude_id, limit),
            )
            return [_retired_from_row(row) for row in rows]

        return self._run(job)

    def delete_expired_retired(self, now: datetime) -> Deferred[int]:
        """Deletes retired messages whose keep-until is before ``now``."""

        def job(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                "DELETE FROM retired WHERE keep_until < ?", (time_text(now),)
            )
            return cursor.rowcount

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
                    f"{STORED_SELECT} WHERE mailbox.account = ? ORDER BY mm.id", (account,)
                )
            else:
                rows = connection.execute(
                    f"{STORED_SELECT} WHERE mailbox.account = ? AND mailbox.name = ?"
                    " ORDER BY mm.id",
                    (account, mailbox),
                )
            return [stored_from_row(row) for row in rows]

        return self._run(job)

    def pending_stored_events(
        self, after_id: int = 0, limit: int = 1000
    ) -> Deferred[list[StoredMessage]]:
        def job(connection: sqlite3.Connection) -> list[StoredMessage]:
            rows = connection.execute(
                f"{STORED_SELECT} JOIN stored_event ON stored_event.mailbox_message_id = mm.id"
                " WHERE mm.id > ? ORDER BY mm.id LIMIT ?",
                (after_id, limit),
            )
            return [stored_from_row(row) for row in rows]

        return self._run(job)

    def stored_event_handled(self, message_id: int) -> Deferred[None]:
        def job(connection: sqlite3.Connection) -> None:
            connection.execute(
                "DELETE FROM stored_event WHERE mailbox_message_id = ?", (message_id,)
            )

        return self._run(job)


__all__ = [
    "INTERRUPTED",
    "MIGRATIONS",
    "QUEUE_SORTS",
    "RETIRED_SORTS",
    "FromIDNotUnique",
    "MessageNotFound",
    "SQLiteStore",
    "SuppressionExists",
    "page_query",
    "parse_time",
    "time_text",
]
