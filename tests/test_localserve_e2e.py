"""End to end: a real localserve on loopback, driven with smtplib and the mailtwist CLI."""

from __future__ import annotations

import base64
import signal
import smtplib
import socket
import ssl
import struct
import sys
from email.message import EmailMessage
from pathlib import Path

import dkim
from OpenSSL import SSL
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.dkim.keys import dkim_dns_value
from tests.auth.test_sasl import scram_answer
from tests.localserve_process import LocalserveProcess

LOGIN = "mailtwist@localhost"
PASSWORD = "mailtwist"


def message(to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = LOGIN
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(f"body of {subject}\n")
    return msg


def insecure_context() -> ssl.SSLContext:
    # localserve's certificate is self-signed for localhost.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


class LineClient:
    """A blocking SMTP client over a socket or a pyOpenSSL connection: pyOpenSSL because
    Python's ssl module cannot compute the tls-exporter channel binding (RFC 9266)."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        # pyOpenSSL needs a blocking socket; a kernel receive timeout still ends a hang
        # (as a WantReadError) instead of waiting for ever.
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, struct.pack("ll", 30, 0))
        self.tls: SSL.Connection | None = None
        self.pending = b""

    def reply(self) -> list[str]:
        """The lines of one (possibly multi-line) reply."""
        lines: list[str] = []
        while True:
            while b"\r\n" not in self.pending:
                chunk = (self.tls or self.sock).recv(4096)
                if not chunk:
                    raise ConnectionError(f"connection closed after {lines}")
                self.pending += chunk
            line, self.pending = self.pending.split(b"\r\n", 1)
            lines.append(line.decode())
            if line[3:4] != b"-":
                return lines

    def command(self, line: str) -> list[str]:
        (self.tls or self.sock).sendall(line.encode() + b"\r\n")
        return self.reply()

    def starttls(self) -> None:
        assert self.command("STARTTLS")[0].startswith("220 ")
        context = SSL.Context(SSL.TLS_CLIENT_METHOD)  # localserve's certificate: self-signed
        self.tls = SSL.Connection(context, self.sock)
        self.tls.set_connect_state()
        self.tls.do_handshake()

    def close(self) -> None:
        self.sock.close()


class LocalserveEndToEndTests(SynchronousTestCase):
    """localserve started as `twistd -n mailtwist localserve`, like a developer does."""

    def setUp(self) -> None:
        if sys.platform == "win32":
            self.skipTest("signals used to stop the child are POSIX")
        self.server = LocalserveProcess(Path(self.mktemp()))
        self.addCleanup(self.server.stop)
        self.server.start()

    def submit_starttls(self, to: str, subject: str) -> None:
        with smtplib.SMTP("127.0.0.1", self.server.submission_port, timeout=30) as client:
            client.starttls(context=insecure_context())
            client.login(LOGIN, PASSWORD)
            client.send_message(message(to, subject))

    def submit_implicit_tls(self, to: str, subject: str) -> None:
        with smtplib.SMTP_SSL(
            "127.0.0.1", self.server.submissions_port, timeout=30, context=insecure_context()
        ) as client:
            client.login(LOGIN, PASSWORD)
            client.send_message(message(to, subject))

    def test_submission_is_dkim_signed(self) -> None:
        """A submitted message is delivered DKIM-signed for localhost, Received first, and
        the signature verifies against localserve's key (spec §10.2)."""
        self.submit_starttls("signed@localhost", "signed")
        inbox = self.server.wait_for(
            "messages list", lambda rows: any(r["rcpt_to"] == "signed@localhost" for r in rows)
        )
        stored = next(r for r in inbox if r["rcpt_to"] == "signed@localhost")
        raw = self.server.message_bytes(stored["id"])
        lines = raw.split(b"\r\n")
        self.assertTrue(lines[0].startswith(b"Received: "))
        self.assertIn(b"\r\nDKIM-Signature: ", raw)
        [key] = (self.server.directory / "dkim").glob("localhost-*.pem")
        selector = key.stem.split("-")[1]
        record = dkim_dns_value(key.read_bytes()).encode()

        def dns(name: bytes, timeout: float = 5) -> bytes | None:
            return (
                record if name.decode().rstrip(".") == f"{selector}._domainkey.localhost" else None
            )

        self.assertTrue(dkim.verify(raw, dnsfunc=dns))

    def test_submissions_are_delivered_and_failures_recorded(self) -> None:
        """Mail submitted over STARTTLS and implicit TLS reaches the Inbox; permerror fails
        with its 550 recorded, temperror stays queued for a retry, and Ctrl-C exits cleanly."""
        self.submit_starttls("test@localhost", "over starttls")
        self.submit_implicit_tls("someone@example.com", "over implicit tls")
        self.submit_starttls("xpermerror@localhost", "must fail")
        self.submit_starttls("xtemperror@localhost", "must be retried")

        inbox = self.server.wait_for(
            "messages list",
            lambda rows: len([r for r in rows if r["mailbox"] == "Inbox" and not r["dsn"]]) >= 2,
        )
        self.assertEqual(
            sorted(r["rcpt_to"] for r in inbox if r["mailbox"] == "Inbox" and not r["dsn"]),
            ["someone@example.com", "test@localhost"],
        )

        retired = self.server.wait_for(
            "retired list",
            lambda rows: any(r["recipient"] == "xpermerror@localhost" for r in rows),
        )
        failed = next(r for r in retired if r["recipient"] == "xpermerror@localhost")
        self.assertEqual(failed["event"], "failed")
        self.assertEqual(failed["results"][-1]["code"], 550)
        self.assertIn("550", failed["results"][-1]["reply"])

        queued = self.server.wait_for(
            "queue list",
            lambda rows: any(
                r["recipient"] == "xtemperror@localhost"
                and r["attempts"] == 1
                and r["results"][-1]["code"] == 451
                for r in rows
            ),
        )
        temp = next(r for r in queued if r["recipient"] == "xtemperror@localhost")
        self.assertFalse(temp["results"][-1]["permanent"])

        # twistd re-raises the signal it stopped on, so a clean Ctrl-C exit is -SIGINT.
        self.assertIn(self.server.interrupt(), (0, -signal.SIGINT), self.server.output())
        self.assertIn("mailtwist stopped", self.server.output())
        # A second start reuses the directory and still holds the queued message.
        self.server.start()
        again = self.server.cli("queue", "list")
        self.assertEqual([r["recipient"] for r in again], ["xtemperror@localhost"])

    def test_scram_plus_binds_to_the_starttls_channel(self) -> None:
        """After STARTTLS (TLS 1.3) submission offers SCRAM-SHA-256-PLUS, and the login
        succeeds with this channel's tls-exporter binding and fails with another."""
        results = []
        for tamper in (False, True):
            client = LineClient(self.server.submission_port)
            self.addCleanup(client.close)
            client.reply()
            client.command("EHLO e2e")
            client.starttls()
            assert client.tls is not None
            self.assertEqual(client.tls.get_protocol_version_name(), "TLSv1.3")
            [auth] = [line for line in client.command("EHLO e2e") if line[4:9] == "AUTH "]
            self.assertEqual(auth[4:].split()[1], "SCRAM-SHA-256-PLUS")
            # RFC 9266 §2: label, empty context, 32 bytes.
            binding = bytes(client.tls.export_keying_material(b"EXPORTER-Channel-Binding", 32, b""))
            if tamper:
                binding = bytes(b ^ 1 for b in binding)
            first_bare = f"n={LOGIN},r=e2enonce"
            first = base64.b64encode(f"p=tls-exporter,,{first_bare}".encode()).decode()
            [challenge] = client.command(f"AUTH SCRAM-SHA-256-PLUS {first}")
            server_first = base64.b64decode(challenge[4:]).decode()
            cbind_input = b"p=tls-exporter,," + binding
            final = scram_answer(PASSWORD, first_bare, server_first, cbind_input)
            [answer] = client.command(base64.b64encode(final).decode())
            if answer.startswith("334 "):
                [answer] = client.command("")
            results.append(answer[:3])
        self.assertEqual(results, ["235", "535"])

    def test_bad_credentials_are_refused(self) -> None:
        """A wrong password gets 535 5.7.8 and nothing is queued."""
        with smtplib.SMTP("127.0.0.1", self.server.submission_port, timeout=30) as client:
            client.starttls(context=insecure_context())
            with self.assertRaises(smtplib.SMTPAuthenticationError) as caught:
                client.login(LOGIN, "wrong")
        self.assertEqual(caught.exception.smtp_code, 535)
        self.assertIn(b"5.7.8", caught.exception.smtp_error)
