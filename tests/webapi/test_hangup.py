"""A client that hangs up does not cut a webapi method short, nor is it logged as a failure."""

from __future__ import annotations

import base64
import io
import urllib.parse
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.logger import LogLevel, globalLogPublisher
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.server import Site
from twisted.web.test.requesthelper import DummyRequest

from mailtwist.store.records import NewMessage, QueuedMessage
from mailtwist.webapi import WebAPI
from mailtwist.webapi._app import webapi_request_factory
from tests.webapi.fakes import PASSWORD, Harness


class PendingMethods:
    """SuppressionList answers only when the test fires ``pending``."""

    def __init__(self) -> None:
        self.pending: Deferred[Any] = Deferred()
        self.finished = False

    def SuppressionList(self, record: Any, context: Any) -> Deferred[Any]:
        def done(result: Any) -> Any:
            self.finished = True
            return result

        return self.pending.addCallback(done)


class HangupTests(SynchronousTestCase):
    def test_cancelled_answer_lets_the_method_finish(self) -> None:
        """Cancelling the answer (Klein does when the connection is lost) neither cancels
        the method nor logs an error; the method runs to its end."""
        methods = PendingMethods()
        webapi = WebAPI(authenticator=None, limiter=None, methods=methods, max_message_size=1000)
        request = DummyRequest([b"SuppressionList"])
        request.requestHeaders.setRawHeaders(
            b"content-type", [b"application/x-www-form-urlencoded"]
        )
        request.isSecure = lambda: False  # type: ignore[method-assign]
        answer = webapi._call_method(
            request, "SuppressionList", "acct", "acct@example.com", io.BytesIO(b"request={}")
        )
        answer.cancel()
        self.failureResultOf(answer, CancelledError)
        self.assertFalse(methods.pending.called)
        work = methods.pending
        methods.pending.callback({"Suppressions": []})
        self.assertTrue(methods.finished)
        # The work's own chain ends cleanly: no AlreadyCalledError from the answer.
        self.assertIsNone(self.successResultOf(work))
        self.assertEqual(self.flushLoggedErrors(), [])


class DisconnectLogTests(SynchronousTestCase):
    """A client that goes away during a call is normal: logged at info, not as a failure."""

    def setUp(self) -> None:
        self.events: list[dict[str, Any]] = []
        globalLogPublisher.addObserver(self.events.append)
        self.addCleanup(globalLogPublisher.removeObserver, self.events.append)
        self.webapi = Harness()
        self.held: list[Deferred[list[QueuedMessage]]] = []
        real_submit = self.webapi.submit

        def slow_submit(*messages: NewMessage) -> Deferred[list[QueuedMessage]]:
            d: Deferred[list[QueuedMessage]] = Deferred()
            self.held.append(d)
            return d.addCallback(lambda _: real_submit(*messages))

        self.webapi.submit = slow_submit  # type: ignore[method-assign]
        site = Site(self.webapi.root, requestFactory=webapi_request_factory(1024 * 1024))
        self.channel = site.buildProtocol(None)
        self.transport = StringTransport()
        self.channel.makeConnection(self.transport)

    def post(self, request: str) -> None:
        body = urllib.parse.urlencode({"request": request}).encode()
        token = base64.b64encode(f"mox@localhost:{PASSWORD}".encode())
        self.channel.dataReceived(
            b"POST /webapi/v0/Send HTTP/1.1\r\nHost: localhost\r\n"
            b"Authorization: Basic " + token + b"\r\n"
            b"Content-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
        )

    def test_disconnect_during_send(self) -> None:
        """The client hanging up while its Send is queued logs no failure and nothing
        above info; the Send still finishes."""
        self.post('{"To": [{"Address": "mox@localhost"}], "Text": "hi"}')
        self.assertEqual(len(self.held), 1)
        self.channel.connectionLost(Failure(ConnectionDone()))
        self.held[0].callback(None)
        self.assertEqual(len(self.webapi.submitted), 1)
        self.assertEqual(self.flushLoggedErrors(), [])
        loud = [e for e in self.events if e.get("log_level", LogLevel.info) > LogLevel.info]
        self.assertEqual(loud, [])
        self.assertIn(
            "webapi client went away before its answer",
            [e.get("log_format") for e in self.events],
        )
        self.assertEqual(self.transport.value(), b"")

    def test_disconnect_during_password_check(self) -> None:
        """The client hanging up while its password is checked logs no failure, and no
        method runs for it."""
        pending: Deferred[str | None] = Deferred()
        self.webapi.authenticator.check_password = (  # type: ignore[method-assign]
            lambda login, password: pending
        )
        self.post('{"To": [{"Address": "mox@localhost"}], "Text": "hi"}')
        self.channel.connectionLost(Failure(ConnectionDone()))
        pending.callback("mox")
        self.assertEqual(self.held, [])
        self.assertEqual(self.flushLoggedErrors(), [])
        loud = [e for e in self.events if e.get("log_level", LogLevel.info) > LogLevel.info]
        self.assertEqual(loud, [])
