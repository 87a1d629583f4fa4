"""SQL for the webapi's message methods over an account's mailboxes (issue 4)."""

from __future__ import annotations

from mailtwist.store.schema import Migration

#: This module's schema steps; version 3 is reserved for it.
MIGRATIONS: tuple[Migration, ...] = ()


class MailboxMessageQueries:
    """Methods of SQLiteStore for the webapi message methods; they run via ``self._run``."""
