"""Tests for the ESMTP server protocol: commands, replies, limits and the twisted.mail defects."""

from __future__ import annotations

import base64
import time
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import Logger
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer

from mailtwist.auth.sasl import SASLChallenge, SASLFailure, SASLMalformed, SASLSuccess
from mailtwist.smtp.reply import SMTPReply
from mailtwist.smtpserver._interfaces import Envelope, ISessionPolicy, Session
from mailtwist.smtpserver.factory import ESMTPServerFactory
from mailtwist.smtpserver.protocol import CLOSE_GRACE, ESMTPServerProtocol, State

HOST = "mx.example.org"


@implementer(ISessionPolicy)
class FakePolicy:
    """Records every call; refuses "unknown@" recipients; can hold answers back."""

    def __init__(self, requires_auth: bool = False) -> None:
        self.requires_auth = requires_auth
        self.calls: list[tuple[str, Any]] = []
        self.messages: list[tuple[Session, Envelope, bytes]] = []
        self.manual = False
        self.held: list[Deferred[Any]] = []
        self.fail_with: Exception | None = None

    def _answer(self, value: Any) -> Any:
        if self.fail_with is not None:
            raise self.fail_with
        if self.manual:
            d: Deferred[Any] = Deferred()
            self.held.append(d)
            return d
        return succeed(value)

    def check_mail_from(self, session: Session, mail_from: Any, parameters: Any) -> Any:
        self.calls.append(("mail", (session, mail_from, dict(parameters))))
        return self._answer(None)

    def check_rcpt_to(
        self, session: Session, envelope: Envelope, recipient: Any, parameters: Any
    ) -> Any:
        self.calls.append(("rcpt", (session, envelope, recipient, dict(parameters))))
        if recipient.localpart == "unknown":
            raise SMTPReply(550, "5.1.1", "no such user")
        return self._answer(None)

    def accept_message(self, session: Session, envelope: Envelope, data: bytes) -> Any:
        self.calls.append(("message", None))
        self.messages.append((session, envelope, data))
        return self._answer(SMTPReply(250, "2.0.0", "queued"))


class FakeMechanism:
    """PLAIN-like: no initial response gets an empty challenge; password "secret" wins."""

    def step(self, response: bytes | None) -> Deferred[Any]:
        if response is None:
            return succeed(SASLChallenge(b""))
        if response == b"garbage":
            raise SASLMalformed("bad")
        parts = response.split(b"\0")
        if len(parts) != 3:
            return succeed(SASLChallenge(b"more"))
        if parts[2] == b"secret":
            return succeed(SASLSuccess(account="acct", login=parts[1].decode()))
        return succeed(SASLFailure("invalid credentials"))


class FakeAuthenticator:
    """Offers PLAIN only over TLS or when plaintext is allowed, like the real one."""

    def mechanisms(
        self, tls: bool, allow_plaintext: bool, channel_binding: bool = False
    ) -> list[str]:
        return ["PLAIN"] if tls or allow_plaintext else []

    def start(self, name: str, binding: object = None) -> FakeMechanism:
        if name != "PLAIN":
            raise KeyError(name)
        return FakeMechanism()


class FakeLimiter:
    """Records failures and successes; ``allow`` decides."""

    def __init__(self) -> None:
        self.allow = True
        self.events: list[tuple[str, str]] = []

    def allowed(self, ip: str) -> bool:
        return self.allow

    def failed(self, ip: str) -> None:
        self.events.append(("failed", ip))

    def succeeded(self, ip: str) -> None:
        self.events.append(("succeeded", ip))


class FakeMetrics:
    def __init__(self) -> None:
        self.events: list[tuple[str, ...]] = []

    def smtp_connection(self, listener: str) -> None:
        self.events.append(("connection", listener))

    def smtp_command(self, listener: str, verb: str) -> None:
        self.events.append(("command", listener, verb))


class TLSStringTransport(StringTransport):
    """A StringTransport that records startTLS."""

    tls_context: object = None

    def startTLS(self, context: object) -> None:
        self.tls_context = context


PLAIN_OK = base64.b64encode(b"\0user\0secret").decode()
PLAIN_BAD = base64.b64encode(b"\0user\0wrong").decode()


class ProtocolTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.policy = FakePolicy()
        self.limiter = FakeLimiter()
        self.metrics = FakeMetrics()

    def make_factory(self, **kwargs: Any) -> ESMTPServerFactory:
        settings: dict[str, Any] = {
            "hostname": HOST,
            "listener": "test",
            "kind": "smtp",
            "policy": self.policy,
            "authenticator": None,
            "limiter": None,
            "clock": self.clock,
            "metrics": self.metrics,
        }
        settings.update(kwargs)
        self.factory = ESMTPServerFactory(**settings)
        return self.factory

    def connect(self, factory: ESMTPServerFactory | None = None, **kwargs: Any) -> None:
        factory = factory or self.make_factory(**kwargs)
        protocol = factory.buildProtocol(IPv4Address("TCP", "192.0.2.1", 25))
        assert isinstance(protocol, ESMTPServerProtocol)
        self.protocol = protocol
        self.transport = TLSStringTransport(peerAddress=IPv4Address("TCP", "192.0.2.9", 4000))
        protocol.makeConnection(self.transport)

    def send(self, data: bytes | str) -> None:
        if isinstance(data, str):
            data = data.encode()
        self.protocol.dataReceived(data)

    def replies(self) -> list[str]:
        """The reply lines written since the last call."""
        value = self.transport.value().decode()
        self.transport.clear()
        self.assertTrue(value == "" or value.endswith("\r\n"), value)
        return value.split("\r\n")[:-1]

    def ehlo(self) -> None:
        self.replies()
        self.send("EHLO client.example\r\n")
        self.assertTrue(self.replies()[-1].startswith("250 "))

    def transaction(self, *recipients: str) -> None:
        self.send("MAIL FROM:<a@example.com>\r\n")
        for recipient in recipients or ("b@example.net",):
            self.send(f"RCPT TO:<{recipient}>\r\n")
        self.assertEqual(
            self.replies(),
            ["250 2.1.0 sender ok"] + ["250 2.1.5 recipient ok"] * len(recipients or "x"),
        )


