"""Webhook payloads (mox's webhook.Outgoing and webhook.Incoming) and their exact JSON bytes."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from mailtwist.gotime import go_time
from mailtwist.store.records import DeliveryAttempt, QueuedMessage, RetiredMessage

#: The outgoing event names (spec §3.4); also the only values allowed in
#: ``OutgoingWebhook.Events``.
OUTGOING_EVENTS = (
    "delivered",
    "suppressed",
    "delayed",
    "failed",
    "relayed",
    "expanded",
    "canceled",
    "unrecognized",
)

_SURROGATE = re.compile("[\ud800-\udfff]")
# Go's encoding/json escapes these even with HTML escaping on by default
# (spec §3.1): "<", ">", "&" for HTML safety, U+2028/U+2029 for JavaScript.
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_GO_ESCAPED = re.compile("[<>&\u2028\u2029]")


def _go_string(value: Any) -> Any:
    # Go writes invalid UTF-8 as U+FFFD; a lone surrogate is Python's equivalent.
    if isinstance(value, str) and _SURROGATE.search(value):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_go_string(k): _go_string(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_go_string(v) for v in value]
    return value


def go_json(value: Any) -> bytes:
    """JSON bytes as Go's ``json.Marshal`` writes them: compact, UTF-8, ``<>&`` escaped.

    Dict key order is kept (struct field order); Go maps are sorted by the
    caller. No trailing newline (spec §3.1).
    """
    text = json.dumps(_go_string(value), ensure_ascii=False, separators=(",", ":"))
    return _GO_ESCAPED.sub(lambda m: _GO_ESCAPES[m.group()], text).encode("utf-8")


def _sorted_map(value: Mapping[str, str]) -> dict[str, str]:
    # Go marshals maps with keys in sorted (byte) order.
    return {k: value[k] for k in sorted(value, key=lambda k: k.encode("utf-8", "surrogatepass"))}


@dataclass(frozen=True)
class Outgoing:
    """An outgoing-delivery event of one queued message (spec §3.3, mox webhook.Outgoing)."""

    event: str
    queue_msg_id: int
    webhook_queued: datetime
    dsn: bool = False
    suppressing: bool = False
    from_id: str = ""
    message_id: str = ""
    subject: str = ""
    smtp_code: int = 0
    smtp_enhanced_code: str = ""
    error: str = ""
    #: None is written as null: mox does so for DSN-generated events of a
    #: message that stored no Extra (spec §3.3).
    extra: Mapping[str, str] | None = field(default_factory=dict)
    version: int = 0

    def __post_init__(self) -> None:
        if self.event not in OUTGOING_EVENTS:
            raise ValueError(f"unknown outgoing webhook event {self.event!r}")
        if self.queue_msg_id <= 0:
            raise ValueError("an outgoing webhook needs the queue message id")
        if self.smtp_code and not 200 <= self.smtp_code <= 599:
            raise ValueError(f"SMTP code out of range: {self.smtp_code}")
        go_time(self.webhook_queued)  # refuses naive times here, not at send time
        if self.extra is not None:
            object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    def json_value(self) -> dict[str, Any]:
        """The payload as JSON values, in mox's field order."""
        return {
            "Version": self.version,
            "Event": self.event,
            "DSN": self.dsn,
            "Suppressing": self.suppressing,
            "QueueMsgID": self.queue_msg_id,
            "FromID": self.from_id,
            "MessageID": self.message_id,
            "Subject": self.subject,
            "WebhookQueued": go_time(self.webhook_queued),
            "SMTPCode": self.smtp_code,
            "SMTPEnhancedCode": self.smtp_enhanced_code,
            "Error": self.error,
            # spec §8: {} when empty, never null, for queue-generated events.
            "Extra": None if self.extra is None else _sorted_map(self.extra),
        }

    def to_json(self) -> bytes:
        """The exact request body mox sends (spec §3.1)."""
        return go_json(self.json_value())


def outgoing_from_message(
    message: QueuedMessage | RetiredMessage,
    event: str,
    attempt: DeliveryAttempt | None,
    *,
    webhook_queued: datetime,
    suppressing: bool = False,
    dsn: bool = False,
) -> Outgoing:
    """The outgoing event of a queued or retired message (spec §3.3, §3.4).

    Queue-generated ``delivered`` events carry SMTPCode 0 and no enhanced code,
    as mox sends them (spec §3.3 [doc≠code]); other events carry the attempt's
    SMTP reply code, 0/"" when the failure was no SMTP reply. ``Error`` is the
    attempt's error for queue events and "" for events made from an incoming DSN.
    """
    code, enhanced, error = 0, "", ""
    if attempt is not None:
        if dsn or event != "delivered":
            code, enhanced = attempt.code, attempt.enhanced_code
        if not dsn:
            error = attempt.error
    return Outgoing(
        event=event,
        queue_msg_id=message.id,
        webhook_queued=webhook_queued,
        dsn=dsn,
        suppressing=suppressing,
        from_id=message.from_id,
        message_id=message.message_id,
        subject=message.subject,
        smtp_code=code,
        smtp_enhanced_code=enhanced,
        error=error,
        # Queue events say {} for no Extra (spec §8); mox's DSN path says null.
        extra=message.extra if message.extra or not dsn else None,
    )


