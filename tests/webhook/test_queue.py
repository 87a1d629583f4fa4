"""Tests for mailtwist.webhook.queue: the dispatcher on a Clock, the store and StubTreq."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.internet.defer import succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.store.records import DeliveryAttempt, QueuedMessage, StoredMessage
from mailtwist.store.webhooks import (
    SUPERSEDED,
    WEBHOOK_INTERRUPTED,
    WebhookFilter,
    WebhookResult,
)
from mailtwist.testing.store import MemoryStore
from mailtwist.testing.webhooks import WebhookReceiver
from mailtwist.webhook.payload import NameAddress, Structure
from mailtwist.webhook.queue import (
    MAX_ATTEMPTS,
    RETRY_WAITS,
    WebhookDispatcher,
    incoming_payload,
    retry_wait,
)
from mailtwist.webhook.settings import (
    IncomingWebhook,
    OutgoingWebhook,
    StoredWebhookSettings,
    WebhookSettings,
    new_secret,
    secret_key,
)

START = 1_800_000_000.0
OUT = "http://127.0.0.1:8025/outgoing"
IN = "http://127.0.0.1:8025/incoming"


def message(queue_id: int = 8, account: str = "mox", **kw: Any) -> QueuedMessage:
    now = datetime.fromtimestamp(START, UTC)
    values: dict[str, Any] = {
        "id": queue_id,
        "base_id": queue_id,
        "queued": now,
        "hold": False,
        "account": account,
        "sender": "mox@localhost",
        "recipient": "rcpt@localhost",
        "recipient_domain": "localhost",
        "message_id": "<b3Bg8LzPT3McaRFB_bRojA@localhost>",
        "subject": "test permerror@localhost",
        "size": 100,
        "next_attempt": now,
        "last_attempt": now,
        "attempts": 1,
        "max_attempts": 0,
        "results": (),
        "data_id": 1,
        "from_id": "c-be7DZrDUQy3f5fEVOgsw",
        "extra": {"case": "25-send-permerror"},
    }
    values.update(kw)
    return QueuedMessage(**values)


def failure_attempt() -> DeliveryAttempt:
    return DeliveryAttempt(
        start=datetime.fromtimestamp(START, UTC),
        code=550,
        secode="0.0",
        error="permanent: 550 5.0.0 no",
        permanent=True,
    )


class FakeParsed:
    """What mailtwist.message.parse.parse_message returns, for the fields we read."""

    from_ = (NameAddress("", "mox@localhost"),)
    to = (("Mox User", "mox@localhost"),)
    cc = bcc = reply_to = ()
    subject = "hello simple"
    message_id = "<FwdzdjATpVBuwaysntN6qA@localhost>"
    in_reply_to = ""
    references = ()
    date = datetime(2026, 11, 26, 4, 22, 23, tzinfo=UTC)
    text = "hi there ☺\nsecond line\n"
    html = ""
    structure = Structure("text/plain", {"charset": "utf-8"}, decoded_size=27)
    automated = False


class DispatcherTestCase(SynchronousTestCase):
    """A dispatcher on a Clock with an in-memory store and a scripted receiver."""

    settings = WebhookSettings(
        outgoing=OutgoingWebhook(OUT, "Basic b3V0Z29pbmc6c2VjcmV0"),
        incoming=IncomingWebhook(IN, "Bearer incoming-secret"),
        keep_retired_webhook_period=timedelta(days=1),
    )

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(START)
        self.store = MemoryStore(self.clock)
        self.source = StoredWebhookSettings(self.store)
        self.successResultOf(self.source.save("mox", self.settings))
        self.receiver = WebhookReceiver()
        self.stub = self.receiver.client()
        self.parsed: list[bytes] = []
        self.dispatcher = self.make_dispatcher()
        self.successResultOf(self.dispatcher.start())

    def make_dispatcher(self, jitter: float = 0.0) -> WebhookDispatcher:
        def parse(data: bytes) -> FakeParsed:
            self.parsed.append(data)
            if data == b"garbage":
                raise ValueError("unparseable")
            return FakeParsed()

        return WebhookDispatcher(
            store=self.store,
            clock=self.clock,
            http_client=self.stub,
            settings=self.source,
            hostname="mail.example",
            jitter=lambda: jitter,
            parse_message=parse,
        )

    def tearDown(self) -> None:
        self.dispatcher.stop()

    def settle(self) -> None:
        for _ in range(20):
            self.stub.flush()

    def advance(self, seconds: float) -> None:
        self.clock.advance(seconds)
        self.settle()

    def pending(self) -> list[Any]:
        return list(self.successResultOf(self.store.webhook_page(WebhookFilter())).rows)

    def retired(self) -> list[Any]:
        page = self.successResultOf(self.store.retired_webhook_page(WebhookFilter()))
        return list(page.rows)


class OutgoingTests(DispatcherTestCase):
    """Outgoing events are queued, filtered and delivered per spec §3."""

    def test_delivered_and_retired(self) -> None:
        """A failed event is POSTed at once with mox's body and retired as a success."""
        self.successResultOf(
            self.dispatcher.outgoing(message(), "failed", failure_attempt(), suppressing=True)
        )
        self.settle()
        [got] = self.receiver.received
        self.assertEqual(got.path, "/outgoing")
        self.assertEqual(got.headers["x-mox-webhook-attempt"], "1")
        self.assertEqual(got.headers["authorization"], "Basic b3V0Z29pbmc6c2VjcmV0")
        body = json.loads(got.body)
        self.assertEqual(
            (body["Event"], body["SMTPCode"], body["SMTPEnhancedCode"], body["Suppressing"]),
            ("failed", 550, "5.0.0", True),
        )
        self.assertEqual(self.pending(), [])
        [retired] = self.retired()
        self.assertTrue(retired.success)
        self.assertTrue(retired.authorization)
        self.assertEqual(retired.id, int(got.headers["x-mox-webhook-id"]))
        self.assertEqual(retired.keep_until, retired.last_activity + timedelta(days=1))
        self.assertEqual([r.code for r in retired.results], [200])

    def test_events_filter(self) -> None:
        """An event the account does not subscribe to is not queued (spec §3.4)."""
        only_failed = WebhookSettings(outgoing=OutgoingWebhook(OUT, events=("failed",)))
        self.successResultOf(self.source.save("mox", only_failed))
        self.successResultOf(self.dispatcher.outgoing(message(), "delayed", failure_attempt()))
        self.settle()
        self.assertEqual((self.receiver.received, self.pending()), ([], []))
        self.successResultOf(self.dispatcher.outgoing(message(), "failed", failure_attempt()))
        self.settle()
        self.assertEqual(len(self.receiver.received), 1)

    def test_no_webhook_configured(self) -> None:
        """An account without OutgoingWebhook gets nothing queued."""
        self.successResultOf(self.dispatcher.outgoing(message(account="other"), "failed", None))
        self.settle()
        self.assertEqual(self.pending(), [])

    def test_settings_change_without_restart(self) -> None:
        """A saved new URL applies to the next event of the running dispatcher."""
        moved = WebhookSettings(outgoing=OutgoingWebhook("http://127.0.0.1:8025/moved"))
        self.successResultOf(self.source.save("mox", moved))
        self.successResultOf(self.dispatcher.outgoing(message(), "failed", None))
        self.settle()
        self.assertEqual([r.path for r in self.receiver.received], ["/moved"])
        self.assertNotIn("authorization", self.receiver.received[0].headers)

    def test_not_kept_without_period(self) -> None:
        """With KeepRetiredWebhookPeriod 0 a delivered webhook is not kept."""
        self.successResultOf(
            self.source.save("mox", WebhookSettings(outgoing=OutgoingWebhook(OUT)))
        )
        self.successResultOf(self.dispatcher.outgoing(message(), "failed", None))
        self.settle()
        self.assertEqual((self.pending(), self.retired()), ([], []))


