"""Tests for composing DSNs: header order, report fields, folding, parts and the UTF-8 variant."""

from __future__ import annotations

import base64
import email
import email.policy
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.dsn import DSNRecipient, compose_dsn, fold_field, parse_dsn
from mailtwist.message.headers import field_values, parse_fields, split_message

ARRIVAL = datetime(2026, 11, 27, 10, 0, 0, tzinfo=UTC)
ATTEMPT = datetime(2026, 11, 27, 10, 5, 0, tzinfo=UTC)
NOW = datetime(2026, 11, 27, 10, 5, 1, tzinfo=UTC)

ORIGINAL = (
    b"From: Sender <sender@example.com>\r\n"
    b"To: rcpt@example.org\r\n"
    b"Subject: quarterly report\r\n"
    b"Message-ID: <orig-1@example.com>\r\n"
    b"\r\n"
    b"THE SECRET BODY\r\n"
)

REPLY = (
    "550-5.1.1 The email account that you tried to reach does not exist. Please try\n"
    "550-5.1.1 double-checking the recipient's email address for typos or\n"
    "550 5.1.1 unnecessary spaces. https://support.example.org/mail/?p=NoSuchUser x1si"
)


def _ids(*values: str) -> Iterator[str]:
    yield from values


def _failed(**overrides: object) -> DSNRecipient:
    values: dict[str, object] = dict(
        final_recipient="rcpt@example.org",
        action="failed",
        status="5.1.1",
        status_comment="no such user",
        diagnostic=REPLY,
        remote_mta="mx.example.org",
        last_attempt=ATTEMPT,
    )
    values.update(overrides)
    return DSNRecipient(**values)  # type: ignore[arg-type]


def _compose(*recipients: DSNRecipient, **overrides: object) -> bytes:
    ids = _ids("id1", "b1", "b2", "b3")
    values: dict[str, object] = dict(
        hostname="mail.example.com",
        to="sender@example.com",
        original=ORIGINAL,
        original_message_id="<orig-1@example.com>",
        arrival_date=ARRIVAL,
        recipients=recipients or (_failed(),),
        now=NOW,
        make_id=lambda: next(ids),
    )
    values.update(overrides)
    return compose_dsn(**values)  # type: ignore[arg-type]


def _parts(message: bytes) -> list[email.message.Message]:
    parsed = email.message_from_bytes(message, policy=email.policy.compat32)
    return [part for part in parsed.get_payload() if isinstance(part, email.message.Message)]


def _raw_part(message: bytes, index: int) -> bytes:
    boundary = field_values(split_message(message)[0], "Content-Type")[0].split(b'boundary="')[1]
    delimiter = b"\r\n--" + boundary.rstrip(b'"')
    return message.split(delimiter)[index + 1].split(b"\r\n", 1)[1]


def _status_text(message: bytes) -> str:
    part = _raw_part(message, 1)
    return part.split(b"\r\n\r\n", 1)[1].decode("utf-8")


