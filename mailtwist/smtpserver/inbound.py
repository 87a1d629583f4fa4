"""The inbound policy: which recipients are ours, and storing their mail into Inbox."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from mailtwist.address import Address
from mailtwist.message.headers import format_received, prepend_fields, received_protocol
from mailtwist.smtp.reply import SMTPReply
from mailtwist.smtpserver._interfaces import Envelope, ISessionPolicy, Session
from mailtwist.smtpserver.submission import (
    AddressDirectory,
    default_message_id,
    header_address,
    temporary_failure,
)
from mailtwist.store.records import MailboxDelivery, StoredMessage

_log = Logger()

#: The mailbox incoming mail is stored in.
INBOX = "Inbox"


@implementer(ISessionPolicy)
class InboundPolicy:
    """Mail from anyone to addresses of our accounts; no relaying."""

    requires_auth = False

    def __init__(
        self,
        *,
        hostname: str,
        directory: AddressDirectory,
        deliver: Callable[[Sequence[MailboxDelivery]], Deferred[list[StoredMessage]]],
        clock: IReactorTime,
        catchall_account: str | None = None,
        make_id: Callable[[], str] | None = None,
        on_stored: Callable[[StoredMessage, bytes], object] | None = None,
    ) -> None:
        """``on_stored(message, data)`` hears of each message once it is durable
        (incoming webhooks and DSN matching, issue 5); its failures never reach the client.
        """
        self._on_stored = on_stored
        self._hostname = hostname
        self._directory = directory
        self._deliver = deliver
        self._clock = clock
        self._catchall_account = catchall_account
        self._make_id = make_id or default_message_id

    def account_for_recipient(self, recipient: Address) -> str:
        """The account that receives mail for ``recipient``, or the refusal."""
        if not self._directory.is_local_domain(recipient.domain):
            # RFC 5321 §3.6.2 / RFC 3463 X.7.1: we are no open relay.
            raise SMTPReply(550, "5.7.1", "relaying not allowed")
        account = self._directory.account_for_address(recipient)
        if account is not None:
            return account
        if self._catchall_account is not None:
            # localserve: mail to unknown local addresses goes to one account.
            return self._catchall_account
        # RFC 3463 §3.2 X.1.1: bad destination mailbox address.
        raise SMTPReply(550, "5.1.1", "no such user")

    def check_mail_from(
        self, session: Session, mail_from: Address | None, parameters: Mapping[str, str | None]
    ) -> None:
        """Accept any sender, the null path too (RFC 5321 §4.5.5: DSNs use it)."""

    def check_rcpt_to(
        self,
        session: Session,
        envelope: Envelope,
        recipient: Address,
        parameters: Mapping[str, str | None],
    ) -> None:
        """Accept a recipient of one of our accounts (or the catchall)."""
        self.account_for_recipient(recipient)

    def accept_message(
        self, session: Session, envelope: Envelope, data: bytes
    ) -> Deferred[SMTPReply]:
        """Store the message once per account into Inbox; 250 once durable."""
        return maybeDeferred(self._accept, session, envelope, data)

    def _accept(self, session: Session, envelope: Envelope, data: bytes) -> Deferred[SMTPReply]:
        if not envelope.recipients:
            # RFC 5321 §3.3: DATA needs at least one accepted recipient.
            raise SMTPReply(503, "5.5.1", "no valid recipients")
        # One copy per account, even when several of its addresses are recipients.
        recipients: dict[str, Address] = {}
        for address in envelope.recipients:
            recipients.setdefault(self.account_for_recipient(address), address)

        recipient = None
        if len(envelope.recipients) == 1:
            recipient = header_address(envelope.recipients[0], envelope.smtputf8)
        received = format_received(
            helo=session.helo,
            remote_ip=session.remote_ip,
            hostname=self._hostname,
            protocol=received_protocol(
                tls=session.tls,
                authenticated=session.account is not None,
                smtputf8=envelope.smtputf8,
            ),
            id=session.session_id or self._make_id(),
            recipient=recipient,
            timestamp=self._clock.seconds(),
            tls_description=session.tls_description,
        )
        # RFC 5321 §4.4: each relay prepends its Received field.
        message = prepend_fields(data, [("Received", received)])
        mail_from = "" if envelope.mail_from is None else str(envelope.mail_from)
        deliveries = [
            MailboxDelivery(
                account=account,
                mailbox=INBOX,
                mail_from=mail_from,
                rcpt_to=str(address),
                data=message,
                remote_ip=session.remote_ip,
                notify=True,
            )
            for account, address in recipients.items()
        ]
        d = maybeDeferred(self._deliver, deliveries)
        d.addCallback(self._tell_stored, message)
        return d.addCallbacks(_delivered_reply, temporary_failure, errbackArgs=("delivery",))

    def _tell_stored(self, stored: list[StoredMessage], data: bytes) -> list[StoredMessage]:
        if self._on_stored is not None:
            for message in stored:
                try:
                    self._on_stored(message, data)
                except Exception:
                    _log.failure("after storing message {id}", id=message.id)
        return stored


def _delivered_reply(stored: list[StoredMessage]) -> SMTPReply:
    return SMTPReply(250, "2.0.0", "message delivered")


__all__ = ["INBOX", "InboundPolicy"]
