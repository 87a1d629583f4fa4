"""Tests for mailtwist.smtpserver.submission: what an account may submit and what is queued."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from twisted.internet.defer import Deferred, fail, maybeDeferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from mailtwist.address import Address, Domain, parse_address
from mailtwist.smtp.reply import SMTPReply
from mailtwist.smtpserver._interfaces import Envelope, ISessionPolicy, Session
from mailtwist.smtpserver.submission import SubmissionPolicy
from mailtwist.store.records import NewMessage, QueuedMessage

# 2026-11-28 03:39:48 UTC
NOW = 1795837188.0
NOW_TEXT = "Sat, 28 Nov 2026 03:39:48 +0000"


class FakeDirectory:
    """The directory calls the policies may make, over fixed address and fromid tables."""

    def __init__(
        self,
        addresses: dict[str, str],
        domains: set[str],
        fromid_logins: dict[str, set[str]] | None = None,
        separators: dict[str, str] | None = None,
    ) -> None:
        self.addresses = addresses
        self.domains = domains
        self.fromid_logins = fromid_logins or {}
        self.separators = separators or {}

    def uses_fromid(self, account: str, login: str | None) -> bool:
        return login in self.fromid_logins.get(account, set())

    def fromid_separator(self, domain: Domain) -> str | None:
        assert isinstance(domain, Domain), domain
        return self.separators.get(domain.ascii)

    def account_for_address(self, address: Address) -> str | None:
        assert isinstance(address, Address), address
        return self.addresses.get(f"{address.localpart.lower()}@{address.domain.ascii}")

    def is_local_domain(self, domain: Domain) -> bool:
        assert isinstance(domain, Domain), domain
        return domain.ascii in self.domains


class FakeQueue:
    """Records submissions; each call's answer is one Deferred the test fires.

    ``submitted`` lists every message with its call's Deferred; ``calls`` the messages of
    each call (several for a fromid submission, queued in one transaction).
    """

    def __init__(self) -> None:
        self.submitted: list[tuple[NewMessage, Deferred[list[QueuedMessage]]]] = []
        self.calls: list[tuple[NewMessage, ...]] = []

    def submit(self, *messages: NewMessage) -> Deferred[list[QueuedMessage]]:
        assert messages and all(isinstance(m, NewMessage) for m in messages)
        d: Deferred[list[QueuedMessage]] = Deferred()
        self.submitted.extend((m, d) for m in messages)
        self.calls.append(messages)
        return d


def queued(id: int, message: NewMessage) -> QueuedMessage:
    now = datetime.fromtimestamp(NOW, UTC)
    return QueuedMessage(
        id=id,
        base_id=id,
        queued=now,
        hold=False,
        account=message.account,
        sender=message.sender,
        recipient=message.recipients[0],
        recipient_domain="remote.example",
        message_id=message.message_id,
        subject=message.subject,
        size=len(message.data),
        next_attempt=now,
        last_attempt=None,
        attempts=0,
        max_attempts=0,
        results=(),
        data_id=1,
    )


def directory() -> FakeDirectory:
    return FakeDirectory(
        {
            "mjl@mox.example": "mjl",
            "mjl+tag@mox.example": "mjl",
            "alias@xn--mx-xka.example": "mjl",
            "other@mox.example": "other",
        },
        {"mox.example", "xn--mx-xka.example"},
    )


def session(**kwargs: object) -> Session:
    values: dict[str, object] = {
        "listener": "submission",
        "remote_ip": "192.0.2.1",
        "helo": "client.example",
        "tls": True,
        "account": "mjl",
        "login": "mjl@mox.example",
        "session_id": "S1",
    }
    values.update(kwargs)
    return Session(**values)  # type: ignore[arg-type]


def envelope(
    mail_from: str | None = "mjl@mox.example",
    *recipients: str,
    smtputf8: bool = False,
) -> Envelope:
    return Envelope(
        mail_from=None if mail_from is None else parse_address(mail_from),
        recipients=tuple(parse_address(r) for r in recipients or ("a@remote.example",)),
        smtputf8=smtputf8,
    )


MESSAGE = (
    b"From: Mechiel <mjl@mox.example>\r\n"
    b"To: a@remote.example\r\n"
    b"Subject: hello\r\n"
    b" world\r\n"
    b"Message-ID: <m1@mox.example>\r\n"
    b"Date: Fri, 27 Nov 2026 10:00:00 +0100\r\n"
    b"\r\n"
    b"body\r\n"
)


class SubmissionPolicyTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.queue = FakeQueue()
        self.ids = iter(f"id{i}" for i in range(1, 100))
        self.policy = self.make_policy()

    def make_policy(self, **options: Any) -> SubmissionPolicy:
        return SubmissionPolicy(
            hostname="mail.mox.example",
            directory=directory(),
            submit=self.queue.submit,
            clock=self.clock,
            make_id=lambda: next(self.ids),
            **options,
        )

    def refusal(self, call: Callable[[], object]) -> SMTPReply:
        """The SMTPReply a policy call refuses with, raised or as a failure."""
        try:
            result = call()
        except SMTPReply as e:
            return e
        assert isinstance(result, Deferred)
        return self.failureResultOf(result, SMTPReply).value  # type: ignore[return-value]

    def submit(self, data: bytes, env: Envelope | None = None, **kwargs: object) -> NewMessage:
        """Submit data, check nothing is answered yet, and return what was queued."""
        self.result = self.policy.accept_message(session(**kwargs), env or envelope(), data)
        self.assertNoResult(self.result)
        self.assertEqual(len(self.queue.submitted), 1)
        return self.queue.submitted[0][0]


class InterfaceTests(SubmissionPolicyTestCase):
    def test_provides(self) -> None:
        """The policy provides ISessionPolicy and needs AUTH."""
        self.assertTrue(verifyObject(ISessionPolicy, self.policy))
        self.assertTrue(self.policy.requires_auth)


class MailFromTests(SubmissionPolicyTestCase):
    def test_own_address(self) -> None:
        """Addresses of the authenticated account, catchall variants too, are accepted."""
        for address in ("mjl@mox.example", "MJL+tag@mox.example", "alias@müx.example"):
            # Accepting is returning without raising.
            self.policy.check_mail_from(session(), parse_address(address), {})

    def test_other_account(self) -> None:
        """Another account's address or an unknown one is refused 550 5.7.1."""
        for address in ("other@mox.example", "nobody@mox.example", "x@remote.example"):
            reply = self.refusal(
                partial(self.policy.check_mail_from, session(), parse_address(address), {})
            )
            self.assertEqual((reply.code, reply.enhanced), (550, "5.7.1"))
            self.assertIn("not allowed", reply.text)

    def test_null_sender(self) -> None:
        """The null reverse-path is refused for submission."""
        reply = self.refusal(lambda: self.policy.check_mail_from(session(), None, {}))
        self.assertEqual((reply.code, reply.enhanced), (550, "5.7.1"))

    def test_not_authenticated(self) -> None:
        """Without an authenticated account MAIL FROM gets 530 5.7.0 (RFC 4954 §6)."""
        reply = self.refusal(
            lambda: self.policy.check_mail_from(
                session(account=None), parse_address("mjl@mox.example"), {}
            )
        )
        self.assertEqual((reply.code, reply.enhanced), (530, "5.7.0"))


