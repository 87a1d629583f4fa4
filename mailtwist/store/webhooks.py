"""SQL for the durable webhook queue, retired webhooks and webhook settings (issue 5)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any, TypeVar

from twisted.internet.defer import Deferred
from zope.interface import Interface, implementer

from mailtwist.store.records import DELIVERING, Cursor, Page
from mailtwist.store.schema import Migration
from mailtwist.store.times import parse_time, time_text

T = TypeVar("T")

#: Error of the result that replaces ``delivering...`` after a restart.
WEBHOOK_INTERRUPTED = "webhook attempt interrupted: server stopped"

#: Appended to the error of an in-flight attempt whose hook was superseded (spec §3.5).
SUPERSEDED = " (superseded)"

_SCHEMA = (
    # spec §3.6 Hook. AUTOINCREMENT: ids are never reused, they are the
    # X-Mox-Webhook-ID receivers deduplicate on. Times as in the queue table:
    # fixed-width RFC 3339 UTC text, so text order is time order.
    """CREATE TABLE webhook (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        queue_msg_id INTEGER NOT NULL,
        from_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        extra TEXT NOT NULL,
        account TEXT NOT NULL,
        url TEXT NOT NULL,
        authorization TEXT NOT NULL,
        is_incoming INTEGER NOT NULL,
        outgoing_event TEXT NOT NULL,
        payload BLOB NOT NULL,
        submitted TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        next_attempt TEXT NOT NULL,
        results TEXT NOT NULL
    )""",
    # The earliest hook of each URL, found by a skip scan over this index: one
    # slow endpoint with many pending hooks never hides another URL's hooks.
    "CREATE INDEX webhook_url ON webhook (url, next_attempt, id)",
    "CREATE INDEX webhook_next ON webhook (next_attempt, id)",
    "CREATE INDEX webhook_queue_msg ON webhook (queue_msg_id) WHERE queue_msg_id != 0",
    # spec §3.6 HookRetired: Authorization is only whether one was used.
    """CREATE TABLE retired_webhook (
        id INTEGER PRIMARY KEY,
        queue_msg_id INTEGER NOT NULL,
        from_id TEXT NOT NULL,
        message_id TEXT NOT NULL,
        subject TEXT NOT NULL,
        extra TEXT NOT NULL,
        account TEXT NOT NULL,
        url TEXT NOT NULL,
        authorization INTEGER NOT NULL,
        is_incoming INTEGER NOT NULL,
        outgoing_event TEXT NOT NULL,
        payload BLOB NOT NULL,
        submitted TEXT NOT NULL,
        attempts INTEGER NOT NULL,
        results TEXT NOT NULL,
        superseded_by_id INTEGER NOT NULL,
        success INTEGER NOT NULL,
        last_activity TEXT NOT NULL,
        keep_until TEXT NOT NULL
    )""",
    "CREATE INDEX retired_webhook_activity ON retired_webhook (last_activity, id)",
    "CREATE INDEX retired_webhook_keep_until ON retired_webhook (keep_until)",
    # Settings users change while running (issue 5 item 1): JSON owned by
    # mailtwist.webhook.settings; no row means the config file's defaults.
    """CREATE TABLE webhook_settings (
        account TEXT PRIMARY KEY NOT NULL,
        settings TEXT NOT NULL
    )""",
)

#: This module's schema steps; version 4 is reserved for it.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(4, "webhook queue, retired webhooks, webhook settings", statements=_SCHEMA),
)


@dataclass(frozen=True)
class WebhookResult:
    """One attempt to deliver a webhook (spec §3.6 HookResult); duration in seconds."""

    start: datetime
    url: str
    duration: float = 0.0
    success: bool = False
    code: int = 0
    error: str = ""
    response: str = ""

    def json_value(self) -> dict[str, Any]:
        return {
            "start": time_text(self.start),
            "url": self.url,
            "duration": self.duration,
            "success": self.success,
            "code": self.code,
            "error": self.error,
            "response": self.response,
        }

    @classmethod
    def from_json_value(cls, value: dict[str, Any]) -> WebhookResult:
        return cls(**{**value, "start": parse_time(value["start"])})


@dataclass(frozen=True)
class NewWebhook:
    """A webhook to queue. URL and Authorization are captured now (spec §3.1)."""

    account: str
    url: str
    payload: bytes
    submitted: datetime
    authorization: str = field(default="", repr=False)
    is_incoming: bool = False
    outgoing_event: str = ""
    queue_msg_id: int = 0
    from_id: str = ""
    message_id: str = ""
    subject: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.is_incoming == bool(self.outgoing_event):
            raise ValueError("a webhook is incoming or has an outgoing event, not both")
        if not isinstance(self.payload, bytes):
            raise TypeError("webhook payload must be bytes")
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))


@dataclass(frozen=True)
class PreparedWebhook:
    """A webhook ready to be queued in another write's transaction (an attempt outcome).

    ``next_attempt`` is when it is first due; ``superseded_keep_until`` how long the
    pending hook it supersedes is kept retired (None: not kept).
    """

    hook: NewWebhook
    next_attempt: datetime
    superseded_keep_until: datetime | None


@dataclass(frozen=True)
class Webhook:
    """A pending webhook (spec §3.6 Hook)."""

    id: int
    account: str
    url: str
    payload: bytes
    submitted: datetime
    attempts: int
    next_attempt: datetime
    results: tuple[WebhookResult, ...]
    authorization: str = field(default="", repr=False)
    is_incoming: bool = False
    outgoing_event: str = ""
    queue_msg_id: int = 0
    from_id: str = ""
    message_id: str = ""
    subject: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RetiredWebhook:
    """A webhook that left the queue (spec §3.6 HookRetired)."""

    id: int
    account: str
    url: str
    payload: bytes
    submitted: datetime
    attempts: int
    results: tuple[WebhookResult, ...]
    authorization: bool
    superseded_by_id: int
    success: bool
    last_activity: datetime
    keep_until: datetime
    is_incoming: bool = False
    outgoing_event: str = ""
    queue_msg_id: int = 0
    from_id: str = ""
    message_id: str = ""
    subject: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookHead:
    """The earliest pending webhook of one URL: what the dispatcher may start next."""

    id: int
    url: str
    next_attempt: datetime


@dataclass(frozen=True)
class WebhookFilter:
    """Which webhooks a listing or operation applies to; only set fields apply (AND).

    ``event`` is an outgoing event name or ``"incoming"``; ``success`` applies
    to retired webhooks only.
    """

    ids: tuple[int, ...] = ()
    account: str = ""
    event: str = ""
    success: bool | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", tuple(self.ids))


class WebhookNotFound(LookupError):
    """No pending webhook with the asked id."""


class IWebhookStore(Interface):
    """The webhook part of the store. Every method returns a Deferred; each write is
    one durable transaction."""

    def webhook_settings(account):  # type: ignore[no-untyped-def]
        """The account's saved webhook settings (JSON text) or None. Deferred[str | None]."""

    def set_webhook_settings(account, settings):  # type: ignore[no-untyped-def]
        """Save (text) or remove (None) the account's webhook settings. Deferred[None]."""

    def add_webhook(hook, next_attempt, superseded_keep_until):  # type: ignore[no-untyped-def]
        """Queue a NewWebhook due at ``next_attempt``, superseding (spec §3.5).

        An outgoing hook removes the pending hook of the same queue message; it is
        kept retired with SupersededByID when ``superseded_keep_until`` is set.
        Deferred[tuple[Webhook, int | None]]: the hook and the superseded hook's id.
        """

    def webhook(hook_id):  # type: ignore[no-untyped-def]
        """A pending webhook, or None. Deferred[Webhook | None]."""

    def webhook_heads(exclude_urls):  # type: ignore[no-untyped-def]
        """The earliest pending hook of each URL not in ``exclude_urls``, by next attempt.

        Deferred[list[WebhookHead]].
        """

    def start_webhook_attempt(hook_id, now, next_attempt_for):  # type: ignore[no-untyped-def]
        """Attempts += 1, a ``delivering...`` result appended, next attempt set to
        ``next_attempt_for(previous attempts)`` before the request goes out, so a
        crash retries it. Deferred[Webhook]; WebhookNotFound when gone."""

    def finish_webhook_attempt(hook_id, result, retire, keep_until, next_attempt_for=None):  # type: ignore[no-untyped-def]
        """Replace the ``delivering...`` result; retire the hook when ``retire``.

        Retired hooks are kept until ``keep_until`` (None: not kept). A hook
        superseded meanwhile gets the result appended to its retired record with
        `` (superseded)``. With ``next_attempt_for``, the same URL's next due hook
        (due at result start + duration) is started in the same transaction.
        Deferred[tuple[str, Webhook | None]]: "queued", "retired" or
        "superseded", and the started hook.
        """

    def cancel_webhooks(filter, result, keep_until_for):  # type: ignore[no-untyped-def]
        """Remove matching pending hooks, each retired with ``result`` appended
        when ``keep_until_for[account]`` is set (a mapping). Deferred[int]."""

    def webhook_accounts(filter):  # type: ignore[no-untyped-def]
        """Accounts of the matching pending hooks. Deferred[list[str]]."""

    def retry_webhooks_now(filter, now):  # type: ignore[no-untyped-def]
        """Make matching pending hooks due at ``now``. Deferred[int]."""

    def webhook_page(filter, after=None, limit=100):  # type: ignore[no-untyped-def]
        """Pending hooks by (next attempt, id), keyset-paginated. Deferred[Page[Webhook]]."""

    def retired_webhook_page(filter, after=None, limit=100):  # type: ignore[no-untyped-def]
        """Retired hooks by (last activity, id), newest first. Deferred[Page[RetiredWebhook]]."""

    def webhook_count():  # type: ignore[misc]
        """How many webhooks are pending. Deferred[int]."""

    def recover_interrupted_webhooks(now):  # type: ignore[no-untyped-def]
        """After a restart: attempts still ``delivering...`` get an error result and
        become due at ``now`` (at-least-once). Deferred[int]."""

    def delete_expired_webhooks(now):  # type: ignore[no-untyped-def]
        """Delete retired hooks whose keep-until has passed. Deferred[int]."""


