"""Tests for mailtwist.webhook.payload: mox's webhook JSON, byte for byte."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.gotime import go_time
from mailtwist.store.records import DeliveryAttempt, QueuedMessage
from mailtwist.webhook.payload import (
    Incoming,
    IncomingMeta,
    NameAddress,
    Outgoing,
    Structure,
    go_json,
    outgoing_from_message,
)

SAMPLES = Path("/work/shared/spec/mox-samples")
NOW = datetime(2026, 11, 26, 4, 23, 6, 156671, tzinfo=UTC)


def raw_webhooks() -> list[dict[str, Any]]:
    with (SAMPLES / "all-webhooks-raw.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def sample_bodies(kind: str) -> list[str]:
    return [r["body"] for r in raw_webhooks() if r["path"] == f"/{kind}"]


def queued(value: dict[str, Any]) -> QueuedMessage:
    return QueuedMessage(
        id=value["QueueMsgID"],
        base_id=value["QueueMsgID"],
        queued=NOW,
        hold=False,
        account="mox",
        sender="mox@localhost",
        recipient="rcpt@localhost",
        recipient_domain="localhost",
        message_id=value["MessageID"],
        subject=value["Subject"],
        size=100,
        next_attempt=NOW,
        last_attempt=NOW,
        attempts=1,
        max_attempts=0,
        results=(),
        data_id=1,
        from_id=value["FromID"],
        extra=value["Extra"] or {},
    )


def attempt_of(value: dict[str, Any]) -> DeliveryAttempt:
    code = value["SMTPCode"]
    enhanced = value["SMTPEnhancedCode"]
    if value["Event"] == "delivered" and not value["DSN"]:
        # What the queue knows of a delivery: the remote's 250 2.0.0.
        code, enhanced = 250, "2.0.0"
    return DeliveryAttempt(
        start=NOW,
        success=value["Event"] == "delivered",
        code=code,
        secode=enhanced.partition(".")[2],
        error=value["Error"],
    )


def with_time(body: str, key: str, text: str) -> str:
    value = json.loads(body)
    old = value[key] if "." not in key else value["Meta"]["Received"]
    return body.replace(f'"{old}"', f'"{text}"', 1)


def structure_of(value: dict[str, Any]) -> Structure:
    return Structure(
        content_type=value["ContentType"],
        content_type_params=value["ContentTypeParams"] or {},
        content_id=value["ContentID"],
        content_disposition=value["ContentDisposition"],
        filename=value["Filename"],
        decoded_size=value["DecodedSize"],
        parts=tuple(structure_of(p) for p in value["Parts"] or ()),
    )


def incoming_of(value: dict[str, Any]) -> Incoming:
    def addresses(key: str) -> tuple[NameAddress, ...]:
        return tuple(NameAddress(a["Name"], a["Address"]) for a in value[key])

    meta = value["Meta"]
    date = value["Date"]
    return Incoming(
        structure=structure_of(value["Structure"]),
        meta=IncomingMeta(
            msg_id=meta["MsgID"],
            mail_from=meta["MailFrom"],
            rcpt_to=meta["RcptTo"],
            received=NOW,
            mailbox_name=meta["MailboxName"],
            remote_ip=meta["RemoteIP"],
            mail_from_validated=meta["MailFromValidated"],
            msg_from_validated=meta["MsgFromValidated"],
            dkim_verified_domains=meta["DKIMVerifiedDomains"],
            automated=meta["Automated"],
        ),
        from_=addresses("From"),
        to=addresses("To"),
        cc=addresses("CC"),
        bcc=addresses("BCC"),
        reply_to=addresses("ReplyTo"),
        subject=value["Subject"],
        message_id=value["MessageID"],
        in_reply_to=value["InReplyTo"],
        references=value["References"],
        date=None if date is None else datetime.fromisoformat(date),
        text=value["Text"],
        html=value["HTML"],
    )


class GoldenOutgoingTests(SynchronousTestCase):
    """Outgoing payloads for the samples' situations equal mox's request bodies."""

    def test_every_outgoing_sample(self) -> None:
        """Each captured outgoing body is reproduced byte for byte from message and attempt."""
        bodies = sample_bodies("outgoing")
        self.assertGreater(len(bodies), 20)
        for body in bodies:
            value = json.loads(body)
            payload = outgoing_from_message(
                queued(value),
                value["Event"],
                attempt_of(value),
                webhook_queued=NOW,
                suppressing=value["Suppressing"],
                dsn=value["DSN"],
            )
            expected = with_time(body, "WebhookQueued", go_time(NOW))
            self.assertEqual(payload.to_json().decode("utf-8"), expected)

    def test_delivered_from_queue_has_no_code(self) -> None:
        """A queue-generated delivered event carries SMTPCode 0 and "" as mox does."""
        value = json.loads(sample_bodies("outgoing")[1])
        attempt = DeliveryAttempt(start=NOW, success=True, code=250, secode="0.0")
        payload = outgoing_from_message(queued(value), "delivered", attempt, webhook_queued=NOW)
        self.assertEqual((payload.smtp_code, payload.smtp_enhanced_code), (0, ""))

    def test_dsn_event_has_no_error(self) -> None:
        """An event made from an incoming DSN keeps its codes and has an empty Error."""
        value = json.loads(sample_bodies("outgoing")[0])
        attempt = DeliveryAttempt(start=NOW, code=550, secode="1.1", error="x")
        payload = outgoing_from_message(
            queued(value), "failed", attempt, webhook_queued=NOW, dsn=True
        )
        self.assertEqual(
            (payload.smtp_code, payload.smtp_enhanced_code, payload.error), (550, "5.1.1", "")
        )

    def test_unknown_event_refused(self) -> None:
        """An event name outside spec §3.4 cannot become a payload."""
        self.assertRaises(ValueError, Outgoing, event="bounced", queue_msg_id=1, webhook_queued=NOW)

    def test_naive_time_refused(self) -> None:
        """A time without a zone is refused when the payload is made."""
        self.assertRaises(
            ValueError,
            Outgoing,
            event="failed",
            queue_msg_id=1,
            webhook_queued=NOW.replace(tzinfo=None),
        )


class GoldenIncomingTests(SynchronousTestCase):
    """Incoming payloads encode exactly as mox's request bodies."""

    def test_every_incoming_sample(self) -> None:
        """Each captured incoming body is reproduced byte for byte from its fields."""
        bodies = sample_bodies("incoming")
        self.assertGreater(len(bodies), 5)
        for body in bodies:
            payload = incoming_of(json.loads(body))
            expected = with_time(body, "Meta.Received", go_time(NOW))
            self.assertEqual(payload.to_json().decode("utf-8"), expected)


