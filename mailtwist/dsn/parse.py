"""Parsing delivery status notifications: RFC 6522 multipart/report with an RFC 3464 report."""

from __future__ import annotations

import binascii
import quopri
import re
from dataclasses import dataclass
from email.message import Message
from email.utils import collapse_rfc2231_value

from mailtwist.message.headers import HeaderError, HeaderField, parse_fields, split_message

#: Second-part types that make a multipart/report a DSN (RFC 3464 §2.1, RFC 6533 §6.1).
STATUS_TYPES = ("message/delivery-status", "message/global-delivery-status")

_LINE = re.compile(rb"[^\n]*\n|[^\n]+")
# RFC 3463 §2: status-code = class "." subject "." detail.
_ENHANCED = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}", re.ASCII)
# RFC 6533 §3 utf-8-addr-xtext: a non-ASCII character as \x{HEX}.
_XTEXT_CHAR = re.compile(r"\\x\{([0-9A-Fa-f]{1,6})\}")
# Spec §7.3: "<code> <x.y.z> ..." (a multiline reply joined has "<code>-<x.y.z>").
_DIAGNOSTIC_SMTP = re.compile(r"([0-9]{3})(?:[ -](\S+))?", re.ASCII)


class DSNError(ValueError):
    """A multipart/report whose delivery-status part is malformed; the text says how."""


@dataclass(frozen=True)
class RecipientReport:
    """One per-recipient block of a DSN (RFC 3464 §2.3).

    Addresses are given without their address type and angle brackets; the
    ``*_type`` fields hold the lower-cased type (``rfc822``, ``utf-8``, ``x400``,
    or "" when a sender left it out). ``action`` is lower-cased without comment;
    ``status`` is the enhanced code, or "" when missing or not of the form
    x.y.z. ``fields`` keeps every field of the block as sent (name, value).
    """

    final_recipient: str
    final_recipient_type: str
    original_recipient: str
    original_recipient_type: str
    action: str
    status: str
    status_comment: str
    diagnostic_type: str
    diagnostic_code: str
    remote_mta: str
    last_attempt_date: str
    will_retry_until: str
    fields: tuple[tuple[str, str], ...]

    @property
    def recipient(self) -> str:
        """The address the original was sent to: Original-Recipient when it is an
        internet address, else Final-Recipient (RFC 3464 §2.3.1, §2.3.2)."""
        if self.original_recipient and self.original_recipient_type in ("rfc822", "utf-8"):
            return self.original_recipient
        return self.final_recipient


@dataclass(frozen=True)
class DSN:
    """A parsed DSN: the per-message fields (RFC 3464 §2.2) and the recipients.

    ``utf8`` is true for message/global-delivery-status (RFC 6533). Dates are
    the text as sent: real DSNs use many non-RFC 5322 forms.
    """

    reporting_mta: str
    received_from_mta: str
    arrival_date: str
    original_envelope_id: str
    future_release_request: str
    recipients: tuple[RecipientReport, ...]
    utf8: bool
    fields: tuple[tuple[str, str], ...]


def parse_dsn(message: bytes) -> DSN | None:
    """The DSN in ``message``, or None when it is not one.

    A DSN is a multipart/report whose second part is message/delivery-status
    or message/global-delivery-status (spec §7.3; RFC 6522 §3 does not make the
    report-type parameter decisive, and real DSNs omit it). Raises DSNError
    when that part cannot be read as RFC 3464 fields with at least one
    recipient block holding Final-Recipient and Action.
    """
    content_type, boundary, body = _top_level(message)
    if content_type != "multipart/report" or not boundary:
        return None
    parts = _multipart(body, boundary)
    if len(parts) < 2:
        return None
    try:
        header, content = split_message(parts[1])
        fields = parse_fields(header)
    except HeaderError as e:
        # Not knowing the second part's type, it cannot count as a DSN.
        if b"delivery-status" not in parts[1][:4096].lower():
            return None
        raise DSNError(f"delivery status part: {e}") from None
    part_type, _ = _content_type(fields)
    if part_type not in STATUS_TYPES:
        return None
    utf8 = part_type == STATUS_TYPES[1]
    text = _decode(content, _field(fields, "Content-Transfer-Encoding").lower())
    return _report(text, utf8)


