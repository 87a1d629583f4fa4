"""Tests for the scheduler's delivery feedback: suppression, classification, DSNs, metrics."""

from __future__ import annotations

import email
import email.message
import email.utils
from datetime import timedelta
from typing import Any

from mailtwist.address import Domain
from mailtwist.metrics import RecordingMetrics
from mailtwist.queue.scheduler import QueueScheduler, suppressed_error
from mailtwist.queue.transport import DeliveryResult
from mailtwist.store._interfaces import AttemptOutcome
from mailtwist.store.records import NewMessage, QueuedMessage, StoredMessage, Suppression
from tests.queue.fakes import DELIVERED, ScriptedTransport
from tests.queue.test_scheduler import SchedulerTestCase, at

NO_SUCH_USER = DeliveryResult(
    attempt_code=550,
    secode="1.1",
    reply="550-5.1.1 no such user\n550 5.1.1 see https://example.org/help",
    error="RCPT TO: 550 5.1.1 no such user",
    remote_host="mx.example.org",
    permanent=True,
)
SPAM = DeliveryResult(
    attempt_code=550,
    secode="7.1",
    reply="550 5.7.1 message rejected as spam",
    error="DATA: 550 5.7.1 message rejected as spam",
    remote_host="mx.example.org",
    permanent=True,
)
GREYLISTED = DeliveryResult(
    attempt_code=451,
    secode="7.1",
    reply="451 4.7.1 greylisted, try again later",
    error="RCPT TO: 451 4.7.1 greylisted, try again later",
    remote_host="mx.example.org",
)
BUSY = DeliveryResult(
    attempt_code=451,
    secode="3.0",
    reply="451 4.3.0 temporary local problem",
    error="DATA: 451 4.3.0 temporary local problem",
    remote_host="mx.example.org",
)
#: A recipient failure without an immediate code: suppresses only as the third in a row.
NO_SUCH_USER_554 = DeliveryResult(
    attempt_code=554,
    reply="554 no such user here",
    error="RCPT TO: 554 no such user here",
    remote_host="mx.example.org",
    permanent=True,
)

ORIGINAL = b"Message-ID: <orig@localhost>\r\nSubject: hi\r\n\r\nthe secret body\r\n"


class FakeSigner:
    """A DKIMSigner stand-in: prepends a marker field and records what it signed."""

    def __init__(self, fail: bool = False) -> None:
        self.fail = fail
        self.signed: list[tuple[bytes, Domain]] = []

    def sign(self, message: bytes, domain: Domain) -> bytes:
        assert isinstance(domain, Domain)
        if self.fail:
            raise RuntimeError("no key")
        self.signed.append((message, domain))
        return b"DKIM-Signature: v=1; fake\r\n" + message


class FeedbackTestCase(SchedulerTestCase):
    def make(self, transport: Any = None, **kwargs: object) -> QueueScheduler:
        kwargs.setdefault("make_id", lambda: "fixedid")
        return super().make(transport, **kwargs)

    def send(
        self, scheduler: QueueScheduler, recipient: str, **kwargs: object
    ) -> list[QueuedMessage]:
        kwargs.setdefault("message_id", "<orig@localhost>")
        kwargs.setdefault("data", ORIGINAL)
        options: dict[str, Any] = {
            "account": "mox",
            "sender": "mox@localhost",
            "recipients": (recipient,),
        }
        options.update(kwargs)
        return self.successResultOf(scheduler.submit(NewMessage(**options)))

    def dsns(self) -> list[StoredMessage]:
        inbox = self.successResultOf(self.store.list_messages("mox", "Inbox"))
        return [m for m in inbox if m.dsn]

    def parsed(self, stored: StoredMessage) -> email.message.Message:
        return email.message_from_bytes(
            self.successResultOf(self.store.message_data(stored.data_id))
        )

    def status_fields(self, dsn: email.message.Message) -> email.message.Message:
        [report] = [p for p in dsn.walk() if p.get_content_type() == "message/delivery-status"]
        payload = report.get_payload()
        # The per-recipient block is the last group of fields.
        if isinstance(payload, list):
            last = payload[-1]
            assert isinstance(last, email.message.Message)
            return last
        text = str(payload).strip().replace("\r\n", "\n").split("\n\n")[-1]
        return email.message_from_string(text)

    def suppressions(self) -> list[Suppression]:
        return self.successResultOf(self.store.suppressions("mox"))

    def list_address(self, account: str, base: str) -> None:
        self.successResultOf(self.store.add_suppression(Suppression(account, base, base, True, "")))


