"""ExpiringCache: store lookups saved for a while, shared, forgotten on demand."""

from __future__ import annotations

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.auth.password import dummy_credentials
from mailtwist.cache import ExpiringCache
from mailtwist.store.records import Credentials


class FakeStore:
    def __init__(self) -> None:
        self.credentials: dict[str, Credentials] = {"a": dummy_credentials("a")}
        self.asked: list[str] = []
        self.held: list[Deferred[Credentials | None]] | None = None

    def fetch(self, account: str) -> Deferred[Credentials | None]:
        self.asked.append(account)
        if self.held is not None:
            d: Deferred[Credentials | None] = Deferred()
            self.held.append(d)
            return d
        return succeed(self.credentials.get(account))


LIFETIME = 10.0


class ExpiringCacheTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.store = FakeStore()
        self.cache: ExpiringCache[str, Credentials | None] = ExpiringCache(
            self.store.fetch, self.clock, LIFETIME
        )

    def test_remembered_for_lifetime(self) -> None:
        """A second lookup within the lifetime asks nothing; after it the store is asked again."""
        first = self.successResultOf(self.cache("a"))
        self.assertIs(self.successResultOf(self.cache("a")), first)
        self.assertEqual(self.store.asked, ["a"])
        self.clock.advance(LIFETIME)
        self.successResultOf(self.cache("a"))
        self.assertEqual(self.store.asked, ["a", "a"])

    def test_unknown_remembered_too(self) -> None:
        """None (an account without credentials) is remembered like any value."""
        self.assertIsNone(self.successResultOf(self.cache("b")))
        self.assertIsNone(self.successResultOf(self.cache("b")))
        self.assertEqual(self.store.asked, ["b"])

    def test_changed_password_after_forget(self) -> None:
        """forget() makes the next lookup see credentials changed in the store."""
        self.successResultOf(self.cache("a"))
        changed = dummy_credentials("a")
        self.store.credentials["a"] = changed
        self.assertIsNot(self.successResultOf(self.cache("a")), changed)
        self.cache.forget()
        self.assertIs(self.successResultOf(self.cache("a")), changed)
        self.cache.forget("a")
        self.assertIs(self.successResultOf(self.cache("a")), changed)
        self.assertEqual(self.store.asked, ["a", "a", "a"])

    def test_concurrent_lookups_share_fetch(self) -> None:
        """Lookups while a fetch is under way wait for it instead of asking again."""
        self.store.held = []
        first, second = self.cache("a"), self.cache("a")
        self.assertEqual(self.store.asked, ["a"])
        self.assertNoResult(first)
        credentials = dummy_credentials("a")
        self.store.held[0].callback(credentials)
        self.assertIs(self.successResultOf(first), credentials)
        self.assertIs(self.successResultOf(second), credentials)

    def test_forget_during_fetch(self) -> None:
        """A fetch that began before forget() answers its waiters but is not remembered."""
        self.store.held = []
        d = self.cache("a")
        self.cache.forget()
        self.store.held[0].callback(dummy_credentials("a"))
        self.successResultOf(d)
        self.cache("a")
        self.assertEqual(self.store.asked, ["a", "a"])

    def test_failure_not_remembered(self) -> None:
        """A store failure reaches every waiter and the next lookup asks again."""
        self.store.held = []
        first, second = self.cache("a"), self.cache("a")
        self.store.held[0].errback(RuntimeError("disk"))
        self.failureResultOf(first, RuntimeError)
        self.failureResultOf(second, RuntimeError)
        self.store.held = None
        self.assertIsNotNone(self.successResultOf(self.cache("a")))
        self.assertEqual(self.store.asked, ["a", "a"])
