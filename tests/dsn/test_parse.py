"""Tests for parsing DSNs: the real bounce corpus, malformed reports and spec §7.3 codes."""

from __future__ import annotations

import base64
import contextlib
import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.dsn import DSNError, RecipientReport, parse_dsn, smtp_codes

BOUNCES = Path("/work/shared/testdata/bounces")

#: The standard DSNs of the corpus (multipart/report, second part a delivery
#: status): per recipient block, (address the original went to, Final-Recipient, action).
STANDARD = {
    "dsn_02.txt": [
        ("zzzzz@example.uk", "/S=zzzzz/OU=example/PRMD=UK.AC/ADMD= /C=GB/", "failed"),
    ],
    # A sloppy sender: "Action: failure" and "Status: 553 ..." are kept as they are.
    "dsn_03.txt": [("userx@example.be", "userx@example.be", "failure")],
    "dsn_04.txt": [("userx@example.ch", "HAASM@yogi.urz.example.ch", "failed")],
    "dsn_05.txt": [("userx@example.cz", "userx@example.cz", "delayed")],
    "dsn_06.txt": [("userx@example.com", "userx@example.com", "delayed")],
    "dsn_08.txt": [("userx@example.de", "userx@example.de", "delayed")],
    "dsn_09.txt": [
        ("userx@example.com", "/RFC-822=pr(a)allen-heath.com/ADMD= /C=WW/", "failed"),
    ],
    "dsn_11.txt": [("joem@example.com", "joem@example.com", "failed")] * 11,
    "dsn_12.txt": [("userx@example.jp", "userx@example.jp", "failed")],
    "dsn_14.txt": [("userx@example.com.dk", "userx@example.com.dk", "failed")],
}

#: multipart/report with a delivery-status part that has no recipient block.
MALFORMED = ("netscape_01.txt", "simple_31.txt")


def _dsn(
    *status_lines: str, part_type: str = "message/delivery-status", encoding: str = ""
) -> bytes:
    cte = f"Content-Transfer-Encoding: {encoding}\r\n" if encoding else ""
    return (
        "From: <postmaster@example.org>\r\n"
        "Content-Type: multipart/report; report-type=delivery-status; boundary=B\r\n"
        "\r\n"
        "--B\r\n"
        "Content-Type: text/plain\r\n"
        "\r\n"
        "failed\r\n"
        "--B\r\n"
        f"Content-Type: {part_type}\r\n"
        f"{cte}"
        "\r\n" + "\r\n".join(status_lines) + "\r\n"
        "--B--\r\n"
    ).encode()


def _recipient(**fields: str) -> RecipientReport:
    values = dict(
        final_recipient="x@example.org",
        final_recipient_type="rfc822",
        original_recipient="",
        original_recipient_type="",
        action="failed",
        status="",
        status_comment="",
        diagnostic_type="",
        diagnostic_code="",
        remote_mta="",
        last_attempt_date="",
        will_retry_until="",
    )
    values.update(fields)
    return RecipientReport(fields=(), **values)


class CorpusTests(SynchronousTestCase):
    def test_standard_dsns(self) -> None:
        """Each standard DSN of the corpus gives its recipients and actions."""
        for name, expected in STANDARD.items():
            report = parse_dsn((BOUNCES / name).read_bytes())
            assert report is not None, name
            got = [(r.recipient, r.final_recipient, r.action) for r in report.recipients]
            self.assertEqual(got, expected, name)

    def test_agrees_with_manifest(self) -> None:
        """The reported recipients are those the corpus README lists, delays as delayed."""
        manifest = {e["file"]: e for e in json.loads((BOUNCES / "manifest.json").read_text())}
        for name in STANDARD:
            report = parse_dsn((BOUNCES / name).read_bytes())
            assert report is not None
            entry = manifest[name]
            self.assertEqual(
                sorted({r.recipient.lower() for r in report.recipients}),
                sorted(a.lower() for a in entry["bounced"]),
                name,
            )
            actions = {r.action for r in report.recipients}
            self.assertEqual(actions == {"delayed"}, entry["temporary"], name)

    def test_corpus_details(self) -> None:
        """Status, comments, diagnostics, MTAs and QP-encoded parts are read from real DSNs."""
        dsn_05 = parse_dsn((BOUNCES / "dsn_05.txt").read_bytes())
        assert dsn_05 is not None
        self.assertEqual(dsn_05.reporting_mta, "cuk.atlas.cz")
        self.assertEqual(dsn_05.arrival_date, "Wed, 21 Mar 2001 15:08:54 +0100")
        rcpt = dsn_05.recipients[0]
        self.assertEqual(rcpt.status, "4.4.1")
        self.assertEqual(
            rcpt.status_comment,
            "Persistent transient failure - routing/network: no answer from host",
        )
        self.assertEqual(rcpt.will_retry_until, "Mon, 26 Mar 2001 03:42:45 +0100")
        self.assertEqual(smtp_codes(rcpt), (400, "4.1"))
        # Quoted-printable status part, Final-Recipient without a type.
        dsn_14 = parse_dsn((BOUNCES / "dsn_14.txt").read_bytes())
        assert dsn_14 is not None
        rcpt = dsn_14.recipients[0]
        self.assertEqual(rcpt.final_recipient_type, "")
        self.assertEqual(rcpt.diagnostic_type, "smtp")
        self.assertEqual(rcpt.diagnostic_code, "550 5.1.1 User unknown")
        self.assertEqual(rcpt.remote_mta, "10.0.0.103")
        self.assertEqual(smtp_codes(rcpt), (550, "1.1"))
        # An action with a comment; a status that is not an enhanced code.
        dsn_12 = parse_dsn((BOUNCES / "dsn_12.txt").read_bytes())
        assert dsn_12 is not None
        self.assertEqual(dsn_12.recipients[0].action, "failed")
        dsn_03 = parse_dsn((BOUNCES / "dsn_03.txt").read_bytes())
        assert dsn_03 is not None
        self.assertEqual(dsn_03.recipients[0].status, "")
        self.assertEqual(smtp_codes(dsn_03.recipients[0]), (0, ""))

    def test_malformed_standard_dsns(self) -> None:
        """A delivery-status part without recipient blocks raises DSNError (RFC 3464 §2.1)."""
        for name in MALFORMED:
            with self.assertRaises(DSNError, msg=name):
                parse_dsn((BOUNCES / name).read_bytes())

    def test_non_standard_bounces(self) -> None:
        """Every other bounce of the corpus is not a DSN: None, never an exception."""
        for path in sorted(BOUNCES.glob("*.txt")):
            if path.name in STANDARD or path.name in MALFORMED:
                continue
            self.assertIsNone(parse_dsn(path.read_bytes()), path.name)