class SuppressedRecipientTests(FeedbackTestCase):
    def test_fails_at_once_without_transport(self) -> None:
        """A recipient whose base address is listed fails at its attempt without any
        transport call: code 0, the spec §3.4 error, event suppressed, a failure DSN."""
        self.list_address("mox", "xpermerror@example.org")
        transport = ScriptedTransport()
        scheduler = self.make(transport)
        [queued] = self.send(scheduler, "X.Permerror+tag@example.org")
        self.assertEqual(transport.calls, [])
        self.assertEqual(self.queue(), [])
        [retired] = self.successResultOf(self.store.list_retired())
        self.assertEqual(
            (retired.id, retired.event, retired.success), (queued.id, "suppressed", False)
        )
        [result] = retired.results
        self.assertEqual((result.code, result.permanent), (0, True))
        self.assertEqual(
            result.error,
            "not delivering to recipient address X.Permerror+tag@example.org: "
            "address is on suppression list, permanent",
        )
        self.assertEqual(result.error, suppressed_error("X.Permerror+tag@example.org"))
        self.assertEqual(result.classification, "recipient")
        [dsn] = self.dsns()
        self.assertEqual(self.parsed(dsn)["Subject"], "mail delivery failed")
        self.assertEqual(self.metrics.deliveries, ["suppressed"])
        # Nothing new is listed: the entry was there already.
        self.assertEqual(len(self.suppressions()), 1)

    def test_other_accounts_list_does_not_apply(self) -> None:
        """Suppression lists are per account: another account's entry changes nothing."""
        self.list_address("other", "bob@example.org")
        transport = ScriptedTransport()
        scheduler = self.make(transport)
        self.send(scheduler, "bob@example.org")
        self.assertEqual(len(transport.calls), 1)
        self.assertEqual(self.metrics.deliveries, ["delivered"])

    def test_checked_at_each_attempt(self) -> None:
        """A recipient listed after queueing fails at its next attempt (spec §6.3)."""
        transport = ScriptedTransport(BUSY)
        scheduler = self.make(transport)
        self.send(scheduler, "bob@example.org")
        self.list_address("mox", "bob@example.org")
        self.clock.advance(450)
        self.assertEqual(len(transport.calls), 1)
        self.assertEqual(self.metrics.deliveries, ["delayed", "suppressed"])

    def test_lookup_error_is_temporary(self) -> None:
        """A store error on the suppression lookup is a temporary failure, not a delivery."""
        transport = ScriptedTransport()
        scheduler = self.make(transport)
        self.store.fail_next("suppression", RuntimeError("locked"))
        self.send(scheduler, "bob@example.org")
        self.assertEqual(transport.calls, [])
        [message] = self.queue()
        self.assertEqual(message.results[-1].error, "checking the suppression list: locked")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class ClassificationTests(FeedbackTestCase):
    def test_each_attempt_classified(self) -> None:
        """Failed attempts carry their classification; a success carries ""."""
        transport = ScriptedTransport(GREYLISTED, BUSY, DELIVERED)
        scheduler = self.make(transport)
        self.send(scheduler, "bob@example.org")
        self.clock.advance(450)
        self.clock.advance(900)
        [retired] = self.successResultOf(self.store.list_retired())
        self.assertEqual(
            [r.classification for r in retired.results], ["policy", "infrastructure", ""]
        )


