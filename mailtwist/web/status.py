"""The HTTP status page, and the loopback-only wake-up the CLI sends after queue changes."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from html import escape
from typing import Any

from klein import Klein

from mailtwist import __version__
from mailtwist.config import Config

#: Headers every internal web page carries (spec §1.1).
SAFE_HEADERS = {
    b"X-Frame-Options": b"deny",
    b"X-Content-Type-Options": b"nosniff",
    b"Content-Security-Policy": b"default-src 'self' 'unsafe-inline' data:",
    b"Referrer-Policy": b"same-origin",
}


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class StatusPage:
    """A small page saying what runs where; no account data, so no login needed.

    ``POST /internal/wake`` makes the queue look for due work now: the CLI changes
    the store from another process and calls it so the running scheduler does not
    wait for its timer. It carries no data and is answered only to loopback clients.
    """

    app = Klein()

    def __init__(self, config: Config, wake: Callable[[], None] | None = None) -> None:
        self.config = config
        self._wake = wake

    @app.route("/internal/wake", methods=["POST"])
    def wake(self, request: Any) -> bytes:
        for name, value in SAFE_HEADERS.items():
            request.setHeader(name, value)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        if not _is_loopback(getattr(request.getClientAddress(), "host", "")):
            request.setResponseCode(403)
            return b"403 - forbidden - loopback clients only\n"
        if self._wake is not None:
            self._wake()
        return b"ok\n"

    @app.route("/", methods=["GET", "HEAD"])
    def index(self, request: Any) -> bytes:
        for name, value in SAFE_HEADERS.items():
            request.setHeader(name, value)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        config = self.config
        rows = "".join(
            f"<tr><td>{escape(listener.kind)}</td>"
            f"<td>{escape(', '.join(listener.addresses))}</td><td>{listener.port}</td></tr>"
            for listener in config.listeners
        )
        mode = "localserve (deliveries simulated)" if config.localserve else "production"
        webapi = (
            f'<p>The webapi: <a href="{escape(config.webapi_path)}v0/">'
            f"{escape(config.webapi_path)}v0/</a>.</p>"
            if config.webapi_enabled
            else "<p>The webapi is disabled in the config.</p>"
        )
        page = (
            "<!doctype html><html><head><meta charset=utf-8><title>mailtwist</title></head>"
            f"<body><h1>mailtwist {escape(__version__)}</h1>"
            f"<p>{escape(config.hostname.unicode)}, {escape(mode)}.</p>"
            "<table><tr><th>listener</th><th>addresses</th><th>port</th></tr>"
            f"{rows}</table>"
            f"{webapi}</body></html>"
        )
        return page.encode()
