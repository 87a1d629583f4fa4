"""Email addresses: SMTP paths and header addresses, NFC localparts, IDNA domains, base address."""

from __future__ import annotations

import functools
import ipaddress
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from email.errors import (
    CharsetError,
    InvalidBase64CharactersDefect,
    InvalidBase64LengthDefect,
    InvalidBase64PaddingDefect,
    NonASCIILocalPartDefect,
    ObsoleteHeaderDefect,
    UndecodableBytesDefect,
)
from email.headerregistry import AddressHeader, HeaderRegistry

import idna

__all__ = [
    "MAX_ADDRESS_OCTETS",
    "MAX_DOMAIN_OCTETS",
    "MAX_LABEL_OCTETS",
    "MAX_LOCALPART_OCTETS",
    "Address",
    "AddressError",
    "Domain",
    "base_address",
    "canonical_localpart",
    "parse_address",
    "parse_domain",
    "parse_header_addresses",
    "parse_path",
    "strip_catchall",
]

# RFC 5321 §4.5.3.1.1: local-part at most 64 octets.
MAX_LOCALPART_OCTETS = 64
# RFC 5321 §4.5.3.1.3: a path is at most 256 octets including "<" and ">".
MAX_ADDRESS_OCTETS = 254
# RFC 1035 §2.3.4 (and RFC 5321 §4.5.3.1.2 via the path limit).
MAX_LABEL_OCTETS = 63
MAX_DOMAIN_OCTETS = 253

# RFC 5322 §3.2.3 atext, the ASCII characters of a Dot-string atom (RFC 5321 §4.1.2).
_ATEXT = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~"
)
# RFC 5321 §4.1.2 qtextSMTP (%d32-33 / %d35-91 / %d93-126) plus the two characters that
# need a quoted-pair: all printable ASCII and space.
_QUOTABLE_ASCII = frozenset(chr(c) for c in range(32, 127))
# RFC 5321 §4.1.2 Dot-string = Atom *("." Atom), Atom = 1*atext; _ATEXT as a regex class.
_ATEXT_CLASS = "[A-Za-z0-9!#$%&'*+\\-/=?^_`{|}~]"
_ASCII_DOT_STRING = re.compile(f"{_ATEXT_CLASS}+(?:\\.{_ATEXT_CLASS}+)*")
# RFC 1035 §2.3.1 / RFC 5321 §4.1.2 Let-dig / Ldh-str, after UTS #46 lower-casing.
_LDH = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-")
# Unicode categories never allowed in a localpart: controls, surrogates, line/paragraph separators.
_FORBIDDEN_CATEGORIES = frozenset({"Cc", "Cs", "Zl", "Zp"})
# RFC 5321 §4.1.3 IPv4-address-literal: Snum 3("." Snum), Snum = 1*3DIGIT.
_IPV4_LITERAL = re.compile(r"[0-9]{1,3}(?:\.[0-9]{1,3}){3}", re.ASCII)
# RFC 5322 §2.2.3 folding: a line break (CRLF, or a bare LF from a lenient source) before WSP.
_FOLD = re.compile(r"\r?\n(?=[ \t])")

# Defects of the stdlib header parser that do not make an address unusable: obsolete
# syntax must be accepted (RFC 5322 §4), UTF-8 localparts are fine (RFC 6532 §3.2),
# and a broken encoded-word only damages the display name (RFC 2047 §6.3).
_TOLERATED_DEFECTS = (
    ObsoleteHeaderDefect,
    NonASCIILocalPartDefect,
    InvalidBase64PaddingDefect,
    InvalidBase64CharactersDefect,
    InvalidBase64LengthDefect,
    UndecodableBytesDefect,
    CharsetError,
)

_HEADERS = HeaderRegistry()


class AddressError(ValueError):
    """An address, path or domain that cannot be used; the message says what is wrong."""


def _describe(char: str) -> str:
    """A character for an error message: printable form and code point."""
    if char.isprintable() and not char.isspace():
        return f"'{char}' (U+{ord(char):04X})"
    return f"U+{ord(char):04X}"


