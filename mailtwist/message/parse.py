"""Reading stored messages: envelope, MIME structure, body text, part bytes (spec §2.5, §3.7)."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.generator import BytesGenerator
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesHeaderParser, BytesParser
from email.policy import compat32
from email.policy import default as default_policy
from email.utils import getaddresses, parsedate_to_datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from twisted.logger import Logger

from mailtwist.address import AddressError, parse_address, parse_header_addresses
from mailtwist.message.charset import decode_text

__all__ = [
    "MAX_READABLE",
    "ParsedAddress",
    "ParsedMessage",
    "PartNotFound",
    "Structure",
    "parse_message",
    "part_bytes",
]

_log = Logger()

#: Text and HTML bodies are cut at this many UTF-8 octets (spec §2.5, §3.7).
MAX_READABLE = 1024 * 1024
# Every character takes at most 4 octets in any charset, so this many source
# octets always give MAX_READABLE octets of UTF-8 when the part is that long.
_MAX_SOURCE = 4 * MAX_READABLE
# Deeper MIME nesting than this is shown as a leaf; real mail nests a handful deep.
_MAX_DEPTH = 50
_CRLF_GENERATOR_POLICY = compat32.clone(linesep="\r\n")
# RFC 2045 §5.1 tspecials.
_TSPECIALS = frozenset('()<>@,;:\\"/[]?=')
_FOLD = re.compile(r"\r?\n")
_AUTOMATED_FIELDS = ("list-id", "list-unsubscribe", "list-unsubscribe-post", "precedence")


class PartNotFound(LookupError):
    """A MessagePartGet path that leads nowhere; ``message`` is mox's text (spec §2.5)."""

    def __init__(self, index: int, position: int) -> None:
        self.index = index
        self.position = position
        self.message = f"part {index} at index {position} not found"
        super().__init__(self.message)


@dataclass(frozen=True)
class ParsedAddress:
    """An address from a header: display name and ``localpart@domain`` with a Unicode domain."""

    name: str
    address: str


@dataclass(frozen=True)
class Structure:
    """The MIME tree of a message as the webapi and webhooks show it (spec §2.1 Structure)."""

    content_type: str
    content_type_params: Mapping[str, str]
    content_id: str
    content_disposition: str
    filename: str
    decoded_size: int
    parts: tuple[Structure, ...]

    def to_json(self) -> dict[str, Any]:
        """The mox JSON object, with its field names and ``{}``/``[]`` for empty values."""
        return {
            "ContentType": self.content_type,
            "ContentTypeParams": dict(self.content_type_params),
            "ContentID": self.content_id,
            "ContentDisposition": self.content_disposition,
            "Filename": self.filename,
            "DecodedSize": self.decoded_size,
            "Parts": [part.to_json() for part in self.parts],
        }


@dataclass(frozen=True)
class ParsedMessage:
    """What MessageGet and the incoming webhook tell about a message.

    ``references`` is MessageGet's list (spec §2.5: References words, In-Reply-To
    prepended when missing); ``referenced_ids`` is the incoming webhook's list
    (spec §3.7: the ``<id>`` entries of References, lower-cased, in ``<>``).
    ``automated`` follows spec §3.7 with the ``mail_from`` given to parse_message.
    """

    from_: tuple[ParsedAddress, ...]
    to: tuple[ParsedAddress, ...]
    cc: tuple[ParsedAddress, ...]
    bcc: tuple[ParsedAddress, ...]
    reply_to: tuple[ParsedAddress, ...]
    subject: str
    message_id: str
    in_reply_to: str
    references: tuple[str, ...]
    referenced_ids: tuple[str, ...]
    date: datetime | None
    text: str
    html: str
    structure: Structure
    automated: bool

    @property
    def is_dsn(self) -> bool:
        """Whether the message is a DSN (RFC 3464 §2: multipart/report, delivery-status second)."""
        parts = self.structure.parts
        return (
            self.structure.content_type == "multipart/report"
            and len(parts) >= 2
            and parts[1].content_type
            in ("message/delivery-status", "message/global-delivery-status")
        )


