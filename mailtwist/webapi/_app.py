"""The webapi transport on Klein: paths, basic auth, forms, error answers (spec §1)."""

from __future__ import annotations

import base64
import binascii
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any, Protocol

from klein import Klein
from twisted.internet.defer import CancelledError, Deferred, maybeDeferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import Request

from mailtwist.web.status import SAFE_HEADERS
from mailtwist.webapi import openapi, pages
from mailtwist.webapi._errors import WebAPIError
from mailtwist.webapi._json import JSONDecodeError, decode_request, encode
from mailtwist.webapi._methods import OFF_REACTOR_FROM, CallContext, RawResult, Upload
from mailtwist.webapi._records import METHODS

_log = Logger()

_UNAUTHORIZED = b"401 - unauthorized - use http basic auth with email address as username\n"
_JSON_TYPE = b"application/json; charset=utf-8"
_TEXT_TYPE = b"text/plain; charset=utf-8"
_NOT_FOUND = b"404 page not found\n"
#: Form keys of multipart uploads for Send (spec §2.3).
_UPLOAD_FIELDS = ("alternativefile", "inlinefile", "attachedfile")
#: Request attribute with (postpath, prepath) as the webapi's resource got them.
_PATHS = "_mailtwist_webapi_paths"
#: Room for the JSON around a message's content, on top of the maximum message size.
_BODY_SLACK = 64 * 1024


class Credentials(Protocol):
    """What the webapi needs of ``mailtwist.auth.sasl.Authenticator``."""

    def check_password(self, login: str, password: str) -> Deferred[str | None]:
        """The account ``login`` authenticates as with ``password``, or None."""


class LoginLimiter(Protocol):
    """What the webapi needs of ``mailtwist.auth.limiter.FailedLoginLimiter``."""

    def allowed(self, ip: str) -> bool: ...

    def failed(self, ip: str) -> None: ...

    def succeeded(self, ip: str) -> None: ...


class _ProtocolError(Exception):
    """The request cannot be read: answered as code ``protocol``."""


@dataclass(frozen=True)
class _Answer:
    """A plain-text answer outside the JSON protocol (401, 404, 405, 413, 429, 500)."""

    status: int
    body: bytes
    headers: tuple[tuple[bytes, bytes], ...] = ()


def _basic_auth(header: bytes | None) -> tuple[str, str] | None:
    # RFC 7617 §2: "Basic" SP base64(user-id ":" password), user-id without ":".
    if header is None:
        return None
    scheme, _, token = header.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    login, colon, password = decoded.partition(":")
    if not colon or not login:
        return None
    return login, password


#: Go's mime package: tspecials of RFC 2045 §5.1, tokens, and unicode.IsSpace on ASCII.
_TSPECIALS = frozenset('()<>@,;:\\"/[]?=')
_TOKEN_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) - _TSPECIALS
_SPACE = " \t\n\v\f\r"


def _token(text: str) -> tuple[str, str]:
    """A token at the start of text, and the rest (Go's mime consumeToken)."""
    end = 0
    while end < len(text) and text[end] in _TOKEN_CHARS:
        end += 1
    return text[:end], text[end:]


def _parameter_value(text: str) -> tuple[str, str]:
    """A token or quoted-string value and the rest; ("", text) when there is none."""
    if not text.startswith('"'):
        return _token(text)
    value: list[str] = []
    position = 1
    while position < len(text):
        char = text[position]
        if char == '"':
            return "".join(value), text[position + 1 :]
        if char == "\\" and position + 1 < len(text) and text[position + 1] in _TSPECIALS:
            # Go keeps a backslash before anything else (MSIE file paths).
            position += 1
            char = text[position]
        elif char in "\r\n":
            return "", text
        value.append(char)
        position += 1
    return "", text


def _parameter(text: str) -> tuple[str, str, str]:
    """The lower-case attribute, value and rest of one ``; attribute=value`` at the start
    of text; ("", "", text) when there is none (Go's mime consumeMediaParam)."""
    rest = text.lstrip(_SPACE)
    if not rest.startswith(";"):
        return "", "", text
    attribute, rest = _token(rest[1:].lstrip(_SPACE))
    rest = rest.lstrip(_SPACE)
    if not attribute or not rest.startswith("="):
        return "", "", text
    rest = rest[1:].lstrip(_SPACE)
    value, after = _parameter_value(rest)
    if not value and after == rest:
        return "", "", text
    return attribute.lower(), value, after


