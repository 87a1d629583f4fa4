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
        """A fetch under way when forget() runs answers those who asked before it but is
        not remembered; a lookup after forget() starts its own fetch and sees the new
        value."""
        self.store.held = []
        before = self.cache("a")
        self.cache.forget()
        after = self.cache("a")
        self.assertEqual(self.store.asked, ["a", "a"])
        old, new = dummy_credentials("a"), dummy_credentials("a")
        self.store.held[1].callback(new)
        self.store.held[0].callback(old)
        self.assertIs(self.successResultOf(before), old)
        self.assertIs(self.successResultOf(after), new)
        self.store.held = None
        self.assertIs(self.successResultOf(self.cache("a")), new)
        self.assertEqual(self.store.asked, ["a", "a"])

    def test_forget_one_key_keeps_others(self) -> None:
        """forget(key) leaves the other keys, and their fetches under way, alone."""
        self.store.credentials["b"] = dummy_credentials("b")
        self.successResultOf(self.cache("a"))
        self.store.held = []
        pending_b = self.cache("b")
        self.cache.forget("a")
        self.store.held[0].callback(self.store.credentials["b"])
        self.successResultOf(pending_b)
        self.store.held = None
        self.successResultOf(self.cache("b"))
        self.successResultOf(self.cache("a"))
        self.assertEqual(self.store.asked, ["a", "b", "a"])

    def test_fetch_raising_does_not_hang(self) -> None:
        """A fetch that raises instead of returning a Deferred fails that lookup only."""

        def broken(account: str) -> Deferred[Credentials | None]:
            raise RuntimeError("closed")

        cache: ExpiringCache[str, Credentials | None] = ExpiringCache(broken, self.clock, 1.0)
        self.failureResultOf(cache("a"), RuntimeError)
        self.failureResultOf(cache("a"), RuntimeError)

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
