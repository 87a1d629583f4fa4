"""The ESMTP server protocol: one SMTP session as an explicit state machine (RFC 5321)."""

from __future__ import annotations

import base64
import binascii
import re
import secrets
from collections.abc import Callable, Mapping
from enum import Enum
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from OpenSSL.SSL import Connection
from OpenSSL.SSL import Error as SSLError
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IDelayedCall, IPushProducer
from twisted.internet.protocol import Protocol, connectionDone
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from mailtwist.address import Address, AddressError, parse_domain, parse_path
from mailtwist.auth.channel_binding import tls_channel_binding
from mailtwist.auth.sasl import (
    ChannelBinding,
    SASLChallenge,
    SASLFailure,
    SASLMalformed,
    SASLSuccess,
)
from mailtwist.smtp import codes
from mailtwist.smtp.parameters import ParameterError, parse_path_arguments
from mailtwist.smtp.reply import SMTPReply
from mailtwist.smtpserver._interfaces import Envelope, Session

if TYPE_CHECKING:
    from mailtwist.smtpserver.factory import ESMTPServerFactory

# RFC 5321 §4.5.3.1.4: a command line is at most 512 octets including CRLF.
COMMAND_LINE_LIMIT = 512
# RFC 4954 §4: AUTH command lines and SASL responses may reach 12288 octets.
AUTH_LINE_LIMIT = 12288
# RFC 5321 §4.5.3.1.6: a text line is at most 1000 octets including CRLF.
TEXT_LINE_LIMIT = 1000
# Bytes buffered while a command waits (for the policy, or for its replies to go out)
# before the transport is paused.
_PAUSE_BUFFERED = 1 << 20
#: Seconds a closing session may take to send its last replies (and, on TLS, to end
#: the handshake) before the connection is aborted.
CLOSE_GRACE = 10.0

_KNOWN_VERBS = frozenset(
    {
        "HELO",
        "EHLO",
        "MAIL",
        "RCPT",
        "DATA",
        "BDAT",
        "RSET",
        "NOOP",
        "QUIT",
        "VRFY",
        "EXPN",
        "HELP",
        "STARTTLS",
        "AUTH",
    }
)


class State(Enum):
    """Where a session is; the reader of input and the allowed commands follow from it."""

    #: Greeted (or just restarted by STARTTLS); no EHLO/HELO yet.
    GREETED = "greeted"
    #: EHLO/HELO given, no mail transaction.
    READY = "ready"
    #: MAIL FROM accepted.
    MAIL = "mail"
    #: At least one RCPT TO accepted.
    RCPT = "rcpt"
    #: At least one BDAT chunk received; more chunks may follow (RFC 3030 §2).
    CHUNKING = "chunking"
    #: Reading DATA content lines up to the final "." line.
    DATA = "data"
    #: Reading the octets of one BDAT chunk.
    BDAT = "bdat"
    #: Waiting for the client's response to a SASL challenge (RFC 4954 §4).
    AUTH = "auth"
    #: The connection is closing or closed; input is ignored.
    CLOSED = "closed"


#: Every allowed transition, in one place. STARTTLS goes back to GREETED.
TRANSITIONS: Mapping[State, frozenset[State]] = {
    State.GREETED: frozenset({State.GREETED, State.READY, State.BDAT, State.CLOSED}),
    State.READY: frozenset(
        {State.GREETED, State.READY, State.MAIL, State.AUTH, State.BDAT, State.CLOSED}
    ),
    State.MAIL: frozenset({State.GREETED, State.READY, State.RCPT, State.BDAT, State.CLOSED}),
    State.RCPT: frozenset(
        {State.GREETED, State.READY, State.RCPT, State.DATA, State.BDAT, State.CLOSED}
    ),
    State.CHUNKING: frozenset({State.GREETED, State.READY, State.BDAT, State.CLOSED}),
    State.DATA: frozenset({State.READY, State.CLOSED}),
    State.BDAT: frozenset({State.GREETED, State.READY, State.CHUNKING, State.CLOSED}),
    State.AUTH: frozenset({State.READY, State.CLOSED}),
    State.CLOSED: frozenset(),
}


class _MessageBuffer:
    """The message being received; drops its content once it cannot be accepted."""

    def __init__(self, max_size: int) -> None:
        self.max_size = max_size
        self.size = 0
        self.parts: list[bytes] = []
        self.too_big = False
        self.line_too_long = False
        # RFC 5321 §4.1.1.4: DATA follows a CRLF, so a "." first line ends the data.
        self.after_crlf = True

    def add(self, data: bytes) -> None:
        self.size += len(data)
        if self.size > self.max_size:
            # RFC 1870 §6: refuse after the data ends, but stop keeping the excess.
            self.too_big = True
        if self.too_big or self.line_too_long:
            self.parts.clear()
        else:
            self.parts.append(data)

    def mark_line_too_long(self) -> None:
        self.line_too_long = True
        self.parts.clear()

    def refusal(self) -> SMTPReply | None:
        if self.too_big:
            return codes.MESSAGE_TOO_LARGE
        if self.line_too_long:
            return codes.DATA_LINE_TOO_LONG
        return None

    def data(self) -> bytes:
        return b"".join(self.parts)

    def end_chunks(self) -> None:
        """A BDAT message is complete: its lines as DATA gets them (CRLF only, RFC 5321
        §2.3.8; lines within 998 octets, RFC 5322 §2.1.1), else it will be refused."""
        if self.too_big or self.line_too_long:
            return
        data = self.data()
        if _BARE_LINE_END.search(data):
            # A bare CR or LF stays a line end here, never a second meaning downstream.
            data = _BARE_LINE_END.sub(b"\r\n", data)
            if len(data) > self.max_size:
                # Counted as DATA counts it: after the line ends became CRLF.
                self.too_big = True
                self.parts.clear()
                return
        if _OVERLONG_LINE.search(data):
            self.mark_line_too_long()
            return
        self.parts = [data]


