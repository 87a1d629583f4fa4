"""Webhook queue operations for the CLI: list pending and retired, retry now, cancel, test."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IReactorTime

from mailtwist.store.records import Cursor, Page
from mailtwist.store.webhooks import RetiredWebhook, Webhook, WebhookFilter, WebhookResult
from mailtwist.webhook.payload import OUTGOING_EVENTS, Incoming, IncomingMeta, Outgoing, Structure
from mailtwist.webhook.queue import ISettingsSource
from mailtwist.webhook.sender import WebhookRequest, WebhookResponse, WebhookSender
from mailtwist.webhook.settings import WebhookSettings

#: spec §3.6: the result an admin cancel appends.
CANCELED_BY_ADMIN = "canceled by admin"


class BadWebhookFilter(ValueError):
    """A CLI filter value is wrong; the message says which and why."""


def webhook_filter(
    *, ids: Sequence[int] = (), account: str = "", event: str = "", success: bool | None = None
) -> WebhookFilter:
    """A validated filter: ``event`` is an outgoing event name or "incoming"."""
    if event and event != "incoming" and event not in OUTGOING_EVENTS:
        raise BadWebhookFilter(
            f"unknown event {event!r}: use incoming or one of {', '.join(OUTGOING_EVENTS)}"
        )
    if any(not isinstance(i, int) or i <= 0 for i in ids):
        raise BadWebhookFilter("webhook ids are positive integers")
    return WebhookFilter(ids=tuple(ids), account=account, event=event, success=success)


def cursor_text(cursor: Cursor | None) -> str:
    """A page cursor as one CLI argument, ``<RFC 3339 time>/<id>``; "" for none."""
    if cursor is None:
        return ""
    return f"{cursor.value.astimezone(UTC).isoformat()}/{cursor.id}"


def parse_cursor(text: str) -> Cursor | None:
    """The Cursor of ``cursor_text``; BadWebhookFilter when it is not one."""
    if not text:
        return None
    moment, slash, number = text.rpartition("/")
    try:
        value = datetime.fromisoformat(moment)
        if not slash or value.tzinfo is None:
            raise ValueError
        return Cursor(value, int(number))
    except ValueError:
        raise BadWebhookFilter(f"bad page cursor {text!r}: expected <time>/<id>") from None


def list_pending(
    store: Any, webhook_filter: WebhookFilter, after: Cursor | None = None, limit: int = 100
) -> Deferred[Page[Webhook]]:
    """One page of pending webhooks by next attempt."""
    d: Deferred[Page[Webhook]] = store.webhook_page(webhook_filter, after, limit)
    return d


def list_retired(
    store: Any, webhook_filter: WebhookFilter, after: Cursor | None = None, limit: int = 100
) -> Deferred[Page[RetiredWebhook]]:
    """One page of retired webhooks, most recent first."""
    d: Deferred[Page[RetiredWebhook]] = store.retired_webhook_page(webhook_filter, after, limit)
    return d


def retry_now(store: Any, clock: IReactorTime, webhook_filter: WebhookFilter) -> Deferred[int]:
    """Make matching pending webhooks due now; how many. A running server picks
    them up within its poll interval (or at once through ``WebhookDispatcher.kick``)."""
    d: Deferred[int] = store.retry_webhooks_now(
        webhook_filter, datetime.fromtimestamp(clock.seconds(), UTC)
    )
    return d


def cancel(
    store: Any, clock: IReactorTime, settings: ISettingsSource, webhook_filter: WebhookFilter
) -> Deferred[int]:
    """Remove matching pending webhooks, kept as retired per account (spec §3.6)."""
    now = datetime.fromtimestamp(clock.seconds(), UTC)
    result = WebhookResult(start=now, url="", error=CANCELED_BY_ADMIN)

    def keep(accounts: list[str]) -> Deferred[int]:
        def periods(all_settings: list[WebhookSettings]) -> Deferred[int]:
            keep_until = {
                account: now + s.keep_retired_webhook_period
                if s.keep_retired_webhook_period
                else None
                for account, s in zip(accounts, all_settings, strict=True)
            }
            d: Deferred[int] = store.cancel_webhooks(webhook_filter, result, keep_until)
            return d

        lookups = [settings.settings_for(a) for a in accounts]
        return gatherResults(lookups, consumeErrors=True).addCallback(periods)

    d: Deferred[list[str]] = store.webhook_accounts(webhook_filter)
    return d.addCallback(keep)


def sample_payload(kind: str, hostname: str, now: datetime) -> bytes:
    """The sample payload POSTed by "send a test webhook": indented, HTML not
    escaped, as mox's account page test does (spec §10.1)."""
    value: dict[str, Any]
    if kind == "outgoing":
        value = Outgoing(
            event="delivered",
            queue_msg_id=101,
            webhook_queued=now,
            from_id="MDEyMzQ1Njc4OWFiY2RlZg",
            message_id=f"<test@{hostname}>",
            subject="test <subject>",
            smtp_code=250,
        ).json_value()
    elif kind == "incoming":
        value = Incoming(
            structure=Structure("text/plain", {"charset": "utf-8"}, decoded_size=5),
            meta=IncomingMeta(
                msg_id=201,
                mail_from=f"sender@{hostname}",
                rcpt_to=f"rcpt@{hostname}",
                received=now,
                mailbox_name="Inbox",
            ),
            subject="test",
            message_id=f"<test@{hostname}>",
            text="test\n",
        ).json_value()
    else:
        raise BadWebhookFilter(f"unknown test webhook kind {kind!r}: outgoing or incoming")
    return (json.dumps(value, indent="\t", ensure_ascii=False) + "\n").encode("utf-8")