@dataclass(frozen=True)
class Domain:
    """A domain name in its A-label and U-label forms, or an address literal.

    Build it with :func:`parse_domain`; both forms are lower-case and the
    Unicode form is NFC. For address literals both forms are the literal in
    brackets, e.g. ``[1.2.3.4]`` or ``[IPv6:::1]``.
    """

    ascii: str
    unicode: str

    def __post_init__(self) -> None:
        if not self.ascii or not self.unicode:
            raise AddressError("empty domain")
        if not self.ascii.isascii():
            raise AddressError(f"ASCII form of domain {self.ascii!r} is not ASCII")

    def __str__(self) -> str:
        return self.unicode

    @property
    def is_literal(self) -> bool:
        """True for an RFC 5321 §4.1.3 address literal such as ``[1.2.3.4]``."""
        return self.ascii.startswith("[")


def _parse_address_literal(text: str) -> Domain:
    """An RFC 5321 §4.1.3 address literal, ``[`` and ``]`` included, in canonical form."""
    if not text.endswith("]"):
        raise AddressError(f"address literal {text!r} does not end with ']'")
    inner = text[1:-1]
    if inner[:5].lower() == "ipv6:":
        # RFC 5321 §4.1.3: IPv6-address-literal = "IPv6:" IPv6-addr; the tag is
        # case-insensitive like all ABNF strings (RFC 5234 §2.3).
        value = inner[5:]
        if "%" in value:
            raise AddressError(f"address literal {text!r} has a zone index, not allowed")
        try:
            address = ipaddress.IPv6Address(value)
        except ValueError as e:
            raise AddressError(f"invalid IPv6 address literal {text!r}: {e}") from None
        canonical = f"[IPv6:{address.compressed}]"
        return Domain(ascii=canonical, unicode=canonical)
    if ":" in inner:
        # RFC 5321 §4.1.3 General-address-literal: no other tags are standardized.
        tag = inner.split(":", 1)[0]
        raise AddressError(
            f"address literal {text!r} has unsupported tag {tag!r}, only IPv4 and IPv6 are known"
        )
    if not _IPV4_LITERAL.fullmatch(inner):
        raise AddressError(f"invalid IPv4 address literal {text!r}")
    parts = [int(part) for part in inner.split(".")]
    if any(part > 255 for part in parts):
        raise AddressError(f"invalid IPv4 address literal {text!r}: number over 255")
    canonical = "[" + ".".join(str(part) for part in parts) + "]"
    return Domain(ascii=canonical, unicode=canonical)


def _check_ldh(label: str, shown: str) -> None:
    """Refuse an ASCII label that is not an RFC 5321 §4.1.2 Ldh-str (after lower-casing)."""
    for char in label:
        if char not in _LDH:
            raise AddressError(f"invalid character {_describe(char)} in domain label {shown!r}")
    if label.startswith("-") or label.endswith("-"):
        raise AddressError(f"domain label {shown!r} starts or ends with a hyphen")
    # RFC 5891 §4.2.3.1: "--" in positions 3 and 4 is reserved for A-labels.
    if label[2:4] == "--":
        raise AddressError(f"domain label {shown!r} has '--' in positions 3 and 4 (RFC 5891)")


def _check_ulabel(label: str, shown: str) -> None:
    """Refuse a non-ASCII label that is not valid for IDNA lookup.

    IDNA 2008 (RFC 5891 §5.4) with the UTS #46 lookup profile: characters UTS #46
    keeps as valid but IDNA 2008 disallows (symbols such as U+263A in
    ``xn--74h``) are accepted, as resolvers and browsers do.
    """
    for char in label:
        if char.isascii() and char not in _LDH:
            raise AddressError(f"invalid character {_describe(char)} in domain label {shown!r}")
    try:
        idna.check_nfc(label)
        idna.check_hyphen_ok(label)
        idna.check_initial_combiner(label)
        classes = idna.idnadata.codepoint_classes
        for position, char in enumerate(label):
            value = ord(char)
            # RFC 5892 Appendix A: joiners and context characters have rules.
            if idna.intranges_contain(value, classes["CONTEXTJ"]):
                if not idna.valid_contextj(label, position):
                    raise AddressError(
                        f"joiner {_describe(char)} not allowed here in domain label {shown!r}"
                    )
            elif idna.intranges_contain(value, classes["CONTEXTO"]) and not idna.valid_contexto(
                label, position
            ):
                raise AddressError(
                    f"character {_describe(char)} not allowed here in domain label {shown!r}"
                )
        # RFC 5893 §2: the Bidi rule.
        idna.check_bidi(label)
    except idna.IDNAError as e:
        raise AddressError(f"invalid domain label {shown!r}: {e}") from None
    except ValueError as e:  # unknown code points next to a joiner
        raise AddressError(f"invalid domain label {shown!r}: {e}") from None


