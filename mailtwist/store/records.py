"""Immutable records that cross the store boundary: queued and stored messages, attempts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Generic, TypeVar

T = TypeVar("T")

#: Error text of the result appended when an attempt starts (spec §4.1).
DELIVERING = "delivering..."

#: Mailboxes every account has (issue 2, spec §9.1).
DEFAULT_MAILBOXES = ("Inbox", "Sent", "Archive", "Trash", "Drafts", "Junk")

#: How a message entered the queue: SMTP submission, the webapi, or a DSN we made.
ORIGINS = ("submission", "webapi", "dsn")

#: What a failed attempt says about its cause (issue 3): the recipient address
#: (suppress it), the sender's reputation or policy (do not suppress the recipient),
#: or the infrastructure (DNS, connection, TLS, timeouts). "" for successes.
CLASSIFICATIONS = ("", "recipient", "policy", "infrastructure")


def _frozen_mapping(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class DeliveryAttempt:
    """The outcome of one delivery attempt of one queued message.

    ``code`` is the SMTP reply code (0 when the failure was not an SMTP reply:
    connection, DNS, TLS, timeout), ``secode`` the enhanced code without its class
    digit (``"1.1"`` for ``5.1.1``, spec §4.1 ``Secode``), ``reply`` the remote's
    full reply text with all its lines joined by ``"\\n"``.
    """

    start: datetime
    duration: float = 0.0
    success: bool = False
    code: int = 0
    secode: str = ""
    error: str = ""
    remote_host: str = ""
    reply: str = ""
    tls: bool = False
    permanent: bool = False
    classification: str = ""

    def __post_init__(self) -> None:
        if self.code and not 200 <= self.code <= 599:
            raise ValueError(f"SMTP code out of range: {self.code}")
        if self.duration < 0:
            raise ValueError("negative attempt duration")
        if self.classification not in CLASSIFICATIONS:
            raise ValueError(f"unknown classification {self.classification!r}")

    @property
    def enhanced_code(self) -> str:
        """The full enhanced code, e.g. ``5.1.1``; "" without one (spec §3.3)."""
        if not self.secode or not self.code:
            return ""
        return f"{self.code // 100}.{self.secode}"


@dataclass(frozen=True)
class NewMessage:
    """A message accepted for the queue, before it has ids: one per submission.

    ``recipients`` are addresses as text (``localpart@domain``, Unicode domain);
    one queued record is created per recipient, all in one transaction.
    ``sender`` is the SMTP MAIL FROM path ("" for the null path).
    """

    account: str
    sender: str
    recipients: tuple[str, ...]
    data: bytes
    message_id: str = ""
    subject: str = ""
    has8bit: bool = False
    smtputf8: bool = False
    next_attempt: datetime | None = None
    max_attempts: int = 0
    hold: bool = False
    future_release_request: str = ""
    require_tls: bool | None = None
    from_id: str = ""
    transport: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)
    origin: str = "submission"

    def __post_init__(self) -> None:
        if self.origin not in ORIGINS:
            raise ValueError(f"unknown origin {self.origin!r}")
        if not self.recipients:
            raise ValueError("a message needs at least one recipient")
        if self.max_attempts < 0:
            raise ValueError("max_attempts must not be negative")
        object.__setattr__(self, "recipients", tuple(self.recipients))
        object.__setattr__(self, "extra", _frozen_mapping(self.extra))


@dataclass(frozen=True)
class QueuedMessage:
    """One recipient of an accepted message, waiting in the queue (spec §4.1)."""

    id: int
    base_id: int
    queued: datetime
    hold: bool
    account: str
    sender: str
    recipient: str
    recipient_domain: str
    message_id: str
    subject: str
    size: int
    next_attempt: datetime
    last_attempt: datetime | None
    attempts: int
    max_attempts: int
    results: tuple[DeliveryAttempt, ...]
    data_id: int
    has8bit: bool = False
    smtputf8: bool = False
    future_release_request: str = ""
    require_tls: bool | None = None
    from_id: str = ""
    transport: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)
    origin: str = "submission"

    def __post_init__(self) -> None:
        object.__setattr__(self, "results", tuple(self.results))
        object.__setattr__(self, "extra", _frozen_mapping(self.extra))


@dataclass(frozen=True)
class RetiredMessage:
    """A message that left the queue: delivered, failed or canceled (spec §4.2)."""

    id: int
    base_id: int
    queued: datetime
    account: str
    sender: str
    recipient: str
    recipient_domain: str
    message_id: str
    subject: str
    size: int
    last_attempt: datetime | None
    attempts: int
    max_attempts: int
    results: tuple[DeliveryAttempt, ...]
    success: bool
    event: str
    last_activity: datetime
    keep_until: datetime
    has8bit: bool = False
    smtputf8: bool = False
    future_release_request: str = ""
    require_tls: bool | None = None
    from_id: str = ""
    transport: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)
    origin: str = "submission"

    def __post_init__(self) -> None:
        object.__setattr__(self, "results", tuple(self.results))
        object.__setattr__(self, "extra", _frozen_mapping(self.extra))


@dataclass(frozen=True)
class MailboxDelivery:
    """A message to store into an account's mailbox.

    Used by incoming SMTP, by the localserve transport and for DSNs to the sender.
    When ``data`` is None the content is the queued message's own data.
    """

    account: str
    mailbox: str
    mail_from: str = ""
    rcpt_to: str = ""
    data: bytes | None = None
    flags: tuple[str, ...] = ()
    dsn: bool = False
    remote_ip: str = ""
    #: Incoming mail: the incoming webhook (or DSN matching) must hear of it. Recorded
    #: with the message, so a crash before that happened is caught up at the next start.
    notify: bool = False


@dataclass(frozen=True)
class StoredMessage:
    """A message in an account's mailbox."""

    id: int
    account: str
    mailbox: str
    received: datetime
    size: int
    flags: tuple[str, ...]
    mail_from: str
    rcpt_to: str
    dsn: bool
    remote_ip: str
    data_id: int


