"""SQL for the webapi's message methods over an account's mailboxes (issue 4)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from zope.interface import Interface, implementer

from mailtwist.store.records import StoredMessage
from mailtwist.store.schema import Migration
from mailtwist.store.times import parse_time, time_text

T = TypeVar("T")

#: How long a webapi send is remembered for the first-time-recipient count.
SEND_HISTORY = timedelta(days=30)

_MIGRATION_3 = (
    # Ids of messages removed through the webapi: a second MessageDelete of the
    # same id says "message was removed" like mox, not "not found". Mailbox
    # message ids are AUTOINCREMENT, so an id is never given out again.
    """CREATE TABLE mailbox_message_removed (
        id INTEGER PRIMARY KEY NOT NULL,
        account TEXT NOT NULL,
        removed TEXT NOT NULL
    )""",
    # One row per recipient of a webapi Send: the send limits of spec §1.5.
    """CREATE TABLE webapi_send (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL,
        recipient TEXT NOT NULL,
        sent TEXT NOT NULL
    )""",
    "CREATE INDEX webapi_send_account ON webapi_send (account, sent)",
    "CREATE INDEX webapi_send_recipient ON webapi_send (account, recipient, sent)",
    # Idempotency-Key of Send (issue 4 item 5): the first response per account and key.
    """CREATE TABLE idempotency_key (
        account TEXT NOT NULL,
        key TEXT NOT NULL,
        request_hash TEXT NOT NULL,
        response BLOB NOT NULL,
        expires TEXT NOT NULL,
        PRIMARY KEY (account, key)
    )""",
    "CREATE INDEX idempotency_key_expires ON idempotency_key (expires)",
)

#: This module's schema steps; version 3 is reserved for it.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(3, "webapi: removed messages, send counts, idempotency keys", _MIGRATION_3),
)


class MailboxMessageNotFound(LookupError):
    """The account has no message with this id (another account's id included)."""


class MailboxMessageRemoved(LookupError):
    """The account's message with this id was removed before."""


class MailboxNotFound(LookupError):
    """The account has no mailbox of this name."""


class AlreadyInMailbox(ValueError):
    """A move to the mailbox the message is in."""


@dataclass(frozen=True)
class AccountMessage:
    """A message of an account's mailbox with its raw bytes."""

    message: StoredMessage
    data: bytes


@dataclass(frozen=True)
class SendCounts:
    """An account's webapi sends within a window, for the limits of spec §1.5.

    ``messages``: recipients of sends in the window; ``first_time``: distinct
    recipients in the window not sent to before it, plus those of ``recipients``
    (the checked submission) never sent to at all.
    """

    messages: int
    first_time: int


@dataclass(frozen=True)
class IdempotentResponse:
    """The response given to the first Send with an Idempotency-Key."""

    request_hash: str
    response: bytes


@dataclass(frozen=True)
class IdempotencyRecord:
    """An Idempotency-Key to remember with a send until ``expires``."""

    key: str
    request_hash: str
    response: bytes
    expires: datetime


class IMessageStore(Interface):
    """The store methods of the webapi. Every method returns a Deferred.

    Every message method is scoped to ``account``: the id of another
    account's message is MailboxMessageNotFound, never that message.
    """

    def account_message(account, message_id):  # type: ignore[no-untyped-def]
        """Deferred[AccountMessage]; MailboxMessageNotFound / MailboxMessageRemoved."""

    def remove_account_message(account, message_id, now):  # type: ignore[no-untyped-def]
        """Remove permanently (no Trash), durably. Deferred[None]; errors as above."""

    def change_account_message_flags(account, message_id, add, remove):  # type: ignore[no-untyped-def]
        """Add then remove (lower-case) flags. Deferred[tuple[str, ...]] the new flags."""

    def move_account_message(account, message_id, mailbox):  # type: ignore[no-untyped-def]
        """Move to the account's mailbox ``mailbox``. Deferred[StoredMessage].

        MailboxNotFound for an unknown name, AlreadyInMailbox when it is there.
        """

    def webapi_send_counts(account, recipients, since):  # type: ignore[no-untyped-def]
        """Deferred[SendCounts] of sends at or after ``since``; a recipient counts as
        sent to before when it was in the SEND_HISTORY before ``since``."""

    def idempotent_response(account, key, now):  # type: ignore[no-untyped-def]
        """The unexpired IdempotentResponse of (account, key), or None."""

    def remember_idempotent_response(account, record):  # type: ignore[no-untyped-def]
        """Remember an IdempotencyRecord durably (replacing an expired one). Deferred[None].

        (The sends themselves are counted by ``enqueue``: see count_webapi_send.)
        """

    def forget_expired_sends(now):  # type: ignore[no-untyped-def]
        """Delete, for every account, sends older than SEND_HISTORY and idempotency keys
        expired at ``now``. Deferred[int] of rows deleted.

        A sending account forgets its own old sends as it queues; this reaches the
        accounts that stopped sending. Expired keys are forgotten only here (the
        hourly cleanup); lookups never see them.
        """


def count_webapi_send(
    connection: sqlite3.Connection, account: str, recipients: Sequence[str], sent: str
) -> None:
    """Count a webapi message's recipients toward the send limits (spec §1.5).

    Called by enqueue in the message's own transaction, so a Send is counted
    exactly when it is queued. Forgets the account's sends older than SEND_HISTORY;
    scoped to the account so the (account, sent) index finds them.
    """
    connection.executemany(
        "INSERT INTO webapi_send (account, recipient, sent) VALUES (?, ?, ?)",
        [(account, r.lower(), sent) for r in recipients],
    )
    forget_before = time_text(parse_time(sent) - SEND_HISTORY)
    connection.execute(
        "DELETE FROM webapi_send WHERE account = ? AND sent < ?", (account, forget_before)
    )


def _find(connection: sqlite3.Connection, account: str, message_id: int) -> sqlite3.Row:
    if isinstance(message_id, bool) or not isinstance(message_id, int):
        raise TypeError(f"message id must be an int, not {message_id!r}")
    row = connection.execute(
        f"{STORED_SELECT} WHERE mm.id = ? AND mailbox.account = ?",
        (message_id, account),
    ).fetchone()
    if row is not None:
        return row  # type: ignore[no-any-return]
    removed = connection.execute(
        "SELECT 1 FROM mailbox_message_removed WHERE id = ? AND account = ?",
        (message_id, account),
    ).fetchone()
    if removed is not None:
        raise MailboxMessageRemoved(f"message {message_id} was removed")
    raise MailboxMessageNotFound(f"no message {message_id} in account {account!r}")


#: Mailbox messages with their account and mailbox name, as stored_from_row reads them.
STORED_SELECT = (
    "SELECT mm.*, mailbox.account AS account, mailbox.name AS mailbox"
    " FROM mailbox_message AS mm JOIN mailbox ON mailbox.id = mm.mailbox_id"
)


def stored_from_row(row: sqlite3.Row) -> StoredMessage:
    """A StoredMessage from a row of STORED_SELECT."""
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


@implementer(IMessageStore)
class MailboxMessageQueries:
    """Methods of SQLiteStore for the webapi message methods; they run via ``self._run``."""

    _run: Callable[[Callable[[sqlite3.Connection], Any]], Deferred[Any]]

    def account_message(self, account: str, message_id: int) -> Deferred[AccountMessage]:
        def job(connection: sqlite3.Connection) -> AccountMessage:
            row = _find(connection, account, message_id)
            data = connection.execute(
                "SELECT data FROM message_data WHERE id = ?", (row["data_id"],)
            ).fetchone()
            return AccountMessage(stored_from_row(row), bytes(data[0]))

        return self._run(job)

    def remove_account_message(
        self, account: str, message_id: int, now: datetime
    ) -> Deferred[None]:
        removed = time_text(now)

        def job(connection: sqlite3.Connection) -> None:
            from mailtwist.store.sqlite import _drop_unreferenced_data

            row = _find(connection, account, message_id)
            connection.execute("DELETE FROM mailbox_message WHERE id = ?", (message_id,))
            connection.execute(
                "INSERT INTO mailbox_message_removed (id, account, removed) VALUES (?, ?, ?)",
                (message_id, account, removed),
            )
            _drop_unreferenced_data(connection, row["data_id"])

        return self._run(job)

    def change_account_message_flags(
        self, account: str, message_id: int, add: Iterable[str], remove: Iterable[str]
    ) -> Deferred[tuple[str, ...]]:
        adding = [flag.lower() for flag in add]
        removing = {flag.lower() for flag in remove}

        def job(connection: sqlite3.Connection) -> tuple[str, ...]:
            row = _find(connection, account, message_id)
            flags = [flag.lower() for flag in json.loads(row["flags"])]
            for flag in adding:
                if flag not in flags:
                    flags.append(flag)
            flags = [flag for flag in flags if flag not in removing]
            connection.execute(
                "UPDATE mailbox_message SET flags = ? WHERE id = ?",
                (json.dumps(flags), message_id),
            )
            return tuple(flags)

        return self._run(job)

    def move_account_message(
        self, account: str, message_id: int, mailbox: str
    ) -> Deferred[StoredMessage]:
        def job(connection: sqlite3.Connection) -> StoredMessage:
            row = _find(connection, account, message_id)
            target = connection.execute(
                "SELECT id FROM mailbox WHERE account = ? AND name = ?", (account, mailbox)
            ).fetchone()
            if target is None:
                raise MailboxNotFound(f"no mailbox {mailbox!r} in account {account!r}")
            if target[0] == row["mailbox_id"]:
                raise AlreadyInMailbox(f"message {message_id} is already in {mailbox!r}")
            connection.execute(
                "UPDATE mailbox_message SET mailbox_id = ? WHERE id = ?", (target[0], message_id)
            )
            return stored_from_row(_find(connection, account, message_id))

        return self._run(job)

    def webapi_send_counts(
        self, account: str, recipients: Sequence[str], since: datetime
    ) -> Deferred[SendCounts]:
        start = time_text(since)
        # "Sent to before" looks back SEND_HISTORY from the window: bounded here, not
        # by whether the account's old rows happen to be pruned yet.
        history = time_text(since - SEND_HISTORY)
        asked = tuple(dict.fromkeys(r.lower() for r in recipients))

        def job(connection: sqlite3.Connection) -> SendCounts:
            messages = connection.execute(
                "SELECT COUNT(*) FROM webapi_send WHERE account = ? AND sent >= ?",
                (account, start),
            ).fetchone()[0]
            first_time = connection.execute(
                "SELECT COUNT(DISTINCT recipient) FROM webapi_send AS s"
                " WHERE account = ? AND sent >= ? AND NOT EXISTS ("
                " SELECT 1 FROM webapi_send AS b WHERE b.account = s.account"
                " AND b.recipient = s.recipient AND b.sent >= ? AND b.sent < ?)",
                (account, start, history, start),
            ).fetchone()[0]
            for recipient in asked:
                seen = connection.execute(
                    "SELECT 1 FROM webapi_send WHERE account = ? AND recipient = ?"
                    " AND sent >= ? LIMIT 1",
                    (account, recipient, history),
                ).fetchone()
                if seen is None:
                    first_time += 1
            return SendCounts(messages=int(messages), first_time=int(first_time))

        return self._run(job)

    def idempotent_response(
        self, account: str, key: str, now: datetime
    ) -> Deferred[IdempotentResponse | None]:
        moment = time_text(now)

        def job(connection: sqlite3.Connection) -> IdempotentResponse | None:
            row = connection.execute(
                "SELECT request_hash, response FROM idempotency_key"
                " WHERE account = ? AND key = ? AND expires > ?",
                (account, key, moment),
            ).fetchone()
            if row is None:
                return None
            return IdempotentResponse(row[0], bytes(row[1]))

        return self._run(job)

    def remember_idempotent_response(
        self, account: str, record: IdempotencyRecord
    ) -> Deferred[None]:
        def job(connection: sqlite3.Connection) -> None:
            connection.execute(
                "INSERT OR REPLACE INTO idempotency_key"
                " (account, key, request_hash, response, expires) VALUES (?, ?, ?, ?, ?)",
                (
                    account,
                    record.key,
                    record.request_hash,
                    record.response,
                    time_text(record.expires),
                ),
            )

        return self._run(job)

    def forget_expired_sends(self, now: datetime) -> Deferred[int]:
        forget_before = time_text(now - SEND_HISTORY)
        moment = time_text(now)

        def job(connection: sqlite3.Connection) -> int:
            deleted = 0
            # Each account's old rows through the (account, sent) index; the accounts
            # by a skip-scan of that index (one lookup per account, not per row).
            accounts = connection.execute(
                "WITH RECURSIVE a(name) AS ("
                " SELECT MIN(account) FROM webapi_send"
                " UNION ALL"
                " SELECT (SELECT MIN(account) FROM webapi_send WHERE account > a.name)"
                " FROM a WHERE a.name IS NOT NULL)"
                " SELECT name FROM a WHERE name IS NOT NULL"
            ).fetchall()
            for (account,) in accounts:
                deleted += connection.execute(
                    "DELETE FROM webapi_send WHERE account = ? AND sent < ?",
                    (account, forget_before),
                ).rowcount
            deleted += connection.execute(
                "DELETE FROM idempotency_key WHERE expires <= ?", (moment,)
            ).rowcount
            return deleted

        return self._run(job)


__all__ = [
    "MIGRATIONS",
    "SEND_HISTORY",
    "AccountMessage",
    "AlreadyInMailbox",
    "IMessageStore",
    "IdempotencyRecord",
    "IdempotentResponse",
    "MailboxMessageNotFound",
    "MailboxMessageQueries",
    "MailboxMessageRemoved",
    "MailboxNotFound",
    "SendCounts",
    "count_webapi_send",
]
