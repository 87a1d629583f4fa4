"""One webhook HTTP request: headers, Standard Webhooks signatures, timeout, the outcome."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import treq
from twisted.internet.defer import CancelledError, Deferred, TimeoutError, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.client import RequestTransmissionFailed, ResponseNeverReceived

from mailtwist import __version__

_log = Logger()

#: spec §3.1: the whole request, reading the response included.
TIMEOUT = 60.0

#: spec §3.1: how much of the response body is kept in the attempt record.
MAX_RESPONSE = 512

USER_AGENT = f"mailtwist/{__version__} (webhook)"


def signature_headers(
    webhook_id: str, timestamp: int, body: bytes, keys: Sequence[bytes]
) -> dict[str, str]:
    """Standard Webhooks headers: one ``v1,<base64 HMAC-SHA256>`` per key, space-separated.

    The signed content is ``"<id>.<timestamp>.<body>"`` (standardwebhooks.com,
    "Signature scheme"); with two keys during rotation a receiver that knows
    either accepts the request.
    """
    signed = f"{webhook_id}.{timestamp}.".encode("ascii") + body
    signatures = [
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode("ascii")
        for key in keys
    ]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


@dataclass(frozen=True)
class WebhookRequest:
    """What to POST: the hook's id and attempt number, where, and the payload bytes."""

    hook_id: int
    attempt: int
    url: str
    authorization: str
    payload: bytes
    keys: tuple[bytes, ...] = ()

    def __repr__(self) -> str:
        # Authorization and keys are credentials: never in a log line.
        return f"WebhookRequest(hook_id={self.hook_id}, attempt={self.attempt}, url={self.url!r})"

    def headers(self, timestamp: int) -> dict[str, str]:
        """The request headers of spec §3.1, plus signatures when there are keys."""
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json; charset=utf-8",
            "X-Mox-Webhook-ID": str(self.hook_id),
            "X-Mox-Webhook-Attempt": str(self.attempt),
        }
        if self.authorization:
            headers["Authorization"] = self.authorization
        if self.keys:
            headers.update(signature_headers(str(self.hook_id), timestamp, self.payload, self.keys))
        return headers


@dataclass(frozen=True)
class WebhookResponse:
    """The outcome of one request (spec §3.6 HookResult without start and URL).

    ``code`` is the HTTP status, 0 when no response came; ``response`` at most
    512 bytes of the body; ``success`` only for status 200 exactly (spec §3.1).
    """

    code: int
    duration: float
    error: str = ""
    response: bytes = b""

    @property
    def success(self) -> bool:
        return self.code == 200 and not self.error


class _BoundedBody:
    """Collects the first MAX_RESPONSE bytes of a response body, drops the rest."""

    def __init__(self) -> None:
        self.data = b""

    def __call__(self, chunk: bytes) -> None:
        room = MAX_RESPONSE - len(self.data)
        if room > 0:
            self.data += chunk[:room]


def _transport_error(failure: Failure, timeout: float) -> str:
    value = failure.value
    # ResponseFailed and friends wrap a list of reasons.
    reasons = getattr(value, "reasons", None)
    if reasons:
        value = reasons[0].value
    if isinstance(value, (TimeoutError, CancelledError)):
        return f"timeout after {timeout:g}s"
    text = str(value) or type(value).__name__
    return f"{type(value).__name__}: {text}"


class WebhookSender:
    """POSTs webhook requests through an injected treq-like HTTP client.

    ``http_client`` has treq's ``request`` signature (``treq``, a
    ``treq.client.HTTPClient`` or ``treq.testing.StubTreq``). Redirects are not
    followed: mox follows them, but a webhook POSTed to wherever a receiver
    points is a request forgery risk, so a 3xx is a failure naming its Location.
    """

    def __init__(self, http_client: Any, clock: IReactorTime, timeout: float = TIMEOUT) -> None:
        self._http = http_client
        self._clock = clock
        self._timeout = timeout

    def post(self, request: WebhookRequest) -> Deferred[WebhookResponse]:
        """Send one request; always fires with a WebhookResponse, never errbacks."""
        start = self._clock.seconds()
        headers = request.headers(int(start))
        body = _BoundedBody()
        status: list[int] = []
        location: list[str] = []

        def received(response: Any) -> Deferred[None]:
            status.append(response.code)
            location.extend(
                v.decode("latin-1") if isinstance(v, bytes) else v
                for v in response.headers.getRawHeaders(b"location", [])[:1]
            )
            return treq.collect(response, body)

        def finished(_: None) -> WebhookResponse:
            code = status[0]
            error = ""
            if code != 200:
                error = f"HTTP status {code}, expected 200"
                if 300 <= code < 400 and location:
                    error += f" (redirect to {location[0]!r} not followed)"
            return WebhookResponse(code, self._clock.seconds() - start, error, body.data)

        def failed(failure: Failure) -> WebhookResponse:
            return WebhookResponse(
                status[0] if status else 0,
                self._clock.seconds() - start,
                _transport_error(failure, self._timeout),
                body.data,
            )

        def send() -> Deferred[Any]:
            sent: Deferred[Any] = self._http.request(
                "POST",
                request.url,
                headers=headers,
                data=request.payload,
                allow_redirects=False,
            )
            return sent.addCallback(received)

        def stale_connection(failure: Failure) -> Any:
            # A kept-alive connection the receiver had closed fails before any
            # response; Agent retries only idempotent methods, so a POST is tried once
            # more here, on a new connection. Receivers dedupe by webhook id (spec §3.1).
            if status or not failure.check(ResponseNeverReceived, RequestTransmissionFailed):
                return failure
            if any(r.check(CancelledError) for r in getattr(failure.value, "reasons", ())):
                return failure  # our own timeout, not the connection
            return send()

        try:
            d = send()
        except Exception:
            # A URL treq cannot even start a request for (bad host, IDNA, ...).
            return succeed(WebhookResponse(0, 0.0, _transport_error(Failure(), self._timeout)))
        d.addErrback(stale_connection)
        d.addTimeout(self._timeout, self._clock)
        d.addCallbacks(finished, failed)
        return d


__all__ = [
    "MAX_RESPONSE",
    "TIMEOUT",
    "USER_AGENT",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookSender",
    "signature_headers",
]
