"""A scripted webhook receiver for tests (StubTreq): records requests, answers as told."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from treq.testing import StubTreq
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request


@dataclass(frozen=True)
class ReceivedWebhook:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes


class WebhookReceiver(Resource):
    """Records every request; answers ``status`` (per path: ``statuses``) with ``body``.

    A path in ``hang`` never answers (a slow endpoint); ``redirect`` sends a 302.
    """

    isLeaf = True

    def __init__(self) -> None:
        super().__init__()
        self.received: list[ReceivedWebhook] = []
        self.status = 200
        self.statuses: dict[str, int] = {}
        self.body = b"ok\n"
        self.hang: set[str] = set()
        self.hanging: list[Request] = []

    def render(self, request: Request) -> Any:
        if request.method != b"POST":
            request.setResponseCode(405)
            return b"POST only\n"
        path = request.path.decode("ascii")
        headers = {
            k.decode("latin-1").lower(): b", ".join(v).decode("latin-1")
            for k, v in request.requestHeaders.getAllRawHeaders()
        }
        assert request.content is not None
        self.received.append(ReceivedWebhook(path, headers, request.content.read()))
        if path in self.hang:
            self.hanging.append(request)
            return NOT_DONE_YET
        status = self.statuses.get(path, self.status)
        request.setResponseCode(status)
        if 300 <= status < 400:
            request.setHeader(b"location", b"http://elsewhere.example/")
        return self.body

    def client(self) -> StubTreq:
        """A StubTreq whose requests all reach this receiver."""
        return StubTreq(self)
