"""The webhook dispatcher: queues events durably and delivers them on mox's retry schedule."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from twisted.internet.defer import Deferred, DeferredList, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from mailtwist.store.records import DeliveryAttempt, QueuedMessage, RetiredMessage, StoredMessage
from mailtwist.store.webhooks import (
    NewWebhook,
    PreparedWebhook,
    Webhook,
    WebhookHead,
    WebhookNotFound,
    WebhookResult,
)
from mailtwist.webhook.payload import (
    Incoming,
    IncomingMeta,
    NameAddress,
    Structure,
    outgoing_from_message,
)
from mailtwist.webhook.sender import (
    MAX_RESPONSE,
    TIMEOUT,
    WebhookRequest,
    WebhookResponse,
    WebhookSender,
)
from mailtwist.webhook.settings import WebhookSettings

_log = Logger()

#: spec §3.2: wait before the next attempt, by the number of previous attempts.
RETRY_WAITS = (
    timedelta(minutes=1),
    timedelta(minutes=2),
    timedelta(minutes=4),
    timedelta(minutes=7, seconds=30),
    timedelta(minutes=15),
    timedelta(minutes=30),
    timedelta(hours=1),
    timedelta(hours=2),
    timedelta(hours=4),
    timedelta(hours=8),
    timedelta(hours=16),
)
RETRY_WAIT_BEYOND = timedelta(hours=32)

#: spec §3.2: attempts 1..11 are retried on failure, the 12th is final.
MAX_ATTEMPTS = 12

#: spec §3.1: in flight at once in total; and one per URL.
MAX_IN_FLIGHT = 10

#: spec §3.6: the cleaner of retired webhooks runs 4 s after start, then hourly.
CLEANUP_DELAY = 4.0
CLEANUP_INTERVAL = 3600.0

#: Even with nothing due, look at the queue this often: hooks scheduled by
#: another process (the CLI's "retry now") are picked up without a restart.
POLL_INTERVAL = 60.0


def retry_wait(previous_attempts: int) -> timedelta:
    """The wait before the next attempt after ``previous_attempts`` (spec §3.2)."""
    if previous_attempts < len(RETRY_WAITS):
        return RETRY_WAITS[previous_attempts]
    return RETRY_WAIT_BEYOND


def default_jitter() -> float:
    """A factor offset within ±1% (spec §3.2), so retries of many hooks spread out."""
    return random.uniform(-0.01, 0.01)


class ISettingsSource(Protocol):
    """Where the dispatcher reads an account's current webhook settings."""

    def settings_for(self, account: str) -> Deferred[WebhookSettings]: ...


class ParsedMessageLike(Protocol):
    """What the dispatcher reads of mailtwist.message.parse.ParsedMessage (read-only)."""

    @property
    def from_(self) -> Any: ...

    @property
    def to(self) -> Any: ...

    @property
    def cc(self) -> Any: ...

    @property
    def bcc(self) -> Any: ...

    @property
    def reply_to(self) -> Any: ...

    @property
    def subject(self) -> str: ...

    @property
    def message_id(self) -> str: ...

    @property
    def in_reply_to(self) -> str: ...

    @property
    def references(self) -> Any: ...

    @property
    def date(self) -> datetime | None: ...

    @property
    def text(self) -> str: ...

    @property
    def html(self) -> str: ...

    @property
    def structure(self) -> Any: ...

    @property
    def automated(self) -> bool: ...


def _name_addresses(values: Iterable[Any] | None) -> tuple[NameAddress, ...]:
    result = []
    for value in values or ():
        if isinstance(value, NameAddress):
            result.append(value)
        elif isinstance(value, tuple):
            result.append(NameAddress(str(value[0]), str(value[1])))
        else:
            result.append(NameAddress(str(value.name), str(value.address)))
    return tuple(result)


def structure_of(value: Any) -> Structure:
    """A payload Structure from the parser's structure (same field names, snake case)."""
    if isinstance(value, Structure):
        return value
    return Structure(
        content_type=value.content_type,
        content_type_params=dict(value.content_type_params or {}),
        content_id=value.content_id,
        content_disposition=value.content_disposition,
        filename=value.filename,
        decoded_size=value.decoded_size,
        parts=tuple(structure_of(p) for p in value.parts or ()),
    )