# --- header values ---------------------------------------------------------------


def _as_text(value: object) -> str:
    """A header value as str: raw 8-bit octets (RFC 6532) read as UTF-8."""
    if not isinstance(value, str):
        value = str(value)
    try:
        return value.encode("ascii", "surrogateescape").decode("utf-8", "replace")
    except UnicodeEncodeError:
        return value


def _unfold(value: str) -> str:
    # RFC 5322 §2.2.3 unfolding; each line trimmed and joined by one space, as Go's
    # textproto does, so values compare with mox's.
    return " ".join(line.strip(" \t\r") for line in _FOLD.split(value) if line.strip(" \t\r"))


def _values(message: Message, name: str) -> list[str]:
    lowered = name.lower()
    return [
        _unfold(_as_text(value)) for key, value in message.raw_items() if key.lower() == lowered
    ]


def _first(message: Message, name: str) -> str:
    values = _values(message, name)
    return values[0] if values else ""


def _decode_words(value: str) -> str:
    """Unstructured text with RFC 2047 encoded-words decoded; never raises."""
    if "=?" not in value:
        return value
    try:
        return str(default_policy.header_factory("subject", value))
    except Exception:
        return value


def _parse_media_type(value: str) -> tuple[str, dict[str, str], bool]:
    """RFC 2045 §5.1 type and parameters, leniently: (lower-case value, params, well-formed).

    Parameter names are lower-cased; quoted-strings unquoted; RFC 2231 §3-§4
    continuations and charset-encoded values are joined and decoded. Malformed
    parameters are skipped and make ``well-formed`` false.
    """
    main, _, rest = value.partition(";")
    well_formed = True
    simple: dict[str, str] = {}
    # RFC 2231: name -> {section: (encoded, value)}
    sections: dict[str, dict[int, tuple[bool, str]]] = {}
    position = 0
    while position < len(rest):
        while position < len(rest) and rest[position] in " \t;":
            position += 1
        if position >= len(rest):
            break
        equals = rest.find("=", position)
        semicolon = rest.find(";", position)
        if equals == -1 or (semicolon != -1 and semicolon < equals):
            well_formed = False
            position = len(rest) if semicolon == -1 else semicolon + 1
            continue
        attribute = rest[position:equals].strip().lower()
        position = equals + 1
        while position < len(rest) and rest[position] in " \t":
            position += 1
        if position < len(rest) and rest[position] == '"':
            position += 1
            chars = []
            while position < len(rest) and rest[position] != '"':
                if rest[position] == "\\" and position + 1 < len(rest):
                    position += 1
                chars.append(rest[position])
                position += 1
            position += 1
            text = "".join(chars)
            quoted = True
        else:
            end = rest.find(";", position)
            end = len(rest) if end == -1 else end
            text = rest[position:end].strip()
            position = end
            quoted = False
        if not attribute or any(ch in _TSPECIALS or ch <= " " for ch in attribute):
            well_formed = False
            continue
        if "*" in attribute:
            name, _, section = attribute.partition("*")
            encoded = section.endswith("*") or section == ""
            number_text = section.rstrip("*")
            if number_text and not (number_text.isascii() and number_text.isdigit()):
                # Not a section number (RFC 2231 §3: DIGITs), ignored as Go's mime
                # does; isdigit() alone takes any Unicode digit, and int() fails on "²".
                continue
            number = int(number_text) if number_text else 0
            sections.setdefault(name, {})[number] = (encoded and not quoted, text)
        elif attribute not in simple:
            simple[attribute] = text
    for name, pieces in sections.items():
        simple[name] = _join_rfc2231(pieces)
    return main.strip().lower(), simple, well_formed