class StructureTests(SynchronousTestCase):
    def test_not_a_report(self) -> None:
        """Plain messages, one-part reports and other second parts are not DSNs."""
        self.assertIsNone(parse_dsn(b"Subject: hi\r\n\r\nbody\r\n"))
        self.assertIsNone(parse_dsn(b"no header at all"))
        self.assertIsNone(parse_dsn(_dsn("Final-Recipient: rfc822;a@b.c", part_type="text/plain")))
        one_part = b"Content-Type: multipart/report; boundary=B\r\n\r\n--B\r\n\r\ntext\r\n--B--\r\n"
        self.assertIsNone(parse_dsn(one_part))
        self.assertIsNone(parse_dsn(b"Content-Type: multipart/report\r\n\r\nno boundary\r\n"))

    def test_global_delivery_status(self) -> None:
        """message/global-delivery-status is read as UTF-8 (RFC 6533 §6.1)."""
        message = _dsn(
            "Reporting-MTA: dns; mx.example.org",
            "",
            "Final-Recipient: utf-8; jös@example.org",
            "Action: failed",
            "Status: 5.1.1",
            part_type="message/global-delivery-status",
        )
        report = parse_dsn(message)
        assert report is not None
        self.assertTrue(report.utf8)
        self.assertEqual(report.recipients[0].final_recipient, "jös@example.org")

    def test_base64_status_part(self) -> None:
        """A base64 transfer encoding of the status part is decoded."""
        body = base64.b64encode(
            b"Reporting-MTA: dns; a\r\n\r\nFinal-Recipient: rfc822;x@y.z\r\nAction: delivered\r\n"
        )
        report = parse_dsn(_dsn(body.decode(), encoding="base64"))
        assert report is not None
        self.assertEqual(report.recipients[0].action, "delivered")

    def test_malformed_status_parts(self) -> None:
        """A recipient block without Final-Recipient or Action, or a broken field, is a DSNError."""
        cases = [
            ("Reporting-MTA: dns; a", "", "Action: failed", "Status: 5.0.0"),
            ("Reporting-MTA: dns; a", "", "Final-Recipient: rfc822;x@y.z", "Status: 5.0.0"),
            ("Reporting-MTA: dns; a", "", "Final-Recipient: rfc822;x@y.z", "not a field"),
            ("",),
        ]
        for lines in cases:
            with self.assertRaises(DSNError, msg=repr(lines)):
                parse_dsn(_dsn(*lines))
        with self.assertRaises(DSNError):
            parse_dsn(_dsn("x", encoding="x-uuencode"))

    def test_recipient_block_first(self) -> None:
        """A report without per-message fields still yields its recipients."""
        report = parse_dsn(_dsn("Final-Recipient: rfc822;<x@y.z>", "Action: Relayed"))
        assert report is not None
        self.assertEqual(report.reporting_mta, "")
        self.assertEqual(report.recipients[0].final_recipient, "x@y.z")
        self.assertEqual(report.recipients[0].action, "relayed")


class SMTPCodeTests(SynchronousTestCase):
    def test_from_diagnostic(self) -> None:
        """The smtp Diagnostic-Code gives the code and the short enhanced code (spec §7.3)."""
        cases = [
            ("550 5.1.1 no such user", (550, "1.1")),
            ("550-5.1.1 first line 550 5.1.1 second line", (550, "1.1")),
            ("452 4.2.2 mailbox full", (452, "2.2")),
            ("550 no such user", (550, "")),
        ]
        for diagnostic, expected in cases:
            rcpt = _recipient(diagnostic_type="smtp", diagnostic_code=diagnostic, status="5.0.0")
            self.assertEqual(smtp_codes(rcpt), expected, diagnostic)

    def test_from_status(self) -> None:
        """Without an SMTP code, Status 4.x.y gives 400 and 5.x.y 500 (spec §7.3)."""
        self.assertEqual(smtp_codes(_recipient(status="4.4.7")), (400, "4.7"))
        self.assertEqual(smtp_codes(_recipient(status="5.7.1")), (500, "7.1"))
        other_type = _recipient(diagnostic_type="x-postfix", diagnostic_code="550 5.1.1 x")
        self.assertEqual(smtp_codes(other_type), (0, ""))
        self.assertEqual(smtp_codes(_recipient(status="2.0.0")), (0, ""))


class RobustnessTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=300), st.binary(max_size=300))
    def test_arbitrary_input(self, head: bytes, tail: bytes) -> None:
        """Any bytes around or inside a report give a DSN, None or DSNError, nothing else."""
        message = _dsn("Reporting-MTA: dns; a", "", "Final-Recipient: rfc822;x@y.z")
        for data in (head + tail, head + message + tail, message[:80] + head + message[80:]):
            with contextlib.suppress(DSNError):
                parse_dsn(data)