class RcptToTests(SubmissionPolicyTestCase):
    def test_any_recipient(self) -> None:
        """Remote, local and unknown local recipients are all accepted."""
        for address in ("a@remote.example", "other@mox.example", "nobody@mox.example"):
            self.policy.check_rcpt_to(session(), envelope(), parse_address(address), {})


class AcceptTests(SubmissionPolicyTestCase):
    def test_queued(self) -> None:
        """The message is queued with its envelope and header data, 250 once durable."""
        message = self.submit(MESSAGE)
        self.assertEqual(message.account, "mjl")
        self.assertEqual(message.sender, "mjl@mox.example")
        self.assertEqual(message.recipients, ("a@remote.example",))
        self.assertEqual(message.message_id, "<m1@mox.example>")
        self.assertEqual(message.subject, "hello world")
        self.assertFalse(message.has8bit)
        self.assertFalse(message.smtputf8)
        self.assertEqual(dict(message.extra), {})
        self.queue.submitted[0][1].callback([queued(17, message)])
        self.assertEqual(
            self.successResultOf(self.result), SMTPReply(250, "2.0.0", "message queued as 17")
        )

    def test_bytes_kept_and_received_prepended(self) -> None:
        """The client's bytes are kept; only a Received field (RFC 5321 §4.4) goes in front."""
        message = self.submit(MESSAGE)
        self.assertEqual(
            message.data,
            b"Received: from client.example ([192.0.2.1])\r\n"
            b"\tby mail.mox.example with ESMTPSA id S1\r\n"
            b"\tfor <a@remote.example>; " + NOW_TEXT.encode() + b"\r\n" + MESSAGE,
        )

    def test_received_several_recipients_no_tls(self) -> None:
        """With several recipients there is no "for"; without TLS the type is ESMTPA."""
        message = self.submit(
            MESSAGE, envelope("mjl@mox.example", "a@remote.example", "b@remote.example"), tls=False
        )
        self.assertEqual(message.recipients, ("a@remote.example", "b@remote.example"))
        self.assertTrue(
            message.data.startswith(
                b"Received: from client.example ([192.0.2.1])\r\n"
                b"\tby mail.mox.example with ESMTPA id S1; " + NOW_TEXT.encode() + b"\r\n"
            )
        )

    def test_received_id_generated(self) -> None:
        """Without a session id the Received id comes from the id generator."""
        message = self.submit(MESSAGE, session_id="")
        self.assertIn(b" id id1\r\n", message.data)

    def test_message_id_and_date_added(self) -> None:
        """A missing Message-ID and Date are added (RFC 5322 §3.6), Date from the clock."""
        data = b"From: mjl@mox.example\r\nSubject: x\r\n\r\nbody\r\n"
        message = self.submit(data)
        self.assertEqual(message.message_id, "<id1@mail.mox.example>")
        self.assertTrue(
            message.data.endswith(
                b"Message-ID: <id1@mail.mox.example>\r\nDate: " + NOW_TEXT.encode() + b"\r\n" + data
            )
        )
        self.assertTrue(message.data.startswith(b"Received: "))

    def test_bare_lf(self) -> None:
        """A message with bare LF line endings is read and kept as sent."""
        data = b"From: mjl@mox.example\nSubject: lf\n\nbody\n"
        message = self.submit(data)
        self.assertEqual(message.subject, "lf")
        self.assertTrue(message.data.endswith(data))

    def test_8bit_and_smtputf8(self) -> None:
        """has8bit follows the bytes; smtputf8 the envelope; "for" keeps the Unicode form."""
        data = "From: mjl@mox.example\r\nSubject: é\r\n\r\nbody ☺\r\n".encode()
        message = self.submit(data, envelope("mjl@mox.example", "ü@müx.example", smtputf8=True))
        self.assertTrue(message.has8bit)
        self.assertTrue(message.smtputf8)
        self.assertEqual(message.subject, "é")
        self.assertEqual(message.recipients, ("ü@müx.example",))
        self.assertIn("for <ü@müx.example>".encode(), message.data)
        self.assertIn(b"with UTF8SMTPSA", message.data)

    def test_ascii_for_without_smtputf8(self) -> None:
        """Without SMTPUTF8 the Received "for" uses the IDNA ASCII domain."""
        message = self.submit(MESSAGE, envelope("mjl@mox.example", "a@müx.example"))
        self.assertIn(b"for <a@xn--mx-xka.example>;", message.data)
        self.assertFalse(message.has8bit)
        self.assertEqual(message.recipients, ("a@müx.example",))

    def test_extra(self) -> None:
        """X-Mox-Extra- fields become extra (spec §8) and stay in the message."""
        data = (
            "From: mjl@mox.example\r\nX-Mox-Extra-a: 123\r\n"
            "x-mox-extra-x-cANONICAL-z: ok\r\nX-Mox-Extra-☺: ☹\r\n\r\nbody\r\n"
        ).encode()
        message = self.submit(data)
        self.assertEqual(dict(message.extra), {"A": "123", "X-Canonical-Z": "ok", "☺": "☹"})
        self.assertTrue(message.data.endswith(data))

    def test_from_other_account_addresses(self) -> None:
        """A From address from the account's catchall and aliases is allowed."""
        data = b"From: <mjl+tag@mox.example>, alias@xn--mx-xka.example\r\n\r\n"
        self.assertEqual(self.submit(data).sender, "mjl@mox.example")


