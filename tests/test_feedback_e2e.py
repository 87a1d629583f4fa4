"""End to end on localserve: failure DSNs to the sender and automatic suppression."""

from __future__ import annotations

import email
import email.policy
import smtplib
import sys
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from tests.localserve_process import LocalserveProcess
from tests.test_localserve_e2e import LOGIN, PASSWORD, message


class FeedbackEndToEndTests(SynchronousTestCase):
    """What a sender hears back from a localserve that simulates a 550."""

    def setUp(self) -> None:
        if sys.platform == "win32":
            self.skipTest("the child is stopped with POSIX signals")
        self.server = LocalserveProcess(Path(self.mktemp()))
        self.addCleanup(self.server.stop)
        self.server.start()

    def submit(self, to: str, subject: str) -> str:
        msg = message(to, subject)
        msg["Message-ID"] = f"<{subject.replace(' ', '-')}@e2e.test>"
        with smtplib.SMTP("127.0.0.1", self.server.submission_port, timeout=30) as client:
            client.login(LOGIN, PASSWORD)
            client.send_message(msg)
        return str(msg["Message-ID"])

    def test_permanent_failure_sends_dsn_and_suppresses(self) -> None:
        """A 550 for xpermerror@localhost puts a failure DSN in the sender's Inbox whose
        Diagnostic-Code is the full 550 reply and whose References names the original;
        the address is then suppressed, so a send to a variant of it fails at once
        without a delivery attempt."""
        original = self.submit("xpermerror@localhost", "first try")
        inbox = self.server.wait_for(
            "messages list", lambda rows: any(r["dsn"] for r in rows), timeout=60
        )
        dsn_row = next(r for r in inbox if r["dsn"])
        self.assertEqual(dsn_row["mailbox"], "Inbox")
        dsn = email.message_from_bytes(
            self.server.message_bytes(dsn_row["id"]), policy=email.policy.default
        )
        self.assertEqual(dsn.get_content_type(), "multipart/report")
        self.assertEqual(dsn["References"], original)
        # Unfolded (RFC 5322 §2.2.3), the field must hold the whole reply.
        status = " ".join(dsn.get_payload()[1].as_string().split())
        self.assertIn(
            "Diagnostic-Code: smtp; 550 5.0.0 failure with code 550 due to special localpart",
            status,
        )

        self.submit("X.Permerror+tag@localhost", "second try")
        retired = self.server.wait_for(
            "retired list",
            lambda rows: any(r["recipient"] == "X.Permerror+tag@localhost" for r in rows),
            timeout=60,
        )
        second = next(r for r in retired if r["recipient"] == "X.Permerror+tag@localhost")
        self.assertEqual(second["event"], "suppressed")
        self.assertEqual(second["results"][-1]["code"], 0)
        self.assertIn("suppression list", second["results"][-1]["error"])
