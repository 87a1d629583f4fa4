"""Composing a message for webapi Send: header fields, MIME nesting and encodings (spec §2.3)."""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mailtwist import __version__
from mailtwist.address import Address

__all__ = [
    "DEFAULT_USER_AGENT",
    "Attachment",
    "ComposeError",
    "Composition",
    "NameAddress",
    "attachment_from_base64",
    "compose_message",
    "format_message_date",
    "generate_message_id",
    "needs_smtputf8",
    "sniff_content_type",
]


DEFAULT_USER_AGENT = f"mailtwist/{__version__}"

# RFC 5322 §2.1.1: lines SHOULD stay within 78 characters and MUST stay within 998.
_FOLD_AT = 77
_MAX_LINE = 998
# RFC 2045 §6.7 (quoted-printable) and §6.8 (base64): encoded lines of at most 76 characters.
_ENCODED_LINE = 76
# RFC 2047 §2: an encoded-word is at most 75 characters.
_MAX_ENCODED_WORD = 75
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
# RFC 2045 §5.1 tspecials; a parameter value with one of these (or space) must be quoted.
_TSPECIALS = frozenset('()<>@,;:\\"/[]?=')
# RFC 5322 §3.2.3 atext, for deciding whether a localpart must be quoted.
_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)


class ComposeError(ValueError):
    """A Send request that cannot become a message; ``code`` is the mox webapi error code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class NameAddress:
    """A display name and an address, as written in From, To, Cc and Reply-To."""

    name: str
    address: Address


@dataclass(frozen=True)
class Attachment:
    """A file to add to the message: decoded bytes plus its MIME labels.

    An empty ``content_type`` is sniffed from the data (spec §2.3); when that gives
    nothing, files from the JSON request still get an empty ``Content-Type:`` field
    (mox's quirk) while form uploads (``omit_empty_content_type``) get none.
    """

    name: str
    content_type: str
    content_id: str
    data: bytes
    omit_empty_content_type: bool = False


@dataclass(frozen=True)
class Composition:
    """Everything Send puts into a message; BCC recipients are not written (spec §2.3)."""

    from_: NameAddress
    to: tuple[NameAddress, ...]
    cc: tuple[NameAddress, ...]
    bcc: tuple[NameAddress, ...]
    reply_to: tuple[NameAddress, ...]
    message_id: str
    references: tuple[str, ...]
    date: datetime
    subject: str
    text: str
    html: str
    headers: tuple[tuple[str, str], ...] = ()
    alternative_files: tuple[Attachment, ...] = ()
    inline_files: tuple[Attachment, ...] = ()
    attached_files: tuple[Attachment, ...] = ()
    user_agent: str = DEFAULT_USER_AGENT

    def __post_init__(self) -> None:
        # Lists from a decoded request become tuples, so the value stays immutable.
        for name in (
            "to",
            "cc",
            "bcc",
            "reply_to",
            "references",
            "headers",
            "alternative_files",
            "inline_files",
            "attached_files",
        ):
            object.__setattr__(self, name, tuple(getattr(self, name)))


def needs_smtputf8(c: Composition) -> bool:
    """Whether any From/To/Cc/Bcc/Reply-To localpart is non-ASCII (spec §2.2 step 7, RFC 6531)."""
    everyone = (c.from_, *c.to, *c.cc, *c.bcc, *c.reply_to)
    return any(not entry.address.is_ascii for entry in everyone)


def generate_message_id(hostname: str, *, random_bytes: Callable[[int], bytes] = os.urandom) -> str:
    """A new Message-ID ``<base64url(16 random bytes)@hostname>`` (spec §2.2 step 9).

    The caller passes the hostname in the form it wants: Unicode only for SMTPUTF8.
    """
    token = base64.urlsafe_b64encode(random_bytes(16)).rstrip(b"=").decode("ascii")
    return f"<{token}@{hostname}>"


def format_message_date(when: datetime) -> str:
    """``2 Jan 2006 15:04:05 -0700`` in the zone of ``when`` (spec §2.3, RFC 5322 §3.3).

    No weekday: RFC 5322 §3.3 makes it optional. A naive datetime is taken as UTC.
    """
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    offset = when.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, mins = divmod(abs(minutes), 60)
    return (
        f"{when.day} {_MONTHS[when.month - 1]} {when.year:04d} "
        f"{when.hour:02d}:{when.minute:02d}:{when.second:02d} {sign}{hours:02d}{mins:02d}"
    )


def attachment_from_base64(name: str, content_type: str, content_id: str, data: str) -> Attachment:
    """An Attachment from a JSON ``File`` whose Data is standard base64 (spec §2.1).

    Invalid base64 is a ComposeError with code ``user`` (spec §2.3).
    """
    try:
        decoded = base64.b64decode(data.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as e:
        raise ComposeError("user", f"parsing attachment as base64: {e}") from None
    return Attachment(name=name, content_type=content_type, content_id=content_id, data=decoded)


# Sniffing: a small part of the WHATWG MIME sniffing standard §7.1 that Go's
# http.DetectContentType implements, enough for the types applications attach.
_HTML_TAGS = (
    b"<!DOCTYPE HTML",
    b"<HTML",
    b"<HEAD",
    b"<SCRIPT",
    b"<IFRAME",
    b"<H1",
    b"<DIV",
    b"<FONT",
    b"<TABLE",
    b"<A",
    b"<STYLE",
    b"<TITLE",
    b"<B",
    b"<BODY",
    b"<BR",
    b"<P",
    b"<!--",
)
_EXACT_SIGNATURES = (
    (b"%PDF-", "application/pdf"),
    (b"%!PS-Adobe-", "application/postscript"),
    (b"\xfe\xff", "text/plain; charset=utf-16be"),
    (b"\xff\xfe", "text/plain; charset=utf-16le"),
    (b"\xef\xbb\xbf", "text/plain; charset=utf-8"),
    (b"\x00\x00\x01\x00", "image/x-icon"),
    (b"\x00\x00\x02\x00", "image/x-icon"),
    (b"BM", "image/bmp"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"wOFF", "font/woff"),
    (b"wOF2", "font/woff2"),
    (b"OggS\x00", "application/ogg"),
    (b"ID3", "audio/mpeg"),
    (b"\x1aE\xdf\xa3", "video/webm"),
    (b"Rar!\x1a\x07\x00", "application/x-rar-compressed"),
    (b"Rar!\x1a\x07\x01\x00", "application/x-rar-compressed"),
    (b"PK\x03\x04", "application/zip"),
    (b"\x1f\x8b\x08", "application/x-gzip"),
    (b"\x00asm", "application/wasm"),
)
# WHATWG sniffing §7.1: bytes that make a resource binary.
_BINARY_BYTES = frozenset([*range(0x00, 0x09), 0x0B, *range(0x0E, 0x1B), *range(0x1C, 0x20)])


def sniff_content_type(data: bytes) -> str:
    """The content type Go's ``http.DetectContentType`` gives the first 512 bytes of data,
    for common types, with ``application/octet-stream`` turned into "" (spec §2.3)."""
    head = data[:512]
    stripped = head.lstrip(b"\t\n\x0c\r ")
    for tag in _HTML_TAGS:
        candidate = stripped[: len(tag)]
        if candidate.upper() == tag and stripped[len(tag) : len(tag) + 1] in (b" ", b">"):
            return "text/html; charset=utf-8"
    if stripped.startswith(b"<?xml"):
        return "text/xml; charset=utf-8"
    for signature, content_type in _EXACT_SIGNATURES:
        if head.startswith(signature):
            return content_type
    if head[:4] == b"RIFF" and head[8:14] == b"WEBPVP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wave"
    if head[4:8] == b"ftyp" and head[8:11] == b"mp4":
        return "video/mp4"
    if any(byte in _BINARY_BYTES for byte in head):
        return ""
    return "text/plain; charset=utf-8"


#: What _refuse_controls refuses: C0, DEL, C1 and the Unicode line/paragraph separators.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _refuse_controls(value: str, what: str) -> None:
    """Refuse characters that could end or split a header line (header injection).

    mox refuses < 0x20 ("control characters not allowed", code ``user``); DEL, C1
    controls and the Unicode line separators are refused too because some parsers
    (Python's among them) break lines there.
    """
    if _CONTROLS.search(value) is not None:
        raise ComposeError("user", f"{what}: control characters not allowed")


def _is_token(text: str) -> bool:
    # RFC 2045 §5.1 token: ASCII printable, no space, no tspecials.
    return bool(text) and all(" " < ch < "\x7f" and ch not in _TSPECIALS for ch in text)


def _quote_string(text: str) -> str:
    # RFC 5322 §3.2.4 quoted-string: backslash-escape DQUOTE and backslash.
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _q_encoded_words(text: str) -> list[str]:
    """RFC 2047 §4.2 "Q" encoded-words for text, split so none passes 75 characters.

    Multi-byte characters are never split across words (RFC 2047 §5.3).
    """
    prefix, suffix = "=?utf-8?q?", "?="
    room = _MAX_ENCODED_WORD - len(prefix) - len(suffix)
    words: list[str] = []
    current: list[str] = []
    used = 0
    for char in text:
        if " " <= char <= "~" and char not in "=?_":
            encoded = "_" if char == " " else char
        else:
            encoded = "".join(f"={byte:02X}" for byte in char.encode("utf-8"))
        if used + len(encoded) > room and current:
            words.append(prefix + "".join(current) + suffix)
            current, used = [], 0
        current.append(encoded)
        used += len(encoded)
    words.append(prefix + "".join(current) + suffix)
    return words


def _b_encoded_words(text: str) -> list[str]:
    """RFC 2047 §4.1 "B" encoded-words, characters kept whole (RFC 2047 §5.3)."""
    prefix, suffix = "=?utf-8?b?", "?="
    room = (_MAX_ENCODED_WORD - len(prefix) - len(suffix)) // 4 * 3
    words: list[str] = []
    chunk = b""
    for char in text:
        encoded = char.encode("utf-8")
        if len(chunk) + len(encoded) > room and chunk:
            words.append(prefix + base64.b64encode(chunk).decode("ascii") + suffix)
            chunk = b""
        chunk += encoded
    words.append(prefix + base64.b64encode(chunk).decode("ascii") + suffix)
    return words


def _octets(text: str) -> int:
    return len(text.encode("utf-8"))


def _check_lines(name: str, value: str) -> None:
    """RFC 5322 §2.1.1: no line of the field, folded as written, over 998 octets."""
    for number, line in enumerate(value.split("\r\n")):
        length = _octets(line) + (len(name) + 2 if number == 0 else 0)
        if length > _MAX_LINE:
            raise ComposeError("user", f"header field {name} has a line longer than 998 octets")


def _fold_at_spaces(name: str, value: str) -> str:
    """``value`` folded before spaces where a line would pass 77 characters (RFC 5322 §2.2.3).

    Only used for values given verbatim by the client (custom headers), and only
    when the line is too long: short values stay as given.
    """
    if len(name) + 2 + _octets(value) <= _FOLD_AT:
        return value
    words = value.split(" ")
    out = words[0]
    length = len(name) + 2 + _octets(words[0])
    for word in words[1:]:
        if length + 1 + _octets(word) > _FOLD_AT and length > 1 and word:
            # RFC 5322 §2.2.3: CRLF inserted before the WSP; unfolding restores the space.
            out += "\r\n " + word
            length = 1 + _octets(word)
        else:
            out += " " + word
            length += 1 + _octets(word)
    return out


def _format_localpart(localpart: str) -> str:
    # RFC 5322 §3.4.1 dot-atom (with RFC 6532 §3.2 UTF-8 atext), else quoted-string.
    atoms = localpart.split(".")
    if all(atom and all(ch in _ATEXT or ord(ch) > 127 for ch in atom) for atom in atoms):
        return localpart
    return _quote_string(localpart)


def _format_mailbox(entry: NameAddress, smtputf8: bool) -> str:
    """An RFC 5322 §3.4 mailbox: ``"Name" <addr>``, ``=?utf-8?q?..?= <addr>`` or ``<addr>``.

    The domain is Unicode only for SMTPUTF8 messages (RFC 6532 §3.2); display names
    are always RFC 2047 encoded when not printable ASCII, as Go's net/mail does.
    """
    address = entry.address
    if not smtputf8 and not address.is_ascii:
        raise ComposeError("user", f"address {address} needs SMTPUTF8 (RFC 6531)")
    domain = address.domain.unicode if smtputf8 else address.domain.ascii
    spec = "<" + _format_localpart(address.localpart) + "@" + domain + ">"
    name = entry.name
    if not name:
        return spec
    _refuse_controls(name, "checking display name")
    if all(" " <= ch <= "~" for ch in name):
        return _quote_string(name) + " " + spec
    # RFC 2047 §5(3): in a phrase, Q encoding must also escape specials; B avoids that.
    if any(ch in "\"#$%&'(),.:;<>@[]^`{|}~" for ch in name):
        words = _b_encoded_words(name)
    else:
        words = _q_encoded_words(name)
    return " ".join(words) + " " + spec


def _address_field(name: str, entries: Sequence[NameAddress], smtputf8: bool) -> bytes:
    """An address field, comma separated, folded with CRLF TAB past 77 characters (spec §2.3)."""
    value = ""
    length = len(name) + 2
    for entry in entries:
        mailbox = _format_mailbox(entry, smtputf8)
        # Long encoded display names are folded between their encoded-words
        # (RFC 2047 §6.2 ignores white space between adjacent encoded-words).
        pieces = mailbox.split(" ") if _octets(mailbox) > _FOLD_AT - 1 else [mailbox]
        size = _octets(mailbox)
        if value:
            value += ","
            length += 1
            if length + 1 + size > _FOLD_AT:
                value += "\r\n\t"
                length = 1
            else:
                value += " "
                length += 1
        for index, piece in enumerate(pieces):
            if index:
                if length + 1 + _octets(piece) > _FOLD_AT:
                    # CRLF before the space: unfolding (RFC 5322 §2.2.3) gives the
                    # space back, so a quoted display name keeps its spaces.
                    value += "\r\n "
                    length = 1
                else:
                    value += " "
                    length += 1
            value += piece
            length += _octets(piece)
    return _field(name, value)


def _subject_field(subject: str, smtputf8: bool) -> bytes:
    """Subject with non-ASCII words Q-encoded unless SMTPUTF8, folded near 77 (spec §2.3)."""
    _refuse_controls(subject, "checking header values")
    value = ""
    length = len("Subject: ")
    have_word = False
    for index, word in enumerate(subject.split(" ")):
        pieces = [word]
        if (not smtputf8 and not word.isascii()) or _octets(word) > _MAX_LINE - 100:
            # RFC 2047 §5(1): an encoded-word may replace a word of unstructured text;
            # very long ASCII words are encoded too so they can be folded (RFC 5322 §2.1.1).
            pieces = _q_encoded_words(word)
        if index > 0:
            value += " "
            length += 1
        for number, piece in enumerate(pieces):
            if number:
                value += " "
                length += 1
            if have_word and length + _octets(piece) > _FOLD_AT:
                value += "\r\n\t"
                length = 1
            value += piece
            length += _octets(piece)
            have_word = True
    return _field("Subject", value)


def _field(name: str, value: str) -> bytes:
    _check_lines(name, value)
    return f"{name}: {value}\r\n".encode()


def _text_part(subtype: str, text: str, smtputf8: bool) -> tuple[list[tuple[str, str]], bytes]:
    """Headers and body of a text part (spec §2.3).

    A trailing newline is added, line endings become CRLF, charset is us-ascii or
    utf-8, and the transfer encoding is quoted-printable when a line is over 76
    octets or holds a bare CR (RFC 2045 §6.7, RFC 5322 §2.1.1: lines stay within
    998 octets), else 8bit for UTF-8 or SMTPUTF8 messages, else 7bit.
    """
    # Spec §2.1: Text/HTML use "\n"; a client's CRLF is taken as one line end too.
    text = text.replace("\r\n", "\n")
    if not text.endswith("\n"):
        text += "\n"
    body = text.replace("\n", "\r\n").encode("utf-8")
    charset = "us-ascii" if text.isascii() else "utf-8"
    if _needs_quoted_printable(body):
        body = _quoted_printable(body)
        encoding = "quoted-printable"
    elif smtputf8 or charset == "utf-8":
        encoding = "8bit"
    else:
        encoding = "7bit"
    headers = [
        ("Content-Transfer-Encoding", encoding),
        ("Content-Type", f"text/{subtype}; charset={charset}"),
    ]
    return headers, body


#: A NUL, or a CR or LF that is not part of a CRLF.
_BARE_CR_LF_NUL = re.compile(rb"\x00|\r(?!\n)|(?<!\r)\n")


def _needs_quoted_printable(body: bytes) -> bool:
    # RFC 2045 §2.7/§2.8: 7bit/8bit data has short CRLF lines and no NUL or bare CR/LF.
    lines = body.split(b"\r\n")
    return max(map(len, lines)) > _ENCODED_LINE or _BARE_CR_LF_NUL.search(body) is not None


#: Bytes quoted-printable must escape (RFC 2045 §6.7 rules 1-3): all but printable
#: ASCII without "=", space and tab.
_QP_UNSAFE = re.compile(rb"[^\x21-\x3c\x3e-\x7e \t]+")


#: The escape of each byte, so escaping a run of bytes is one lookup per byte.
_QP_ESCAPES = tuple(b"=%02X" % byte for byte in range(256))
_EQUALS = ord("=")


def _qp_escape(match: re.Match[bytes]) -> bytes:
    return b"".join(map(_QP_ESCAPES.__getitem__, match.group()))


def _quoted_printable(body: bytes) -> bytes:
    """RFC 2045 §6.7 quoted-printable of CRLF-separated text, lines of at most 76 characters."""
    out: list[bytes] = []
    lines = body.split(b"\r\n")
    if not lines[-1]:
        lines.pop()
    for line in lines:
        encoded = _QP_UNSAFE.sub(_qp_escape, line[:-1])
        if line:
            # Rule (3): a space or tab ending a line would be lost in transport.
            last = line[-1]
            encoded += bytes([last]) if 33 <= last <= 126 and last != 61 else b"=%02X" % last
        # Rule (5): a soft line break "=" keeps each line within 76 characters, never
        # inside an "=XX" escape. An index walks the line: slicing off the rest each
        # time would copy it again per output line, quadratic on a long line.
        start = 0
        while len(encoded) - start > _ENCODED_LINE:
            cut = start + _ENCODED_LINE - 1
            if encoded[cut - 1] == _EQUALS:
                cut -= 1
            elif encoded[cut - 2] == _EQUALS:
                cut -= 2
            out.append(encoded[start:cut])
            out.append(b"=\r\n")
            start = cut
        out.append(encoded[start:] if start else encoded)
        out.append(b"\r\n")
    return b"".join(out)


def _param(attribute: str, value: str) -> str:
    """One MIME parameter like Go's mime.FormatMediaType: token, quoted-string or RFC 2231."""
    if any((ord(ch) < 0x20 and ch != "\t") or ord(ch) >= 0x7F for ch in value):
        # RFC 2231 §4: charset'language'percent-encoded octets.
        encoded = "".join(
            chr(byte)
            if 0x20 < byte < 0x7F and chr(byte) not in _TSPECIALS and chr(byte) not in "*'%"
            else f"%{byte:02X}"
            for byte in value.encode("utf-8")
        )
        return f"{attribute}*=utf-8''{encoded}"
    if _is_token(value):
        return f"{attribute}={value}"
    return f"{attribute}={_quote_string(value)}"


def _disposition(disposition: str, filename: str) -> str:
    """Content-Disposition with a filename parameter (RFC 2183 §2.3), folded if long.

    A long value is split in RFC 2231 §3 continuations so no line passes 77 characters.
    """
    value = f"{disposition}; {_param('filename', filename)}"
    if len("Content-Disposition: ") + len(value) <= _FOLD_AT:
        return value
    encoded = "".join(
        chr(byte)
        if 0x20 < byte < 0x7F and chr(byte) not in _TSPECIALS and chr(byte) not in "*'%"
        else f"%{byte:02X}"
        for byte in filename.encode("utf-8")
    )
    pieces = []
    chunk = 50
    position = 0
    while position < len(encoded):
        end = min(position + chunk, len(encoded))
        # Never split a %XX escape.
        if "%" in encoded[max(end - 2, position) : end]:
            end = encoded.index("%", max(end - 2, position))
            if end == position:
                end = position + 3
        pieces.append(encoded[position:end])
        position = end
    params = [f"filename*0*=utf-8''{pieces[0]}"]
    params.extend(f"filename*{index}*={piece}" for index, piece in enumerate(pieces[1:], 1))
    return disposition + ";\r\n\t" + ";\r\n\t".join(params)


def _file_part(
    attachment: Attachment, disposition: str, smtputf8: bool
) -> tuple[list[tuple[str, str]], bytes]:
    """Headers (sorted like Go's multipart writer) and base64 body of a file (spec §2.3)."""
    content_type = attachment.content_type or sniff_content_type(attachment.data)
    for value, what in (
        (content_type, "checking content type of file"),
        (attachment.content_id, "checking content id of file"),
    ):
        _refuse_controls(value, what)
        if not smtputf8 and not value.isascii():
            # Written as given: 8-bit header octets need an SMTPUTF8 message
            # (RFC 6532 §3); mox would write them raw into any message.
            raise ComposeError("user", f"{what}: non-ASCII characters not allowed")
    headers = [("Content-Disposition", _disposition(disposition, attachment.name))]
    if attachment.content_id:
        headers.append(("Content-Id", attachment.content_id))
    headers.append(("Content-Transfer-Encoding", "base64"))
    if content_type or not attachment.omit_empty_content_type:
        headers.append(("Content-Type", content_type))
    encoded = base64.b64encode(attachment.data)
    body = b"".join(
        encoded[start : start + _ENCODED_LINE] + b"\r\n"
        for start in range(0, len(encoded), _ENCODED_LINE)
    )
    return headers, body


@dataclass
class _Multipart:
    """A multipart being written: its boundary and the parts written so far."""

    subtype: str
    boundary: str
    chunks: list[bytes] = field(default_factory=list)
    count: int = 0

    def content_type(self) -> str:
        return f'multipart/{self.subtype}; boundary="{self.boundary}"'

    def add(self, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        # RFC 2046 §5.1.1: the CRLF before a boundary belongs to the boundary.
        self.chunks.append(b"\r\n" if self.count else b"")
        self.chunks.append(f"--{self.boundary}\r\n".encode("ascii"))
        for name, value in headers:
            self.chunks.append(_field(name, value))
        self.chunks.append(b"\r\n")
        self.chunks.append(body)
        self.count += 1

    def close(self) -> bytes:
        self.chunks.append(f"\r\n--{self.boundary}--\r\n".encode("ascii"))
        return b"".join(self.chunks)


def _default_boundary() -> str:
    # Like Go's mime/multipart: 30 random bytes in hex; RFC 2046 §5.1.1 allows 70 characters.
    return os.urandom(30).hex()


def compose_message(
    c: Composition,
    *,
    smtputf8: bool,
    make_boundary: Callable[[], str] = _default_boundary,
    max_size: int = 0,
) -> bytes:
    """The message bytes for a Send request, laid out as mox does (spec §2.3).

    Raises ComposeError: ``missingBody`` without text and HTML, ``user`` for control
    characters in header values or names, an unusable header, or an address that
    needs SMTPUTF8 when ``smtputf8`` is false; ``messageTooLarge`` when ``max_size``
    is above zero and the message would be larger.
    """
    if not c.text and not c.html:
        raise ComposeError("missingBody", "at least text or html body required")
    if max_size > 0:
        # Refused before any encoding when the content alone is too large: its
        # encoded form only grows (a character is at least one octet, base64 4/3).
        files = (*c.alternative_files, *c.inline_files, *c.attached_files)
        estimate = len(c.text) + len(c.html) + sum(len(f.data) * 4 // 3 for f in files)
        if estimate > max_size:
            raise ComposeError("messageTooLarge", "message too large")

    head: list[bytes] = [_address_field("From", [c.from_], smtputf8)]
    if c.reply_to:
        head.append(_address_field("Reply-To", c.reply_to, smtputf8))
    if c.to:
        head.append(_address_field("To", c.to, smtputf8))
    if c.cc:
        head.append(_address_field("Cc", c.cc, smtputf8))
    if c.subject:
        head.append(_subject_field(c.subject, smtputf8))
    head.append(_field("Date", format_message_date(c.date)))
    if c.message_id:
        _refuse_controls(c.message_id, "checking header values")
        head.append(_field("Message-Id", c.message_id))
    if c.references:
        for reference in c.references:
            # Spec §2.3: only control characters are checked, not the <> form.
            _refuse_controls(reference, "checking header values")
        head.append(_field("References", "\r\n\t".join(c.references)))
        head.append(_field("In-Reply-To", c.references[-1]))
    head.append(_field("MIME-Version", "1.0"))
    have_user_agent = False
    for name, value in c.headers:
        _refuse_controls(name, "checking header values")
        _refuse_controls(value, "checking header values")
        # RFC 5322 §3.6.8: a field name is printable ASCII without colon or space.
        if not name or any(not ("!" <= ch <= "~") or ch == ":" for ch in name):
            raise ComposeError("user", f"invalid header field name {name!r}")
        head.append(_field(name, _fold_at_spaces(name, value)))
        if name.lower() in ("user-agent", "x-mailer"):
            have_user_agent = True
    if not have_user_agent and c.user_agent:
        _refuse_controls(c.user_agent, "checking header values")
        head.append(_field("User-Agent", c.user_agent))

    # Spec §2.3: mixed (attached files) > related (inline files) > alternative.
    mixed = _Multipart("mixed", make_boundary()) if c.attached_files else None
    related = _Multipart("related", make_boundary()) if c.inline_files else None
    alternative = (
        _Multipart("alternative", make_boundary())
        if (c.text and c.html) or c.alternative_files
        else None
    )
    top_headers: list[tuple[str, str]] = []
    top_body = b""

    def add(target: _Multipart | None, headers: list[tuple[str, str]], body: bytes) -> None:
        nonlocal top_headers, top_body
        if target is None:
            top_headers, top_body = headers, body
        else:
            target.add(headers, body)

    body_level = alternative or related or mixed
    if c.text:
        add(body_level, *_text_part("plain", c.text, smtputf8))
    if c.html:
        add(body_level, *_text_part("html", c.html, smtputf8))
    for attachment in c.alternative_files:
        add(alternative, *_file_part(attachment, "inline", smtputf8))
    if alternative is not None:
        add(related or mixed, [("Content-Type", alternative.content_type())], alternative.close())
    for attachment in c.inline_files:
        add(related, *_file_part(attachment, "inline", smtputf8))
    if related is not None:
        add(mixed, [("Content-Type", related.content_type())], related.close())
    for attachment in c.attached_files:
        add(mixed, *_file_part(attachment, "attachment", smtputf8))
    if mixed is not None:
        top_headers, top_body = [("Content-Type", mixed.content_type())], mixed.close()
    for name, value in top_headers:
        head.append(_field(name, value))
    message = b"".join(head) + b"\r\n" + top_body
    if max_size > 0 and len(message) > max_size:
        raise ComposeError("messageTooLarge", "message too large")
    return message