def incoming_payload(stored: StoredMessage, parsed: ParsedMessageLike | None) -> Incoming:
    """The incoming payload of spec §3.7 for a stored message and its parse.

    Without a parse (the message could not be parsed) the payload still names
    the message, so the receiver can fetch it through the webapi.
    """
    meta = IncomingMeta(
        msg_id=stored.id,
        mail_from=stored.mail_from,
        rcpt_to=stored.rcpt_to,
        received=stored.received,
        mailbox_name=stored.mailbox,
        remote_ip=stored.remote_ip,
        # spec §3.7: an empty MAIL FROM makes a message automated.
        automated=(not stored.mail_from) or bool(parsed is not None and parsed.automated),
    )
    if parsed is None:
        return Incoming(structure=Structure(content_type="application/octet-stream"), meta=meta)
    return Incoming(
        structure=structure_of(parsed.structure),
        meta=meta,
        from_=_name_addresses(parsed.from_),
        to=_name_addresses(parsed.to),
        cc=_name_addresses(parsed.cc),
        bcc=_name_addresses(parsed.bcc),
        reply_to=_name_addresses(parsed.reply_to),
        subject=parsed.subject,
        message_id=parsed.message_id,
        in_reply_to=parsed.in_reply_to,
        references=tuple(parsed.references or ()),
        date=parsed.date,
        text=parsed.text,
        html=parsed.html,
    )


def _default_parser(data: bytes) -> Any:
    from mailtwist.message.parse import parse_message

    return parse_message(data)


