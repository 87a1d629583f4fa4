"""The root of the http listener: the webapi at its configured path, the status page elsewhere."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from twisted.web.resource import IResource, Resource


class _Branch(Resource):
    """One path segment on the way to a mount; any other path falls through to ``fallback``."""

    def __init__(self, fallback: IResource) -> None:
        super().__init__()
        self._fallback = fallback

    def getChild(self, path: bytes, request: Any) -> IResource:
        # Not a mount: give the status page the whole path, which it routes itself.
        consumed = len(request.prepath)
        request.postpath[:0] = request.prepath
        del request.prepath[:consumed]
        return self._fallback

    def render(self, request: Any) -> Any:
        request.postpath[:0] = request.prepath
        request.prepath[:] = []
        return self._fallback.render(request)


def http_root(fallback: IResource, mounts: Mapping[str, IResource]) -> IResource:
    """A root serving each ``mounts`` path (e.g. ``"/webapi/"``) and ``fallback`` for the rest."""
    root = _Branch(fallback)
    for path, resource in mounts.items():
        segments = [s.encode() for s in path.strip("/").split("/") if s]
        if not segments:
            raise ValueError(f"cannot mount at {path!r}: the root is the status page")
        node = root
        for segment in segments[:-1]:
            child = node.children.get(segment)
            if child is None:
                child = _Branch(fallback)
                node.putChild(segment, child)
            node = child
        node.putChild(segments[-1], resource)
    return root
