"""End to end: webhooks from a real localserve to a real HTTP receiver on loopback."""

from __future__ import annotations

import json
import smtplib
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.localserve_process import LocalserveProcess, child_env
from tests.test_localserve_e2e import LOGIN, PASSWORD, message


class Receiver:
    """An HTTP server on 127.0.0.1 that records webhook POSTs; /fail answers 500 once."""

    def __init__(self) -> None:
        # Headers as an email.message.Message: names compare case-insensitively, as in HTTP.
        self.requests: list[tuple[str, Any, Any]] = []
        self.failed_once = False
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((self.path, self.headers, json.loads(body)))
                status = 200
                if self.path == "/fail" and not receiver.failed_once:
                    receiver.failed_once = True
                    status = 500
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in list(self.requests) if predicate(r)]
            if found:
                return found
            time.sleep(0.1)
        raise AssertionError(f"no matching webhook; got {self.requests}")


class WebhookEndToEndTests(SynchronousTestCase):
    """An application hears about its mail through webhooks."""

    def setUp(self) -> None:
        if sys.platform == "win32":
            self.skipTest("the child is stopped with POSIX signals")
        self.receiver = Receiver()
        self.addCleanup(self.receiver.stop)
        self.server = LocalserveProcess(Path(self.mktemp()))
        self.addCleanup(self.server.stop)
        self.server.start()

    def cli(self, *arguments: str) -> str:
        command = [sys.executable, "-m", "mailtwist.cli", *arguments]
        result = subprocess.run(
            [*command, "--dir", str(self.server.directory)],
            capture_output=True,
            text=True,
            env=child_env(),
            timeout=60,
            check=False,
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout

    def submit(self, to: str, extra: str = "") -> None:
        msg = message(to, "webhook test")
        if extra:
            msg["X-Mox-Extra-Orderid"] = extra
        with smtplib.SMTP("127.0.0.1", self.server.submission_port, timeout=30) as client:
            client.login(LOGIN, PASSWORD)
            client.send_message(msg)

    def test_delivered_and_incoming_events(self) -> None:
        """A submission with X-Mox-Extra-Orderid: 42 yields a delivered event with Extra
        {"Orderid": "42"} and an incoming event for the copy delivered locally."""
        self.cli(
            "webhook", "settings", "set", "mailtwist",
            "--outgoing-url", self.receiver.url("/out"),
            "--incoming-url", self.receiver.url("/in"),
        )  # fmt: skip
        self.submit("friend@localhost", extra="42")
        [(_, headers, delivered)] = self.receiver.wait_for(lambda r: r[0] == "/out")
        self.assertEqual(delivered["Event"], "delivered")
        self.assertEqual(delivered["Extra"], {"Orderid": "42"})
        self.assertEqual(headers["X-Mox-Webhook-Attempt"], "1")
        self.assertEqual(headers["Content-Type"], "application/json; charset=utf-8")
        [(_, _, incoming)] = self.receiver.wait_for(lambda r: r[0] == "/in")
        self.assertEqual(incoming["Subject"], "webhook test")
        self.assertEqual(incoming["Meta"]["RcptTo"], "friend@localhost")

    def test_failing_receiver_is_retried(self) -> None:
        """A receiver answering 500 leaves the webhook pending with its attempt recorded;
        retried, it is sent again as attempt 2 with the same webhook id."""
        self.cli(
            "webhook", "settings", "set", "mailtwist", "--outgoing-url", self.receiver.url("/fail")
        )
        self.submit("friend@example.com")
        [(_, first, _)] = self.receiver.wait_for(lambda r: r[0] == "/fail")
        self.assertEqual(first["X-Mox-Webhook-Attempt"], "1")
        pending = json.loads(self.cli("webhook", "list", "--json"))
        self.assertEqual(len(pending), 1)
        self.cli("webhook", "retry", "--id", str(pending[0]["id"]))
        second = self.receiver.wait_for(
            lambda r: r[0] == "/fail" and r[1]["X-Mox-Webhook-Attempt"] == "2"
        )
        self.assertEqual(second[0][1]["X-Mox-Webhook-ID"], first["X-Mox-Webhook-ID"])
