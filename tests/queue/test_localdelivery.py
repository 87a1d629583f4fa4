"""Tests for the localserve transport: where mail lands and the special localparts."""

from __future__ import annotations

from datetime import UTC, datetime

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from mailtwist.queue.localdelivery import LocalDeliveryTransport, special_failure
from mailtwist.queue.transport import DeliveryResult, ITransport
from mailtwist.store.records import MailboxDelivery, QueuedMessage
from tests.queue.fakes import FakeDirectory

EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def queued(recipient: str, sender: str = "mox@localhost", account: str = "mox") -> QueuedMessage:
    return QueuedMessage(
        id=1,
        base_id=0,
        queued=EPOCH,
        hold=False,
        account=account,
        sender=sender,
        recipient=recipient,
        recipient_domain=recipient.rpartition("@")[2],
        message_id="<m@localhost>",
        subject="hi",
        size=4,
        next_attempt=EPOCH,
        last_attempt=EPOCH,
        attempts=1,
        max_attempts=0,
        results=(),
        data_id=1,
    )


class LocalDeliveryTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.directory = FakeDirectory(
            {"localhost"}, {"mox@localhost": "mox", "other@localhost": "other"}
        )
        self.transport = LocalDeliveryTransport(
            directory=self.directory, clock=self.clock, hostname="localhost"
        )

    def result(self, recipient: str, sender: str = "mox@localhost") -> DeliveryResult:
        d = self.transport.deliver(queued(recipient, sender), b"data")
        result = self.successResultOf(d)
        self.assertIsInstance(result, DeliveryResult)
        return result

    def test_interface(self) -> None:
        """The transport provides ITransport."""
        self.assertTrue(verifyObject(ITransport, self.transport))

    def test_own_account(self) -> None:
        """Mail to the sender's own address lands in the sender account's Inbox, as incoming
        mail whose webhooks must hear of it (notify)."""
        result = self.result("mox@localhost")
        self.assertTrue(result.success)
        self.assertEqual(result.attempt_code, 250)
        self.assertEqual(result.remote_host, "localhost")
        self.assertTrue(result.reply.startswith("250 2.0.0 "))
        self.assertEqual(
            result.deliveries,
            (
                MailboxDelivery(
                    "mox", "Inbox", mail_from="mox@localhost", rcpt_to="mox@localhost", notify=True
                ),
            ),
        )

    def test_other_local_account(self) -> None:
        """Mail to another local account lands in that account's Inbox, case-insensitively."""
        result = self.result("Other@LOCALHOST")
        self.assertEqual(result.deliveries[0].account, "other")
        self.assertEqual(result.deliveries[0].mailbox, "Inbox")
        self.assertEqual(result.deliveries[0].rcpt_to, "Other@LOCALHOST")
        self.assertIsNone(result.deliveries[0].data)

    def test_external_domain_goes_to_sender(self) -> None:
        """Mail to a non-local domain lands in the sender account's Inbox."""
        result = self.result("someone@example.org")
        self.assertTrue(result.success)
        self.assertEqual(result.deliveries[0].account, "mox")

    def test_unknown_local_address_goes_to_sender(self) -> None:
        """An address of a local domain without account falls back to the sender account."""
        self.assertEqual(self.result("nobody@localhost").deliveries[0].account, "mox")

    def test_temperror(self) -> None:
        """A localpart ending in temperror fails temporarily with 451 4.0.0 at DATA."""
        result = self.result("x-temperror@example.org")
        self.assertFalse(result.success)
        self.assertFalse(result.permanent)
        self.assertEqual(result.attempt_code, 451)
        self.assertEqual(result.secode, "0.0")
        self.assertEqual(result.reply, "451 4.0.0 failure with code 451 due to special localpart")
        self.assertEqual(result.error, "DATA: " + result.reply)
        self.assertEqual(result.deliveries, ())

    def test_permerror(self) -> None:
        """A localpart ending in permerror fails permanently with 550 5.0.0."""
        result = self.result("permerror@localhost")
        self.assertTrue(result.permanent)
        self.assertEqual(result.attempt_code, 550)
        self.assertEqual(result.reply, "550 5.0.0 failure with code 550 due to special localpart")

    def test_three_digit_codes(self) -> None:
        """Three final digits from 400 to 599 give that code; others are no failure."""
        self.assertEqual(self.result("a421@x.example").attempt_code, 421)
        self.assertEqual(self.result("a599@x.example").attempt_code, 599)
        self.assertTrue(self.result("a599@x.example").permanent)
        self.assertEqual(self.result("a554@x.example").reply[:10], "554 5.0.0 ")
        self.assertTrue(self.result("a399@x.example").success)
        self.assertTrue(self.result("a600@x.example").success)
        self.assertTrue(self.result("a1@x.example").success)

    def test_suffix_order(self) -> None:
        """Only the suffix counts, and temperror is checked before the others."""
        self.assertEqual(self.result("permerror-temperror@x.example").attempt_code, 451)
        self.assertEqual(self.result("temperror-550@x.example").attempt_code, 550)
        self.assertTrue(self.result("temperror-x@x.example").success)

    def test_stage_prefixes(self) -> None:
        """Prefix mailfrom fails at MAIL FROM, rcptto at RCPT TO, anything else at DATA."""
        self.assertTrue(
            self.result("mailfrom-permerror@x.example").error.startswith("MAIL FROM: 550")
        )
        self.assertTrue(self.result("rcptto-temperror@x.example").error.startswith("RCPT TO: 451"))
        self.assertTrue(self.result("other-temperror@x.example").error.startswith("DATA: 451"))

    def test_sender_localpart(self) -> None:
        """A sender localpart with the mailfrom prefix fails at MAIL FROM; without, it is normal."""
        result = self.result("mox@localhost", sender="mailfrom-temperror@localhost")
        self.assertEqual(result.error[:14], "MAIL FROM: 451")
        self.assertTrue(self.result("mox@localhost", sender="x-permerror@localhost").success)
        self.assertTrue(self.result("mox@localhost", sender="").success)

    def test_timeout_is_cancellable(self) -> None:
        """A timeout localpart never answers by itself within the attempt; cancel ends it."""
        d = self.transport.deliver(queued("x-timeout@x.example"), b"data")
        self.assertNoResult(d)
        self.clock.advance(60)
        self.assertNoResult(d)
        d.cancel()
        self.failureResultOf(d, CancelledError)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_timeout_answers_after_an_hour(self) -> None:
        """Uncancelled, a timeout localpart answers 451 after an hour (spec §9.3)."""
        d: Deferred[DeliveryResult] = self.transport.deliver(
            queued("rcptto-timeout@x.example"), b"data"
        )
        self.clock.advance(3599)
        self.assertNoResult(d)
        self.clock.advance(1)
        result = self.successResultOf(d)
        self.assertEqual(result.attempt_code, 451)
        self.assertTrue(result.error.startswith("RCPT TO: 451 4.0.0"))

    def test_bad_recipient_address(self) -> None:
        """An unparseable recipient is a permanent 501 5.1.3, not a traceback."""
        result = self.result("no at sign")
        self.assertTrue(result.permanent)
        self.assertEqual((result.attempt_code, result.secode), (501, "1.3"))


