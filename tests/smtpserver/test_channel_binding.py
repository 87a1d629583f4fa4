"""SCRAM-SHA-256-PLUS over real TLS (pyOpenSSL on both sides, in memory): the binding."""

from __future__ import annotations

import base64
import tempfile
import warnings
from datetime import UTC, datetime
from pathlib import Path

from OpenSSL import SSL
from twisted.internet.address import IPv4Address
from twisted.internet.protocol import Factory
from twisted.internet.ssl import CertificateOptions, PrivateCertificate, TLSVersion
from twisted.internet.task import Clock
from twisted.protocols.tls import TLSMemoryBIOFactory
from twisted.test.iosim import connectedServerAndClient
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.auth.sasl import Authenticator
from mailtwist.config import write_self_signed_certificate
from mailtwist.smtpserver.factory import ESMTPServerFactory
from tests.auth.test_sasl import FakeAccounts, SynchronousRunner, scram_answer
from tests.smtpserver.test_protocol import FakePolicy
from tests.smtpserver.test_protocol_loopback import RecordingClient

_CERTIFICATE: PrivateCertificate | None = None


def certificate() -> PrivateCertificate:
    """A self-signed certificate for localhost, made once for the module."""
    global _CERTIFICATE
    if _CERTIFICATE is None:
        with tempfile.TemporaryDirectory() as directory:
            cert, key = Path(directory, "cert.pem"), Path(directory, "key.pem")
            write_self_signed_certificate(cert, key, ["localhost"], now=datetime.now(tz=UTC))
            _CERTIFICATE = PrivateCertificate.loadPEM(cert.read_bytes() + key.read_bytes())
    return _CERTIFICATE


def server_options(maximum: TLSVersion | None) -> CertificateOptions:
    """Server TLS options as the service makes them, optionally capped at ``maximum``."""
    options = CertificateOptions(
        privateKey=certificate().privateKey.original,
        certificate=certificate().original,
        lowerMaximumSecurityTo=maximum,
    )
    with warnings.catch_warnings():
        # Twisted hands pyOpenSSL its X509/PKey objects, which pyOpenSSL 26 deprecates;
        # the context is made (and kept) here, so the warning stays out of the test.
        warnings.filterwarnings("ignore", "Passing pyOpenSSL", DeprecationWarning)
        options.getContext()
    return options