def _join_rfc2231(pieces: dict[int, tuple[bool, str]]) -> str:
    """RFC 2231 §3/§4: sections in order; the first encoded one names the charset."""
    charset = "utf-8"
    octets = b""
    for number in sorted(pieces):
        encoded, text = pieces[number]
        if encoded:
            if number == sorted(pieces)[0] and text.count("'") >= 2:
                charset, _, text = text.split("'", 2)
            octets += unquote_to_bytes(text)
        else:
            octets += text.encode("utf-8", "surrogateescape")
    return decode_text(octets, charset)


def _is_token(text: str) -> bool:
    return bool(text) and all(" " < ch < "\x7f" and ch not in _TSPECIALS for ch in text)


def _content_type(raw: str) -> tuple[str, dict[str, str]]:
    """The Structure content type and parameters, the way mox reports them.

    An absent or empty Content-Type gives ``/`` (mox leaves the media type empty);
    a type that does not parse gives ``application/octet-stream``, except that a
    non-multipart ``type/subtype`` is kept when only its parameters are bad.
    """
    if not raw.strip():
        return "/", {}
    media_type, params, well_formed = _parse_media_type(raw)
    kind, slash, subtype = media_type.partition("/")
    valid_type = bool(slash) and _is_token(kind) and _is_token(subtype)
    if valid_type and well_formed:
        return media_type, params
    if valid_type and kind != "multipart":
        return media_type, {}
    if valid_type:
        # A multipart whose boundary parameter could still be read stays a multipart.
        return (media_type, params) if params.get("boundary") else ("application/octet-stream", {})
    return "application/octet-stream", {}


def _disposition_filename(part: Message, params: Mapping[str, str]) -> tuple[str, str]:
    """Disposition type (RFC 2183 §2) and filename: disposition ``filename``, else the
    content-type ``name``, RFC 2231 or RFC 2047 decoded (many clients use the latter)."""
    raw = _first(part, "Content-Disposition")
    disposition, disposition_params, _ = _parse_media_type(raw) if raw else ("", {}, True)
    filename = disposition_params.get("filename", "") or params.get("name", "")
    if "=?" in filename:
        with contextlib.suppress(Exception):
            filename = str(make_header(decode_header(filename)))
    return disposition, filename


# --- bodies ----------------------------------------------------------------------


def _generated_body(part: Message) -> bytes:
    """The body of a part Python parsed further (message/rfc822, delivery-status), re-made.

    Python's parser keeps no raw bytes for these, so the body is generated again
    with CRLF line ends: equal to the original for well-formed messages.
    """
    buffer = io.BytesIO()
    try:
        BytesGenerator(buffer, mangle_from_=False, policy=_CRLF_GENERATOR_POLICY).flatten(part)
    except Exception:
        return b""
    data = buffer.getvalue()
    end = data.find(b"\r\n\r\n")
    return b"" if end == -1 else data[end + 4 :]


def _decoded_body(part: Message) -> bytes:
    """The body after transfer decoding (RFC 2045 §6), charset untouched."""
    if isinstance(part.get_payload(), list):
        return _generated_body(part)
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    return payload if isinstance(payload, bytes) else b""


def _crlf_size(data: bytes) -> int:
    # mox counts text parts with every bare LF as CRLF.
    return len(data) + data.count(b"\n") - data.count(b"\r\n")


def _to_crlf(data: bytes) -> bytes:
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)


def _readable(data: bytes, charset: str) -> str:
    """Text of a body part: decoded to str, cut at 1 MiB of UTF-8, LF line ends (spec §2.5)."""
    text = decode_text(data[:_MAX_SOURCE], charset)
    encoded = text.encode("utf-8", "replace")
    if len(encoded) > MAX_READABLE:
        text = encoded[:MAX_READABLE].decode("utf-8", "ignore")
    return text.replace("\r\n", "\n")


# --- the tree --------------------------------------------------------------------


@dataclass
class _Node:
    """A parsed part with its Structure, for finding body text."""

    message: Message
    structure: Structure
    children: list[_Node]
    charset: str