@dataclass(frozen=True)
class NameAddress:
    """A display name and an address (Unicode domain) from a message header."""

    name: str
    address: str

    def json_value(self) -> dict[str, Any]:
        return {"Name": self.name, "Address": self.address}


@dataclass(frozen=True)
class Structure:
    """The MIME tree of a message (spec §2.1 Structure)."""

    content_type: str
    content_type_params: Mapping[str, str] = field(default_factory=dict)
    content_id: str = ""
    content_disposition: str = ""
    filename: str = ""
    decoded_size: int = 0
    parts: tuple[Structure, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "content_type_params", MappingProxyType(dict(self.content_type_params))
        )
        object.__setattr__(self, "parts", tuple(self.parts))

    def json_value(self) -> dict[str, Any]:
        return {
            "ContentType": self.content_type,
            "ContentTypeParams": _sorted_map(self.content_type_params),
            "ContentID": self.content_id,
            "ContentDisposition": self.content_disposition,
            "Filename": self.filename,
            "DecodedSize": self.decoded_size,
            "Parts": [p.json_value() for p in self.parts],
        }


@dataclass(frozen=True)
class IncomingMeta:
    """Delivery facts of an incoming message (spec §3.7 IncomingMeta)."""

    msg_id: int
    mail_from: str
    rcpt_to: str
    received: datetime
    mailbox_name: str
    remote_ip: str = ""
    mail_from_validated: bool = False
    msg_from_validated: bool = False
    dkim_verified_domains: tuple[str, ...] = ()
    automated: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "dkim_verified_domains", tuple(self.dkim_verified_domains))
        go_time(self.received)

    def json_value(self) -> dict[str, Any]:
        return {
            "MsgID": self.msg_id,
            "MailFrom": self.mail_from,
            "MailFromValidated": self.mail_from_validated,
            "MsgFromValidated": self.msg_from_validated,
            "RcptTo": self.rcpt_to,
            # Never null (spec §3.7).
            "DKIMVerifiedDomains": list(self.dkim_verified_domains),
            "RemoteIP": self.remote_ip,
            "Received": go_time(self.received),
            "MailboxName": self.mailbox_name,
            "Automated": self.automated,
        }


@dataclass(frozen=True)
class Incoming:
    """A message delivered into an account (spec §3.7, mox webhook.Incoming)."""

    structure: Structure
    meta: IncomingMeta
    from_: tuple[NameAddress, ...] = ()
    to: tuple[NameAddress, ...] = ()
    cc: tuple[NameAddress, ...] = ()
    bcc: tuple[NameAddress, ...] = ()
    reply_to: tuple[NameAddress, ...] = ()
    subject: str = ""
    message_id: str = ""
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    date: datetime | None = None
    text: str = ""
    html: str = ""
    version: int = 0

    def __post_init__(self) -> None:
        for name in ("from_", "to", "cc", "bcc", "reply_to", "references"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.date is not None:
            go_time(self.date)

    def json_value(self) -> dict[str, Any]:
        def addresses(values: Sequence[NameAddress]) -> list[dict[str, Any]]:
            # [] when absent, never null (spec §3.7).
            return [a.json_value() for a in values]

        return {
            "Version": self.version,
            "From": addresses(self.from_),
            "To": addresses(self.to),
            "CC": addresses(self.cc),
            "BCC": addresses(self.bcc),
            "ReplyTo": addresses(self.reply_to),
            "Subject": self.subject,
            "MessageID": self.message_id,
            "InReplyTo": self.in_reply_to,
            "References": list(self.references),
            "Date": None if self.date is None else go_time(self.date),
            "Text": self.text,
            "HTML": self.html,
            "Structure": self.structure.json_value(),
            "Meta": self.meta.json_value(),
        }

    def to_json(self) -> bytes:
        """The exact request body mox sends (spec §3.1)."""
        return go_json(self.json_value())


__all__ = [
    "OUTGOING_EVENTS",
    "Incoming",
    "IncomingMeta",
    "NameAddress",
    "Outgoing",
    "Structure",
    "go_json",
    "outgoing_from_message",
]
