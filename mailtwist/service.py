"""Wires the store, queue, SMTP listeners and web pages into one twistd service."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from treq.client import HTTPClient
from twisted.application.service import Service
from twisted.internet import defer
from twisted.internet.endpoints import TCP4ServerEndpoint, TCP6ServerEndpoint
from twisted.internet.interfaces import IListeningPort, IProtocolFactory, IReactorTime
from twisted.internet.ssl import CertificateOptions, PrivateCertificate
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.python.failure import Failure
from twisted.web.client import Agent, HTTPConnectionPool
from twisted.web.server import Site

from mailtwist.auth.limiter import FailedLoginLimiter
from mailtwist.auth.password import make_credentials
from mailtwist.auth.sasl import Authenticator
from mailtwist.cache import ExpiringCache
from mailtwist.config import Config, ListenerConfig
from mailtwist.dkim.sign import DKIMSigner
from mailtwist.metrics import PrometheusMetrics
from mailtwist.queue.localdelivery import LocalDeliveryTransport
from mailtwist.queue.retention import ExpiryCleanup
from mailtwist.queue.scheduler import QueueScheduler
from mailtwist.smtpserver.factory import ESMTPServerFactory
from mailtwist.smtpserver.inbound import InboundPolicy
from mailtwist.smtpserver.submission import (
    FUTURE_RELEASE_PARAMETERS,
    SubmissionPolicy,
    future_release_keyword,
)
from mailtwist.store._interfaces import AttemptOutcome
from mailtwist.store.records import DEFAULT_MAILBOXES, QueuedMessage, StoredMessage
from mailtwist.store.sqlite import SQLiteStore
from mailtwist.web.root import http_root
from mailtwist.web.status import StatusPage
from mailtwist.webapi import make_webapi_resource, webapi_request_factory
from mailtwist.webhook.inbound import IncomingRouter
from mailtwist.webhook.queue import WebhookDispatcher
from mailtwist.webhook.settings import StoredWebhookSettings, defaults_from_accounts

log = Logger()

#: Password of the localserve account when none was chosen (issue 2).
LOCALSERVE_DEFAULT_PASSWORD = "mailtwist"

DATABASE_FILE = "mailtwist.db"

#: Credentials and webhook settings are read from memory for this long; the CLI,
#: which changes them in the store, wakes the server so it reads them afresh.
STORE_CHANGES_SEEN_WITHIN = 10.0


def tls_options(config: Config) -> CertificateOptions | None:
    """Server TLS options from the configured certificate and key, or None."""
    if config.tls_certificate is None or config.tls_key is None:
        return None
    pem = config.tls_certificate.read_bytes() + b"\n" + config.tls_key.read_bytes()
    return PrivateCertificate.loadPEM(pem).options()


class MailtwistService(Service):
    """The whole server: starts store, queue and listeners in order, stops them in reverse.

    Nothing is listening before the store is open and interrupted attempts are
    recovered; on stop, listeners close first, then in-flight deliveries are
    recorded, then the store commits its last batch and closes.
    """

    name = "mailtwist"

    def __init__(
        self,
        config: Config,
        *,
        reactor: Any,
        initial_password: str | None = None,
        banner: Callable[[Config], str] | None = None,
    ) -> None:
        self.config = config
        self.reactor = reactor
        self._initial_password = initial_password
        self._banner = banner
        self.metrics = PrometheusMetrics()
        self.store = SQLiteStore(
            config.data_dir / DATABASE_FILE,
            reactor=reactor,
            on_commit=self.metrics.store_commit,
        )
        clock: IReactorTime = reactor
        # localserve simulates the last hop; production delivers to its own accounts
        # until the outgoing SMTP client exists.
        self.transport = LocalDeliveryTransport(
            directory=config,
            clock=clock,
            hostname=config.hostname.ascii,
            simulate=config.localserve,
        )
        # DSNs to senders are signed for the host's domain, or its parent (issue 3).
        self.signer = DKIMSigner(config)
        # Webhook settings live in the store so changes apply without a restart; the
        # config file gives each account's starting point (issue 5).
        self.webhook_settings = StoredWebhookSettings(
            self.store,
            defaults_from_accounts(config.accounts),
            cached=(clock, STORE_CHANGES_SEEN_WITHIN),
        )
        self.webhooks = WebhookDispatcher(
            store=self.store,
            clock=clock,
            http_client=HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor))),
            settings=self.webhook_settings,
            hostname=config.hostname.ascii,
            # Parsing a large incoming message for its payload: off the reactor.
            run_in_thread=deferToThread,
        )
        self.router = IncomingRouter(
            store=self.store, dispatcher=self.webhooks, directory=config, clock=clock
        )
        self.scheduler = QueueScheduler(
            store=self.store,
            transport=self.transport,
            clock=clock,
            concurrency=config.queue_concurrency,
            attempt_timeout=config.attempt_timeout,
            keep_retired_for=config.retired_message_period,
            metrics=self.metrics,
            hostname=config.hostname.ascii,
            dsn_enabled=config.dsn_enabled,
            signer=self.signer,
            on_outcome=self._outcome,
            prepare_webhook=lambda message, event, attempt, suppressing: (
                self.webhooks.prepare_outgoing(message, event, attempt, suppressing=suppressing)
            ),
        )
        self.cleanup = ExpiryCleanup(self.store, clock)
        self.credentials = ExpiringCache(self.store.credentials, clock, STORE_CHANGES_SEEN_WITHIN)
        self.authenticator = Authenticator(
            account_for_login=config.account_for_login,
            credentials_for_account=self.credentials,
            hostname=config.hostname.ascii,
            clock=clock,
        )
        self.limiter = FailedLoginLimiter(clock)
        self.ports: list[IListeningPort] = []
        self._started: defer.Deferred[None] | None = None

    def _outcome(
        self,
        message: QueuedMessage,
        outcome: AttemptOutcome,
        event: str,
        stored: Sequence[StoredMessage],
        data: bytes,
    ) -> None:
        """A durable queue outcome: its webhook was committed with it; local copies get
        their incoming webhooks (a copy of the queued data is not read again)."""
        if outcome.webhooks:
            self.webhooks.kick()
        for copy in stored:
            same_data = bool(data) and copy.data_id == message.data_id
            self._stored(copy, data if same_data else None)

    def _stored(self, message: StoredMessage, data: bytes | None = None) -> defer.Deferred[None]:
        """A message stored into a mailbox: incoming webhook or DSN matching (spec §7.3).

        Its pending event (written with the message) is removed only once handled; if
        handling fails or the server stops first, the next start catches up on it (at
        least once).
        """
        if message.dsn:
            return defer.succeed(None)  # our own DSNs to the sender are no incoming mail
        content = self.store.message_data(message.data_id) if data is None else defer.succeed(data)
        d: defer.Deferred[None] = content.addCallback(
            lambda raw: self.router.delivered(message, raw)
        )
        d.addCallback(lambda _: self.store.stored_event_handled(message.id))
        d.addErrback(self._event_pending, message.id)
        return d

    def _event_pending(self, failure: Failure, message_id: int) -> None:
        # The router logged its own failure; this says what becomes of the event.
        log.warn(
            "incoming event of stored message {id} stays pending until the next start: {error}",
            id=message_id,
            error=failure.getErrorMessage(),
        )

    def _wake(self) -> None:
        """The CLI changed the store: look at the queue and the webhook queue now, and
        read credentials and webhook settings afresh (either may have changed)."""
        self.credentials.forget()
        self.webhook_settings.forget()
        self.scheduler.queue_changed()
        self.webhooks.kick()

    # -- start and stop

    def startService(self) -> None:
        super().startService()
        self._started = defer.ensureDeferred(self._start())
        self._started.addErrback(self._start_failed)

    def _start_failed(self, failure: Any) -> None:
        log.failure("mailtwist could not start", failure)
        if self.reactor.running:
            self.reactor.stop()
        else:
            # twistd starts services before it runs the reactor: a start that fails
            # at once must still end the process, not leave it idle.
            self.reactor.callWhenRunning(self.reactor.stop)

    async def _start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        await self.store.start()
        for account in self.config.accounts:
            await self.store.ensure_account(account, DEFAULT_MAILBOXES)
        await self._ensure_credentials()
        await defer.maybeDeferred(self.webhooks.start)
        # Incoming mail whose webhook was not queued before the last stop or crash, one
        # at a time so a large backlog is not all in memory at once.
        after = 0
        while pending := await self.store.pending_stored_events(after):
            for message in pending:
                await self._stored(message)
            after = pending[-1].id
        await self.scheduler.start()
        self.cleanup.start()
        for listener in self.config.listeners:
            for address in listener.addresses:
                port = await self._endpoint(listener, address).listen(self._factory(listener))
                self.ports.append(port)
        log.info("mailtwist {version} started", version=_version())
        if self._banner is not None:
            print(self._banner(self.config), flush=True)  # the developer reads this, not the log

    async def _ensure_credentials(self) -> None:
        if not self.config.localserve:
            return
        account = self.config.postmaster_account
        existing = await self.store.credentials(account)
        if existing is not None and self._initial_password is None:
            return
        password = self._initial_password or LOCALSERVE_DEFAULT_PASSWORD
        credentials = await deferToThread(make_credentials, account, password)
        await self.store.set_credentials(credentials)
        self.credentials.forget(account)

    def stopService(self) -> defer.Deferred[None]:
        super().stopService()
        return defer.ensureDeferred(self._stop())

    async def _stop(self) -> None:
        started = self._started
        if started is not None and not started.called:
            # Still starting: let the start finish (or fail) before tearing down.
            await started
        ports, self.ports = self.ports, []
        for port in ports:
            await defer.maybeDeferred(port.stopListening)
        await self.scheduler.stop()
        await self.cleanup.stop()
        await defer.maybeDeferred(self.webhooks.stop)
        await self.store.close()
        log.info("mailtwist stopped")

    # -- listeners

    def _http_site(self) -> Site:
        config = self.config
        status = StatusPage(config, wake=self._wake).app.resource()
        mounts = {}
        if config.webapi_enabled:
            mounts[config.webapi_path] = make_webapi_resource(
                config=config,
                authenticator=self.authenticator,
                limiter=self.limiter,
                store=self.store,
                submit=self.scheduler.submit,
                signer=self.signer,
                clock=self.reactor,
                # RSA signing of a large message takes milliseconds: off the reactor.
                run_in_thread=deferToThread,
            )
        # Bodies above the message size limit are dropped as they arrive; the webapi
        # parses its own forms so a bad one gets a JSON error (spec §1.3).
        return Site(
            http_root(status, mounts),
            requestFactory=webapi_request_factory(config.max_message_size),
            parsePOSTFormSubmission=False,
        )

    def _endpoint(self, listener: ListenerConfig, address: str) -> Any:
        if ":" in address:
            return TCP6ServerEndpoint(self.reactor, listener.port, interface=address)
        return TCP4ServerEndpoint(self.reactor, listener.port, interface=address)

    def _factory(self, listener: ListenerConfig) -> IProtocolFactory:
        config = self.config
        if listener.kind == "http":
            return self._http_site()
        if listener.kind == "metrics":
            return Site(self.metrics.resource())
        tls = tls_options(config)
        ehlo_keywords: tuple[Callable[[], str], ...] = ()
        mail_parameters: tuple[str, ...] = ()
        if listener.kind == "smtp":
            policy: Any = InboundPolicy(
                hostname=config.hostname.ascii,
                directory=config,
                deliver=self.store.deliver,
                clock=self.reactor,
                catchall_account=config.postmaster_account if config.localserve else None,
                on_stored=self._stored,
            )
        else:
            policy = SubmissionPolicy(
                hostname=config.hostname.ascii,
                directory=config,
                submit=self.scheduler.submit,
                clock=self.reactor,
                signer=self.signer,
                run_in_thread=deferToThread,
            )
            # RFC 4865 §3: FUTURERELEASE on submission listeners only (spec §12).
            ehlo_keywords = (future_release_keyword(self.reactor),)
            mail_parameters = FUTURE_RELEASE_PARAMETERS
        implicit = listener.kind == "submissions"
        factory = ESMTPServerFactory(
            hostname=config.hostname.ascii,
            listener=listener.kind,
            kind=listener.kind,
            policy=policy,
            authenticator=None if listener.kind == "smtp" else self.authenticator,
            limiter=self.limiter,
            clock=self.reactor,
            tls_context_factory=None if implicit else tls,
            implicit_tls=implicit,
            allow_plaintext_auth=config.allow_plaintext_auth,
            max_message_size=config.max_message_size,
            max_recipients=config.max_recipients,
            max_connections=config.max_connections,
            idle_timeout=config.idle_timeout,
            metrics=self.metrics,
            extra_ehlo_keywords=ehlo_keywords,
            extra_mail_parameters=mail_parameters,
        )
        if implicit:
            if tls is None:
                raise ValueError("a submissions listener needs [tls] in the config")
            return TLSMemoryBIOFactory(tls, False, factory)
        return factory


def _version() -> str:
    from mailtwist import __version__

    return __version__