def _children(part: Message, content_type: str) -> list[Message]:
    payload = part.get_payload()
    if content_type.startswith("multipart/") and isinstance(payload, list):
        return [child for child in payload if isinstance(child, Message)]
    return []


def _walk(part: Message, depth: int) -> _Node:
    content_type, params = _content_type(_first(part, "Content-Type"))
    children = []
    if depth < _MAX_DEPTH:
        children = [_walk(child, depth + 1) for child in _children(part, content_type)]
    disposition, filename = _disposition_filename(part, params)
    if content_type.startswith("multipart/"):
        size = 0
    else:
        body = _decoded_body(part)
        size = _crlf_size(body) if content_type.startswith("text/") else len(body)
    structure = Structure(
        content_type=content_type,
        content_type_params=params,
        content_id=_first(part, "Content-Id"),
        content_disposition=disposition.lower(),
        filename=filename,
        decoded_size=size,
        parts=tuple(child.structure for child in children),
    )
    return _Node(part, structure, children, params.get("charset", ""))


def _is_attachment(structure: Structure) -> bool:
    # Better than mox: a file is never the body, whatever its type.
    return structure.content_disposition == "attachment" or bool(structure.filename)


def _find_readable(node: _Node) -> tuple[str | None, str | None]:
    """The first text/plain and text/html bodies (spec §2.5), descending into multiparts.

    In a multipart/alternative the first of each kind is taken; in other multiparts
    the first part that has a readable body wins. A part without Content-Type is
    text (RFC 2045 §5.2). Attachments are skipped.
    """
    structure = node.structure
    if not structure.content_type.startswith("multipart/"):
        if _is_attachment(structure):
            return None, None
        if structure.content_type in ("/", "text/plain"):
            return _readable(_decoded_body(node.message), node.charset), None
        if structure.content_type == "text/html":
            return None, _readable(_decoded_body(node.message), node.charset)
        return None, None
    text: str | None = None
    html: str | None = None
    alternative = structure.content_type == "multipart/alternative"
    for child in node.children:
        child_text, child_html = _find_readable(child)
        if not alternative and (child_text is not None or child_html is not None):
            return child_text, child_html
        if text is None:
            text = child_text
        if html is None:
            html = child_html
    return text, html


# --- envelope --------------------------------------------------------------------


def _addresses(message: Message, name: str) -> tuple[ParsedAddress, ...]:
    result: list[ParsedAddress] = []
    for value in _values(message, name):
        try:
            pairs = parse_header_addresses(value)
        except (AddressError, ValueError):
            result.extend(_addresses_leniently(value))
            continue
        names = [display for display, _ in pairs]
        if "?=" in value:
            names = _encoded_display_names(value, names)
        result.extend(
            ParsedAddress(name, str(address))
            for name, (_, address) in zip(names, pairs, strict=True)
        )
    return tuple(result)


def _encoded_display_names(value: str, names: list[str]) -> list[str]:
    """Display names with RFC 2047 §6.2 applied: white space between adjacent
    encoded-words is dropped (the stdlib phrase parser keeps it, so a long name
    split over several encoded-words would gain spaces)."""
    try:
        raw = [display for display, _ in getaddresses([value])]
    except Exception:
        return names
    if len(raw) != len(names):
        return names
    return [
        _decode_words(raw_name) if "=?" in raw_name else name
        for raw_name, name in zip(raw, names, strict=True)
    ]


def _addresses_leniently(value: str) -> list[ParsedAddress]:
    """Best effort for an address list our strict parser refuses: each readable entry."""
    out = []
    try:
        pairs = getaddresses([value])
    except Exception:
        return []
    for display, text in pairs:
        if "@" not in text:
            continue
        with contextlib.suppress(AddressError, ValueError):
            text = str(parse_address(text))
        out.append(ParsedAddress(_decode_words(display), text))
    return out


