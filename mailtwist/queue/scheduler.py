"""The queue scheduler: picks due messages, runs delivery attempts, records outcomes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any, Protocol

from twisted.internet.defer import CancelledError, Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from mailtwist.address import AddressError, Domain, base_address, parse_address, parse_domain
from mailtwist.dsn import compose as dsn_compose
from mailtwist.metrics import IMetrics, NullMetrics
from mailtwist.queue.backoff import DEFAULT_MAX_ATTEMPTS, MAX_JITTER, retry_delay
from mailtwist.queue.suppression import (
    CONSECUTIVE_FAILURES,
    RECIPIENT,
    classify,
    needs_history,
    suppression_for,
)
from mailtwist.queue.transport import DeliveryResult, ITransport
from mailtwist.store._interfaces import AttemptOutcome, IStore, Retirement
from mailtwist.store.records import (
    DeliveryAttempt,
    MailboxDelivery,
    NewMessage,
    QueuedMessage,
    StoredMessage,
    Suppression,
)
from mailtwist.store.webhooks import PreparedWebhook

log = Logger()


class Submit(Protocol):
    """Queues one or more messages durably, in one transaction (QueueScheduler.submit)."""

    def __call__(self, *messages: NewMessage) -> Deferred[list[QueuedMessage]]: ...


#: Prepares an outcome's outgoing webhook to commit with it: (message, event, attempt,
#: suppressing) -> the webhook, or None when the account does not want the event.
WebhookPreparer = Callable[
    [QueuedMessage, str, DeliveryAttempt, bool], Deferred[PreparedWebhook | None]
]

#: Told about every durable outcome: (message, outcome, event, stored mailbox messages).
#: The webhooks of issue 5 listen here.
OutcomeListener = Callable[
    [QueuedMessage, AttemptOutcome, str, Sequence[StoredMessage], bytes], object
]

#: On stop, deliveries still running after this many seconds are canceled (recorded as
#: temporary failures, retried after a restart) so a stop never waits a whole attempt
#: timeout.
STOP_GRACE = 5.0

#: The error of an attempt a stop cut short.
INTERRUPTED_BY_STOP = "delivery canceled: server stopping"

#: Times a failing ``finish_attempt`` is tried again before the scheduler gives up on it.
FINISH_RETRIES = 3

#: spec §4.4: a delay DSN goes to the sender after exactly this many failed attempts.
DELAY_DSN_ATTEMPT = 5

#: spec §4.7: Will-Retry-Until of a delay DSN is the last attempt plus this.
WILL_RETRY_FOR = timedelta(hours=28)

#: The mailbox DSNs to the sender are stored in (spec §4.7).
DSN_MAILBOX = "Inbox"


def keep_nothing(account: str) -> timedelta:
    """The default retention: spec §4.2's KeepRetiredMessagePeriod 0, nothing kept."""
    return timedelta(0)


def keep_until(
    keep_retired_for: Callable[[str], timedelta], account: str, finished: datetime
) -> datetime | None:
    """Until when a message retired at ``finished`` is kept; None: not kept (spec §4.2)."""
    try:
        period = keep_retired_for(account)
    except Exception:
        log.failure("retention period of account {account} unknown", account=account)
        return None
    return finished + period if period > timedelta(0) else None


def dsns_always_enabled(account: str, origin: str) -> bool:
    """The default DSN setting: every account gets DSNs for every origin."""
    return True


def suppressed_error(recipient: str) -> str:
    """The attempt error of a message whose recipient is on the suppression list (spec §3.4)."""
    return (
        f"not delivering to recipient address {recipient}: "
        "address is on suppression list, permanent"
    )


class MessageSigner(Protocol):
    """What the queue needs of ``mailtwist.dkim.sign.DKIMSigner``."""

    def sign(self, message: bytes, domain: Domain) -> bytes: ...


