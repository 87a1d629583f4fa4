"""Tests for mailtwist.webhook.inbound: incoming DSNs matched to retired messages by fromid."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.address import Domain
from mailtwist.store import AttemptOutcome, Retirement
from mailtwist.store.records import (
    DeliveryAttempt,
    NewMessage,
    RetiredMessage,
    StoredMessage,
    Suppression,
)
from mailtwist.testing.store import MemoryStore
from mailtwist.webhook.inbound import (
    INCOMING_MESSAGE,
    NOT_A_DSN,
    IncomingRouter,
    fromid_of,
    verdict_for,
)
from mailtwist.webhook.payload import Outgoing, outgoing_from_message

SAMPLES = Path("/work/shared/spec/mox-samples")
BOUNCES = Path("/work/shared/testdata/bounces")
START = 1_800_000_000.0
FROM_ID = "vbKhhrT05dP6ywiwSXlfvQ"
RECIPIENT = "Remote.User+tag@remote.example"


class FakeDirectory:
    """The config's fromid_separator: "+" for localhost, none elsewhere."""

    def __init__(self) -> None:
        self.asked: list[Domain] = []

    def fromid_separator(self, domain: Domain) -> str | None:
        if not isinstance(domain, Domain):
            raise TypeError(f"fromid_separator takes a Domain, not {domain!r}")
        self.asked.append(domain)
        return "+" if domain.ascii == "localhost" else None


@dataclass
class RecordingDispatcher:
    """Records webhook events; outgoing ones are built into real payloads, so a
    call the real dispatcher would refuse (an unknown event) fails here too."""

    incoming_calls: list[tuple[str, StoredMessage, bytes]] = field(default_factory=list)
    outgoing_calls: list[tuple[Any, str, DeliveryAttempt | None, bool, bool]] = field(
        default_factory=list
    )
    payloads: list[Outgoing] = field(default_factory=list)
    broken: bool = False

    def incoming(self, account: str, stored: StoredMessage, data: bytes) -> Deferred[None]:
        self.incoming_calls.append((account, stored, data))
        return succeed(None)

    def outgoing(
        self,
        message: Any,
        event: str,
        attempt: DeliveryAttempt | None,
        *,
        suppressing: bool = False,
        dsn: bool = False,
    ) -> Deferred[None]:
        if self.broken:
            return fail(RuntimeError("webhook store down"))
        now = datetime.fromtimestamp(START, UTC)
        payload = outgoing_from_message(
            message, event, attempt, webhook_queued=now, suppressing=suppressing, dsn=dsn
        )
        self.payloads.append(payload)
        self.outgoing_calls.append((message, event, attempt, suppressing, dsn))
        return succeed(None)


def bounce(name: str) -> bytes:
    return (BOUNCES / name).read_bytes()


def smtp_sample(number: int) -> tuple[str, bytes]:
    """RCPT TO address and message data of a captured incoming SMTP transaction."""
    [path] = SAMPLES.glob(f"{number}-smtp-*.json")
    sample = json.loads(path.read_text(encoding="utf-8"))
    rcpt, data = "", ""
    for step in sample["transcript"]:
        command = step.get("C", "")
        if command.startswith("RCPT TO:<"):
            rcpt = command[len("RCPT TO:<") : -1]
        data = step.get("C_data", data)
    # The SMTP end-of-data line is no part of the message (RFC 5321 §4.1.1.4).
    assert data.endswith("\r\n.\r\n")
    return rcpt, data[: -len(".\r\n")].encode("utf-8")


def webhook_sample(number: int) -> dict[str, Any]:
    [path] = SAMPLES.glob(f"{number}-webhook-*.json")
    value: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))["webhook_request"]["json"]
    return value