def send_test(
    http_client: Any,
    clock: IReactorTime,
    settings: WebhookSettings,
    kind: str = "outgoing",
    hostname: str = "localhost",
) -> Deferred[WebhookResponse]:
    """POST a test payload to the account's configured URL with webhook id 1 and
    attempt 1 (as mox's OutgoingWebhookTest); signed when secrets are set."""
    hook = settings.outgoing if kind == "outgoing" else settings.incoming
    payload = sample_payload(kind, hostname, datetime.fromtimestamp(clock.seconds(), UTC))
    if hook is None:
        raise BadWebhookFilter(f"the account has no {kind} webhook configured")
    request = WebhookRequest(
        hook_id=1,
        attempt=1,
        url=hook.url,
        authorization=hook.authorization,
        payload=payload,
        keys=settings.secret_keys(),
    )
    return WebhookSender(http_client, clock).post(request)


def _result_line(result: WebhookResult) -> str:
    code = result.code or "-"
    return f"    {result.start.isoformat()} {code} {result.duration:.3f}s {result.error}".rstrip()


def format_pending(hook: Webhook) -> str:
    """A pending webhook for the CLI: one summary line, then its attempts."""
    event = "incoming" if hook.is_incoming else hook.outgoing_event
    lines = [
        f"{hook.id} {hook.account} {event} msg={hook.queue_msg_id} attempts={hook.attempts}"
        f" next={hook.next_attempt.isoformat()} {hook.url}"
    ]
    lines.extend(_result_line(r) for r in hook.results)
    return "\n".join(lines)


def format_retired(hook: RetiredWebhook) -> str:
    """A retired webhook for the CLI: one summary line, then its attempts."""
    event = "incoming" if hook.is_incoming else hook.outgoing_event
    state = "delivered" if hook.success else "failed"
    if hook.superseded_by_id:
        state = f"superseded-by={hook.superseded_by_id}"
    lines = [
        f"{hook.id} {hook.account} {event} msg={hook.queue_msg_id} {state}"
        f" last={hook.last_activity.isoformat()} keep-until={hook.keep_until.isoformat()}"
        f" {hook.url}"
    ]
    lines.extend(_result_line(r) for r in hook.results)
    return "\n".join(lines)


__all__ = [
    "CANCELED_BY_ADMIN",
    "BadWebhookFilter",
    "cancel",
    "cursor_text",
    "format_pending",
    "format_retired",
    "list_pending",
    "list_retired",
    "parse_cursor",
    "retry_now",
    "sample_payload",
    "send_test",
    "webhook_filter",
]
