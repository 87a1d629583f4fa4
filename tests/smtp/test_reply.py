"""Tests for mailtwist.smtp.reply: reply lines as they go on the wire."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.smtp.reply import REPLY_LINE_LIMIT, SMTPReply


class ReplyLinesTests(SynchronousTestCase):
    def test_multiline(self) -> None:
        """Each text line is a reply line; all but the last have "-" (RFC 5321 §4.2.1)."""
        reply = SMTPReply(250, "", "mx.example.org\nPIPELINING")
        self.assertEqual(reply.lines(), [b"250-mx.example.org", b"250 PIPELINING"])
        self.assertEqual(SMTPReply(250, "2.0.0", "ok").lines(), [b"250 2.0.0 ok"])

    def test_regression_long_echo_is_cut(self) -> None:
        """Echoed client input never makes a line over 512 octets with CRLF (RFC 5321
        §4.5.3.1.5): a review got 548-octet replies from a long address literal."""
        reply = SMTPReply(501, "5.1.7", "bad address: '[" + "9" * 600 + "]'")
        [line] = reply.lines()
        self.assertEqual(len(line) + 2, REPLY_LINE_LIMIT)
        self.assertTrue(line.startswith(b"501 5.1.7 bad address: '[999"))
        self.assertTrue(line.endswith(b"..."))

    def test_sasl_challenge_is_not_cut(self) -> None:
        """A 334 SASL challenge may fill the 12288 octets RFC 4954 §4 allows."""
        challenge = "QUFB" * 2000
        self.assertEqual(SMTPReply(334, "", challenge).lines(), [b"334 " + challenge.encode()])

    def test_regression_non_text_is_escaped(self) -> None:
        """Non-ASCII and control characters of echoed input are written as escapes, so
        a reply is always ASCII textstring (RFC 5321 §4.2); tabs stay."""
        reply = SMTPReply(501, "5.5.4", "bad parameter keyword '\u00e9\x01\x00\u20ac\t'")
        self.assertEqual(
            reply.lines(), [b"501 5.5.4 bad parameter keyword '\\xe9\\x01\\x00\\u20ac\t'"]
        )