class DSNWriter:
    """Writes the DSNs the queue sends to a message's sender (spec §4.7, §11.2, issue 3).

    Each DSN comes back as a MailboxDelivery into the sender account's Inbox, for the
    caller to commit in the same transaction as the outcome it reports. No DSN goes
    to the null sender, about a DSN, or when ``dsn_enabled(account, origin)`` says
    no (an account setting turns them off for webapi sends). With a ``signer`` the
    DSN is DKIM-signed for the hostname's domain (the signer falls back to a parent
    domain, spec §11.3). Composition errors are logged: a DSN never blocks an outcome.
    """

    def __init__(
        self,
        *,
        hostname: str = "localhost",
        dsn_enabled: Callable[[str, str], bool] = dsns_always_enabled,
        signer: MessageSigner | None = None,
        make_id: Callable[[], str] | None = None,
        compose: Callable[..., bytes] = dsn_compose.compose_dsn,
    ) -> None:
        self._hostname = hostname
        self._dsn_enabled = dsn_enabled
        self._signer = signer
        self._make_id = make_id
        self._compose = compose

    def wanted(self, message: QueuedMessage) -> bool:
        """Whether the sender of ``message`` gets DSNs about it."""
        # RFC 3461 §6.2 / RFC 5321 §4.5.5: never a DSN to the null reverse-path.
        if not message.sender or message.origin == "dsn":
            return False
        try:
            return bool(self._dsn_enabled(message.account, message.origin))
        except Exception:
            log.failure("DSN setting of account {account} unknown", account=message.account)
            return True

    def failure(
        self,
        message: QueuedMessage,
        attempt: DeliveryAttempt,
        original: bytes,
        now: datetime,
        status: str = "",
    ) -> MailboxDelivery | None:
        """A failure DSN: delivery failed permanently, no further attempts (spec §4.7)."""
        return self._write(message, attempt, original, now, "failed", status)

    def delay(
        self, message: QueuedMessage, attempt: DeliveryAttempt, original: bytes, now: datetime
    ) -> MailboxDelivery | None:
        """A delay DSN: delivery is being retried (spec §4.7)."""
        return self._write(message, attempt, original, now, "delayed", "")

    def _write(
        self,
        message: QueuedMessage,
        attempt: DeliveryAttempt,
        original: bytes,
        now: datetime,
        action: str,
        status: str,
    ) -> MailboxDelivery | None:
        if not self.wanted(message):
            return None
        try:
            last_attempt = message.last_attempt or attempt.start
            if not status and attempt.secode:
                # spec §11.2: the class digit of the action, then the remote's short code.
                status = ("5." if action == "failed" else "4.") + attempt.secode
            recipient = dsn_compose.DSNRecipient(
                final_recipient=message.recipient,
                action=action,
                status=status,
                status_comment=attempt.error,
                # Issue 3: the remote's full reply, only when the failure was one.
                diagnostic=attempt.reply if attempt.code else "",
                remote_mta=attempt.remote_host,
                last_attempt=last_attempt,
                will_retry_until=last_attempt + WILL_RETRY_FOR if action == "delayed" else None,
            )
            dsn = self._compose(
                hostname=self._hostname,
                to=message.sender,
                original=original,
                original_message_id=message.message_id,
                arrival_date=message.queued,
                recipients=[recipient],
                now=now,
                future_release_request=message.future_release_request,
                smtputf8=message.smtputf8,
                make_id=self._make_id,
            )
        except Exception:
            log.failure("could not compose a DSN about message {id}", id=message.id)
            return None
        return MailboxDelivery(
            account=message.account,
            mailbox=DSN_MAILBOX,
            mail_from="",
            rcpt_to=message.sender,
            data=self._trace(message) + self._sign(dsn),
            dsn=True,
        )

    def _trace(self, message: QueuedMessage) -> bytes:
        # spec §4.7: stored with these trace fields in front, added after signing
        # as a receiving MTA would (RFC 5321 §4.4).
        return (
            f"Return-Path: <postmaster@{self._hostname}>\r\nDelivered-To: {message.sender}\r\n"
        ).encode()

    def _sign(self, dsn: bytes) -> bytes:
        if self._signer is None:
            return dsn
        try:
            return self._signer.sign(dsn, parse_domain(self._hostname))
        except Exception:
            log.failure("could not DKIM-sign a DSN; storing it unsigned")
            return dsn