# -- rows and columns (run on the database thread)


def _results_text(results: tuple[WebhookResult, ...]) -> str:
    return json.dumps([r.json_value() for r in results], separators=(",", ":"))


def _parse_results(text: str) -> tuple[WebhookResult, ...]:
    return tuple(WebhookResult.from_json_value(v) for v in json.loads(text))


def _common(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "id": row["id"],
        "account": row["account"],
        "url": row["url"],
        "payload": bytes(row["payload"]),
        "submitted": parse_time(row["submitted"]),
        "attempts": row["attempts"],
        "results": _parse_results(row["results"]),
        "is_incoming": bool(row["is_incoming"]),
        "outgoing_event": row["outgoing_event"],
        "queue_msg_id": row["queue_msg_id"],
        "from_id": row["from_id"],
        "message_id": row["message_id"],
        "subject": row["subject"],
        "extra": MappingProxyType(json.loads(row["extra"])),
    }


def _webhook_from_row(row: sqlite3.Row) -> Webhook:
    return Webhook(
        **_common(row),
        next_attempt=parse_time(row["next_attempt"]),
        authorization=row["authorization"],
    )


def _retired_from_row(row: sqlite3.Row) -> RetiredWebhook:
    return RetiredWebhook(
        **_common(row),
        authorization=bool(row["authorization"]),
        superseded_by_id=row["superseded_by_id"],
        success=bool(row["success"]),
        last_activity=parse_time(row["last_activity"]),
        keep_until=parse_time(row["keep_until"]),
    )