class IncomingRouterTests(SynchronousTestCase):
    def setUp(self) -> None:
        if not BOUNCES.is_dir() or not SAMPLES.is_dir():
            raise self.skipTest("shared test data not available")
        self.clock = Clock()
        self.clock.advance(START)
        self.store = MemoryStore(self.clock)
        self.recorder = RecordingDispatcher()
        self.directory = FakeDirectory()
        self.router = IncomingRouter(
            store=self.store,
            dispatcher=self.recorder,
            directory=self.directory,
            clock=self.clock,
        )
        self.next_stored_id = 1

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.clock.seconds(), UTC)

    def retire(
        self,
        from_id: str = FROM_ID,
        *,
        recipient: str = RECIPIENT,
        success: bool = True,
        extra: dict[str, str] | None = None,
        message_id: str = "<wNc9yt65uVoXVd0lHZS4iw@localhost>",
        subject: str = "with extra",
        account: str = "mox",
    ) -> RetiredMessage:
        """A retired (kept) outgoing message with this fromid."""
        new = NewMessage(
            account=account,
            sender=f"mox+{from_id}@localhost" if from_id else "mox@localhost",
            recipients=(recipient,),
            data=b"Subject: x\r\n\r\nx\r\n",
            message_id=message_id,
            subject=subject,
            from_id=from_id,
            extra=extra or {},
            origin="webapi",
        )
        [queued] = self.successResultOf(self.store.enqueue(new, self.now()))
        attempt = DeliveryAttempt(
            start=self.now(), success=success, code=0 if success else 550, secode="1.1"
        )
        event = "delivered" if success else "failed"
        retirement = Retirement(
            success=success, event=event, keep_until=self.now() + timedelta(days=7)
        )
        self.successResultOf(
            self.store.finish_attempt(queued.id, AttemptOutcome(attempt, retire=retirement))
        )
        [retired] = [
            m for m in self.successResultOf(self.store.list_retired()) if m.id == queued.id
        ]
        return retired

    def stored(self, rcpt_to: str = f"mox+{FROM_ID}@localhost", dsn: bool = False) -> StoredMessage:
        stored = StoredMessage(
            id=self.next_stored_id,
            account="mox",
            mailbox="Inbox",
            received=self.now(),
            size=100,
            flags=(),
            mail_from="",
            rcpt_to=rcpt_to,
            dsn=dsn,
            remote_ip="127.0.0.1",
            data_id=self.next_stored_id,
        )
        self.next_stored_id += 1
        return stored

    def deliver(self, data: bytes, rcpt_to: str = f"mox+{FROM_ID}@localhost") -> None:
        """Route a stored message an hour on; the Deferred fires with None at once."""
        self.clock.advance(3600)
        self.assertIsNone(self.successResultOf(self.router.delivered(self.stored(rcpt_to), data)))

    def only_outgoing(self) -> tuple[Any, str, DeliveryAttempt | None, bool, bool]:
        self.assertEqual(self.recorder.incoming_calls, [])
        [call] = self.recorder.outgoing_calls
        return call

    def retired_now(self, retired_id: int) -> RetiredMessage:
        [found] = [m for m in self.successResultOf(self.store.list_retired()) if m.id == retired_id]
        return found

    # -- not about an outgoing message

    def test_plain_message_gets_incoming_webhook(self) -> None:
        """A message to an address without separator gets the incoming webhook only."""
        stored = self.stored("mox@localhost")
        self.successResultOf(self.router.delivered(stored, b"Subject: hi\r\n\r\nhi\r\n"))
        self.assertEqual(
            self.recorder.incoming_calls, [("mox", stored, b"Subject: hi\r\n\r\nhi\r\n")]
        )
        self.assertEqual(self.recorder.outgoing_calls, [])
        self.assertNotIn("retired_by_from_id", self.store.calls)

    def test_unknown_fromid_gets_incoming_webhook(self) -> None:
        """A fromid that matches no retired message is an ordinary incoming message,
        even when it is a DSN (spec §7.3 step 2)."""
        self.retire("someOtherFromID")
        _, data = smtp_sample(70)
        stored = self.stored()
        self.successResultOf(self.router.delivered(stored, data))
        self.assertEqual(self.recorder.incoming_calls, [("mox", stored, data)])
        self.assertEqual(self.recorder.outgoing_calls, [])
        self.assertIn("retired_by_from_id", self.store.calls)

    def test_domain_without_separator_gets_incoming_webhook(self) -> None:
        """A domain without catchall separator has no fromids: no lookup at all."""
        self.retire()
        self.successResultOf(
            self.router.delivered(self.stored(f"mox+{FROM_ID}@other.example"), bounce("dsn_14.txt"))
        )
        self.assertEqual(len(self.recorder.incoming_calls), 1)
        self.assertNotIn("retired_by_from_id", self.store.calls)

    def test_own_dsn_does_nothing(self) -> None:
        """A DSN mailtwist made itself (stored.dsn) gets no webhook and no lookup."""
        self.retire()
        self.store.calls.clear()
        stored = self.stored(dsn=True)
        self.successResultOf(self.router.delivered(stored, bounce("dsn_14.txt")))
        self.assertEqual(self.recorder.incoming_calls, [])
        self.assertEqual(self.recorder.outgoing_calls, [])
        self.assertEqual(self.store.calls, [])
        self.assertEqual(self.directory.asked, [])

    # -- mox's captured transactions and webhooks

    def test_mox_samples(self) -> None:
        """Each captured incoming DSN (and the non-DSN reply) to a fromid address gives
        the captured outgoing webhook payload, field for field (spec §7.3 step 4)."""
        for number in (70, 71, 72, 73, 74, 75):
            expected = webhook_sample(number)
            rcpt, data = smtp_sample(number)
            retired = self.retire(
                expected["FromID"],
                extra=expected["Extra"] or {},
                message_id=expected["MessageID"],
                subject=expected["Subject"],
            )
            self.recorder.payloads.clear()
            self.deliver(data, rcpt)
            [payload] = self.recorder.payloads
            got = payload.json_value()
            self.assertEqual(got["QueueMsgID"], retired.id)
            for value in (got, expected):
                del value["QueueMsgID"], value["WebhookQueued"]
            self.assertEqual(got, expected, f"sample {number}")
        self.assertEqual(self.recorder.incoming_calls, [])

    # -- DSN-generated events

    def test_failed_real_bounce_suppresses(self) -> None:
        """A real DSN failing with 550 5.1.1 gives a failed event with its codes, adds
        the recipient to the suppression list (Source "DSN") and says Suppressing."""
        retired = self.retire()
        self.deliver(bounce("dsn_14.txt"))
        message, event, attempt, suppressing, dsn = self.only_outgoing()
        self.assertEqual((event, suppressing, dsn), ("failed", True, True))
        assert attempt is not None
        self.assertEqual((attempt.code, attempt.secode, attempt.success), (550, "1.1", False))
        self.assertEqual(attempt.classification, "recipient")
        self.assertEqual(message.id, retired.id)
        [payload] = self.recorder.payloads
        self.assertEqual((payload.smtp_code, payload.smtp_enhanced_code), (550, "5.1.1"))
        self.assertEqual(payload.error, "")
        [suppression] = self.successResultOf(self.store.suppressions("mox"))
        self.assertEqual(suppression.base_address, "remoteuser@remote.example")
        self.assertEqual(suppression.original_address, RECIPIENT)
        self.assertFalse(suppression.manual)
        self.assertEqual(
            suppression.reason, 'delivery failure from DSN with smtp code 550, enhanced code "1.1"'
        )

    def test_failed_already_suppressed(self) -> None:
        """A failure for an address already listed adds nothing: Suppressing false."""
        self.retire()
        listed = Suppression(
            account="mox",
            base_address="remoteuser@remote.example",
            original_address="remoteuser@remote.example",
            manual=True,
            reason="by hand",
        )
        self.successResultOf(self.store.add_suppression(listed))
        self.deliver(bounce("dsn_14.txt"))
        _, event, _, suppressing, _ = self.only_outgoing()
        self.assertEqual((event, suppressing), ("failed", False))
        [kept] = self.successResultOf(self.store.suppressions("mox"))
        self.assertEqual(kept.reason, "by hand")

    def test_failed_without_code_no_suppression(self) -> None:
        """A failed DSN without Status or Diagnostic-Code has no code: no suppression
        processing at all (spec §6.4)."""
        self.retire()
        _, data = smtp_sample(70)
        data = data.replace(b"Status: 5.1.1\r\n", b"").replace(
            b"Diagnostic-Code: smtp; 550 5.1.1 user unknown\r\n", b""
        )
        self.deliver(data)
        _, event, attempt, suppressing, dsn = self.only_outgoing()
        self.assertEqual((event, suppressing, dsn), ("failed", False, True))
        assert attempt is not None
        self.assertEqual(attempt.code, 0)
        self.assertNotIn("recent_retired_to", self.store.calls)
        self.assertNotIn("add_suppression", self.store.calls)

    def test_failed_temporary_status_not_suppressed(self) -> None:
        """A real failed DSN with only a 4.4.7 status (expired, an infrastructure cause)
        is a failed event with code 400 and does not suppress."""
        self.retire()
        self.deliver(bounce("dsn_02.txt"))
        _, event, _, suppressing, _ = self.only_outgoing()
        self.assertEqual((event, suppressing), ("failed", False))
        [payload] = self.recorder.payloads
        self.assertEqual((payload.smtp_code, payload.smtp_enhanced_code), (400, "4.4.7"))
        self.assertEqual(self.successResultOf(self.store.suppressions("mox")), [])

    def test_failed_generic_code_needs_three_failures(self) -> None:
        """A generic 554 about the recipient suppresses only when the two latest other
        retired messages to that recipient failed too (spec §6.4)."""
        _, data = smtp_sample(70)
        data = data.replace(b"Status: 5.1.1", b"Status: 5.0.0").replace(
            b"550 5.1.1 user unknown", b"554 5.0.0 no such user here"
        )
        self.retire("first", success=False)
        self.retire(success=False)
        self.deliver(data)
        self.assertFalse(self.only_outgoing()[3])
        self.assertIn("recent_retired_to", self.store.calls)

        self.recorder.outgoing_calls.clear()
        self.retire("second", success=False)
        self.retire("third")
        self.deliver(data, "mox+third@localhost")
        self.assertTrue(self.only_outgoing()[3])
        [suppression] = self.successResultOf(self.store.suppressions("mox"))
        self.assertEqual(
            suppression.reason, "delivery failure from DSN and three consecutive failures"
        )

    def test_delayed_real_bounce(self) -> None:
        """A real delay DSN gives a delayed event with Status-derived codes, recorded
        on the retired message as a failed result."""
        retired = self.retire()
        self.deliver(bounce("dsn_05.txt"))
        _, event, attempt, suppressing, dsn = self.only_outgoing()
        self.assertEqual((event, suppressing, dsn), ("delayed", False, True))
        assert attempt is not None
        self.assertEqual((attempt.code, attempt.secode, attempt.success), (400, "4.1", False))
        self.assertEqual(attempt.error, INCOMING_MESSAGE)
        after = self.retired_now(retired.id)
        self.assertEqual(after.results[-1], attempt)
        self.assertEqual(after.last_activity, self.now())
        self.assertEqual(len(after.results), len(retired.results) + 1)

    def test_success_actions(self) -> None:
        """relayed, expanded and delivered DSNs give the same-named event and a
        successful result on the retired message."""
        _, template = smtp_sample(73)
        for action in ("relayed", "expanded", "delivered"):
            from_id = f"fid-{action}"
            retired = self.retire(from_id)
            self.recorder.outgoing_calls.clear()
            self.deliver(
                template.replace(b"Action: relayed", f"Action: {action}".encode()),
                f"mox+{from_id}@localhost",
            )
            _, event, _, suppressing, dsn = self.only_outgoing()
            self.assertEqual((event, suppressing, dsn), (action, False, True))
            after = self.retired_now(retired.id)
            self.assertTrue(after.results[-1].success)
            self.assertEqual(after.results[-1].error, INCOMING_MESSAGE)
            self.assertEqual(after.last_activity, self.now())
            # The retired message's own outcome is history; it is not rewritten.
            self.assertEqual((after.success, after.event), (retired.success, retired.event))

    # -- unrecognized

    def test_not_a_dsn_real_bounce(self) -> None:
        """A real non-DSN bounce (qmail) to a fromid address is unrecognized with DSN
        false, no codes and no error text; the result says it is no DSN."""
        retired = self.retire()
        self.deliver(bounce("qmail_01.txt"))
        _, event, attempt, suppressing, dsn = self.only_outgoing()
        self.assertEqual((event, suppressing, dsn, attempt), ("unrecognized", False, False, None))
        [payload] = self.recorder.payloads
        self.assertEqual((payload.smtp_code, payload.error), (0, ""))
        result = self.retired_now(retired.id).results[-1]
        self.assertEqual((result.error, result.success), (NOT_A_DSN, False))

    def test_garbage_dsn(self) -> None:
        """A real multipart/report whose status part has no recipient fields is
        unrecognized with DSN true; the result says why it could not be parsed."""
        retired = self.retire()
        self.deliver(bounce("netscape_01.txt"))
        _, event, _, _, dsn = self.only_outgoing()
        self.assertEqual((event, dsn), ("unrecognized", True))
        result = self.retired_now(retired.id).results[-1]
        self.assertTrue(result.error.startswith("parsing incoming dsn: "), result.error)
        self.assertFalse(result.success)

    def test_several_recipients(self) -> None:
        """A real DSN reporting 11 recipients is unrecognized with DSN true."""
        retired = self.retire()
        self.deliver(bounce("dsn_11.txt"))
        _, event, _, _, dsn = self.only_outgoing()
        self.assertEqual((event, dsn), ("unrecognized", True))
        result = self.retired_now(retired.id).results[-1]
        self.assertEqual(result.error, "incoming dsn has 11 recipients, expecting 1")

    def test_unknown_action(self) -> None:
        """A real DSN with the non-standard action "failure" is unrecognized with DSN
        true, and suppresses nothing."""
        self.retire()
        self.deliver(bounce("dsn_03.txt"))
        _, event, attempt, suppressing, dsn = self.only_outgoing()
        self.assertEqual((event, suppressing, dsn), ("unrecognized", False, True))
        assert attempt is not None
        self.assertFalse(attempt.success)
        self.assertNotIn("add_suppression", self.store.calls)

    # -- errors

    def test_store_failure_is_logged(self) -> None:
        """A store failure is logged and passed on, so the event stays pending."""
        self.retire()
        self.store.fail_next("retired_by_from_id", RuntimeError("disk on fire"))
        self.clock.advance(3600)
        d = self.router.delivered(self.stored(f"mox+{FROM_ID}@localhost"), bounce("dsn_14.txt"))
        self.failureResultOf(d, RuntimeError)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.recorder.outgoing_calls, [])
        self.assertEqual(self.recorder.incoming_calls, [])

    def test_dispatcher_failure_is_logged(self) -> None:
        """A webhook queue failure is logged and passed on, after the result is recorded."""
        retired = self.retire()
        self.recorder.broken = True
        self.clock.advance(3600)
        d = self.router.delivered(self.stored(f"mox+{FROM_ID}@localhost"), bounce("dsn_14.txt"))
        self.failureResultOf(d, RuntimeError)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
        self.assertEqual(self.retired_now(retired.id).last_activity, self.now())

    def test_retired_record_gone(self) -> None:
        """A retired message deleted between lookup and update gives no webhook."""
        retired = self.retire()
        original = self.store.record_retired_activity
        self.store.record_retired_activity = lambda *a: succeed(None)  # type: ignore[method-assign]
        self.deliver(bounce("dsn_14.txt"))
        self.store.record_retired_activity = original  # type: ignore[method-assign]
        self.assertEqual(self.recorder.outgoing_calls, [])
        self.assertEqual(self.recorder.incoming_calls, [])
        self.assertEqual(self.retired_now(retired.id).results, retired.results)