class HeaderTests(SynchronousTestCase):
    def test_header_order(self) -> None:
        """The top-level fields come in spec §11.1 order, with no In-Reply-To."""
        header, _ = split_message(_compose())
        names = [field.name.decode() for field in parse_fields(header)]
        self.assertEqual(
            names,
            [
                "From",
                "To",
                "Subject",
                "Message-Id",
                "References",
                "Date",
                "MIME-Version",
                "Content-Type",
            ],
        )

    def test_header_values(self) -> None:
        """From is the host's postmaster, To the sender, ids come from make_id, Date from now."""
        header, _ = split_message(_compose())
        value = {f.name.decode(): f.value.decode() for f in parse_fields(header)}
        self.assertEqual(value["From"], "<postmaster@mail.example.com>")
        self.assertEqual(value["To"], "<sender@example.com>")
        self.assertEqual(value["Subject"], "mail delivery failed")
        self.assertEqual(value["Message-Id"], "<id1@mail.example.com>")
        self.assertEqual(value["References"], "<orig-1@example.com>")
        self.assertEqual(value["Date"], "Fri, 27 Nov 2026 10:05:01 +0000")
        self.assertEqual(value["MIME-Version"], "1.0")
        self.assertEqual(
            value["Content-Type"],
            'multipart/report; report-type="delivery-status"; boundary="=_b1"',
        )

    def test_references_only_with_original_id(self) -> None:
        """Without an original Message-ID there is no References field; a bare id gets <>."""
        header, _ = split_message(_compose(original_message_id=""))
        self.assertEqual(field_values(header, "References"), [])
        header, _ = split_message(_compose(original_message_id="bare@example.com"))
        self.assertEqual(field_values(header, "References"), [b"<bare@example.com>"])

    def test_subjects(self) -> None:
        """Any failed recipient makes a failure notice; delayed ones a delay notice."""
        delayed = _failed(action="delayed", status="4.2.2")
        delivered = _failed(action="delivered", status="2.0.0", diagnostic="")
        cases = [
            ((delayed, _failed()), b"mail delivery failed"),
            ((delayed,), b"mail delivery delayed"),
            ((delivered,), b"mail delivery report"),
        ]
        for recipients, subject in cases:
            header, _ = split_message(_compose(*recipients))
            self.assertEqual(field_values(header, "Subject"), [subject])
        header, _ = split_message(_compose(subject="mail delivery failure"))
        self.assertEqual(field_values(header, "Subject"), [b"mail delivery failure"])
        header, _ = split_message(_compose(subject="x\r\nBcc: y@example.org"))
        self.assertEqual(field_values(header, "Bcc"), [])

    def test_crlf_only(self) -> None:
        """Every line ends in CRLF even when the original used bare LF."""
        message = _compose(original=ORIGINAL.replace(b"\r\n", b"\n"))
        self.assertNotIn(b"\n", message.replace(b"\r\n", b""))
        self.assertNotIn(b"\r", message.replace(b"\r\n", b""))

    def test_python_email_parses_it(self) -> None:
        """Python's email package reads a valid multipart/report with three parts."""
        parsed = email.message_from_bytes(_compose(), policy=email.policy.default)
        self.assertEqual(parsed.defects, [])
        self.assertEqual(parsed.get_content_type(), "multipart/report")
        self.assertEqual(parsed.get_param("report-type"), "delivery-status")
        self.assertEqual(
            [part.get_content_type() for part in parsed.iter_parts()],
            ["text/plain", "message/delivery-status", "text/rfc822-headers"],
        )
        for part in parsed.iter_parts():
            self.assertEqual(part.defects, [])

    def test_bad_input(self) -> None:
        """No recipients, a bad action or status, or a UTF-8 To without smtputf8 is refused."""
        self.assertRaises(ValueError, _compose, recipients=())
        self.assertRaises(ValueError, _failed, action="bounced")
        self.assertRaises(ValueError, _failed, status="550")
        self.assertRaises(ValueError, _failed, final_recipient="a@b\r\nBcc: x@y")
        self.assertRaises(ValueError, _compose, to="jös@example.com")
        self.assertRaises(ValueError, _compose, hostname="mail example.com")
        self.assertRaises(ValueError, _compose, hostname="mäil.example.com")

    def test_boundary_not_in_content(self) -> None:
        """A boundary candidate occurring in the original header is not used (RFC 2046 §5.1.1)."""
        original = b"X-Trap: --=_b1\r\n" + ORIGINAL
        header, _ = split_message(_compose(original=original))
        self.assertIn(b'boundary="=_b2"', field_values(header, "Content-Type")[0])