def _load(connection: sqlite3.Connection, hook_id: int) -> Webhook | None:
    row = connection.execute("SELECT * FROM webhook WHERE id = ?", (hook_id,)).fetchone()
    return None if row is None else _webhook_from_row(row)


def _retire(
    connection: sqlite3.Connection,
    hook: Webhook,
    *,
    success: bool,
    now: datetime,
    keep_until: datetime | None,
    superseded_by_id: int = 0,
) -> None:
    connection.execute("DELETE FROM webhook WHERE id = ?", (hook.id,))
    if keep_until is None:
        return
    connection.execute(
        "INSERT INTO retired_webhook (id, queue_msg_id, from_id, message_id, subject, extra,"
        " account, url, authorization, is_incoming, outgoing_event, payload, submitted,"
        " attempts, results, superseded_by_id, success, last_activity, keep_until)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            hook.id,
            hook.queue_msg_id,
            hook.from_id,
            hook.message_id,
            hook.subject,
            json.dumps(dict(hook.extra), sort_keys=True),
            hook.account,
            hook.url,
            int(bool(hook.authorization)),
            int(hook.is_incoming),
            hook.outgoing_event,
            hook.payload,
            time_text(hook.submitted),
            hook.attempts,
            _results_text(hook.results),
            superseded_by_id,
            int(success),
            time_text(now),
            time_text(keep_until),
        ),
    )


