"""A whole ESMTP session over twisted.test.iosim's in-memory connection, STARTTLS included."""

from __future__ import annotations

from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Protocol
from twisted.internet.task import Clock
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.smtpserver.factory import ESMTPServerFactory
from tests.smtpserver.test_protocol import FakePolicy


class RecordingClient(Protocol):
    """Collects the server's reply lines."""

    def __init__(self) -> None:
        self.received = b""

    def dataReceived(self, data: bytes) -> None:
        self.received += data

    def take(self) -> list[str]:
        lines = self.received.decode().split("\r\n")[:-1]
        self.received = b""
        return lines


class FakeContext:
    """What iosim's pretend TLS asks of both sides' context factories."""

    def iosimVerify(self, other: object) -> bool:
        return isinstance(other, FakeContext)


class LoopbackTests(SynchronousTestCase):
    def test_pipelined_session_with_starttls(self) -> None:
        """A pipelined session over an in-memory connection, through STARTTLS, delivers."""
        clock = Clock()
        policy = FakePolicy()
        context = FakeContext()
        factory = ESMTPServerFactory(
            hostname="mx.example.org",
            listener="loop",
            kind="smtp",
            policy=policy,
            authenticator=None,
            limiter=None,
            clock=clock,
            tls_context_factory=context,
        )
        client, _server, pump = connectedServerAndClient(
            lambda: factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 25)),
            RecordingClient,
            clock=clock,
        )
        self.assertEqual(client.take(), ["220 mx.example.org ESMTP mailtwist"])
        transport: Any = client.transport
        transport.write(b"EHLO c\r\nSTARTTLS\r\n")
        pump.flush()
        lines = client.take()
        self.assertIn("250 STARTTLS", lines)
        self.assertEqual(lines[-1], "220 2.0.0 ready to start TLS")
        transport.startTLS(context)
        transport.write(
            b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"
        )
        pump.flush()
        lines = client.take()
        self.assertNotIn("250 STARTTLS", lines)
        self.assertEqual(lines[-1], "354 end data with <CR><LF>.<CR><LF>")
        transport.write(b"Subject: x\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        pump.flush()
        self.assertEqual(client.take(), ["250 2.0.0 queued", "221 2.0.0 bye"])
        [(session, _envelope, data)] = policy.messages
        self.assertTrue(session.tls)
        self.assertEqual(data, b"Subject: x\r\n\r\nbody\r\n")
        self.assertEqual(factory.active_connections, 0)
