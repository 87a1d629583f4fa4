"""The transport interface the scheduler delivers through, and a delivery's result."""

from __future__ import annotations

import re
from dataclasses import dataclass

from zope.interface import Interface

from mailtwist.store.records import MailboxDelivery

# RFC 3463 §2: subject.detail, each 1-3 digits; the class digit is kept apart (spec §4.1 Secode).
_SECODE = re.compile(r"\A[0-9]{1,3}\.[0-9]{1,3}\Z")


@dataclass(frozen=True)
class DeliveryResult:
    """What one delivery attempt of one queued message came to.

    ``attempt_code`` is the SMTP reply code, 0 when the failure was no SMTP reply
    (connection, DNS, TLS, timeout); ``secode`` the enhanced code without its class
    digit (``"1.1"`` for ``5.1.1``); ``reply`` the full reply, lines joined by
    ``"\\n"``; ``error`` a one-line description for people ("" on success).
    ``deliveries`` are local mailbox deliveries committed atomically with the outcome.
    """

    attempt_code: int = 0
    secode: str = ""
    reply: str = ""
    error: str = ""
    remote_host: str = ""
    tls: bool = False
    permanent: bool = False
    success: bool = False
    deliveries: tuple[MailboxDelivery, ...] = ()
    #: The attempt was cut short by the server stopping, not failed by the remote:
    #: it counts as neither a failure nor toward DSNs, and is retried after the start.
    interrupted: bool = False

    def __post_init__(self) -> None:
        if self.attempt_code and not 200 <= self.attempt_code <= 599:
            raise ValueError(f"SMTP code out of range: {self.attempt_code}")
        if self.secode and not _SECODE.match(self.secode):
            raise ValueError(
                f"enhanced code must look like '1.1' (no class digit): {self.secode!r}"
            )
        if self.success and self.permanent:
            raise ValueError("a successful delivery cannot be a permanent failure")
        if self.success and self.attempt_code and self.attempt_code >= 400:
            raise ValueError(f"a successful delivery cannot have code {self.attempt_code}")
        object.__setattr__(self, "deliveries", tuple(self.deliveries))

    @classmethod
    def temporary_failure(cls, error: str, remote_host: str = "") -> DeliveryResult:
        """A failure without an SMTP reply (code 0), to be retried."""
        return cls(error=error, remote_host=remote_host)


class ITransport(Interface):
    """Delivers one queued message; the SMTP client and localserve implement it."""

    def deliver(message, data):  # type: ignore[no-untyped-def]
        """Attempt delivery of a QueuedMessage whose content is ``data`` (bytes).

        Deferred[DeliveryResult]. The Deferred should be cancellable: the scheduler
        cancels it when the attempt times out. An errback or a timeout is recorded as a
        temporary failure with code 0.
        """


__all__ = ["DeliveryResult", "ITransport"]