def _media_type(header: str) -> str:
    """The lower-case media type of a Content-Type value; _ProtocolError when unparsable.

    Accepts and refuses what Go's mime.ParseMediaType does, parameters included,
    since mox refuses a Content-Type that fails it (spec §1.3 step 5). The
    parameter values are left to the parser of the body (multipart's boundary).
    """
    unknown = _ProtocolError(f"unknown content-type {header}")
    base = header.split(";", 1)[0]
    media = base.lower().strip(_SPACE)
    kind, rest = _token(media)
    if not kind:
        raise unknown
    if rest:
        # A lone token passes, as in Go (its parser is shared with Content-Disposition).
        subtype, rest = _token(rest[1:]) if rest.startswith("/") else ("", rest)
        if not subtype or rest:
            raise unknown
    # RFC 2045 §5.1: *(";" parameter), parameter := attribute "=" value.
    seen: dict[str, str] = {}
    remaining = header[len(base) :]
    while remaining := remaining.lstrip(_SPACE):
        attribute, value, rest = _parameter(remaining)
        if not attribute:
            if remaining.rstrip(_SPACE) == ";":
                break  # a trailing semicolon is no error
            raise unknown
        if seen.setdefault(attribute, value) != value:
            raise unknown  # the same parameter twice with different values
        remaining = rest
    return media


def _parse_request(
    content_type: str, body: bytes, record_type: type[Any]
) -> tuple[str, tuple[Upload, ...], Any]:
    """The request JSON, uploaded files and decoded record of a body (spec §1.3).

    Refusals are WebAPIError with code protocol. Pure, so it may run in a thread.
    """
    try:
        media = _media_type(content_type)
        uploads: tuple[Upload, ...] = ()
        if media == "multipart/form-data":
            text, uploads = _parse_multipart(content_type, body)
        elif media == "application/json":
            # mailtwist extension (issue 4): the request JSON as the whole body.
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError:
                raise _ProtocolError("parsing request: body is not UTF-8") from None
        elif media == "application/x-www-form-urlencoded":
            text = _parse_urlencoded(body)
        else:
            # Go's ParseForm reads no other body: the form is empty (spec §1.3 step 6).
            text = None
        if not text:
            raise _ProtocolError("missing/empty request")
        return text, uploads, decode_request(text, record_type)
    except _ProtocolError as e:
        raise WebAPIError("protocol", str(e)) from None
    except JSONDecodeError as e:
        raise WebAPIError("protocol", f"parsing request: {e}") from None


def _parse_multipart(header: str, body: bytes) -> tuple[str | None, tuple[Upload, ...]]:
    """The ``request`` field and the uploaded files of a multipart/form-data body."""
    # RFC 7578 §4: each part has a Content-Disposition form-data with a name.
    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: "
        + header.encode("utf-8", "surrogateescape")
        + b"\r\nMIME-Version: 1.0\r\n\r\n"
        + body
    )
    if not message.is_multipart() or message.defects:
        raise _ProtocolError("parsing form: malformed multipart body")
    request: str | None = None
    uploads: list[Upload] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            raise _ProtocolError("parsing form: part without a form field name")
        if str(part.get("Content-Transfer-Encoding", "")).strip().lower() != "quoted-printable":
            # Go's multipart reader (mox) decodes quoted-printable parts only: a part
            # that says base64 (or uuencode) is taken as sent, never decoded leniently.
            del part["Content-Transfer-Encoding"]
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        if name == "request" and request is None:
            try:
                request = data.decode("utf-8")
            except UnicodeDecodeError:
                raise _ProtocolError("parsing form: request field is not UTF-8") from None
        elif name in _UPLOAD_FIELDS:
            filename = part.get_filename() or ""
            content_type = part.get("Content-Type")
            uploads.append(
                Upload(
                    field=name,
                    filename=filename,
                    content_type=str(content_type) if content_type else "",
                    content_id=str(part.get("Content-ID", "")),
                    data=data,
                )
            )
    return request, tuple(uploads)