#: A HELO/EHLO name that is no domain but still harmless in a Received field.
_PRINTABLE_NAME = re.compile(r"[\x21-\x7e]{1,255}")
#: A CR not followed by LF, or an LF not preceded by CR.
_BARE_LINE_END = re.compile(rb"\r(?!\n)|(?<!\r)\n")
#: A line longer than RFC 5322 §2.1.1's 998 octets (CRLF not counted).
#: Anchored at line starts: unanchored, the search retries at every octet (quadratic).
_OVERLONG_LINE = re.compile(rb"(?m)^[^\r\n]{%d}" % (TEXT_LINE_LIMIT - 1))


class _Chunk:
    """One BDAT chunk being read (RFC 3030 §2)."""

    def __init__(self, size: int, last: bool, refusal: SMTPReply | None, after: State) -> None:
        self.size = size
        self.remaining = size
        self.last = last
        #: The reply to send once the chunk is consumed, when the chunk is refused.
        self.refusal = refusal
        #: The state to return to when the chunk is refused.
        self.after = after


@implementer(IPushProducer)
class _ReplyBackpressure:
    """Registered with the transport: pauses reading commands while replies pile up."""

    def __init__(self, protocol: ESMTPServerProtocol) -> None:
        self._protocol = protocol

    def pauseProducing(self) -> None:
        self._protocol.replies_blocked(True)

    def resumeProducing(self) -> None:
        self._protocol.replies_blocked(False)

    def stopProducing(self) -> None:
        pass


