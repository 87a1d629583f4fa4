"""Tests for the queue scheduler, on a Clock with the in-memory store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.metrics import NullMetrics
from mailtwist.queue.localdelivery import LocalDeliveryTransport
from mailtwist.queue.scheduler import FINISH_RETRIES, STOP_GRACE, QueueScheduler
from mailtwist.queue.transport import DeliveryResult, ITransport
from mailtwist.store.records import (
    DEFAULT_MAILBOXES,
    DELIVERING,
    MessageFilter,
    NewMessage,
    QueuedMessage,
)
from mailtwist.store.webhooks import NewWebhook, PreparedWebhook, WebhookFilter
from mailtwist.testing.store import INTERRUPTED, MemoryStore
from tests.queue.fakes import DELIVERED, FakeDirectory, FixedJitter, ScriptedTransport

#: Clock time the tests start at (a Clock starts at 0, the epoch: any time works).
T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, tz=UTC)


class RecordingMetrics(NullMetrics):
    def __init__(self) -> None:
        self.deliveries: list[str] = []

    def delivery(self, outcome: str) -> None:
        self.deliveries.append(outcome)


class SchedulerTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.store = MemoryStore(self.clock)
        self.successResultOf(self.store.ensure_account("mox", DEFAULT_MAILBOXES))
        self.successResultOf(self.store.ensure_account("other", DEFAULT_MAILBOXES))
        self.metrics = RecordingMetrics()
        self.jitter = FixedJitter(0.0)

    def make(self, transport: ITransport | None = None, **kwargs: object) -> QueueScheduler:
        if transport is None:
            transport = LocalDeliveryTransport(
                directory=FakeDirectory(
                    {"localhost"}, {"mox@localhost": "mox", "other@localhost": "other"}
                ),
                clock=self.clock,
                hostname="localhost",
            )
        options: dict[str, object] = {
            "store": self.store,
            "transport": transport,
            "clock": self.clock,
            "random": self.jitter,
            "metrics": self.metrics,
            "keep_retired_for": lambda account: timedelta(hours=72),
        }
        options.update(kwargs)
        scheduler = QueueScheduler(**options)  # type: ignore[arg-type]
        self.successResultOf(scheduler.start())
        return scheduler

    def submit(
        self, scheduler: QueueScheduler, *recipients: str, **kwargs: object
    ) -> list[QueuedMessage]:
        message = NewMessage(
            account="mox",
            sender="mox@localhost",
            recipients=recipients,
            data=b"Subject: hi\r\n\r\nhi\r\n",
            **kwargs,  # type: ignore[arg-type]
        )
        return self.successResultOf(scheduler.submit(message))

    def queue(self) -> list[QueuedMessage]:
        return self.successResultOf(self.store.list_queue())

    def timer_times(self) -> list[float]:
        return sorted(call.getTime() - T0 for call in self.clock.getDelayedCalls())


class ScheduleTests(SchedulerTestCase):
    def test_full_temperror_schedule(self) -> None:
        """A temperror recipient is tried after 7m30s, 15m, ... 8h, then fails after attempt 8."""
        scheduler = self.make()
        [queued] = self.submit(scheduler, "x-temperror@example.org")
        waits = [450, 900, 1800, 3600, 7200, 14400, 28800]
        elapsed = 0.0
        for attempt, wait in enumerate(waits, start=1):
            [message] = self.queue()
            self.assertEqual(message.attempts, attempt)
            self.assertEqual(message.next_attempt, at(elapsed + wait))
            # The only delayed call is the wake-up at the next attempt: no polling.
            self.assertEqual(self.timer_times(), [elapsed + wait])
            self.clock.advance(wait - 1)
            self.assertEqual(self.queue()[0].attempts, attempt)
            self.clock.advance(1)
            elapsed += wait
        self.assertEqual(self.queue(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])
        [retired] = self.successResultOf(self.store.list_retired())
        self.assertEqual((retired.id, retired.event, retired.success), (queued.id, "failed", False))
        self.assertEqual(retired.attempts, 8)
        self.assertEqual(len(retired.results), 8)
        starts = [r.start for r in retired.results]
        self.assertEqual(starts, [at(t) for t in (0, 450, 1350, 3150, 6750, 13950, 28350, 57150)])
        for result in retired.results:
            self.assertEqual((result.code, result.secode, result.permanent), (451, "0.0", False))
            self.assertEqual(
                result.error, "DATA: 451 4.0.0 failure with code 451 due to special localpart"
            )
        self.assertEqual(retired.keep_until, at(57150) + timedelta(hours=72))
        self.assertEqual(self.metrics.deliveries, ["delayed"] * 7 + ["failed"])

    def test_jitter(self) -> None:
        """The injected jitter is added to the base delay before doubling."""
        self.jitter.jitter = 5.0
        scheduler = self.make()
        self.submit(scheduler, "x-temperror@example.org")
        self.assertEqual(self.queue()[0].next_attempt, at(455))
        self.clock.advance(455)
        self.assertEqual(self.queue()[0].next_attempt, at(455 + 910))
        self.assertEqual(self.jitter.asked[0], (-5.0, 5.0))

    def test_message_max_attempts(self) -> None:
        """A message's own max_attempts ends it earlier than the default 8."""
        scheduler = self.make()
        self.submit(scheduler, "x-temperror@example.org", max_attempts=2)
        self.clock.advance(450)
        self.assertEqual(self.queue(), [])
        [retired] = self.successResultOf(self.store.list_retired())
        self.assertEqual((retired.event, retired.attempts), ("failed", 2))

    def test_permerror_fails_with_full_reply(self) -> None:
        """A permanent error retires the message as failed with code and full reply recorded."""
        transport = ScriptedTransport(
            DeliveryResult(
                attempt_code=550,
                secode="1.1",
                reply="550-5.1.1 no such user\n550 5.1.1 really",
                error="RCPT TO: 550 5.1.1 no such user",
                remote_host="mx.example.org",
                tls=True,
                permanent=True,
            )
        )
        scheduler = self.make(transport)
        self.submit(scheduler, "nobody@example.org")
        self.assertEqual(self.queue(), [])
        [retired] = self.successResultOf(self.store.list_retired())
        self.assertEqual(retired.event, "failed")
        [result] = retired.results
        self.assertEqual((result.code, result.secode, result.enhanced_code), (550, "1.1", "5.1.1"))
        self.assertEqual(result.reply, "550-5.1.1 no such user\n550 5.1.1 really")
        self.assertEqual(
            (result.remote_host, result.tls, result.permanent), ("mx.example.org", True, True)
        )
        self.assertEqual(self.metrics.deliveries, ["failed"])

    def test_localserve_permerror(self) -> None:
        """Through the localserve transport, permerror fails at once with 550 5.0.0."""
        scheduler = self.make()
        self.submit(scheduler, "rcptto-permerror@localhost")
        [retired] = self.successResultOf(self.store.list_retired())
        self.assertEqual(retired.results[0].code, 550)
        self.assertEqual(retired.results[0].error[:12], "RCPT TO: 550")

    def test_delivered_into_mailbox(self) -> None:
        """Success retires as delivered and stores the message in the recipient's Inbox."""
        scheduler = self.make()
        self.submit(scheduler, "other@localhost")
        [retired] = self.successResultOf(self.store.list_retired())
        self.assertEqual((retired.event, retired.success), ("delivered", True))
        self.assertEqual(retired.results[0].code, 250)
        [stored] = self.successResultOf(self.store.list_messages("other", "Inbox"))
        self.assertEqual(
            self.successResultOf(self.store.message_data(stored.data_id)),
            b"Subject: hi\r\n\r\nhi\r\n",
        )
        self.assertEqual(self.metrics.deliveries, ["delivered"])

    def test_not_kept_when_period_zero(self) -> None:
        """An account retention period of zero keeps no retired record."""
        scheduler = self.make(keep_retired_for=lambda account: timedelta(0))
        self.submit(scheduler, "other@localhost")
        self.assertEqual(self.successResultOf(self.store.list_retired()), [])
        self.assertEqual(self.queue(), [])

    def test_default_keeps_nothing(self) -> None:
        """Without keep_retired_for, retired records are not kept (spec §4.2 default 0)."""
        scheduler = QueueScheduler(
            store=self.store, transport=ScriptedTransport(), clock=self.clock
        )
        self.successResultOf(scheduler.start())
        self.submit(scheduler, "a@example.org")
        self.assertEqual(self.queue(), [])
        self.assertEqual(self.successResultOf(self.store.list_retired()), [])