class GreetingAndEhloTests(ProtocolTestCase):
    def test_greeting(self) -> None:
        """The greeting names the host and has no enhanced code (RFC 2034 §3)."""
        self.connect()
        self.assertEqual(self.replies(), [f"220 {HOST} ESMTP mailtwist"])

    def test_ehlo_keywords(self) -> None:
        """EHLO lists the extensions of an inbound listener, without AUTH or STARTTLS."""
        self.connect(max_message_size=1000)
        self.replies()
        self.send("EHLO client.example\r\n")
        self.assertEqual(
            self.replies(),
            [
                f"250-{HOST}",
                "250-PIPELINING",
                "250-SIZE 1000",
                "250-8BITMIME",
                "250-SMTPUTF8",
                "250-ENHANCEDSTATUSCODES",
                "250 CHUNKING",
            ],
        )

    def test_ehlo_starttls_auth_and_extra(self) -> None:
        """STARTTLS shows with a context factory; AUTH when allowed; extras may be callables."""
        self.connect(
            kind="submission",
            tls_context_factory=object(),
            authenticator=FakeAuthenticator(),
            allow_plaintext_auth=True,
            extra_ehlo_keywords=["FOO", lambda: "FUTURERELEASE 5184000 x"],
        )
        self.replies()
        self.send("EHLO c\r\n")
        lines = self.replies()
        self.assertIn("250-STARTTLS", lines)
        self.assertIn("250-AUTH PLAIN", lines)
        self.assertEqual(lines[-2:], ["250-FOO", "250 FUTURERELEASE 5184000 x"])

    def test_submission_without_tls_hides_auth(self) -> None:
        """Without TLS and without allow_plaintext_auth, AUTH is not advertised."""
        self.connect(kind="submission", authenticator=FakeAuthenticator())
        self.replies()
        self.send("EHLO c\r\n")
        self.assertFalse([line for line in self.replies() if "AUTH" in line])

    def test_submissions_is_tls(self) -> None:
        """On a "submissions" listener the session is TLS from the start."""
        self.connect(kind="submissions", authenticator=FakeAuthenticator())
        self.ehlo()
        self.send(f"AUTH PLAIN {PLAIN_OK}\r\n")
        self.assertEqual(self.replies(), ["235 2.7.0 authentication successful"])

    def test_helo(self) -> None:
        """HELO answers with the host name and enables MAIL."""
        self.connect()
        self.replies()
        self.send("HELO client\r\nMAIL FROM:<>\r\n")
        self.assertEqual(self.replies(), [f"250 {HOST}", "250 2.1.0 sender ok"])

    def test_ehlo_first_word(self) -> None:
        """Only EHLO's first argument is kept as the session's HELO name."""
        self.connect()
        self.replies()
        self.send("EHLO client.example extra words\r\nMAIL FROM:<>\r\n")
        self.assertEqual(self.policy.calls[0][1][0].helo, "client.example")

    def test_ehlo_needs_domain(self) -> None:
        """EHLO and HELO without an argument get 501 5.5.4."""
        self.connect()
        self.replies()
        self.send("EHLO\r\nHELO \r\n")
        self.assertEqual(
            self.replies(),
            [
                "501 5.5.4 EHLO requires a domain or address literal",
                "501 5.5.4 HELO requires a domain or address literal",
            ],
        )

    def test_regression_ehlo_name(self) -> None:
        """The EHLO name reaches the session in ASCII: an IDN as its A-label, a literal
        canonical, another printable name as sent; controls and 8-bit text that is no
        IDN get 501 5.5.4. A review got "\\xc3\\xbcnicode" into a Received field."""
        for name, helo in (
            ("\u00fcnicode.example", "xn--nicode-2ya.example"),
            ("Client.Example", "client.example"),
            ("[192.0.2.1]", "[192.0.2.1]"),
            ("my_host", "my_host"),
        ):
            self.setUp()
            self.connect()
            self.send(f"EHLO {name}\r\nMAIL FROM:<>\r\n")
            self.assertEqual(self.policy.calls[0][1][0].helo, helo, name)
        self.connect()
        self.replies()
        self.send("EHLO a\x00b\r\nHELO \u00ff\u00fe\u0001\r\n")
        self.assertEqual([line[:9] for line in self.replies()], ["501 5.5.4", "501 5.5.4"])

    def test_metrics(self) -> None:
        """The factory's metrics see the connection and each verb, unknown ones as "other"."""
        self.connect()
        self.send("EHLO c\r\nXYZZY\r\nnoop\r\n")
        self.assertEqual(
            self.metrics.events,
            [
                ("connection", "test"),
                ("command", "test", "EHLO"),
                ("command", "test", "other"),
                ("command", "test", "NOOP"),
            ],
        )


class SimpleCommandTests(ProtocolTestCase):
    def test_simple_commands(self) -> None:
        """NOOP, RSET, VRFY, HELP, EXPN and unknown verbs get their RFC replies."""
        self.connect()
        self.ehlo()
        self.send("NOOP\r\nRSET\r\nVRFY x\r\nHELP\r\nEXPN list\r\nFOO\r\n")
        self.assertEqual(
            [line[:9] for line in self.replies()],
            ["250 2.0.0", "250 2.0.0", "252 2.5.0", "214 2.0.0", "502 5.5.1", "500 5.5.1"],
        )

    def test_argument_syntax(self) -> None:
        """VRFY without an argument gets 501 5.5.2 (RFC 5321 §4.1.1.6), RSET with one
        501 5.5.4 (§4.1.1.5)."""
        self.connect()
        self.ehlo()
        self.send("VRFY\r\nVRFY \r\nRSET now\r\n")
        self.assertEqual(
            self.replies(),
            [
                "501 5.5.2 VRFY needs an argument",
                "501 5.5.2 VRFY needs an argument",
                "501 5.5.4 RSET takes no parameters",
            ],
        )

    def test_quit(self) -> None:
        """QUIT answers 221 and closes; later pipelined commands are ignored."""
        self.connect()
        self.ehlo()
        self.send("QUIT\r\nNOOP\r\n")
        self.assertEqual(self.replies(), ["221 2.0.0 bye"])
        self.assertTrue(self.transport.disconnecting)

    def test_bare_cr(self) -> None:
        """A bare CR inside a command line gets 500 5.5.2 (RFC 5321 §2.3.8)."""
        self.connect()
        self.ehlo()
        self.send("NOOP\rMAIL FROM:<>\r\n")
        self.assertEqual(self.replies(), ["500 5.5.2 bare CR in command line"])

    def test_bare_lf_command(self) -> None:
        """A command ended by a bare LF is still understood."""
        self.connect()
        self.ehlo()
        self.send("NOOP\n")
        self.assertEqual(self.replies(), ["250 2.0.0 ok"])

    def test_invalid_utf8(self) -> None:
        """Arguments that are not UTF-8 get 501 5.5.2, not a traceback."""
        self.connect()
        self.ehlo()
        self.send(b"MAIL FROM:<\xff@x.org>\r\n")
        self.assertEqual(self.replies(), ["501 5.5.2 invalid UTF-8 in command"])

    def test_too_many_errors(self) -> None:
        """After max_errors protocol errors the session closes with 421."""
        self.connect(max_errors=3)
        self.ehlo()
        self.send("FOO\r\nFOO\r\nFOO\r\nNOOP\r\n")
        self.assertEqual(
            self.replies()[-2:],
            ["500 5.5.1 unknown command", "421 4.0.0 too many errors, closing connection"],
        )
        self.assertTrue(self.transport.disconnecting)


