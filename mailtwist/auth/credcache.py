"""Account credentials kept in memory for a short while, so basic auth per request stays cheap."""

from __future__ import annotations

from collections.abc import Callable

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure

from mailtwist.store.records import Credentials

#: How long fetched credentials are used without asking the store again. A password
#: changed by another process (the CLI) takes effect at the latest after this; the
#: CLI also wakes the running server, which forgets them at once.
CREDENTIALS_FOR = 10.0


class CredentialsCache:
    """``fetch(account)`` (the store's ``credentials``) remembered for ``lifetime`` seconds.

    HTTP basic auth sends the password with every webapi request: without this each
    request would wait for a store round trip before anything else could happen.
    Concurrent lookups of one account share one fetch; failures are not remembered.
    ``forget()`` drops everything (the server was told the store changed).
    """

    def __init__(
        self,
        fetch: Callable[[str], Deferred[Credentials | None]],
        clock: IReactorTime,
        lifetime: float = CREDENTIALS_FOR,
    ) -> None:
        self._fetch = fetch
        self._clock = clock
        self._lifetime = lifetime
        self._known: dict[str, tuple[float, Credentials | None]] = {}
        self._fetching: dict[str, list[Deferred[Credentials | None]]] = {}
        self._generation = 0

    def __call__(self, account: str) -> Deferred[Credentials | None]:
        known = self._known.get(account)
        if known is not None:
            if known[0] > self._clock.seconds():
                return succeed(known[1])
            del self._known[account]
        waiter: Deferred[Credentials | None] = Deferred()
        waiters = self._fetching.get(account)
        if waiters is not None:
            waiters.append(waiter)
            return waiter
        self._fetching[account] = [waiter]
        generation = self._generation
        self._fetch(account).addBoth(self._fetched, account, generation)
        return waiter

    def _fetched(self, result: Credentials | Failure | None, account: str, generation: int) -> None:
        waiters = self._fetching.pop(account, [])
        if isinstance(result, Failure):
            for waiter in waiters:
                waiter.errback(result)
            return
        if generation == self._generation:
            self._known[account] = (self._clock.seconds() + self._lifetime, result)
        for waiter in waiters:
            waiter.callback(result)

    def forget(self, account: str | None = None) -> None:
        """Fetch again next time: one account's credentials, or all of them."""
        if account is None:
            self._known.clear()
        else:
            self._known.pop(account, None)
        # A fetch already under way may have read the old credentials.
        self._generation += 1