def smtp_codes(recipient: RecipientReport) -> tuple[int, str]:
    """The SMTP code and short enhanced code (``"1.1"`` for 5.1.1) of a recipient.

    Spec §7.3: from an smtp Diagnostic-Code the 3-digit code, and the second
    word after its class when it starts with ``4.`` or ``5.``; without a code
    there, Status 4.x.y gives 400 and 5.x.y gives 500. (0, "") when neither has one.
    """
    if recipient.diagnostic_type == "smtp":
        match = _DIAGNOSTIC_SMTP.match(recipient.diagnostic_code)
        if match is not None:
            word = match.group(2) or ""
            secode = word[2:] if word.startswith(("4.", "5.")) else ""
            return int(match.group(1)), secode
    if recipient.status.startswith("4."):
        return 400, recipient.status[2:]
    if recipient.status.startswith("5."):
        return 500, recipient.status[2:]
    return 0, ""


def _top_level(message: bytes) -> tuple[str, str, bytes]:
    if message.startswith(b"From "):
        # An mbox separator line is not a header field; files of stored mail have one.
        message = message[message.find(b"\n") + 1 :]
    try:
        header, body = split_message(message)
        fields = parse_fields(header)
    except HeaderError:
        return "", "", b""
    content_type, boundary = _content_type(fields)
    return content_type, boundary, body


def _content_type(fields: list[HeaderField]) -> tuple[str, str]:
    value = _field(fields, "Content-Type")
    if not value:
        # RFC 2045 §5.2: no Content-Type means text/plain.
        return "text/plain", ""
    holder = Message()
    holder["Content-Type"] = value
    boundary = holder.get_param("boundary")
    # RFC 2231 parameters come back as (charset, language, value).
    text = collapse_rfc2231_value(boundary) if boundary is not None else ""
    return holder.get_content_type(), text


def _field(fields: list[HeaderField], name: str) -> str:
    for field in fields:
        if field.is_named(name):
            return field.value.decode("utf-8", "replace")
    return ""


def _multipart(body: bytes, boundary: str) -> list[bytes]:
    """The body parts between the delimiters (RFC 2046 §5.1.1); tolerant of a
    missing close delimiter and of LF line endings."""
    delimiter = b"--" + boundary.encode("utf-8", "replace")
    parts: list[bytes] = []
    current: list[bytes] | None = None
    for line in _LINE.findall(body):
        stripped = line.rstrip(b"\r\n")
        if stripped.startswith(delimiter):
            rest = stripped[len(delimiter) :]
            # RFC 2046 §5.1.1: transport padding (whitespace) may follow the boundary.
            if rest.rstrip(b" \t") in (b"", b"--"):
                if current is not None:
                    parts.append(_strip_last_newline(b"".join(current)))
                if rest.startswith(b"--"):
                    return parts
                current = []
                continue
        if current is not None:
            current.append(line)
    if current is not None:
        parts.append(_strip_last_newline(b"".join(current)))
    return parts


def _strip_last_newline(data: bytes) -> bytes:
    # RFC 2046 §5.1.1: the line break before a delimiter belongs to the delimiter.
    if data.endswith(b"\r\n"):
        return data[:-2]
    if data.endswith(b"\n"):
        return data[:-1]
    return data


def _decode(content: bytes, encoding: str) -> str:
    if encoding == "base64":
        try:
            content = binascii.a2b_base64(content)
        except binascii.Error as e:
            raise DSNError(f"delivery status part: bad base64: {e}") from None
    elif encoding == "quoted-printable":
        content = quopri.decodestring(content)
    elif encoding not in ("", "7bit", "8bit", "binary"):
        raise DSNError(f"delivery status part: unknown transfer encoding {encoding!r}")
    # RFC 6533 §6.1: global reports are UTF-8; older reports are ASCII, and
    # stray 8-bit bytes must not stop the recipients from being read.
    return content.decode("utf-8", "replace")


def _blocks(text: str) -> list[list[str]]:
    blocks: list[list[str]] = []
    current: list[str] = []
    for line in text.replace("\r\n", "\n").split("\n"):
        if line.strip():
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks


