"""Queue control for admins, CLI and webapi: listings, operations, hold rules, suppressions."""

from __future__ import annotations

import csv
import functools
import inspect
import io
from collections.abc import Callable, Collection, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from mailtwist.address import Address, AddressError, base_address, parse_address, parse_domain
from mailtwist.dsn import compose as dsn_compose
from mailtwist.queue.scheduler import (
    DSNWriter,
    MessageSigner,
    WebhookPreparer,
    dsns_always_enabled,
    keep_nothing,
    keep_until,
)
from mailtwist.store import SuppressionExists
from mailtwist.store._interfaces import AttemptOutcome, IStore, Retirement
from mailtwist.store.records import (
    QUEUE_SORTS,
    RETIRED_SORTS,
    Cursor,
    DeliveryAttempt,
    HoldRule,
    MailboxDelivery,
    MessageFilter,
    Page,
    QueuedMessage,
    RetiredMessage,
    Suppression,
)
from mailtwist.store.webhooks import PreparedWebhook

log = Logger()

#: Error text of the result an admin drop or fail appends (spec §4.9).
CANCELED_BY_ADMIN = "delivery canceled by admin"

#: spec §4.9: the failure DSN of an admin "fail" carries status 5.0.0.
ADMIN_FAIL_STATUS = "5.0.0"

#: The columns of an exported suppression list, in order; an import needs "address".
CSV_COLUMNS = ("address", "reason", "manual", "created")

#: Largest page a listing may ask for.
MAX_PAGE = 1000

_TRUE = frozenset({"true", "yes", "1"})
_FALSE = frozenset({"false", "no", "0"})

_P = ParamSpec("_P")
_R = TypeVar("_R")


def _deferred(method: Callable[_P, Coroutine[Any, Any, _R]]) -> Callable[_P, Deferred[_R]]:
    # Like the store, every operation answers with a Deferred; errors (bad input
    # included) arrive as its failure.
    @functools.wraps(method)
    def run(*args: _P.args, **kwargs: _P.kwargs) -> Deferred[_R]:
        return Deferred.fromCoroutine(method(*args, **kwargs))

    return run


class QueueControlError(ValueError):
    """A queue control request that cannot be done; the message says precisely why."""


class InvalidAddress(QueueControlError):
    """An address given to a suppression command does not parse."""


class InvalidHoldRule(QueueControlError):
    """A hold rule with a malformed domain or a blank account."""


class AlreadySuppressed(QueueControlError):
    """The account's suppression list already has the address's base address."""


class SuppressionCSVError(QueueControlError):
    """A suppression CSV with bad rows; ``problems`` holds (line number, what is wrong)."""

    def __init__(self, problems: Sequence[tuple[int, str]]) -> None:
        self.problems = tuple(problems)
        lines = [f"line {line}: {problem}" for line, problem in self.problems]
        count = len(self.problems)
        super().__init__(
            f"{count} bad row{'s' if count != 1 else ''} in the suppression CSV,"
            " nothing imported:\n" + "\n".join(lines)
        )


@dataclass(frozen=True)
class _ImportRow:
    line: int
    address: str
    base_address: str
    reason: str
    manual: bool


