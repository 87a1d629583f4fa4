"""Retention of retired messages: the cleanup that deletes expired ones (spec §4.2)."""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.application.service import Service
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger

from mailtwist.store._interfaces import IStore

log = Logger()

#: spec §4.2: the first cleanup runs this many seconds after start...
FIRST_CLEANUP_AFTER = 3.0
#: ...and then hourly.
CLEANUP_INTERVAL = 3600.0


class RetiredCleanup(Service):
    """Deletes retired messages whose keep-until has passed, 3 s after start, then hourly.

    Each run is scheduled on the injected clock after the previous one ended, so
    runs never overlap; a failing run is logged and the next one comes as usual.
    Queued messages are never touched (issue 3).
    """

    name = "retired-cleanup"

    def __init__(
        self,
        store: IStore,
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

    def _schedule(self, delay: float) -> None:
        self._call = self._clock.callLater(delay, self._run)

    def _run(self) -> None:
        self._call = None
        self._cleaning = True
        Deferred.fromCoroutine(self._cleanup())

    async def _cleanup(self) -> int:
        deleted = 0
        try:
            deleted = await self.delete_expired()
            if deleted:
                log.info("deleted {n} expired retired messages", n=deleted)
        except Exception:
            log.failure("deleting expired retired messages failed")
        finally:
            self._cleaning = False
            if self._started:
                self._schedule(self._interval)
            waiters, self._stop_waiters = self._stop_waiters, []
            for waiter in waiters:
                waiter.callback(None)
        return deleted


__all__ = ["CLEANUP_INTERVAL", "FIRST_CLEANUP_AFTER", "RetiredCleanup"]