def _uts46_map(text: str) -> str:
    """UTS #46 §4 mapping, non-transitional, STD3 rules; AddressError for disallowed code points."""
    try:
        return idna.uts46_remap(text, std3_rules=True, transitional=False)
    except idna.IDNAError as e:
        raise AddressError(f"invalid domain {text!r}: {e}") from None


def _label_forms(label: str) -> tuple[str, str]:
    """The A-label and U-label of one mapped, lower-case label."""
    if label.isascii():
        if not label.startswith("xn--"):
            _check_ldh(label, label)
            if len(label) > MAX_LABEL_OCTETS:
                raise AddressError(
                    f"domain label {label!r} is longer than {MAX_LABEL_OCTETS} octets"
                )
            return label, label
        # RFC 5891 §5.3: an A-label must decode to a valid U-label that encodes back to it.
        try:
            ulabel = label[4:].encode("ascii").decode("punycode")
        except (UnicodeError, ValueError, OverflowError):
            raise AddressError(f"A-label {label!r} is not valid punycode") from None
        if not ulabel or ulabel.isascii():
            raise AddressError(f"A-label {label!r} does not decode to a non-ASCII label")
        if _uts46_map(ulabel) != ulabel:
            raise AddressError(f"A-label {label!r} decodes to {ulabel!r}, not in normalised form")
        _check_ulabel(ulabel, label)
        if "xn--" + ulabel.encode("punycode").decode("ascii") != label:
            raise AddressError(f"A-label {label!r} is not the canonical encoding of {ulabel!r}")
        if len(label) > MAX_LABEL_OCTETS:
            raise AddressError(f"domain label {label!r} is longer than {MAX_LABEL_OCTETS} octets")
        return label, ulabel
    _check_ulabel(label, label)
    alabel = "xn--" + label.encode("punycode").decode("ascii")
    if len(alabel) > MAX_LABEL_OCTETS:
        raise AddressError(
            f"domain label {label!r} is longer than {MAX_LABEL_OCTETS} octets as A-label {alabel!r}"
        )
    return alabel, label


def parse_domain(text: str) -> Domain:
    """Parse a domain name (A-labels or U-labels, any case) or an address literal.

    IDNA 2008 lookup with UTS #46 mapping (RFC 5891, UTS #46 §4): lower-cased,
    NFC, both forms computed. A trailing dot is refused: mail domains are always
    absolute (RFC 5321 §2.3.5).
    """
    if not text:
        raise AddressError("empty domain")
    if text.startswith("["):
        return _parse_address_literal(text)
    # Cheap bound before IDNA work; the precise check is on the A-label form below.
    if len(text) > 4 * MAX_DOMAIN_OCTETS:
        raise AddressError(f"domain is longer than {MAX_DOMAIN_OCTETS} octets")
    # RFC 5321 §4.1.2 (Domain = sub-domain *("." sub-domain), letters, digits, hyphens):
    # checked here so the answer does not depend on the idna package's version.
    for char in text:
        if char.isascii() and not (char.isalnum() or char in "-."):
            raise AddressError(f"invalid character {_describe(char)} in domain {text!r}")
    mapped = _uts46_map(text)
    if mapped.endswith("."):
        raise AddressError(f"domain {text!r} ends with a dot, trailing dot not allowed")
    alabels: list[str] = []
    ulabels: list[str] = []
    for label in mapped.split("."):
        if not label:
            raise AddressError(f"domain {text!r} has an empty label")
        alabel, ulabel = _label_forms(label)
        alabels.append(alabel)
        ulabels.append(ulabel)
    ascii_form = ".".join(alabels)
    if len(ascii_form) > MAX_DOMAIN_OCTETS:
        raise AddressError(f"domain {text!r} is longer than {MAX_DOMAIN_OCTETS} octets")
    return Domain(ascii=ascii_form, unicode=".".join(ulabels))