def _start(
    connection: sqlite3.Connection,
    hook: Webhook,
    now: datetime,
    next_attempt_for: Callable[[int], datetime],
) -> Webhook:
    results = (*hook.results, WebhookResult(start=now, url=hook.url, error=DELIVERING))
    next_attempt = next_attempt_for(hook.attempts)
    connection.execute(
        "UPDATE webhook SET attempts = ?, next_attempt = ?, results = ? WHERE id = ?",
        (hook.attempts + 1, time_text(next_attempt), _results_text(results), hook.id),
    )
    return replace(hook, attempts=hook.attempts + 1, next_attempt=next_attempt, results=results)


def _replace_delivering(
    results: tuple[WebhookResult, ...], result: WebhookResult
) -> tuple[WebhookResult, ...]:
    if results and results[-1].error == DELIVERING:
        return (*results[:-1], result)
    return (*results, result)


def insert_webhook(
    connection: sqlite3.Connection,
    hook: NewWebhook,
    next_attempt: datetime,
    superseded_keep_until: datetime | None,
) -> tuple[Webhook, int | None]:
    """Queue a hook in the caller's transaction (IWebhookStore.add_webhook).

    Also used by the queue's outcome transaction, so an outcome and its webhook are
    committed together.
    """
    cursor = connection.execute(
        "INSERT INTO webhook (queue_msg_id, from_id, message_id, subject, extra,"
        " account, url, authorization, is_incoming, outgoing_event, payload,"
        " submitted, attempts, next_attempt, results)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, '[]')",
        (
            hook.queue_msg_id,
            hook.from_id,
            hook.message_id,
            hook.subject,
            json.dumps(dict(hook.extra), sort_keys=True),
            hook.account,
            hook.url,
            hook.authorization,
            int(hook.is_incoming),
            hook.outgoing_event,
            hook.payload,
            time_text(hook.submitted),
            time_text(next_attempt),
        ),
    )
    new_id = cursor.lastrowid
    assert new_id is not None
    superseded: int | None = None
    if not hook.is_incoming and hook.queue_msg_id:
        # spec §3.5: only the latest event of a queue message is delivered.
        # "queue_msg_id != 0" lets SQLite use the partial index.
        rows = connection.execute(
            "SELECT * FROM webhook WHERE queue_msg_id = ? AND queue_msg_id != 0"
            " AND id != ? AND is_incoming = 0",
            (hook.queue_msg_id, new_id),
        ).fetchall()
        for row in rows:
            old = _webhook_from_row(row)
            _retire(
                connection,
                old,
                success=False,
                now=hook.submitted,
                keep_until=superseded_keep_until,
                superseded_by_id=new_id,
            )
            superseded = old.id
    new = _load(connection, new_id)
    assert new is not None
    return new, superseded