class ScheduleTests(DispatcherTestCase):
    """Failed webhooks are retried on spec §3.2's schedule, 12 attempts at most."""

    def test_waits(self) -> None:
        """The wait list is mox's, and 32h beyond it."""
        self.assertEqual(retry_wait(0), timedelta(minutes=1))
        self.assertEqual(retry_wait(3), timedelta(minutes=7, seconds=30))
        self.assertEqual(retry_wait(10), timedelta(hours=16))
        self.assertEqual(retry_wait(11), timedelta(hours=32))

    def test_retry_schedule_then_retired(self) -> None:
        """A 500 is retried after 1m, 2m, 4m ... 16h; the 12th failure retires it."""
        self.receiver.status = 500
        self.receiver.body = b"failing on purpose\n"
        self.successResultOf(self.dispatcher.outgoing(message(), "delivered", None))
        self.settle()
        self.assertEqual(len(self.receiver.received), 1)
        for number, wait in enumerate(RETRY_WAITS, start=2):
            self.advance(wait.total_seconds() - 1)
            self.assertEqual(len(self.receiver.received), number - 1)
            self.advance(1)
            self.assertEqual(len(self.receiver.received), number)
            self.assertEqual(
                self.receiver.received[-1].headers["x-mox-webhook-attempt"], str(number)
            )
        self.assertEqual(len(self.receiver.received), MAX_ATTEMPTS)
        self.assertEqual(self.pending(), [])
        [retired] = self.retired()
        self.assertFalse(retired.success)
        self.assertEqual(len(retired.results), MAX_ATTEMPTS)
        self.assertEqual(retired.results[0].response, "failing on purpose\n")
        self.assertEqual(retired.results[0].error, "HTTP status 500, expected 200")
        # Same hook id on every retry (spec §3.1).
        self.assertEqual(
            {r.headers["x-mox-webhook-id"] for r in self.receiver.received}, {str(retired.id)}
        )
        self.advance(48 * 3600)
        self.assertEqual(len(self.receiver.received), MAX_ATTEMPTS)

    def test_jitter(self) -> None:
        """The injected jitter moves the next attempt by its fraction of the wait."""
        self.dispatcher.stop()
        self.dispatcher = self.make_dispatcher(jitter=0.01)
        self.successResultOf(self.dispatcher.start())
        self.receiver.status = 500
        self.successResultOf(self.dispatcher.outgoing(message(), "delivered", None))
        self.settle()
        [hook] = self.pending()
        self.assertEqual(hook.next_attempt.timestamp(), START + 60.6)
        self.advance(60.5)
        self.assertEqual(len(self.receiver.received), 1)
        self.advance(0.1)
        self.assertEqual(len(self.receiver.received), 2)

    def test_timeout_retried(self) -> None:
        """An endpoint that hangs fails after 60 s and is retried on schedule."""
        self.receiver.hang.add("/outgoing")
        self.successResultOf(self.dispatcher.outgoing(message(), "delivered", None))
        self.settle()
        self.advance(59)
        self.assertEqual(self.dispatcher.in_flight, 1)
        self.receiver.hang.clear()
        # At 60 s the request times out and the retry after 1m is due.
        self.advance(1)
        self.assertEqual(len(self.receiver.received), 2)
        self.assertEqual(self.pending(), [])
        [retired] = self.retired()
        self.assertEqual(
            [(r.code, r.error) for r in retired.results], [(0, "timeout after 60s"), (200, "")]
        )