#: RFC 5322 §3.3 day month year (obs forms too): the year as written.
_DAY_MONTH_YEAR = re.compile(r"(?:^|[\s,])[0-9]{1,2}\s+[A-Za-z]{3}\s+([0-9]+)(?=\s)")


def _written_year(value: str) -> int | None:
    """The year of a Date value by RFC 5322 §4.3, or None when it has no day month year.

    Python's parser takes any year below 100 as two-digit, so "0001" became 2001;
    and it puts 50-68 in the 2000s, RFC 5322 §4.3 in the 1900s.
    """
    match = _DAY_MONTH_YEAR.search(value)
    if match is None:
        return None
    text = match.group(1)
    year = int(text)
    if len(text) == 2:
        return year + (2000 if year < 50 else 1900)
    if len(text) == 3:
        return year + 1900
    return year


def _date(message: Message) -> datetime | None:
    value = _first(message, "Date")
    # RFC 5322 §3.3 dates are ASCII; Python's parser would take any Unicode digits.
    if not value or not value.isascii():
        return None
    try:
        when = parsedate_to_datetime(value)
        year = _written_year(value)
        if year is not None and year != when.year:
            # Python's year differs from the written one by whole centuries, which
            # keep February 29 valid or not, except year 0, which is refused here.
            when = when.replace(year=year)
    except Exception:
        return None
    if when.tzinfo is None:
        # RFC 5322 §3.3: "-0000" means UTC with no information about the local zone.
        return when.replace(tzinfo=UTC)
    offset = when.utcoffset()
    if offset is not None and abs(offset) >= timedelta(hours=24):
        return when.astimezone(UTC)
    return when


def _message_get_references(message: Message, in_reply_to: str) -> tuple[str, ...]:
    """Spec §2.5: all References words, In-Reply-To first when not among them."""
    words = [
        word
        for value in _values(message, "References")
        for word in value.replace("\t", " ").split()
    ]
    if in_reply_to and in_reply_to not in words:
        words.insert(0, in_reply_to)
    return tuple(words)


def _referenced_ids(message: Message) -> tuple[str, ...]:
    """Spec §3.7: each ``<id>`` of the References fields, lower-cased, white space removed,
    a quoted localpart unquoted where that is the same address; truncated entries skipped."""
    ids: list[str] = []
    for value in _values(message, "References"):
        rest = value
        while rest:
            rest = rest.lstrip(" \t\r\n")
            if not rest.startswith("<"):
                skip = min((i for i in (rest.find(" "), rest.find(">")) if i >= 0), default=-1)
                if skip < 0:
                    break
                rest = rest[skip + 1 :]
                continue
            rest = rest[1:]
            end = min((i for i in (rest.find("<"), rest.find(">")) if i >= 0), default=-1)
            if end < 0:
                break
            if rest[end] == "<":
                rest = rest[end:]
                continue
            reference = rest[:end].lower().replace(" ", "").replace("\t", "")
            rest = rest[end + 1 :]
            ids.append(_canonical_id(reference))
    return tuple(f"<{reference}>" for reference in ids if reference)


def _canonical_id(reference: str) -> str:
    try:
        address = parse_address(reference)
    except (AddressError, ValueError):
        return reference
    host = reference.rsplit("@", 1)[1]
    spec = str(address)
    return spec[: len(spec) - len(address.domain.unicode) - 1] + "@" + host


def _automated(message: Message, content_type: str, mail_from: str | None) -> bool:
    """Spec §3.7: null MAIL FROM, list or precedence fields, Auto-Submitted other than
    "no" (RFC 3834 §5), or a multipart/report (RFC 6522)."""
    if mail_from == "" or content_type == "multipart/report":
        return True
    if any(_first(message, name) for name in _AUTOMATED_FIELDS):
        return True
    auto_submitted = _first(message, "Auto-Submitted")
    return bool(auto_submitted) and auto_submitted.lower() != "no"


def _parse_tree(data: bytes) -> Message:
    return BytesParser(policy=compat32).parsebytes(data)