class QueueControl:
    """Lists and changes queued messages, hold rules and suppression lists (spec §4.8-4.10, §6).

    Every mutating operation is one store call, so one transaction, and then calls
    ``wake`` so the scheduler looks at the queue again (wire it to
    ``QueueScheduler.queue_changed``). ``drop`` and ``fail`` skip the messages whose
    attempt is running (``in_flight``, and the store checks again), commit each
    outcome with its webhook from ``prepare_webhook``, and then report it to
    ``outcome_recorded`` (e.g. metrics). Bad input raises a QueueControlError (a
    ValueError) whose message the CLI can print as it is.
    """

    def __init__(
        self,
        *,
        store: IStore,
        clock: IReactorTime,
        wake: Callable[[], None],
        in_flight: Callable[[], Collection[int]] = frozenset,
        outcome_recorded: Callable[[QueuedMessage, AttemptOutcome, str], object] | None = None,
        keep_retired_for: Callable[[str], timedelta] = keep_nothing,
        hostname: str = "localhost",
        dsn_enabled: Callable[[str, str], bool] = dsns_always_enabled,
        signer: MessageSigner | None = None,
        make_id: Callable[[], str] | None = None,
        compose_dsn: Callable[..., bytes] = dsn_compose.compose_dsn,
        prepare_webhook: WebhookPreparer | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._wake = wake
        self._in_flight = in_flight
        self._outcome_recorded = outcome_recorded
        self._keep_retired_for = keep_retired_for
        self._prepare_webhook = prepare_webhook
        self.dsn = DSNWriter(
            hostname=hostname,
            dsn_enabled=dsn_enabled,
            signer=signer,
            make_id=make_id,
            compose=compose_dsn,
        )

    # -- listings (spec §4.10)

    @_deferred
    async def queue_page(
        self,
        filter: MessageFilter,
        sort: str = "next_attempt",
        ascending: bool = True,
        after: Cursor | None = None,
        limit: int = 100,
    ) -> Page[QueuedMessage]:
        """One keyset page of queued messages matching ``filter``, by (sort, id)."""
        _check_page(sort, QUEUE_SORTS, limit)
        page: Page[QueuedMessage] = await self._store.queue_page(
            filter, sort, ascending, after, limit
        )
        return page

    @_deferred
    async def retired_page(
        self,
        filter: MessageFilter,
        sort: str = "last_activity",
        ascending: bool = False,
        after: Cursor | None = None,
        limit: int = 100,
    ) -> Page[RetiredMessage]:
        """One keyset page of retired messages matching ``filter``, by (sort, id)."""
        _check_page(sort, RETIRED_SORTS, limit)
        page: Page[RetiredMessage] = await self._store.retired_page(
            filter, sort, ascending, after, limit
        )
        return page

    # -- operations (spec §4.9); each returns how many messages changed

    @_deferred
    async def hold(self, filter: MessageFilter) -> int:
        """Hold the matching queued messages: no attempts until released."""
        return await self._changed(await self._store.set_hold(filter, True))

    @_deferred
    async def release(self, filter: MessageFilter) -> int:
        """Release held messages; overdue ones are attempted at once (spec §4.8)."""
        return await self._changed(await self._store.set_hold(filter, False))

    @_deferred
    async def reschedule(self, filter: MessageFilter, when: datetime | timedelta) -> int:
        """Set the next attempt: at ``when``, or ``when`` from now for a timedelta."""
        if isinstance(when, timedelta):
            when = self._now() + when
        elif not isinstance(when, datetime) or when.tzinfo is None:
            raise QueueControlError(f"next attempt must be a time with a timezone, not {when!r}")
        return await self._changed(await self._store.set_next_attempt(filter, when))

    @_deferred
    async def set_max_attempts(self, filter: MessageFilter, max_attempts: int) -> int:
        """Change the attempt limit of matching messages (0: the default, 8)."""
        if not isinstance(max_attempts, int) or isinstance(max_attempts, bool) or max_attempts < 0:
            raise QueueControlError(
                f"max attempts must be a whole number of at least 0, not {max_attempts!r}"
            )
        return await self._changed(await self._store.set_max_attempts(filter, max_attempts))

    @_deferred
    async def drop(self, filter: MessageFilter) -> int:
        """Remove matching messages: retired as "canceled", no DSN (spec §4.9)."""
        return await self._cancel(filter, "canceled")

    @_deferred
    async def fail(self, filter: MessageFilter) -> int:
        """Fail matching messages: retired as "failed" with a 5.0.0 failure DSN (spec §4.9)."""
        return await self._cancel(filter, "failed")

    async def _cancel(self, filter: MessageFilter, event: str) -> int:
        messages = await self._matching(filter)
        data: dict[int, bytes] = {}
        if event == "failed":
            for message in messages:
                if self.dsn.wanted(message) and message.data_id not in data:
                    data[message.data_id] = await self._store.message_data(message.data_id)
        now = self._now()
        # Checked again after the reads above: an attempt may have started meanwhile.
        busy = set(self._in_flight())
        outcomes: dict[int, AttemptOutcome] = {}
        chosen: list[QueuedMessage] = []
        for message in messages:
            if message.id in busy:
                continue
            attempt = DeliveryAttempt(start=now, error=CANCELED_BY_ADMIN)
            retire = Retirement(
                False, event, keep_until(self._keep_retired_for, message.account, now)
            )
            deliveries: tuple[MailboxDelivery, ...] = ()
            if event == "failed":
                dsn = self.dsn.failure(
                    message, attempt, data.get(message.data_id, b""), now, ADMIN_FAIL_STATUS
                )
                deliveries = () if dsn is None else (dsn,)
            webhooks: tuple[PreparedWebhook, ...] = ()
            if self._prepare_webhook is not None:
                try:
                    prepared = await self._prepare_webhook(message, event, attempt, False)
                except Exception:
                    log.failure("preparing the webhook of message {id}", id=message.id)
                    prepared = None
                webhooks = () if prepared is None else (prepared,)
            # The webhook commits with the outcome (issue 5).
            outcomes[message.id] = AttemptOutcome(
                attempt, retire=retire, deliveries=deliveries, webhooks=webhooks
            )
            chosen.append(message)
        if not outcomes:
            return 0
        # One transaction for all of them (issue 3).
        applied: list[int] = await self._store.finish_attempts(outcomes)
        done = set(applied)
        if self._outcome_recorded is not None:
            for message in (m for m in chosen if m.id in done):
                try:
                    # The CLI's hook queues the webhook in the store: wait for it.
                    reported = self._outcome_recorded(message, outcomes[message.id], event)
                    if inspect.isawaitable(reported):
                        await reported
                except Exception:
                    log.failure("outcome hook failed for message {id}", id=message.id)
        return await self._changed(len(applied))

    async def _matching(self, filter: MessageFilter) -> list[QueuedMessage]:
        found: list[QueuedMessage] = []
        after: Cursor | None = None
        while True:
            page: Page[QueuedMessage] = await self._store.queue_page(
                filter, "next_attempt", True, after, MAX_PAGE
            )
            found.extend(page.rows)
            if page.next is None:
                # Pages come from separate reads while the scheduler moves next
                # attempts: a message may show up twice; report it once.
                return list({message.id: message for message in found}.values())
            after = page.next

    async def _changed(self, count: int) -> int:
        # spec §4.9: every mutating operation wakes the delivery loop.
        try:
            self._wake()
        except Exception:
            log.failure("waking the queue failed")
        return count

    # -- hold rules (spec §4.8)

    @_deferred
    async def add_hold_rule(
        self, account: str = "", sender_domain: str = "", recipient_domain: str = ""
    ) -> HoldRule:
        """Store a rule (all empty: hold everything) and hold the queued messages it matches."""
        if account and not account.strip():
            raise InvalidHoldRule("hold rule account is blank; leave it empty to match any")
        if account != account.strip():
            raise InvalidHoldRule(f"hold rule account {account!r} has surrounding spaces")
        rule = HoldRule(
            account=account,
            sender_domain=_rule_domain("sender", sender_domain),
            recipient_domain=_rule_domain("recipient", recipient_domain),
        )
        stored: HoldRule = await self._store.add_hold_rule(rule)
        await self._changed(0)
        return stored

    @_deferred
    async def hold_rules(self) -> list[HoldRule]:
        """All hold rules, by id."""
        rules: list[HoldRule] = await self._store.hold_rules()
        return rules

    @_deferred
    async def remove_hold_rule(self, rule_id: int) -> bool:
        """Remove a rule; held messages stay held. False when there was no such rule."""
        if not isinstance(rule_id, int) or isinstance(rule_id, bool) or rule_id < 1:
            raise QueueControlError(f"hold rule id must be a positive number, not {rule_id!r}")
        removed: bool = await self._store.remove_hold_rule(rule_id)
        return removed

    # -- suppression lists (spec §6)

    @_deferred
    async def add_suppression(
        self, account: str, address: str, reason: str = "", manual: bool = True
    ) -> Suppression:
        """Add an address (by its base address, spec §6.2) to the account's list."""
        _check_account(account)
        parsed = _parse(address)
        base = base_address(parsed)
        if await self._store.suppression(account, base) is not None:
            raise AlreadySuppressed(_listed(account, str(parsed), base))
        try:
            added: Suppression = await self._store.add_suppression(
                Suppression(account, base, str(parsed), manual, reason)
            )
        except SuppressionExists:
            raise AlreadySuppressed(_listed(account, str(parsed), base)) from None
        return added

    @_deferred
    async def remove_suppression(self, account: str, address: str) -> bool:
        """Remove the address's base address from the list; False if it was not listed."""
        _check_account(account)
        removed: bool = await self._store.remove_suppression(account, base_address(_parse(address)))
        return removed

    @_deferred
    async def suppressions(self, account: str) -> list[Suppression]:
        """The account's suppression list, by id."""
        _check_account(account)
        listed: list[Suppression] = await self._store.suppressions(account)
        return listed

    @_deferred
    async def suppression_of(self, account: str, address: str) -> Suppression | None:
        """The entry that suppresses ``address`` for the account, or None."""
        _check_account(account)
        found: Suppression | None = await self._store.suppression(
            account, base_address(_parse(address))
        )
        return found

    @_deferred
    async def is_suppressed(self, account: str, address: str) -> bool:
        """Whether mail from the account to ``address`` would be suppressed."""
        return await self.suppression_of(account, address) is not None

    @_deferred
    async def export_suppressions_csv(self, account: str) -> str:
        """The account's list as CSV: a header row ``address,reason,manual,created``, then rows."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(CSV_COLUMNS)
        for entry in await self.suppressions(account):
            writer.writerow(
                (
                    entry.original_address or entry.base_address,
                    entry.reason,
                    "true" if entry.manual else "false",
                    "" if entry.created is None else entry.created.isoformat(),
                )
            )
        return out.getvalue()

    @_deferred
    async def import_suppressions_csv(self, account: str, text: str) -> tuple[int, int]:
        """Add the addresses of a CSV (as exported) to the account's list.

        Every row is checked first; any bad row raises SuppressionCSVError naming
        each bad line, and nothing is added. Addresses already listed (or twice in
        the file) are skipped. Returns (added, skipped).
        """
        _check_account(account)
        rows = _parse_csv(text)
        listed = {entry.base_address for entry in await self._store.suppressions(account)}
        added = skipped = 0
        for row in rows:
            if row.base_address in listed:
                skipped += 1
                continue
            try:
                await self._store.add_suppression(
                    Suppression(account, row.base_address, row.address, row.manual, row.reason)
                )
            except SuppressionExists:
                # Added by someone else since the list was read.
                skipped += 1
            else:
                added += 1
            listed.add(row.base_address)
        return added, skipped

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), tz=UTC)


def _check_page(sort: str, sorts: Sequence[str], limit: int) -> None:
    if sort not in sorts:
        raise QueueControlError(f"unknown sort {sort!r}, expected one of: {', '.join(sorts)}")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= MAX_PAGE:
        raise QueueControlError(f"page size must be between 1 and {MAX_PAGE}, not {limit!r}")


def _check_account(account: str) -> None:
    if not isinstance(account, str) or not account.strip():
        raise QueueControlError("an account name is required")


def _parse(address: str) -> Address:
    try:
        return parse_address(address.strip())
    except AddressError as e:
        raise InvalidAddress(f"invalid address {address!r}: {e}") from None


def _listed(account: str, address: str, base: str) -> str:
    return f"{address} is already on the suppression list of account {account} (as {base})"


def _rule_domain(which: str, text: str) -> str:
    if not text:
        return ""
    try:
        return parse_domain(text.strip()).unicode
    except AddressError as e:
        raise InvalidHoldRule(f"invalid {which} domain {text!r} in hold rule: {e}") from None


def _parse_csv(text: str) -> list[_ImportRow]:
    """The rows of a suppression CSV, or SuppressionCSVError listing every bad line."""
    problems: list[tuple[int, str]] = []
    rows: list[_ImportRow] = []
    reader = csv.reader(io.StringIO(text))
    try:
        header = next(reader, None)
    except csv.Error as e:
        raise SuppressionCSVError([(reader.line_num, f"unreadable CSV: {e}")]) from None
    if header is None:
        raise SuppressionCSVError([(1, "empty file, expected the header " + ",".join(CSV_COLUMNS))])
    columns = [name.strip().lower() for name in header]
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    if unknown or "address" not in columns or len(set(columns)) != len(columns):
        raise SuppressionCSVError(
            [(1, f"header must name the columns {','.join(CSV_COLUMNS)}, got {','.join(header)}")]
        )
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            break
        except csv.Error as e:
            problems.append((reader.line_num, f"unreadable CSV: {e}"))
            break
        line = reader.line_num
        if not fields or all(not field.strip() for field in fields):
            continue
        if len(fields) != len(columns):
            problems.append((line, f"expected {len(columns)} fields, got {len(fields)}"))
            continue
        values = dict(zip(columns, fields, strict=True))
        address = values["address"].strip()
        try:
            parsed = parse_address(address)
        except AddressError as e:
            problems.append((line, f"invalid address {address!r}: {e}"))
            continue
        manual_text = values.get("manual", "").strip().lower()
        if manual_text and manual_text not in _TRUE | _FALSE:
            problems.append((line, f"manual must be true or false, not {values['manual']!r}"))
            continue
        created = values.get("created", "").strip()
        if created:
            try:
                datetime.fromisoformat(created)
            except ValueError:
                problems.append((line, f"created must be an ISO 8601 time, not {created!r}"))
                continue
        rows.append(
            _ImportRow(
                line=line,
                address=str(parsed),
                base_address=base_address(parsed),
                reason=values.get("reason", ""),
                manual=manual_text not in _FALSE,
            )
        )
    if problems:
        raise SuppressionCSVError(problems)
    return rows


__all__ = [
    "ADMIN_FAIL_STATUS",
    "CANCELED_BY_ADMIN",
    "CSV_COLUMNS",
    "MAX_PAGE",
    "AlreadySuppressed",
    "InvalidAddress",
    "InvalidHoldRule",
    "QueueControl",
    "QueueControlError",
    "SuppressionCSVError",
]