class RefusedMessageTests(SubmissionPolicyTestCase):
    def refused(self, data: bytes, env: Envelope | None = None) -> SMTPReply:
        reply = self.refusal(lambda: self.policy.accept_message(session(), env or envelope(), data))
        self.assertEqual(self.queue.submitted, [])
        return reply

    def test_from_header_not_allowed(self) -> None:
        """A From address of another account, or any one of several, is refused 550 5.7.1."""
        for value in (b"other@mox.example", b"mjl@mox.example, x@remote.example"):
            reply = self.refused(b"From: " + value + b"\r\n\r\nbody\r\n")
            self.assertEqual(
                reply,
                SMTPReply(
                    550, "5.7.1", "From header address not allowed for authenticated account"
                ),
            )

    def test_from_header_count(self) -> None:
        """No From or two From fields make a malformed message: 554 5.6.0 (RFC 5322 §3.6)."""
        for data in (
            b"Subject: x\r\n\r\nbody\r\n",
            b"From: mjl@mox.example\r\nFrom: mjl@mox.example\r\n\r\n",
        ):
            reply = self.refused(data)
            self.assertEqual(
                reply, SMTPReply(554, "5.6.0", "message must have exactly one From header")
            )

    def test_from_header_unparseable(self) -> None:
        """An unparseable or empty From is 554 5.6.0, without echoing internals."""
        for value in (b"mjl@", b"<<>>", b"\xff@mox.example", b"undisclosed:;"):
            reply = self.refused(b"From: " + value + b"\r\n\r\n")
            self.assertEqual((reply.code, reply.enhanced), (554, "5.6.0"), value)
            self.assertIn("From header", reply.text)

    def test_header_only_message(self) -> None:
        """A message that is all header (RFC 5322 §3.5: the body is optional) is queued."""
        message = self.submit(b"From: mjl@mox.example\r\nSubject: x\r\n")
        self.assertIn(b"Subject: x\r\n", message.data)

    def test_malformed_header_line(self) -> None:
        """Body text before any empty line is a malformed header: 554 5.6.0."""
        reply = self.refused(b"From: mjl@mox.example\r\nHello Bob\r\n\r\nmore\r\n")
        self.assertEqual(
            reply, SMTPReply(554, "5.6.0", "malformed header field on line 2: no colon")
        )

    def test_duplicate_extra(self) -> None:
        """A duplicate X-Mox-Extra- key is 554 5.6.0 with the key (spec §8)."""
        reply = self.refused(
            b"From: mjl@mox.example\r\nX-Mox-Extra-k: 1\r\nX-MOX-EXTRA-K: 2\r\n\r\n"
        )
        self.assertEqual(reply, SMTPReply(554, "5.6.0", 'duplicate x-mox-extra- key "K"'))

    def test_envelope_sender_rechecked(self) -> None:
        """accept_message refuses an envelope sender of another account or the null sender."""
        for env in (envelope("other@mox.example"), envelope(None)):
            self.assertEqual(self.refused(MESSAGE, env).code, 550)

    def test_no_recipients(self) -> None:
        """An envelope without recipients is refused 503 5.5.1, not a traceback."""
        env = Envelope(mail_from=parse_address("mjl@mox.example"), recipients=())
        self.assertEqual(self.refused(MESSAGE, env), SMTPReply(503, "5.5.1", "no valid recipients"))