class FromIDTests(SynchronousTestCase):
    def test_fromid_of(self) -> None:
        """The fromid is the text after the first separator of the recipient's domain."""
        directory = FakeDirectory()
        self.assertEqual(fromid_of("mox+abc@localhost", directory), "abc")
        self.assertEqual(fromid_of("mox+a+b@LOCALHOST", directory), "a+b")
        self.assertEqual(fromid_of("mox@localhost", directory), "")
        self.assertEqual(fromid_of("mox+@localhost", directory), "")
        self.assertEqual(fromid_of("mox+abc@example.com", directory), "")
        self.assertEqual(fromid_of("", directory), "")
        self.assertEqual(fromid_of("not an address", directory), "")
        self.assertEqual(fromid_of('"quoted+x"@localhost', directory), "x")

    def test_out_of_range_diagnostic_code(self) -> None:
        """A Diagnostic-Code that is no SMTP code falls back to the Status codes."""
        _, data = smtp_sample(70)
        data = data.replace(b"550 5.1.1 user unknown", b"999 5.1.1 odd")
        now = datetime.fromtimestamp(START, UTC)
        verdict = verdict_for(data, now)
        self.assertEqual((verdict.event, verdict.attempt.code), ("failed", 500))
        self.assertEqual(verdict.attempt.secode, "1.1")

    def test_every_real_bounce(self) -> None:
        """Every real bounce file gets a verdict, and the DSN flag says whether it is
        a multipart/report DSN."""
        if not BOUNCES.is_dir():
            raise self.skipTest("bounce files not available")
        now = datetime.fromtimestamp(START, UTC)
        for path in sorted(BOUNCES.glob("*.txt")):
            verdict = verdict_for(path.read_bytes(), now)
            self.assertIn(
                verdict.event,
                ("failed", "delayed", "delivered", "relayed", "expanded", "unrecognized"),
            )
            self.assertEqual(verdict.dsn, verdict.attempt.error != NOT_A_DSN, path.name)

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=2000), st.integers(min_value=0, max_value=1200))
    def test_verdict_never_raises(self, noise: bytes, cut: int) -> None:
        """Any bytes, and any damage to a real DSN, get a verdict instead of an error."""
        now = datetime.fromtimestamp(START, UTC)
        verdict_for(noise, now)
        _, data = smtp_sample(70) if SAMPLES.is_dir() else ("", b"")
        verdict_for(data[:cut] + noise + data[cut:], now)
        verdict_for(data[:cut], now)
