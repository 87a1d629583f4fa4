"""Tests for mailtwist.smtpserver.inbound: which recipients are accepted and what is stored."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial

from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase
from zope.interface.verify import verifyObject

from mailtwist.address import parse_address
from mailtwist.smtp.reply import SMTPReply
from mailtwist.smtpserver._interfaces import Envelope, ISessionPolicy, Session
from mailtwist.smtpserver.inbound import InboundPolicy
from mailtwist.store.records import MailboxDelivery, StoredMessage
from tests.smtpserver.test_submission import NOW, NOW_TEXT, FakeDirectory, directory


class FakeStore:
    """Records deliveries; each answer is a Deferred the test fires."""

    def __init__(self) -> None:
        self.calls: list[tuple[list[MailboxDelivery], Deferred[list[StoredMessage]]]] = []

    def deliver(self, deliveries: Sequence[MailboxDelivery]) -> Deferred[list[StoredMessage]]:
        assert deliveries and all(isinstance(d, MailboxDelivery) and d.data for d in deliveries)
        d: Deferred[list[StoredMessage]] = Deferred()
        self.calls.append((list(deliveries), d))
        return d


def stored(delivery: MailboxDelivery) -> StoredMessage:
    assert delivery.data is not None
    return StoredMessage(
        id=1,
        account=delivery.account,
        mailbox=delivery.mailbox,
        received=datetime.fromtimestamp(NOW, UTC),
        size=len(delivery.data),
        flags=(),
        mail_from=delivery.mail_from,
        rcpt_to=delivery.rcpt_to,
        dsn=False,
        remote_ip=delivery.remote_ip,
        data_id=1,
    )


def session(**kwargs: object) -> Session:
    values: dict[str, object] = {
        "listener": "smtp",
        "remote_ip": "198.51.100.7",
        "helo": "mx.remote.example",
        "tls": True,
        "session_id": "S9",
    }
    values.update(kwargs)
    return Session(**values)  # type: ignore[arg-type]


def envelope(mail_from: str | None, *recipients: str) -> Envelope:
    return Envelope(
        mail_from=None if mail_from is None else parse_address(mail_from),
        recipients=tuple(parse_address(r) for r in recipients),
    )


MESSAGE = b"From: x@remote.example\r\nSubject: hi\r\n\r\nbody\r\n"


class InboundPolicyTestCase(SynchronousTestCase):
    catchall: str | None = None

    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(NOW)
        self.store = FakeStore()
        self.directory: FakeDirectory = directory()
        self.policy = InboundPolicy(
            hostname="mail.mox.example",
            directory=self.directory,
            deliver=self.store.deliver,
            clock=self.clock,
            catchall_account=self.catchall,
        )

    def refusal(self, call: Callable[[], object]) -> SMTPReply:
        """The SMTPReply a policy call refuses with, raised or as a failure."""
        try:
            result = call()
        except SMTPReply as e:
            return e
        assert isinstance(result, Deferred)
        return self.failureResultOf(result, SMTPReply).value  # type: ignore[return-value]

    def rcpt(self, address: str) -> None:
        self.policy.check_rcpt_to(session(), envelope(None), parse_address(address), {})

    def accept(self, env: Envelope, data: bytes = MESSAGE, **kwargs: object) -> Deferred[SMTPReply]:
        d = self.policy.accept_message(session(**kwargs), env, data)
        self.assertNoResult(d)
        return d


class InterfaceTests(InboundPolicyTestCase):
    def test_provides(self) -> None:
        """The policy provides ISessionPolicy and needs no AUTH."""
        self.assertTrue(verifyObject(ISessionPolicy, self.policy))
        self.assertFalse(self.policy.requires_auth)

    def test_any_sender(self) -> None:
        """Any MAIL FROM is accepted, the null path too (bounces)."""
        for mail_from in (None, parse_address("x@remote.example"), parse_address("a@mox.example")):
            self.policy.check_mail_from(session(), mail_from, {})


class RcptToTests(InboundPolicyTestCase):
    def test_local_account(self) -> None:
        """Addresses of accounts are accepted, case-insensitively and with catchall suffix."""
        for address in ("mjl@mox.example", "MJL+tag@mox.example", "alias@müx.example"):
            self.rcpt(address)

    def test_unknown_local(self) -> None:
        """An unknown address of a local domain is refused 550 5.1.1."""
        reply = self.refusal(partial(self.rcpt, "nobody@mox.example"))
        self.assertEqual(reply, SMTPReply(550, "5.1.1", "no such user"))

    def test_relaying(self) -> None:
        """A non-local domain is refused 550 5.7.1: no relaying (RFC 5321 §3.6.2)."""
        reply = self.refusal(partial(self.rcpt, "mjl@remote.example"))
        self.assertEqual(reply, SMTPReply(550, "5.7.1", "relaying not allowed"))


class CatchallTests(InboundPolicyTestCase):
    catchall = "catchall"

    def test_unknown_local_to_catchall(self) -> None:
        """With a catchall account unknown local addresses are accepted and stored there."""
        self.rcpt("nobody@mox.example")
        d = self.accept(envelope(None, "nobody@mox.example", "mjl@mox.example"))
        deliveries, _ = self.store.calls[0]
        self.assertEqual(
            [(x.account, x.rcpt_to) for x in deliveries],
            [("catchall", "nobody@mox.example"), ("mjl", "mjl@mox.example")],
        )
        self.store.calls[0][1].callback([stored(x) for x in deliveries])
        self.assertEqual(self.successResultOf(d).code, 250)

    def test_relaying_still_refused(self) -> None:
        """The catchall never makes a non-local domain acceptable."""
        reply = self.refusal(partial(self.rcpt, "x@remote.example"))
        self.assertEqual(reply.enhanced, "5.7.1")


class StoredHookTests(InboundPolicyTestCase):
    def setUp(self) -> None:
        super().setUp()
        self.heard: list[tuple[int, bytes]] = []

        def on_stored(message: StoredMessage, data: bytes) -> None:
            self.heard.append((message.id, data))
            if len(self.heard) > 1:
                raise RuntimeError("a listener failing after the commit")

        self.policy = InboundPolicy(
            hostname="mail.mox.example",
            directory=self.directory,
            deliver=self.store.deliver,
            clock=self.clock,
            on_stored=on_stored,
        )

    def test_told_after_durable_and_failure_contained(self) -> None:
        """on_stored hears each stored message with the bytes stored, only once durable;
        a failing listener does not change the 250 the client gets."""
        d = self.accept(envelope("x@remote.example", "mjl@mox.example", "other@mox.example"))
        deliveries, answer = self.store.calls[0]
        self.assertEqual(self.heard, [])
        answer.callback([stored(x) for x in deliveries])
        self.assertEqual(self.successResultOf(d), SMTPReply(250, "2.0.0", "message delivered"))
        self.assertEqual(self.heard, [(1, deliveries[0].data), (1, deliveries[1].data)])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class AcceptTests(InboundPolicyTestCase):
    def test_stored(self) -> None:
        """One recipient: stored in Inbox with envelope data and Received, 250 once durable."""
        d = self.accept(envelope("x@remote.example", "mjl@mox.example"))
        self.assertEqual(len(self.store.calls), 1)
        deliveries, answer = self.store.calls[0]
        self.assertEqual(
            deliveries,
            [
                MailboxDelivery(
                    account="mjl",
                    mailbox="Inbox",
                    mail_from="x@remote.example",
                    rcpt_to="mjl@mox.example",
                    data=b"Received: from mx.remote.example ([198.51.100.7])\r\n"
                    b"\tby mail.mox.example with ESMTPS id S9\r\n"
                    b"\tfor <mjl@mox.example>; " + NOW_TEXT.encode() + b"\r\n" + MESSAGE,
                    remote_ip="198.51.100.7",
                    notify=True,
                )
            ],
        )
        answer.callback([stored(deliveries[0])])
        self.assertEqual(self.successResultOf(d), SMTPReply(250, "2.0.0", "message delivered"))

    def test_one_copy_per_account(self) -> None:
        """Several addresses of one account give one copy; no "for" with several recipients."""
        self.accept(
            envelope(None, "mjl@mox.example", "mjl+tag@mox.example", "other@mox.example"),
            tls=False,
        )
        deliveries, _ = self.store.calls[0]
        self.assertEqual(
            [(x.account, x.rcpt_to, x.mail_from) for x in deliveries],
            [("mjl", "mjl@mox.example", ""), ("other", "other@mox.example", "")],
        )
        for delivery in deliveries:
            assert delivery.data is not None
            self.assertTrue(
                delivery.data.startswith(
                    b"Received: from mx.remote.example ([198.51.100.7])\r\n"
                    b"\tby mail.mox.example with ESMTP id S9; " + NOW_TEXT.encode() + b"\r\n"
                )
            )
            self.assertTrue(delivery.data.endswith(MESSAGE))

    def test_message_kept_as_sent(self) -> None:
        """Inbound data is not parsed: a message without header separator is stored as is."""
        data = b"garbage without header\n"
        self.accept(envelope(None, "mjl@mox.example"), data)
        delivery = self.store.calls[0][0][0]
        assert delivery.data is not None
        self.assertTrue(delivery.data.endswith(b"\r\n" + data))

    def test_ipv6(self) -> None:
        """An IPv6 client is written as an IPv6 address literal (RFC 5321 §4.1.3)."""
        self.accept(envelope(None, "mjl@mox.example"), remote_ip="2001:db8::1")
        delivery = self.store.calls[0][0][0]
        assert delivery.data is not None
        self.assertIn(b"([IPv6:2001:db8::1])", delivery.data)
        self.assertEqual(delivery.remote_ip, "2001:db8::1")

    def test_recipient_gone(self) -> None:
        """A recipient removed from the config after RCPT is refused at DATA, nothing stored."""
        env = envelope(None, "mjl@mox.example")
        del self.directory.addresses["mjl@mox.example"]
        reply = self.refusal(partial(self.policy.accept_message, session(), env, MESSAGE))
        self.assertEqual(reply, SMTPReply(550, "5.1.1", "no such user"))
        self.assertEqual(self.store.calls, [])

    def test_no_recipients(self) -> None:
        """An envelope without recipients is refused 503 5.5.1."""
        reply = self.refusal(
            partial(self.policy.accept_message, session(), envelope(None), MESSAGE)
        )
        self.assertEqual(reply, SMTPReply(503, "5.5.1", "no valid recipients"))

    def test_store_failure(self) -> None:
        """A store failure is answered 451 4.3.0 without its text, and logged."""
        d = self.accept(envelope(None, "mjl@mox.example"))
        self.store.calls[0][1].errback(RuntimeError("database is locked"))
        self.assertEqual(
            self.failureResultOf(d, SMTPReply).value,
            SMTPReply(451, "4.3.0", "temporary failure storing the message, try again"),
        )
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
