"""Fakes for the webapi tests: a config with two accounts, credentials and a served webapi."""

from __future__ import annotations

import base64
import json
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from treq.testing import StubTreq
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.task import Clock
from twisted.web.resource import IResource, Resource

from mailtwist.address import parse_address, parse_domain
from mailtwist.auth.limiter import FailedLoginLimiter
from mailtwist.config.model import AccountConfig, Config, DomainConfig, ListenerConfig
from mailtwist.store.records import DEFAULT_MAILBOXES, NewMessage, QueuedMessage
from mailtwist.testing.store import MemoryStore
from mailtwist.webapi import make_webapi_resource

# 2026-11-28 03:39:48 UTC
NOW = 1795837188.0
PASSWORD = "secret"


def make_config(
    *,
    mode: str = "localserve",
    max_message_size: int = 1024 * 1024,
    max_messages: int = 1000,
    max_first_time: int = 200,
    fromid: bool = False,
    disabled_domain: bool = False,
) -> Config:
    """Accounts ``mox`` (mox@localhost) and ``other`` (other@localhost), catchall ``+``."""
    localhost = parse_domain("localhost")
    domains = {
        "localhost": DomainConfig(domain=localhost, catchall_separators=("+",)),
        "disabled.example": DomainConfig(
            domain=parse_domain("disabled.example"), disabled=disabled_domain
        ),
    }
    accounts = {
        "mox": AccountConfig(
            name="mox",
            addresses=(parse_address("mox@localhost"), parse_address("mox@disabled.example")),
            full_name="Mox User",
            max_outgoing_messages_per_day=max_messages,
            max_first_time_recipients_per_day=max_first_time,
            fromid_login_addresses=(parse_address("mox+fromid@localhost"),) if fromid else (),
        ),
        "other": AccountConfig(name="other", addresses=(parse_address("other@localhost"),)),
    }
    return Config(
        path=Path("/nonexistent/mailtwist.toml"),
        mode=mode,
        hostname=localhost,
        data_dir=Path("/nonexistent"),
        postmaster_account="mox",
        tls_certificate=None,
        tls_key=None,
        listeners=(ListenerConfig("http", ("127.0.0.1",), 1080),),
        max_message_size=max_message_size,
        max_recipients=100,
        max_connections=10,
        idle_timeout=300.0,
        queue_concurrency=10,
        attempt_timeout=300.0,
        allow_plaintext_auth=True,
        webapi_enabled=True,
        webapi_path="/webapi/",
        domains=domains,
        accounts=accounts,
    )