class SupersedingTests(DispatcherTestCase):
    """Only the latest event of a queue message is delivered (spec §3.5)."""

    def test_pending_superseded(self) -> None:
        """A newer event retires the pending one with SupersededByID; only it is sent."""
        self.receiver.status = 500
        self.successResultOf(self.dispatcher.outgoing(message(), "delayed", failure_attempt()))
        self.settle()
        self.successResultOf(self.dispatcher.outgoing(message(), "failed", failure_attempt()))
        [new] = self.pending()
        [old] = self.retired()
        self.assertEqual((old.superseded_by_id, old.success), (new.id, False))
        self.assertEqual(old.outgoing_event, "delayed")
        self.receiver.status = 200
        self.advance(60)
        self.assertEqual(json.loads(self.receiver.received[-1].body)["Event"], "failed")
        self.assertEqual(self.pending(), [])

    def test_superseded_in_flight(self) -> None:
        """The attempt of a hook superseded in flight is kept with "(superseded)"."""
        self.receiver.hang.add("/outgoing")
        self.successResultOf(self.dispatcher.outgoing(message(), "delayed", failure_attempt()))
        self.settle()
        self.successResultOf(self.dispatcher.outgoing(message(), "failed", failure_attempt()))
        self.receiver.hang.clear()
        request = self.receiver.hanging.pop()
        request.setResponseCode(200)
        request.finish()
        self.settle()
        old = [r for r in self.retired() if r.superseded_by_id]
        self.assertEqual(len(old), 1)
        self.assertTrue(old[0].results[-1].error.endswith(SUPERSEDED))
        # The URL was busy, the successor goes out now.
        self.assertEqual(len(self.receiver.received), 2)

    def test_incoming_never_superseded(self) -> None:
        """Incoming hooks (QueueMsgID 0) are all delivered."""
        self.receiver.status = 500
        stored = stored_message()
        self.successResultOf(self.dispatcher.incoming("mox", stored, b"a"))
        self.successResultOf(self.dispatcher.incoming("mox", stored, b"b"))
        self.assertEqual(len(self.pending()), 2)


