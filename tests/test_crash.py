"""Crash test: kill -9 right after the last 250, restart, and count deliveries."""

from __future__ import annotations

import smtplib
import sys
from collections import Counter
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from tests.localserve_process import LocalserveProcess
from tests.test_localserve_e2e import LOGIN, PASSWORD, message

MESSAGES = 40
RECIPIENTS_PER_MESSAGE = 10


class CrashTests(SynchronousTestCase):
    """Nothing accepted is lost and nothing is delivered twice across a kill -9."""

    def test_kill_after_last_accept_loses_and_duplicates_nothing(self) -> None:
        """Every recipient of every accepted message ends up in the Inbox exactly once
        after the server is killed with SIGKILL right after its last 250 and restarted."""
        if sys.platform == "win32":
            self.skipTest("SIGKILL is POSIX")
        server = LocalserveProcess(Path(self.mktemp()))
        self.addCleanup(server.stop)
        server.start()

        expected: list[str] = []
        client = smtplib.SMTP("127.0.0.1", server.submission_port, timeout=30)
        client.login(LOGIN, PASSWORD)  # plaintext AUTH: allowed in localserve only
        for i in range(MESSAGES):
            rcpts = [f"m{i}r{j}@example.com" for j in range(RECIPIENTS_PER_MESSAGE)]
            refused = client.send_message(message(rcpts[0], f"crash {i}"), to_addrs=rcpts)
            self.assertEqual(refused, {})
            expected.extend(rcpts)
        server.kill()  # right after the last 250, with the session still open
        client.close()

        server.start()
        server.wait_for("queue list", lambda rows: rows == [], timeout=120)
        inbox = server.cli("messages", "list")
        counts = Counter(r["rcpt_to"] for r in inbox if r["mailbox"] == "Inbox")
        self.assertEqual(set(counts), set(expected))
        self.assertEqual([r for r, n in counts.items() if n > 1], [])
