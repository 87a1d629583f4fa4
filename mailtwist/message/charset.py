"""Charset labels of MIME text parts and decoding their bytes into str."""

from __future__ import annotations

import codecs

__all__ = ["codec_name", "decode_text"]

# Labels mail software sends that Python does not know, or knows as a smaller
# charset than the one actually used (WHATWG Encoding §4.2 makes the same choices:
# gb2312/gbk labels decode as gb18030, ks_c_5601-1987 as windows-949).
_ALIASES = {
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-gbk": "gb18030",
    "ks_c_5601-1987": "cp949",
    "x-sjis": "shift_jis",
    "unicode-1-1-utf-7": "utf-7",
    "x-unicode20utf8": "utf-8",
    "unicode-1-1-utf-8": "utf-8",
    "x-user-defined": "latin-1",
    # RFC 2046 §4.1.2: us-ascii is the default; 8-bit bytes in "ASCII" text are
    # nearly always UTF-8 in practice, so they are read as UTF-8.
    "us-ascii": "utf-8",
    "ascii": "utf-8",
    "ansi_x3.4-1968": "utf-8",
    "": "utf-8",
}
# Python codecs that are no MIME charset: Python-literal and domain-name encodings.
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "undefined", "unicode-escape", "raw-unicode-escape", "mbcs", "oem"}
)


def codec_name(label: str) -> str:
    """The Python text codec for a MIME charset label; ``utf-8`` for unknown labels.

    Labels are case-insensitive (RFC 2046 §4.1.2) and may be quoted. Codecs that
    are not text encodings (base64, rot13, zlib...) are never returned.
    """
    name = label.strip().strip('"').strip().lower()
    name = _ALIASES.get(name, name)
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        return "utf-8"
    # CodecInfo._is_text_encoding is False for bytes-to-bytes codecs.
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return "utf-8"
    return info.name


def decode_text(data: bytes, label: str) -> str:
    """``data`` decoded with the charset ``label``; undecodable bytes become U+FFFD."""
    try:
        return data.decode(codec_name(label), "replace")
    except Exception:
        # Some codecs raise other errors on malformed state (utf-7, iso-2022-*).
        return data.decode("utf-8", "replace")