def stored_message(mail_from: str = "mox+x@localhost") -> StoredMessage:
    return StoredMessage(
        id=3,
        account="mox",
        mailbox="Inbox",
        received=datetime(2026, 11, 26, 4, 22, 23, 923872, tzinfo=UTC),
        size=10,
        flags=(),
        mail_from=mail_from,
        rcpt_to="mox@localhost",
        dsn=False,
        remote_ip="127.0.0.1",
        data_id=1,
    )


class IncomingTests(DispatcherTestCase):
    """Messages stored into an account produce spec §3.7's payload."""

    def test_incoming_payload(self) -> None:
        """The parse and the stored message become From/To/.../Meta."""
        self.successResultOf(self.dispatcher.incoming("mox", stored_message(), b"raw"))
        self.settle()
        self.assertEqual(self.parsed, [b"raw"])
        [got] = self.receiver.received
        self.assertEqual(got.path, "/incoming")
        self.assertEqual(got.headers["authorization"], "Bearer incoming-secret")
        self.assertIn(b'"MessageID":"\\u003cFwdzdjATpVBuwaysntN6qA@localhost\\u003e"', got.body)
        body = json.loads(got.body)
        self.assertEqual(body["To"], [{"Name": "Mox User", "Address": "mox@localhost"}])
        self.assertEqual(body["Meta"]["MsgID"], 3)
        self.assertEqual(body["Meta"]["Received"], "2026-11-26T04:22:23.923872Z")
        self.assertFalse(body["Meta"]["Automated"])

    def test_parse_runs_through_run_in_thread(self) -> None:
        """With run_in_thread (the service passes deferToThread) the parse runs there, off
        the reactor, and the webhook follows its result."""
        ran: list[Any] = []

        def runner(f: Any, *args: Any) -> Any:
            ran.append(f)
            return succeed(f(*args))

        self.dispatcher.stop()
        dispatcher = WebhookDispatcher(
            store=self.store,
            clock=self.clock,
            http_client=self.stub,
            settings=self.source,
            hostname="mail.example",
            parse_message=lambda data: FakeParsed(),
            run_in_thread=runner,
        )
        self.successResultOf(dispatcher.start())
        self.successResultOf(dispatcher.incoming("mox", stored_message(), b"raw"))
        self.settle()
        self.assertEqual(len(ran), 1)
        self.assertEqual(len(self.receiver.received), 1)
        self.successResultOf(dispatcher.stop())

    def test_null_sender_is_automated(self) -> None:
        """An empty MAIL FROM marks the message automated (spec §3.7)."""
        self.successResultOf(self.dispatcher.incoming("mox", stored_message(""), b"raw"))
        self.settle()
        self.assertTrue(json.loads(self.receiver.received[0].body)["Meta"]["Automated"])

    def test_unparseable_still_sent(self) -> None:
        """A message the parser refuses still produces a webhook naming it."""
        self.successResultOf(self.dispatcher.incoming("mox", stored_message(), b"garbage"))
        self.settle()
        body = json.loads(self.receiver.received[0].body)
        self.assertEqual((body["Meta"]["MsgID"], body["Subject"]), (3, ""))
        self.flushLoggedErrors(ValueError)

    def test_no_incoming_webhook(self) -> None:
        """An account without IncomingWebhook is not parsed and gets nothing."""
        self.successResultOf(self.dispatcher.incoming("other", stored_message(), b"raw"))
        self.assertEqual((self.parsed, self.pending()), ([], []))


