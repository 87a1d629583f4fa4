"""Tests for webapi Send: validation, composition, queueing, limits and idempotency (spec §2.2)."""

from __future__ import annotations

import base64
import json
import urllib.parse
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.internet.defer import Deferred, fail
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.message.headers import field_values, split_message
from mailtwist.store.records import NewMessage, QueuedMessage
from tests.webapi.fakes import NOW, PASSWORD, FakeSigner, Harness, Response, make_config

SIMPLE: dict[str, Any] = {
    "To": [{"Address": "mox@localhost"}],
    "Subject": "hi",
    "Text": "hi there\n",
}


def _header(data: bytes, name: str) -> list[str]:
    header, _ = split_message(data)
    return [v.decode() for v in field_values(header, name)]


def send_with_file(webapi: Harness, part_header: bytes, content: bytes) -> Response:
    """POST a multipart Send whose one attached file part has ``part_header``."""
    body = (
        b'--b\r\nContent-Disposition: form-data; name="request"\r\n\r\n'
        b'{"To": [{"Address": "mox@localhost"}], "Text": "see file"}\r\n'
        b'--b\r\nContent-Disposition: form-data; name="attachedfile"; filename="a.bin"\r\n'
        + part_header
        + b"\r\n\r\n"
        + content
        + b"\r\n--b--\r\n"
    )
    return webapi.request(
        "POST",
        "/webapi/v0/Send",
        data=body,
        headers={"Content-Type": "multipart/form-data; boundary=b"},
        auth=("mox@localhost", PASSWORD),
    )


