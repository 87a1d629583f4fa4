"""The queue scheduler: picks due messages, runs delivery attempts, records outcomes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from twisted.internet.defer import CancelledError, Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger

from mailtwist.metrics import IMetrics, NullMetrics
from mailtwist.queue.backoff import DEFAULT_MAX_ATTEMPTS, MAX_JITTER, retry_delay
from mailtwist.queue.transport import DeliveryResult, ITransport
from mailtwist.store._interfaces import AttemptOutcome, IStore, Retirement
from mailtwist.store.records import DeliveryAttempt, NewMessage, QueuedMessage

log = Logger()

#: Times a failing ``finish_attempt`` is tried again before the scheduler gives up on it.
FINISH_RETRIES = 3


def _keep_nothing(account: str) -> timedelta:
    # spec §4.2: KeepRetiredMessagePeriod defaults to 0, retired records are not kept.
    return timedelta(0)


class QueueScheduler:
    """Delivers queued messages when they are due, through an ITransport.

    The scheduler sleeps on the clock until the earliest next attempt (no polling),
    runs at most ``concurrency`` attempts at once, gives each ``attempt_timeout``
    seconds, and records every attempt in the store. Outcomes are decided in one
    place, ``_decide_outcome``. Store or transport failures are logged and retried;
    they never stop the loop.
    """

    def __init__(
        self,
        *,
        store: IStore,
        transport: ITransport,
        clock: IReactorTime,
        concurrency: int = 10,
        attempt_timeout: float = 60.0,
        keep_retired_for: Callable[[str], timedelta] = _keep_nothing,
        random: Random | None = None,
        metrics: IMetrics | None = None,
        store_retry_delay: float = 5.0,
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

        self._running = False
        self._evaluating = False
        self._again = False
        self._inflight: set[int] = set()
        self._timer: IDelayedCall | None = None
        # After a store error, no new evaluation before this clock time.
        self._paused_until: float | None = None
        self._idle_waiters: list[Deferred[None]] = []

    # -- public surface

    def start(self) -> Deferred[None]:
        """Recover attempts interrupted by a restart, then start delivering."""

        async def run() -> None:
            recovered = await self._store.recover_interrupted(self._now())
            if recovered:
                log.info("recovered {n} interrupted delivery attempts", n=recovered)
            self._running = True
            self.wake()

        return Deferred.fromCoroutine(run())

    def stop(self) -> Deferred[None]:
        """Start no more attempts; fire once in-flight attempts are recorded."""
        self._running = False
        self._cancel_timer()
        if not self._evaluating and not self._inflight:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._idle_waiters.append(waiter)
        return waiter

    def submit(self, message: NewMessage) -> Deferred[list[QueuedMessage]]:
        """Queue a message (one record per recipient) and wake the loop for it."""

        async def run() -> list[QueuedMessage]:
            queued: list[QueuedMessage] = await self._store.enqueue(message, self._now())
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
        """Run one attempt; False if it could not even start (store error)."""
        start_s = self._clock.seconds()
        start = _datetime(start_s)
        jitter = self._random.uniform(-MAX_JITTER, MAX_JITTER)
        # spec §4.4: the next attempt is set when an attempt starts, so a crash retries.
        next_attempt = start + retry_delay(message.attempts, jitter)
        try:
            started = await self._store.start_attempt(message.id, start, next_attempt)
        except Exception:
            log.failure("could not start attempt for message {id}", id=message.id)
            self._pause()
            return False
        result = await self._run_transport(started)
        duration = max(0.0, self._clock.seconds() - start_s)
        outcome = self._decide_outcome(started, result, start, duration, next_attempt)
        await self._record(started, outcome)
        return True

    async def _run_transport(self, message: QueuedMessage) -> DeliveryResult:
        try:
            data = await self._store.message_data(message.data_id)
        except Exception as e:
            log.failure("could not read data of message {id}", id=message.id)
            return DeliveryResult.temporary_failure(f"reading message data: {e}")
        delivery = maybeDeferred(self._transport.deliver, message, data)
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
            return DeliveryResult.temporary_failure("delivery canceled")
        except Exception as e:
            log.failure("transport failed for message {id}", id=message.id)
            return DeliveryResult.temporary_failure(f"delivery error: {e!r}")
        finally:
            if timer.active():
                timer.cancel()
        if timed_out:
            # The transport answered after all but too late: its result still counts.
            log.warn("transport answered message {id} after the timeout", id=message.id)
        if not isinstance(result, DeliveryResult):
            log.error("transport returned {r!r}, not a DeliveryResult", r=result)
            return DeliveryResult.temporary_failure("transport returned no DeliveryResult")
        return result

    def _decide_outcome(
        self,
        message: QueuedMessage,
        result: DeliveryResult,
        start: datetime,
        duration: float,
        retry_at: datetime,
    ) -> AttemptOutcome:
        """The one place an attempt's outcome is decided (spec §4.4).

        Later issues add here the deliveries of delay/failure DSNs to the sender
        (they go into ``deliveries`` so they commit with the outcome).
        """
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
        )
        finished = start + timedelta(seconds=duration)
        max_attempts = message.max_attempts or DEFAULT_MAX_ATTEMPTS
        if result.success:
            retire = Retirement(True, "delivered", self._keep_until(message.account, finished))
            return AttemptOutcome(attempt, retire=retire, deliveries=result.deliveries)
        # spec §4.4: permanent failure, or attempts used up -> failed.
        if result.permanent or message.attempts >= max_attempts:
            retire = Retirement(False, "failed", self._keep_until(message.account, finished))
            return AttemptOutcome(attempt, retire=retire, deliveries=result.deliveries)
        return AttemptOutcome(attempt, retry_at=retry_at, deliveries=result.deliveries)

    def _keep_until(self, account: str, finished: datetime) -> datetime | None:
        try:
            period = self._keep_retired_for(account)
        except Exception:
            log.failure("retention period of account {account} unknown", account=account)
            return None
        # spec §4.2: a period of 0 means the retired record is not kept.
        return finished + period if period > timedelta(0) else None

    async def _record(self, message: QueuedMessage, outcome: AttemptOutcome) -> None:
        for attempt in range(FINISH_RETRIES + 1):
            try:
                await self._store.finish_attempt(message.id, outcome)
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
        self._outcome_recorded(message, outcome)

    def _outcome_recorded(self, message: QueuedMessage, outcome: AttemptOutcome) -> None:
        """After the outcome is durable: metrics now, webhooks in a later issue."""
        event = outcome.retire.event if outcome.retire is not None else "delayed"
        self._metrics.delivery(event)
        log.info(
            "message {id} to {rcpt}: {event} (attempt {n}, code {code}) {error}",
            id=message.id,
            rcpt=message.recipient,
            event=event,
            n=message.attempts,
            code=outcome.attempt.code,
            error=outcome.attempt.error,
        )

    def _now(self) -> datetime:
        return _datetime(self._clock.seconds())


def _datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


__all__ = ["FINISH_RETRIES", "QueueScheduler"]