class SigningTests(DispatcherTestCase):
    """With WebhookSecrets every request carries Standard Webhooks signatures."""

    def test_signature_verifies(self) -> None:
        """A receiver holding the secret verifies webhook-signature over id.timestamp.body."""
        secret = new_secret()
        settings = WebhookSettings(outgoing=OutgoingWebhook(OUT), secrets=(secret,))
        self.successResultOf(self.source.save("mox", settings))
        self.successResultOf(self.dispatcher.outgoing(message(), "failed", None))
        self.settle()
        [got] = self.receiver.received
        headers = got.headers
        self.assertEqual(headers["webhook-id"], headers["x-mox-webhook-id"])
        self.assertEqual(headers["webhook-timestamp"], str(int(START)))
        signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + got.body
        digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
        self.assertEqual(headers["webhook-signature"], "v1," + base64.b64encode(digest).decode())


class ConcurrencyTests(DispatcherTestCase):
    """A slow endpoint never blocks others: 10 in flight, one per URL (spec §3.1)."""

    def test_slow_endpoint_does_not_block_other_url(self) -> None:
        """While one URL hangs, another account's webhook to another URL goes out."""
        self.receiver.hang.add("/outgoing")
        for queue_id in range(1, 6):
            self.successResultOf(self.dispatcher.outgoing(message(queue_id), "failed", None))
        other = WebhookSettings(outgoing=OutgoingWebhook("http://127.0.0.1:8025/fast"))
        self.successResultOf(self.source.save("other", other))
        self.successResultOf(self.dispatcher.outgoing(message(99, account="other"), "failed", None))
        self.settle()
        self.assertEqual(sorted(r.path for r in self.receiver.received), ["/fast", "/outgoing"])
        self.assertEqual(self.dispatcher.in_flight, 1)

    def test_at_most_ten_in_flight(self) -> None:
        """Twelve hanging URLs get ten requests; the rest wait for a free slot."""
        for n in range(12):
            self.receiver.hang.add(f"/u{n}")
            account = f"a{n}"
            settings = WebhookSettings(outgoing=OutgoingWebhook(f"http://127.0.0.1:8025/u{n}"))
            self.successResultOf(self.source.save(account, settings))
            self.successResultOf(
                self.dispatcher.outgoing(message(100 + n, account=account), "failed", None)
            )
        self.settle()
        self.assertEqual((len(self.receiver.received), self.dispatcher.in_flight), (10, 10))
        request = self.receiver.hanging.pop(0)
        request.setResponseCode(200)
        request.finish()
        self.settle()
        self.assertEqual(len(self.receiver.received), 11)


