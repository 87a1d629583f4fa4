"""Tests for classifying failed attempts and deciding automatic suppressions (spec §6.4)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.queue.suppression import (
    INFRASTRUCTURE,
    POLICY,
    RECIPIENT,
    classify,
    classify_attempt,
    immediate_reason,
    needs_history,
    suppression_for,
)
from mailtwist.store.records import DeliveryAttempt, QueuedMessage, RetiredMessage

BOUNCES = Path("/work/shared/testdata/bounces")

#: SMTP replies taken from the real bounces of the shared test data (flufl.bounce,
#: Apache 2.0): file, the reply text as it stands there (folded lines joined), its
#: code and short enhanced code, and the classification mailtwist gives it.
REAL_BOUNCES: list[tuple[str, str, int, str, str]] = [
    ("postfix_01.txt", "550 5.1.1 <xxxxx@local.ie>... User unknown", 550, "1.1", RECIPIENT),
    (
        "dsn_16.txt",
        "550 unknown user <userx@example.com> (in reply to RCPT TO command)",
        550,
        "",
        RECIPIENT,
    ),
    ("dsn_11.txt", "550 <joem@example.com>... User unknown", 550, "", RECIPIENT),
    (
        "dsn_11.txt",
        "554 joem@example.com... aliasing/forwarding loop broken (11 aliases deep; 10 max)",
        554,
        "",
        INFRASTRUCTURE,
    ),
    ("dsn_14.txt", "550 5.1.1 User unknown", 550, "1.1", RECIPIENT),
    (
        "exim_01.txt",
        "553 5.1.1 unknown or illegal user: userx@its.example.nl",
        553,
        "1.1",
        RECIPIENT,
    ),
    ("postfix_05.txt", "554 No Resent-From field given", 554, "", INFRASTRUCTURE),
    ("qmail_04.txt", "550 userx@example.au... No such user", 550, "", RECIPIENT),
    (
        "qmail_05.txt",
        "550 <userx@example.com>: Recipient address rejected: User unknown in virtual alias table",
        550,
        "",
        RECIPIENT,
    ),
    (
        "simple_01.txt",
        "552 Message for <bbbsss@example.com> would exceed mailbox quota",
        552,
        "",
        INFRASTRUCTURE,
    ),
    ("simple_08.txt", "550 user unknown", 550, "", RECIPIENT),
    ("simple_14.txt", "552 Quota violation for userx@example.com", 552, "", INFRASTRUCTURE),
    ("simple_15.txt", "550 5.1.1 unknown user.", 550, "1.1", RECIPIENT),
    ("simple_29.txt", "550 unknown user", 550, "", RECIPIENT),
    ("simple_30.txt", "553 5.3.0 <userx@example.com>... No such user here", 553, "3.0", RECIPIENT),
    (
        "smtp32_04.txt",
        "553 5.3.0 <after_another@example.net>... Addressee unknown, relay=[205.208.202.10]",
        553,
        "3.0",
        RECIPIENT,
    ),
    (
        "simple_45.txt",
        "550 subscriber@earthlink.net...User account is overquota",
        550,
        "",
        INFRASTRUCTURE,
    ),
    (
        "yahoo_11.txt",
        "550 5.1.1 <bad_user@aol.com>: Recipient address rejected: aol.com [RCPT_TO]",
        550,
        "1.1",
        RECIPIENT,
    ),
    (
        "yahoo_13.txt",
        "550: 5.1.1 <bogus-address@example.net>: Recipient address rejected: User unknown in"
        " local recipient table",
        550,
        "1.1",
        RECIPIENT,
    ),
    (
        "bounce_02.txt",
        "Requested action not taken: mailbox unavailable. [SMTP Error Code 550]",
        550,
        "",
        RECIPIENT,
    ),
    ("dsn_03.txt", "553 Exceeded maximum inbound message size", 553, "", INFRASTRUCTURE),
]

#: Rejections about the sender, as large providers word them (public documentation);
#: the shared bounces hold none. Each must never suppress the recipient (issue 3).
PROVIDER_REPLIES: list[tuple[str, int, str, str]] = [
    (
        "550-5.7.1 [192.0.2.1] Our system has detected that this message is likely"
        " unsolicited mail. To reduce the amount of spam sent to Gmail, this message"
        " has been blocked.",
        550,
        "7.1",
        POLICY,
    ),
    ("550 5.7.1 message rejected as spam", 550, "7.1", POLICY),
    (
        "554 5.7.1 Service unavailable; Client host [192.0.2.1] blocked using zen.spamhaus.org",
        554,
        "7.1",
        POLICY,
    ),
    ("550 5.7.606 Access denied, banned sending IP [192.0.2.1]", 550, "7.606", POLICY),
    (
        "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected"
        " volume or user complaints",
        421,
        "7.0",
        POLICY,
    ),
    (
        "550 5.7.26 Unauthenticated email from example.com is not accepted due to"
        " domain's DMARC policy",
        550,
        "7.26",
        POLICY,
    ),
    ("554 Message rejected due to spam content", 554, "", POLICY),
    ("550 Sender IP listed on a blacklist", 550, "", POLICY),
    ("550 SPF check failed for example.com", 550, "", POLICY),
    ("450 4.2.0 rate limit exceeded, slow down", 450, "2.0", POLICY),
    ("421 Too many connections from your IP", 421, "", POLICY),
    ("550 5.7.1 Sender reputation too low", 550, "7.1", POLICY),
    ("451 4.4.2 Timeout waiting for data from client", 451, "4.2", INFRASTRUCTURE),
    ("452 4.3.1 Insufficient system storage", 452, "3.1", INFRASTRUCTURE),
    ("454 4.7.0 TLS not available due to local problem", 454, "7.0", INFRASTRUCTURE),
    ("552 5.3.4 Message size exceeds fixed maximum message size", 552, "3.4", INFRASTRUCTURE),
    ("554 5.4.4 Unable to route", 554, "4.4", INFRASTRUCTURE),
    ("451 4.0.0 failure with code 451 due to special localpart", 451, "0.0", INFRASTRUCTURE),
    (
        "550-5.1.1 The email account that you tried to reach does not exist.",
        550,
        "1.1",
        RECIPIENT,
    ),
    ("550 5.2.1 The email account that you tried to reach is disabled.", 550, "2.1", RECIPIENT),
    (
        "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
        550,
        "1.10",
        RECIPIENT,
    ),
    ("550 5.5.0 Requested action not taken: mailbox unavailable", 550, "5.0", RECIPIENT),
    ("550 5.0.0 failure with code 550 due to special localpart", 550, "0.0", RECIPIENT),
    ("556 5.1.10 Recipient address has null MX", 556, "1.10", RECIPIENT),
    ("554 5.0.0 Transaction failed", 554, "0.0", INFRASTRUCTURE),
]

_CODE = re.compile(r"\b([245][0-9]{2})\b")
_ENHANCED = re.compile(r"\b[245]\.([0-9]{1,3}\.[0-9]{1,3})\b")

T = datetime(2026, 1, 1, tzinfo=UTC)


def message(recipient: str = "Joe.Bloggs+news@Example.ORG") -> QueuedMessage:
    return QueuedMessage(
        id=7,
        base_id=0,
        queued=T,
        hold=False,
        account="mox",
        sender="mox@localhost",
        recipient=recipient,
        recipient_domain="example.org",
        message_id="",
        subject="",
        size=1,
        next_attempt=T,
        last_attempt=T,
        attempts=1,
        max_attempts=0,
        results=(),
        data_id=1,
    )


def failed(code: int, secode: str = "", reply: str = "", error: str = "") -> DeliveryAttempt:
    return DeliveryAttempt(
        start=T, code=code, secode=secode, reply=reply, error=error, permanent=code >= 500
    )


def retired(success: bool) -> RetiredMessage:
    return RetiredMessage(
        id=1,
        base_id=0,
        queued=T,
        account="mox",
        sender="mox@localhost",
        recipient="Joe.Bloggs+news@example.org",
        recipient_domain="example.org",
        message_id="",
        subject="",
        size=1,
        last_attempt=T,
        attempts=1,
        max_attempts=0,
        results=(),
        success=success,
        event="delivered" if success else "failed",
        last_activity=T,
        keep_until=T,
    )


class ClassifyTests(SynchronousTestCase):
    def test_real_bounces(self) -> None:
        """Each SMTP reply of the real bounce test data gets its expected classification."""
        for name, reply, code, secode, expected in REAL_BOUNCES:
            with self.subTest(file=name, reply=reply):
                self.assertEqual(classify(code, secode, reply, ""), expected)

    def test_table_codes_match_text(self) -> None:
        """The table's code and enhanced code are the ones written in each reply."""
        rows = [(reply, code, secode) for _, reply, code, secode, _ in REAL_BOUNCES]
        rows += [(reply, code, secode) for reply, code, secode, _ in PROVIDER_REPLIES]
        for reply, code, secode in rows:
            with self.subTest(reply=reply):
                self.assertEqual(int(_CODE.search(reply).group(1)), code)  # type: ignore[union-attr]
                enhanced = _ENHANCED.search(reply)
                self.assertEqual(enhanced.group(1) if enhanced else "", secode)

    def test_real_bounces_are_in_the_test_data(self) -> None:
        """Every reply of the table stands in its bounce file (folded lines joined)."""
        if not BOUNCES.is_dir():
            raise self.skipTest(f"{BOUNCES} not available")
        manifest = {
            entry["file"]: entry for entry in json.loads((BOUNCES / "manifest.json").read_text())
        }
        for name, reply, _, _, _ in REAL_BOUNCES:
            with self.subTest(file=name):
                self.assertIn(name, manifest)
                text = " ".join((BOUNCES / name).read_text(errors="replace").split())
                self.assertIn(" ".join(reply.split()), text)

    def test_provider_replies(self) -> None:
        """Sender-side rejections are policy, connection trouble infrastructure, bad
        addresses recipient, as large providers word them."""
        for reply, code, secode, expected in PROVIDER_REPLIES:
            with self.subTest(reply=reply):
                self.assertEqual(classify(code, secode, reply, ""), expected)

    def test_no_smtp_reply_is_infrastructure(self) -> None:
        """Code 0 (DNS, connection, TLS, timeout) is infrastructure whatever the text says."""
        self.assertEqual(classify(0, "", "", "no such user: connection refused"), INFRASTRUCTURE)

    def test_error_text_counts(self) -> None:
        """Our own error text is read with the reply (the reply may be empty)."""
        self.assertEqual(classify(550, "", "", "RCPT TO: 550 no such user"), RECIPIENT)

    def test_temporary_recipient_text_is_not_recipient(self) -> None:
        """A 4xx with "mailbox unavailable" (busy) is no statement about the address."""
        self.assertEqual(classify(450, "", "450 mailbox unavailable", ""), INFRASTRUCTURE)

    def test_attempt(self) -> None:
        """classify_attempt gives "" for a success and classify's answer otherwise."""
        self.assertEqual(classify_attempt(DeliveryAttempt(start=T, success=True, code=250)), "")
        self.assertEqual(classify_attempt(failed(550, "1.1")), RECIPIENT)