class ReportTests(SynchronousTestCase):
    def test_failure_report_fields(self) -> None:
        """The delivery-status part has the per-message then per-recipient fields of §11.1."""
        text = _status_text(_compose())
        self.assertEqual(
            text,
            "Reporting-MTA: dns; mail.example.com\r\n"
            "Arrival-Date: Fri, 27 Nov 2026 10:00:00 +0000\r\n"
            "\r\n"
            "Final-Recipient: rfc822;rcpt@example.org\r\n"
            "Action: failed\r\n"
            "Status: 5.1.1 (no such user)\r\n"
            "Remote-MTA: dns;mx.example.org\r\n"
            "Diagnostic-Code: smtp; 550-5.1.1 The email account that you tried to reach\r\n"
            " does not exist. Please try 550-5.1.1 double-checking the recipient's email\r\n"
            " address for typos or 550 5.1.1 unnecessary spaces.\r\n"
            " https://support.example.org/mail/?p=NoSuchUser x1si\r\n"
            "Last-Attempt-Date: Fri, 27 Nov 2026 10:05:00 +0000\r\n",
        )

    def test_diagnostic_is_the_full_reply(self) -> None:
        """Unfolded, Diagnostic-Code is every reply line with its codes, joined by a space."""
        report = parse_dsn(_compose())
        assert report is not None
        self.assertEqual(report.recipients[0].diagnostic_code, " ".join(REPLY.split("\n")))
        self.assertEqual(report.recipients[0].diagnostic_type, "smtp")

    def test_no_diagnostic_without_reply(self) -> None:
        """Without an SMTP reply there is no Diagnostic-Code, and no Remote-MTA without a host."""
        text = _status_text(_compose(_failed(diagnostic="", remote_mta="")))
        self.assertNotIn("Diagnostic-Code", text)
        self.assertNotIn("Remote-MTA", text)

    def test_default_status(self) -> None:
        """An empty status becomes 5.0.0, 4.0.0 or 2.0.0 by action (spec §11.1)."""
        for action, expected in (("failed", "5.0.0"), ("delayed", "4.0.0"), ("relayed", "2.0.0")):
            text = _status_text(_compose(_failed(action=action, status="", status_comment="")))
            self.assertIn(f"\r\nStatus: {expected}\r\n", text)

    def test_status_comment_is_escaped(self) -> None:
        """Parentheses in the error text become quoted-pairs and round-trip (RFC 5322 §3.2.2)."""
        message = _compose(_failed(status_comment="quota (hard) exceeded \\o/"))
        self.assertIn(r"Status: 5.1.1 (quota \(hard\) exceeded \\o/)", _status_text(message))
        report = parse_dsn(message)
        assert report is not None
        self.assertEqual(report.recipients[0].status_comment, "quota (hard) exceeded \\o/")

    def test_delay_report(self) -> None:
        """A delay notice has Will-Retry-Until and names the next attempts in its text."""
        until = ATTEMPT + timedelta(hours=28)
        message = _compose(_failed(action="delayed", status="4.2.2", will_retry_until=until))
        self.assertIn(
            "Will-Retry-Until: Sat, 28 Nov 2026 14:05:00 +0000\r\n", _status_text(message)
        )
        text = _parts(message)[0].get_payload(decode=True)
        assert isinstance(text, bytes)
        self.assertIn(b"in 4 hours, 8 hours and 16 hours", text)
        self.assertIn(b"550 5.1.1 unnecessary spaces.", text)

    def test_failure_text(self) -> None:
        """The human part says the failure is permanent and quotes the full reply."""
        text = _parts(_compose())[0].get_payload(decode=True)
        assert isinstance(text, bytes)
        self.assertIn(b"failed permanently", text)
        self.assertIn(b"rcpt@example.org", text)
        for line in REPLY.split("\n"):
            self.assertIn(line.encode(), text)

    def test_future_release_request(self) -> None:
        """Future-Release-Request appears only when the original asked for one (RFC 4865)."""
        self.assertNotIn("Future-Release-Request", _status_text(_compose()))
        text = _status_text(_compose(future_release_request="for;3600"))
        self.assertIn("Future-Release-Request: for;3600\r\n", text)

    def test_original_recipient(self) -> None:
        """A known original recipient is written before Final-Recipient (RFC 3464 §2.3.1)."""
        message = _compose(_failed(original_recipient="Rcpt@Example.org"))
        self.assertIn(
            "\r\nOriginal-Recipient: rfc822;Rcpt@Example.org\r\n"
            "Final-Recipient: rfc822;rcpt@example.org\r\n",
            _status_text(message),
        )
        report = parse_dsn(message)
        assert report is not None
        self.assertEqual(report.recipients[0].original_recipient, "Rcpt@Example.org")

    def test_several_recipients(self) -> None:
        """Each recipient gets its own block, separated by an empty line (RFC 3464 §2.1)."""
        message = _compose(_failed(), _failed(final_recipient="two@example.org"))
        report = parse_dsn(message)
        assert report is not None
        self.assertEqual(
            [r.final_recipient for r in report.recipients], ["rcpt@example.org", "two@example.org"]
        )