class SubmitManyTests(SchedulerTestCase):
    def message(self, recipient: str, from_id: str) -> NewMessage:
        return NewMessage(
            account="mox",
            sender=f"mox+{from_id}@localhost",
            recipients=(recipient,),
            data=b"Subject: hi\r\n\r\nhi\r\n",
            from_id=from_id,
        )

    def test_several_messages_queue_together_or_not_at_all(self) -> None:
        """submit() of several messages returns all their records in order and delivers
        them; when one is refused (a reused fromid) none is queued."""
        scheduler = self.make()
        queued = self.successResultOf(
            scheduler.submit(self.message("a@x.example", "f1"), self.message("b@x.example", "f2"))
        )
        self.assertEqual([q.recipient for q in queued], ["a@x.example", "b@x.example"])
        self.assertEqual(self.queue(), [])  # both delivered (into the sender's Inbox)
        self.failureResultOf(
            scheduler.submit(self.message("c@x.example", "f3"), self.message("d@x.example", "f1")),
            ValueError,
        )
        retired = self.successResultOf(self.store.list_retired())
        self.assertEqual(sorted(r.recipient for r in retired), ["a@x.example", "b@x.example"])


class ChangedMeanwhileTests(SchedulerTestCase):
    def test_message_held_after_it_was_found_due_is_not_attempted(self) -> None:
        """A message held between the look for due messages and its attempt's start is
        left alone, without pausing the scheduler for other messages."""
        transport = ScriptedTransport(DELIVERED, DELIVERED)
        scheduler = self.make(transport)
        real_start = self.store.start_attempt

        def hold_first(message_id: int, now: Any, next_attempt: Any) -> Any:
            self.store.start_attempt = real_start  # type: ignore[method-assign]
            self.successResultOf(self.store.set_hold(MessageFilter(ids=(message_id,)), True))
            return real_start(message_id, now, next_attempt)

        self.store.start_attempt = hold_first  # type: ignore[method-assign]
        [held] = self.submit(scheduler, "a@example.org")
        self.assertEqual(transport.calls, [])
        [queued] = self.queue()
        self.assertEqual((queued.id, queued.hold, queued.attempts), (held.id, True, 0))
        self.submit(scheduler, "b@example.org")
        self.assertEqual(len(transport.calls), 1)


