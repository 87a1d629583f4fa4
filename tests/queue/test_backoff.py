"""Tests for the retry schedule and the DeliveryResult record."""

from __future__ import annotations

from datetime import timedelta

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.queue.backoff import DEFAULT_MAX_ATTEMPTS, retry_delay
from mailtwist.queue.transport import DeliveryResult
from mailtwist.store.records import MailboxDelivery


class RetryDelayTests(SynchronousTestCase):
    def test_table(self) -> None:
        """Without jitter the waits are the spec §4.4 table: 7m30s doubling to 8h."""
        waits = [retry_delay(n, 0.0) for n in range(7)]
        self.assertEqual(
            waits,
            [
                timedelta(minutes=7, seconds=30),
                timedelta(minutes=15),
                timedelta(minutes=30),
                timedelta(hours=1),
                timedelta(hours=2),
                timedelta(hours=4),
                timedelta(hours=8),
            ],
        )
        self.assertEqual(DEFAULT_MAX_ATTEMPTS, 8)

    def test_jitter_doubles_too(self) -> None:
        """Jitter is added to 7m30s before doubling."""
        self.assertEqual(retry_delay(0, 5.0), timedelta(seconds=455))
        self.assertEqual(retry_delay(2, -5.0), timedelta(seconds=445 * 4))

    def test_bad_input(self) -> None:
        """Jitter beyond ±5s and negative attempt counts are refused."""
        self.assertRaises(ValueError, retry_delay, 0, 5.1)
        self.assertRaises(ValueError, retry_delay, 0, -5.1)
        self.assertRaises(ValueError, retry_delay, -1, 0.0)


class DeliveryResultTests(SynchronousTestCase):
    def test_valid(self) -> None:
        """A result keeps its fields and turns deliveries into a tuple."""
        delivery = MailboxDelivery("mox", "Inbox")
        result = DeliveryResult(attempt_code=250, success=True, deliveries=[delivery])  # type: ignore[arg-type]
        self.assertEqual(result.deliveries, (delivery,))

    def test_temporary_failure(self) -> None:
        """temporary_failure is code 0, not permanent, not a success."""
        result = DeliveryResult.temporary_failure("connection refused", "mx.example")
        self.assertEqual(
            (result.attempt_code, result.permanent, result.success, result.remote_host),
            (0, False, False, "mx.example"),
        )

    def test_invalid(self) -> None:
        """Impossible combinations are refused at construction."""
        self.assertRaises(ValueError, DeliveryResult, attempt_code=199)
        self.assertRaises(ValueError, DeliveryResult, attempt_code=600)
        self.assertRaises(ValueError, DeliveryResult, secode="5.1.1")
        self.assertRaises(ValueError, DeliveryResult, success=True, permanent=True)
        self.assertRaises(ValueError, DeliveryResult, success=True, attempt_code=451)