class QueueFailureTests(SubmissionPolicyTestCase):
    def test_store_failure(self) -> None:
        """A queue failure is answered 451 4.3.0 without its text, and logged."""
        self.submit(MESSAGE)
        self.queue.submitted[0][1].errback(RuntimeError("disk on fire /var/db"))
        reply = self.failureResultOf(self.result, SMTPReply).value
        self.assertEqual(
            reply, SMTPReply(451, "4.3.0", "temporary failure storing the message, try again")
        )
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_synchronous_failure(self) -> None:
        """A submit function that raises is answered 451 4.3.0 as well."""

        def submit(message: NewMessage) -> Deferred[list[QueuedMessage]]:
            raise OSError("no space")

        policy = SubmissionPolicy(
            hostname="h", directory=directory(), submit=submit, clock=self.clock
        )
        d = policy.accept_message(session(), envelope(), MESSAGE)
        self.assertEqual(self.failureResultOf(d, SMTPReply).value.code, 451)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

    def test_queue_refusal_passed_on(self) -> None:
        """An SMTPReply refusal from the queue reaches the client as is."""
        refusal = SMTPReply(452, "4.3.1", "queue full")
        policy = SubmissionPolicy(
            hostname="h", directory=directory(), submit=lambda m: fail(refusal), clock=self.clock
        )
        d = policy.accept_message(session(), envelope(), MESSAGE)
        self.assertIs(self.failureResultOf(d, SMTPReply).value, refusal)

    def test_default_id(self) -> None:
        """Without make_id, Message-IDs are random and unique."""
        policy = SubmissionPolicy(
            hostname="h", directory=directory(), submit=self.queue.submit, clock=self.clock
        )
        for _ in range(2):
            policy.accept_message(session(), envelope(), b"From: mjl@mox.example\r\n\r\n")
        ids = {m.message_id for m, _ in self.queue.submitted}
        self.assertEqual(len(ids), 2)
        for message_id in ids:
            self.assertRegex(message_id, r"^<[A-Za-z0-9_-]{24}@h>$")


