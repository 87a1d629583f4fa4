"""The SQLite schema of the store as an ordered list of versioned migrations."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from twisted.logger import Logger

_log = Logger()


class SchemaTooNew(Exception):
    """The database was written by a newer mailtwist than this one."""


@dataclass(frozen=True)
class Migration:
    """One schema step: SQL statements, or a function given the connection.

    Each migration runs in its own transaction together with the update of
    ``schema_version``, so a crash leaves the database at a known version.
    """

    version: int
    description: str
    statements: Sequence[str] = ()
    function: Callable[[sqlite3.Connection], None] | None = None

    def apply(self, connection: sqlite3.Connection) -> None:
        for statement in self.statements:
            connection.execute(statement)
        if self.function is not None:
            self.function(connection)


_INITIAL = (
    """CREATE TABLE account (
        name TEXT PRIMARY KEY NOT NULL
    )""",
    """CREATE TABLE mailbox (
        id INTEGER PRIMARY KEY,
        account TEXT NOT NULL REFERENCES account(name),
        name TEXT NOT NULL,
        UNIQUE (account, name)
    )""",
    """CREATE TABLE credentials (
        account TEXT PRIMARY KEY NOT NULL REFERENCES account(name),
        password_hash TEXT NOT NULL,
        scram_salt BLOB NOT NULL,
        scram_iterations INTEGER NOT NULL,
        scram_stored_key BLOB NOT NULL,
        scram_server_key BLOB NOT NULL,
        cram_md5_ipad BLOB NOT NULL,
        cram_md5_opad BLOB NOT NULL
    )""",
    # One row per submission or delivered content, shared by all its queue
    # records and mailbox messages; deleted when none refers to it anymore.
    """CREATE TABLE message_data (
        id INTEGER PRIMARY KEY,
        data BLOB NOT NULL
    )""",
    # AUTOINCREMENT: ids are never reused, a retired record keeps its queue id.
    # Datetimes are RFC 3339 UTC text with microseconds: fixed width, so text
    # order is time order.
    """CREATE TABLE queue (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        base_id INTEGER NOT NULL,
        queued TEXT NOT NULL,
        hold INTEGER NOT NULL,
        account TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        recipient_domain TEXT NOT NULL,
        message_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        size INTEGER NOT NULL,
        next_attempt TEXT NOT NULL,
        last_attempt TEXT,
        attempts INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        results TEXT NOT NULL,
        data_id INTEGER NOT NULL REFERENCES message_data(id),
        has8bit INTEGER NOT NULL,
        smtputf8 INTEGER NOT NULL,
        future_release_request TEXT NOT NULL,
        require_tls INTEGER,
        from_id TEXT NOT NULL,
        transport TEXT NOT NULL,
        extra TEXT NOT NULL
    )""",
    "CREATE INDEX queue_due ON queue (hold, next_attempt, id)",
    "CREATE INDEX queue_account ON queue (account, next_attempt, id)",
    "CREATE INDEX queue_data ON queue (data_id)",
    "CREATE INDEX queue_from_id ON queue (from_id) WHERE from_id != ''",
    """CREATE TABLE retired (
        id INTEGER PRIMARY KEY,
        base_id INTEGER NOT NULL,
        queued TEXT NOT NULL,
        account TEXT NOT NULL,
        sender TEXT NOT NULL,
        recipient TEXT NOT NULL,
        recipient_domain TEXT NOT NULL,
        message_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        size INTEGER NOT NULL,
        last_attempt TEXT,
        attempts INTEGER NOT NULL,
        max_attempts INTEGER NOT NULL,
        results TEXT NOT NULL,
        success INTEGER NOT NULL,
        event TEXT NOT NULL,
        last_activity TEXT NOT NULL,
        keep_until TEXT NOT NULL,
        has8bit INTEGER NOT NULL,
        smtputf8 INTEGER NOT NULL,
        future_release_request TEXT NOT NULL,
        require_tls INTEGER,
        from_id TEXT NOT NULL,
        transport TEXT NOT NULL,
        extra TEXT NOT NULL
    )""",
    "CREATE INDEX retired_activity ON retired (last_activity, id)",
    "CREATE INDEX retired_account ON retired (account, last_activity, id)",
    "CREATE INDEX retired_keep_until ON retired (keep_until)",
    "CREATE INDEX retired_from_id ON retired (from_id) WHERE from_id != ''",
    """CREATE TABLE mailbox_message (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        mailbox_id INTEGER NOT NULL REFERENCES mailbox(id),
        received TEXT NOT NULL,
        size INTEGER NOT NULL,
        flags TEXT NOT NULL,
        mail_from TEXT NOT NULL,
        rcpt_to TEXT NOT NULL,
        dsn INTEGER NOT NULL,
        remote_ip TEXT NOT NULL,
        data_id INTEGER NOT NULL REFERENCES message_data(id)
    )""",
    "CREATE INDEX mailbox_message_mailbox ON mailbox_message (mailbox_id, id)",
    "CREATE INDEX mailbox_message_data ON mailbox_message (data_id)",
)

_QUEUE_CONTROL = (
    # Rows written before version 2 came from SMTP submission.
    "ALTER TABLE queue ADD COLUMN origin TEXT NOT NULL DEFAULT 'submission'",
    "ALTER TABLE retired ADD COLUMN origin TEXT NOT NULL DEFAULT 'submission'",
    # Keyset pagination (issue 3): one index per (filter, sort) a listing
    # offers, ending in id, so page 500 is one index seek like page 1.
    "CREATE INDEX queue_next_attempt ON queue (next_attempt, id)",
    "CREATE INDEX queue_queued ON queue (queued, id)",
    "CREATE INDEX queue_account_queued ON queue (account, queued, id)",
    "CREATE INDEX retired_queued ON retired (queued, id)",
    "CREATE INDEX retired_account_queued ON retired (account, queued, id)",
    # The latest retired messages to one recipient (spec §6.4).
    "CREATE INDEX retired_recipient ON retired (account, recipient, last_activity, id)",
    """CREATE TABLE hold_rule (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        sender_domain TEXT NOT NULL,
        recipient_domain TEXT NOT NULL
    )""",
    # spec §6.1: unique on (account, base address); accounts not checked.
    """CREATE TABLE suppression (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        account TEXT NOT NULL,
        base_address TEXT NOT NULL,
        original_address TEXT NOT NULL,
        manual INTEGER NOT NULL,
        reason TEXT NOT NULL,
        created TEXT NOT NULL,
        UNIQUE (account, base_address)
    )""",
)

#: Every migration in order; append new ones, never edit an applied one.
#: Versions 3 (store/messages.py) and 4 (store/webhooks.py) live with their SQL.
#: Mailbox messages whose incoming event (webhook, DSN matching) is not handled yet:
#: written with the message, removed once handled (an outbox, issue 5).
_STORED_EVENTS = (
    """CREATE TABLE stored_event (
        mailbox_message_id INTEGER PRIMARY KEY
            REFERENCES mailbox_message(id) ON DELETE CASCADE
    )""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "accounts, mailboxes, message data, queue, retired", statements=_INITIAL),
    Migration(
        2, "origin, listing indexes, hold rules, suppression list", statements=_QUEUE_CONTROL
    ),
    # 3 and 4 are in store/messages.py and store/webhooks.py.
    Migration(5, "events of stored incoming mail still to handle", statements=_STORED_EVENTS),
)