class ChannelBindingTests(SynchronousTestCase):
    def connect(self, server_max: TLSVersion | None = None) -> None:
        """An implicit-TLS submission session, handshake done and greeting read."""
        clock = Clock()
        authenticator = Authenticator(
            account_for_login=FakeAccounts().account_for_login,
            credentials_for_account=FakeAccounts().credentials_for_account,
            hostname="mx.example.org",
            clock=clock,
            run_in_thread=SynchronousRunner(),
        )
        options = server_options(server_max)
        smtp = ESMTPServerFactory(
            hostname="mx.example.org",
            listener="loop",
            kind="submissions",
            policy=FakePolicy(requires_auth=True),
            authenticator=authenticator,
            limiter=None,
            clock=clock,
            tls_context_factory=options,
            implicit_tls=True,
        )
        # Both TLS layers gather small writes until the (test) clock's next turn.
        server = TLSMemoryBIOFactory(options, False, smtp, clock=clock)
        client = TLSMemoryBIOFactory(
            CertificateOptions(verify=False),
            True,
            Factory.forProtocol(RecordingClient),
            clock=clock,
        )
        address = IPv4Address("TCP", "127.0.0.1", 465)
        wrapper, _server, pump = connectedServerAndClient(
            lambda: server.buildProtocol(address),
            lambda: client.buildProtocol(address),
            clock=clock,
        )
        self.clock, self.pump = clock, pump
        self.client: RecordingClient = wrapper.wrappedProtocol
        self.settle()
        self.assertEqual(self.client.take(), ["220 mx.example.org ESMTP mailtwist"])

    def settle(self) -> None:
        """Move every byte and timer until both sides are quiet (AUTH failures wait 1 s)."""
        for _ in range(5):
            self.pump.flush()
            self.clock.advance(1)
        self.pump.flush()

    def command(self, line: str) -> list[str]:
        """Send a command line; the reply lines."""
        self.client.transport.write(line.encode() + b"\r\n")  # type: ignore[union-attr]
        self.settle()
        return self.client.take()

    def handle(self) -> SSL.Connection:
        """The client's end of the TLS connection."""
        connection: SSL.Connection = self.client.transport.getHandle()  # type: ignore[union-attr]
        return connection

    def exporter(self) -> bytes:
        """The client's own tls-exporter value of the channel, computed as RFC 9266 §2
        says (written out here, not taken from the code under test)."""
        return bytes(self.handle().export_keying_material(b"EXPORTER-Channel-Binding", 32, b""))

    def auth_line(self) -> list[str]:
        """The mechanisms EHLO offers."""
        [auth] = [line for line in self.command("EHLO c") if line[4:].startswith("AUTH ")]
        return auth[4:].split()[1:]

    def scram_plus(self, binding: bytes) -> list[str]:
        """A whole SCRAM-SHA-256-PLUS exchange for user/pencil with ``binding`` as the
        channel binding data the client claims; the server's last reply lines."""
        first_bare = "n=user,r=clientnonce"
        first = base64.b64encode(f"p=tls-exporter,,{first_bare}".encode()).decode()
        [challenge] = self.command(f"AUTH SCRAM-SHA-256-PLUS {first}")
        self.assertTrue(challenge.startswith("334 "), challenge)
        server_first = base64.b64decode(challenge[4:]).decode()
        final = scram_answer("pencil", first_bare, server_first, b"p=tls-exporter,," + binding)
        lines = self.command(base64.b64encode(final).decode())
        if lines and lines[0].startswith("334 "):
            lines = self.command("")  # server-final read: the empty response (RFC 4954)
        return lines

    def test_plus_offered_over_tls13(self) -> None:
        """Over TLS 1.3 EHLO offers SCRAM-SHA-256-PLUS first."""
        self.connect()
        self.assertEqual(self.handle().get_protocol_version_name(), "TLSv1.3")
        self.assertEqual(self.auth_line()[0], "SCRAM-SHA-256-PLUS")

    def test_plus_with_the_channels_binding(self) -> None:
        """The client's tls-exporter value of this very connection authenticates."""
        self.connect()
        self.auth_line()
        lines = self.scram_plus(self.exporter())
        self.assertEqual(lines, ["235 2.7.0 authentication successful"])

    def test_plus_with_another_binding_fails(self) -> None:
        """A binding from another channel (a relayed exchange) fails: the proof is bound to
        the connection, so a man in the middle cannot pass it on."""
        self.connect()
        self.auth_line()
        [reply] = self.scram_plus(bytes(b ^ 0xFF for b in self.exporter()))
        self.assertTrue(reply.startswith("535 "), reply)

    def test_no_plus_over_tls12(self) -> None:
        """Over TLS 1.2 there is no safe binding to offer: plain SCRAM-SHA-256 only."""
        self.connect(server_max=TLSVersion.TLSv1_2)
        self.assertEqual(self.handle().get_protocol_version_name(), "TLSv1.2")
        mechanisms = self.auth_line()
        self.assertNotIn("SCRAM-SHA-256-PLUS", mechanisms)
        self.assertIn("SCRAM-SHA-256", mechanisms)
        [reply] = self.command("AUTH SCRAM-SHA-256-PLUS")
        self.assertTrue(reply.startswith("504 "), reply)

    def test_regression_quit_closes_at_once(self) -> None:
        """QUIT over TLS ends the connection at once: with the session's producer still
        registered, the TLS layer waited for it, and the abort 10 s later closed it."""
        self.connect()
        self.assertEqual(self.command("QUIT"), ["221 2.0.0 bye"])
        self.pump.flush()
        self.assertTrue(self.pump.serverIO.disconnecting)
        self.assertTrue(self.pump.clientIO.disconnected)
