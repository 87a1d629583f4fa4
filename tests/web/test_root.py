"""Tests for the http listener's root: mounts at their paths, the status page elsewhere."""

from __future__ import annotations

from typing import Any

from klein import Klein
from treq.testing import StubTreq
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.web.root import http_root


class Echo:
    """A Klein app that answers with its name and the path it was given."""

    app = Klein()

    def __init__(self, name: str) -> None:
        self.name = name

    @app.route("/internal/wake")
    def wake(self, request: Any) -> str:
        return f"{self.name} routed wake"

    @app.route("/", branch=True)
    def any_path(self, request: Any) -> str:
        return f"{self.name} {request.path.decode()}"


class RootTests(SynchronousTestCase):
    """Each request reaches exactly one resource, with a path it can route on."""

    def get(self, root: Any, path: str) -> str:
        client = StubTreq(root)
        response = self.successResultOf(client.get("http://localhost" + path))
        return self.successResultOf(client.text_content(response))

    def test_mount_and_fallback(self) -> None:
        """The mounted path goes to the mount; every other path, the root included, goes to
        the fallback with its full path."""
        root = http_root(Echo("status").app.resource(), {"/webapi/": Echo("api").app.resource()})
        self.assertEqual(self.get(root, "/"), "status /")
        self.assertEqual(self.get(root, "/internal/wake"), "status routed wake")
        self.assertEqual(self.get(root, "/webapi/v0/Send"), "api /webapi/v0/Send")
        self.assertEqual(self.get(root, "/webapix"), "status /webapix")

    def test_nested_mount(self) -> None:
        """A mount several segments deep leaves its siblings to the fallback."""
        root = http_root(Echo("status").app.resource(), {"/api/mail/": Echo("api").app.resource()})
        self.assertEqual(self.get(root, "/api/mail/v0/"), "api /api/mail/v0/")
        self.assertEqual(self.get(root, "/api/other"), "status /api/other")

    def test_root_cannot_be_a_mount(self) -> None:
        """The root path belongs to the status page."""
        with self.assertRaises(ValueError):
            http_root(Echo("status").app.resource(), {"/": Echo("api").app.resource()})