def _is_atom_char(char: str) -> bool:
    """Whether a character may appear unquoted in a Dot-string atom.

    RFC 6531 §3.3 adds UTF8-non-ascii to atext; non-ASCII spaces are kept out
    of atoms on purpose, so they only appear quoted and never look like a separator.
    """
    if char.isascii():
        return char in _ATEXT
    return unicodedata.category(char) not in _FORBIDDEN_CATEGORIES and not char.isspace()


def _is_dot_string(localpart: str) -> bool:
    """Whether a localpart value can be written as an RFC 5321 §4.1.2 Dot-string."""
    if localpart.isascii():
        # The common case, asked every time an address is written: one regex.
        return _ASCII_DOT_STRING.fullmatch(localpart) is not None
    return all(atom and all(_is_atom_char(c) for c in atom) for atom in localpart.split("."))


def _quote_localpart(localpart: str) -> str:
    """The RFC 5321 §4.1.2 Local-part form of a value: Dot-string, else Quoted-string."""
    if _is_dot_string(localpart):
        return localpart
    # RFC 5321 §4.1.2: quoted-pairSMTP is only needed for "\" and DQUOTE.
    return '"' + localpart.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _check_localpart_value(localpart: str) -> None:
    """Refuse a localpart value (unquoted, NFC) that no address may have."""
    if not localpart:
        raise AddressError("empty localpart")
    for char in localpart:
        if char.isascii():
            # RFC 5321 §4.1.2: even quoted, only printable ASCII and space.
            if char not in _QUOTABLE_ASCII:
                raise AddressError(f"control character {_describe(char)} in localpart")
        elif unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise AddressError(f"control character {_describe(char)} in localpart")
    # RFC 5321 §4.5.3.1.1, measured on the UTF-8 value (RFC 6531 §3.3).
    size = len(localpart.encode("utf-8"))
    if size > MAX_LOCALPART_OCTETS:
        raise AddressError(f"localpart is {size} octets, more than {MAX_LOCALPART_OCTETS}")


@dataclass(frozen=True)
class Address:
    """A mailbox: NFC localpart value (quotes and escapes removed) and domain.

    Construction normalises the localpart to NFC (so ``e`` + U+0301 and U+00E9
    give equal addresses) and refuses empty, over-long or control-character
    localparts and addresses over 254 octets.
    """

    localpart: str
    domain: Domain

    def __post_init__(self) -> None:
        if not isinstance(self.domain, Domain):
            raise TypeError(f"domain must be a Domain, not {type(self.domain).__name__}")
        localpart = unicodedata.normalize("NFC", self.localpart)
        _check_localpart_value(localpart)
        object.__setattr__(self, "localpart", localpart)
        # RFC 5321 §4.5.3.1.3, path of 256 octets minus the angle brackets; the
        # longer of the two domain forms so both forms fit.
        size = (
            len(_quote_localpart(localpart).encode("utf-8"))
            + 1
            + max(len(self.domain.ascii), len(self.domain.unicode.encode("utf-8")))
        )
        if size > MAX_ADDRESS_OCTETS:
            raise AddressError(f"address is {size} octets, more than {MAX_ADDRESS_OCTETS}")

    def __str__(self) -> str:
        return _quote_localpart(self.localpart) + "@" + self.domain.unicode

    def ascii(self) -> str:
        """The address with the A-label domain; AddressError if the localpart needs SMTPUTF8."""
        if not self.is_ascii:
            raise AddressError(
                f"localpart {self.localpart!r} is not ASCII, the address needs SMTPUTF8 (RFC 6531)"
            )
        return _quote_localpart(self.localpart) + "@" + self.domain.ascii

    @property
    def is_ascii(self) -> bool:
        """True when the localpart is ASCII: the address can be sent without SMTPUTF8."""
        return self.localpart.isascii()


def _refuse_non_ascii(text: str, allow_utf8: bool) -> None:
    """RFC 6531 §3.3: non-ASCII in a path is only allowed with SMTPUTF8."""
    if allow_utf8:
        return
    for position, char in enumerate(text):
        if not char.isascii():
            raise AddressError(
                f"non-ASCII character {_describe(char)} at position {position + 1} "
                "without SMTPUTF8 (RFC 6531)"
            )