class FakeAuthenticator:
    """Every configured login has password PASSWORD; records the logins checked."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.checked: list[str] = []

    def check_password(self, login: str, password: str) -> Deferred[str | None]:
        self.checked.append(login)
        account = self.config.account_for_login(login)
        return succeed(account if password == PASSWORD else None)


class FakeSigner:
    """Prepends a recognisable DKIM-Signature field."""

    def __init__(self, quickly: bool = True) -> None:
        self.quickly = quickly

    def sign(self, message: bytes, domain: Any) -> bytes:
        return b"DKIM-Signature: v=1; d=" + domain.ascii.encode() + b"; b=fake\r\n" + message

    def signs_quickly(self, domain: Any) -> bool:
        return self.quickly


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


@dataclass
class Response:
    """What a test sees of an answer."""

    code: int
    headers: Any
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        values = self.headers.getRawHeaders(name.encode())
        return values[0].decode() if values else None


@dataclass
class Harness:
    """The webapi mounted at /webapi/ over a MemoryStore, with a Clock at NOW."""

    config: Config = field(default_factory=make_config)
    host: str = "127.0.0.1"
    signer: Any = None

    def __post_init__(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.store = MemoryStore(self.clock)
        for name in self.config.accounts:
            self.store.ensure_account(name, DEFAULT_MAILBOXES)
        self.authenticator = FakeAuthenticator(self.config)
        self.limiter = FailedLoginLimiter(self.clock)
        self.submitted: list[NewMessage] = []
        #: Names of the functions given to run_in_thread (run inline here), in order.
        self.in_thread: list[str] = []
        resource = make_webapi_resource(
            config=self.config,
            authenticator=self.authenticator,
            limiter=self.limiter,
            store=self.store,
            submit=lambda *messages: self.submit(*messages),
            signer=self.signer,
            clock=self.clock,
            run_in_thread=self.run_in_thread,
        )
        root = Resource()
        root.putChild(b"webapi", resource)
        #: The site root with the webapi at /webapi/, to serve on a real port.
        self.root = root
        self.client = StubTreq(ClientAt(_Root(root), self.host))

    def run_in_thread(self, f: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Note what would run on a thread, and run it here."""
        self.in_thread.append(f.__name__)
        return maybeDeferred(f, *args, **kwargs)

    def submit(self, *messages: NewMessage) -> Deferred[list[QueuedMessage]]:
        """Queue like QueueScheduler.submit: several messages in one transaction."""
        self.submitted.extend(messages)
        now = datetime.fromtimestamp(self.clock.seconds(), UTC)
        d = self.store.enqueue_many(messages, now)
        return d.addCallback(lambda batches: [q for batch in batches for q in batch])

    def start(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Deferred[Response]:
        """Send a request; the Deferred fires with the Response once it is answered."""
        all_headers = dict(headers or {})
        if auth is not None:
            token = base64.b64encode(f"{auth[0]}:{auth[1]}".encode()).decode()
            all_headers["Authorization"] = f"Basic {token}"
        d = self.client.request(  # type: ignore[attr-defined]
            method,
            "http://localhost" + path,
            data=data,
            headers={k: [v] for k, v in all_headers.items()},
            allow_redirects=False,
        )

        def read(response: Any) -> Deferred[Response]:
            content: Deferred[bytes] = self.client.content(response)  # type: ignore[attr-defined]
            return content.addCallback(lambda body: Response(response.code, response.headers, body))

        return d.addCallback(read)

    def request(
        self,
        method: str,
        path: str,
        *,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
        auth: tuple[str, str] | None = None,
    ) -> Response:
        """Send a request and return its answer, which must come at once."""
        response: Response = _result(
            self.start(method, path, data=data, headers=headers, auth=auth)
        )
        return response

    def start_call(
        self,
        name: str,
        request: Any,
        *,
        login: str = "mox@localhost",
        password: str = PASSWORD,
        headers: dict[str, str] | None = None,
    ) -> Deferred[Response]:
        """POST a method with the JSON in form field ``request``, as mox's client does."""
        text = request if isinstance(request, str) else json.dumps(request)
        body = urllib.parse.urlencode({"request": text}).encode()
        return self.start(
            "POST",
            f"/webapi/v0/{name}",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **(headers or {})},
            auth=(login, password),
        )

    def call(
        self,
        name: str,
        request: Any,
        *,
        login: str = "mox@localhost",
        password: str = PASSWORD,
        headers: dict[str, str] | None = None,
    ) -> Response:
        """Call a method; its answer must come at once."""
        response: Response = _result(
            self.start_call(name, request, login=login, password=password, headers=headers)
        )
        return response

    def deliver(self, account: str, data: bytes, mailbox: str = "Inbox", **kwargs: Any) -> int:
        """Store a message in an account's mailbox; its id."""
        from mailtwist.store.records import MailboxDelivery

        stored = _result(
            self.store.deliver([MailboxDelivery(account, mailbox, data=data, **kwargs)])
        )
        return int(stored[0].id)


class _Root(Resource):
    """A site root that routes by path like twisted.web.server.Site does."""

    isLeaf = True

    def __init__(self, root: Resource) -> None:
        super().__init__()
        self.root = root

    def render(self, request: Any) -> Any:
        from twisted.web.resource import getChildForRequest

        # StubTreq hands the whole path in postpath; route it from the root, with
        # each segment unquoted as twisted.web.server.Request.process does.
        request.postpath = [urllib.parse.unquote_to_bytes(s) for s in request.path[1:].split(b"/")]
        request.prepath = []
        resource = getChildForRequest(self.root, request)
        return resource.render(request)


def _result(d: Deferred[Any]) -> Any:
    results: list[Any] = []
    d.addBoth(results.append)
    if not results:
        raise AssertionError("the webapi did not answer synchronously")
    if hasattr(results[0], "raiseException"):
        results[0].raiseException()
    return results[0]
