"""Crash tests: kill -9 during SMTP and webapi load, restart, and count deliveries."""

from __future__ import annotations

import base64
import http.client
import json
import smtplib
import sys
import threading
import urllib.parse
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


#: Webapi Sends answered 200 before the kill; the senders are still sending then.
ANSWERED_BEFORE_KILL = 150
WEBAPI_SENDERS = 4


class WebAPICrashTests(SynchronousTestCase):
    """A 200 from Send means queued durably, even when the server dies mid-load."""

    def test_kill_during_sends_loses_and_duplicates_nothing(self) -> None:
        """Four connections send while the server is killed with SIGKILL: after a restart
        every Send answered 200 is delivered exactly once, and a Send cut off by the kill
        at most once."""
        if sys.platform == "win32":
            self.skipTest("SIGKILL is POSIX")
        server = LocalserveProcess(Path(self.mktemp()))
        self.addCleanup(server.stop)
        server.start()
        auth = "Basic " + base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
        answered: list[str] = []
        tried: list[str] = []
        lock = threading.Lock()
        enough = threading.Event()

        def sender(n: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", server.http_port, timeout=30)
            try:
                for i in range(10_000):
                    rcpt = f"w{n}m{i}@example.com"
                    request = {"To": [{"Address": rcpt}], "Subject": f"crash {n} {i}", "Text": "x"}
                    body = urllib.parse.urlencode({"request": json.dumps(request)})
                    with lock:
                        tried.append(rcpt)
                    connection.request(
                        "POST",
                        "/webapi/v0/Send",
                        body,
                        {
                            "Authorization": auth,
                            "Content-Type": "application/x-www-form-urlencoded",
                        },
                    )
                    response = connection.getresponse()
                    response.read()
                    if response.status != 200:
                        return
                    with lock:
                        answered.append(rcpt)
                        if len(answered) >= ANSWERED_BEFORE_KILL:
                            enough.set()
            except (OSError, http.client.HTTPException):
                return  # the server was killed under this request
            finally:
                connection.close()

        threads = [threading.Thread(target=sender, args=(n,)) for n in range(WEBAPI_SENDERS)]
        for thread in threads:
            thread.start()
        self.assertTrue(enough.wait(60), "the webapi did not answer enough Sends")
        server.kill()  # the senders are mid-request
        for thread in threads:
            thread.join(30)
        self.assertGreaterEqual(len(answered), ANSWERED_BEFORE_KILL)

        server.start()
        server.wait_for("queue list", lambda rows: rows == [], timeout=120)
        inbox = server.cli("messages", "list")
        counts = Counter(r["rcpt_to"] for r in inbox if r["mailbox"] == "Inbox")
        self.assertEqual(set(answered) - set(counts), set())
        self.assertEqual(set(counts) - set(tried), set())
        self.assertEqual([r for r, n in counts.items() if n > 1], [])
