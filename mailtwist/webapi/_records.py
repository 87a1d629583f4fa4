"""Request and result records of the twelve webapi v0 methods, named as in mox (spec §2)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType

# Field names are the Go field names verbatim: they are the wire format.


def _frozen(value: Mapping[str, str]) -> Mapping[str, str]:
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class NameAddress:
    """An address with an optional display name (spec §2.1)."""

    Name: str = ""
    Address: str = ""


@dataclass(frozen=True)
class File:
    """A file to attach: base64 data in the JSON request (spec §2.1)."""

    Name: str = ""
    ContentType: str = ""
    ContentID: str = ""
    Data: str = ""


@dataclass(frozen=True)
class Message:
    """The message fields of Send and of MessageGet's result (spec §2.1)."""

    From: tuple[NameAddress, ...] = ()
    To: tuple[NameAddress, ...] = ()
    CC: tuple[NameAddress, ...] = ()
    BCC: tuple[NameAddress, ...] = ()
    ReplyTo: tuple[NameAddress, ...] = ()
    MessageID: str = ""
    References: tuple[str, ...] = ()
    Date: datetime | None = None
    Subject: str = ""
    Text: str = ""
    HTML: str = ""


@dataclass(frozen=True)
class SendRequest:
    """Send: the Message fields at the top level plus the sending options (spec §2.2)."""

    From: tuple[NameAddress, ...] = ()
    To: tuple[NameAddress, ...] = ()
    CC: tuple[NameAddress, ...] = ()
    BCC: tuple[NameAddress, ...] = ()
    ReplyTo: tuple[NameAddress, ...] = ()
    MessageID: str = ""
    References: tuple[str, ...] = ()
    Date: datetime | None = None
    Subject: str = ""
    Text: str = ""
    HTML: str = ""
    Extra: Mapping[str, str] = field(default_factory=dict)
    Headers: tuple[tuple[str, ...], ...] = ()
    AlternativeFiles: tuple[File, ...] = ()
    InlineFiles: tuple[File, ...] = ()
    AttachedFiles: tuple[File, ...] = ()
    RequireTLS: bool | None = None
    FutureRelease: datetime | None = None
    SaveSent: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "Extra", _frozen(self.Extra))


@dataclass(frozen=True)
class Submission:
    """One queued recipient of a Send (spec §2.2)."""

    Address: str
    QueueMsgID: int
    FromID: str


@dataclass(frozen=True)
class SendResult:
    MessageID: str
    Submissions: tuple[Submission, ...]


@dataclass(frozen=True)
class SuppressionListRequest:
    pass


@dataclass(frozen=True)
class Suppression:
    """A suppression list entry as the webapi shows it (spec §2.1)."""

    ID: int
    Created: datetime
    Account: str
    BaseAddress: str
    OriginalAddress: str
    Manual: bool
    Reason: str


@dataclass(frozen=True)
class SuppressionListResult:
    Suppressions: tuple[Suppression, ...]


@dataclass(frozen=True)
class SuppressionAddRequest:
    EmailAddress: str = ""
    Manual: bool = False
    Reason: str = ""


@dataclass(frozen=True)
class SuppressionRemoveRequest:
    EmailAddress: str = ""


@dataclass(frozen=True)
class SuppressionPresentRequest:
    EmailAddress: str = ""


@dataclass(frozen=True)
class SuppressionPresentResult:
    Present: bool


@dataclass(frozen=True)
class EmptyResult:
    """The ``{}`` result of methods that only act."""


@dataclass(frozen=True)
class MessageGetRequest:
    MsgID: int = 0


@dataclass(frozen=True)
class MessageRawGetRequest:
    MsgID: int = 0


@dataclass(frozen=True)
class MessagePartGetRequest:
    MsgID: int = 0
    PartPath: tuple[int, ...] = ()


@dataclass(frozen=True)
class MessageDeleteRequest:
    MsgID: int = 0


@dataclass(frozen=True)
class MessageFlagsAddRequest:
    MsgID: int = 0
    Flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class MessageFlagsRemoveRequest:
    MsgID: int = 0
    Flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class MessageMoveRequest:
    MsgID: int = 0
    DestMailboxName: str = ""


@dataclass(frozen=True)
class Structure:
    """The MIME tree of a message (spec §2.1)."""

    ContentType: str
    ContentTypeParams: Mapping[str, str]
    ContentID: str
    ContentDisposition: str
    Filename: str
    DecodedSize: int
    Parts: tuple[Structure, ...]


@dataclass(frozen=True)
class MessageMeta:
    """Delivery facts of a stored message (spec §2.1)."""

    Size: int
    DSN: bool
    Flags: tuple[str, ...]
    MailFrom: str
    MailFromValidated: bool
    RcptTo: str
    MsgFrom: str
    MsgFromValidated: bool
    DKIMVerifiedDomains: tuple[str, ...]
    RemoteIP: str
    MailboxName: str


@dataclass(frozen=True)
class MessageGetResult:
    Message: Message
    Structure: Structure
    Meta: MessageMeta


#: The methods in mox's listing order (spec §1.2), with request and result types;
#: a result of ``bytes`` means the method answers with raw data, not JSON.
METHODS: dict[str, tuple[type, type]] = {
    "MessageDelete": (MessageDeleteRequest, EmptyResult),
    "MessageFlagsAdd": (MessageFlagsAddRequest, EmptyResult),
    "MessageFlagsRemove": (MessageFlagsRemoveRequest, EmptyResult),
    "MessageGet": (MessageGetRequest, MessageGetResult),
    "MessageMove": (MessageMoveRequest, EmptyResult),
    "MessagePartGet": (MessagePartGetRequest, bytes),
    "MessageRawGet": (MessageRawGetRequest, bytes),
    "Send": (SendRequest, SendResult),
    "SuppressionAdd": (SuppressionAddRequest, EmptyResult),
    "SuppressionList": (SuppressionListRequest, SuppressionListResult),
    "SuppressionPresent": (SuppressionPresentRequest, SuppressionPresentResult),
    "SuppressionRemove": (SuppressionRemoveRequest, EmptyResult),
}
