"""Tests for the status page and the loopback wake-up endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.resource import IResource, Resource

from mailtwist.config import load_config, write_localserve_config
from mailtwist.web.status import StatusPage


class ClientAt(Resource):
    """Serves ``inner`` as if the client connected from ``host``."""

    isLeaf = True

    def __init__(self, inner: IResource, host: str) -> None:
        super().__init__()
        self.inner = inner
        self.host = host

    def render(self, request: Any) -> Any:
        request.client = IPv4Address("TCP", self.host, 40000)
        return self.inner.render(request)


class StatusPageTests(SynchronousTestCase):
    """The status page says what runs, and the wake endpoint only answers loopback."""

    def setUp(self) -> None:
        self.config = load_config(write_localserve_config(Path(self.mktemp())))
        self.woken: list[bool] = []
        self.page = StatusPage(self.config, wake=lambda: self.woken.append(True))

    def request(self, method: str, path: str, host: str = "127.0.0.1") -> tuple[Any, bytes]:
        client = StubTreq(ClientAt(self.page.app.resource(), host))
        response = self.successResultOf(client.request(method, "http://localhost" + path))
        body = self.successResultOf(client.content(response))
        return response, body

    def test_index_lists_listeners_with_safe_headers(self) -> None:
        """GET / shows the version and each listener, with the spec §1.1 headers."""
        response, body = self.request("GET", "/")
        self.assertEqual(response.code, 200)
        self.assertIn(b"mailtwist", body)
        self.assertIn(b"1587", body)
        self.assertEqual(response.headers.getRawHeaders(b"X-Frame-Options"), [b"deny"])

    def test_wake_from_loopback(self) -> None:
        """A loopback client's POST /internal/wake wakes the queue."""
        response, _ = self.request("POST", "/internal/wake")
        self.assertEqual(response.code, 200)
        self.assertEqual(self.woken, [True])

    def test_wake_refused_from_elsewhere(self) -> None:
        """A non-loopback client gets 403 and the queue is not woken."""
        response, _ = self.request("POST", "/internal/wake", host="192.0.2.7")
        self.assertEqual(response.code, 403)
        self.assertEqual(self.woken, [])