class AutoSuppressionTests(FeedbackTestCase):
    def test_immediate(self) -> None:
        """A 550 5.1.1 suppresses the recipient's base address in the same transaction."""
        scheduler = self.make(ScriptedTransport(NO_SUCH_USER))
        self.send(scheduler, "Bob.Smith+x@example.org")
        [suppression] = self.suppressions()
        self.assertEqual(suppression.base_address, "bobsmith@example.org")
        self.assertEqual(suppression.original_address, "Bob.Smith+x@example.org")
        self.assertFalse(suppression.manual)
        self.assertEqual(
            suppression.reason,
            'delivery failure from queue with smtp code 550, enhanced code "1.1"',
        )
        [retired] = self.successResultOf(self.store.list_retired())
        self.assertEqual(retired.results[0].classification, "recipient")

    def test_policy_rejection_does_not_suppress(self) -> None:
        """A 550 5.7.1 spam rejection fails the message but leaves the recipient alone."""
        scheduler = self.make(ScriptedTransport(SPAM))
        self.send(scheduler, "bob@example.org")
        self.assertEqual(self.suppressions(), [])
        [retired] = self.successResultOf(self.store.list_retired())
        self.assertEqual((retired.event, retired.results[0].classification), ("failed", "policy"))

    def test_three_consecutive_failures(self) -> None:
        """A non-immediate recipient failure suppresses only when the two previous
        retired messages to the same address failed too."""
        scheduler = self.make(
            ScriptedTransport(NO_SUCH_USER_554, NO_SUCH_USER_554, NO_SUCH_USER_554)
        )
        self.send(scheduler, "bob@example.org")
        self.clock.advance(1)
        self.send(scheduler, "bob@example.org")
        self.assertEqual(self.suppressions(), [])
        self.clock.advance(1)
        self.send(scheduler, "bob@example.org")
        [suppression] = self.suppressions()
        self.assertEqual(
            suppression.reason, "delivery failure from queue and three consecutive failures"
        )

    def test_success_breaks_the_run(self) -> None:
        """A delivered message between failures means no suppression."""
        transport = ScriptedTransport(NO_SUCH_USER_554, DELIVERED, NO_SUCH_USER_554)
        scheduler = self.make(transport)
        for _ in range(3):
            self.send(scheduler, "bob@example.org")
            self.clock.advance(1)
        self.assertEqual(self.suppressions(), [])

    def test_not_when_listed_meanwhile(self) -> None:
        """An address listed during the attempt is not proposed again: the outcome's
        suppression (the webhook's "Suppressing") stays None."""
        test = self
        outcomes: list[AttemptOutcome] = []

        class ListingTransport(ScriptedTransport):
            def deliver(self, message: QueuedMessage, data: bytes) -> Any:
                test.list_address("mox", "bob@example.org")
                return super().deliver(message, data)

        scheduler = QueueScheduler(
            store=self.store,
            transport=ListingTransport(NO_SUCH_USER),
            clock=self.clock,
            on_outcome=lambda message, outcome, event, stored, data: outcomes.append(outcome),
        )
        self.successResultOf(scheduler.start())
        self.send(scheduler, "bob@example.org")
        [outcome] = outcomes
        self.assertEqual(outcome.retire.event if outcome.retire else None, "failed")
        self.assertIsNone(outcome.suppression)
        [listed] = self.suppressions()
        self.assertTrue(listed.manual)