def _parse_quoted_localpart(text: str) -> tuple[str, int]:
    """RFC 5321 §4.1.2 Quoted-string at the start of text: (value, index after it)."""
    value: list[str] = []
    position = 1
    while position < len(text):
        char = text[position]
        if char == '"':
            return "".join(value), position + 1
        if char == "\\":
            # RFC 5321 §4.1.2: quoted-pairSMTP = %d92 %d32-126.
            if position + 1 >= len(text):
                break
            escaped = text[position + 1]
            if escaped not in _QUOTABLE_ASCII:
                raise AddressError(
                    f"invalid escaped character {_describe(escaped)} in quoted localpart "
                    f"at position {position + 2}"
                )
            value.append(escaped)
            position += 2
            continue
        # RFC 5321 §4.1.2 qtextSMTP; RFC 6531 §3.3 adds UTF8-non-ascii.
        if char.isascii():
            if char not in _QUOTABLE_ASCII:
                raise AddressError(
                    f"invalid character {_describe(char)} in quoted localpart "
                    f"at position {position + 1}"
                )
        elif unicodedata.category(char) in _FORBIDDEN_CATEGORIES:
            raise AddressError(
                f"control character {_describe(char)} in quoted localpart "
                f"at position {position + 1}"
            )
        value.append(char)
        position += 1
    raise AddressError("quoted localpart has no closing '\"'")


def _parse_dot_string(text: str) -> tuple[str, int]:
    """RFC 5321 §4.1.2 Dot-string at the start of text: (value, index of the "@")."""
    position = 0
    while position < len(text) and text[position] != "@":
        char = text[position]
        if char == ".":
            if position == 0:
                raise AddressError("localpart starts with a dot")
            if text[position - 1] == ".":
                raise AddressError(f"localpart has two dots in a row at position {position + 1}")
        elif not _is_atom_char(char):
            if char.isascii() and char in _QUOTABLE_ASCII:
                raise AddressError(
                    f"invalid character {_describe(char)} in localpart at position {position + 1}, "
                    "it must be quoted"
                )
            raise AddressError(
                f"invalid character {_describe(char)} in localpart at position {position + 1}"
            )
        position += 1
    if position == len(text):
        raise AddressError(f"missing '@' in address {text!r}")
    if position == 0:
        raise AddressError("empty localpart")
    if text[position - 1] == ".":
        raise AddressError("localpart ends with a dot")
    return text[:position], position


@functools.lru_cache(maxsize=4096)
def parse_address(text: str, *, allow_utf8: bool = True) -> Address:
    """Parse an RFC 5321 §4.1.2 Mailbox: Local-part "@" ( Domain / address-literal ).

    With ``allow_utf8`` the localpart and domain may hold UTF-8 (RFC 6531 §3.3);
    without it any non-ASCII character is refused. The localpart is NFC-normalised.
    """
    if not text:
        raise AddressError("empty address")
    _refuse_non_ascii(text, allow_utf8)
    if text.startswith('"'):
        localpart, end = _parse_quoted_localpart(text)
        if end == len(text):
            raise AddressError(f"missing '@' in address {text!r}")
        if text[end] != "@":
            raise AddressError(
                f"unexpected character {_describe(text[end])} after quoted localpart, expected '@'"
            )
    else:
        localpart, end = _parse_dot_string(text)
    domain = parse_domain(text[end + 1 :])
    return Address(localpart, domain)


def _skip_source_route(text: str) -> int:
    """RFC 5321 §4.1.2 A-d-l ":" at the start of text: index of the mailbox after it.

    Domains in the route are checked but the route is ignored (RFC 5321 §C).
    """
    position = 0
    while True:
        if position >= len(text) or text[position] != "@":
            raise AddressError("source route hop does not start with '@'")
        start = position + 1
        if text.startswith("[", start):
            close = text.find("]", start)
            end = len(text) if close < 0 else close + 1
        else:
            end = start
            while end < len(text) and text[end] not in ",:":
                end += 1
        parse_domain(text[start:end])
        if end >= len(text):
            raise AddressError("source route not terminated by ':'")
        if text[end] == ":":
            return end + 1
        if text[end] != ",":
            raise AddressError(
                f"unexpected character {_describe(text[end])} in source route, expected ',' or ':'"
            )
        position = end + 1


