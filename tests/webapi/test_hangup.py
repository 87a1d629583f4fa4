"""A client that hangs up does not cut a webapi method short."""

from __future__ import annotations

import io
from typing import Any

from twisted.internet.defer import CancelledError, Deferred
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.test.requesthelper import DummyRequest

from mailtwist.webapi import WebAPI


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