class SpecialFailureTests(SynchronousTestCase):
    def test_normal(self) -> None:
        """Ordinary localparts ask for nothing."""
        self.assertIsNone(special_failure("mjl"))
        self.assertIsNone(special_failure("mailfrom"))

    def test_case_insensitive(self) -> None:
        """Suffix and prefix match in any case."""
        failure = special_failure("RcptTo-PermError")
        assert failure is not None
        self.assertEqual((failure.stage, failure.code), ("RCPT TO", 550))

    def test_timeout_has_no_code(self) -> None:
        """timeout asks for no answer at all."""
        failure = special_failure("timeout")
        assert failure is not None
        self.assertIsNone(failure.code)


class ProductionLocalDeliveryTests(SynchronousTestCase):
    """Without simulation only local accounts receive; nothing else is faked."""

    def setUp(self) -> None:
        self.transport = LocalDeliveryTransport(
            directory=FakeDirectory({"localhost"}, {"mox@localhost": "mox"}),
            clock=Clock(),
            hostname="localhost",
            simulate=False,
        )

    def result(self, recipient: str) -> DeliveryResult:
        return self.successResultOf(self.transport.deliver(queued(recipient), b"data"))

    def test_local_account_is_delivered(self) -> None:
        """A recipient with a local account gets the message in its Inbox."""
        result = self.result("mox@localhost")
        self.assertTrue(result.success)
        self.assertEqual(result.deliveries[0].account, "mox")

    def test_special_localparts_are_ordinary(self) -> None:
        """A localpart like xpermerror fails no delivery in production: it is just an address."""
        result = self.result("xpermerror@example.org")
        self.assertEqual(result.attempt_code, 0)
        self.assertNotIn("special localpart", result.error)

    def test_remote_recipient_waits_in_the_queue(self) -> None:
        """A remote recipient is a temporary failure naming the missing route, never a
        delivery into the sender's mailbox."""
        result = self.result("someone@example.org")
        self.assertFalse(result.success)
        self.assertFalse(result.permanent)
        self.assertEqual(result.deliveries, ())
        self.assertIn("no route to example.org", result.error)
