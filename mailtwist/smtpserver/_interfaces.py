"""What the ESMTP server protocol asks of the policy that decides about mail."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from zope.interface import Attribute, Interface

from mailtwist.address import Address


@dataclass(frozen=True)
class Session:
    """What is known about an SMTP session when the policy is asked."""

    listener: str
    remote_ip: str
    helo: str
    tls: bool
    tls_description: str = ""
    account: str | None = None
    login: str | None = None
    session_id: str = ""


@dataclass(frozen=True)
class Envelope:
    """One mail transaction: the MAIL FROM path and accepted RCPT TO paths.

    ``mail_from`` is None for the null reverse-path ``<>``. ``mail_parameters`` are
    the MAIL FROM ESMTP parameters with upper-cased keys (value None when the
    parameter has no ``=value``).
    """

    mail_from: Address | None
    recipients: tuple[Address, ...]
    mail_parameters: Mapping[str, str | None] = field(default_factory=dict)
    smtputf8: bool = False
    body_8bit: bool = False


class ISessionPolicy(Interface):
    """Decides about a session's mail: submission and inbound implement this.

    Refusals are an ``SMTPReply`` raised or used as the Deferred's failure; the
    protocol sends it as is. Any other exception becomes ``451 4.3.0``, logged,
    never shown to the client.
    """

    requires_auth = Attribute("bool: MAIL FROM needs a successful AUTH first")

    def check_mail_from(session, mail_from, parameters):  # type: ignore[no-untyped-def]
        """Accept or refuse MAIL FROM. Deferred[None] or None."""

    def check_rcpt_to(session, envelope, recipient, parameters):  # type: ignore[no-untyped-def]
        """Accept or refuse one RCPT TO, given the envelope so far. Deferred[None] or None."""

    def accept_message(session, envelope, data):  # type: ignore[no-untyped-def]
        """Take the message (bytes, CRLF line endings, dot-unstuffed).

        Fires with the success SMTPReply (250) only once the message is durable.
        """


__all__ = ["Envelope", "ISessionPolicy", "Session"]