class FoldingTests(SynchronousTestCase):
    def test_short_field_unchanged(self) -> None:
        """A field that fits on one line is not folded."""
        self.assertEqual(fold_field("Action", "failed"), "Action: failed\r\n")

    def test_folds_at_spaces(self) -> None:
        """Long values fold before a space at 78 octets, and unfold to the same words."""
        value = " ".join(f"word{i}" for i in range(100))
        folded = fold_field("Diagnostic-Code", value)
        lines = folded.split("\r\n")[:-1]
        self.assertGreater(len(lines), 1)
        for line in lines:
            self.assertLessEqual(len(line), 78)
        for line in lines[1:]:
            self.assertTrue(line.startswith(" "))
        self.assertEqual(" ".join(folded.replace("\r\n", "").split()[1:]), value)

    def test_never_over_998(self) -> None:
        """A word longer than a line is cut so no line exceeds 998 octets (RFC 5322 §2.1.1)."""
        diagnostic = "550 5.7.1 " + "x" * 3000
        message = _compose(_failed(diagnostic=diagnostic))
        for line in message.split(b"\r\n"):
            self.assertLessEqual(len(line), 998)
        report = parse_dsn(message)
        assert report is not None
        self.assertEqual(
            report.recipients[0].diagnostic_code.replace(" ", ""), diagnostic.replace(" ", "")
        )

    def test_multibyte_cut(self) -> None:
        """Cutting a long UTF-8 word keeps characters whole and lines within 998 octets."""
        folded = fold_field("Diagnostic-Code", "é" * 1000)
        for line in folded.encode("utf-8").split(b"\r\n"):
            self.assertLessEqual(len(line), 998)
            line.decode("utf-8")


class OriginalHeaderTests(SynchronousTestCase):
    def test_headers_without_body(self) -> None:
        """Part 3 is text/rfc822-headers with the original's header block and never its body."""
        message = _compose()
        self.assertNotIn(b"THE SECRET BODY", message)
        part = _raw_part(message, 2)
        head, content = part.split(b"\r\n\r\n", 1)
        self.assertEqual(
            head, b"Content-Type: text/rfc822-headers\r\nContent-Transfer-Encoding: 7bit"
        )
        self.assertEqual(content, split_message(ORIGINAL)[0])

    def test_header_only_original(self) -> None:
        """An original without an empty line is all header."""
        original = b"From: a@example.com\r\nSubject: x\r\n"
        self.assertEqual(
            _raw_part(_compose(original=original), 2).split(b"\r\n\r\n", 1)[1], original
        )

    def test_long_header_line_in_original(self) -> None:
        """An original header line over 998 octets is sent base64, keeping lines short."""
        original = b"X-Long: " + b"y" * 1200 + b"\r\n" + ORIGINAL
        message = _compose(original=original)
        self.assertLessEqual(max(len(line) for line in message.split(b"\r\n")), 998)
        part = _parts(message)[2]
        self.assertEqual(part["Content-Transfer-Encoding"], "base64")
        self.assertEqual(part.get_payload(decode=True), split_message(original)[0])

    def test_utf8_original_in_ascii_dsn(self) -> None:
        """A UTF-8 original header in an ASCII DSN is sent base64 with charset=utf-8 (§11.1)."""
        original = "Subject: Grüße\r\nFrom: a@example.com\r\n\r\nbody\r\n".encode()
        message = _compose(original=original)
        self.assertTrue(message.isascii())
        part = _parts(message)[2]
        self.assertEqual(part["Content-Type"], "text/rfc822-headers; charset=utf-8")
        self.assertEqual(part["Content-Transfer-Encoding"], "base64")
        self.assertEqual(
            part.get_payload(decode=True), "Subject: Grüße\r\nFrom: a@example.com\r\n".encode()
        )


