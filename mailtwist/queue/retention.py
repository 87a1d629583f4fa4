"""The hourly cleanup: expired retired messages (spec §4.2) and stale webapi send records."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Protocol

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

log = Logger()

#: spec §4.2: the first cleanup runs this many seconds after start...
FIRST_CLEANUP_AFTER = 3.0
#: ...and then hourly.
CLEANUP_INTERVAL = 3600.0


class ExpiringStore(Protocol):
    """The store methods the cleanup calls (IStore and IMessageStore)."""

    def delete_expired_retired(self, now: datetime) -> Deferred[int]: ...

    def forget_expired_sends(self, now: datetime) -> Deferred[int]: ...


class ExpiryCleanup(Service):
    """3 s after start, then hourly: deletes retired messages whose keep-until has
    passed, and webapi send counts and idempotency keys that no longer matter.

    Each run is scheduled on the injected clock after the previous one ended, so
    runs never overlap; a failing run is logged and the next one comes as usual.
    Queued messages are never touched (issue 3).
    """

    name = "expiry-cleanup"

    def __init__(
        self,
        store: ExpiringStore,
        clock: IReactorTime,
        *,
        first_after: float = FIRST_CLEANUP_AFTER,
        interval: float = CLEANUP_INTERVAL,
    ) -> None:
        if first_after < 0 or interval <= 0:
            raise ValueError(f"bad cleanup timing: first after {first_after}s, every {interval}s")
        self._store = store
        self._clock = clock
        self._first_after = first_after
        self._interval = interval
        self._call: IDelayedCall | None = None
        self._cleaning = False
        self._stop_waiters: list[Deferred[None]] = []
        self._started = False

    def start(self) -> None:
        """Schedule the first cleanup."""
        if self._started:
            return
        self._started = True
        self._schedule(self._first_after)

    def stop(self) -> Deferred[None]:
        """Cancel the next cleanup; fires once a cleanup in progress has ended."""
        self._started = False
        if self._call is not None and self._call.active():
            self._call.cancel()
        self._call = None
        if not self._cleaning:
            return succeed(None)
        done: Deferred[None] = Deferred()
        self._stop_waiters.append(done)
        return done

    def startService(self) -> None:
        super().startService()
        self.start()

    def stopService(self) -> Deferred[None]:
        super().stopService()
        return self.stop()

    def delete_expired(self) -> Deferred[int]:
        """Delete the expired retired messages now; how many were deleted."""
        now = datetime.fromtimestamp(self._clock.seconds(), tz=UTC)
        deleted: Deferred[int] = self._store.delete_expired_retired(now)
        return deleted

    def forget_expired_sends(self) -> Deferred[int]:
        """Forget stale send counts and expired idempotency keys now; how many rows."""
        now = datetime.fromtimestamp(self._clock.seconds(), tz=UTC)
        forgotten: Deferred[int] = self._store.forget_expired_sends(now)
        return forgotten

    def _schedule(self, delay: float) -> None:
        self._call = self._clock.callLater(delay, self._run)

    def _run(self) -> None:
        self._call = None
        self._cleaning = True
        Deferred.fromCoroutine(self._cleanup())

    async def _cleanup(self) -> None:
        steps = (
            (self.delete_expired, "deleted {n} expired retired messages", "retired messages"),
            (self.forget_expired_sends, "forgot {n} stale send records", "send records"),
        )
        try:
            for step, done, what in steps:
                try:
                    n = await step()
                except Exception:
                    # One failing step does not keep the other from running.
                    log.failure("cleaning up {what} failed", what=what)
                    continue
                if n:
                    log.info(done, n=n)
        finally:
            self._cleaning = False
            if self._started:
                self._schedule(self._interval)
            waiters, self._stop_waiters = self._stop_waiters, []
            for waiter in waiters:
                waiter.callback(None)


__all__ = ["CLEANUP_INTERVAL", "FIRST_CLEANUP_AFTER", "ExpiringStore", "ExpiryCleanup"]
