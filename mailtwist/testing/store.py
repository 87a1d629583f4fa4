"""MemoryStore: the real SQLite store on an in-memory database, run inline for tests."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import Clock

from mailtwist.store import INTERRUPTED, DatabaseClosed, IStore, SQLiteStore
from mailtwist.store.messages import IMessageStore
from mailtwist.store.webhooks import IWebhookStore


class MemoryStore(SQLiteStore):
    """SQLiteStore on ``":memory:"`` with its jobs run inline: no thread, no file.

    Every answer is an already-fired Deferred, and it is the same SQL as in
    production, so a test cannot pass against behaviour the real store lacks.
    ``clock`` gives the store's own time (mailbox deliveries, new suppressions).
    It is migrated at construction, so it is usable at once; ``start()`` is then
    a no-op. Test knobs: ``fail_next(method, error)`` makes the next call of a
    store method (IStore, IMessageStore, IWebhookStore) fail without touching the
    database; ``calls`` lists the store methods called, in order.
    """

    def __init__(self, clock: IReactorTime | None = None) -> None:
        super().__init__(":memory:", reactor=clock if clock is not None else Clock(), inline=True)
        self._failures: dict[str, list[BaseException]] = {}
        self._opened = False
        self._closed = False
        #: Names of the IStore methods called, in order, for tests that assert on traffic.
        self.calls: list[str] = []
        migrated = super().start()
        # Inline: already fired; a failure to migrate is a bug worth raising here.
        migrated.addErrback(lambda failure: failure.raiseException())
        self._opened = True

    # -- test knobs

    def fail_next(self, method: str, error: BaseException) -> None:
        """Make the next call of ``method`` errback with ``error`` (and change nothing)."""
        if method not in IStore.names():
            raise ValueError(f"IStore has no method {method!r}")
        self._failures.setdefault(method, []).append(error)

    def _planned_failure(self, method: str) -> BaseException | None:
        self.calls.append(method)
        pending = self._failures.get(method)
        return pending.pop(0) if pending else None

    # -- lifecycle

    def start(self) -> Deferred[None]:
        planned = self._planned_failure("start")
        if planned is not None:
            return fail(planned)
        if self._closed:
            # The in-memory database went with close(): there is nothing to reopen.
            return fail(DatabaseClosed("a closed MemoryStore cannot be started again"))
        return succeed(None)

    def close(self) -> Deferred[None]:
        planned = self._planned_failure("close")
        if planned is not None:
            return fail(planned)
        self._closed = True
        return super().close()


def _recorded(name: str) -> Callable[..., Deferred[Any]]:
    """The store method ``name`` of SQLiteStore, recorded in ``calls`` and failable."""
    real = getattr(SQLiteStore, name)

    @functools.wraps(real)
    def method(self: MemoryStore, *args: Any, **kwargs: Any) -> Deferred[Any]:
        planned = self._planned_failure(name)
        if planned is not None:
            return fail(planned)
        result: Deferred[Any] = real(self, *args, **kwargs)
        return result

    return method


# Every store method goes through the knobs.
for _name in sorted({*IStore.names(), *IMessageStore.names(), *IWebhookStore.names()}):
    if _name not in ("start", "close"):
        setattr(MemoryStore, _name, _recorded(_name))
del _name


__all__ = ["INTERRUPTED", "MemoryStore"]
