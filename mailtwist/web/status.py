"""The HTTP status page served on the http listener until the webapi arrives."""

from __future__ import annotations

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


class StatusPage:
    """A small page saying what runs where; no account data, so no login needed."""

    app = Klein()

    def __init__(self, config: Config) -> None:
        self.config = config

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
        page = (
            "<!doctype html><html><head><meta charset=utf-8><title>mailtwist</title></head>"
            f"<body><h1>mailtwist {escape(__version__)}</h1>"
            f"<p>{escape(config.hostname.unicode)}, {escape(mode)}.</p>"
            "<table><tr><th>listener</th><th>addresses</th><th>port</th></tr>"
            f"{rows}</table>"
            "<p>The webapi is not served yet.</p></body></html>"
        )
        return page.encode()