@dataclass(frozen=True)
class Credentials:
    """The stored secrets of one account's login; never the password itself.

    ``password_hash`` verifies PLAIN/LOGIN/HTTP basic passwords; the SCRAM fields
    serve SCRAM-SHA-256 (RFC 5802/7677); ``cram_md5_ipad``/``cram_md5_opad`` are the
    HMAC-MD5 inner and outer states after the padded key (RFC 2195), so CRAM-MD5
    works without keeping the password.
    """

    account: str
    password_hash: str
    scram_salt: bytes
    scram_iterations: int
    scram_stored_key: bytes
    scram_server_key: bytes
    cram_md5_ipad: bytes
    cram_md5_opad: bytes


@dataclass(frozen=True)
class HoldRule:
    """Holds queued messages that match every non-empty field (spec §4.8).

    All fields empty matches everything: "pause the whole queue". Domains are in
    Unicode form. mox matches existing messages with AND and new ones with OR
    (spec §15.5); mailtwist uses AND for both, so a rule means one thing.
    """

    account: str = ""
    sender_domain: str = ""
    recipient_domain: str = ""
    id: int = 0

    def matches(self, account: str, sender_domain: str, recipient_domain: str) -> bool:
        return (
            (not self.account or self.account == account)
            and (not self.sender_domain or self.sender_domain == sender_domain)
            and (not self.recipient_domain or self.recipient_domain == recipient_domain)
        )


@dataclass(frozen=True)
class Suppression:
    """An address an account no longer sends to, keyed on its base address (spec §6)."""

    account: str
    base_address: str
    original_address: str
    manual: bool
    reason: str
    id: int = 0
    created: datetime | None = None


@dataclass(frozen=True)
class MessageFilter:
    """Which queued or retired messages a listing or operation applies to (spec §4.10).

    Only set fields apply (AND). ``sender``/``recipient`` are case-insensitive
    substrings of the address (``"@example.com"`` selects a domain). Time bounds are
    inclusive-exclusive: ``after <= t < before``. ``hold`` and ``next_attempt_*``
    apply to the queue only; ``success``, ``event`` and ``last_activity_*`` to
    retired messages only: the store refuses a field that does not apply with
    ValueError rather than ignoring it.
    """

    ids: tuple[int, ...] = ()
    account: str = ""
    sender: str = ""
    recipient: str = ""
    hold: bool | None = None
    success: bool | None = None
    event: str = ""
    queued_after: datetime | None = None
    queued_before: datetime | None = None
    next_attempt_after: datetime | None = None
    next_attempt_before: datetime | None = None
    last_activity_after: datetime | None = None
    last_activity_before: datetime | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "ids", tuple(self.ids))


#: Sort fields of the queue and retired listings, default first (spec §4.10).
QUEUE_SORTS = ("next_attempt", "queued")
RETIRED_SORTS = ("last_activity", "queued")


@dataclass(frozen=True)
class Cursor:
    """A keyset position: the sort field's value and the id of the last row seen."""

    value: datetime
    id: int


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a keyset-paginated listing; ``next`` is None on the last page."""

    rows: tuple[T, ...]
    next: Cursor | None
