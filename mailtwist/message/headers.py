"""Header fields of raw messages: split, read, prepend, dates, Received and X-Mox-Extra."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime

#: Header fields whose canonical name starts with this give submission extra data (spec §8).
EXTRA_PREFIX = "X-Mox-Extra-"

_WSP = b" \t"
# RFC 5322 §2.1/§2.2: the header ends at the first empty line; a bare LF is
# accepted as a line ending too, as clients and stores produce them.
_EMPTY_LINE = re.compile(rb"\n\r?\n")
# Go's HTTP token characters (RFC 7230 §3.2.6), the set textproto canonicalises.
_TOKEN = frozenset("!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


class HeaderError(ValueError):
    """A message header that cannot be read; the text is safe to show to the client."""


class DuplicateExtraKey(HeaderError):
    """Two X-Mox-Extra- header fields have the same canonical key (spec §8)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"duplicate x-mox-extra- key {go_quote(key)}")
        self.key = key


@dataclass(frozen=True)
class HeaderField:
    """One header field as sent: its name, its unfolded value and its raw lines."""

    name: bytes
    value: bytes
    raw: bytes

    def is_named(self, name: str) -> bool:
        """Whether this field has ``name``; names compare case-insensitively (RFC 5322 §1.2.2)."""
        return self.name.lower() == name.lower().encode("utf-8")


def split_message(data: bytes) -> tuple[bytes, bytes]:
    """The header block (all field lines with their line endings) and the body.

    The empty line that separates them (RFC 5322 §2.1) belongs to neither. The
    body is optional (RFC 5322 §3.5): without an empty line the whole message is
    header, and parse_fields decides whether it is well-formed.
    """
    if data.startswith((b"\r\n", b"\n")):
        return b"", data[data.index(b"\n") + 1 :]
    match = _EMPTY_LINE.search(data)
    if match is None:
        return data, b""
    return data[: match.start() + 1], data[match.end() :]


def parse_fields(header: bytes) -> list[HeaderField]:
    """The fields of a header block, in order. Raises HeaderError for a malformed line."""
    return [
        HeaderField(name, unfold(lines), b"".join(lines)) for name, lines in _field_lines(header)
    ]


def field_names(header: bytes) -> list[bytes]:
    """The names of a header block's fields, in order, checked like parse_fields."""
    return [name for name, _ in _field_lines(header)]


def _field_lines(header: bytes) -> Iterator[tuple[bytes, list[bytes]]]:
    """(name, raw lines) of each field; HeaderError for a malformed line."""
    name = b""
    lines: list[bytes] = []
    for number, line in enumerate(_lines(header), start=1):
        if line[:1] in (b" ", b"\t"):
            # RFC 5322 §2.2.3: a line starting with WSP continues the field.
            if not lines:
                raise HeaderError("message header starts with a continuation line")
            lines.append(line)
            continue
        if lines:
            yield name, lines
        colon = line.find(b":")
        if colon == -1:
            raise HeaderError(f"malformed header field on line {number}: no colon")
        # RFC 5322 §4.5.3 (obs-ftext) allows WSP between the name and the colon.
        name = line[:colon].rstrip(_WSP)
        if not _is_field_name(name):
            raise HeaderError(f"malformed header field name on line {number}")
        lines = [line]
    if lines:
        yield name, lines


# RFC 5322 §2.2: printable US-ASCII except colon; bytes >= 0x80 are allowed
# because spec §8 accepts names such as "X-Mox-Extra-☺" (RFC 6532 spirit).
_FIELD_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e\x80-\xff]+")


def _is_field_name(name: bytes) -> bool:
    return _FIELD_NAME.fullmatch(name) is not None


def _lines(header: bytes) -> list[bytes]:
    out = []
    start = 0
    while start < len(header):
        end = header.find(b"\n", start)
        end = len(header) if end == -1 else end + 1
        out.append(header[start:end])
        start = end
    return out


def unfold(lines: Sequence[bytes]) -> bytes:
    """The value of a field given its raw lines: unfolded and trimmed.

    Like Go's textproto: each line is trimmed and continuation lines are joined
    with one space (RFC 5322 §2.2.3 unfolding, spec §8 "unfolded, trimmed").
    """
    first = lines[0]
    parts = [first[first.index(b":") + 1 :].strip(_WSP + b"\r\n")]
    parts.extend(line.strip(_WSP + b"\r\n") for line in lines[1:])
    return b" ".join(part for part in parts if part)


def _fields(header: bytes | Iterable[HeaderField]) -> Iterable[HeaderField]:
    return parse_fields(header) if isinstance(header, bytes) else header


def field_values(header: bytes | Iterable[HeaderField], name: str) -> list[bytes]:
    """The unfolded values of all fields called ``name``, in header order."""
    return [field.value for field in _fields(header) if field.is_named(name)]


def has_field(header: bytes | Iterable[HeaderField], name: str) -> bool:
    """Whether the header has at least one field called ``name``."""
    return any(field.is_named(name) for field in _fields(header))


_FOLD = re.compile(rb"\r\n[ \t]")