class QueueScheduler:
    """Delivers queued messages when they are due, through an ITransport.

    The scheduler sleeps on the clock until the earliest next attempt (no polling),
    runs at most ``concurrency`` attempts at once, gives each ``attempt_timeout``
    seconds, and records every attempt in the store. Outcomes are decided in one
    place, ``_decide_outcome``: suppressed recipients fail without a transport call,
    failed attempts are classified, DSNs to the sender and automatic suppressions
    commit with the outcome. ``_outcome_recorded`` is the one hook after an outcome
    is durable. Store or transport failures are logged and retried; they never stop
    the loop.
    """

    def __init__(
        self,
        *,
        store: IStore,
        transport: ITransport,
        clock: IReactorTime,
        concurrency: int = 10,
        attempt_timeout: float = 60.0,
        keep_retired_for: Callable[[str], timedelta] = keep_nothing,
        random: Random | None = None,
        metrics: IMetrics | None = None,
        store_retry_delay: float = 5.0,
        hostname: str = "localhost",
        dsn_enabled: Callable[[str, str], bool] = dsns_always_enabled,
        signer: MessageSigner | None = None,
        make_id: Callable[[], str] | None = None,
        compose_dsn: Callable[..., bytes] = dsn_compose.compose_dsn,
        on_outcome: OutcomeListener | None = None,
        prepare_webhook: WebhookPreparer | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1: {concurrency}")
        if attempt_timeout <= 0:
            raise ValueError(f"attempt_timeout must be positive: {attempt_timeout}")
        if store_retry_delay <= 0:
            raise ValueError(f"store_retry_delay must be positive: {store_retry_delay}")
        self._store = store
        self._transport = transport
        self._clock = clock
        self._concurrency = concurrency
        self._attempt_timeout = attempt_timeout
        self._keep_retired_for = keep_retired_for
        self._random = random if random is not None else Random()
        self._metrics: IMetrics = metrics if metrics is not None else NullMetrics()
        self._store_retry_delay = store_retry_delay
        self._on_outcome = on_outcome
        self._prepare_webhook = prepare_webhook
        self.dsn = DSNWriter(
            hostname=hostname,
            dsn_enabled=dsn_enabled,
            signer=signer,
            make_id=make_id,
            compose=compose_dsn,
        )

        self._queue_size: int | None = None
        self._running = False
        self._evaluating = False
        self._again = False
        self._inflight: set[int] = set()
        self._timer: IDelayedCall | None = None
        # After a store error, no new evaluation before this clock time.
        self._paused_until: float | None = None
        self._idle_waiters: list[Deferred[None]] = []
        # Running transport calls by message id, and the timer that cancels them on stop.
        self._deliveries: dict[int, Deferred[DeliveryResult]] = {}
        self._stop_grace: IDelayedCall | None = None
        # Set once the stop grace ran out: an attempt reaching its transport only
        # now is canceled at once.
        self._cancel_new_deliveries = False

    # -- public surface

    def start(self) -> Deferred[None]:
        """Recover attempts interrupted by a restart, then start delivering."""

        async def run() -> None:
            recovered = await self._store.recover_interrupted(self._now())
            if recovered:
                log.info("recovered {n} interrupted delivery attempts", n=recovered)
            self._running = True
            self._cancel_new_deliveries = False
            await self._count_queue()
            self.wake()

        return Deferred.fromCoroutine(run())

    def stop(self) -> Deferred[None]:
        """Start no more attempts; fire once in-flight attempts are recorded.

        Deliveries still running after STOP_GRACE seconds are canceled: each is
        recorded as a temporary failure and retried at its next attempt.
        """
        self._running = False
        self._cancel_timer()
        if not self._evaluating and not self._inflight:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._idle_waiters.append(waiter)
        if self._stop_grace is None:
            self._stop_grace = self._clock.callLater(STOP_GRACE, self._cancel_deliveries)
        return waiter

    def _cancel_deliveries(self) -> None:
        self._stop_grace = None
        self._cancel_new_deliveries = True
        for delivery in list(self._deliveries.values()):
            delivery.cancel()

    def submit(self, *messages: NewMessage) -> Deferred[list[QueuedMessage]]:
        """Queue messages (one record per recipient) and wake the loop for them.

        Several messages (one submission split per recipient for fromids) are queued
        in one transaction: all or none. The records come back in order.
        """

        async def run() -> list[QueuedMessage]:
            queued: list[QueuedMessage]
            if len(messages) == 1:
                queued = await self._store.enqueue(messages[0], self._now())
            else:
                batches = await self._store.enqueue_many(messages, self._now())
                queued = [record for batch in batches for record in batch]
            self._adjust_queue_size(len(queued))
            self.wake()
            return queued

        return Deferred.fromCoroutine(run())

    def wake(self) -> None:
        """Look at the queue again now: something was added, released or finished."""
        if not self._running:
            return
        self._cancel_timer()
        if self._evaluating:
            self._again = True
            return
        self._evaluating = True
        Deferred.fromCoroutine(self._evaluate()).addErrback(
            lambda f: log.failure("queue evaluation failed", f)
        )

    def queue_changed(self) -> None:
        """The queue changed behind the scheduler's back (queue control): recount and wake."""
        Deferred.fromCoroutine(self._count_queue())
        self.wake()

    @property
    def in_flight(self) -> frozenset[int]:
        """Ids of the messages whose attempt is running."""
        return frozenset(self._inflight)

    # -- the loop

    async def _evaluate(self) -> None:
        try:
            while True:
                self._again = False
                delay = await self._evaluate_once()
                if not (self._again and self._running):
                    break
            if self._running and delay is not None:
                self._timer = self._clock.callLater(delay, self._timer_fired)
        finally:
            self._evaluating = False
            self._check_idle()

    async def _evaluate_once(self) -> float | None:
        """Start what is due; return seconds until the next look (None: wait for a wake)."""
        now_s = self._clock.seconds()
        if self._paused_until is not None:
            if now_s < self._paused_until:
                return self._paused_until - now_s
            self._paused_until = None
        try:
            free = self._concurrency - len(self._inflight)
            if free > 0:
                due = await self._store.due_messages(
                    self._now(), free, tuple(sorted(self._inflight))
                )
                for message in due:
                    if not self._running or len(self._inflight) >= self._concurrency:
                        break
                    if message.id not in self._inflight:
                        self._begin(message)
            if not self._running or len(self._inflight) >= self._concurrency:
                # A finishing attempt wakes the loop.
                return None
            next_at = await self._store.next_attempt_at(tuple(sorted(self._inflight)))
        except Exception:
            log.failure(
                "queue store failed; looking again in {delay}s", delay=self._store_retry_delay
            )
            self._pause()
            return self._store_retry_delay
        delay = None if next_at is None else max(0.0, (next_at - self._now()).total_seconds())
        if self._paused_until is not None:
            # An attempt could not start: do not spin on the message still due.
            delay = max(delay or 0.0, self._paused_until - self._clock.seconds())
        return delay

    def _timer_fired(self) -> None:
        self._timer = None
        self.wake()

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _pause(self) -> None:
        self._paused_until = self._clock.seconds() + self._store_retry_delay

    def _check_idle(self) -> None:
        if self._running or self._evaluating or self._inflight:
            return
        if self._stop_grace is not None and self._stop_grace.active():
            self._stop_grace.cancel()
        self._stop_grace = None
        waiters, self._idle_waiters = self._idle_waiters, []
        for waiter in waiters:
            waiter.callback(None)

    # -- one attempt

    def _begin(self, message: QueuedMessage) -> None:
        self._inflight.add(message.id)
        attempt = Deferred.fromCoroutine(self._attempt(message))

        def failed(f: Any) -> bool:
            log.failure("delivery attempt of message {id} failed", f, id=message.id)
            return True

        def ended(started: bool) -> None:
            self._inflight.discard(message.id)
            if started:
                self.wake()
            self._check_idle()

        attempt.addErrback(failed).addCallback(ended)

    async def _attempt(self, message: QueuedMessage) -> bool:
        """Run one attempt; False if it could not even start (a store error or the
        message dropped meanwhile), True otherwise (the loop then looks again)."""
        start_s = self._clock.seconds()
        start = _datetime(start_s)
        jitter = self._random.uniform(-MAX_JITTER, MAX_JITTER)
        # spec §4.4: the next attempt is set when an attempt starts, so a crash retries.
        next_attempt = start + retry_delay(message.attempts, jitter)
        try:
            started = await self._store.start_attempt(message.id, start, next_attempt)
        except LookupError:
            return False  # dropped or failed by queue control since it was found due
        except Exception:
            log.failure("could not start attempt for message {id}", id=message.id)
            self._pause()
            return False
        if started is None:
            # Held or rescheduled since it was found due: look again (its new time
            # may be the next timer).
            return True
        data, result, suppressed = await self._run(started)
        duration = max(0.0, self._clock.seconds() - start_s)
        outcome = await self._decide_outcome(
            started, result, start, duration, next_attempt, data, suppressed
        )
        await self._record(started, outcome, data)
        return True

    async def _run(self, message: QueuedMessage) -> tuple[bytes, DeliveryResult, bool]:
        """The message data, the attempt's result, and whether the recipient is suppressed."""
        try:
            data = await self._store.message_data(message.data_id)
        except Exception as e:
            log.failure("could not read data of message {id}", id=message.id)
            return b"", DeliveryResult.temporary_failure(f"reading message data: {e}"), False
        try:
            listed = await self._suppression_of(message)
        except Exception as e:
            log.failure("could not check the suppression list for message {id}", id=message.id)
            failure = DeliveryResult.temporary_failure(f"checking the suppression list: {e}")
            return data, failure, False
        if listed is not None:
            # spec §6.3: checked at each attempt, never at submission; no server contacted.
            result = DeliveryResult(error=suppressed_error(message.recipient), permanent=True)
            return data, result, True
        return data, await self._run_transport(message, data), False

    async def _suppression_of(self, message: QueuedMessage) -> Suppression | None:
        try:
            address = parse_address(message.recipient)
        except AddressError:
            # No base address to look up; the transport reports the bad address.
            return None
        listed: Suppression | None = await self._store.suppression(
            message.account, base_address(address)
        )
        return listed

    async def _run_transport(self, message: QueuedMessage, data: bytes) -> DeliveryResult:
        delivery = maybeDeferred(self._transport.deliver, message, data)
        self._deliveries[message.id] = delivery
        if self._cancel_new_deliveries:
            delivery.cancel()
        timed_out = False

        def time_out() -> None:
            nonlocal timed_out
            timed_out = True
            delivery.cancel()

        timer = self._clock.callLater(self._attempt_timeout, time_out)
        try:
            result = await delivery
        except CancelledError:
            if timed_out:
                return DeliveryResult.temporary_failure(
                    f"timeout: no result within {self._attempt_timeout:g}s"
                )
            return DeliveryResult(error=INTERRUPTED_BY_STOP, interrupted=True)
        except Exception as e:
            log.failure("transport failed for message {id}", id=message.id)
            return DeliveryResult.temporary_failure(f"delivery error: {e!r}")
        finally:
            del self._deliveries[message.id]
            if timer.active():
                timer.cancel()
        if timed_out:
            # The transport answered after all but too late: its result still counts.
            log.warn("transport answered message {id} after the timeout", id=message.id)
        if not isinstance(result, DeliveryResult):
            log.error("transport returned {r!r}, not a DeliveryResult", r=result)
            return DeliveryResult.temporary_failure("transport returned no DeliveryResult")
        return result

    async def _decide_outcome(
        self,
        message: QueuedMessage,
        result: DeliveryResult,
        start: datetime,
        duration: float,
        retry_at: datetime,
        data: bytes,
        suppressed: bool,
    ) -> AttemptOutcome:
        """The one place an attempt's outcome is decided (spec §4.4, §4.7, §6).

        DSNs to the sender and an automatic suppression go into the outcome, so they
        commit in the same transaction as the attempt's result.
        """
        if result.success:
            classification = ""
        elif suppressed:
            # The failure is the recipient's listing, whatever the code 0 says.
            classification = RECIPIENT
        else:
            classification = classify(
                result.attempt_code, result.secode, result.reply, result.error
            )
        attempt = DeliveryAttempt(
            start=start,
            duration=duration,
            success=result.success,
            code=result.attempt_code,
            secode=result.secode,
            error=result.error,
            remote_host=result.remote_host,
            reply=result.reply,
            tls=result.tls,
            permanent=result.permanent,
            classification=classification,
        )
        finished = start + timedelta(seconds=duration)
        deliveries = tuple(result.deliveries)
        if result.interrupted and not result.success:
            # Cut short by a stop, as after a crash (recover_interrupted): due again
            # at once, and no DSN, failure or suppression comes of it.
            return AttemptOutcome(attempt, retry_at=start)
        if result.success:
            retire = Retirement(
                True, "delivered", keep_until(self._keep_retired_for, message.account, finished)
            )
            return AttemptOutcome(attempt, retire=retire, deliveries=deliveries)
        max_attempts = message.max_attempts or DEFAULT_MAX_ATTEMPTS
        # spec §4.4: permanent failure (a suppressed recipient is one), or attempts
        # used up -> failed, with a failure DSN to the sender.
        if suppressed or result.permanent or message.attempts >= max_attempts:
            event = "suppressed" if suppressed else "failed"
            retire = Retirement(
                False, event, keep_until(self._keep_retired_for, message.account, finished)
            )
            dsn = self.dsn.failure(message, attempt, data, finished)
            suppression = None if suppressed else await self._auto_suppression(message, attempt)
            return AttemptOutcome(
                attempt,
                retire=retire,
                deliveries=deliveries + _optional(dsn),
                suppression=suppression,
            )
        if message.attempts == DELAY_DSN_ATTEMPT:
            deliveries += _optional(self.dsn.delay(message, attempt, data, finished))
        return AttemptOutcome(attempt, retry_at=retry_at, deliveries=deliveries)

    async def _auto_suppression(
        self, message: QueuedMessage, attempt: DeliveryAttempt
    ) -> Suppression | None:
        """The suppression this final failure adds (spec §6.4), None if none or listed."""
        try:
            recent: Sequence[Any] = ()
            if needs_history(attempt):
                recent = await self._store.recent_retired_to(
                    message.account, message.recipient, message.id, CONSECUTIVE_FAILURES
                )
            suppression = suppression_for(message, attempt, recent)
            if suppression is None:
                return None
            # Not when already listed: the webhook's Suppressing says "this added it".
            listed = await self._store.suppression(message.account, suppression.base_address)
        except Exception:
            log.failure("suppression processing of message {id} failed", id=message.id)
            return None
        return None if listed is not None else suppression

    async def _record(self, message: QueuedMessage, outcome: AttemptOutcome, data: bytes) -> None:
        event = outcome.retire.event if outcome.retire is not None else "delayed"
        planned = outcome
        stored: Sequence[StoredMessage] = ()
        for attempt in range(FINISH_RETRIES + 1):
            last = attempt == FINISH_RETRIES
            try:
                # Prepared on every try: a store error reading the settings is retried
                # like one recording the outcome, and only the last try goes without.
                outcome = await self._with_webhook(message, planned, event, required=not last)
                stored = await self._store.finish_attempt(message.id, outcome) or ()
                break
            except Exception:
                log.failure(
                    "could not record attempt of message {id} (try {n})",
                    id=message.id,
                    n=attempt + 1,
                )
                if attempt == FINISH_RETRIES:
                    # The store still shows "delivering..."; a restart or the next
                    # attempt (already scheduled at start) picks the message up again.
                    return
                await deferLater(self._clock, self._store_retry_delay)
        if outcome.retire is not None:
            self._adjust_queue_size(-1)
        try:
            self._outcome_recorded(message, outcome, event, stored, data)
        except Exception:
            log.failure("outcome hook failed for message {id}", id=message.id)

    async def _with_webhook(
        self, message: QueuedMessage, outcome: AttemptOutcome, event: str, required: bool
    ) -> AttemptOutcome:
        """The outcome with its outgoing webhook, to commit together (issue 5).

        A stop's interruption has no webhook. When preparing fails: raised if
        ``required``, else logged and the outcome goes without its webhook (it must
        be recorded whatever happens to the webhook).
        """
        if self._prepare_webhook is None or outcome.attempt.error == INTERRUPTED_BY_STOP:
            return outcome
        try:
            prepared = await self._prepare_webhook(
                message, event, outcome.attempt, outcome.suppression is not None
            )
        except Exception:
            if required:
                raise
            log.failure("preparing the webhook of message {id}", id=message.id)
            return outcome
        if prepared is None:
            return outcome
        return replace(outcome, webhooks=(prepared,))

    def _outcome_recorded(
        self,
        message: QueuedMessage,
        outcome: AttemptOutcome,
        event: str,
        stored: Sequence[StoredMessage],
        data: bytes,
    ) -> None:
        """After an outcome is durable: metrics, the log and ``on_outcome`` (webhooks).

        ``event`` is "delivered", "failed", "suppressed" or "delayed" (queue control
        reports "canceled" and admin "failed" through the same name); ``stored`` are
        the mailbox messages the outcome made (local deliveries, DSNs); ``data`` is
        the message data the attempt read (b"" when it could not), so a listener
        need not read a copy stored with the same data again.
        """
        self._metrics.delivery(event)
        if self._on_outcome is not None:
            self._on_outcome(message, outcome, event, stored, data)
        log.info(
            "message {id} to {rcpt}: {event} (attempt {n}, code {code}) {error}",
            id=message.id,
            rcpt=message.recipient,
            event=event,
            n=message.attempts,
            code=outcome.attempt.code,
            error=outcome.attempt.error,
        )

    # -- the queue size metric

    async def _count_queue(self) -> None:
        try:
            count = await self._store.queue_count()
        except Exception:
            log.failure("could not count the queue")
            return
        self._queue_size = count
        self._metrics.queue_size(count)

    def _adjust_queue_size(self, change: int) -> None:
        if self._queue_size is None:
            return
        self._queue_size = max(0, self._queue_size + change)
        self._metrics.queue_size(self._queue_size)

    def _now(self) -> datetime:
        return _datetime(self._clock.seconds())


def _datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


def _optional(delivery: MailboxDelivery | None) -> tuple[MailboxDelivery, ...]:
    return () if delivery is None else (delivery,)


__all__ = [
    "DELAY_DSN_ATTEMPT",
    "DSN_MAILBOX",
    "FINISH_RETRIES",
    "DSNWriter",
    "MessageSigner",
    "QueueScheduler",
    "dsns_always_enabled",
    "suppressed_error",
]