class GoJSONTests(SynchronousTestCase):
    """The encoder follows Go's encoding/json conventions."""

    def test_html_characters_escaped(self) -> None:
        """<, > and & are written as \\u003c, \\u003e and \\u0026, non-ASCII as UTF-8."""
        self.assertEqual(go_json({"A": "<a&b> ☺"}), '{"A":"\\u003ca\\u0026b\\u003e ☺"}'.encode())

    def test_line_separators_and_controls(self) -> None:
        """U+2028/U+2029 are escaped and control characters use lowercase \\u00xx."""
        self.assertEqual(go_json("\u2028\u2029\x01\n"), b'"\\u2028\\u2029\\u0001\\n"')

    def test_lone_surrogate_replaced(self) -> None:
        """Text that is not valid Unicode becomes U+FFFD, as Go does for bad UTF-8."""
        self.assertEqual(go_json("a\udcff"), '"a\ufffd"'.encode())

    def test_times(self) -> None:
        """Times are RFC 3339 with zone: Z for UTC, trailing fraction zeros removed."""
        self.assertEqual(go_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)), "2026-01-02T03:04:05Z")
        self.assertEqual(
            go_time(datetime(2026, 1, 2, 3, 4, 5, 120000, tzinfo=UTC)), "2026-01-02T03:04:05.12Z"
        )
        zone = timezone(timedelta(hours=-5, minutes=-30))
        self.assertEqual(
            go_time(datetime(2026, 1, 2, 3, 4, 5, tzinfo=zone)), "2026-01-02T03:04:05-05:30"
        )

    def test_map_keys_sorted(self) -> None:
        """Extra is written with sorted keys and {} when empty, as Go marshals maps."""
        payload = Outgoing(
            event="failed", queue_msg_id=1, webhook_queued=NOW, extra={"b": "1", "a": "2"}
        )
        self.assertIn(b'"Extra":{"a":"2","b":"1"}', payload.to_json())
        empty = Outgoing(event="failed", queue_msg_id=1, webhook_queued=NOW)
        self.assertIn(b'"Extra":{}', empty.to_json())
