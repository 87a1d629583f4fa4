"""Tests for the hourly cleanup: its timing on the clock and what it deletes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.queue.retention import ExpiryCleanup
from mailtwist.store._interfaces import AttemptOutcome, Retirement
from mailtwist.store.messages import SEND_HISTORY, IdempotencyRecord
from mailtwist.store.records import DeliveryAttempt, NewMessage
from mailtwist.testing.store import MemoryStore

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, tz=UTC)


class SlowStore:
    """A store whose deletions wait for the test to fire them."""

    def __init__(self) -> None:
        self.pending: list[Deferred[int]] = []

    def delete_expired_retired(self, now: datetime) -> Deferred[int]:
        d: Deferred[int] = Deferred()
        self.pending.append(d)
        return d

    def forget_expired_sends(self, now: datetime) -> Deferred[int]:
        return succeed(0)


class ExpiryCleanupTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.store = MemoryStore(self.clock)

    def retire(self, recipient: str, keep_for: timedelta) -> int:
        """Queue a message and retire it now, kept for ``keep_for``."""
        message = NewMessage(
            account="mox", sender="mox@localhost", recipients=(recipient,), data=b"x"
        )
        now = datetime.fromtimestamp(self.clock.seconds(), tz=UTC)
        [queued] = self.successResultOf(self.store.enqueue(message, now))
        self.successResultOf(self.store.start_attempt(queued.id, now, now + timedelta(hours=1)))
        outcome = AttemptOutcome(
            DeliveryAttempt(start=now, success=True, code=250),
            retire=Retirement(True, "delivered", now + keep_for),
        )
        self.successResultOf(self.store.finish_attempt(queued.id, outcome))
        return queued.id

    def retired_ids(self) -> list[int]:
        return sorted(m.id for m in self.successResultOf(self.store.list_retired()))

    def test_first_run_after_three_seconds_then_hourly(self) -> None:
        """The first cleanup runs 3 s after start, the next ones every hour after it."""
        cleanup = ExpiryCleanup(self.store, self.clock)
        cleanup.start()
        self.assertEqual([c.getTime() - T0 for c in self.clock.getDelayedCalls()], [3.0])
        self.clock.advance(2.999)
        self.assertNotIn("delete_expired_retired", self.store.calls)
        self.clock.advance(0.001)
        self.assertEqual(self.store.calls.count("delete_expired_retired"), 1)
        self.assertEqual([c.getTime() - T0 for c in self.clock.getDelayedCalls()], [3603.0])
        self.clock.advance(3600)
        self.assertEqual(self.store.calls.count("delete_expired_retired"), 2)
        self.successResultOf(cleanup.stop())

    def test_deletes_only_expired(self) -> None:
        """Each run deletes the retired messages whose keep-until has passed, nothing else;
        queued messages are never touched."""
        short = self.retire("a@example.org", timedelta(minutes=30))
        long = self.retire("b@example.org", timedelta(hours=1, minutes=30))
        waiting = NewMessage(
            account="mox", sender="mox@localhost", recipients=("c@example.org",), data=b"x"
        )
        self.successResultOf(self.store.enqueue(waiting, at(0)))
        cleanup = ExpiryCleanup(self.store, self.clock)
        cleanup.start()
        self.clock.advance(3)
        self.assertEqual(self.retired_ids(), [short, long])
        self.clock.advance(3600)
        self.assertEqual(self.retired_ids(), [long])
        self.clock.advance(3600)
        self.assertEqual(self.retired_ids(), [])
        self.assertEqual(len(self.successResultOf(self.store.list_queue())), 1)
        self.successResultOf(cleanup.stop())

    def test_forgets_stale_send_records(self) -> None:
        """Each run also forgets the webapi sends of an account that stopped sending once
        they are older than the kept history, and expired idempotency keys."""
        old = NewMessage(
            account="idle",
            sender="idle@localhost",
            recipients=("a@example.org",),
            data=b"x",
            origin="webapi",
        )
        self.successResultOf(self.store.enqueue(old, at(0) - SEND_HISTORY + timedelta(hours=1)))
        key = IdempotencyRecord("k", "h", b"{}", at(1800))
        self.successResultOf(self.store.remember_idempotent_response("idle", key))
        cleanup = ExpiryCleanup(self.store, self.clock)
        cleanup.start()

        def remembered() -> tuple[int, bool]:
            # Asked as of the start, so only deletion (not expiry) can hide them.
            counts = self.successResultOf(
                self.store.webapi_send_counts("idle", [], at(0) - SEND_HISTORY)
            )
            key = self.successResultOf(self.store.idempotent_response("idle", "k", at(0)))
            return counts.messages, key is not None

        self.clock.advance(3)
        self.assertEqual(self.store.calls.count("forget_expired_sends"), 1)
        self.assertEqual(remembered(), (1, True))
        self.clock.advance(3600)
        self.assertEqual(remembered(), (0, False))
        self.successResultOf(cleanup.stop())

    def test_failing_step_does_not_stop_the_other(self) -> None:
        """When deleting retired messages fails, stale send records are still forgotten
        in the same run, and the error is logged."""
        self.store.fail_next("delete_expired_retired", RuntimeError("locked"))
        cleanup = ExpiryCleanup(self.store, self.clock)
        cleanup.start()
        self.clock.advance(3)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.store.calls.count("forget_expired_sends"), 1)
        self.successResultOf(cleanup.stop())

    def test_store_error_keeps_schedule(self) -> None:
        """A failing run is logged and the next one is still scheduled an hour later."""
        self.store.fail_next("delete_expired_retired", RuntimeError("locked"))
        cleanup = ExpiryCleanup(self.store, self.clock)
        cleanup.start()
        self.clock.advance(3)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual([c.getTime() - T0 for c in self.clock.getDelayedCalls()], [3603.0])
        self.successResultOf(cleanup.stop())

    def test_stop_cancels(self) -> None:
        """stop() leaves no timer behind, and start() after it schedules afresh."""
        cleanup = ExpiryCleanup(self.store, self.clock)
        cleanup.start()
        self.successResultOf(cleanup.stop())
        self.assertEqual(self.clock.getDelayedCalls(), [])
        cleanup.start()
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.successResultOf(cleanup.stop())

    def test_stop_waits_for_running_cleanup(self) -> None:
        """stop() during a deletion fires when it ends, and nothing is scheduled after."""
        store: Any = SlowStore()
        cleanup = ExpiryCleanup(store, self.clock)
        cleanup.start()
        self.clock.advance(3)
        stopped = cleanup.stop()
        self.assertNoResult(stopped)
        store.pending[0].callback(4)
        self.successResultOf(stopped)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_as_service(self) -> None:
        """As a twisted Service it starts and stops with its parent."""
        cleanup = ExpiryCleanup(self.store, self.clock)
        cleanup.startService()
        self.assertTrue(cleanup.running)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.successResultOf(cleanup.stopService())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_delete_expired_now(self) -> None:
        """delete_expired() deletes at once and answers how many went."""
        self.retire("a@example.org", timedelta(seconds=10))
        self.clock.advance(11)
        cleanup = ExpiryCleanup(self.store, self.clock)
        self.assertEqual(self.successResultOf(cleanup.delete_expired()), 1)

    def test_bad_timing(self) -> None:
        """A negative first delay or a non-positive interval is refused."""
        self.assertRaises(ValueError, ExpiryCleanup, self.store, self.clock, interval=0)
        self.assertRaises(ValueError, ExpiryCleanup, self.store, self.clock, first_after=-1)