def _parse_urlencoded(body: bytes) -> str | None:
    try:
        fields = urllib.parse.parse_qs(
            body.decode("utf-8"), keep_blank_values=True, errors="strict"
        )
    except (UnicodeDecodeError, ValueError) as e:
        raise _ProtocolError(f"parsing form: {e}") from None
    values = fields.get("request")
    return values[0] if values else None


class WebAPI:
    """The webapi v0 over the method implementations; see ``make_webapi_resource``.

    One Klein route takes every path below the base so the answers for odd paths
    are exactly mox's (spec §1.1), not the router's defaults.
    """

    app = Klein()

    def __init__(
        self,
        *,
        authenticator: Credentials,
        limiter: LoginLimiter,
        methods: Any,
        max_message_size: int,
        run_in_thread: Callable[..., Deferred[Any]] | None = None,
    ) -> None:
        self._authenticator = authenticator
        self._limiter = limiter
        self._methods = methods
        self._max_body = max_message_size + _BODY_SLACK
        self._run_in_thread = run_in_thread or maybeDeferred

    @app.route("/", branch=True)
    def dispatch(self, request: IRequest) -> Any:
        """Answer any request below the base path, never with a traceback."""
        try:
            result = self._dispatch(request)
        except Exception:
            _log.failure("webapi request failed")
            result = _Answer(500, b"500 - internal server error\n")
        if isinstance(result, Deferred):
            return result.addErrback(self._unhandled).addCallback(self._write, request)
        return self._write(result, request)

    def _unhandled(self, failure: Failure) -> _Answer | Failure:
        if failure.check(CancelledError):
            # Klein cancels the answer when the connection is lost: a client going
            # away is normal. Klein drops the CancelledError of a finished request.
            _log.info("webapi client went away before its answer")
            return failure
        _log.failure("webapi call failed", failure)
        return _Answer(400, encode({"Code": "server", "Message": "unhandled error"}))

    def _write(self, answer: Any, request: IRequest) -> bytes:
        for name, value in SAFE_HEADERS.items():
            request.setHeader(name, value)
        if isinstance(answer, _Answer):
            request.setResponseCode(answer.status)
            content_type = _JSON_TYPE if answer.status == 400 else _TEXT_TYPE
            request.setHeader(b"Content-Type", content_type)
            for name, value in answer.headers:
                request.setHeader(name, value)
            return answer.body
        if isinstance(answer, RawResult):
            request.setResponseCode(200)
            request.setHeader(b"Content-Type", answer.content_type.encode())
            return answer.data
        assert isinstance(answer, tuple)
        content_type, body = answer
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", content_type)
        return body  # type: ignore[no-any-return]

    def _dispatch(self, request: IRequest) -> Any:
        # The paths as the webapi's own resource saw them, before Klein routed.
        postpath, prepath = getattr(request, _PATHS, ([], []))
        segments = [s.decode("utf-8", "replace") for s in postpath]
        base = b"/" + b"/".join(prepath).strip(b"/") + b"/"
        method = request.method
        if not segments:
            # "/webapi" without the slash (spec §1.1).
            return self._redirect(request, base)
        if segments == [""]:
            if method != b"GET":
                return _Answer(405, b"405 - method not allow\n")
            return self._redirect(request, base + b"v0/")
        if segments[0] != "v0" or len(segments) == 1:
            return _Answer(404, _NOT_FOUND)
        if segments[1:] == [""]:
            return (b"text/html; charset=utf-8", pages.index_page())
        if len(segments) != 2:
            return _Answer(404, _NOT_FOUND)
        name = segments[1]
        if name == "openapi.json" and method in (b"GET", b"HEAD"):
            return (_JSON_TYPE, openapi.document_bytes(base.decode("utf-8", "replace")))
        if name not in METHODS:
            return _Answer(404, _NOT_FOUND)
        if method in (b"GET", b"HEAD"):
            return (b"text/html; charset=utf-8", pages.method_page(name))
        if method != b"POST":
            return _Answer(405, b"405 - method not allowed - use get or post\n")
        return self._call(request, name)

    def _redirect(self, request: IRequest, location: bytes) -> _Answer:
        # RFC 9110 §15.4.4: 303 See Other.
        href = location.decode("utf-8", "replace")
        return _Answer(
            303,
            f'<a href="{href}">See Other</a>.\n\n'.encode(),
            ((b"Location", location),),
        )

    def _call(self, request: IRequest, name: str) -> Any:
        """spec §1.3: size, auth, limiter, content type, form, JSON, then the method."""
        length = request.getHeader(b"content-length")
        content = request.content  # type: ignore[attr-defined]
        declared = int(length) if length is not None and length.isdigit() else None
        too_large = getattr(request, "body_too_large", False)
        if too_large or (declared is not None and declared > self._max_body):
            # Refused before reading the form: the message would be too large anyway.
            return _Answer(413, b"413 - request entity too large\n")
        credentials = _basic_auth(request.getHeader(b"authorization"))
        if credentials is None:
            return self._unauthorized()
        address = request.getClientAddress()
        ip = getattr(address, "host", None)
        if not ip:
            return _Answer(500, b"500 - internal server error - cannot find remote ip\n")
        if not self._limiter.allowed(ip):
            return _Answer(429, b"429 - too many auth attempts\n")
        login, password = credentials
        d = maybeDeferred(self._authenticator.check_password, login, password)

        def authenticated(account: str | None) -> Any:
            # Logins checked in parallel may have failed up to the limit meanwhile:
            # then this result is not told, right or wrong (see FailedLoginLimiter).
            refused = not self._limiter.allowed(ip)
            if account is None or refused:
                # A refused result counts whatever it was: the counts after a burst
                # must not tell whether a hidden guess was right.
                self._limiter.failed(ip)
            if refused:
                return _Answer(429, b"429 - too many auth attempts\n")
            if account is None:
                return self._unauthorized()
            self._limiter.succeeded(ip)
            return self._call_method(request, name, account, login, content)

        def broken(failure: Failure) -> _Answer | Failure:
            if failure.check(CancelledError):
                return failure  # the client went away (see _unhandled)
            _log.failure("verifying webapi credentials", failure)
            return _Answer(
                400, encode({"Code": "server", "Message": "error verifying credentials"})
            )

        return d.addCallbacks(authenticated, broken)

    def _unauthorized(self) -> _Answer:
        return _Answer(401, _UNAUTHORIZED, ((b"WWW-Authenticate", b"Basic realm=webapi"),))

    def _call_method(
        self, request: IRequest, name: str, account: str, login: str, content: Any
    ) -> Any:
        content.seek(0)
        body = content.read(self._max_body + 1)
        if len(body) > self._max_body:
            return _Answer(413, b"413 - request entity too large\n")
        header = request.getHeader(b"content-type")
        content_type = header.decode("utf-8", "surrogateescape") if header is not None else ""
        if len(body) < OFF_REACTOR_FROM:
            try:
                parsed = _parse_request(content_type, body, METHODS[name][0])
            except WebAPIError as e:
                return self._error(e)
            return self._run_method(request, name, account, login, parsed)
        # Decoding megabytes of form or JSON takes long enough to stall every other
        # connection: off the reactor (DESIGN: the reactor thread never blocks).
        d = self._run_in_thread(_parse_request, content_type, body, METHODS[name][0])

        def refused(failure: Failure) -> _Answer:
            failure.trap(WebAPIError)
            error = failure.value
            assert isinstance(error, WebAPIError)
            return self._error(error)

        return d.addCallbacks(
            lambda parsed: self._run_method(request, name, account, login, parsed), refused
        )

    def _run_method(
        self,
        request: IRequest,
        name: str,
        account: str,
        login: str,
        parsed: tuple[str, tuple[Upload, ...], Any],
    ) -> Any:
        text, uploads, record = parsed
        key = request.getHeader(b"idempotency-key")
        context = CallContext(
            account=account,
            login=login,
            tls=request.isSecure(),
            uploads=uploads,
            # Latin-1 keeps one character per byte, so distinct keys stay distinct
            # ("replace" made all non-UTF-8 keys alike); Send refuses what is not ASCII.
            idempotency_key=key.decode("latin-1") if key is not None else "",
            request_text=text,
        )
        work = maybeDeferred(getattr(self._methods, name), record, context)
        work.addCallbacks(self._result, self._method_failed)
        # Klein cancels the answer when the client hangs up; the method itself must
        # not stop half-way (a Send may be queued already): it finishes, and only its
        # answer goes nowhere.
        answer: Deferred[Any] = Deferred()
        work.chainDeferred(answer)
        return answer

    def _result(self, result: Any) -> Any:
        if isinstance(result, RawResult):
            return result
        return (_JSON_TYPE, encode(result))

    def _method_failed(self, failure: Failure) -> _Answer:
        if isinstance(failure.value, WebAPIError):
            return self._error(failure.value)
        _log.failure("webapi method failed", failure)
        return self._error(WebAPIError("server", "unhandled error"))

    def _error(self, error: WebAPIError) -> _Answer:
        return _Answer(400, encode({"Code": error.code, "Message": error.message}))