class ESMTPServerProtocol(Protocol):
    """One ESMTP session: reads commands one at a time, answers each in order.

    PIPELINING (RFC 2920) comes for free from that: while a command waits for the
    policy, later input stays in the buffer, and is never read ahead (in
    particular never into DATA content).
    """

    log = Logger()

    def __init__(self, factory: ESMTPServerFactory) -> None:
        self.factory = factory
        self.session_id = secrets.token_hex(8)
        self._state = State.GREETED
        self._buffer = bytearray()
        self._pos = 0
        self._discarding = False
        self._discarding_auth = False
        self._processing = False
        self._paused = False
        self._replies_blocked = False
        self._pending: Deferred[Any] | None = None
        self._idle_call: IDelayedCall | None = None
        self._abort_call: IDelayedCall | None = None
        self._auth_delay: Deferred[Any] | None = None
        self._admitted = False
        self._errors = 0
        self._remote_ip = ""
        self._tls = factory.tls_at_start
        # The TLS channel's binding for SCRAM-SHA-256-PLUS, read once per TLS session.
        self._binding: ChannelBinding | None = None
        self._binding_read = False
        self._helo = ""
        self._account: str | None = None
        self._login: str | None = None
        self._mechanism: Any = None
        self._reset_transaction()

    # -- state -----------------------------------------------------------------

    @property
    def state(self) -> State:
        return self._state

    def _enter(self, new: State) -> None:
        if new not in TRANSITIONS[self._state]:
            raise RuntimeError(f"SMTP state {self._state.value} cannot go to {new.value}")
        self._state = new

    def _reset_transaction(self) -> None:
        self._mail_from: Address | None = None
        self._mail_parameters: Mapping[str, str | None] = MappingProxyType({})
        self._recipients: list[Address] = []
        self._smtputf8 = False
        self._body_8bit = False
        self._message: _MessageBuffer | None = None
        self._chunk: _Chunk | None = None

    def _end_transaction(self) -> None:
        """Back to READY (or GREETED without EHLO) with the transaction forgotten."""
        self._reset_transaction()
        self._enter(State.READY if self._helo else State.GREETED)

    def _session(self) -> Session:
        return Session(
            listener=self.factory.listener,
            remote_ip=self._remote_ip,
            helo=self._helo,
            tls=self._tls,
            tls_description=self._tls_description() if self._tls else "",
            account=self._account,
            login=self._login,
            session_id=self.session_id,
        )

    def _envelope(self) -> Envelope:
        return Envelope(
            mail_from=self._mail_from,
            recipients=tuple(self._recipients),
            mail_parameters=self._mail_parameters,
            smtputf8=self._smtputf8,
            body_8bit=self._body_8bit,
        )

    def _tls_description(self) -> str:
        try:
            handle = self.transport.getHandle()  # type: ignore[union-attr]
            if isinstance(handle, Connection):
                version = handle.get_protocol_version_name()
                cipher = handle.get_cipher_name()
                if cipher:
                    return f"{version} {cipher}"
        except Exception:
            pass
        return "TLS"

    # -- connection ------------------------------------------------------------

    def connectionMade(self) -> None:
        peer = self.transport.getPeer()  # type: ignore[union-attr]
        self._remote_ip = getattr(peer, "host", "") or ""
        self.factory.metrics.smtp_connection(self.factory.listener)
        if not self.factory.admit():
            self.log.info(
                "SMTP {listener}: refusing {ip}, too many connections",
                listener=self.factory.listener,
                ip=self._remote_ip,
            )
            self._close(codes.TOO_MANY_CONNECTIONS)
            return
        self._admitted = True
        # Twisted tells this producer when the client stops reading our replies.
        self.transport.registerProducer(_ReplyBackpressure(self), True)  # type: ignore[union-attr]
        self.log.info(
            "SMTP {listener}: session {session} from {ip}",
            listener=self.factory.listener,
            session=self.session_id,
            ip=self._remote_ip,
        )
        # RFC 5321 §4.2: the greeting carries no enhanced code (RFC 2034 §3).
        self._write(SMTPReply(220, "", f"{self.factory.hostname} ESMTP mailtwist"))
        self._restart_idle_timer()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        if self._state is not State.CLOSED:
            self._enter(State.CLOSED)
        self._cancel_idle_timer()
        if self._abort_call is not None:
            if self._abort_call.active():
                self._abort_call.cancel()
            self._abort_call = None
        if self._auth_delay is not None:
            delay, self._auth_delay = self._auth_delay, None
            delay.cancel()
        # A client gone mid-DATA leaves nothing behind.
        self._reset_transaction()
        self._buffer.clear()
        self._pos = 0
        if self._admitted:
            self._admitted = False
            self.factory.release()

    def _close(self, final: SMTPReply | None = None) -> None:
        if self._state is State.CLOSED:
            return
        if final is not None:
            self._write(final)
        self._enter(State.CLOSED)
        self._cancel_idle_timer()
        # loseConnection waits for the written replies to go out, and a TLS transport
        # for the handshake to finish: a client that never reads, or never completes
        # the handshake, would hold the connection (and its slot) for ever.
        self._abort_call = self.factory.clock.callLater(CLOSE_GRACE, self._abort)
        if self._admitted:
            # A TLS transport shuts down only once no producer is registered.
            self.transport.unregisterProducer()  # type: ignore[union-attr]
        self.transport.loseConnection()  # type: ignore[union-attr]

    def _abort(self) -> None:
        self._abort_call = None
        self.log.info(
            "SMTP session {session}: closing did not end, aborting", session=self.session_id
        )
        self.transport.abortConnection()  # type: ignore[union-attr]

    def _restart_idle_timer(self) -> None:
        self._cancel_idle_timer()
        if self._state is not State.CLOSED:
            self._idle_call = self.factory.clock.callLater(
                self.factory.idle_timeout, self._idle_timeout
            )

    def _cancel_idle_timer(self) -> None:
        if self._idle_call is not None:
            if self._idle_call.active():
                self._idle_call.cancel()
            self._idle_call = None

    def _idle_timeout(self) -> None:
        self._idle_call = None
        self.log.info("SMTP session {session}: idle timeout", session=self.session_id)
        self._close(codes.TIMEOUT)

    # -- output ----------------------------------------------------------------

    def _write(self, reply: SMTPReply) -> None:
        self.transport.write(b"".join(line + b"\r\n" for line in reply.lines()))  # type: ignore[union-attr]

    def _send(self, reply: SMTPReply | None) -> None:
        """Send a command's reply; too many protocol errors close the session."""
        if reply is None or self._state is State.CLOSED:
            return
        self._write(reply)
        if reply.code in (500, 501, 502, 503, 504, 530, 538, 555):
            self._errors += 1
            if self._errors >= self.factory.max_errors:
                self._close(codes.TOO_MANY_ERRORS)

    # -- input framing ---------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self._state is State.CLOSED:
            return
        self._buffer += data
        if self._pending is None:
            self._restart_idle_timer()
        self._process()

    def _process(self) -> None:
        if self._processing:
            return
        self._processing = True
        try:
            while (
                self._pending is None
                and not self._replies_blocked
                and self._state is not State.CLOSED
            ):
                if not self._step():
                    break
        except Exception:
            self.log.failure("SMTP session {session}: internal error", session=self.session_id)
            self._close(codes.INTERNAL_ERROR)
        finally:
            self._processing = False
        if self._pos:
            del self._buffer[: self._pos]
            self._pos = 0
        self._flow_control()

    def _flow_control(self) -> None:
        """Read from the client only while its replies go out and its input is bounded:
        a client that sends commands but never reads the replies (or floods while a
        command waits) must not make the server buffer without limit."""
        if self._state is State.CLOSED:
            return
        # Commands wait (unread input stays buffered) while a command runs or replies
        # cannot go out; reading stops only once much is buffered. Not at once: a TLS
        # transport also holds replies back until its handshake is done, and it can
        # only finish the handshake by reading.
        waiting = self._pending is not None or self._replies_blocked
        pause = waiting and len(self._buffer) > _PAUSE_BUFFERED
        if pause and not self._paused:
            self._paused = True
            self.transport.pauseProducing()  # type: ignore[union-attr]
        elif not pause and self._paused:
            self._paused = False
            self.transport.resumeProducing()  # type: ignore[union-attr]

    def replies_blocked(self, blocked: bool) -> None:
        """The transport's write buffer filled up (True) or drained (False)."""
        self._replies_blocked = blocked
        if not blocked:
            self._process()

    def _line_limit(self) -> int:
        if self._state is State.DATA:
            return TEXT_LINE_LIMIT
        if self._state is State.AUTH:
            return AUTH_LINE_LIMIT
        if self._buffer[self._pos : self._pos + 5].upper() == b"AUTH ":
            return AUTH_LINE_LIMIT
        return COMMAND_LINE_LIMIT

    def _step(self) -> bool:
        """Handle one unit of buffered input; False when more input is needed."""
        if self._state is State.BDAT:
            return self._read_chunk()
        buffer = self._buffer
        end = buffer.find(b"\n", self._pos)
        limit = self._line_limit()
        if end < 0:
            # A partial line already longer than allowed (its CR may be in it) is
            # dropped now: the rest of it is dropped as it arrives.
            if len(buffer) - self._pos > limit - 1:
                self._pos = len(buffer)
                if not self._discarding:
                    self._discarding = True
                    self._discarding_auth = limit == AUTH_LINE_LIMIT
            return False
        raw = bytes(buffer[self._pos : end])
        self._pos = end + 1
        has_cr = raw.endswith(b"\r")
        if has_cr:
            raw = raw[:-1]
        if self._discarding or len(raw) + 2 > limit:
            auth = self._discarding_auth if self._discarding else limit == AUTH_LINE_LIMIT
            self._discarding = False
            self._overlong_line(auth)
        elif self._state is State.DATA:
            self._data_line(raw, has_cr)
        elif self._state is State.AUTH:
            self._auth_response(raw)
        else:
            self._command_line(raw)
        return True

    def _overlong_line(self, auth: bool) -> None:
        """A line over its limit was discarded; ``auth`` when it was an AUTH line."""
        if self._state is State.DATA:
            # RFC 5321 §4.5.3.1.6: refuse the message after it ends; the line is
            # still content, so nothing of the body ever runs as a command.
            assert self._message is not None
            self._message.mark_line_too_long()
            self._message.after_crlf = True
            return
        if self._state is State.AUTH:
            self._mechanism = None
            self._enter(State.READY)
        if auth:
            # RFC 4954 §4: an overlong AUTH command or response gets 500 5.5.6.
            self._send(codes.AUTH_LINE_TOO_LONG)
            return
        # RFC 5321 §4.5.3.1.4: the whole overlong line is discarded.
        self._send(codes.LINE_TOO_LONG)

    # -- DATA and BDAT content -------------------------------------------------

    def _data_line(self, raw: bytes, has_cr: bool) -> None:
        message = self._message
        assert message is not None
        if raw == b"." and has_cr and message.after_crlf:
            self._end_of_message()
            return
        # Only CRLF "." CRLF ends the data: a "." line next to a bare LF stays
        # content, so a message cannot smuggle a second one past a relay.
        message.after_crlf = has_cr
        if raw.startswith(b"."):
            # RFC 5321 §4.5.2: remove the transparency dot.
            raw = raw[1:]
        if b"\r" in raw:
            # RFC 5321 §2.3.8: a bare CR is taken as a line end too, so the message
            # has CRLF line ends only and none means something else further on.
            raw = raw.replace(b"\r", b"\r\n")
        # Bare LF is taken as a line end; the message always gets CRLF.
        message.add(raw + b"\r\n")

    def _read_chunk(self) -> bool:
        chunk = self._chunk
        assert chunk is not None
        available = len(self._buffer) - self._pos
        if chunk.remaining and not available:
            return False
        take = min(available, chunk.remaining)
        if take:
            if chunk.refusal is None:
                assert self._message is not None
                self._message.add(bytes(self._buffer[self._pos : self._pos + take]))
            self._pos += take
            chunk.remaining -= take
        if not chunk.remaining:
            self._end_of_chunk()
        return True

    def _end_of_chunk(self) -> None:
        chunk = self._chunk
        assert chunk is not None
        self._chunk = None
        if chunk.refusal is not None:
            # RFC 3030 §2: the chunk's octets were consumed; now refuse it.
            if chunk.after is State.GREETED:
                self._enter(State.GREETED)
            else:
                self._end_transaction()
            self._send(chunk.refusal)
            return
        assert self._message is not None
        if chunk.last:
            self._message.end_chunks()
            self._end_of_message()
            return
        refusal = self._message.refusal()
        if refusal is not None:
            self._end_transaction()
            self._send(refusal)
            return
        self._enter(State.CHUNKING)
        self._send(codes.reply(250, codes.OTHER_UNDEFINED, f"{chunk.size} octets received"))

    def _end_of_message(self) -> None:
        message = self._message
        assert message is not None
        envelope = self._envelope()
        session = self._session()
        self._end_transaction()
        refusal = message.refusal()
        if refusal is not None:
            self._send(refusal)
            return
        data = message.data()
        self._run(
            lambda: maybeDeferred(
                self.factory.policy.accept_message, session, envelope, data
            ).addCallback(
                lambda result: (
                    result
                    if isinstance(result, SMTPReply)
                    else codes.reply(250, codes.OTHER_UNDEFINED, "message accepted")
                )
            )
        )

    # -- commands --------------------------------------------------------------

    def _command_line(self, raw: bytes) -> None:
        verb_bytes, _, argument_bytes = raw.partition(b" ")
        verb = verb_bytes.decode("ascii", "replace").upper()
        known = verb in _KNOWN_VERBS
        self.factory.metrics.smtp_command(self.factory.listener, verb if known else "other")
        if b"\r" in raw:
            # RFC 5321 §2.3.8: CR only as part of CRLF.
            self._send(codes.BARE_CR)
            return
        if not known:
            self._send(codes.UNKNOWN_COMMAND)
            return
        # No log line per command: the metrics count them, and twistd does not filter
        # debug events, so logging here would cost every message a formatted write.
        try:
            arguments = argument_bytes.decode("utf-8")
        except UnicodeDecodeError:
            self._send(codes.syntax_error("invalid UTF-8 in command"))
            return
        handler: Callable[[str], Any] = getattr(self, "_do_" + verb.lower())
        self._run(lambda: handler(arguments))

    def _run(self, command: Callable[[], SMTPReply | Deferred[Any] | None]) -> None:
        """Run a command; its reply goes out before any later command is read."""
        try:
            result = command()
        except SMTPReply as refusal:
            # Named replies are shared instances: do not keep this raise's frames.
            refusal.with_traceback(None)
            object.__setattr__(refusal, "__context__", None)
            self._send(refusal)
            return
        except Exception:
            self.log.failure("SMTP session {session}: command failed", session=self.session_id)
            self._send(codes.INTERNAL_ERROR)
            return
        if not isinstance(result, Deferred):
            self._send(result)
            return
        self._pending = result
        self._cancel_idle_timer()
        result.addCallbacks(self._send, self._command_failed)
        result.addBoth(self._command_done)

    def _command_failed(self, failure: Failure) -> None:
        if self._state is State.CLOSED:
            return
        if failure.check(SMTPReply):
            self._send(failure.value)  # type: ignore[arg-type]
            return
        self.log.failure(
            "SMTP session {session}: policy failed", failure=failure, session=self.session_id
        )
        self._send(codes.INTERNAL_ERROR)

    def _command_done(self, _: object) -> None:
        self._pending = None
        if self._state is State.CLOSED:
            return
        self._restart_idle_timer()
        self._process()

    @staticmethod
    def _client_name(verb: str, arguments: str) -> str:
        """The HELO/EHLO argument as it may be written in a Received field: a domain in
        its A-label form, an address literal, or another printable ASCII name (not
        refused: RFC 5321 §4.1.4 asks servers not to refuse a session for its name)."""
        # RFC 5321 §4.1.1.1: one argument; ignore anything a client adds after it.
        name = arguments.strip(" ").split(" ")[0]
        if not name:
            raise codes.invalid_arguments(f"{verb} requires a domain or address literal")
        try:
            return parse_domain(name).ascii
        except AddressError:
            pass
        if not _PRINTABLE_NAME.fullmatch(name):
            # Controls or 8-bit text that is no IDN: it would go into the Received field.
            raise codes.invalid_arguments(f"{verb} argument is not a domain or address literal")
        return name

    def _do_helo(self, arguments: str) -> SMTPReply:
        domain = self._client_name("HELO", arguments)
        self._reset_transaction()
        self._helo = domain
        self._enter(State.READY)
        # RFC 2034 §3: no enhanced code on the HELO/EHLO reply.
        return SMTPReply(250, "", self.factory.hostname)

    def _do_ehlo(self, arguments: str) -> SMTPReply:
        domain = self._client_name("EHLO", arguments)
        # RFC 5321 §4.1.4: EHLO resets the transaction, not the authentication.
        self._reset_transaction()
        self._helo = domain
        self._enter(State.READY)
        return SMTPReply(250, "", "\n".join([self.factory.hostname, *self._ehlo_keywords()]))

    def _ehlo_keywords(self) -> list[str]:
        factory = self.factory
        keywords = [
            "PIPELINING",  # RFC 2920
            f"SIZE {factory.max_message_size}",  # RFC 1870
            "8BITMIME",  # RFC 6152
            "SMTPUTF8",  # RFC 6531
            "ENHANCEDSTATUSCODES",  # RFC 2034
            "CHUNKING",  # RFC 3030
        ]
        if factory.tls_context_factory is not None and not self._tls:
            keywords.append("STARTTLS")  # RFC 3207
        mechanisms = self._mechanisms()
        if mechanisms:
            keywords.append("AUTH " + " ".join(mechanisms))  # RFC 4954
        for extra in factory.extra_ehlo_keywords:
            keywords.append(extra() if callable(extra) else extra)
        return keywords

    def _mechanisms(self) -> list[str]:
        factory = self.factory
        if factory.authenticator is None or factory.kind == "smtp" or self._account is not None:
            return []
        return list(
            factory.authenticator.mechanisms(
                self._tls,
                factory.allow_plaintext_auth,
                channel_binding=self._channel_binding() is not None,
            )
        )

    def _channel_binding(self) -> ChannelBinding | None:
        """The TLS channel's binding (RFC 9266), once the handshake is done; else None."""
        if not self._tls:
            return None
        if not self._binding_read:
            get_handle = getattr(self.transport, "getHandle", None)
            handle = get_handle() if get_handle is not None else None
            if isinstance(handle, Connection):
                try:
                    self._binding = tls_channel_binding(handle)
                except SSLError:
                    return None  # the handshake is not done: ask again next time
            self._binding_read = True
        return self._binding

    def _do_starttls(self, arguments: str) -> None:
        factory = self.factory
        if arguments.strip(" "):
            # RFC 3207 §4: STARTTLS takes no parameters.
            raise codes.invalid_arguments("STARTTLS takes no parameters")
        if factory.tls_context_factory is None:
            raise codes.NOT_IMPLEMENTED
        if self._tls:
            raise codes.bad_sequence("TLS already active")
        self._send(codes.STARTTLS_READY)
        # RFC 3207 §4.2 / §5: anything the client sent before the handshake is
        # discarded, and the session starts over: no HELO, no AUTH, no transaction.
        self._buffer.clear()
        self._pos = 0
        self._discarding = False
        self._reset_transaction()
        self._helo = ""
        self._account = None
        self._login = None
        self._tls = True
        self._binding, self._binding_read = None, False
        # startTLS puts the producer behind a new TLS layer, which never saw a pause
        # and so would not pass on the resume: start from "not blocked" there.
        self._replies_blocked = False
        self._enter(State.GREETED)
        self.transport.startTLS(factory.tls_context_factory)  # type: ignore[union-attr]

    def _do_auth(self, arguments: str) -> Deferred[Any]:
        factory = self.factory
        authenticator = factory.authenticator
        if authenticator is None or factory.kind == "smtp":
            raise codes.NOT_IMPLEMENTED
        if self._state is State.GREETED:
            raise codes.bad_sequence("send EHLO first")
        if self._account is not None:
            # RFC 4954 §4: only one successful AUTH per session.
            raise codes.bad_sequence("already authenticated")
        if self._state is not State.READY:
            raise codes.bad_sequence("AUTH not permitted during a mail transaction")
        words = arguments.split(" ")
        if not words[0] or len(words) > 2:
            raise codes.syntax_error("expected AUTH mechanism [initial-response]")
        name = words[0].upper()
        binding = self._channel_binding()
        offered = authenticator.mechanisms(
            self._tls, factory.allow_plaintext_auth, channel_binding=binding is not None
        )
        if name not in offered:
            if not self._tls and name in authenticator.mechanisms(True, False):
                raise codes.AUTH_NEEDS_TLS
            raise codes.AUTH_UNKNOWN_MECHANISM
        if name == "CRAM-MD5" and len(words) == 2:
            # RFC 4954 §4: a server-first mechanism takes no initial response.
            raise codes.AUTH_NO_INITIAL_RESPONSE
        limiter = factory.limiter
        if limiter is not None and not limiter.allowed(self._remote_ip):
            raise codes.AUTH_TOO_MANY_FAILURES
        initial: bytes | None = None
        if len(words) == 2:
            # RFC 4954 §4: "=" is an empty initial response.
            initial = b"" if words[1] == "=" else self._decode_response(words[1])
            if initial is None:
                raise codes.AUTH_BAD_BASE64
        try:
            self._mechanism = authenticator.start(name, binding)
        except KeyError:
            raise codes.AUTH_UNKNOWN_MECHANISM from None
        return self._sasl_step(initial)

    @staticmethod
    def _decode_response(text: str) -> bytes | None:
        """The base64-decoded SASL response, or None when it is not base64."""
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            return None

    def _auth_response(self, raw: bytes) -> None:
        if raw == b"*":
            # RFC 4954 §4: the client cancels the exchange.
            self._mechanism = None
            self._enter(State.READY)
            self._send(codes.AUTH_CANCELLED)
            return
        response = self._decode_response(raw.decode("ascii", "replace"))
        if response is None:
            self._mechanism = None
            self._enter(State.READY)
            self._send(codes.AUTH_BAD_BASE64)
            return
        self._run(lambda: self._sasl_step(response))

    def _sasl_step(self, response: bytes | None) -> Deferred[Any]:
        mechanism = self._mechanism
        d = maybeDeferred(mechanism.step, response)
        d.addCallbacks(self._sasl_outcome, self._sasl_error)
        return d

    def _sasl_outcome(self, outcome: object) -> SMTPReply | Deferred[Any] | None:
        if self._state is State.CLOSED:
            return None
        limiter = self.factory.limiter
        # Logins made in parallel may have failed up to the limit meanwhile: then this
        # result is not told, right or wrong, and comes as late as a failure would, so
        # a burst of guesses learns no more than the limit (FailedLoginLimiter). A
        # SCRAM server-final challenge is such a result too: it proves the password.
        result = not isinstance(outcome, SASLChallenge) or outcome.verified
        refused = result and limiter is not None and not limiter.allowed(self._remote_ip)
        if isinstance(outcome, SASLChallenge) and not refused:
            if self._state is not State.AUTH:
                self._enter(State.AUTH)
            # RFC 4954 §4: "334 " and the base64 challenge, no enhanced code.
            return SMTPReply(334, "", base64.b64encode(outcome.data).decode("ascii"))
        self._mechanism = None
        if self._state is State.AUTH:
            self._enter(State.READY)
        if not isinstance(outcome, SASLSuccess | SASLFailure | SASLChallenge):
            raise TypeError(f"unexpected SASL outcome {type(outcome).__name__}")
        if isinstance(outcome, SASLSuccess) and not refused:
            self._account = outcome.account
            self._login = outcome.login
            if limiter is not None:
                limiter.succeeded(self._remote_ip)
            self.log.info(
                "SMTP session {session}: authenticated as {login}",
                session=self.session_id,
                login=outcome.login,
            )
            return codes.AUTH_SUCCEEDED
        if limiter is not None:
            # Refused results count as failures whatever they were, so the counts
            # after a burst do not tell whether a hidden guess was right.
            limiter.failed(self._remote_ip)
        if isinstance(outcome, SASLFailure):
            self.log.info(
                "SMTP session {session}: authentication failed from {ip}",
                session=self.session_id,
                ip=self._remote_ip,
            )
        answer = codes.AUTH_TOO_MANY_FAILURES if refused else codes.AUTH_FAILED
        # Slow down password guessing: the reply comes after a delay.
        delay = deferLater(self.factory.clock, self.factory.auth_failure_delay, lambda: answer)
        self._auth_delay = delay

        def delivered(result: object) -> object:
            self._auth_delay = None
            return result

        return delay.addBoth(delivered)

    def _sasl_error(self, failure: Failure) -> SMTPReply | Failure:
        self._mechanism = None
        if self._state is State.AUTH:
            self._enter(State.READY)
        if failure.check(SASLMalformed):
            return codes.AUTH_BAD_BASE64
        return failure

    def _do_mail(self, arguments: str) -> Deferred[Any]:
        factory = self.factory
        if self._state is State.GREETED:
            raise codes.bad_sequence("send EHLO first")
        if self._state is not State.READY:
            # RFC 5321 §4.1.1.2: no nested MAIL command.
            raise codes.bad_sequence("nested MAIL command")
        if factory.policy.requires_auth and self._account is None:
            raise codes.AUTH_REQUIRED
        path, parameters = self._parse_arguments("FROM", arguments)
        smtputf8 = False
        body_8bit = False
        for key, value in parameters.items():
            if key == "SIZE":
                # RFC 1870 §6: refuse at MAIL when the declared size is too big.
                if value is None or not value.isdigit() or not value.isascii() or len(value) > 20:
                    raise codes.invalid_arguments("SIZE needs a number")
                if int(value) > factory.max_message_size:
                    raise codes.MESSAGE_TOO_LARGE
            elif key == "BODY":
                # RFC 6152 §3
                if value is None or value.upper() not in ("7BIT", "8BITMIME"):
                    raise codes.invalid_arguments("BODY must be 7BIT or 8BITMIME")
                body_8bit = value.upper() == "8BITMIME"
            elif key == "SMTPUTF8":
                # RFC 6531 §3.4: no value.
                if value is not None:
                    raise codes.invalid_arguments("SMTPUTF8 takes no value")
                smtputf8 = True
            elif key == "AUTH":
                # RFC 4954 §5: accepted; the policy may use it.
                if value is None:
                    raise codes.invalid_arguments("AUTH parameter needs a value")
            elif key not in factory.extra_mail_parameters:
                raise codes.unrecognized_parameter(key)
        address = self._parse_address(path, smtputf8, recipient=False)
        frozen = MappingProxyType(dict(parameters))
        d = maybeDeferred(factory.policy.check_mail_from, self._session(), address, frozen)

        def accepted(_: object) -> SMTPReply | None:
            if self._state is State.CLOSED:
                return None
            self._mail_from = address
            self._mail_parameters = frozen
            self._smtputf8 = smtputf8
            self._body_8bit = body_8bit
            self._enter(State.MAIL)
            return codes.reply(250, "1.0", "sender ok")

        return d.addCallback(accepted)

    def _do_rcpt(self, arguments: str) -> Deferred[Any]:
        factory = self.factory
        if self._state in (State.GREETED, State.READY):
            raise codes.bad_sequence("send MAIL FROM first")
        if self._state is State.CHUNKING:
            raise codes.bad_sequence("RCPT not allowed after BDAT")
        if len(self._recipients) >= factory.max_recipients:
            # RFC 5321 §4.5.3.1.8
            raise codes.RECIPIENT_LIMIT
        path, parameters = self._parse_arguments("TO", arguments)
        for key in parameters:
            # The protocol itself knows no RCPT parameter (no DSN, RFC 3461).
            if key not in factory.extra_rcpt_parameters:
                raise codes.unrecognized_parameter(key)
        address = self._parse_address(path, self._smtputf8, recipient=True)
        assert address is not None
        frozen = MappingProxyType(dict(parameters))
        d = maybeDeferred(
            factory.policy.check_rcpt_to, self._session(), self._envelope(), address, frozen
        )

        def accepted(_: object) -> SMTPReply | None:
            if self._state is State.CLOSED:
                return None
            self._recipients.append(address)
            self._enter(State.RCPT)
            return codes.reply(250, "1.5", "recipient ok")

        return d.addCallback(accepted)

    @staticmethod
    def _parse_arguments(prefix: str, arguments: str) -> tuple[str, dict[str, str | None]]:
        try:
            return parse_path_arguments(prefix, arguments)
        except ParameterError as error:
            if error.parameter:
                raise codes.invalid_arguments(str(error)) from None
            raise codes.syntax_error(str(error)) from None

    def _parse_address(self, path: str, smtputf8: bool, *, recipient: bool) -> Address | None:
        if not path.isascii() and not smtputf8:
            # RFC 6531 §3.7.4.1: a UTF-8 address needs SMTPUTF8 on MAIL.
            raise codes.NON_ASCII_WITHOUT_SMTPUTF8
        detail = codes.BAD_DESTINATION_SYNTAX if recipient else codes.BAD_SENDER_SYNTAX
        if recipient and path.lower() == "<postmaster>":
            # RFC 5321 §4.1.1.3: "Postmaster" without a domain is ours.
            try:
                return Address("postmaster", parse_domain(self.factory.hostname))
            except AddressError:
                raise codes.reply(501, detail, "no postmaster here") from None
        try:
            address = parse_path(path, allow_utf8=smtputf8)
        except AddressError as error:
            raise codes.reply(501, detail, f"bad address: {error}") from None
        if address is None and recipient:
            raise codes.reply(501, detail, "null recipient <> not allowed")
        return address

    def _do_data(self, arguments: str) -> SMTPReply:
        if arguments.strip(" "):
            raise codes.invalid_arguments("DATA takes no parameters")
        if self._state is State.CHUNKING:
            # RFC 3030 §2: DATA and BDAT do not mix in one transaction.
            raise codes.bad_sequence("cannot mix DATA and BDAT")
        if self._state is State.MAIL:
            # RFC 2920 §3.1
            raise codes.NO_RECIPIENTS
        if self._state is not State.RCPT:
            raise codes.bad_sequence("send MAIL FROM and RCPT TO first")
        self._message = _MessageBuffer(self.factory.max_message_size)
        self._enter(State.DATA)
        return SMTPReply(354, "", "end data with <CR><LF>.<CR><LF>")

    def _do_bdat(self, arguments: str) -> None:
        # RFC 3030 §2: "BDAT" SP chunk-size [SP end-marker]
        words = arguments.split(" ")
        size_text = words[0]
        if not (size_text.isascii() and size_text.isdigit()) or len(size_text) > 18:
            # Where this chunk's octets end cannot be known, so nothing after this
            # line can be read as a command: reading on would run the chunk's content
            # as commands (SMTP smuggling). The session ends here.
            self._close(codes.BDAT_UNREADABLE)
            return
        size = int(size_text)
        refusal: SMTPReply | None = None
        if len(words) > 2 or (len(words) == 2 and words[1].upper() != "LAST"):
            # The size is known: its octets are consumed (never run as commands),
            # then the command is refused and the message with it.
            refusal = codes.invalid_arguments("expected BDAT chunk-size [LAST]")
        elif self._state is State.MAIL:
            refusal = codes.NO_RECIPIENTS
        elif self._state not in (State.RCPT, State.CHUNKING):
            refusal = codes.bad_sequence("send MAIL FROM and RCPT TO first")
        elif self._message is None:
            self._message = _MessageBuffer(self.factory.max_message_size)
        self._chunk = _Chunk(size, len(words) == 2, refusal, self._state)
        self._enter(State.BDAT)
        if not size:
            self._end_of_chunk()

    def _do_rset(self, arguments: str) -> SMTPReply:
        # RFC 5321 §4.1.1.5: "RSET" CRLF, no parameters.
        if arguments.strip(" "):
            raise codes.invalid_arguments("RSET takes no parameters")
        self._end_transaction()
        return codes.RESET

    def _do_noop(self, arguments: str) -> SMTPReply:
        return codes.OK

    def _do_quit(self, arguments: str) -> None:
        self._close(codes.CLOSING)

    def _do_vrfy(self, arguments: str) -> SMTPReply:
        # RFC 5321 §4.1.1.6: "VRFY" SP String; §3.5.3: 252 when we will not say.
        if not arguments.strip(" "):
            raise codes.syntax_error("VRFY needs an argument")
        return codes.VRFY_CANNOT

    def _do_expn(self, arguments: str) -> SMTPReply:
        raise codes.NOT_IMPLEMENTED

    def _do_help(self, arguments: str) -> SMTPReply:
        return codes.HELP


__all__ = [
    "AUTH_LINE_LIMIT",
    "COMMAND_LINE_LIMIT",
    "TEXT_LINE_LIMIT",
    "ESMTPServerProtocol",
    "State",
]