class SendTests(SynchronousTestCase):
    """A valid Send composes the message and queues it, one Submission per recipient."""

    def setUp(self) -> None:
        self.webapi = Harness()

    def test_simple(self) -> None:
        """Default From is the account's full name and the login; queued as webapi."""
        response = self.webapi.call("Send", SIMPLE)
        self.assertEqual(response.code, 200)
        self.assertEqual(response.header("Content-Type"), "application/json; charset=utf-8")
        result = response.json
        self.assertEqual(set(result), {"MessageID", "Submissions"})
        self.assertRegex(result["MessageID"], r"^<[A-Za-z0-9_-]{22}@localhost>$")
        self.assertEqual(
            result["Submissions"], [{"Address": "mox@localhost", "QueueMsgID": 1, "FromID": ""}]
        )
        (message,) = self.webapi.submitted
        self.assertEqual(message.origin, "webapi")
        self.assertEqual(message.sender, "mox@localhost")
        self.assertEqual(message.recipients, ("mox@localhost",))
        self.assertEqual(message.message_id, result["MessageID"])
        self.assertEqual(message.subject, "hi")
        self.assertTrue(message.data.startswith(b"Received: from localhost by localhost id "))
        self.assertEqual(_header(message.data, "From"), ['"Mox User" <mox@localhost>'])
        self.assertEqual(_header(message.data, "Message-Id"), [result["MessageID"]])
        self.assertEqual(_header(message.data, "Subject"), ["hi"])
        self.assertTrue(message.data.endswith(b"\r\n\r\nhi there\r\n"))

    def test_recipient_order_and_bcc(self) -> None:
        """Submissions go To, CC, BCC with addresses as given; Bcc is not in the header."""
        response = self.webapi.call(
            "Send",
            {
                "To": [{"Address": "a@example.org"}],
                "CC": [{"Address": "B@Example.org"}],
                "BCC": [{"Address": "hidden@example.org"}],
                "Text": "x",
            },
        )
        addresses = [s["Address"] for s in response.json["Submissions"]]
        self.assertEqual(addresses, ["a@example.org", "B@Example.org", "hidden@example.org"])
        (message,) = self.webapi.submitted
        self.assertEqual(len(message.recipients), 3)
        self.assertEqual(_header(message.data, "Bcc"), [])
        self.assertNotIn(b"hidden@example.org", message.data)
        # Several recipients: one prefix for all copies (spec §2.3).
        self.assertIn(b"for <>;", message.data.split(b"\r\n\r\n")[0])

    def test_catchall_login_is_default_from(self) -> None:
        """The login string, catchall variant included, becomes the From address."""
        self.webapi.call("Send", SIMPLE, login="mox+news@localhost")
        (message,) = self.webapi.submitted
        self.assertEqual(_header(message.data, "From"), ['"Mox User" <mox+news@localhost>'])

    def test_options_carried(self) -> None:
        """Extra, RequireTLS, FutureRelease and custom headers reach the queue."""
        release = datetime.fromtimestamp(NOW, UTC) + timedelta(hours=1)
        response = self.webapi.call(
            "Send",
            {
                **SIMPLE,
                "Extra": {"a": "1"},
                "RequireTLS": False,
                "FutureRelease": release.isoformat(),
                "Headers": [["X-Custom", "v"]],
                "MessageID": "<custom@client.example>",
            },
        )
        self.assertEqual(response.json["MessageID"], "<custom@client.example>")
        (message,) = self.webapi.submitted
        self.assertEqual(dict(message.extra), {"a": "1"})
        self.assertIs(message.require_tls, False)
        self.assertEqual(message.next_attempt, release)
        self.assertEqual(message.future_release_request, "until;2026-11-28T04:39:48Z")
        self.assertEqual(_header(message.data, "X-Custom"), ["v"])

    def test_future_release_too_far(self) -> None:
        """More than 60 days ahead is code user with mox's text; nothing is queued."""
        too_far = datetime.fromtimestamp(NOW, UTC) + timedelta(days=60, seconds=1)
        response = self.webapi.call("Send", {**SIMPLE, "FutureRelease": too_far.isoformat()})
        self.assertEqual(
            response.json,
            {
                "Code": "user",
                "Message": "scheduling delivery: date/time can not be further than"
                " 1440h0m0s in the future",
            },
        )
        self.assertEqual(self.webapi.submitted, [])

    def test_times_outside_utc_range(self) -> None:
        """A FutureRelease or Date that has no UTC time is code protocol, not a server
        error; a FutureRelease long past is accepted and due at once."""
        for field in ("FutureRelease", "Date"):
            response = self.webapi.call("Send", {**SIMPLE, field: "0001-01-01T00:00:00+01:00"})
            self.assertEqual(
                response.json,
                {
                    "Code": "protocol",
                    "Message": 'parsing request: parsing time "0001-01-01T00:00:00+01:00":'
                    " outside the range of UTC years 1-9999",
                },
            )
        self.assertEqual(self.webapi.submitted, [])
        response = self.webapi.call("Send", {**SIMPLE, "FutureRelease": "0001-01-01T00:00:00Z"})
        self.assertEqual(response.code, 200)
        (message,) = self.webapi.submitted
        self.assertEqual(message.next_attempt, datetime(1, 1, 1, tzinfo=UTC))

    def test_smtputf8_only_when_needed(self) -> None:
        """A non-ASCII localpart makes the message SMTPUTF8; a non-ASCII name does not."""
        self.webapi.call("Send", {**SIMPLE, "To": [{"Name": "Ré", "Address": "mox@localhost"}]})
        self.webapi.call("Send", {**SIMPLE, "To": [{"Address": "rené@example.org"}]})
        first, second = self.webapi.submitted
        self.assertFalse(first.smtputf8)
        self.assertTrue(second.smtputf8)

    def test_json_attachments(self) -> None:
        """AttachedFiles and InlineFiles from base64 JSON nest mixed > related."""
        data = base64.b64encode(b"hello file").decode()
        self.webapi.call(
            "Send",
            {
                **SIMPLE,
                "HTML": "<img src=cid:x>",
                "InlineFiles": [{"Name": "x.png", "ContentID": "<x>", "Data": data}],
                "AttachedFiles": [{"Name": "notes.txt", "ContentType": "text/plain", "Data": data}],
            },
        )
        (message,) = self.webapi.submitted
        self.assertIn("multipart/mixed", _header(message.data, "Content-Type")[0])
        self.assertIn(b"multipart/related", message.data)
        self.assertIn(b"notes.txt", message.data)
        self.assertIn(data.encode(), message.data)

    def test_multipart_uploads(self) -> None:
        """Files uploaded as form parts are attached with their names and types."""
        response = send_with_file(
            self.webapi, b"Content-Type: application/x-thing", b"\x00\x01\x02"
        )
        self.assertEqual(response.code, 200)
        (message,) = self.webapi.submitted
        self.assertIn(b"application/x-thing", message.data)
        self.assertIn(b"a.bin", message.data)
        self.assertIn(base64.b64encode(b"\x00\x01\x02"), message.data)

    def test_upload_transfer_encoding_as_go(self) -> None:
        """Form parts are decoded as Go's multipart reader does (mox): quoted-printable
        is decoded, base64 and others are taken as sent, valid or not."""
        for encoding, sent, attached in (
            (b"base64", b"aGk=", b"aGk="),
            (b"base64", b"ab!c", b"ab!c"),
            (
                b"x-uuencode",
                b"begin 644 a\r\n#:&D*\r\n`\r\nend",
                b"begin 644 a\r\n#:&D*\r\n`\r\nend",
            ),
            (b"quoted-printable", b"h=C3=A9", "h\u00e9".encode()),
        ):
            response = send_with_file(self.webapi, b"Content-Transfer-Encoding: " + encoding, sent)
            self.assertEqual(response.code, 200)
            message = self.webapi.submitted[-1]
            self.assertIn(base64.b64encode(attached), message.data, encoding)

    def test_dkim_signature_after_received(self) -> None:
        """With a signer the DKIM-Signature follows the Received prefix (spec §2.3)."""
        webapi = Harness(signer=FakeSigner())
        webapi.call("Send", SIMPLE)
        (message,) = webapi.submitted
        lines = message.data.split(b"\r\n")
        self.assertTrue(lines[0].startswith(b"Received: "))
        self.assertEqual(lines[2], b"DKIM-Signature: v=1; d=localhost; b=fake")

    def test_signing_failure(self) -> None:
        """A signer that fails is code server; nothing is queued."""

        class Broken(FakeSigner):
            def sign(self, message: bytes, domain: object) -> bytes:
                raise ValueError("no key")

        webapi = Harness(signer=Broken())
        response = webapi.call("Send", SIMPLE)
        self.assertEqual(response.json["Code"], "server")
        self.assertEqual(webapi.submitted, [])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)

    def test_save_sent(self) -> None:
        """SaveSent stores a copy in Sent with Bcc, seen and not-junk flags."""
        self.webapi.call(
            "Send", {**SIMPLE, "BCC": [{"Address": "hidden@example.org"}], "SaveSent": True}
        )
        (sent,) = self.successResultOf(self.webapi.store.list_messages("mox", "Sent"))
        self.assertEqual(set(sent.flags), {"$notjunk", "\\seen"})
        data = self.successResultOf(self.webapi.store.message_data(sent.data_id))
        self.assertEqual(_header(data, "Bcc"), ["hidden@example.org"])
        self.assertFalse(data.startswith(b"Received:"))

    def test_lone_surrogates_sent_as_replacement_character(self) -> None:
        """Lone surrogates anywhere in a Send or a SuppressionAdd are U+FFFD, as in mox,
        not an unhandled error."""
        lone = "a\ud800b"
        response = self.webapi.call(
            "Send",
            {
                "To": [{"Name": lone, "Address": "mox@localhost"}],
                "Subject": lone,
                "Text": lone,
                "HTML": lone,
                "MessageID": f"<{lone}@localhost>",
                "Headers": [["X-A", lone]],
                "Extra": {lone: lone},
                "AttachedFiles": [{"Name": lone, "ContentType": "text/plain", "Data": "aGk="}],
            },
        )
        self.assertEqual(response.code, 200, response.body)
        (message,) = self.webapi.submitted
        self.assertEqual(message.message_id, "<a\ufffdb@localhost>")
        self.assertEqual(_header(message.data, "X-A"), ["a\ufffdb"])
        self.assertIn("a\ufffdb".encode(), message.data)
        self.assertEqual(dict(message.extra), {"a\ufffdb": "a\ufffdb"})
        response = self.webapi.call(
            "SuppressionAdd", {"EmailAddress": "x@example.org", "Reason": lone}
        )
        self.assertEqual(response.code, 200, response.body)
        (entry,) = self.webapi.call("SuppressionList", {}).json["Suppressions"]
        self.assertEqual(entry["Reason"], "a\ufffdb")


