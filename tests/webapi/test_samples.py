"""Replays of the captured mox webapi requests: same status, Code and field names (issue 4)."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SkipTest, SynchronousTestCase

from mailtwist.address import base_address, parse_address
from mailtwist.store.records import Suppression
from tests.webapi.fakes import PASSWORD, Harness

SAMPLES = Path("/work/shared/spec/mox-samples")
#: The captured password of mox@localhost; the replay logs in with ours instead.
MOX_PASSWORD = "moxmoxmox"
#: Deliberate difference: mailtwist accepts the request as an application/json
#: body (issue 4 item 1); mox answers "missing/empty request".
EXTENSIONS = {"07-send-json-body-not-form.json": 200}

SIMPLE_MESSAGE = (
    b'From: <mox@localhost>\r\nTo: "Mox User" <mox@localhost>\r\nSubject: simple\r\n'
    b"Message-Id: <FwdzdjATpVBuwaysntN6qA@localhost>\r\nDate: 26 Nov 2026 04:20:30 +0000\r\n"
    b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nhi\r\n"
)


def _samples() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(SAMPLES.glob("*.json")):
        sample = json.loads(path.read_text())
        if "/webapi/" in sample.get("request", {}).get("url", ""):
            found.append((path.name, sample))
    return found


def _same_shape(test: SynchronousTestCase, ours: Any, theirs: Any, where: str) -> None:
    if isinstance(theirs, dict):
        test.assertIsInstance(ours, dict, where)
        test.assertEqual(set(ours), set(theirs), where)
        for key in theirs:
            _same_shape(test, ours[key], theirs[key], f"{where}.{key}")
    elif isinstance(theirs, list):
        test.assertIsInstance(ours, list, where)
        if ours and theirs:
            _same_shape(test, ours[0], theirs[0], f"{where}[0]")
    elif theirs is None:
        return
    else:
        test.assertEqual(type(ours), type(theirs), where)


class SampleReplayTests(SynchronousTestCase):
    """Every captured webapi request, replayed in capture order against one account."""

    def setUp(self) -> None:
        if not SAMPLES.is_dir():
            raise SkipTest(f"no mox samples at {SAMPLES}")
        self.webapi = Harness()
        self.samples = _samples()
        self._seed()

    def _raw_body(self, name: str) -> bytes:
        sample = dict(self.samples)[name]
        body: str = sample["response"]["body"]
        return body.encode("utf-8", "surrogateescape")

    def _seed(self) -> None:
        """The account state the capture had: messages 3, 6 and 32, two suppressions."""
        wanted = {
            3: SIMPLE_MESSAGE,
            6: self._raw_body("22-messagerawget-attachments.json"),
            32: self._raw_body("98b-messagerawget-smtplib-message.json"),
        }
        for msg_id in range(1, 33):
            data = wanted.get(msg_id)
            stored = self.webapi.deliver(
                "mox" if data else "other", data or b"Subject: filler\r\n\r\nx\r\n"
            )
            self.assertEqual(stored, msg_id)
        for address in ("permerror@localhost", "mox@localhost"):
            entry = Suppression(
                account="mox",
                base_address=base_address(parse_address(address)),
                original_address=address,
                manual=False,
                reason="delivery failure",
            )
            self.successResultOf(self.webapi.store.add_suppression(entry))

    def _replay(self, sample: dict[str, Any]) -> Any:
        request = sample["request"]
        headers = {}
        for name, value in request["headers"]:
            if name.lower() == "authorization":
                login, password = base64.b64decode(value.split()[1]).decode().split(":", 1)
                if password == MOX_PASSWORD:
                    password = PASSWORD
                token = base64.b64encode(f"{login}:{password}".encode()).decode()
                value = f"Basic {token}"
            if name.lower() in ("authorization", "content-type"):
                headers[name] = value
        body = request.get("body")
        path = "/" + request["url"].split("/", 3)[3]
        return self.webapi.request(
            request["method"],
            path,
            data=body.encode("utf-8", "surrogateescape") if body else None,
            headers=headers,
        )

    def test_replay(self) -> None:
        """Status, error Code, JSON field names and raw bytes match the capture."""
        replayed = 0
        for name, sample in self.samples:
            expected = sample["response"]
            response = self._replay(sample)
            status = EXTENSIONS.get(name, expected["status"])
            self.assertEqual(response.code, status, f"{name}: {response.body[:200]!r}")
            replayed += 1
            if name in EXTENSIONS:
                continue
            theirs = expected.get("json")
            content_type = dict(expected["headers"]).get("Content-Type", "")
            if isinstance(theirs, dict) and "Code" in theirs:
                self.assertEqual(response.json["Code"], theirs["Code"], name)
            elif isinstance(theirs, dict):
                _same_shape(self, response.json, theirs, name)
            elif name.startswith(("22-", "98b-")):
                self.assertEqual(response.body, self._raw_body(name), name)
            elif name.startswith("23-"):
                self.assertEqual(response.body, bytes(range(16)), name)
            elif content_type.startswith("text/plain"):
                self.assertEqual(response.body.decode(), expected["body"], name)
        self.assertGreaterEqual(replayed, 55)

    def test_message_get_structure(self) -> None:
        """MessageGet of the captured message 6 gives mox's Structure and header fields."""
        expected = dict(self.samples)["21-messageget-attachments.json"]["response"]["json"]
        got = self.webapi.call("MessageGet", {"MsgID": 6}).json
        self.assertEqual(got["Structure"], expected["Structure"])
        for field in ("From", "To", "CC", "BCC", "ReplyTo", "MessageID", "Date", "Subject"):
            self.assertEqual(got["Message"][field], expected["Message"][field], field)