class UTF8VariantTests(SynchronousTestCase):
    def test_global_types(self) -> None:
        """With smtputf8 the parts are text/plain utf-8, global-delivery-status, global-headers."""
        original = "From: jös@exämple.com\r\nSubject: hi\r\n\r\nbody\r\n".encode()
        message = _compose(
            _failed(final_recipient="jös@exämple.org"),
            original=original,
            to="jös@exämple.com",
            smtputf8=True,
        )
        parts = _parts(message)
        self.assertEqual(
            [(p["Content-Type"], p["Content-Transfer-Encoding"]) for p in parts],
            [
                ("text/plain; charset=utf-8", "8bit"),
                ("message/global-delivery-status", "8bit"),
                ("message/global-headers", "8bit"),
            ],
        )
        self.assertIn("Final-Recipient: utf-8;jös@exämple.org\r\n", _status_text(message))
        self.assertIn("To: <jös@exämple.com>\r\n".encode(), message)
        report = parse_dsn(message)
        assert report is not None
        self.assertTrue(report.utf8)
        self.assertEqual(report.recipients[0].final_recipient, "jös@exämple.org")
        self.assertEqual(report.recipients[0].final_recipient_type, "utf-8")

    def test_utf8_recipient_in_ascii_dsn(self) -> None:
        """In an ASCII DSN a UTF-8 recipient is utf-8-addr-xtext (RFC 6533 §3) and parses back."""
        message = _compose(_failed(final_recipient="jös@example.org"))
        self.assertTrue(message.isascii())
        self.assertIn("Final-Recipient: utf-8;j\\x{F6}s@example.org\r\n", _status_text(message))
        text = _parts(message)[0]
        self.assertEqual(text["Content-Transfer-Encoding"], "base64")
        self.assertIn("jös@example.org".encode(), base64.b64decode(str(text.get_payload())))
        report = parse_dsn(message)
        assert report is not None
        self.assertEqual(report.recipients[0].final_recipient, "jös@example.org")


class RoundTripTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        """What compose_dsn writes, parse_dsn reads back field for field."""
        recipients = (
            _failed(),
            _failed(
                final_recipient="later@example.net",
                action="delayed",
                status="4.4.1",
                status_comment="connection refused",
                diagnostic="",
                remote_mta="mx.example.net",
                will_retry_until=ATTEMPT + timedelta(hours=28),
            ),
        )
        report = parse_dsn(
            _compose(*recipients, future_release_request="until;2026-12-01T00:00:00Z")
        )
        assert report is not None
        self.assertEqual(report.reporting_mta, "mail.example.com")
        self.assertEqual(report.arrival_date, "Fri, 27 Nov 2026 10:00:00 +0000")
        self.assertEqual(report.future_release_request, "until;2026-12-01T00:00:00Z")
        self.assertFalse(report.utf8)
        for sent, got in zip(recipients, report.recipients, strict=True):
            self.assertEqual(got.final_recipient, sent.final_recipient)
            self.assertEqual(got.final_recipient_type, "rfc822")
            self.assertEqual(got.action, sent.action)
            self.assertEqual(got.status, sent.status)
            self.assertEqual(got.status_comment, sent.status_comment)
            self.assertEqual(got.remote_mta, sent.remote_mta)
        self.assertEqual(report.recipients[1].will_retry_until, "Sat, 28 Nov 2026 14:05:00 +0000")
        self.assertEqual(report.recipients[0].last_attempt_date, "Fri, 27 Nov 2026 10:05:00 +0000")


class PropertyTests(SynchronousTestCase):
    @settings(max_examples=100, deadline=None)
    @given(
        comment=st.text(max_size=200),
        diagnostic=st.text(max_size=2500),
        smtputf8=st.booleans(),
    )
    def test_any_error_text(self, comment: str, diagnostic: str, smtputf8: bool) -> None:
        """Whatever the remote said, the DSN has short CRLF lines, parses, and keeps the status."""
        message = _compose(
            _failed(status_comment=comment, diagnostic=diagnostic), smtputf8=smtputf8
        )
        for line in message.split(b"\r\n"):
            self.assertLessEqual(len(line), 998)
            self.assertNotIn(b"\n", line)
            self.assertNotIn(b"\r", line)
        if not smtputf8:
            self.assertTrue(message.isascii())
        report = parse_dsn(message)
        assert report is not None
        self.assertEqual(report.recipients[0].status, "5.1.1")
        self.assertEqual(report.recipients[0].action, "failed")
        parsed = email.message_from_bytes(message, policy=email.policy.default)
        self.assertEqual(parsed.get_content_type(), "multipart/report")
        self.assertEqual(len(list(parsed.iter_parts())), 3)