class FromIDTests(SynchronousTestCase):
    """With a fromid login every recipient is its own queue message with a unique MAIL FROM."""

    def test_fromid_per_recipient(self) -> None:
        """spec §7.2: sender localpart + separator + fromid; FromID in the Submissions."""
        webapi = Harness(config=make_config(fromid=True))
        response = webapi.call(
            "Send",
            {
                "From": [{"Address": "mox@localhost"}],
                "To": [{"Address": "a@x.example"}],
                "CC": [{"Address": "b@x.example"}],
                "Text": "x",
            },
            login="mox+fromid@localhost",
        )
        submissions = response.json["Submissions"]
        self.assertEqual(len(webapi.submitted), 2)
        for submission, message in zip(submissions, webapi.submitted, strict=True):
            self.assertRegex(submission["FromID"], r"^[A-Za-z0-9_-]{22}$")
            self.assertEqual(message.sender, f"mox+{submission['FromID']}@localhost")
            self.assertEqual(message.from_id, submission["FromID"])
            self.assertEqual(message.recipients, (submission["Address"],))
        self.assertNotEqual(submissions[0]["FromID"], submissions[1]["FromID"])


class RefusalTests(SynchronousTestCase):
    """Each refusal has mox's code and message, and nothing is queued (spec §2.2)."""

    def setUp(self) -> None:
        self.webapi = Harness(config=make_config(disabled_domain=True))

    def assertRefused(
        self, request: dict[str, object], code: str, message: str | None = None
    ) -> None:
        response = self.webapi.call("Send", request)
        self.assertEqual(response.code, 400)
        self.assertEqual(response.json["Code"], code, response.json)
        if message is not None:
            self.assertEqual(response.json["Message"], message)
        self.assertEqual(self.webapi.submitted, [])

    def test_missing_body(self) -> None:
        """No Text and no HTML."""
        self.assertRefused(
            {"To": SIMPLE["To"]}, "missingBody", "at least text or html body required"
        )

    def test_multiple_from(self) -> None:
        """Two From addresses."""
        two = [{"Address": "mox@localhost"}, {"Address": "mox@localhost"}]
        self.assertRefused({**SIMPLE, "From": two}, "multipleFrom")

    def test_bad_address(self) -> None:
        """An unparsable recipient names the address."""
        self.assertRefused(
            {**SIMPLE, "To": [{"Address": "not an address"}]},
            "badAddress",
        )
        response = self.webapi.call("Send", {**SIMPLE, "ReplyTo": [{"Address": "x"}]})
        self.assertTrue(response.json["Message"].startswith('parsing address "x": '))

    def test_bad_from(self) -> None:
        """A From of another account."""
        self.assertRefused(
            {**SIMPLE, "From": [{"Address": "other@localhost"}]},
            "badFrom",
            "from-address not configured for account",
        )

    def test_domain_disabled(self) -> None:
        """A From in a disabled domain."""
        self.assertRefused(
            {**SIMPLE, "From": [{"Address": "mox@disabled.example"}]}, "domainDisabled"
        )

    def test_no_recipients(self) -> None:
        """No To, CC or BCC."""
        self.assertRefused({"Text": "x"}, "noRecipients", "no recipients")

    def test_malformed_message_id(self) -> None:
        """A MessageID without <>."""
        self.assertRefused(
            {**SIMPLE, "MessageID": "x@y"}, "malformedMessageID", "missing <> in message-id"
        )

    def test_header_injection(self) -> None:
        """CR or LF in a custom header, subject or display name is code user."""
        self.assertRefused({**SIMPLE, "Headers": [["X-A", "v\r\nBcc: evil@x"]]}, "user")
        self.assertRefused({**SIMPLE, "Headers": [["X-A\r\nB", "v"]]}, "user")
        self.assertRefused({**SIMPLE, "Subject": "a\nBcc: evil@x"}, "user")
        self.assertRefused(
            {**SIMPLE, "To": [{"Name": "a\r\n", "Address": "mox@localhost"}]}, "user"
        )

    def test_header_not_a_pair(self) -> None:
        """A custom header that is not [name, value]."""
        self.assertRefused({**SIMPLE, "Headers": [["X-A"]]}, "user")

    def test_non_ascii_file_labels(self) -> None:
        """A non-ASCII ContentType or ContentID of a JSON file or a form upload, in a
        message that is not SMTPUTF8, is code user."""
        data = base64.b64encode(b"hi").decode()
        self.assertRefused(
            {**SIMPLE, "AttachedFiles": [{"Name": "f", "ContentType": "x/\u00e9", "Data": data}]},
            "user",
            "checking content type of file: non-ASCII characters not allowed",
        )
        self.assertRefused(
            {**SIMPLE, "InlineFiles": [{"Name": "f", "ContentID": "<\u00e9@x>", "Data": data}]},
            "user",
            "checking content id of file: non-ASCII characters not allowed",
        )
        response = send_with_file(self.webapi, b"Content-ID: <\xc3\xa9@x>", b"data")
        self.assertEqual(response.json["Code"], "user")
        self.assertEqual(self.webapi.submitted, [])

    def test_bad_base64(self) -> None:
        """Invalid base64 in a file."""
        self.assertRefused({**SIMPLE, "AttachedFiles": [{"Name": "a", "Data": "!!"}]}, "user")


