"""SQL for the durable webhook queue and retired webhooks (issue 5)."""

from __future__ import annotations

from mailtwist.store.schema import Migration

#: This module's schema steps; version 4 is reserved for it.
MIGRATIONS: tuple[Migration, ...] = ()


class WebhookQueries:
    """Methods of SQLiteStore for the webhook queue; they run via ``self._run``."""