class RecordingSigner:
    """Prepends a DKIM-Signature naming the domain; ``quickly`` as DKIMSigner answers it."""

    def __init__(self, quickly: bool = True, broken: bool = False) -> None:
        self.quickly = quickly
        self.broken = broken
        self.signed: list[tuple[bytes, str]] = []

    def sign(self, message: bytes, domain: Domain) -> bytes:
        if self.broken:
            raise ValueError("key gone")
        self.signed.append((message, domain.ascii))
        return b"DKIM-Signature: v=1; d=" + domain.ascii.encode() + b"; b=x\r\n" + message

    def signs_quickly(self, domain: Domain) -> bool:
        return self.quickly


class SigningTests(SubmissionPolicyTestCase):
    """Submitted messages are DKIM-signed for the From domain (spec §10.2)."""

    def policy_with(self, signer: RecordingSigner) -> list[str]:
        threaded: list[str] = []

        def run_in_thread(f: Callable[..., bytes], *args: object) -> Deferred[bytes]:
            threaded.append(f.__name__)
            return maybeDeferred(f, *args)

        self.policy = self.make_policy(signer=signer, run_in_thread=run_in_thread)
        return threaded

    def test_signed_for_from_domain_after_received(self) -> None:
        """The signature covers the message with the added Message-ID and Date, is for the
        From address's domain, and comes after the Received field."""
        signer = RecordingSigner()
        threaded = self.policy_with(signer)
        bare = b"From: Mechiel <mjl@mox.example>\r\nTo: a@remote.example\r\n\r\nhi\r\n"
        message = self.submit(bare)
        [(signed, domain)] = signer.signed
        self.assertEqual(domain, "mox.example")
        self.assertTrue(signed.startswith(b"Message-ID: <id1@mail.mox.example>\r\nDate: "))
        self.assertTrue(signed.endswith(bare))
        lines = message.data.split(b"\r\n")
        self.assertTrue(lines[0].startswith(b"Received: "))
        self.assertIn(b"DKIM-Signature: v=1; d=mox.example; b=x\r\n" + signed, message.data)
        self.assertEqual(threaded, [])

    def test_each_from_domain_signs(self) -> None:
        """A From with the account's addresses in two domains is signed for each domain
        once, in From order, the second signature over the first."""
        signer = RecordingSigner()
        self.policy_with(signer)
        data = (
            b"From: mjl@mox.example, alias@xn--mx-xka.example, MJL+tag@mox.example\r\n"
            b"Message-ID: <m@x>\r\nDate: Fri, 27 Nov 2026 10:00:00 +0000\r\n\r\nhi\r\n"
        )
        message = self.submit(data)
        self.assertEqual([d for _, d in signer.signed], ["mox.example", "xn--mx-xka.example"])
        self.assertTrue(signer.signed[1][0].startswith(b"DKIM-Signature: v=1; d=mox.example"))
        self.assertIn(b"\r\nDKIM-Signature: v=1; d=xn--mx-xka.example; b=x\r\n", message.data)

    def test_slow_keys_sign_on_a_thread(self) -> None:
        """RSA keys (not signs_quickly) sign through run_in_thread."""
        threaded = self.policy_with(RecordingSigner(quickly=False))
        self.submit(MESSAGE)
        self.assertEqual(threaded, ["sign"])

    def test_signing_error_is_temporary_and_queues_nothing(self) -> None:
        """An unexpected signing error answers 451 4.3.0, logged, and nothing is queued."""
        self.policy_with(RecordingSigner(broken=True))
        d = self.policy.accept_message(session(), envelope(), MESSAGE)
        reply = self.failureResultOf(d, SMTPReply).value
        self.assertEqual((reply.code, reply.enhanced), (451, "4.3.0"))
        self.assertEqual(reply.text, "temporary failure signing the message, try again")
        self.assertEqual(self.queue.submitted, [])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