class TransactionTests(ProtocolTestCase):
    def test_data_transaction(self) -> None:
        """A DATA transaction hands the exact, dot-unstuffed CRLF bytes to the policy."""
        self.connect()
        self.ehlo()
        self.transaction("b@example.net", "c@example.net")
        self.send("DATA\r\n")
        self.assertEqual(self.replies(), ["354 end data with <CR><LF>.<CR><LF>"])
        self.send("Subject: hi\r\n\r\n..leading dot\nbare lf\r\n.\r\n")
        self.assertEqual(self.replies(), ["250 2.0.0 queued"])
        [(session, envelope, data)] = self.policy.messages
        self.assertEqual(data, b"Subject: hi\r\n\r\n.leading dot\r\nbare lf\r\n")
        self.assertEqual(str(envelope.mail_from), "a@example.com")
        self.assertEqual([str(r) for r in envelope.recipients], ["b@example.net", "c@example.net"])
        self.assertEqual(session.remote_ip, "192.0.2.9")
        self.assertEqual(session.helo, "client.example")
        self.assertEqual(session.listener, "test")
        self.assertFalse(session.tls)
        self.assertEqual(self.protocol.state, State.READY)

    def test_second_transaction(self) -> None:
        """After a message the next MAIL starts a fresh transaction."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("DATA\r\nx\r\n.\r\n")
        self.replies()
        self.transaction("d@example.net")
        self.send("DATA\r\ny\r\n.\r\n")
        self.replies()
        self.assertEqual([str(r) for r in self.policy.messages[1][1].recipients], ["d@example.net"])

    def test_sequence_errors(self) -> None:
        """Commands out of order get 503 5.5.1, DATA without valid recipients 554 5.5.1."""
        self.connect()
        self.replies()
        self.send("MAIL FROM:<>\r\n")
        self.assertEqual(self.replies(), ["503 5.5.1 send EHLO first"])
        self.ehlo()
        self.send("RCPT TO:<b@x.org>\r\nDATA\r\nMAIL FROM:<>\r\nMAIL FROM:<>\r\nDATA\r\n")
        self.assertEqual(
            self.replies(),
            [
                "503 5.5.1 send MAIL FROM first",
                "503 5.5.1 send MAIL FROM and RCPT TO first",
                "250 2.1.0 sender ok",
                "503 5.5.1 nested MAIL command",
                "554 5.5.1 no valid recipients",
            ],
        )

    def test_rset(self) -> None:
        """RSET forgets the transaction (RFC 5321 §4.1.1.5)."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("RSET\r\nDATA\r\n")
        self.assertEqual(
            self.replies(), ["250 2.0.0 reset", "503 5.5.1 send MAIL FROM and RCPT TO first"]
        )

    def test_mail_syntax(self) -> None:
        """Bad paths get 501 5.5.2, bad parameters 501 5.5.4, unknown ones 555 5.3.3."""
        self.connect()
        self.ehlo()
        self.send(
            "MAIL FROM:a@x.org\r\n"
            "MAIL FROM:<a@x.org> SIZE=x\r\n"
            "MAIL FROM:<a@x.org> BODY=BINARYMIME\r\n"
            "MAIL FROM:<a@x.org> HOLDFOR=10\r\n"
            "MAIL FROM:<a@@x.org>\r\n"
            "MAIL FROM:<a@x.org> X=1 X=2\r\n"
        )
        self.assertEqual(
            [line[:9] for line in self.replies()],
            ["501 5.5.2", "501 5.5.4", "501 5.5.4", "555 5.3.3", "501 5.1.7", "501 5.5.4"],
        )

    def test_rcpt_syntax(self) -> None:
        """Bad recipient paths get 501 5.1.3; RCPT parameters are refused with 555."""
        self.connect()
        self.ehlo()
        self.send("MAIL FROM:<>\r\nRCPT TO:<>\r\nRCPT TO:<x>\r\nRCPT TO:<b@x.org> NOTIFY=NEVER\r\n")
        self.assertEqual(
            [line[:9] for line in self.replies()],
            ["250 2.1.0", "501 5.1.3", "501 5.1.3", "555 5.3.3"],
        )

    def test_rcpt_parameters_reach_policy(self) -> None:
        """RCPT parameters listed in extra_rcpt_parameters reach the policy."""
        self.connect(extra_rcpt_parameters=["NOTIFY"])
        self.ehlo()
        self.send("MAIL FROM:<>\r\nRCPT TO:<b@x.org> notify=NEVER\r\n")
        self.assertEqual(self.replies()[-1], "250 2.1.5 recipient ok")
        self.assertEqual(self.policy.calls[-1][1][3], {"NOTIFY": "NEVER"})

    def test_postmaster(self) -> None:
        """RCPT TO:<Postmaster> without a domain means our postmaster (RFC 5321 §4.1.1.3)."""
        self.connect()
        self.ehlo()
        self.send("MAIL FROM:<>\r\nRCPT TO:<Postmaster>\r\n")
        self.assertEqual(self.replies()[-1], "250 2.1.5 recipient ok")
        self.assertEqual(str(self.policy.calls[-1][1][2]), f"postmaster@{HOST}")

    def test_parameters_reach_policy(self) -> None:
        """Parameters listed in extra_mail_parameters reach the policy, upper-cased."""
        self.connect(extra_mail_parameters=["HOLDFOR"])
        self.ehlo()
        self.send("MAIL FROM:<a@x.org> holdfor=10 BODY=8bitmime AUTH=<>\r\n")
        self.assertEqual(self.replies(), ["250 2.1.0 sender ok"])
        self.assertEqual(
            self.policy.calls[-1][1][2], {"HOLDFOR": "10", "BODY": "8bitmime", "AUTH": "<>"}
        )
        self.send("RCPT TO:<b@x.org>\r\nDATA\r\nx\r\n.\r\n")
        envelope = self.policy.messages[0][1]
        self.assertTrue(envelope.body_8bit)
        self.assertEqual(envelope.mail_parameters["HOLDFOR"], "10")

    def test_policy_refusal_is_sent(self) -> None:
        """A policy's SMTPReply refusal is sent as is, and the transaction goes on."""
        self.connect()
        self.ehlo()
        self.send("MAIL FROM:<>\r\nRCPT TO:<unknown@x.org>\r\nRCPT TO:<b@x.org>\r\n")
        self.assertEqual(
            self.replies(),
            ["250 2.1.0 sender ok", "550 5.1.1 no such user", "250 2.1.5 recipient ok"],
        )

    def test_policy_exception(self) -> None:
        """An unexpected policy exception gives 451 4.3.0 and is logged, not shown."""
        self.connect()
        self.ehlo()
        self.policy.fail_with = RuntimeError("database on fire")
        self.send("MAIL FROM:<>\r\n")
        self.assertEqual(self.replies(), ["451 4.3.0 internal error, try again later"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_policy_async_failure(self) -> None:
        """A failed Deferred from the policy gives 451 4.3.0 too."""
        self.connect()
        self.ehlo()
        self.policy.manual = True
        self.send("MAIL FROM:<>\r\n")
        self.policy.held[0].errback(RuntimeError("late"))
        self.assertEqual(self.replies(), ["451 4.3.0 internal error, try again later"])
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_max_recipients(self) -> None:
        """More recipients than allowed get 452 4.5.3 (RFC 5321 §4.5.3.1.8)."""
        self.connect(max_recipients=1)
        self.ehlo()
        self.transaction()
        self.send("RCPT TO:<c@x.org>\r\n")
        self.assertEqual(self.replies(), ["452 4.5.3 too many recipients"])

    def test_disconnect_mid_data(self) -> None:
        """A client gone mid-DATA leaves nothing: the policy never gets the message."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("DATA\r\npart of a message\r\n")
        self.protocol.connectionLost()
        self.assertEqual(self.policy.messages, [])
        self.assertEqual(self.factory.active_connections, 0)

    def test_unstuffing_first_line(self) -> None:
        """A dot-stuffed first line and a lone ".." line are unstuffed (RFC 5321 §4.5.2)."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("DATA\r\n..\r\n...x\r\n.\r\n")
        self.assertEqual(self.policy.messages[0][2], b".\r\n..x\r\n")

    def test_empty_message(self) -> None:
        """A message of no lines is handed over as empty bytes."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("DATA\r\n.\r\n")
        self.assertEqual(self.policy.messages[0][2], b"")

    def test_bare_lf_dot_does_not_end_data(self) -> None:
        """Only CRLF "." CRLF ends DATA: "\\n.\\n" stays content (no SMTP smuggling)."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("DATA\r\nx\n.\nMAIL FROM:<spoof@x.org>\r\n.\r\n")
        self.assertEqual(self.replies()[-1], "250 2.0.0 queued")
        self.assertEqual(self.policy.messages[0][2], b"x\r\n\r\nMAIL FROM:<spoof@x.org>\r\n")
        self.assertEqual(len([c for c in self.policy.calls if c[0] == "mail"]), 1)

    def test_bare_cr_in_data_becomes_a_line_end(self) -> None:
        """A bare CR inside a DATA line reaches the policy as CRLF (RFC 5321 §2.3.8):
        the message has one kind of line end, so none means more further on."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("DATA\r\nhi\r.\r\nok\r\n.\r\n")
        self.assertEqual(self.replies()[-1], "250 2.0.0 queued")
        self.assertEqual(self.policy.messages[0][2], b"hi\r\n.\r\nok\r\n")


class SizeAndUTF8Tests(ProtocolTestCase):
    def test_size_parameter_too_big(self) -> None:
        """SIZE= above the maximum is refused at MAIL with 552 5.3.4 (RFC 1870 §6)."""
        self.connect(max_message_size=100)
        self.ehlo()
        self.send("MAIL FROM:<> SIZE=101\r\nMAIL FROM:<> SIZE=100\r\n")
        self.assertEqual(self.replies(), ["552 5.3.4 message too large", "250 2.1.0 sender ok"])

    def test_data_too_big(self) -> None:
        """Data over the maximum gets 552 5.3.4 after it ends and is not accepted."""
        self.connect(max_message_size=100)
        self.ehlo()
        self.transaction()
        self.send("DATA\r\n" + ("x" * 50 + "\r\n") * 3 + ".\r\n")
        self.assertEqual(
            self.replies(), ["354 end data with <CR><LF>.<CR><LF>", "552 5.3.4 message too large"]
        )
        self.assertEqual(self.policy.messages, [])
        self.send("NOOP\r\n")
        self.assertEqual(self.replies(), ["250 2.0.0 ok"])

    def test_excess_not_buffered(self) -> None:
        """Once over the maximum, the content is not kept in memory."""
        self.connect(max_message_size=100)
        self.ehlo()
        self.transaction()
        self.send("DATA\r\n" + ("x" * 50 + "\r\n") * 10)
        message = self.protocol._message
        assert message is not None
        self.assertEqual(message.parts, [])

    def test_utf8_needs_smtputf8(self) -> None:
        """A UTF-8 path without SMTPUTF8 is refused with 553 5.6.7 (RFC 6531 §3.7.4.1)."""
        self.connect()
        self.ehlo()
        self.send("MAIL FROM:<ü@x.org>\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<ü@x.org>\r\n")
        self.assertEqual(
            [line[:9] for line in self.replies()], ["553 5.6.7", "250 2.1.0", "553 5.6.7"]
        )

    def test_smtputf8(self) -> None:
        """With SMTPUTF8 on MAIL, UTF-8 paths are accepted and the envelope says so."""
        self.connect()
        self.ehlo()
        self.send("MAIL FROM:<ü@x.org> SMTPUTF8\r\nRCPT TO:<é@bü.org>\r\nDATA\r\nx\r\n.\r\n")
        self.assertEqual(self.replies()[-1], "250 2.0.0 queued")
        envelope = self.policy.messages[0][1]
        self.assertTrue(envelope.smtputf8)
        self.assertEqual(str(envelope.recipients[0]), "é@bü.org")

    def test_smtputf8_takes_no_value(self) -> None:
        """SMTPUTF8=x is a parameter error."""
        self.connect()
        self.ehlo()
        self.send("MAIL FROM:<> SMTPUTF8=yes\r\n")
        self.assertEqual(self.replies(), ["501 5.5.4 SMTPUTF8 takes no value"])


class LineLengthTests(ProtocolTestCase):
    def test_command_line_too_long(self) -> None:
        """A command line over 512 octets gets 500 5.5.2 and is discarded whole."""
        self.connect()
        self.ehlo()
        self.send("NOOP " + "x" * 600)
        self.send("y" * 600 + " MAIL FROM:<>\r\nNOOP\r\n")
        self.assertEqual(self.replies(), ["500 5.5.2 line too long", "250 2.0.0 ok"])
        self.assertEqual(self.policy.calls, [])

    def test_command_line_at_limit(self) -> None:
        """A command line of exactly 512 octets with CRLF is accepted."""
        self.connect()
        self.ehlo()
        self.send("NOOP " + "x" * (512 - 7) + "\r\n")
        self.assertEqual(self.replies(), ["250 2.0.0 ok"])
        self.send("NOOP " + "x" * (513 - 7) + "\r\n")
        self.assertEqual(self.replies(), ["500 5.5.2 line too long"])

    def test_data_line_too_long(self) -> None:
        """A text line over 1000 octets fails the message with 554 5.6.0 after it ends."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("DATA\r\n" + "x" * 999 + "\r\nok\r\n.\r\n")
        self.assertEqual(self.replies()[-1], "554 5.6.0 line too long")
        self.assertEqual(self.policy.messages, [])

    def test_data_line_at_limit(self) -> None:
        """A text line of exactly 1000 octets with CRLF is fine."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("DATA\r\n" + "x" * 998 + "\r\n.\r\n")
        self.assertEqual(self.replies()[-1], "250 2.0.0 queued")

    def test_regression_16k_line_in_data(self) -> None:
        """twisted.mail defect 2: after a >16 KiB DATA line, the body never runs as commands."""
        self.connect()
        self.ehlo()
        self.transaction()
        body = (
            "DATA\r\n"
            + "x" * 20000
            + "\r\nMAIL FROM:<spoof@x.org>\r\nRCPT TO:<victim@x.org>\r\nDATA\r\nspoofed\r\n"
        )
        # In pieces, as a network would deliver it.
        for start in range(0, len(body), 4096):
            self.send(body[start : start + 4096])
        self.assertEqual(self.replies(), ["354 end data with <CR><LF>.<CR><LF>"])
        self.send(".\r\n")
        self.assertEqual(self.replies(), ["554 5.6.0 line too long"])
        mails = [call for call in self.policy.calls if call[0] == "mail"]
        self.assertEqual([str(call[1][1]) for call in mails], ["a@example.com"])
        self.assertEqual(self.policy.messages, [])


class PipeliningTests(ProtocolTestCase):
    def test_regression_replies_in_order_with_async_checks(self) -> None:
        """twisted.mail defect 3: pipelined replies come in order while checks are pending."""
        self.connect()
        self.ehlo()
        self.policy.manual = True
        self.send("MAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nRCPT TO:<c@x.org>\r\nDATA\r\n")
        self.assertEqual(self.replies(), [])
        self.assertEqual([c[0] for c in self.policy.calls], ["mail"])
        self.policy.held[0].callback(None)
        self.assertEqual(self.replies(), ["250 2.1.0 sender ok"])
        self.assertEqual(len(self.policy.held), 2)
        self.policy.held[1].callback(None)
        self.assertEqual(self.replies(), ["250 2.1.5 recipient ok"])
        # The envelope given for the second RCPT holds the first recipient.
        self.assertEqual([str(r) for r in self.policy.calls[-1][1][1].recipients], ["b@x.org"])
        self.policy.held[2].callback(None)
        self.assertEqual(
            self.replies(), ["250 2.1.5 recipient ok", "354 end data with <CR><LF>.<CR><LF>"]
        )

    def test_no_read_ahead_into_data(self) -> None:
        """Lines after DATA are content even when they arrive before RCPT is answered."""
        self.connect()
        self.ehlo()
        self.policy.manual = True
        self.send("MAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\nQUIT\r\n.\r\nNOOP\r\n")
        self.policy.held[0].callback(None)
        self.policy.held[1].callback(None)
        self.assertEqual(len(self.policy.messages), 1)
        self.assertEqual(self.policy.messages[0][2], b"QUIT\r\n")
        self.assertEqual(self.replies()[-1], "354 end data with <CR><LF>.<CR><LF>")
        self.policy.held[2].callback(SMTPReply(250, "2.0.0", "queued"))
        self.assertEqual(self.replies(), ["250 2.0.0 queued", "250 2.0.0 ok"])

    def test_transport_paused_when_buffer_large(self) -> None:
        """While a command waits, a large backlog pauses the transport, then resumes it."""
        self.connect()
        self.ehlo()
        self.policy.manual = True
        self.send("MAIL FROM:<a@x.org>\r\n")
        self.send("NOOP\r\n" * 10 + "x" * (1 << 20))
        self.assertEqual(self.transport.producerState, "paused")
        self.policy.held[0].callback(None)
        self.assertEqual(self.transport.producerState, "producing")
        self.assertEqual(self.replies(), ["250 2.1.0 sender ok"] + ["250 2.0.0 ok"] * 10)


class BDATTests(ProtocolTestCase):
    def test_chunks(self) -> None:
        """BDAT chunks are joined as is; LAST hands the message over (RFC 3030 §2)."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("BDAT 5\r\nab\r\n.BDAT 3 LAST\r\nxyz")
        self.assertEqual(self.replies(), ["250 2.0.0 5 octets received", "250 2.0.0 queued"])
        self.assertEqual(self.policy.messages[0][2], b"ab\r\n.xyz")
        self.assertEqual(self.protocol.state, State.READY)

    def test_chunk_in_pieces(self) -> None:
        """A chunk's octets may arrive over several packets; commands then resume."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("BDAT 10 LAST\r\nMAIL ")
        self.send("FROM:NOOP\r\n")
        self.assertEqual(self.replies(), ["250 2.0.0 queued", "250 2.0.0 ok"])
        self.assertEqual(self.policy.messages[0][2], b"MAIL FROM:")

    def test_bdat_zero_last(self) -> None:
        """BDAT 0 LAST ends a message made of earlier chunks."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("BDAT 3\r\nabcBDAT 0 LAST\r\n")
        self.assertEqual(self.replies()[-1], "250 2.0.0 queued")
        self.assertEqual(self.policy.messages[0][2], b"abc")

    def test_no_bdat_then_data(self) -> None:
        """DATA after BDAT in one transaction gets 503 5.5.1."""
        self.connect()
        self.ehlo()
        self.transaction()
        self.send("BDAT 1\r\naDATA\r\n")
        self.assertEqual(self.replies()[-1], "503 5.5.1 cannot mix DATA and BDAT")

    def test_bdat_without_transaction(self) -> None:
        """BDAT without MAIL/RCPT consumes its octets, then gets 503; they never run."""
        self.connect()
        self.ehlo()
        self.send("BDAT 14\r\nMAIL FROM:<>\r\nNOOP\r\n")
        self.assertEqual(
            self.replies(), ["503 5.5.1 send MAIL FROM and RCPT TO first", "250 2.0.0 ok"]
        )
        self.assertEqual(self.policy.calls, [])

    def test_bdat_too_big(self) -> None:
        """Chunks over the maximum get 552 5.3.4; the transaction is over."""
        self.connect(max_message_size=10)
        self.ehlo()
        self.transaction()
        self.send("BDAT 11\r\n" + "x" * 11 + "BDAT 1 LAST\r\ny")
        self.assertEqual(
            self.replies(),
            ["552 5.3.4 message too large", "503 5.5.1 send MAIL FROM and RCPT TO first"],
        )
        self.assertEqual(self.policy.messages, [])

    def test_bdat_last_too_big(self) -> None:
        """A LAST chunk over the maximum gets 552 5.3.4 and nothing is accepted."""
        self.connect(max_message_size=10)
        self.ehlo()
        self.transaction()
        self.send("BDAT 11 LAST\r\n" + "x" * 11)
        self.assertEqual(self.replies(), ["552 5.3.4 message too large"])
        self.assertEqual(self.policy.messages, [])

    def test_bdat_unreadable_size_closes(self) -> None:
        """A BDAT whose size cannot be read ends the session with 421 4.5.4: where its
        octets end is unknown, so nothing after it may run as a command."""
        for line in ("BDAT x", "BDAT", "BDAT -1", "BDAT " + "9" * 19, "BDAT \u0661"):
            self.setUp()
            self.connect()
            self.ehlo()
            self.transaction()
            self.send(line + "\r\nRSET\r\nMAIL FROM:<spoof@x.org>\r\n")
            self.assertEqual(
                self.replies(), ["421 4.5.4 BDAT chunk size unreadable, closing connection"]
            )
            self.assertTrue(self.transport.disconnecting, line)
            self.assertEqual([c[0] for c in self.policy.calls], ["mail", "rcpt"], line)

    def test_regression_bdat_bad_arguments_smuggling(self) -> None:
        """A BDAT with a readable size but bad arguments still consumes its octets, then
        gets 501 5.5.4 and ends the message: a review found the chunk run as commands
        (RSET, MAIL, RCPT, DATA: a spoofed message delivered)."""
        payload = (
            b"RSET\r\nMAIL FROM:<spoof@evil.example>\r\nRCPT TO:<victim@x.org>\r\n"
            b"DATA\r\nSubject: smuggled\r\n\r\nhi\r\n.\r\n"
        )
        for arguments in (b"%d  LAST", b"%d LASTX", b"%d ", b"%d LAST x"):
            self.setUp()
            self.connect()
            self.ehlo()
            self.transaction()
            self.send(b"BDAT " + arguments % len(payload) + b"\r\n" + payload + b"NOOP\r\n")
            self.assertEqual(
                self.replies(), ["501 5.5.4 expected BDAT chunk-size [LAST]", "250 2.0.0 ok"]
            )
            self.assertEqual(self.policy.messages, [])
            self.assertEqual([c[0] for c in self.policy.calls], ["mail", "rcpt"])
            self.assertEqual(self.protocol.state, State.READY)

    def test_regression_bdat_bare_line_ends(self) -> None:
        """Bare LF and bare CR in BDAT content become CRLF, as in DATA: a review had them
        stored, signed and queued byte for byte (SMTP smuggling material)."""
        self.connect()
        self.ehlo()
        self.transaction()
        content = b"Subject: x\n\nline1\n.\nline3\rMAIL FROM:<x@y>\r\nend\r"
        self.send(b"BDAT %d\r\n" % 20 + content[:20])
        self.send(b"BDAT %d LAST\r\n" % (len(content) - 20) + content[20:])
        self.assertEqual(self.replies()[-1], "250 2.0.0 queued")
        self.assertEqual(
            self.policy.messages[0][2],
            b"Subject: x\r\n\r\nline1\r\n.\r\nline3\r\nMAIL FROM:<x@y>\r\nend\r\n",
        )

    def test_regression_bdat_line_limit(self) -> None:
        """A BDAT message with a line over 998 octets gets 554 5.6.0 like DATA (RFC 5322
        §2.1.1); 998 octets is still accepted."""
        self.connect()
        self.ehlo()
        for length, reply in ((998, "250 2.0.0 queued"), (999, "554 5.6.0 line too long")):
            self.transaction()
            content = b"x" * length + b"\r\n"
            self.send(b"BDAT %d LAST\r\n" % len(content) + content)
            self.assertEqual(self.replies(), [reply])
        self.assertEqual(len(self.policy.messages), 1)

    def test_regression_bdat_line_limit_in_linear_time(self) -> None:
        """Checking the lines of a 10 MiB BDAT message takes well under a second: the
        first check retried at every octet (13.9 s for this message, a review found)."""
        self.connect()
        self.ehlo()
        self.transaction()
        content = (b"x" * 998 + b"\r\n") * (10 * 1024 * 1024 // 1000)
        started = time.perf_counter()
        self.send(b"BDAT %d LAST\r\n" % len(content) + content)
        self.assertLess(time.perf_counter() - started, 2.0)
        self.assertEqual(self.replies(), ["250 2.0.0 queued"])

    def test_bdat_size_counts_normalised_line_ends(self) -> None:
        """A BDAT message is measured after its bare LFs became CRLF, as DATA is."""
        self.connect(max_message_size=10)
        self.ehlo()
        self.transaction()
        self.send(b"BDAT 8 LAST\r\na\nb\nc\nd\n")
        self.assertEqual(self.replies(), ["552 5.3.4 message too large"])
        self.assertEqual(self.policy.messages, [])

    def test_bdat_no_recipients(self) -> None:
        """BDAT after MAIL without accepted recipients gets 554 5.5.1."""
        self.connect()
        self.ehlo()
        self.send("MAIL FROM:<>\r\nBDAT 2 LAST\r\nxx")
        self.assertEqual(self.replies(), ["250 2.1.0 sender ok", "554 5.5.1 no valid recipients"])


class StartTLSTests(ProtocolTestCase):
    def test_starttls_while_replies_are_blocked(self) -> None:
        """When the STARTTLS reply fills the write buffer, the session after the
        handshake still answers: the TLS layer put in front never saw the pause and
        would not pass on its end (found by a review)."""
        context = object()
        self.connect(tls_context_factory=context)
        self.ehlo()
        producer = self.transport.producer
        assert producer is not None
        write = self.transport.write

        def filling(data: bytes) -> None:
            write(data)
            producer.pauseProducing()  # the 220 did not fit into the buffer

        self.transport.write = filling  # type: ignore[method-assign]
        self.send("STARTTLS\r\n")
        self.transport.write = write  # type: ignore[method-assign]
        self.assertEqual(self.replies(), ["220 2.0.0 ready to start TLS"])
        self.send("EHLO c\r\n")
        self.assertTrue(self.replies()[-1].startswith("250 "))

    def test_regression_pipelined_command_after_starttls(self) -> None:
        """twisted.mail defect 1: a command in the STARTTLS packet is discarded, not run."""
        context = object()
        self.connect(tls_context_factory=context)
        self.ehlo()
        self.send("STARTTLS\r\nMAIL FROM:<spoof@x.org>\r\n")
        self.assertEqual(self.replies(), ["220 2.0.0 ready to start TLS"])
        self.assertIs(self.transport.tls_context, context)
        self.assertEqual(self.policy.calls, [])
        # The session starts over: HELO forgotten, STARTTLS no longer offered.
        self.send("MAIL FROM:<a@x.org>\r\n")
        self.assertEqual(self.replies(), ["503 5.5.1 send EHLO first"])
        self.send("EHLO c\r\n")
        self.assertNotIn("250-STARTTLS", self.replies())
        self.send("MAIL FROM:<a@x.org>\r\n")
        self.assertEqual(self.replies(), ["250 2.1.0 sender ok"])
        self.assertTrue(self.policy.calls[0][1][0].tls)

    def test_auth_not_carried_over(self) -> None:
        """An AUTH done before STARTTLS is forgotten after it."""
        self.policy.requires_auth = True
        self.connect(
            kind="submission",
            tls_context_factory=object(),
            authenticator=FakeAuthenticator(),
            allow_plaintext_auth=True,
        )
        self.ehlo()
        self.send(f"AUTH PLAIN {PLAIN_OK}\r\nSTARTTLS\r\n")
        self.assertEqual(
            self.replies(), ["235 2.7.0 authentication successful", "220 2.0.0 ready to start TLS"]
        )
        self.send("EHLO c\r\nMAIL FROM:<a@x.org>\r\n")
        self.assertEqual(self.replies()[-1], "530 5.7.0 authentication required")

    def test_starttls_refusals(self) -> None:
        """STARTTLS without a context is 502, with arguments 501, a second time 503."""
        self.connect()
        self.ehlo()
        self.send("STARTTLS\r\n")
        self.assertEqual(self.replies(), ["502 5.5.1 command not implemented"])
        self.connect(tls_context_factory=object())
        self.ehlo()
        self.send("STARTTLS now\r\nSTARTTLS\r\n")
        self.assertEqual(
            self.replies(),
            ["501 5.5.4 STARTTLS takes no parameters", "220 2.0.0 ready to start TLS"],
        )
        self.send("STARTTLS\r\n")
        self.assertEqual(self.replies(), ["503 5.5.1 TLS already active"])


class AuthTests(ProtocolTestCase):
    def submission(self, **kwargs: Any) -> None:
        self.policy.requires_auth = True
        settings: dict[str, Any] = {
            "kind": "submission",
            "authenticator": FakeAuthenticator(),
            "limiter": self.limiter,
            "implicit_tls": True,
        }
        settings.update(kwargs)
        self.connect(**settings)
        self.ehlo()

    def test_initial_response_success(self) -> None:
        """AUTH with a good initial response gets 235 2.7.0 and the account reaches the policy."""
        self.submission()
        self.send(f"AUTH PLAIN {PLAIN_OK}\r\nMAIL FROM:<a@x.org>\r\n")
        self.assertEqual(
            self.replies(), ["235 2.7.0 authentication successful", "250 2.1.0 sender ok"]
        )
        session = self.policy.calls[0][1][0]
        self.assertEqual((session.account, session.login), ("acct", "user"))
        self.assertEqual(self.limiter.events, [("succeeded", "192.0.2.9")])

    def test_challenge_response(self) -> None:
        """Without initial response the server sends 334 and takes the next line."""
        self.submission()
        self.send("AUTH plain\r\n")
        self.assertEqual(self.replies(), ["334 "])
        self.send(PLAIN_OK + "\r\n")
        self.assertEqual(self.replies(), ["235 2.7.0 authentication successful"])

    def test_empty_initial_response(self) -> None:
        """ "=" is an empty initial response (RFC 4954 §4), answered with a challenge."""
        self.submission()
        self.send("AUTH PLAIN =\r\n")
        self.assertEqual(self.replies(), ["334 " + base64.b64encode(b"more").decode()])

    def test_cancel(self) -> None:
        """ "*" cancels the exchange with 501 5.0.0."""
        self.submission()
        self.send("AUTH PLAIN\r\n*\r\nNOOP\r\n")
        self.assertEqual(
            self.replies(), ["334 ", "501 5.0.0 authentication cancelled", "250 2.0.0 ok"]
        )

    def test_bad_base64(self) -> None:
        """Bad base64, as initial response or response, gets 501 5.5.2."""
        self.submission()
        self.send("AUTH PLAIN !!!\r\nAUTH PLAIN\r\n!!!\r\n")
        self.assertEqual(
            self.replies(),
            [
                "501 5.5.2 malformed authentication response",
                "334 ",
                "501 5.5.2 malformed authentication response",
            ],
        )

    def test_malformed(self) -> None:
        """A mechanism's SASLMalformed becomes 501 5.5.2."""
        self.submission()
        self.send("AUTH PLAIN " + base64.b64encode(b"garbage").decode() + "\r\n")
        self.assertEqual(self.replies(), ["501 5.5.2 malformed authentication response"])

    def test_failure_is_delayed(self) -> None:
        """A failed AUTH is counted and answered 535 5.7.8 only after the delay."""
        self.submission(auth_failure_delay=2.0)
        self.send(f"AUTH PLAIN {PLAIN_BAD}\r\nNOOP\r\n")
        self.assertEqual(self.replies(), [])
        self.assertEqual(self.limiter.events, [("failed", "192.0.2.9")])
        self.clock.advance(2.0)
        self.assertEqual(
            self.replies(), ["535 5.7.8 authentication credentials invalid", "250 2.0.0 ok"]
        )

    def test_disconnect_during_failure_delay(self) -> None:
        """A client gone during the failure delay leaves no pending call."""
        self.submission()
        self.send(f"AUTH PLAIN {PLAIN_BAD}\r\n")
        self.protocol.connectionLost()
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_result_after_the_limit_is_not_told(self) -> None:
        """A login whose check ends after parallel logins from its address reached the
        limit gets 454 4.7.0 after the failure delay, right or wrong: a burst of
        guesses learns only as many results as the limit allows (a review got 40 x 535
        for 40 parallel guesses, so the limit counted nothing)."""
        for outcome in (
            SASLSuccess(account="acct", login="user"),
            SASLFailure("no"),
            # SCRAM's server-final message proves the password: a result as well.
            SASLChallenge(b"v=proof", verified=True),
        ):
            self.setUp()
            self.submission()
            pending: Deferred[Any] = Deferred()
            mechanism = FakeMechanism()
            mechanism.step = lambda response, d=pending: d  # type: ignore[method-assign]
            self.protocol.factory.authenticator.start = lambda *a, m=mechanism: m  # type: ignore[union-attr]
            self.send(f"AUTH PLAIN {PLAIN_OK}\r\n")
            self.limiter.allow = False  # the others' failures arrived meanwhile
            pending.callback(outcome)
            self.assertEqual(self.replies(), [])
            self.clock.advance(1.0)
            self.assertEqual(self.replies(), ["454 4.7.0 too many authentication failures"])
            self.send("MAIL FROM:<a@x.org>\r\n")
            self.assertEqual(self.replies(), ["530 5.7.0 authentication required"])
            # Counted whatever it was: the counts must not tell a right guess.
            self.assertEqual(self.limiter.events, [("failed", "192.0.2.9")])

    def test_limiter_refuses(self) -> None:
        """When the limiter refuses the IP, AUTH gets 454 4.7.0."""
        self.submission()
        self.limiter.allow = False
        self.send(f"AUTH PLAIN {PLAIN_OK}\r\n")
        self.assertEqual(self.replies(), ["454 4.7.0 too many authentication failures"])

    def test_already_authenticated(self) -> None:
        """A second AUTH gets 503 5.5.1 (RFC 4954 §4)."""
        self.submission()
        self.send(f"AUTH PLAIN {PLAIN_OK}\r\nAUTH PLAIN {PLAIN_OK}\r\n")
        self.assertEqual(self.replies()[-1], "503 5.5.1 already authenticated")

    def test_auth_requires_tls(self) -> None:
        """Without TLS, AUTH gets 538 5.7.11 and MAIL 530 5.7.0."""
        self.submission(implicit_tls=False)
        self.send(f"AUTH PLAIN {PLAIN_OK}\r\nMAIL FROM:<a@x.org>\r\n")
        self.assertEqual(
            self.replies(),
            [
                "538 5.7.11 encryption required for authentication",
                "530 5.7.0 authentication required",
            ],
        )

    def test_overlong_sasl_response(self) -> None:
        """A SASL response over 12288 octets gets 500 5.5.6 (RFC 4954 §4) and ends the
        exchange, also when it arrives in pieces."""
        for pieces in (1, 4):
            self.submission()
            wire = "AUTH PLAIN\r\n" + "A" * 13000 + "\r\nNOOP\r\n"
            step = -(-len(wire) // pieces)
            for start in range(0, len(wire), step):
                self.send(wire[start : start + step])
            self.assertEqual(
                self.replies(),
                ["334 ", "500 5.5.6 authentication exchange line is too long", "250 2.0.0 ok"],
            )
            self.assertEqual(self.protocol.state, State.READY)

    def test_overlong_auth_command(self) -> None:
        """An AUTH command line over 12288 octets gets 500 5.5.6 too; other overlong
        command lines keep 500 5.5.2."""
        self.submission()
        self.send("AUTH PLAIN " + "A" * 13000 + "\r\nNOOP " + "x" * 600 + "\r\n")
        self.assertEqual(
            self.replies(),
            ["500 5.5.6 authentication exchange line is too long", "500 5.5.2 line too long"],
        )

    def test_cram_md5_takes_no_initial_response(self) -> None:
        """CRAM-MD5 is server-first: an initial response, even "=", gets 501 5.5.2
        (RFC 4954 §4) and no attempt is counted."""
        authenticator = FakeAuthenticator()
        authenticator.mechanisms = lambda *args, **kwargs: ["CRAM-MD5"]  # type: ignore[method-assign]
        self.submission(authenticator=authenticator)
        self.send("AUTH CRAM-MD5 =\r\nAUTH CRAM-MD5 Zm9v\r\n")
        self.assertEqual(self.replies(), ["501 5.5.2 this mechanism takes no initial response"] * 2)
        self.assertEqual(self.limiter.events, [])

    def test_unknown_mechanism(self) -> None:
        """An unknown mechanism gets 504 5.5.4."""
        self.submission()
        self.send("AUTH FOO\r\n")
        self.assertEqual(self.replies(), ["504 5.5.4 unrecognized authentication mechanism"])

    def test_auth_sequence(self) -> None:
        """AUTH before EHLO or during a transaction gets 503 5.5.1."""
        self.connect(kind="submission", authenticator=FakeAuthenticator(), implicit_tls=True)
        self.replies()
        self.send(f"AUTH PLAIN {PLAIN_OK}\r\n")
        self.assertEqual(self.replies(), ["503 5.5.1 send EHLO first"])
        self.send(f"EHLO c\r\nMAIL FROM:<>\r\nAUTH PLAIN {PLAIN_OK}\r\n")
        self.assertEqual(
            self.replies()[-1], "503 5.5.1 AUTH not permitted during a mail transaction"
        )

    def test_auth_data_never_logged(self) -> None:
        """Neither the AUTH response nor the password appears in any log event."""
        self.submission()
        events: list[dict[str, Any]] = []
        self.protocol.log = Logger(observer=events.append)  # type: ignore[arg-type]
        self.send(f"AUTH PLAIN\r\n{PLAIN_BAD}\r\nAUTH PLAIN {PLAIN_OK}\r\n")
        self.clock.advance(5)
        self.assertEqual(self.replies()[-1], "235 2.7.0 authentication successful")
        self.assertTrue(events)
        text = repr(events)
        for secret in (PLAIN_OK, PLAIN_BAD, "secret", "wrong"):
            self.assertNotIn(secret, text)

    def test_tls_description(self) -> None:
        """The policy's session says TLS and carries the session id."""
        self.submission()
        self.send(f"AUTH PLAIN {PLAIN_OK}\r\nMAIL FROM:<>\r\n")
        session = self.policy.calls[0][1][0]
        self.assertTrue(session.tls)
        self.assertEqual(session.tls_description, "TLS")
        self.assertEqual(len(session.session_id), 16)

    def test_no_auth_inbound(self) -> None:
        """On an inbound listener AUTH is not implemented (502 5.5.1)."""
        self.connect(authenticator=FakeAuthenticator(), implicit_tls=True)
        self.ehlo()
        self.send(f"AUTH PLAIN {PLAIN_OK}\r\n")
        self.assertEqual(self.replies(), ["502 5.5.1 command not implemented"])

    def test_long_auth_line(self) -> None:
        """AUTH lines may exceed 512 octets up to 12288 (RFC 4954 §4)."""
        self.submission()
        long_response = base64.b64encode(b"\0user\0secret" + b"x" * 3000).decode()
        self.send(f"AUTH PLAIN {long_response}\r\n")
        self.assertEqual(self.replies(), [])
        self.clock.advance(1.0)
        self.assertEqual(self.replies(), ["535 5.7.8 authentication credentials invalid"])


class DataRoundTripTests(ProtocolTestCase):
    @settings(max_examples=60, deadline=None)
    @given(
        lines=st.lists(
            st.binary(max_size=120).filter(lambda b: b"\r" not in b and b"\n" not in b),
            max_size=20,
        ),
        cut=st.integers(min_value=1, max_value=50),
    )
    def test_dot_stuffed_data_round_trips(self, lines: list[bytes], cut: int) -> None:
        """Any dot-stuffed body, split anywhere into packets, arrives exactly as sent."""
        self.setUp()
        self.connect()
        self.ehlo()
        self.transaction()
        wire = b"DATA\r\n" + b"".join(
            (b"." + line if line.startswith(b".") else line) + b"\r\n" for line in lines
        )
        wire += b".\r\n"
        for start in range(0, len(wire), cut):
            self.send(wire[start : start + cut])
        self.assertEqual(self.replies()[-1], "250 2.0.0 queued")
        self.assertEqual(self.policy.messages[0][2], b"".join(line + b"\r\n" for line in lines))


class RegressionExtensionsTests(ProtocolTestCase):
    def test_regression_extensions_present_and_enforced(self) -> None:
        """twisted.mail defect 4: ENHANCEDSTATUSCODES, SMTPUTF8, CHUNKING, SIZE all work."""
        self.connect(max_message_size=20)
        self.replies()
        self.send("EHLO c\r\n")
        keywords = {line[4:] for line in self.replies()}
        self.assertTrue(
            {"ENHANCEDSTATUSCODES", "SMTPUTF8", "CHUNKING", "SIZE 20"} <= keywords, keywords
        )
        self.send(
            "MAIL FROM:<a@x.org> SIZE=21\r\n"
            "MAIL FROM:<ü@x.org>\r\n"
            "MAIL FROM:<ü@x.org> SMTPUTF8\r\n"
            "RCPT TO:<b@x.org>\r\n"
            "BDAT 21 LAST\r\n" + "x" * 21
        )
        self.assertEqual(
            self.replies(),
            [
                "552 5.3.4 message too large",
                "553 5.6.7 non-ASCII address not permitted without SMTPUTF8",
                "250 2.1.0 sender ok",
                "250 2.1.5 recipient ok",
                "552 5.3.4 message too large",
            ],
        )


class InternalErrorTests(ProtocolTestCase):
    def test_command_bug(self) -> None:
        """A bug in a command handler gives 451 4.3.0, logged; the session goes on."""
        self.connect()
        self.ehlo()

        def broken(arguments: str) -> None:
            raise ZeroDivisionError()

        self.protocol._do_noop = broken  # type: ignore[method-assign,assignment]
        self.send("NOOP\r\nRSET\r\n")
        self.assertEqual(
            self.replies(), ["451 4.3.0 internal error, try again later", "250 2.0.0 reset"]
        )
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)

    def test_framing_bug(self) -> None:
        """A bug while reading DATA gives 451 4.3.0 and closes: no traceback, no command."""
        self.connect()
        self.ehlo()
        self.transaction()

        def broken(raw: bytes, has_cr: bool) -> None:
            raise ZeroDivisionError()

        self.protocol._data_line = broken  # type: ignore[method-assign,assignment]
        self.send("DATA\r\nx\r\nNOOP\r\n")
        self.assertEqual(self.replies()[-1:], ["451 4.3.0 internal error, try again later"])
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 1)


class TimeoutAndLimitTests(ProtocolTestCase):
    def test_idle_timeout(self) -> None:
        """An idle session gets 421 4.4.2 and is closed after idle_timeout."""
        self.connect()
        self.ehlo()
        self.clock.advance(299)
        self.send("NOOP\r\n")
        self.clock.advance(299)
        self.assertFalse(self.transport.disconnecting)
        self.clock.advance(1)
        self.assertEqual(
            self.replies(), ["250 2.0.0 ok", "421 4.4.2 idle timeout, closing connection"]
        )
        self.assertTrue(self.transport.disconnecting)

    def test_regression_close_that_never_ends_is_aborted(self) -> None:
        """A closed session whose connection does not go away (a TLS handshake never
        finished, a client that never reads) is aborted CLOSE_GRACE later: a review
        held every connection slot this way, idle timeouts notwithstanding."""
        self.connect()
        self.ehlo()
        self.clock.advance(300)
        self.assertTrue(self.transport.disconnecting)
        self.assertFalse(self.transport.disconnected)
        self.clock.advance(CLOSE_GRACE)
        self.assertTrue(self.transport.disconnected)  # StringTransport: aborted

    def test_close_that_ends_leaves_no_timer(self) -> None:
        """When the connection goes in time, the abort is canceled."""
        self.connect()
        self.ehlo()
        self.send("QUIT\r\n")
        self.protocol.connectionLost()
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.assertFalse(self.transport.disconnected)

    def test_regression_replies_not_read(self) -> None:
        """While the client does not read its replies (the transport's write buffer is
        full) no more commands are answered, and reading stops once 1 MiB waits; both
        resume when the buffer drains. A review grew the server by ~1 GB sending EHLO
        without reading (each 8-octet EHLO is a ~200-octet reply)."""
        self.connect()
        self.ehlo()
        producer = self.transport.producer
        assert producer is not None
        producer.pauseProducing()  # what Twisted does when the write buffer is full
        self.send("NOOP\r\n" * 3)
        self.assertEqual(self.replies(), [])
        self.assertEqual(self.transport.producerState, "producing")
        self.send("NOOP\r\n" * (1 << 18))
        self.assertEqual(self.transport.producerState, "paused")
        producer.resumeProducing()
        self.assertEqual(len(self.replies()), 3 + (1 << 18))
        self.assertEqual(self.transport.producerState, "producing")

    def test_no_timeout_while_policy_works(self) -> None:
        """The idle timer does not run while the server waits for its policy."""
        self.connect(idle_timeout=10)
        self.ehlo()
        self.policy.manual = True
        self.send("MAIL FROM:<>\r\n")
        self.clock.advance(50)
        self.assertFalse(self.transport.disconnecting)
        self.policy.held[0].callback(None)
        self.clock.advance(10)
        self.assertTrue(self.transport.disconnecting)

    def test_connection_limit(self) -> None:
        """Connections over max_connections get 421 4.7.0 and are closed."""
        factory = self.make_factory(max_connections=1)
        self.connect(factory)
        first, first_transport = self.protocol, self.transport
        self.connect(factory)
        self.assertEqual(self.replies(), ["421 4.7.0 too many connections, try again later"])
        self.assertTrue(self.transport.disconnecting)
        self.protocol.connectionLost()
        first.connectionLost()
        self.assertFalse(first_transport.disconnecting)
        self.connect(factory)
        self.assertEqual(self.replies(), [f"220 {HOST} ESMTP mailtwist"])
        self.assertEqual(factory.active_connections, 1)

    def test_factory_validates(self) -> None:
        """The factory refuses an unknown listener kind."""
        with self.assertRaises(ValueError):
            self.make_factory(kind="imap")
