"""Large requests and messages are parsed and composed off the reactor (run_in_thread)."""

from __future__ import annotations

import base64
import json

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.webapi._methods import OFF_REACTOR_FROM
from tests.webapi.fakes import PASSWORD, FakeSigner, Harness

BIG = OFF_REACTOR_FROM + 1


def _message(attachment: bytes) -> bytes:
    encoded = base64.encodebytes(attachment).replace(b"\n", b"\r\n")
    return (
        b"From: <sender@example.org>\r\nTo: <mox@localhost>\r\nSubject: big\r\n"
        b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + encoded + b"--b--\r\n"
    )


class LargeInputTests(SynchronousTestCase):
    """Over OFF_REACTOR_FROM bytes the work goes to run_in_thread; below it, it stays."""

    def setUp(self) -> None:
        self.webapi = Harness()

    def test_small_send_stays_on_the_reactor(self) -> None:
        """A small Send is parsed and composed where it arrives: no thread hop."""
        response = self.webapi.call("Send", {"To": [{"Address": "a@example.org"}], "Text": "hi"})
        self.assertEqual(response.code, 200)
        self.assertEqual(self.webapi.in_thread, [])

    def test_large_send_parsed_and_composed_in_thread(self) -> None:
        """A Send with a body over the limit is parsed and composed by run_in_thread, and
        still queued whole."""
        text = "x" * 70 + "\n"
        request = {"To": [{"Address": "a@example.org"}], "Text": text * (BIG // len(text) + 1)}
        response = self.webapi.call("Send", request)
        self.assertEqual(response.code, 200, response.body)
        self.assertEqual(self.webapi.in_thread, ["_parse_request", "compose"])
        [queued] = self.webapi.submitted
        self.assertGreater(len(queued.data), BIG)

    def test_large_attachment_send_composed_in_thread(self) -> None:
        """Attachment data counts toward the size that sends composing to a thread."""
        data = base64.b64encode(b"\0" * BIG).decode()
        request = {
            "To": [{"Address": "a@example.org"}],
            "Text": "see attached",
            "AttachedFiles": [{"Name": "zeros.bin", "Data": data}],
        }
        self.assertEqual(self.webapi.call("Send", request).code, 200)
        self.assertIn("compose", self.webapi.in_thread)

    def test_large_bad_request_refused_from_thread(self) -> None:
        """A large body that is not valid JSON gets the same protocol error as a small one."""
        text = '{"To": [' + " " * BIG
        response = self.webapi.call("Send", text)
        self.assertEqual(response.code, 400)
        self.assertEqual(response.json["Code"], "protocol")
        self.assertTrue(response.json["Message"].startswith("parsing request"))
        self.assertEqual(self.webapi.in_thread, ["_parse_request"])
        self.assertEqual(self.webapi.submitted, [])

    def test_large_json_body_in_thread(self) -> None:
        """The application/json extension takes the same path for a large body."""
        body = json.dumps({"To": [{"Address": "a@example.org"}], "Text": "y" * BIG}).encode()
        response = self.webapi.request(
            "POST",
            "/webapi/v0/Send",
            data=body,
            headers={"Content-Type": "application/json"},
            auth=("mox@localhost", PASSWORD),
        )
        self.assertEqual(response.code, 200, response.body)
        self.assertEqual(self.webapi.in_thread[0], "_parse_request")

    def test_message_get_and_part_get_of_large_message_in_thread(self) -> None:
        """MessageGet and MessagePartGet parse a large stored message on a thread and
        answer as for a small one."""
        attachment = bytes(range(256)) * (BIG // 256 + 1)
        msg_id = self.webapi.deliver("mox", _message(attachment))
        got = self.webapi.call("MessageGet", {"MsgID": msg_id})
        self.assertEqual(got.code, 200)
        self.assertEqual(got.json["Message"]["Subject"], "big")
        part = self.webapi.call("MessagePartGet", {"MsgID": msg_id, "PartPath": [1]})
        self.assertEqual(part.body, attachment)
        self.assertEqual(self.webapi.in_thread, ["message_get_result", "part_data"])

    def test_small_message_get_stays_on_the_reactor(self) -> None:
        """A small stored message is parsed inline."""
        msg_id = self.webapi.deliver("mox", _message(b"tiny"))
        self.assertEqual(self.webapi.call("MessageGet", {"MsgID": msg_id}).code, 200)
        self.assertEqual(
            self.webapi.call("MessagePartGet", {"MsgID": msg_id, "PartPath": [1]}).body, b"tiny"
        )
        self.assertEqual(self.webapi.in_thread, [])


class SigningPlaceTests(SynchronousTestCase):
    """Quick (Ed25519) signing of a small message stays inline; RSA or a large message
    goes to run_in_thread."""

    SEND = {"To": [{"Address": "a@example.org"}], "Text": "hi"}

    def test_quick_signer_small_message_inline(self) -> None:
        """A signer that signs quickly signs a small Send where it is composed."""
        webapi = Harness(signer=FakeSigner(quickly=True))
        self.assertEqual(webapi.call("Send", self.SEND).code, 200)
        self.assertEqual(webapi.in_thread, [])
        self.assertIn(b"DKIM-Signature: ", webapi.submitted[0].data)

    def test_slow_signer_in_thread(self) -> None:
        """A signer with RSA keys signs even a small Send on a thread."""
        webapi = Harness(signer=FakeSigner(quickly=False))
        self.assertEqual(webapi.call("Send", self.SEND).code, 200)
        self.assertEqual(webapi.in_thread, ["sign"])

    def test_quick_signer_large_message_in_thread(self) -> None:
        """A large message is signed on a thread even with a quick signer."""
        webapi = Harness(signer=FakeSigner(quickly=True))
        self.assertEqual(webapi.call("Send", {**self.SEND, "Text": "z" * BIG}).code, 200)
        self.assertEqual(webapi.in_thread, ["_parse_request", "compose", "sign"])
