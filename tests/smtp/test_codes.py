"""Tests for mailtwist.smtp.codes: the named replies carry matching enhanced codes."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.smtp import codes
from mailtwist.smtp.reply import SMTPReply


class CodesTests(SynchronousTestCase):
    def test_reply_class_from_code(self) -> None:
        """reply() takes the enhanced class digit from the reply code."""
        self.assertEqual(codes.reply(452, "5.3", "x"), SMTPReply(452, "4.5.3", "x"))

    def test_every_named_reply_has_enhanced_code(self) -> None:
        """Every named reply has an RFC 3463 enhanced code matching its class."""
        for name in codes.__all__:
            value = getattr(codes, name)
            if isinstance(value, SMTPReply):
                self.assertTrue(value.enhanced.startswith(str(value.code)[0] + "."), name)

    def test_rfc_codes(self) -> None:
        """The replies other parts rely on have the codes the RFCs name."""
        self.assertEqual(str(codes.MESSAGE_TOO_LARGE).split()[:2], ["552", "5.3.4"])
        self.assertEqual(str(codes.AUTH_FAILED).split()[:2], ["535", "5.7.8"])
        self.assertEqual(str(codes.AUTH_NEEDS_TLS).split()[:2], ["538", "5.7.11"])
        self.assertEqual(str(codes.unrecognized_parameter("X")).split()[:2], ["555", "5.3.3"])
        self.assertEqual(str(codes.bad_sequence("x")).split()[:2], ["503", "5.5.1"])
