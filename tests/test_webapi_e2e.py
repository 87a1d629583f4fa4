"""End to end: the webapi of a real localserve, called the way curl calls it."""

from __future__ import annotations

import base64
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from tests.localserve_process import LocalserveProcess
from tests.test_localserve_e2e import LOGIN, PASSWORD


class WebAPIEndToEndTests(SynchronousTestCase):
    """Send through the webapi, then read the delivered copy back with MessageGet."""

    def setUp(self) -> None:
        if sys.platform == "win32":
            self.skipTest("the child is stopped with POSIX signals")
        self.server = LocalserveProcess(Path(self.mktemp()))
        self.addCleanup(self.server.stop)
        self.server.start()

    def call(self, method: str, request: dict[str, Any], password: str = PASSWORD) -> Any:
        # curl -u LOGIN:PASSWORD --data-urlencode request@- .../webapi/v0/METHOD
        url = f"http://127.0.0.1:{self.server.http_port}/webapi/v0/{method}"
        body = urllib.parse.urlencode({"request": json.dumps(request)}).encode()
        credentials = base64.b64encode(f"{LOGIN}:{password}".encode()).decode()
        http = urllib.request.Request(url, data=body, method="POST")
        http.add_header("Authorization", f"Basic {credentials}")
        http.add_header("Content-Type", "application/x-www-form-urlencoded")
        with urllib.request.urlopen(http, timeout=30) as response:
            data = response.read()
            if response.headers.get_content_type() == "application/json":
                return json.loads(data)
            return data

    def test_send_then_message_get(self) -> None:
        """A Send to a local address is queued, delivered into the Inbox, and MessageGet of
        that copy returns the subject and text that were sent."""
        result = self.call(
            "Send",
            {"To": [{"Address": "friend@localhost"}], "Subject": "hello", "Text": "hi there"},
        )
        self.assertEqual(len(result["Submissions"]), 1)
        inbox = self.server.wait_for(
            "messages list",
            lambda rows: any(r["rcpt_to"] == "friend@localhost" for r in rows),
        )
        stored = next(r for r in inbox if r["rcpt_to"] == "friend@localhost")
        got = self.call("MessageGet", {"MsgID": stored["id"]})
        self.assertEqual(got["Message"]["Subject"], "hello")
        self.assertEqual(got["Message"]["Text"], "hi there\n")
        self.assertEqual(got["Message"]["MessageID"], result["MessageID"])
        self.assertEqual(got["Meta"]["MailboxName"], "Inbox")

    def test_bad_password_is_401(self) -> None:
        """A wrong password gets mox's plain-text 401 with the Basic challenge."""
        with self.assertRaises(urllib.error.HTTPError) as caught:
            self.call("SuppressionList", {}, password="wrong")
        self.addCleanup(caught.exception.close)
        self.assertEqual(caught.exception.code, 401)
        self.assertEqual(caught.exception.headers["WWW-Authenticate"], "Basic realm=webapi")