def _filter_where(webhook_filter: WebhookFilter, retired: bool) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if webhook_filter.ids:
        clauses.append(f"id IN ({', '.join('?' for _ in webhook_filter.ids)})")
        args.extend(webhook_filter.ids)
    if webhook_filter.account:
        clauses.append("account = ?")
        args.append(webhook_filter.account)
    if webhook_filter.event == "incoming":
        clauses.append("is_incoming = 1")
    elif webhook_filter.event:
        clauses.append("outgoing_event = ?")
        args.append(webhook_filter.event)
    if retired and webhook_filter.success is not None:
        clauses.append("success = ?")
        args.append(int(webhook_filter.success))
    return (" AND ".join(clauses) or "1"), args


def _page(
    connection: sqlite3.Connection,
    table: str,
    sort: str,
    ascending: bool,
    webhook_filter: WebhookFilter,
    after: Cursor | None,
    limit: int,
    convert: Callable[[sqlite3.Row], T],
) -> Page[T]:
    if limit <= 0:
        raise ValueError("page limit must be positive")
    where, args = _filter_where(webhook_filter, retired=table == "retired_webhook")
    order = "ASC" if ascending else "DESC"
    if after is not None:
        # Keyset pagination: never OFFSET, so a late page costs what the first does.
        where += f" AND ({sort}, id) {'>' if ascending else '<'} (?, ?)"
        args.extend([time_text(after.value), after.id])
    rows = connection.execute(
        f"SELECT * FROM {table} WHERE {where} ORDER BY {sort} {order}, id {order} LIMIT ?",
        (*args, limit + 1),
    ).fetchall()
    items = [convert(row) for row in rows[:limit]]
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = Cursor(parse_time(last[sort]), last["id"])
    return Page(tuple(items), next_cursor)