def _block_fields(lines: list[str]) -> tuple[tuple[str, str], ...]:
    data = "".join(line + "\r\n" for line in lines).encode("utf-8")
    try:
        fields = parse_fields(data)
    except HeaderError as e:
        raise DSNError(f"delivery status part: {e}") from None
    return tuple(
        (field.name.decode("utf-8", "replace"), field.value.decode("utf-8", "replace"))
        for field in fields
    )


def _get(fields: tuple[tuple[str, str], ...], name: str) -> str:
    # RFC 3464 §2.1: field names are case-insensitive.
    for key, value in fields:
        if key.lower() == name.lower():
            return value.strip()
    return ""


def _report(text: str, utf8: bool) -> DSN:
    blocks = [_block_fields(block) for block in _blocks(text)]
    if not blocks:
        raise DSNError("delivery status part is empty")
    per_message: tuple[tuple[str, str], ...] = ()
    if not _get(blocks[0], "Final-Recipient"):
        per_message = blocks.pop(0)
    if not blocks:
        # RFC 3464 §2.1: one or more per-recipient blocks follow the per-message fields.
        raise DSNError("delivery status part has no per-recipient fields")
    recipients = tuple(_recipient(block, number) for number, block in enumerate(blocks, 1))
    return DSN(
        reporting_mta=_typed(_get(per_message, "Reporting-MTA"))[1],
        received_from_mta=_typed(_get(per_message, "Received-From-MTA"))[1],
        arrival_date=_get(per_message, "Arrival-Date"),
        original_envelope_id=_get(per_message, "Original-Envelope-Id"),
        future_release_request=_get(per_message, "Future-Release-Request"),
        recipients=recipients,
        utf8=utf8,
        fields=per_message,
    )


def _recipient(fields: tuple[tuple[str, str], ...], number: int) -> RecipientReport:
    final_type, final = _typed(_get(fields, "Final-Recipient"))
    if not final:
        raise DSNError(f"recipient block {number} has no Final-Recipient (RFC 3464 §2.3.2)")
    action_text = _get(fields, "Action")
    action = re.split(r"[\s(]", action_text, maxsplit=1)[0].lower()
    if not action:
        raise DSNError(f"recipient block {number} has no Action (RFC 3464 §2.3.3)")
    original_type, original = _typed(_get(fields, "Original-Recipient"))
    status, comment = _status(_get(fields, "Status"))
    diagnostic_type, diagnostic = _typed(_get(fields, "Diagnostic-Code"))
    return RecipientReport(
        final_recipient=_address(final, final_type),
        final_recipient_type=final_type,
        original_recipient=_address(original, original_type),
        original_recipient_type=original_type,
        action=action,
        status=status,
        status_comment=comment,
        diagnostic_type=diagnostic_type,
        diagnostic_code=diagnostic,
        remote_mta=_typed(_get(fields, "Remote-MTA"))[1],
        last_attempt_date=_get(fields, "Last-Attempt-Date"),
        will_retry_until=_get(fields, "Will-Retry-Until"),
        fields=fields,
    )


def _typed(value: str) -> tuple[str, str]:
    """``type; text`` (RFC 3464 §2.1.2 address-type, mta-name-type, diagnostic-type)."""
    kind, sep, rest = value.partition(";")
    if not sep:
        return "", value.strip()
    return kind.strip().lower(), rest.strip()


def _address(text: str, kind: str) -> str:
    text = text.strip()
    if text.startswith("<") and text.endswith(">"):
        text = text[1:-1].strip()
    if kind == "utf-8":
        text = _XTEXT_CHAR.sub(lambda m: _code_point(m.group(1)), text)
    return text


def _code_point(hex_digits: str) -> str:
    value = int(hex_digits, 16)
    return chr(value) if value <= 0x10FFFF else "\ufffd"


def _status(value: str) -> tuple[str, str]:
    code, paren, rest = value.partition("(")
    code = code.strip()
    comment = ""
    if paren:
        comment = rest.strip()
        if comment.endswith(")"):
            comment = comment[:-1]
        # RFC 5322 §3.2.1 quoted-pairs inside the comment.
        comment = re.sub(r"\\(.)", r"\1", comment).strip()
    if not _ENHANCED.fullmatch(code):
        return "", comment
    return code, comment


__all__ = ["DSN", "STATUS_TYPES", "DSNError", "RecipientReport", "parse_dsn", "smtp_codes"]