class VanishedHookTests(DispatcherTestCase):
    def test_hook_gone_before_its_attempt_frees_the_url(self) -> None:
        """A hook canceled between the look at the queue and its attempt gives its URL's
        slot back: later hooks to that URL go out and stop() fires."""
        store = self.store
        real_start = store.start_webhook_attempt
        vanish = [True]

        def start_after_cancel(hook_id: int, now: Any, next_attempt: Any) -> Any:
            if vanish:
                vanish.clear()
                canceled = WebhookResult(start=now, url="", error="canceled by admin")
                self.successResultOf(
                    store.cancel_webhooks(WebhookFilter(ids=(hook_id,)), canceled, {})
                )
            return real_start(hook_id, now, next_attempt)

        store.start_webhook_attempt = start_after_cancel  # type: ignore[method-assign]
        self.successResultOf(self.dispatcher.outgoing(message(1), "failed", None))
        self.settle()
        self.assertEqual(self.dispatcher.in_flight, 0)
        self.assertEqual(self.receiver.received, [])
        self.successResultOf(self.dispatcher.outgoing(message(2), "failed", None))
        self.settle()
        self.assertEqual(len(self.receiver.received), 1)
        self.successResultOf(self.dispatcher.stop())


class RestartTests(DispatcherTestCase):
    """A restart loses nothing: interrupted attempts are sent again."""

    def test_interrupted_attempt_resent(self) -> None:
        """An attempt in flight at a crash is recorded and resent by the next start."""
        self.receiver.hang.add("/outgoing")
        self.successResultOf(self.dispatcher.outgoing(message(), "failed", None))
        self.settle()
        # A crash: the old dispatcher is dropped without finishing its request.
        self.dispatcher._running = False
        self.receiver.hang.clear()
        self.dispatcher = self.make_dispatcher()
        self.successResultOf(self.dispatcher.start())
        self.settle()
        self.assertEqual(len(self.receiver.received), 2)
        self.assertEqual(self.receiver.received[1].headers["x-mox-webhook-attempt"], "2")
        [retired] = self.retired()
        self.assertEqual([r.error for r in retired.results], [WEBHOOK_INTERRUPTED, ""])

    def test_pending_survive_stop(self) -> None:
        """Hooks queued while stopped are delivered when the next dispatcher starts."""
        self.receiver.status = 500
        self.successResultOf(self.dispatcher.outgoing(message(), "failed", None))
        self.settle()
        self.successResultOf(self.dispatcher.stop())
        self.receiver.status = 200
        self.dispatcher = self.make_dispatcher()
        self.successResultOf(self.dispatcher.start())
        self.advance(60)
        self.assertEqual(len(self.receiver.received), 2)
        self.assertEqual(self.pending(), [])


class CleanupTests(DispatcherTestCase):
    """Retired webhooks are deleted hourly once KeepRetiredWebhookPeriod has passed."""

    def test_expired_deleted(self) -> None:
        """A retired hook kept one day is gone after the first hourly run past that day."""
        self.successResultOf(self.dispatcher.outgoing(message(), "failed", None))
        self.settle()
        self.assertEqual(len(self.retired()), 1)
        self.advance(23 * 3600)
        self.assertEqual(len(self.retired()), 1)
        self.advance(2 * 3600)
        self.assertEqual(self.retired(), [])


class IncomingGoldenTests(SynchronousTestCase):
    """Real messages through the real parser give mox's incoming payloads."""

    def check(self, raw_sample: str, hook_sample: str, better: tuple[str, ...] = ()) -> None:
        samples = "/work/shared/spec/mox-samples/"
        with open(samples + raw_sample, encoding="utf-8") as f:
            data = json.load(f)["response"]["body"].encode("utf-8")
        with open(samples + hook_sample, encoding="utf-8") as f:
            want = json.loads(json.load(f)["webhook_request"]["body"])
        from mailtwist.message.parse import parse_message

        got = incoming_payload(stored_message(), parse_message(data)).json_value()
        for key in want:
            if key not in ("Meta", *better):
                self.assertEqual(got[key], want[key], key)

    def test_smtplib_message(self) -> None:
        """The smtplib submission of sample 98 gives sample 98's payload, Meta aside."""
        self.check("98b-messagerawget-smtplib-message.json", "98-webhook-incoming.json")

    def test_attachments_message(self) -> None:
        """Sample 19's message matches too, except that the body is the real body.

        mox took the text/plain attachment as Text and missed the HTML; issue 5
        asks for better, so Text and HTML are the alternative parts here.
        """
        self.check(
            "22-messagerawget-attachments.json", "19-webhook-incoming.json", ("Text", "HTML")
        )
