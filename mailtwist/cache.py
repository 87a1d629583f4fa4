"""Store lookups kept in memory for a short while, for values read far more often than changed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from twisted.internet.defer import Deferred, maybeDeferred, succeed
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
        #: The waiters of the fetch under way per key; forget() detaches it, so a
        #: lookup after forget() starts a fetch of its own.
        self._fetching: dict[K, list[Deferred[V]]] = {}

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
        waiters = self._fetching[key] = [waiter]
        # The fetch may answer at once (a store that runs inline): the waiter is in.
        maybeDeferred(self._fetch, key).addBoth(self._fetched, key, waiters)
        return waiter

    def _fetched(self, result: V | Failure, key: K, waiters: list[Deferred[V]]) -> None:
        # A fetch detached by forget() answers those who asked before, unremembered.
        current = self._fetching.get(key) is waiters
        if current:
            del self._fetching[key]
        if isinstance(result, Failure):
            for waiter in waiters:
                waiter.errback(result)
            return
        if current:
            self._known[key] = (self._clock.seconds() + self._lifetime, result)
        for waiter in waiters:
            waiter.callback(result)

    def forget(self, key: K | None = None) -> None:
        """Fetch again next time: one key's value, or all of them."""
        if key is None:
            self._known.clear()
            self._fetching.clear()
        else:
            self._known.pop(key, None)
            self._fetching.pop(key, None)
