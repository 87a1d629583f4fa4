"""Webhooks: mox-compatible payloads, the durable webhook queue, signed delivery, settings."""

from mailtwist.webhook.payload import (
    OUTGOING_EVENTS,
    Incoming,
    IncomingMeta,
    NameAddress,
    Outgoing,
    Structure,
)
from mailtwist.webhook.queue import MAX_ATTEMPTS, RETRY_WAITS, WebhookDispatcher
from mailtwist.webhook.sender import USER_AGENT, WebhookRequest, WebhookResponse, WebhookSender
from mailtwist.webhook.settings import (
    IncomingWebhook,
    InvalidWebhookSettings,
    OutgoingWebhook,
    StoredWebhookSettings,
    WebhookSettings,
)

__all__ = [
    "MAX_ATTEMPTS",
    "OUTGOING_EVENTS",
    "RETRY_WAITS",
    "USER_AGENT",
    "Incoming",
    "IncomingMeta",
    "IncomingWebhook",
    "InvalidWebhookSettings",
    "NameAddress",
    "Outgoing",
    "OutgoingWebhook",
    "StoredWebhookSettings",
    "Structure",
    "WebhookDispatcher",
    "WebhookRequest",
    "WebhookResponse",
    "WebhookSender",
    "WebhookSettings",
]