def parse_message(data: bytes, *, mail_from: str | None = None) -> ParsedMessage:
    """The fields of a stored message for MessageGet and the incoming webhook.

    Never raises: garbage gives a best-effort result. ``mail_from`` is the SMTP
    MAIL FROM (``""`` for the null reverse-path), used only for ``automated``;
    None means unknown, and then only the message itself decides ``automated``.
    """
    try:
        return _parse(data, mail_from)
    except RecursionError:
        # Python's parser recurses per nesting level; absurd nesting is not mail.
        _log.warn("message of {size} bytes nests too deep, shown as one part", size=len(data))
        return _parse_flat(data, mail_from)
    except Exception:
        _log.failure("parsing message of {size} bytes, using a minimal result", size=len(data))
        structure = Structure("application/octet-stream", {}, "", "", "", len(data), ())
        return ParsedMessage(
            (), (), (), (), (), "", "", "", (), (), None, "", "", structure, mail_from == ""
        )


def _parsed(
    message: Message, structure: Structure, text: str, html: str, mail_from: str | None
) -> ParsedMessage:
    """A ParsedMessage: the header fields of ``message`` with a body already read."""
    in_reply_to = _first(message, "In-Reply-To")
    return ParsedMessage(
        from_=_addresses(message, "From"),
        to=_addresses(message, "To"),
        cc=_addresses(message, "Cc"),
        bcc=_addresses(message, "Bcc"),
        reply_to=_addresses(message, "Reply-To"),
        subject=_decode_words(_first(message, "Subject")),
        message_id=_first(message, "Message-Id"),
        in_reply_to=in_reply_to,
        references=_message_get_references(message, in_reply_to),
        referenced_ids=_referenced_ids(message),
        date=_date(message),
        text=text,
        html=html,
        structure=structure,
        automated=_automated(message, structure.content_type, mail_from),
    )


def _parse_flat(data: bytes, mail_from: str | None) -> ParsedMessage:
    """The header fields of a message whose body cannot be parsed, body as one opaque part."""
    message = BytesHeaderParser(policy=compat32).parsebytes(data)
    structure = Structure("application/octet-stream", {}, "", "", "", len(_top_body(data)), ())
    return _parsed(message, structure, "", "", mail_from)


def _parse(data: bytes, mail_from: str | None) -> ParsedMessage:
    message = _parse_tree(data)
    root = _walk(message, 0)
    text, html = _find_readable(root)
    return _parsed(message, root.structure, text or "", html or "", mail_from)


def part_bytes(data: bytes, path: Sequence[int]) -> bytes:
    """The transfer-decoded body of the part at ``path`` (spec §2.5 MessagePartGet).

    ``[]`` is the top-level body. Text parts get CRLF line ends; the charset is
    not converted. Raises PartNotFound for an index outside a part's Parts.
    """
    try:
        message = _parse_tree(data)
    except RecursionError:
        # As in parse_message: absurd nesting is one opaque part.
        if path:
            raise PartNotFound(path[0], 0) from None
        return _top_body(data)
    part = message
    for position, index in enumerate(path):
        content_type, _ = _content_type(_first(part, "Content-Type"))
        children = _children(part, content_type)
        if not 0 <= index < len(children) or position >= _MAX_DEPTH:
            raise PartNotFound(index, position)
        part = children[index]
    content_type, _ = _content_type(_first(part, "Content-Type"))
    if content_type.startswith("multipart/"):
        # A multipart's body is its raw MIME text (identity transfer encoding).
        return _generated_body(part) if path else _top_body(data)
    body = _decoded_body(part)
    return _to_crlf(body) if content_type.startswith("text/") else body


def _top_body(data: bytes) -> bytes:
    match = re.search(rb"\r?\n\r?\n", data)
    if data.startswith((b"\r\n", b"\n")):
        return data[data.index(b"\n") + 1 :]
    return b"" if match is None else data[match.end() :]
