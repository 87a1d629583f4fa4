"""Delivery into local mailboxes: simulated (localserve) or for local accounts only (production)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from mailtwist.address import Address, AddressError, Domain, parse_address
from mailtwist.queue.transport import DeliveryResult, ITransport
from mailtwist.store.records import MailboxDelivery, QueuedMessage

log = Logger()

#: The mailbox local deliveries go to.
INBOX = "Inbox"

#: How long a ``timeout`` localpart keeps the attempt waiting before a 451 (spec §9.3).
TIMEOUT_SECONDS = 3600.0

_CODE_SUFFIX = re.compile(r"([0-9]{3})\Z")


class LocalDirectory(Protocol):
    """What the transport needs of the configuration."""

    def account_for_address(self, address: Address) -> str | None: ...

    def is_local_domain(self, domain: Domain) -> bool: ...


@dataclass(frozen=True)
class SpecialFailure:
    """A failure a special localpart asks for (spec §9.3).

    ``code`` is None for ``timeout``: no answer at all.
    """

    stage: str
    code: int | None


def special_failure(localpart: str, *, sender: bool = False) -> SpecialFailure | None:
    """The failure a localpart asks for, or None for a normal delivery.

    spec §9.3: suffixes are checked in the order temperror, permerror, timeout,
    NNN (400 <= NNN <= 599); the prefix picks the SMTP stage: ``mailfrom`` -> MAIL
    FROM, ``rcptto`` -> RCPT TO, otherwise DATA. A sender localpart only fails with
    the ``mailfrom`` prefix, as in mox where MAIL FROM is the only check on it.
    """
    lower = localpart.lower()
    code: int | None
    if lower.endswith("temperror"):
        code = 451
    elif lower.endswith("permerror"):
        code = 550
    elif lower.endswith("timeout"):
        code = None
    else:
        match = _CODE_SUFFIX.search(lower)
        # spec §9.3 says up to 600; 600 is no SMTP code (RFC 5321 §4.2), so 599.
        if match is None or not 400 <= int(match.group(1)) <= 599:
            return None
        code = int(match.group(1))
    if lower.startswith("mailfrom"):
        return SpecialFailure("MAIL FROM", code)
    if sender:
        return None
    if lower.startswith("rcptto"):
        return SpecialFailure("RCPT TO", code)
    return SpecialFailure("DATA", code)


@implementer(ITransport)
class LocalDeliveryTransport:
    """Delivers into the recipient's account if local, else into the sender's Inbox.

    Nothing leaves the machine. Special localparts (spec §9.3) fail the attempt
    with the code they name, through the same result and retry path as SMTP.

    With ``simulate=False`` (production, until the SMTP client exists) only local
    accounts are delivered to, no localpart is special, and a remote recipient is a
    temporary failure that names the missing route, so the message waits in the
    queue and stays visible instead of landing in the wrong mailbox.
    """

    def __init__(
        self,
        *,
        directory: LocalDirectory,
        clock: IReactorTime,
        hostname: str,
        simulate: bool = True,
    ) -> None:
        self._directory = directory
        self._clock = clock
        self._hostname = hostname
        self._simulate = simulate

    def deliver(self, message: QueuedMessage, data: bytes) -> Deferred[DeliveryResult]:
        try:
            recipient = parse_address(message.recipient)
        except AddressError as e:
            # RFC 5321 §4.2.3: 501 for a syntax error in an address; it will not get better.
            return succeed(
                DeliveryResult(
                    attempt_code=501,
                    secode="1.3",
                    reply=f"501 5.1.3 bad recipient address: {e}",
                    error=f"RCPT TO: 501 5.1.3 bad recipient address: {e}",
                    remote_host="localhost",
                    permanent=True,
                )
            )
        if self._simulate:
            failure = self._sender_failure(message.sender) or special_failure(recipient.localpart)
            if failure is not None:
                if failure.code is None:
                    return self._no_answer(failure)
                return succeed(_failed(failure.stage, failure.code))
        account = self._recipient_account(recipient)
        if account is None and not self._simulate:
            return succeed(
                DeliveryResult.temporary_failure(
                    f"no route to {recipient.domain.unicode}: this server delivers to its "
                    "own accounts only (outgoing SMTP is not available yet)"
                )
            )
        account = account or message.account
        delivery = MailboxDelivery(
            account=account,
            mailbox=INBOX,
            mail_from=message.sender,
            rcpt_to=message.recipient,
            data=None,
            # Delivered mail is incoming mail of its account: webhooks hear of it.
            notify=True,
        )
        return succeed(
            DeliveryResult(
                attempt_code=250,
                secode="0.0",
                reply=f"250 2.0.0 delivered locally to account {account} by {self._hostname}",
                remote_host="localhost",
                success=True,
                deliveries=(delivery,),
            )
        )

    def _sender_failure(self, sender: str) -> SpecialFailure | None:
        if not sender:
            return None
        localpart = sender.rpartition("@")[0]
        return special_failure(localpart, sender=True)

    def _recipient_account(self, recipient: Address) -> str | None:
        if not self._directory.is_local_domain(recipient.domain):
            return None
        return self._directory.account_for_address(recipient)

    def _no_answer(self, failure: SpecialFailure) -> Deferred[DeliveryResult]:
        # spec §9.3: "timeout" sleeps an hour, then 451; the scheduler's attempt
        # timeout normally ends it first by cancelling this Deferred.
        call: IDelayedCall | None = None

        def cancel(d: Deferred[DeliveryResult]) -> None:
            if call is not None and call.active():
                call.cancel()

        answer: Deferred[DeliveryResult] = Deferred(cancel)
        call = self._clock.callLater(
            TIMEOUT_SECONDS, lambda: answer.callback(_failed(failure.stage, 451))
        )
        return answer


def _failed(stage: str, code: int) -> DeliveryResult:
    # spec §9.3: enhanced code <first digit>.0.0.
    reply = f"{code} {code // 100}.0.0 failure with code {code} due to special localpart"
    return DeliveryResult(
        attempt_code=code,
        secode="0.0",
        reply=reply,
        error=f"{stage}: {reply}",
        remote_host="localhost",
        permanent=code >= 500,
    )


__all__ = ["INBOX", "LocalDeliveryTransport", "LocalDirectory", "SpecialFailure", "special_failure"]