class _SafeHeaders(Resource):
    """Sends the spec §1.1 headers even on answers Klein makes itself."""

    isLeaf = True

    def __init__(self, inner: IResource) -> None:
        super().__init__()
        self._inner = inner

    def render(self, request: Any) -> Any:
        for name, value in SAFE_HEADERS.items():
            request.setHeader(name, value)
        if not request.postpath:
            # "/webapi" without the slash: answered here, as Klein's router would
            # answer 308 for it (spec §1.1: 303 for any method).
            location = b"/" + b"/".join(request.prepath).strip(b"/") + b"/"
            request.setResponseCode(303)
            request.setHeader(b"Location", location)
            request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
            return f'<a href="{location.decode("utf-8", "replace")}">See Other</a>.\n\n'.encode()
        if not _utf8(request.postpath):
            # Klein would answer 400 "Non-UTF-8 encoding in URL." and log a traceback;
            # no method or page has such a name, so it is mox's 404 (spec §1.1).
            request.setResponseCode(404)
            request.setHeader(b"Content-Type", _TEXT_TYPE)
            return _NOT_FOUND
        if not _utf8([request.getRequestHostname()]):
            # Klein cannot route it either; Go's net/http refuses such a Host (any
            # that is not ASCII) before mox sees the request, with this answer.
            request.setResponseCode(400)
            request.setHeader(b"Content-Type", _TEXT_TYPE)
            return b"400 Bad Request: malformed Host header"
        setattr(request, _PATHS, (list(request.postpath), list(request.prepath)))
        return self._inner.render(request)