def parse_path(text: str, *, allow_utf8: bool = True) -> Address | None:
    """Parse an RFC 5321 §4.1.2 Path as it follows "MAIL FROM:" or "RCPT TO:".

    ``<>`` is the null reverse-path (RFC 5321 §4.5.5) and gives None. A source
    route is accepted and dropped (RFC 5321 §C, §4.1.1.3). The bare
    ``<Postmaster>`` of RFC 5321 §4.1.1.3 has no domain and is refused here: the
    caller recognises it before parsing.
    """
    if not text.startswith("<"):
        raise AddressError("path does not start with '<'")
    if not text.endswith(">") or len(text) < 2:
        raise AddressError("path does not end with '>'")
    inner = text[1:-1]
    if not inner:
        return None
    _refuse_non_ascii(inner, allow_utf8)
    start = _skip_source_route(inner) if inner.startswith("@") else 0
    return parse_address(inner[start:], allow_utf8=allow_utf8)


def _clean_display_name(name: str) -> str:
    """A display name with undecodable bytes (lone surrogates) replaced by U+FFFD."""
    return "".join("\ufffd" if 0xD800 <= ord(c) <= 0xDFFF else c for c in name)


def parse_header_addresses(value: str) -> list[tuple[str, Address]]:
    """Parse an RFC 5322 §3.4 address-list from a header value (From, To, Cc, ...).

    Returns (display name, address) pairs: display names RFC 2047 decoded,
    groups flattened (an empty group gives nothing), localparts NFC. Obsolete
    syntax is accepted (RFC 5322 §4); anything else malformed is an AddressError.
    """
    # RFC 5322 §2.2.3: unfold by removing each CRLF that is followed by white space.
    value = _FOLD.sub("", value)
    if "\r" in value or "\n" in value:
        raise AddressError(f"line break not followed by white space in header value {value!r}")
    if not value.strip():
        raise AddressError("no address in header value")
    try:
        header = _HEADERS("To", value)
    except Exception:
        # The stdlib parser raises IndexError and others on some garbage; its
        # message would describe its internals, not the input.
        raise AddressError(f"cannot parse address list {value!r}") from None
    if not isinstance(header, AddressHeader):  # pragma: no cover - "To" is an address header
        raise TypeError("stdlib header registry did not give an address header")
    for defect in header.defects:
        if not isinstance(defect, _TOLERATED_DEFECTS):
            raise AddressError(f"invalid address list {value!r}: {defect}")
    result: list[tuple[str, Address]] = []
    for parsed in header.addresses:
        if not parsed.username:
            raise AddressError(f"address without localpart in {value!r}")
        if not parsed.domain:
            raise AddressError(f"address {parsed.username!r} has no domain")
        address = Address(parsed.username, parse_domain(parsed.domain))
        result.append((_clean_display_name(parsed.display_name), address))
    return result


def strip_catchall(localpart: str, separators: Sequence[str]) -> str:
    """The localpart cut at the first occurrence of any separator ("mjl+tag" gives "mjl")."""
    cut = len(localpart)
    for separator in separators:
        if separator:
            position = localpart.find(separator)
            if 0 <= position < cut:
                cut = position
    return localpart[:cut]


def canonical_localpart(
    localpart: str, separators: Sequence[str], case_sensitive: bool = False
) -> str:
    """The localpart that names an account: catchall suffix removed, lower-cased unless
    the domain is case sensitive (spec §13)."""
    stripped = strip_catchall(localpart, separators)
    if case_sensitive:
        return stripped
    return unicodedata.normalize("NFC", stripped.lower())


def base_address(address: Address) -> str:
    """The suppression-list base address of spec §6.2.

    Cut at the first "+", then at the first "-", remove dots, lower-case, and
    append "@" and the Unicode domain. Independent of configured separators.
    """
    localpart = address.localpart.split("+", 1)[0]
    localpart = localpart.split("-", 1)[0]
    localpart = localpart.replace(".", "")
    localpart = unicodedata.normalize("NFC", localpart.lower())
    return localpart + "@" + address.domain.unicode