class WebhookDispatcher:
    """Queues webhooks in the store and delivers them (spec §3).

    At most ``max_in_flight`` requests at once and one per URL, so a slow or
    dead endpoint holds one slot and never delays other URLs. Every state
    change is one store transaction: a restart loses nothing, and an attempt
    interrupted by it is sent again (at least once).
    """

    def __init__(
        self,
        *,
        store: Any,
        clock: IReactorTime,
        http_client: Any,
        settings: ISettingsSource,
        hostname: str,
        jitter: Callable[[], float] = default_jitter,
        parse_message: Callable[[bytes], Any] | None = None,
        run_in_thread: Callable[..., Deferred[Any]] | None = None,
        max_in_flight: int = MAX_IN_FLIGHT,
        timeout: float = TIMEOUT,
    ) -> None:
        self._store = store
        self._clock = clock
        self._settings = settings
        self.hostname = hostname
        self._jitter = jitter
        self._parse: Callable[[bytes], ParsedMessageLike] = parse_message or _default_parser
        # Parsing a large message takes a while: the service runs it off the reactor.
        self._run_in_thread = run_in_thread
        self._max_in_flight = max_in_flight
        self._sender = WebhookSender(http_client, clock, timeout)
        #: URL -> fires when its slot is released; one slot per URL (spec §3.1).
        self._in_flight: dict[str, Deferred[None]] = {}
        self._starved = False
        self._running = False
        self._pumping = False
        self._again = False
        self._timer: IDelayedCall | None = None
        self._cleanup_start: IDelayedCall | None = None
        self._cleanup = LoopingCall(self._delete_expired)
        self._cleanup.clock = clock

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock.seconds(), UTC)

    # -- lifecycle

    def start(self) -> Deferred[None]:
        """Recover attempts a stop interrupted, then deliver what is due."""
        self._running = True

        def recovered(count: int) -> None:
            if count:
                _log.info("{count} interrupted webhook attempts will be sent again", count=count)
            self._kick()

        self._cleanup_start = self._clock.callLater(CLEANUP_DELAY, self._start_cleanup)
        d: Deferred[int] = self._store.recover_interrupted_webhooks(self._now())
        return d.addCallback(recovered)

    def _start_cleanup(self) -> None:
        self._cleanup_start = None
        self._cleanup.start(CLEANUP_INTERVAL, now=True)

    def stop(self) -> Deferred[None]:
        """Start nothing new; fires when the requests in flight have finished."""
        self._running = False
        for call in (self._timer, self._cleanup_start):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._cleanup_start = None
        if self._cleanup.running:
            self._cleanup.stop()
        pending = list(self._in_flight.values())
        return DeferredList(pending, consumeErrors=True).addCallback(lambda _: None)

    def _delete_expired(self) -> Deferred[None]:
        def deleted(count: int) -> None:
            if count:
                _log.info("deleted {count} expired retired webhooks", count=count)

        d: Deferred[int] = self._store.delete_expired_webhooks(self._now())
        return d.addCallbacks(
            deleted, lambda f: _log.failure("deleting expired retired webhooks", f)
        )

    # -- events in

    def outgoing(
        self,
        message: QueuedMessage | RetiredMessage,
        event: str,
        attempt: DeliveryAttempt | None,
        *,
        suppressing: bool = False,
        dsn: bool = False,
    ) -> Deferred[None]:
        """Queue the outgoing event of a message if the account subscribes to it.

        Fires once the hook is durable; supersedes the pending hook of the same
        queue message (spec §3.5).
        """

        def queue(prepared: PreparedWebhook | None) -> Deferred[None] | None:
            if prepared is None:
                return None
            d = self._store.add_webhook(
                prepared.hook, prepared.next_attempt, prepared.superseded_keep_until
            )
            return d.addCallback(self._added)

        d = self.prepare_outgoing(message, event, attempt, suppressing=suppressing, dsn=dsn)
        return d.addCallback(queue)

    def prepare_outgoing(
        self,
        message: QueuedMessage | RetiredMessage,
        event: str,
        attempt: DeliveryAttempt | None,
        *,
        suppressing: bool = False,
        dsn: bool = False,
    ) -> Deferred[PreparedWebhook | None]:
        """The outgoing event of a message, ready to queue in the caller's transaction
        (the queue's outcome), or None when the account does not subscribe to it.

        Call ``kick()`` once that transaction is committed.
        """
        now = self._now()
        # Built before the settings lookup, so a bad event fails the caller at once.
        payload = outgoing_from_message(
            message, event, attempt, webhook_queued=now, suppressing=suppressing, dsn=dsn
        )

        def prepare(settings: WebhookSettings) -> PreparedWebhook | None:
            hook = settings.outgoing
            # spec §3.4: only with a URL, and only subscribed events.
            if hook is None or not hook.wants(event):
                return None
            new = NewWebhook(
                account=message.account,
                url=hook.url,
                authorization=hook.authorization,
                payload=payload.to_json(),
                submitted=now,
                outgoing_event=event,
                queue_msg_id=message.id,
                from_id=message.from_id,
                message_id=message.message_id,
                subject=message.subject,
                extra=message.extra,
            )
            return PreparedWebhook(new, now, self._keep_until(settings, now))

        return self._settings.settings_for(message.account).addCallback(prepare)

    def incoming(self, account: str, stored: StoredMessage, data: bytes) -> Deferred[None]:
        """Queue the incoming event of a message stored into an account (spec §3.7)."""

        def queue(settings: WebhookSettings) -> Deferred[None] | None:
            hook = settings.incoming
            if hook is None:
                return None
            if self._run_in_thread is None:
                parsing: Deferred[ParsedMessageLike] = maybeDeferred(self._parse, data)
            else:
                parsing = self._run_in_thread(self._parse, data)
            parsing.addErrback(unparsed)
            return parsing.addCallback(add, hook, settings)

        def unparsed(failure: Failure) -> None:
            _log.failure("parsing message {id} for its incoming webhook", failure, id=stored.id)

        def add(
            parsed: ParsedMessageLike | None, hook: Any, settings: WebhookSettings
        ) -> Deferred[None]:
            payload = incoming_payload(stored, parsed)
            new = NewWebhook(
                account=account,
                url=hook.url,
                authorization=hook.authorization,
                payload=payload.to_json(),
                submitted=self._now(),
                is_incoming=True,
                message_id=payload.message_id,
                subject=payload.subject,
            )
            return self._add(new, settings)

        return self._settings.settings_for(account).addCallback(queue)

    def _add(self, new: NewWebhook, settings: WebhookSettings) -> Deferred[None]:
        d: Deferred[tuple[Webhook, int | None]] = self._store.add_webhook(
            new, new.submitted, self._keep_until(settings, new.submitted)
        )
        return d.addCallback(self._added)

    def _added(self, result: tuple[Webhook, int | None]) -> None:
        hook, superseded = result
        if superseded is not None:
            _log.debug("webhook {old} superseded by {new}", old=superseded, new=hook.id)
        self._kick()

    @staticmethod
    def _keep_until(settings: WebhookSettings, now: datetime) -> datetime | None:
        period = settings.keep_retired_webhook_period
        return now + period if period > timedelta(0) else None

    # -- delivery

    def kick(self) -> None:
        """Look at the queue now (after the CLI or the webapi changed it)."""
        self._kick()

    def _kick(self) -> None:
        if not self._running:
            return
        if self._pumping:
            self._again = True
            return
        self._pumping = True

        def done(result: object) -> None:
            self._pumping = False
            if isinstance(result, Failure):
                _log.failure("webhook queue pump", result)
                self._schedule(self._clock.seconds() + POLL_INTERVAL)
            if self._again:
                self._again = False
                self._kick()

        self._pump().addBoth(done)

    def _pump(self) -> Deferred[None]:
        d: Deferred[list[WebhookHead]] = self._store.webhook_heads(set(self._in_flight))
        return d.addCallback(self._start_due)

    def _start_due(self, heads: list[WebhookHead]) -> None:
        if not self._running:
            return
        now = self._now()
        wake = self._clock.seconds() + POLL_INTERVAL
        self._starved = False
        for head in heads:
            if head.next_attempt > now:
                wake = min(wake, head.next_attempt.timestamp())
                break
            if head.url in self._in_flight:
                continue
            if len(self._in_flight) >= self._max_in_flight:
                # Other URLs wait for a slot: finishing requests hand theirs
                # back instead of chaining their URL's next hook.
                self._starved = True
                break
            self._attempt(head, now)
        self._schedule(wake)

    def _schedule(self, when: float) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None
        if self._running:
            delay = max(0.0, when - self._clock.seconds())
            self._timer = self._clock.callLater(delay, self._kick)

    def _next_attempt_for(self, now: datetime) -> Callable[[int], datetime]:
        def next_attempt_for(previous: int) -> datetime:
            # spec §3.2: set before the attempt, so a crash mid-request retries.
            return now + retry_wait(previous) * (1 + self._jitter())

        return next_attempt_for

    def _attempt(self, head: WebhookHead, now: datetime) -> None:
        """Deliver ``head``, then the URL's following due hooks, in one slot."""
        done: Deferred[None] = Deferred()
        self._in_flight[head.url] = done

        def release(_: object = None) -> None:
            del self._in_flight[head.url]
            done.callback(None)
            self._kick()

        def failed(failure: Failure, hook_id: int) -> None:
            # Whatever went wrong (the hook superseded or canceled meanwhile, a store
            # error), the URL's slot is given back: else nothing more is ever sent to
            # it and stop() waits forever.
            self._attempt_failed(failure, hook_id)
            release()

        def deliver(hook: Webhook) -> None:
            d = self._send(hook)
            d.addCallback(more)
            d.addErrback(failed, hook.id)

        def more(next_hook: Webhook | None) -> None:
            # Not returned: each hook's Deferred ends here, no chain grows.
            if next_hook is not None:
                deliver(next_hook)
            else:
                release()

        started: Deferred[Webhook] = self._store.start_webhook_attempt(
            head.id, now, self._next_attempt_for(now)
        )
        started.addCallback(deliver)
        started.addErrback(failed, head.id)

    def _send(self, hook: Webhook) -> Deferred[Webhook | None]:
        """One request for ``hook``; the URL's next hook when the store started one."""
        start = self._now()
        settings_d: Deferred[WebhookSettings] = self._settings.settings_for(hook.account)

        def post(settings: WebhookSettings) -> Deferred[Any]:
            request = WebhookRequest(
                hook_id=hook.id,
                attempt=hook.attempts,
                url=hook.url,
                authorization=hook.authorization,
                payload=hook.payload,
                keys=settings.secret_keys(),
            )
            sent: Deferred[WebhookResponse] = self._sender.post(request)
            return sent.addCallback(lambda response: (settings, response))

        def broken(failure: Failure) -> tuple[WebhookSettings, WebhookResponse]:
            # Unreadable settings or a bug: recorded on the attempt and retried,
            # rather than left "delivering..." until a restart.
            _log.failure("webhook {id} attempt", failure, id=hook.id)
            error = f"internal error: {failure.getErrorMessage()}"
            return WebhookSettings(), WebhookResponse(0, 0.0, error)

        def record(outcome: tuple[WebhookSettings, WebhookResponse]) -> Deferred[Any]:
            settings, response = outcome
            result = WebhookResult(
                start=start,
                url=hook.url,
                duration=response.duration,
                success=response.success,
                code=response.code,
                error=response.error,
                response=response.response[:MAX_RESPONSE].decode("utf-8", "replace"),
            )
            retire = response.success or hook.attempts >= MAX_ATTEMPTS
            if not response.success:
                _log.info(
                    "webhook {id} attempt {attempt} to {url} failed: {error}",
                    id=hook.id,
                    attempt=hook.attempts,
                    url=hook.url,
                    error=response.error,
                )
            now = self._now()
            chain = self._running and not self._starved
            d: Deferred[tuple[str, Webhook | None]] = self._store.finish_webhook_attempt(
                hook.id,
                result,
                retire,
                self._keep_until(settings, now) if retire else None,
                self._next_attempt_for(now) if chain else None,
            )
            return d.addCallback(lambda finished: finished[1])

        return settings_d.addCallback(post).addErrback(broken).addCallback(record)

    def _attempt_failed(self, failure: Failure, hook_id: int) -> None:
        if failure.check(WebhookNotFound):
            return  # superseded or canceled between the look and the start
        _log.failure("webhook {id} attempt", failure, id=hook_id)

    @property
    def in_flight(self) -> int:
        """How many webhook requests are in flight."""
        return len(self._in_flight)


__all__ = [
    "MAX_ATTEMPTS",
    "MAX_IN_FLIGHT",
    "RETRY_WAITS",
    "WebhookDispatcher",
    "incoming_payload",
    "retry_wait",
    "structure_of",
]