class SuppressionForTests(SynchronousTestCase):
    def test_immediate_for_recipient_codes(self) -> None:
        """Codes 550/551/553/556/521, and 5xx with 1.1 1.2 1.3 1.6 2.1, suppress at once."""
        cases = [
            (550, "", "550 no such user"),
            (551, "", "551 user not local"),
            (553, "", "553 mailbox name not allowed"),
            (556, "1.10", "556 5.1.10 null MX"),
            (521, "", "521 does not accept mail"),
            (554, "1.1", "554 5.1.1 no such user"),
            (552, "2.1", "552 5.2.1 mailbox disabled"),
            (554, "1.6", "554 5.1.6 mailbox moved"),
        ]
        for code, secode, reply in cases:
            with self.subTest(code=code, secode=secode):
                attempt = failed(code, secode, reply)
                self.assertFalse(needs_history(attempt))
                suppression = suppression_for(message(), attempt)
                assert suppression is not None
                self.assertEqual(
                    suppression.reason,
                    f'delivery failure from queue with smtp code {code}, enhanced code "{secode}"',
                )
                self.assertEqual(suppression.base_address, "joebloggs@example.org")
                self.assertEqual(suppression.original_address, "Joe.Bloggs+news@example.org")
                self.assertEqual((suppression.account, suppression.manual), ("mox", False))

    def test_policy_never_suppresses(self) -> None:
        """A 5.7.1 spam rejection (immediate in mox, spec §6.4) suppresses nothing, even
        after two earlier failures."""
        attempt = failed(550, "7.1", "550 5.7.1 message rejected as spam")
        self.assertEqual(immediate_reason(attempt), "")
        self.assertFalse(needs_history(attempt))
        self.assertIsNone(suppression_for(message(), attempt, [retired(False), retired(False)]))

    def test_infrastructure_never_suppresses(self) -> None:
        """A size rejection or a failure without SMTP code suppresses nothing."""
        history = [retired(False), retired(False)]
        self.assertIsNone(
            suppression_for(message(), failed(552, "3.4", "552 5.3.4 too big"), history)
        )
        self.assertIsNone(suppression_for(message(), failed(0, error="timeout"), history))

    def test_three_consecutive_failures(self) -> None:
        """Another recipient failure suppresses when the two latest retired messages to the
        address both failed."""
        attempt = failed(450, "1.1", "450 4.1.1 unverified address")
        self.assertTrue(needs_history(attempt))
        suppression = suppression_for(message(), attempt, [retired(False), retired(False)])
        assert suppression is not None
        self.assertEqual(
            suppression.reason, "delivery failure from queue and three consecutive failures"
        )

    def test_not_three_in_a_row(self) -> None:
        """One success among the last two, or fewer than two earlier messages: no suppression."""
        attempt = failed(450, "1.1", "450 4.1.1 unverified address")
        self.assertIsNone(suppression_for(message(), attempt, [retired(False), retired(True)]))
        self.assertIsNone(suppression_for(message(), attempt, [retired(False)]))
        self.assertIsNone(suppression_for(message(), attempt, []))

    def test_stored_classification_wins(self) -> None:
        """The attempt's recorded classification is used when set."""
        attempt = DeliveryAttempt(
            start=T, code=550, reply="550 no such user", permanent=True, classification=POLICY
        )
        self.assertIsNone(suppression_for(message(), attempt))

    def test_unparsable_recipient(self) -> None:
        """A recipient without a base address is not suppressed (and does not raise)."""
        self.assertIsNone(suppression_for(message("not an address"), failed(550, "1.1")))

    def test_source_in_reason(self) -> None:
        """The source names where the failure came from (queue or DSN, spec §6.4)."""
        suppression = suppression_for(message(), failed(550, "1.1"), source="DSN")
        assert suppression is not None
        self.assertTrue(suppression.reason.startswith("delivery failure from DSN with"))