def prepend_fields(data: bytes, fields: Sequence[tuple[str, str]]) -> bytes:
    """``data`` with the ``(name, value)`` fields added in front, in the given order.

    The message bytes are not re-serialised: only the new lines are added, each
    ending in CRLF (RFC 5322 §2.1). A value may be pre-folded with CRLF + WSP.
    """
    added = []
    for name, value in fields:
        encoded_name = name.encode("ascii")
        encoded_value = value.encode("utf-8")
        if not _is_field_name(encoded_name):
            raise ValueError(f"invalid header field name {name!r}")
        if b"\r" in _FOLD.sub(b"", encoded_value) or b"\n" in _FOLD.sub(b"", encoded_value):
            raise ValueError(f"header field {name} has a line break that is not a fold")
        added.append(encoded_name + b": " + encoded_value + b"\r\n")
    return b"".join(added) + data


def format_date(timestamp: float) -> str:
    """An RFC 5322 §3.3 date-time in UTC for a POSIX timestamp, e.g.
    ``Sat, 28 Nov 2026 03:39:48 +0000``."""
    return format_datetime(datetime.fromtimestamp(int(timestamp), UTC))


def received_protocol(*, tls: bool, authenticated: bool, smtputf8: bool = False) -> str:
    """The ``with`` protocol type of a Received field.

    RFC 3848 §2 (ESMTP, ESMTPS, ESMTPA, ESMTPSA); RFC 6531 §3.7.3 adds the
    UTF8SMTP variants for SMTPUTF8 transactions.
    """
    base = "UTF8SMTP" if smtputf8 else "ESMTP"
    return base + ("S" if tls else "") + ("A" if authenticated else "")


def format_received(
    *,
    helo: str,
    remote_ip: str,
    hostname: str,
    protocol: str,
    id: str,
    recipient: str | None,
    timestamp: float,
    tls_description: str = "",
) -> str:
    """The value of a Received field (RFC 5321 §4.4), folded before each clause."""
    # RFC 5321 §4.1.3: IPv6 address literals carry the "IPv6:" tag.
    literal = f"[IPv6:{remote_ip}]" if ":" in remote_ip else f"[{remote_ip}]"
    value = f"from {_atom_or_literal(helo)} ({literal})\r\n\tby {hostname} with {protocol}"
    comment = _comment(tls_description)
    if comment:
        value += f" ({comment})"
    value += f" id {id}"
    if recipient is not None:
        value += f"\r\n\tfor <{recipient}>"
    return value + f"; {format_date(timestamp)}"


def _atom_or_literal(helo: str) -> str:
    # The EHLO argument is client data: keep it printable and on one line.
    cleaned = "".join(ch for ch in helo if ch.isprintable() and not ch.isspace())
    return cleaned or "unknown"


def _comment(text: str) -> str:
    # RFC 5322 §3.2.2 comments: no unbalanced parentheses, backslashes or controls.
    return "".join(ch for ch in text if ch.isprintable() and ch not in "()\\").strip()


def canonical_header_name(name: str) -> str:
    """Go's textproto.CanonicalMIMEHeaderKey (spec §8).

    The first letter and every letter after a ``-`` upper-case, the others
    lower-case; a name with any character outside the HTTP token set (such as
    a space or non-ASCII) is returned untouched.
    """
    if not all(ch in _TOKEN for ch in name):
        return name
    out = []
    upper = True
    for ch in name:
        out.append(ch.upper() if upper else ch.lower())
        upper = ch == "-"
    return "".join(out)


def extra_from_fields(fields: Iterable[HeaderField]) -> dict[str, str]:
    """Submission extra data from ``X-Mox-Extra-*`` fields (spec §8).

    The key is the canonical field name without the prefix, the value the
    unfolded, trimmed field value (not RFC 2047 decoded). Raises
    DuplicateExtraKey for a key seen twice, HeaderError for non-UTF-8 text.
    """
    extra: dict[str, str] = {}
    for field in fields:
        name = canonical_header_name(field.name.decode("utf-8", "surrogateescape"))
        if not name.startswith(EXTRA_PREFIX):
            continue
        key = name[len(EXTRA_PREFIX) :]
        try:
            key.encode("utf-8")
            value = field.value.decode("utf-8")
        except UnicodeError:
            raise HeaderError("x-mox-extra- header field is not valid UTF-8") from None
        if key in extra:
            raise DuplicateExtraKey(key)
        extra[key] = value
    return extra


def go_quote(text: str) -> str:
    """``text`` double-quoted with ASCII escapes, like Go's ``%+q``."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif 32 <= code < 127:
            out.append(ch)
        elif code < 0x80:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


__all__ = [
    "EXTRA_PREFIX",
    "DuplicateExtraKey",
    "HeaderError",
    "HeaderField",
    "canonical_header_name",
    "extra_from_fields",
    "field_names",
    "field_values",
    "format_date",
    "format_received",
    "go_quote",
    "has_field",
    "parse_fields",
    "prepend_fields",
    "received_protocol",
    "split_message",
    "unfold",
]