class DSNTests(FeedbackTestCase):
    def test_failure_dsn(self) -> None:
        """A permanent failure stores a failure DSN in the sender's Inbox: RFC 3464 report
        with the full SMTP reply, the status with the error as comment, References."""
        scheduler = self.make(ScriptedTransport(NO_SUCH_USER))
        self.send(scheduler, "bob@example.org")
        [stored] = self.dsns()
        self.assertEqual(
            (stored.mail_from, stored.rcpt_to, stored.dsn), ("", "mox@localhost", True)
        )
        raw = self.successResultOf(self.store.message_data(stored.data_id))
        self.assertTrue(
            raw.startswith(
                b"Return-Path: <postmaster@localhost>\r\nDelivered-To: mox@localhost\r\n"
            )
        )
        self.assertNotIn(b"the secret body", raw)
        dsn = self.parsed(stored)
        self.assertEqual(dsn["Subject"], "mail delivery failed")
        self.assertIn("postmaster@localhost", dsn["From"])
        self.assertIn("mox@localhost", dsn["To"])
        self.assertEqual(dsn["References"], "<orig@localhost>")
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        fields = self.status_fields(dsn)
        self.assertEqual(fields["Action"], "failed")
        self.assertEqual(fields["Status"], "5.1.1 (RCPT TO: 550 5.1.1 no such user)")
        self.assertEqual(fields["Final-Recipient"], "rfc822;bob@example.org")
        diagnostic = " ".join(fields["Diagnostic-Code"].split())
        self.assertEqual(
            diagnostic, "smtp; 550-5.1.1 no such user 550 5.1.1 see https://example.org/help"
        )
        self.assertIn("mx.example.org", fields["Remote-MTA"])

    def test_delay_dsn_at_fifth_attempt_only(self) -> None:
        """Temporary failures send one delay DSN, right after the 5th attempt; the final
        failure after the 8th sends a failure DSN."""
        scheduler = self.make(ScriptedTransport(*[BUSY] * 8))
        self.send(scheduler, "bob@example.org")
        waits = [450, 900, 1800, 3600, 7200, 14400, 28800]
        counts = [len(self.dsns())]
        for wait in waits:
            self.clock.advance(wait)
            counts.append(len(self.dsns()))
        self.assertEqual(counts, [0, 0, 0, 0, 1, 1, 1, 2])
        delay, failure = (self.parsed(m) for m in self.dsns())
        self.assertEqual(delay["Subject"], "mail delivery delayed")
        fields = self.status_fields(delay)
        self.assertEqual(fields["Action"], "delayed")
        self.assertEqual(fields["Status"], "4.3.0 (DATA: 451 4.3.0 temporary local problem)")
        # spec §4.7: Will-Retry-Until is the last attempt plus 28 hours.
        last_attempt = at(450 + 900 + 1800 + 3600)
        self.assertEqual(
            email.utils.parsedate_to_datetime(fields["Will-Retry-Until"]),
            last_attempt + timedelta(hours=28),
        )
        self.assertEqual(failure["Subject"], "mail delivery failed")
        self.assertEqual(self.status_fields(failure)["Status"].split()[0], "5.3.0")
        self.assertEqual(self.metrics.deliveries, ["delayed"] * 7 + ["failed"])

    def test_no_dsn_for_null_sender(self) -> None:
        """A message with the null reverse-path gets no DSN (RFC 5321 §4.5.5)."""
        scheduler = self.make(ScriptedTransport(NO_SUCH_USER))
        self.send(scheduler, "bob@example.org", sender="")
        self.assertEqual(self.dsns(), [])
        self.assertEqual(self.metrics.deliveries, ["failed"])

    def test_dsn_setting(self) -> None:
        """dsn_enabled(account, origin) decides: here off for webapi sends, on otherwise."""
        asked: list[tuple[str, str]] = []

        def enabled(account: str, origin: str) -> bool:
            asked.append((account, origin))
            return origin != "webapi"

        scheduler = self.make(ScriptedTransport(NO_SUCH_USER, NO_SUCH_USER), dsn_enabled=enabled)
        self.send(scheduler, "bob@example.org", origin="webapi")
        self.assertEqual(self.dsns(), [])
        self.send(scheduler, "carol@example.org")
        self.assertEqual(len(self.dsns()), 1)
        self.assertEqual(asked, [("mox", "webapi"), ("mox", "submission")])

    def test_signed_for_hostname(self) -> None:
        """With a signer the DSN is DKIM-signed for the hostname's domain, trace fields first."""
        signer = FakeSigner()
        scheduler = self.make(
            ScriptedTransport(NO_SUCH_USER), signer=signer, hostname="mail.example.com"
        )
        self.send(scheduler, "bob@example.org")
        [stored] = self.dsns()
        raw = self.successResultOf(self.store.message_data(stored.data_id))
        self.assertTrue(
            raw.startswith(
                b"Return-Path: <postmaster@mail.example.com>\r\n"
                b"Delivered-To: mox@localhost\r\n"
                b"DKIM-Signature: v=1; fake\r\n"
            )
        )
        [(signed, domain)] = signer.signed
        self.assertEqual(domain.ascii, "mail.example.com")
        self.assertTrue(signed.startswith(b"From: "))

    def test_signing_failure_stores_unsigned(self) -> None:
        """A signing error is logged and the DSN stored unsigned: never lost."""
        scheduler = self.make(ScriptedTransport(NO_SUCH_USER), signer=FakeSigner(fail=True))
        self.send(scheduler, "bob@example.org")
        [stored] = self.dsns()
        raw = self.successResultOf(self.store.message_data(stored.data_id))
        self.assertNotIn(b"DKIM-Signature", raw)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_compose_failure_keeps_outcome(self) -> None:
        """A DSN that cannot be composed is logged; the outcome is recorded all the same."""

        def broken(**arguments: object) -> bytes:
            raise RuntimeError("compose broke")

        scheduler = self.make(ScriptedTransport(NO_SUCH_USER), compose_dsn=broken)
        self.send(scheduler, "bob@example.org")
        self.assertEqual(self.dsns(), [])
        self.assertEqual(self.successResultOf(self.store.list_retired())[0].event, "failed")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class HookAndMetricsTests(FeedbackTestCase):
    def test_outcome_hook_events(self) -> None:
        """on_outcome hears once per durable outcome, with its event, the mailbox
        messages it stored (here: the DSNs to the sender) and the message data."""
        seen: list[tuple[int, str, bool, list[bool]]] = []

        def on_outcome(
            message: QueuedMessage, outcome: AttemptOutcome, event: str, stored: Any, data: bytes
        ) -> None:
            self.assertEqual(data, ORIGINAL)
            seen.append(
                (message.id, event, outcome.suppression is not None, [m.dsn for m in stored])
            )

        self.list_address("mox", "listed@example.org")
        scheduler = QueueScheduler(
            store=self.store,
            transport=ScriptedTransport(DELIVERED, BUSY, NO_SUCH_USER),
            clock=self.clock,
            keep_retired_for=lambda account: timedelta(days=1),
            on_outcome=on_outcome,
        )
        self.successResultOf(scheduler.start())
        a, b, c = (self.send(scheduler, r)[0] for r in ("a@x.org", "b@x.org", "c@x.org"))
        [d] = self.send(scheduler, "listed@example.org")
        self.assertEqual(
            seen,
            [
                (a.id, "delivered", False, []),
                (b.id, "delayed", False, []),
                (c.id, "failed", True, [True]),
                (d.id, "suppressed", False, [True]),
            ],
        )

    def test_queue_size(self) -> None:
        """queue_size is the store's count at start, then follows enqueues and retirements;
        queue_changed() counts again."""
        early = NewMessage(
            account="mox",
            sender="mox@localhost",
            recipients=("early@x.org",),
            data=b"x",
            next_attempt=at(1000),
        )
        self.successResultOf(self.store.enqueue(early, at(0)))
        metrics = RecordingMetrics()
        transport = ScriptedTransport("pending", BUSY)
        scheduler = self.make(transport, metrics=metrics)
        self.send(scheduler, "a@x.org")
        self.send(scheduler, "b@x.org")
        transport.waiting[0].callback(DELIVERED)
        scheduler.queue_changed()

        sizes = [call[1] for call in metrics.calls if call[0] == "queue_size"]
        self.assertEqual(sizes, [1, 2, 3, 2, 2])