class WebhookWithOutcomeTests(SchedulerTestCase):
    def prepared(self, message: QueuedMessage, event: str) -> PreparedWebhook:
        hook = NewWebhook(
            account=message.account,
            url="http://127.0.0.1:9/hook",
            payload=event.encode(),
            submitted=at(0),
            outgoing_event=event,
            queue_msg_id=message.id,
        )
        return PreparedWebhook(hook, at(0), None)

    def test_webhook_committed_with_the_outcome(self) -> None:
        """The outcome's webhook is queued in the outcome's own transaction: it is in the
        store as soon as the outcome is, for delivered and delayed alike."""
        asked: list[tuple[str, bool]] = []

        def prepare(message: QueuedMessage, event: str, attempt: Any, suppressing: bool) -> Any:
            asked.append((event, suppressing))
            return succeed(self.prepared(message, event))

        scheduler = self.make(prepare_webhook=prepare)
        [delivered] = self.submit(scheduler, "a@example.org")
        [delayed] = self.submit(scheduler, "xtemperror@example.org")
        self.assertEqual(asked, [("delivered", False), ("delayed", False)])
        page = self.successResultOf(self.store.webhook_page(WebhookFilter()))
        self.assertEqual(
            sorted((h.queue_msg_id, h.outgoing_event) for h in page.rows),
            [(delivered.id, "delivered"), (delayed.id, "delayed")],
        )

    def test_outcome_recorded_when_the_webhook_cannot_be_prepared(self) -> None:
        """A webhook that cannot be prepared is retried like the store; after the last
        try the outcome is recorded without it, and every failure is logged."""

        def prepare(message: QueuedMessage, event: str, attempt: Any, suppressing: bool) -> Any:
            raise RuntimeError("settings unreadable")

        scheduler = self.make(prepare_webhook=prepare)
        self.submit(scheduler, "a@example.org")
        self.assertEqual(len(self.queue()), 1)  # still retrying
        for _ in range(FINISH_RETRIES):
            self.clock.advance(5.0)
        self.assertEqual(self.queue(), [])
        self.assertEqual(self.successResultOf(self.store.webhook_count()), 0)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), FINISH_RETRIES + 1)

    def test_webhook_prepared_again_after_a_transient_failure(self) -> None:
        """A settings read that fails once does not lose the webhook: the next try
        commits it with the outcome."""
        failures = [RuntimeError("busy")]

        def prepare(message: QueuedMessage, event: str, attempt: Any, suppressing: bool) -> Any:
            if failures:
                raise failures.pop()
            return succeed(self.prepared(message, event))

        scheduler = self.make(prepare_webhook=prepare)
        [queued] = self.submit(scheduler, "a@example.org")
        self.clock.advance(5.0)
        page = self.successResultOf(self.store.webhook_page(WebhookFilter()))
        self.assertEqual([h.queue_msg_id for h in page.rows], [queued.id])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class TimerTests(SchedulerTestCase):
    def test_idle_has_no_timer(self) -> None:
        """With nothing queued the scheduler sets no timer at all."""
        self.make()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_sleeps_until_next_due(self) -> None:
        """A message due later sets one timer for exactly its next attempt."""
        transport = ScriptedTransport()
        scheduler = self.make(transport)
        self.submit(scheduler, "a@example.org", next_attempt=at(100))
        self.assertEqual(transport.calls, [])
        self.assertEqual(self.timer_times(), [100])
        self.clock.advance(99.5)
        self.assertEqual(transport.calls, [])
        self.clock.advance(0.5)
        self.assertEqual(len(transport.calls), 1)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_submit_wakes(self) -> None:
        """Submitting a message due now delivers it at once; the later one keeps its timer."""
        transport = ScriptedTransport()
        scheduler = self.make(transport)
        self.submit(scheduler, "later@example.org", next_attempt=at(100))
        self.submit(scheduler, "now@example.org")
        self.assertEqual([m.recipient for m, _ in transport.calls], ["now@example.org"])
        self.assertEqual(self.timer_times(), [100])

    def test_wake_after_external_change(self) -> None:
        """wake() reevaluates: a message enqueued behind the scheduler's back is picked up."""
        transport = ScriptedTransport()
        scheduler = self.make(transport)
        message = NewMessage(
            account="mox", sender="mox@localhost", recipients=("a@example.org",), data=b"x"
        )
        self.successResultOf(self.store.enqueue(message, at(0)))
        self.assertEqual(transport.calls, [])
        scheduler.wake()
        self.assertEqual(len(transport.calls), 1)

    def test_hold_is_not_picked(self) -> None:
        """A held message gets no attempt and no timer."""
        transport = ScriptedTransport()
        scheduler = self.make(transport)
        self.submit(scheduler, "a@example.org", hold=True)
        self.assertEqual(transport.calls, [])
        self.assertEqual(self.clock.getDelayedCalls(), [])