class SendLimitTests(SynchronousTestCase):
    """Per-account daily limits (spec §1.5), counting webapi sends; off in localserve."""

    def test_message_limit(self) -> None:
        """Recipients of the last 24 h plus this Send above the limit: messageLimitReached."""
        webapi = Harness(config=make_config(mode="production", max_messages=2))
        self.assertEqual(webapi.call("Send", SIMPLE).code, 200)
        self.assertEqual(webapi.call("Send", SIMPLE).code, 200)
        response = webapi.call("Send", SIMPLE)
        self.assertEqual(response.json["Code"], "messageLimitReached")
        self.assertEqual(len(webapi.submitted), 2)
        webapi.clock.advance(24 * 3600 + 1)
        self.assertEqual(webapi.call("Send", SIMPLE).code, 200)

    def test_first_time_recipient_limit(self) -> None:
        """New recipients above the first-time limit: recipientLimitReached."""
        webapi = Harness(config=make_config(mode="production", max_first_time=2))
        for n in range(2):
            response = webapi.call("Send", {**SIMPLE, "To": [{"Address": f"r{n}@x.example"}]})
            self.assertEqual(response.code, 200)
        # A known recipient is fine...
        self.assertEqual(
            webapi.call("Send", {**SIMPLE, "To": [{"Address": "r0@x.example"}]}).code, 200
        )
        # ...a third new one is not.
        response = webapi.call("Send", {**SIMPLE, "To": [{"Address": "r9@x.example"}]})
        self.assertEqual(response.json["Code"], "recipientLimitReached")

    def test_localserve_unlimited(self) -> None:
        """In localserve mode the limits do not apply, so load tests are not throttled."""
        webapi = Harness(config=make_config(mode="localserve", max_messages=1))
        for _ in range(3):
            self.assertEqual(webapi.call("Send", SIMPLE).code, 200)