def _utf8(segments: list[bytes]) -> bool:
    """Whether all segments are UTF-8, as Klein needs them to be to route at all."""
    try:
        for segment in segments:
            segment.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


class _Discard:
    """Stands in for the body of a request that is too large: counts, keeps nothing."""

    def __init__(self) -> None:
        self._size = 0

    def write(self, data: bytes) -> None:
        self._size += len(data)

    def tell(self) -> int:
        return self._size

    def seek(self, offset: int, whence: int = 0) -> int:
        return 0

    def read(self, size: int = -1) -> bytes:
        return b""

    def close(self) -> None:
        pass


class WebAPIRequest(Request):
    """A Request that stops buffering a body larger than ``max_body`` (set by the factory).

    The webapi then answers 413 without having stored or parsed the body. Use
    it with ``Site(..., parsePOSTFormSubmission=False)``: the webapi reads its
    forms itself and answers bad ones with code ``protocol``.
    """

    max_body = 0
    body_too_large = False

    def gotLength(self, length: int | None) -> None:
        if self.max_body and length is not None and length > self.max_body:
            self.body_too_large = True
            self.content = _Discard()
            return
        super().gotLength(length)

    def handleContentChunk(self, data: bytes) -> None:
        if self.body_too_large:
            return
        content: Any = self.content
        if self.max_body and content.tell() + len(data) > self.max_body:
            # A chunked body without Content-Length that grew too large.
            self.body_too_large = True
            content.close()
            self.content = _Discard()
            return
        super().handleContentChunk(data)


def webapi_request_factory(max_message_size: int) -> type[WebAPIRequest]:
    """The Site requestFactory for the listener serving the webapi."""
    return type("WebAPIRequest", (WebAPIRequest,), {"max_body": max_message_size + _BODY_SLACK})


def webapi_resource(webapi: WebAPI) -> IResource:
    """The resource of a WebAPI, to mount at the configured base path."""
    return _SafeHeaders(webapi.app.resource())


__all__ = ["WebAPI", "WebAPIRequest", "webapi_request_factory", "webapi_resource"]