class ConcurrencyTests(SchedulerTestCase):
    def test_limit_respected(self) -> None:
        """No more than ``concurrency`` attempts run; a finished one makes room for the next."""
        transport = ScriptedTransport(*["pending"] * 5)
        scheduler = self.make(transport, concurrency=2)
        queued = self.submit(scheduler, *(f"r{i}@example.org" for i in range(5)))
        self.assertEqual([m.id for m, _ in transport.calls], [queued[0].id, queued[1].id])
        self.assertEqual(scheduler.in_flight, {queued[0].id, queued[1].id})
        # Only the two attempt timeouts are pending: no wake-up timer while full.
        self.assertEqual(self.timer_times(), [60, 60])
        transport.waiting[0].callback(DELIVERED)
        self.assertEqual(len(transport.calls), 3)
        self.assertEqual(scheduler.in_flight, {queued[1].id, queued[2].id})
        for d in transport.waiting[1:3]:
            d.callback(DELIVERED)
        self.assertEqual(len(transport.calls), 5)
        for d in transport.waiting[3:]:
            d.callback(DELIVERED)
        self.assertEqual(self.queue(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])


class FailureTests(SchedulerTestCase):
    def test_timeout(self) -> None:
        """An attempt without answer is cancelled after attempt_timeout: a temporary failure."""
        scheduler = self.make(attempt_timeout=60.0)
        self.submit(scheduler, "x-timeout@example.org")
        [message] = self.queue()
        self.assertEqual(message.results[-1].error, DELIVERING)
        self.clock.advance(60)
        [message] = self.queue()
        result = message.results[-1]
        self.assertEqual((result.code, result.success, result.permanent), (0, False, False))
        self.assertEqual(result.error, "timeout: no result within 60s")
        self.assertEqual(result.duration, 60.0)
        self.assertEqual(message.next_attempt, at(450))
        self.assertEqual(scheduler.in_flight, frozenset())
        self.assertEqual(self.timer_times(), [450])

    def test_transport_raises(self) -> None:
        """A transport raising, or failing its Deferred, is a temporary failure with code 0."""
        transport = ScriptedTransport("raise", ValueError("no route"))
        scheduler = self.make(transport)
        self.submit(scheduler, "a@example.org", "b@example.org")
        errors = [m.results[-1].error for m in self.queue()]
        self.assertEqual(
            errors,
            [
                "delivery error: RuntimeError('transport exploded')",
                "delivery error: ValueError('no route')",
            ],
        )
        self.assertEqual([m.results[-1].code for m in self.queue()], [0, 0])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError, ValueError)), 2)
        self.assertEqual(self.metrics.deliveries, ["delayed", "delayed"])

    def test_bad_transport_result(self) -> None:
        """A transport answering something other than a DeliveryResult is a temporary failure."""
        transport = ScriptedTransport("nonsense")
        scheduler = self.make(transport)
        self.submit(scheduler, "a@example.org")
        self.assertEqual(self.queue()[0].results[-1].error, "transport returned no DeliveryResult")

    def test_store_error_in_loop(self) -> None:
        """A failing due_messages is logged and retried after store_retry_delay."""
        transport = ScriptedTransport()
        scheduler = self.make(transport, store_retry_delay=5.0)
        self.store.fail_next("due_messages", RuntimeError("database is locked"))
        self.submit(scheduler, "a@example.org")
        self.assertEqual(transport.calls, [])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.timer_times(), [5])
        self.clock.advance(5)
        self.assertEqual(len(transport.calls), 1)
        self.assertEqual(self.queue(), [])

    def test_store_error_on_start_attempt(self) -> None:
        """A failing start_attempt does not spin: the loop pauses, then delivers."""
        transport = ScriptedTransport()
        scheduler = self.make(transport, store_retry_delay=5.0)
        self.store.fail_next("start_attempt", RuntimeError("disk full"))
        self.submit(scheduler, "a@example.org")
        self.assertEqual(transport.calls, [])
        self.assertEqual(self.timer_times(), [5])
        self.clock.advance(5)
        self.assertEqual(len(transport.calls), 1)
        self.assertEqual(self.queue(), [])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_store_error_on_finish(self) -> None:
        """A failing finish_attempt is retried until the outcome is recorded."""
        transport = ScriptedTransport()
        scheduler = self.make(transport, store_retry_delay=5.0)
        self.store.fail_next("finish_attempt", RuntimeError("disk full"))
        self.submit(scheduler, "a@example.org")
        self.assertEqual(len(self.queue()), 1)
        self.clock.advance(5)
        self.assertEqual(self.queue(), [])
        self.assertEqual(self.successResultOf(self.store.list_retired())[0].event, "delivered")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_store_error_on_finish_gives_up(self) -> None:
        """After FINISH_RETRIES failed retries the slot is freed; the message stays queued."""
        transport = ScriptedTransport()
        scheduler = self.make(transport, store_retry_delay=5.0)
        for _ in range(FINISH_RETRIES + 1):
            self.store.fail_next("finish_attempt", RuntimeError("disk full"))
        self.submit(scheduler, "a@example.org")
        self.clock.pump([5.0] * FINISH_RETRIES)
        self.assertEqual(scheduler.in_flight, frozenset())
        [message] = self.queue()
        self.assertEqual(message.results[-1].error, DELIVERING)
        self.assertEqual(self.timer_times(), [450])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), FINISH_RETRIES + 1)

    def test_message_data_error(self) -> None:
        """Unreadable message data is recorded as a temporary failure."""
        transport = ScriptedTransport()
        scheduler = self.make(transport)
        self.store.fail_next("message_data", RuntimeError("gone"))
        self.submit(scheduler, "a@example.org")
        self.assertEqual(transport.calls, [])
        self.assertEqual(self.queue()[0].results[-1].error, "reading message data: gone")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class LifecycleTests(SchedulerTestCase):
    def test_restart_recovery(self) -> None:
        """An attempt interrupted by a restart is marked so and retried at start."""
        message = NewMessage(
            account="mox", sender="mox@localhost", recipients=("other@localhost",), data=b"x"
        )
        [queued] = self.successResultOf(self.store.enqueue(message, at(0)))
        self.successResultOf(self.store.start_attempt(queued.id, at(0), at(450)))
        self.clock.advance(30)
        self.make()
        [retired] = self.successResultOf(self.store.list_retired())
        self.assertEqual(retired.event, "delivered")
        self.assertEqual(retired.attempts, 2)
        self.assertEqual([r.error for r in retired.results], [INTERRUPTED, ""])
        self.assertEqual(retired.results[1].start, at(30))

    def test_start_fails_when_recovery_fails(self) -> None:
        """start() reports a store that cannot recover, and starts no deliveries."""
        scheduler = QueueScheduler(
            store=self.store, transport=ScriptedTransport(), clock=self.clock
        )
        self.store.fail_next("recover_interrupted", RuntimeError("corrupt"))
        self.failureResultOf(scheduler.start(), RuntimeError)
        scheduler.wake()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_waits_for_in_flight(self) -> None:
        """stop() fires only once the running attempt is recorded, and starts no new one."""
        transport = ScriptedTransport("pending")
        scheduler = self.make(transport)
        self.submit(scheduler, "a@example.org", next_attempt=at(0))
        stopped = scheduler.stop()
        self.assertNoResult(stopped)
        self.submit(scheduler, "b@example.org")
        self.assertEqual(len(transport.calls), 1)
        transport.waiting[0].callback(DELIVERED)
        self.successResultOf(stopped)
        self.assertEqual([m.recipient for m in self.queue()], ["b@example.org"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_cancels_a_delivery_that_hangs(self) -> None:
        """A delivery still running STOP_GRACE seconds after stop() is canceled, so a stop
        never waits a whole attempt timeout. It is recorded as interrupted, as after a
        crash: due again at once, and not a failure - even on its last allowed attempt
        it is not failed and no DSN goes out."""
        scheduler = self.make(attempt_timeout=600.0)
        [queued] = self.submit(scheduler, "xtimeout@example.org", max_attempts=1)
        stopped = scheduler.stop()
        self.clock.advance(STOP_GRACE - 1)
        self.assertNoResult(stopped)
        self.clock.advance(1)
        self.successResultOf(stopped)
        [still] = self.queue()
        self.assertEqual(still.id, queued.id)
        self.assertEqual(still.results[-1].error, "delivery canceled: server stopping")
        self.assertFalse(still.results[-1].permanent)
        self.assertEqual(still.next_attempt, still.results[-1].start)
        self.assertEqual(self.successResultOf(self.store.list_messages("mox")), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_stop_idle(self) -> None:
        """stop() of an idle scheduler fires at once and cancels its timer."""
        scheduler = self.make()
        self.submit(scheduler, "a@example.org", next_attempt=at(100))
        self.assertEqual(self.timer_times(), [100])
        self.successResultOf(scheduler.stop())
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_invalid_settings(self) -> None:
        """Nonsensical limits are refused at construction."""
        bad_settings: list[dict[str, Any]] = [
            {"concurrency": 0},
            {"attempt_timeout": 0},
            {"store_retry_delay": -1},
        ]
        for bad in bad_settings:
            with self.assertRaises(ValueError):
                QueueScheduler(
                    store=self.store, transport=ScriptedTransport(), clock=self.clock, **bad
                )