class IdempotencyTests(SynchronousTestCase):
    """Idempotency-Key: same key and request within 24 h gives the first response (issue 4)."""

    def setUp(self) -> None:
        self.webapi = Harness()

    def send(self, request: dict[str, Any], key: str, login: str = "mox@localhost") -> Response:
        return self.webapi.call("Send", request, login=login, headers={"Idempotency-Key": key})

    def test_same_request_same_response(self) -> None:
        """The repeat answers the first response and queues nothing."""
        first = self.send(SIMPLE, "k1")
        second = self.send(SIMPLE, "k1")
        self.assertEqual(first.code, 200)
        self.assertEqual(second.body, first.body)
        self.assertEqual(len(self.webapi.submitted), 1)

    def test_different_request_conflicts(self) -> None:
        """The same key with another request is idempotencyConflict."""
        self.send(SIMPLE, "k1")
        response = self.send({**SIMPLE, "Subject": "other"}, "k1")
        self.assertEqual(response.code, 400)
        self.assertEqual(response.json["Code"], "idempotencyConflict")
        self.assertEqual(len(self.webapi.submitted), 1)

    def test_keys_per_account(self) -> None:
        """Another account's same key is its own."""
        self.send(SIMPLE, "k1")
        response = self.send(
            {**SIMPLE, "To": [{"Address": "other@localhost"}]}, "k1", login="other@localhost"
        )
        self.assertEqual(response.code, 200)
        self.assertEqual(len(self.webapi.submitted), 2)

    def test_other_login_conflicts(self) -> None:
        """The same key and JSON from another login of the account (another default From)
        is idempotencyConflict, not the first login's answer."""
        self.send(SIMPLE, "k1")
        response = self.send(SIMPLE, "k1", login="mox+sales@localhost")
        self.assertEqual(response.json["Code"], "idempotencyConflict")
        self.assertEqual(len(self.webapi.submitted), 1)
        self.assertEqual(self.send(SIMPLE, "k1").code, 200)
        self.assertEqual(len(self.webapi.submitted), 1)

    def test_expires_after_a_day(self) -> None:
        """After 24 h the key sends again."""
        self.send(SIMPLE, "k1")
        self.webapi.clock.advance(24 * 3600 + 1)
        self.send(SIMPLE, "k1")
        self.assertEqual(len(self.webapi.submitted), 2)

    def test_failed_send_not_remembered(self) -> None:
        """A refused Send records no key: the corrected request with it is sent."""
        self.send({"To": SIMPLE["To"]}, "k1")
        self.assertEqual(self.send(SIMPLE, "k1").code, 200)

    def test_concurrent_duplicates_wait(self) -> None:
        """A duplicate arriving while the first is queueing waits, then gets its answer."""
        held: list[tuple[NewMessage, Deferred[list[QueuedMessage]]]] = []
        real_submit = self.webapi.submit

        def slow_submit(message: NewMessage) -> Deferred[list[QueuedMessage]]:
            d: Deferred[list[QueuedMessage]] = Deferred()
            held.append((message, d))
            return d

        self.webapi.submit = slow_submit  # type: ignore[method-assign]
        headers = {"Idempotency-Key": "k1"}
        first = self.webapi.start_call("Send", SIMPLE, headers=headers)
        second = self.webapi.start_call("Send", SIMPLE, headers=headers)
        self.assertNoResult(first)
        self.assertNoResult(second)
        ((message, d),) = held
        real_submit(message).chainDeferred(d)
        self.webapi.client.flush()
        first_body = self.successResultOf(first).body
        self.assertEqual(self.successResultOf(second).body, first_body)
        self.assertEqual(len(held), 1)

    def test_long_key(self) -> None:
        """A key over 255 characters is refused and nothing is sent."""
        response = self.send(SIMPLE, "k" * 256)
        self.assertEqual(response.json["Code"], "protocol")
        self.assertEqual(self.webapi.submitted, [])

    def test_key_not_visible_ascii(self) -> None:
        """Keys with bytes outside visible ASCII (8-bit, control, space inside) are refused
        with code protocol, so two such keys can never be taken for the same one."""
        for key in (b"k\xe9", b"k\xe8", "kü".encode(), b"k\x01", b"a b"):
            d = self.webapi.start(
                "POST",
                "/webapi/v0/Send",
                data=b"request=" + urllib.parse.quote(json.dumps(SIMPLE)).encode(),
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Idempotency-Key": key,  # type: ignore[dict-item]
                },
                auth=("mox@localhost", PASSWORD),
            )
            response = self.successResultOf(d)
            self.assertEqual(
                response.json,
                {
                    "Code": "protocol",
                    "Message": "Idempotency-Key must be visible ASCII characters (0x21-0x7e)",
                },
                key,
            )
        self.assertEqual(self.webapi.submitted, [])

    def test_key_record_failure_still_answers(self) -> None:
        """When remembering the key fails after queueing, the client still gets its result."""
        self.webapi.store.remember_idempotent_response = (  # type: ignore[method-assign]
            lambda *args: fail(RuntimeError("disk full"))
        )
        response = self.send(SIMPLE, "k1")
        self.assertEqual(response.code, 200)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