@implementer(IWebhookStore)
class WebhookQueries:
    """Methods of SQLiteStore for the webhook queue; they run via ``self._run``.

    The mixin declares IWebhookStore, so SQLiteStore provides it too.
    """

    _run: Callable[[Callable[[sqlite3.Connection], Any]], Deferred[Any]]

    # -- settings

    def webhook_settings(self, account: str) -> Deferred[str | None]:
        def job(connection: sqlite3.Connection) -> str | None:
            row = connection.execute(
                "SELECT settings FROM webhook_settings WHERE account = ?", (account,)
            ).fetchone()
            return None if row is None else str(row[0])

        return self._run(job)

    def set_webhook_settings(self, account: str, settings: str | None) -> Deferred[None]:
        def job(connection: sqlite3.Connection) -> None:
            if settings is None:
                connection.execute("DELETE FROM webhook_settings WHERE account = ?", (account,))
            else:
                connection.execute(
                    "INSERT OR REPLACE INTO webhook_settings (account, settings) VALUES (?, ?)",
                    (account, settings),
                )

        return self._run(job)

    # -- the queue

    def add_webhook(
        self, hook: NewWebhook, next_attempt: datetime, superseded_keep_until: datetime | None
    ) -> Deferred[tuple[Webhook, int | None]]:
        return self._run(
            lambda connection: insert_webhook(connection, hook, next_attempt, superseded_keep_until)
        )

    def webhook(self, hook_id: int) -> Deferred[Webhook | None]:
        return self._run(lambda connection: _load(connection, hook_id))

    def webhook_heads(self, exclude_urls: Collection[str]) -> Deferred[list[WebhookHead]]:
        skip = frozenset(exclude_urls)

        def job(connection: sqlite3.Connection) -> list[WebhookHead]:
            # A skip scan over webhook_url: one index seek per distinct URL,
            # however many hooks each has.
            rows = connection.execute(
                "WITH RECURSIVE urls(url) AS ("
                " SELECT MIN(url) FROM webhook"
                " UNION ALL"
                " SELECT (SELECT MIN(url) FROM webhook WHERE url > urls.url)"
                " FROM urls WHERE urls.url IS NOT NULL)"
                " SELECT (SELECT id FROM webhook AS w WHERE w.url = urls.url"
                "  ORDER BY next_attempt, id LIMIT 1) AS id, urls.url AS url"
                " FROM urls WHERE urls.url IS NOT NULL"
            ).fetchall()
            heads = []
            for row in rows:
                if row["url"] in skip:
                    continue
                next_row = connection.execute(
                    "SELECT next_attempt FROM webhook WHERE id = ?", (row["id"],)
                ).fetchone()
                heads.append(WebhookHead(row["id"], row["url"], parse_time(next_row[0])))
            heads.sort(key=lambda h: (h.next_attempt, h.id))
            return heads

        return self._run(job)

    def start_webhook_attempt(
        self, hook_id: int, now: datetime, next_attempt_for: Callable[[int], datetime]
    ) -> Deferred[Webhook]:
        def job(connection: sqlite3.Connection) -> Webhook:
            hook = _load(connection, hook_id)
            if hook is None:
                raise WebhookNotFound(f"no pending webhook with id {hook_id}")
            return _start(connection, hook, now, next_attempt_for)

        return self._run(job)

    def finish_webhook_attempt(
        self,
        hook_id: int,
        result: WebhookResult,
        retire: bool,
        keep_until: datetime | None,
        next_attempt_for: Callable[[int], datetime] | None = None,
    ) -> Deferred[tuple[str, Webhook | None]]:
        def job(connection: sqlite3.Connection) -> tuple[str, Webhook | None]:
            hook = _load(connection, hook_id)
            if hook is None:
                row = connection.execute(
                    "SELECT results FROM retired_webhook WHERE id = ?", (hook_id,)
                ).fetchone()
                if row is not None:
                    # spec §3.5: the attempt of a hook superseded while in flight.
                    marked = replace(result, error=result.error + SUPERSEDED)
                    results = _replace_delivering(_parse_results(row[0]), marked)
                    connection.execute(
                        "UPDATE retired_webhook SET results = ? WHERE id = ?",
                        (_results_text(results), hook_id),
                    )
                status = "superseded"
                url = result.url
            else:
                url = hook.url
                results = _replace_delivering(hook.results, result)
                if retire:
                    _retire(
                        connection,
                        replace(hook, results=results),
                        success=result.success,
                        now=result.start,
                        keep_until=keep_until,
                    )
                    status = "retired"
                else:
                    connection.execute(
                        "UPDATE webhook SET results = ? WHERE id = ?",
                        (_results_text(results), hook_id),
                    )
                    status = "queued"
            if next_attempt_for is None:
                return status, None
            # The URL's next due hook starts in the same transaction: one commit
            # per delivery instead of two for a busy endpoint.
            now = result.start + timedelta(seconds=result.duration)
            row = connection.execute(
                "SELECT * FROM webhook WHERE url = ? AND next_attempt <= ?"
                " ORDER BY next_attempt, id LIMIT 1",
                (url, time_text(now)),
            ).fetchone()
            if row is None:
                return status, None
            return status, _start(connection, _webhook_from_row(row), now, next_attempt_for)

        return self._run(job)

    def cancel_webhooks(
        self,
        webhook_filter: WebhookFilter,
        result: WebhookResult,
        keep_until_for: Mapping[str, datetime | None],
    ) -> Deferred[int]:
        def job(connection: sqlite3.Connection) -> int:
            where, args = _filter_where(webhook_filter, retired=False)
            rows = connection.execute(f"SELECT * FROM webhook WHERE {where}", args).fetchall()
            for row in rows:
                hook = _webhook_from_row(row)
                # spec §3.6: admin cancel appends a result "canceled by admin".
                hook = replace(hook, results=(*hook.results, replace(result, url=hook.url)))
                _retire(
                    connection,
                    hook,
                    success=False,
                    now=result.start,
                    keep_until=keep_until_for.get(hook.account),
                )
            return len(rows)

        return self._run(job)

    def retry_webhooks_now(self, webhook_filter: WebhookFilter, now: datetime) -> Deferred[int]:
        def job(connection: sqlite3.Connection) -> int:
            where, args = _filter_where(webhook_filter, retired=False)
            cursor = connection.execute(
                f"UPDATE webhook SET next_attempt = ? WHERE {where}", (time_text(now), *args)
            )
            return cursor.rowcount

        return self._run(job)

    def webhook_accounts(self, webhook_filter: WebhookFilter) -> Deferred[list[str]]:
        """Accounts of the matching pending hooks (for per-account retention). Deferred."""

        def job(connection: sqlite3.Connection) -> list[str]:
            where, args = _filter_where(webhook_filter, retired=False)
            rows = connection.execute(
                f"SELECT DISTINCT account FROM webhook WHERE {where}", args
            ).fetchall()
            return [str(r[0]) for r in rows]

        return self._run(job)

    def webhook_page(
        self, webhook_filter: WebhookFilter, after: Cursor | None = None, limit: int = 100
    ) -> Deferred[Page[Webhook]]:
        return self._run(
            lambda connection: _page(
                connection,
                "webhook",
                "next_attempt",
                True,
                webhook_filter,
                after,
                limit,
                _webhook_from_row,
            )
        )

    def retired_webhook_page(
        self, webhook_filter: WebhookFilter, after: Cursor | None = None, limit: int = 100
    ) -> Deferred[Page[RetiredWebhook]]:
        return self._run(
            lambda connection: _page(
                connection,
                "retired_webhook",
                "last_activity",
                False,
                webhook_filter,
                after,
                limit,
                _retired_from_row,
            )
        )

    def webhook_count(self) -> Deferred[int]:
        return self._run(
            lambda connection: int(connection.execute("SELECT COUNT(*) FROM webhook").fetchone()[0])
        )

    def recover_interrupted_webhooks(self, now: datetime) -> Deferred[int]:
        def job(connection: sqlite3.Connection) -> int:
            rows = connection.execute(
                "SELECT * FROM webhook WHERE results LIKE ?", (f'%"error":"{DELIVERING}"%',)
            ).fetchall()
            count = 0
            for row in rows:
                hook = _webhook_from_row(row)
                if not hook.results or hook.results[-1].error != DELIVERING:
                    continue
                last = hook.results[-1]
                results = (*hook.results[:-1], replace(last, error=WEBHOOK_INTERRUPTED))
                connection.execute(
                    "UPDATE webhook SET results = ?, next_attempt = ? WHERE id = ?",
                    (_results_text(results), time_text(now), hook.id),
                )
                count += 1
            return count

        return self._run(job)

    def delete_expired_webhooks(self, now: datetime) -> Deferred[int]:
        def job(connection: sqlite3.Connection) -> int:
            cursor = connection.execute(
                "DELETE FROM retired_webhook WHERE keep_until <= ?", (time_text(now),)
            )
            return cursor.rowcount

        return self._run(job)


__all__ = [
    "MIGRATIONS",
    "SUPERSEDED",
    "WEBHOOK_INTERRUPTED",
    "IWebhookStore",
    "NewWebhook",
    "RetiredWebhook",
    "Webhook",
    "WebhookFilter",
    "WebhookHead",
    "WebhookNotFound",
    "WebhookQueries",
    "WebhookResult",
]
