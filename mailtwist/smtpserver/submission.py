"""The submission policy: what an authenticated account may send, and handing it to the queue."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from typing import Protocol

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from mailtwist.address import Address, AddressError, Domain, parse_header_addresses
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
from mailtwist.smtp.reply import SMTPReply
from mailtwist.smtpserver._interfaces import Envelope, ISessionPolicy, Session
from mailtwist.store.records import NewMessage, QueuedMessage

_log = Logger()

# RFC 3463 §3.8 X.7.1: "delivery not authorized, message refused".
_NOT_AUTHORIZED = "5.7.1"
# RFC 3463 §3.7 X.6.0: "other or undefined media error".
_MEDIA_ERROR = "5.6.0"


class AddressDirectory(Protocol):
    """What the policies use of the loaded config."""

    def account_for_address(self, address: Address) -> str | None:
        """The account of an address (catchall variants too, case-insensitive), or None."""

    def is_local_domain(self, domain: Domain) -> bool:
        """Whether mail for the domain is ours."""


def default_message_id() -> str:
    """A random left-hand side for Message-ID and Received ids (dot-atom text)."""
    return secrets.token_urlsafe(18)


def header_address(address: Address, smtputf8: bool) -> str:
    """An address for a header: the Unicode form only in an SMTPUTF8 message.

    RFC 6531 §3.7.3: without SMTPUTF8 the header must stay ASCII, so the domain
    is written in its IDNA ASCII form.
    """
    if smtputf8 or not address.is_ascii:
        return str(address)
    return address.ascii()


def temporary_failure(failure: Failure, what: str) -> Failure:
    """Pass a refusal through; turn anything else into ``451 4.3.0`` (logged)."""
    if failure.check(SMTPReply):
        return failure
    _log.failure("{what} failed", failure, what=what)
    # RFC 3463 §3.5 X.3.0: "other or undefined mail system status".
    return Failure(SMTPReply(451, "4.3.0", "temporary failure storing the message, try again"))


@implementer(ISessionPolicy)
class SubmissionPolicy:
    """Messages from an authenticated account, to any recipient, into the queue."""

    requires_auth = True

    def __init__(
        self,
        *,
        hostname: str,
        directory: AddressDirectory,
        submit: Callable[[NewMessage], Deferred[list[QueuedMessage]]],
        clock: IReactorTime,
        make_id: Callable[[], str] | None = None,
    ) -> None:
        self._hostname = hostname
        self._directory = directory
        self._submit = submit
        self._clock = clock
        self._make_id = make_id or default_message_id

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
        """Accept only an address of the authenticated account."""
        self._check_sender(session, mail_from)

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
        self._check_from_header(account, field_values(fields, "From"))

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
        # RFC 5321 §4.4: the Received field goes in front of all others.
        message = prepend_fields(data, [("Received", received), *added])
        new = NewMessage(
            account=account,
            sender=str(envelope.mail_from),
            recipients=tuple(str(r) for r in envelope.recipients),
            data=message,
            message_id=message_id,
            subject=subject,
            has8bit=not message.isascii(),
            smtputf8=envelope.smtputf8,
            extra=extra,
        )
        return maybeDeferred(self._submit, new).addCallbacks(
            _queued_reply, temporary_failure, errbackArgs=("queueing",)
        )

    def _check_from_header(self, account: str, values: list[bytes]) -> None:
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


def _queued_reply(queued: list[QueuedMessage]) -> SMTPReply:
    if not queued:
        return SMTPReply(250, "2.0.0", "message queued")
    return SMTPReply(250, "2.0.0", f"message queued as {queued[0].id}")


__all__ = [
    "AddressDirectory",
    "SubmissionPolicy",
    "default_message_id",
    "header_address",
    "temporary_failure",
]
