"""Between webapi records and message content: Send's composition, MessageGet's reading."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from mailtwist.address import parse_address
from mailtwist.message import compose as _compose
from mailtwist.message import parse as _parse
from mailtwist.webapi._records import (
    Message,
    MessageGetResult,
    MessageMeta,
    NameAddress,
    SendRequest,
    Structure,
)

if TYPE_CHECKING:
    from mailtwist.store.messages import AccountMessage
    from mailtwist.webapi._methods import Upload

#: System flags in the order MessageMeta lists them (spec §2.1, §2.5).
SYSTEM_FLAGS = (
    "$forwarded",
    "$junk",
    "$mdnsent",
    "$notjunk",
    "$phishing",
    "\\answered",
    "\\deleted",
    "\\draft",
    "\\flagged",
    "\\seen",
)


class ContentError(ValueError):
    """A request whose content cannot be composed or read; ``code`` is the webapi code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _name_address(entry: NameAddress) -> _compose.NameAddress:
    # The addresses were parsed (and refused with badAddress) before composing.
    return _compose.NameAddress(entry.Name, parse_address(entry.Address))


def _files(request_files: Sequence[object], uploads: Sequence[Upload], field: str) -> tuple:
    # spec §2.3: JSON-listed files of a category come before its uploaded ones.
    files = [
        _compose.attachment_from_base64(f.Name, f.ContentType, f.ContentID, f.Data)  # type: ignore[attr-defined]
        for f in request_files
    ]
    files.extend(
        _compose.Attachment(
            name=u.filename,
            content_type=u.content_type,
            content_id=u.content_id,
            data=u.data,
            omit_empty_content_type=True,
        )
        for u in uploads
        if u.field == field
    )
    return tuple(files)


def compose(
    request: SendRequest,
    *,
    sender: NameAddress,
    message_id: str,
    date: datetime,
    uploads: Sequence[Upload],
    smtputf8: bool,
    max_size: int = 0,
) -> bytes:
    """The message of a Send request (spec §2.3); ContentError when it cannot be made."""
    try:
        composition = _compose.Composition(
            from_=_name_address(sender),
            to=tuple(_name_address(e) for e in request.To),
            cc=tuple(_name_address(e) for e in request.CC),
            bcc=tuple(_name_address(e) for e in request.BCC),
            reply_to=tuple(_name_address(e) for e in request.ReplyTo),
            message_id=message_id,
            references=tuple(request.References),
            date=date,
            subject=request.Subject,
            text=request.Text,
            html=request.HTML,
            headers=tuple(_header(h) for h in request.Headers),
            alternative_files=_files(request.AlternativeFiles, uploads, "alternativefile"),
            inline_files=_files(request.InlineFiles, uploads, "inlinefile"),
            attached_files=_files(request.AttachedFiles, uploads, "attachedfile"),
        )
        return _compose.compose_message(composition, smtputf8=smtputf8, max_size=max_size)
    except _compose.ComposeError as e:
        raise ContentError(e.code, e.message) from None


def _header(pair: Sequence[str]) -> tuple[str, str]:
    if len(pair) != 2:
        raise ContentError("user", "a header must be a [name, value] pair")
    return pair[0], pair[1]


def meta_flags(flags: Sequence[str]) -> tuple[str, ...]:
    """System flags in spec §2.1 order, then keywords in stored order."""
    lower = [f.lower() for f in flags]
    system = [f for f in SYSTEM_FLAGS if f in lower]
    keywords = [f for f in dict.fromkeys(lower) if f not in SYSTEM_FLAGS]
    return (*system, *keywords)


def _structure(structure: _parse.Structure) -> Structure:
    return Structure(
        ContentType=structure.content_type,
        ContentTypeParams=dict(structure.content_type_params),
        ContentID=structure.content_id,
        ContentDisposition=structure.content_disposition,
        Filename=structure.filename,
        DecodedSize=structure.decoded_size,
        Parts=tuple(_structure(part) for part in structure.parts),
    )


def _addresses(entries: Sequence[_parse.ParsedAddress]) -> tuple[NameAddress, ...]:
    return tuple(NameAddress(Name=e.name, Address=e.address) for e in entries)


def message_get_result(found: AccountMessage) -> MessageGetResult:
    """MessageGet's answer for a stored message (spec §2.5)."""
    stored = found.message
    parsed = _parse.parse_message(found.data, mail_from=stored.mail_from)
    message = Message(
        From=_addresses(parsed.from_),
        To=_addresses(parsed.to),
        CC=_addresses(parsed.cc),
        BCC=_addresses(parsed.bcc),
        ReplyTo=_addresses(parsed.reply_to),
        MessageID=parsed.message_id,
        References=parsed.references,
        Date=parsed.date,
        Subject=parsed.subject,
        Text=parsed.text,
        HTML=parsed.html,
    )
    meta = MessageMeta(
        Size=stored.size,
        DSN=stored.dsn,
        Flags=meta_flags(stored.flags),
        MailFrom=stored.mail_from,
        # Verification results are not kept with stored messages (yet): never
        # claim a validation that was not recorded.
        MailFromValidated=False,
        RcptTo=stored.rcpt_to,
        MsgFrom=parsed.from_[0].address if parsed.from_ else "",
        MsgFromValidated=False,
        DKIMVerifiedDomains=(),
        RemoteIP=stored.remote_ip,
        MailboxName=stored.mailbox,
    )
    return MessageGetResult(Message=message, Structure=_structure(parsed.structure), Meta=meta)


def part_data(data: bytes, path: Sequence[int]) -> bytes:
    """MessagePartGet's bytes; ContentError ``partNotFound`` for a bad path (spec §2.5)."""
    try:
        return _parse.part_bytes(data, path)
    except _parse.PartNotFound as e:
        raise ContentError("partNotFound", e.message) from None


__all__ = [
    "SYSTEM_FLAGS",
    "ContentError",
    "compose",
    "message_get_result",
    "meta_flags",
    "part_data",
]
