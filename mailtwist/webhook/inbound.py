"""Incoming messages to a fromid address: matching DSNs back to the message that caused them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure

from mailtwist.address import AddressError, Domain, parse_address
from mailtwist.dsn import ACTIONS, DSNError, RecipientReport, parse_dsn, smtp_codes
from mailtwist.queue.suppression import (
    CONSECUTIVE_FAILURES,
    classify_attempt,
    needs_history,
    suppression_for,
)
from mailtwist.store import SuppressionExists
from mailtwist.store.records import DeliveryAttempt, RetiredMessage, StoredMessage

if TYPE_CHECKING:
    from mailtwist.store.records import QueuedMessage

_log = Logger()

#: spec §7.3 step 3: the result appended to the retired message, before a decision.
INCOMING_MESSAGE = "incoming message"
#: spec §7.3 step 3: the result of a message that is no multipart/report DSN.
NOT_A_DSN = "incoming message not a dsn"
#: spec §6.4: the Source named in the reason of a suppression made from a DSN.
DSN_SOURCE = "DSN"
#: The event of an incoming message about an outgoing one that we cannot read.
UNRECOGNIZED = "unrecognized"


class IFromIDDirectory(Protocol):
    """What the router needs of the configuration (Config has it)."""

    def fromid_separator(self, domain: Domain) -> str | None:
        """The separator before a fromid in the domain (spec §7.2), or None."""


class IEventDispatcher(Protocol):
    """What the router needs of the webhook dispatcher (WebhookDispatcher has it)."""

    def incoming(self, account: str, stored: StoredMessage, data: bytes) -> Deferred[None]:
        """Queue the incoming webhook of a stored message (spec §3.7)."""

    def outgoing(
        self,
        message: Any,
        event: str,
        attempt: DeliveryAttempt | None,
        *,
        suppressing: bool = False,
        dsn: bool = False,
    ) -> Deferred[None]:
        """Queue the outgoing event of a message (spec §3.3)."""


@dataclass(frozen=True)
class IncomingVerdict:
    """What an incoming message says about the outgoing message it was sent about.

    ``attempt`` is the result appended to the retired message; ``dsn`` is the
    payload's DSN flag: whether the message was a multipart/report DSN at all.
    """

    event: str
    dsn: bool
    attempt: DeliveryAttempt


def fromid_of(rcpt_to: str, directory: IFromIDDirectory) -> str:
    """The candidate fromid in a RCPT TO address, or "" (spec §7.3 step 1).

    The text after the first occurrence of the recipient domain's first catchall
    separator in the localpart; "" when the address does not parse, the domain
    has no separator, or the localpart does not contain it.
    """
    try:
        address = parse_address(rcpt_to)
    except AddressError:
        return ""
    separator = directory.fromid_separator(address.domain)
    if not separator or separator not in address.localpart:
        return ""
    return address.localpart.split(separator, 1)[1]


def verdict_for(data: bytes, now: datetime) -> IncomingVerdict:
    """Decide the event of an incoming message about a retired one (spec §7.3 step 3)."""
    try:
        report = parse_dsn(data)
    except DSNError as e:
        return _unrecognized(now, f"parsing incoming dsn: {e}")
    if report is None:
        # Not a multipart/report with a delivery-status second part (RFC 6522 §3).
        return IncomingVerdict(UNRECOGNIZED, False, DeliveryAttempt(start=now, error=NOT_A_DSN))
    if len(report.recipients) != 1:
        count = len(report.recipients)
        return _unrecognized(now, f"incoming dsn has {count} recipients, expecting 1")
    recipient = report.recipients[0]
    code, secode = _codes(recipient)
    action = recipient.action
    event = action if action in ACTIONS else UNRECOGNIZED
    if event == UNRECOGNIZED:
        _log.info("incoming dsn with unknown action {action!r}", action=action)
    attempt = DeliveryAttempt(
        start=now,
        # spec §7.3: a success for every known action but delayed and failed.
        success=event not in ("delayed", "failed", UNRECOGNIZED),
        code=code,
        secode=secode,
        error=INCOMING_MESSAGE,
        remote_host=recipient.remote_mta,
        reply=recipient.diagnostic_code,
        permanent=event == "failed",
    )
    if not attempt.success and code:
        # Kept with the result, so the suppression decision can be read back later.
        attempt = dataclasses.replace(attempt, classification=classify_attempt(attempt))
    return IncomingVerdict(event, True, attempt)


def _unrecognized(now: datetime, error: str) -> IncomingVerdict:
    return IncomingVerdict(UNRECOGNIZED, True, DeliveryAttempt(start=now, error=error))


def _codes(recipient: RecipientReport) -> tuple[int, str]:
    code, secode = smtp_codes(recipient)
    if code and not 200 <= code <= 599:
        # A Diagnostic-Code that is no SMTP reply ("999 ..."): fall back to Status.
        code, secode = smtp_codes(dataclasses.replace(recipient, diagnostic_type=""))
    return code, secode


class IncomingRouter:
    """Sends a message stored into a mailbox to the right webhook (spec §7.3, §3.7).

    A message to a fromid address of a retired outgoing message becomes an
    outgoing event of that message (delivered, delayed, failed, relayed,
    expanded or unrecognized), recorded on the retired message, and a failure
    may suppress its recipient (spec §6.4, Source "DSN"). Any other message gets
    the incoming webhook. The message is already stored when this runs: every
    error is logged and none reaches the caller.
    """

    def __init__(
        self,
        *,
        store: Any,
        dispatcher: IEventDispatcher,
        directory: IFromIDDirectory,
        clock: IReactorTime,
    ) -> None:
        self._store = store
        self._dispatcher = dispatcher
        self._directory = directory
        self._clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    def delivered(self, stored: StoredMessage, data: bytes) -> Deferred[None]:
        """Route one stored message; fires with None once its webhook is queued.

        Nothing happens for DSNs mailtwist made itself (``stored.dsn``). A failure is
        logged and passed on: the caller keeps the event pending (to be caught up
        later) instead of treating it as handled.
        """
        d = Deferred.fromCoroutine(self._route(stored, data))

        def failed(failure: Failure) -> Failure:
            _log.failure(
                "routing stored message {id} of {account} to its webhook",
                failure,
                id=stored.id,
                account=stored.account,
            )
            return failure

        d.addErrback(failed)
        return d.addCallback(lambda _: None)

    async def _route(self, stored: StoredMessage, data: bytes) -> None:
        if stored.dsn:
            # Our own DSN to a local sender: the queue already sent its event.
            return
        from_id = fromid_of(stored.rcpt_to, self._directory)
        retired: RetiredMessage | None = None
        if from_id:
            retired = await self._store.retired_by_from_id(from_id)
        if retired is None:
            await self._dispatcher.incoming(stored.account, stored, data)
            return
        now = self._now()
        verdict = verdict_for(data, now)
        updated = await self._store.record_retired_activity(retired.id, verdict.attempt, now)
        if updated is None:
            # Deleted (expired) between the lookup and the update: nothing to report on.
            _log.info(
                "retired message {id} of fromid {fromid} is gone", id=retired.id, fromid=from_id
            )
            return
        suppressing = False
        if verdict.event == "failed" and verdict.attempt.code:
            # spec §6.4: without a code from the DSN, no suppression processing.
            suppressing = await self._suppress(updated, verdict.attempt)
        # spec §7.3 step 4: a message that is no DSN has no codes and no error text.
        attempt = verdict.attempt if verdict.dsn else None
        await self._dispatcher.outgoing(
            updated, verdict.event, attempt, suppressing=suppressing, dsn=verdict.dsn
        )

    async def _suppress(self, retired: RetiredMessage, attempt: DeliveryAttempt) -> bool:
        """Add the suppression a DSN failure calls for; whether one was added."""
        recent: list[RetiredMessage] = []
        if needs_history(attempt):
            recent = await self._store.recent_retired_to(
                retired.account, retired.recipient, retired.id, CONSECUTIVE_FAILURES
            )
        # suppression_for reads only the account and recipient, which a retired
        # message has as a queued one does.
        suppression = suppression_for(
            cast("QueuedMessage", retired), attempt, recent, source=DSN_SOURCE
        )
        if suppression is None:
            return False
        try:
            await self._store.add_suppression(suppression)
        except SuppressionExists:
            # spec §6.4: already listed; this failure did not add it.
            return False
        return True


__all__ = [
    "DSN_SOURCE",
    "INCOMING_MESSAGE",
    "NOT_A_DSN",
    "UNRECOGNIZED",
    "IEventDispatcher",
    "IFromIDDirectory",
    "IncomingRouter",
    "IncomingVerdict",
    "fromid_of",
    "verdict_for",
]