def latest_version(migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """The schema version the given migrations lead to."""
    return migrations[-1].version if migrations else 0


def current_version(connection: sqlite3.Connection) -> int:
    """The schema version of the open database; 0 when it has none yet."""
    connection.execute(
        "CREATE TABLE IF NOT EXISTS schema_version ("
        " version INTEGER PRIMARY KEY NOT NULL, description TEXT NOT NULL)"
    )
    row = connection.execute("SELECT MAX(version) FROM schema_version").fetchone()
    return int(row[0] or 0)


def migrate(connection: sqlite3.Connection, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Apply pending migrations, each in its own transaction; the new version.

    ``connection`` must be in autocommit mode (``isolation_level=None``).
    Raises SchemaTooNew when the database is at a version these migrations do
    not know.
    """
    versions = [m.version for m in migrations]
    if versions != sorted(set(versions)) or (versions and versions[0] < 1):
        raise ValueError(f"migration versions must be increasing from 1: {versions}")
    connection.execute("BEGIN IMMEDIATE")
    try:
        version = current_version(connection)
        connection.execute("COMMIT")
    except BaseException:
        connection.execute("ROLLBACK")
        raise
    latest = latest_version(migrations)
    if version > latest:
        raise SchemaTooNew(
            f"database schema version {version} is newer than this mailtwist"
            f" supports ({latest}): upgrade mailtwist or use another database"
        )
    for migration in migrations:
        if migration.version <= version:
            continue
        connection.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            if current_version(connection) >= migration.version:
                connection.execute("COMMIT")
                continue
            migration.apply(connection)
            connection.execute(
                "INSERT INTO schema_version (version, description) VALUES (?, ?)",
                (migration.version, migration.description),
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        _log.info(
            "store schema migrated to version {version}: {description}",
            version=migration.version,
            description=migration.description,
        )
        version = migration.version
    return version


__all__ = [
    "MIGRATIONS",
    "Migration",
    "SchemaTooNew",
    "current_version",
    "latest_version",
    "migrate",
]
