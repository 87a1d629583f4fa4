"""Store lookups kept in memory for a short while, for values read far more often than changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

K = TypeVar("K")
V = TypeVar("V")


class ExpiringCache(Generic[K, V]):
    """``fetch(key)`` (a store lookup) remembered for ``lifetime`` seconds.

    For values consulted on every request or message (credentials for HTTP basic
    auth, an account's webhook settings): without it each use waits for a store
    round trip behind the group-committed write batches. Concurrent lookups of one
    key share one fetch; failures are not remembered. ``forget()`` drops a key or
    everything: the owner calls it when it learns the store changed (its own
    writes, or the CLI waking the server); a change it does not learn of is seen
    after ``lifetime`` at the latest.
    """

    def __init__(
        self, fetch: Callable[[K], Deferred[V]], clock: IReactorTime, lifetime: float
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lifetime = lifetime
        self._known: dict[K, tuple[float, V]] = {}
        self._fetching: dict[K, list[Deferred[V]]] = {}
        self._generation = 0

    def __call__(self, key: K) -> Deferred[V]:
        known = self._known.get(key)
        if known is not None:
            if known[0] > self._clock.seconds():
                return succeed(known[1])
            del self._known[key]
        waiter: Deferred[V] = Deferred()
        waiters = self._fetching.get(key)
        if waiters is not None:
            waiters.append(waiter)
            return waiter
        self._fetching[key] = [waiter]
        self._fetch(key).addBoth(self._fetched, key, self._generation)
        return waiter

    def _fetched(self, result: V | Failure, key: K, generation: int) -> None:
        waiters = self._fetching.pop(key, [])
        if isinstance(result, Failure):
            for waiter in waiters:
                waiter.errback(result)
            return
        if generation == self._generation:
            self._known[key] = (self._clock.seconds() + self._lifetime, result)
        for waiter in waiters:
            waiter.callback(result)

    def forget(self, key: K | None = None) -> None:
        """Fetch again next time: one key's value, or all of them."""
        if key is None:
            self._known.clear()
        else:
            self._known.pop(key, None)
        # A fetch already under way may have read the old value: answer, not remember.
        self._generation += 1
