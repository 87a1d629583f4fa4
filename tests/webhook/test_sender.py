"""Tests for mailtwist.webhook.sender: headers, signing, outcomes, timeout."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.client import ResponseNeverReceived

from mailtwist import __version__
from mailtwist.testing.webhooks import WebhookReceiver
from mailtwist.webhook.sender import (
    WebhookRequest,
    WebhookResponse,
    WebhookSender,
    signature_headers,
)

KEY = b"k" * 32
OTHER_KEY = b"o" * 32


def request(**kw: object) -> WebhookRequest:
    values: dict[str, object] = {
        "hook_id": 12,
        "attempt": 1,
        "url": "http://127.0.0.1:8025/outgoing",
        "authorization": "Basic b3V0Z29pbmc6c2VjcmV0",
        "payload": b'{"Version":0}',
    }
    values.update(kw)
    return WebhookRequest(**values)  # type: ignore[arg-type]


class SenderTests(SynchronousTestCase):
    """A WebhookSender POSTs exactly spec §3.1 and reports each kind of outcome."""

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(1_700_000_000)
        self.receiver = WebhookReceiver()
        self.stub = self.receiver.client()
        self.sender = WebhookSender(self.stub, self.clock)

    def send(self, req: WebhookRequest) -> WebhookResponse:
        d = self.sender.post(req)
        self.stub.flush()
        return self.successResultOf(d)

    def test_headers_and_body(self) -> None:
        """The request carries mox's headers, the Authorization verbatim, and the payload."""
        result = self.send(request(attempt=3))
        self.assertTrue(result.success)
        self.assertEqual(result.response, b"ok\n")
        [got] = self.receiver.received
        self.assertEqual(got.body, b'{"Version":0}')
        self.assertEqual(got.headers["user-agent"], f"mailtwist/{__version__} (webhook)")
        self.assertEqual(got.headers["content-type"], "application/json; charset=utf-8")
        self.assertEqual(got.headers["x-mox-webhook-id"], "12")
        self.assertEqual(got.headers["x-mox-webhook-attempt"], "3")
        self.assertEqual(got.headers["authorization"], "Basic b3V0Z29pbmc6c2VjcmV0")
        self.assertNotIn("webhook-signature", got.headers)

    def test_no_authorization_header_when_empty(self) -> None:
        """Without a configured Authorization no such header is sent."""
        self.send(request(authorization=""))
        self.assertNotIn("authorization", self.receiver.received[0].headers)

    def test_signed(self) -> None:
        """With secrets, webhook-id/-timestamp/-signature carry one HMAC per key."""
        self.send(request(keys=(KEY, OTHER_KEY)))
        headers = self.receiver.received[0].headers
        self.assertEqual(headers["webhook-id"], "12")
        self.assertEqual(headers["webhook-timestamp"], "1700000000")
        signed = b'12.1700000000.{"Version":0}'
        expected = [
            "v1," + base64.b64encode(hmac.new(k, signed, hashlib.sha256).digest()).decode()
            for k in (KEY, OTHER_KEY)
        ]
        self.assertEqual(headers["webhook-signature"].split(" "), expected)

    def test_signature_known_vector(self) -> None:
        """The signature matches the Standard Webhooks reference test vector."""
        key = base64.b64decode("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
        headers = signature_headers(
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            b'{"test": 2432232314}',
            [key],
        )
        self.assertEqual(
            headers["webhook-signature"], "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        )

    def test_only_200_is_success(self) -> None:
        """A 204 is a failure with its status recorded (spec §3.1)."""
        self.receiver.status = 204
        self.receiver.body = b""
        result = self.send(request())
        self.assertFalse(result.success)
        self.assertEqual((result.code, result.error), (204, "HTTP status 204, expected 200"))

    def test_response_bounded(self) -> None:
        """Only the first 512 bytes of the response body are kept."""
        self.receiver.status = 500
        self.receiver.body = b"x" * 5000
        result = self.send(request())
        self.assertEqual((result.code, len(result.response)), (500, 512))

    def test_redirect_not_followed(self) -> None:
        """A redirect is a failure naming where it pointed."""
        self.receiver.status = 302
        result = self.send(request())
        self.assertFalse(result.success)
        self.assertIn("http://elsewhere.example/", result.error)
        self.assertEqual(len(self.receiver.received), 1)

    def test_timeout(self) -> None:
        """An endpoint that never answers fails after 60 s of clock time."""
        self.receiver.hang.add("/outgoing")
        d = self.sender.post(request())
        self.stub.flush()
        self.assertNoResult(d)
        self.clock.advance(60)
        result = self.successResultOf(d)
        self.assertEqual((result.code, result.error), (0, "timeout after 60s"))
        self.assertEqual(result.duration, 60)

    def test_stale_connection_tried_once_more(self) -> None:
        """A request that got no response because its kept-alive connection was closed is
        sent once more at once; the receiver sees it once, the outcome is its answer."""
        flaky = _DropsFirst(self.stub, times=1)
        sender = WebhookSender(flaky, self.clock)
        d = sender.post(request())
        self.stub.flush()
        result = self.successResultOf(d)
        self.assertTrue(result.success)
        self.assertEqual(flaky.calls, 2)
        self.assertEqual(len(self.receiver.received), 1)

    def test_stale_connection_only_once(self) -> None:
        """When the second try also gets no response, that failure is the outcome."""
        flaky = _DropsFirst(self.stub, times=2)
        d = WebhookSender(flaky, self.clock).post(request())
        self.stub.flush()
        result = self.successResultOf(d)
        self.assertEqual((result.code, flaky.calls), (0, 2))
        self.assertEqual(result.error, "ConnectionDone: Connection was closed cleanly.")
        self.assertEqual(self.receiver.received, [])

    def test_unusable_url(self) -> None:
        """A URL the client cannot use gives a failed response, not an exception."""
        result = self.send(request(url="http://[::1/x"))
        self.assertFalse(result.success)
        self.assertEqual(result.code, 0)
        self.assertTrue(result.error)

    def test_secrets_not_in_repr(self) -> None:
        """The request's repr shows neither the Authorization nor the keys."""
        text = repr(request(keys=(KEY,)))
        self.assertNotIn("b3V0", text)
        self.assertNotIn("kkkk", text)


class _DropsFirst:
    """An HTTP client whose first ``times`` requests fail as on a closed kept-alive
    connection (no response at all); later ones go to ``client``."""

    def __init__(self, client: Any, times: int) -> None:
        self.client = client
        self.times = times
        self.calls = 0

    def request(self, *args: Any, **kwargs: Any) -> Deferred[Any]:
        self.calls += 1
        if self.calls <= self.times:
            return fail(ResponseNeverReceived([Failure(ConnectionDone())]))
        result: Deferred[Any] = self.client.request(*args, **kwargs)
        return result


class DocumentedReceiverTests(SynchronousTestCase):
    """The receiver code in docs/webhooks.md verifies what the sender signs."""

    def test_docs_verify(self) -> None:
        """The documented verify() accepts our signatures and refuses a changed body."""
        import pathlib
        import time

        text = (pathlib.Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
        code = text.split("```python\n", 1)[1].split("```", 1)[0]
        self.assertLess(len(code.strip().splitlines()), 15)
        namespace: dict[str, object] = {}
        exec(code, namespace)  # our own documentation
        verify = namespace["verify"]
        secret = "whsec_" + base64.b64encode(KEY).decode()
        body = b'{"Version":0}'
        now = int(time.time())
        headers = signature_headers("7", now, body, [OTHER_KEY, KEY])
        self.assertTrue(verify(secret, headers, body))  # type: ignore[operator]
        self.assertFalse(verify(secret, headers, body + b" "))  # type: ignore[operator]
        old = signature_headers("7", now - 3600, body, [KEY])
        self.assertFalse(verify(secret, old, body))  # type: ignore[operator]
