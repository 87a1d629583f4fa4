"""The submission policy: what an authenticated account may send, and handing it to the queue."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from twisted.internet.defer import Deferred, FirstError, maybeDeferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from mailtwist.address import Address, AddressError, Domain, parse_header_addresses
from mailtwist.dkim.sign import MessageSigner, sign_message
from mailtwist.message.headers import (
    HeaderError,
    extra_from_fields,
    field_values,
    format_date,
    format_received,
    has_field,
    parse_fields,
    prepend_fields,
    received_protocol,
    split_message,
)
from mailtwist.queue.scheduler import Submit
from mailtwist.smtp.reply import SMTPReply
from mailtwist.smtpserver._interfaces import Envelope, ISessionPolicy, Session
from mailtwist.store import FromIDNotUnique
from mailtwist.store.records import NewMessage, QueuedMessage

_log = Logger()

# RFC 3463 §3.8 X.7.1: "delivery not authorized, message refused".
_NOT_AUTHORIZED = "5.7.1"
# RFC 3463 §3.7 X.6.0: "other or undefined media error".
_MEDIA_ERROR = "5.6.0"
# RFC 3463 §3.6 X.5.4: "invalid command arguments"; X.5.2 "syntax error".
_BAD_PARAMETERS = "5.5.4"
_SYNTAX = "5.5.2"
# RFC 3463 §3.6 X.5.3: "too many recipients".
_TOO_MANY_RECIPIENTS = "5.5.3"
# RFC 3463 §3.2 X.1.7: "bad sender's mailbox address syntax".
_BAD_SENDER = "5.1.7"

#: RFC 4865 §3: the longest future release we offer, 60 days as mox (spec §12).
FUTURE_RELEASE_MAX = timedelta(days=60)
#: The MAIL FROM parameters of RFC 4865 §3 that submission listeners accept.
FUTURE_RELEASE_PARAMETERS = ("HOLDFOR", "HOLDUNTIL")

# RFC 4865 §3 (errata 2040): future-release-integer is 1*9DIGIT; no leading zero
# and no zero, as mox.
_HOLDFOR = re.compile(r"[1-9][0-9]{0,8}\Z")
# RFC 3339 §5.6 date-time, RFC 4865 §3: in UTC, so it must end in "Z".
_HOLDUNTIL = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?Z\Z"
)


class AddressDirectory(Protocol):
    """What the policies use of the loaded config."""

    def account_for_address(self, address: Address) -> str | None:
        """The account of an address (catchall variants too, case-insensitive), or None."""

    def is_local_domain(self, domain: Domain) -> bool:
        """Whether mail for the domain is ours."""


class SenderDirectory(AddressDirectory, Protocol):
    """What the submission policy uses of the config, beyond addresses: fromid."""

    def uses_fromid(self, account: str, login: str | None) -> bool:
        """Whether this login of the account sends with a unique MAIL FROM (spec §7.1)."""

    def fromid_separator(self, domain: Domain) -> str | None:
        """The separator before a fromid in the domain (spec §7.2), or None."""


def default_message_id() -> str:
    """A random left-hand side for Message-ID and Received ids (dot-atom text)."""
    return secrets.token_urlsafe(18)


def new_fromid() -> str:
    """A random fromid: 16 random bytes, base64url without padding, 22 characters (spec §7.2)."""
    return secrets.token_urlsafe(16)


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def future_release_keyword(clock: IReactorTime) -> Callable[[], str]:
    """The EHLO keyword of RFC 4865 §3, computed at each EHLO from the clock.

    ``FUTURERELEASE <max interval in seconds> <now + max interval, RFC 3339 UTC>``.
    """
    seconds = int(FUTURE_RELEASE_MAX.total_seconds())

    def keyword() -> str:
        latest = datetime.fromtimestamp(clock.seconds(), UTC) + FUTURE_RELEASE_MAX
        return f"FUTURERELEASE {seconds} {_utc_text(latest)}"

    return keyword


@dataclass(frozen=True)
class FutureRelease:
    """When a submitted message is released to delivery, and the request as stored.

    ``request`` is ``for;<seconds>`` or ``until;<date-time as given>`` (spec §4.1).
    """

    at: datetime
    request: str


def _holduntil(text: str) -> datetime:
    match = _HOLDUNTIL.match(text)
    if match is None:
        raise ValueError("HOLDUNTIL must be a UTC date-time like 2026-01-02T03:04:05Z")
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    fraction = match.group(7) or ""
    microsecond = int((fraction[1:] + "000000")[:6]) if fraction else 0
    try:
        return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)
    except ValueError as e:
        raise ValueError(f"HOLDUNTIL {text}: {e}") from None


def future_release(
    parameters: Mapping[str, str | None], now: float, *, check: bool = True
) -> FutureRelease | None:
    """The release time asked with HOLDFOR or HOLDUNTIL (RFC 4865 §3), or None.

    With ``check``, a request that cannot be honoured is refused with the reply of
    spec §12; without, the time is computed as asked (at DATA, after MAIL FROM
    checked it, a release that has become due is simply due).
    """
    holdfor = parameters.get("HOLDFOR", "")
    holduntil = parameters.get("HOLDUNTIL", "")
    if "HOLDFOR" in parameters and "HOLDUNTIL" in parameters:
        # RFC 4865 §3: one hold-param. The text, typo included, is mox's (spec §12).
        raise SMTPReply(501, _BAD_PARAMETERS, "cannot use both HOLDUNTIL and HOLFOR")
    start = datetime.fromtimestamp(now, UTC)
    if "HOLDFOR" in parameters:
        if holdfor is None or not _HOLDFOR.match(holdfor):
            raise SMTPReply(
                501, _SYNTAX, "bad syntax: HOLDFOR must be 1 to 9 digits without leading zero"
            )
        seconds = int(holdfor)
        if check and seconds > FUTURE_RELEASE_MAX.total_seconds():
            # RFC 4865 §3: more than the advertised interval is refused.
            raise SMTPReply(554, _BAD_PARAMETERS, "future release interval too far in the future")
        return FutureRelease(start + timedelta(seconds=seconds), f"for;{seconds}")
    if "HOLDUNTIL" in parameters:
        try:
            if holduntil is None:
                raise ValueError("HOLDUNTIL needs a value")
            at = _holduntil(holduntil)
        except ValueError as e:
            raise SMTPReply(501, _SYNTAX, f"bad syntax: {e}") from None
        if check and at <= start:
            # Most likely a mistake of the user: refuse rather than send at once.
            raise SMTPReply(554, _BAD_PARAMETERS, "requested future release time is in the past")
        if check and at - start > FUTURE_RELEASE_MAX:
            # RFC 4865 §3: later than the advertised date-time is refused.
            raise SMTPReply(
                554, _BAD_PARAMETERS, "requested future release time is too far in the future"
            )
        return FutureRelease(at, f"until;{holduntil}")
    return None


def header_address(address: Address, smtputf8: bool) -> str:
    """An address for a header: the Unicode form only in an SMTPUTF8 message.

    RFC 6531 §3.7.3: without SMTPUTF8 the header must stay ASCII, so the domain
    is written in its IDNA ASCII form.
    """
    if smtputf8 or not address.is_ascii:
        return str(address)
    return address.ascii()


def temporary_failure(failure: Failure, what: str, doing: str = "storing") -> Failure:
    """Pass a refusal through; turn anything else into ``451 4.3.0`` (logged)."""
    if failure.check(SMTPReply):
        return failure
    _log.failure("{what} failed", failure, what=what)
    # RFC 3463 §3.5 X.3.0: "other or undefined mail system status".
    return Failure(SMTPReply(451, "4.3.0", f"temporary failure {doing} the message, try again"))


@implementer(ISessionPolicy)
class SubmissionPolicy:
    """Messages from an authenticated account, to any recipient, into the queue.

    With a ``signer`` each message is DKIM-signed for its From domain before it is
    queued; ``run_in_thread`` runs the signatures that are not cheap (sign_message).
    """

    requires_auth = True

    def __init__(
        self,
        *,
        hostname: str,
        directory: SenderDirectory,
        submit: Submit,
        clock: IReactorTime,
        make_id: Callable[[], str] | None = None,
        make_fromid: Callable[[], str] | None = None,
        signer: MessageSigner | None = None,
        run_in_thread: Callable[..., Deferred[Any]] = deferToThread,
    ) -> None:
        self._hostname = hostname
        self._directory = directory
        self._submit = submit
        self._clock = clock
        self._make_id = make_id or default_message_id
        self._make_fromid = make_fromid or new_fromid
        self._signer = signer
        self._run_in_thread = run_in_thread

    def _account(self, session: Session) -> str:
        if session.account is None:
            # RFC 4954 §6: 530 5.7.0 when authentication is required.
            raise SMTPReply(530, "5.7.0", "authentication required")
        return session.account

    def _check_sender(self, session: Session, mail_from: Address | None) -> str:
        account = self._account(session)
        if mail_from is None:
            # A submitted message always has an author who gets its DSNs.
            raise SMTPReply(550, _NOT_AUTHORIZED, "null sender not allowed for submission")
        if self._directory.account_for_address(mail_from) != account:
            raise SMTPReply(
                550, _NOT_AUTHORIZED, "MAIL FROM address not allowed for authenticated account"
            )
        return account

    def check_mail_from(
        self, session: Session, mail_from: Address | None, parameters: Mapping[str, str | None]
    ) -> None:
        """Accept only an address of the authenticated account, and a valid future release."""
        self._check_sender(session, mail_from)
        future_release(parameters, self._clock.seconds())

    def check_rcpt_to(
        self,
        session: Session,
        envelope: Envelope,
        recipient: Address,
        parameters: Mapping[str, str | None],
    ) -> None:
        """Accept any recipient: the queue delivers to local and remote addresses."""
        self._account(session)

    def accept_message(
        self, session: Session, envelope: Envelope, data: bytes
    ) -> Deferred[SMTPReply]:
        """Check the message header, complete it and queue it; 250 once durable."""
        return maybeDeferred(self._accept, session, envelope, data)

    def _accept(self, session: Session, envelope: Envelope, data: bytes) -> Deferred[SMTPReply]:
        account = self._check_sender(session, envelope.mail_from)
        assert envelope.mail_from is not None
        if not envelope.recipients:
            # RFC 5321 §3.3: DATA needs at least one accepted recipient.
            raise SMTPReply(503, "5.5.1", "no valid recipients")
        try:
            header, _ = split_message(data)
            fields = parse_fields(header)
            extra = extra_from_fields(fields)
        except HeaderError as e:
            raise SMTPReply(554, _MEDIA_ERROR, str(e)) from None
        from_domains = self._check_from_header(account, field_values(fields, "From"))

        now = self._clock.seconds()
        added: list[tuple[str, str]] = []
        message_ids = field_values(fields, "Message-ID")
        if message_ids:
            message_id = message_ids[0].decode("utf-8", "replace")
        else:
            # RFC 5322 §3.6.4: every message should have a Message-ID.
            message_id = f"<{self._make_id()}@{self._hostname}>"
            added.append(("Message-ID", message_id))
        if not has_field(fields, "Date"):
            # RFC 5322 §3.6: the origination date is required; RFC 6409 §8.3 lets
            # the submission server add it.
            added.append(("Date", format_date(now)))
        subjects = field_values(fields, "Subject")
        subject = subjects[0].decode("utf-8", "replace") if subjects else ""

        recipient = None
        if len(envelope.recipients) == 1:
            recipient = header_address(envelope.recipients[0], envelope.smtputf8)
        received = format_received(
            helo=session.helo,
            remote_ip=session.remote_ip,
            hostname=self._hostname,
            protocol=received_protocol(
                tls=session.tls, authenticated=True, smtputf8=envelope.smtputf8
            ),
            id=session.session_id or self._make_id(),
            recipient=recipient,
            timestamp=now,
            tls_description=session.tls_description,
        )
        signing: Deferred[bytes] = succeed(prepend_fields(data, added))
        signer = self._signer
        if signer is not None:

            def sign_for(message: bytes, domain: Domain) -> Deferred[bytes]:
                return sign_message(signer, message, domain, self._run_in_thread)

            # Spec §10.2: signed with the selectors of the From address's domain, the
            # Message-ID and Date added above included; a From with addresses in
            # several domains is signed for each, so each can align (RFC 7489 §3.1).
            for domain in from_domains:
                signing = signing.addCallback(sign_for, domain)
        # RFC 5321 §4.4: the Received field goes in front of all others.
        return signing.addCallbacks(
            lambda signed: self._queue(
                session,
                envelope,
                account,
                prepend_fields(signed, [("Received", received)]),
                message_id,
                subject,
                extra,
                now,
            ),
            # DKIMSigner sends a message it cannot sign unsigned (spec §11.3): what
            # gets here is unexpected; nothing is queued and the client may try again.
            temporary_failure,
            errbackArgs=("DKIM signing", "signing"),
        )

    def _queue(
        self,
        session: Session,
        envelope: Envelope,
        account: str,
        message: bytes,
        message_id: str,
        subject: str,
        extra: Mapping[str, str],
        now: float,
    ) -> Deferred[SMTPReply]:
        """Queue the completed message; 250 once durable."""
        assert envelope.mail_from is not None
        release = future_release(envelope.mail_parameters, now, check=False)
        new = NewMessage(
            account=account,
            sender=str(envelope.mail_from),
            recipients=tuple(str(r) for r in envelope.recipients),
            data=message,
            message_id=message_id,
            subject=subject,
            has8bit=not message.isascii(),
            smtputf8=envelope.smtputf8,
            next_attempt=release.at if release else None,
            future_release_request=release.request if release else "",
            extra=extra,
            origin="submission",
        )
        if self._directory.uses_fromid(account, session.login):
            return self._submit_with_fromids(new, envelope.mail_from, envelope.recipients)
        return maybeDeferred(self._submit, new).addCallbacks(
            _queued_reply, temporary_failure, errbackArgs=("queueing",)
        )

    def _submit_with_fromids(
        self, new: NewMessage, mail_from: Address, recipients: tuple[Address, ...]
    ) -> Deferred[SMTPReply]:
        """Queue one message per recipient, each with its own MAIL FROM (spec §7.2).

        The reply is 250 only once all of them are durable.
        """
        separator = self._directory.fromid_separator(mail_from.domain)
        if separator is None:
            raise SMTPReply(
                554,
                _BAD_SENDER,
                f"domain {mail_from.domain.unicode} has no catchall separator for a fromid",
            )
        base, found, chosen = mail_from.localpart.partition(separator)
        if found:
            # spec §7.2: the client chose the fromid; it names exactly one message.
            if not chosen:
                raise SMTPReply(554, _BAD_SENDER, "bad fromid in smtp mail from address: empty")
            if len(recipients) > 1:
                raise SMTPReply(
                    554,
                    _TOO_MANY_RECIPIENTS,
                    "cannot send to multiple recipients with chosen fromid",
                )
            messages = [replace(new, from_id=chosen)]
        else:
            messages = []
            for recipient in recipients:
                from_id = self._make_fromid()
                try:
                    sender = Address(base + separator + from_id, mail_from.domain)
                except AddressError as e:
                    raise SMTPReply(
                        554, _BAD_SENDER, f"cannot make a fromid address: {e}"
                    ) from None
                messages.append(
                    replace(new, sender=str(sender), recipients=(str(recipient),), from_id=from_id)
                )
        # One transaction for all of them: the client gets 250 for all or for none.
        d: Deferred[list[QueuedMessage]] = maybeDeferred(self._submit, *messages)
        return d.addCallbacks(_queued_reply, _fromid_failure)

    def _check_from_header(self, account: str, values: list[bytes]) -> list[Domain]:
        """The distinct domains of the From addresses, once each is checked to be the
        account's."""
        if len(values) != 1:
            # RFC 5322 §3.6: exactly one From field.
            raise SMTPReply(554, _MEDIA_ERROR, "message must have exactly one From header")
        try:
            addresses = parse_header_addresses(values[0].decode("utf-8"))
        except (UnicodeError, AddressError):
            raise SMTPReply(554, _MEDIA_ERROR, "cannot parse From header address") from None
        if not addresses:
            raise SMTPReply(554, _MEDIA_ERROR, "From header has no address")
        for _, address in addresses:
            if self._directory.account_for_address(address) != account:
                raise SMTPReply(
                    550,
                    _NOT_AUTHORIZED,
                    "From header address not allowed for authenticated account",
                )
        return list(dict.fromkeys(address.domain for _, address in addresses))


def _fromid_failure(failure: Failure) -> Any:
    if isinstance(failure.value, FirstError):
        failure = failure.value.subFailure
    if failure.check(FromIDNotUnique):
        # spec §7.2: a fromid already used by a queued or retired message.
        return Failure(
            SMTPReply(554, _BAD_SENDER, "bad fromid in smtp mail from address: already used")
        )
    return temporary_failure(failure, "queueing")


def _queued_reply(queued: list[QueuedMessage]) -> SMTPReply:
    if not queued:
        return SMTPReply(250, "2.0.0", "message queued")
    return SMTPReply(250, "2.0.0", f"message queued as {queued[0].id}")


__all__ = [
    "FUTURE_RELEASE_MAX",
    "FUTURE_RELEASE_PARAMETERS",
    "AddressDirectory",
    "FutureRelease",
    "SenderDirectory",
    "SubmissionPolicy",
    "default_message_id",
    "future_release",
    "future_release_keyword",
    "header_address",
    "new_fromid",
    "temporary_failure",
]
