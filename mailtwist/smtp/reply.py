"""SMTP replies with enhanced status codes (RFC 5321 §4.2, RFC 3463)."""

from __future__ import annotations

import re
from dataclasses import dataclass

#: RFC 5321 §4.2: textstring = 1*(%d09 / %d32-126); anything else in a reply's text
#: (often echoed client input) is written as a backslash escape.
_NOT_TEXT = re.compile(r"[^\t\x20-\x7e]")
#: RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets including CRLF.
REPLY_LINE_LIMIT = 512
#: RFC 4954 §4: the lines of a SASL exchange may reach 12288 octets.
AUTH_REPLY_LINE_LIMIT = 12288


def _escape(match: re.Match[str]) -> str:
    return match.group().encode("unicode_escape").decode("ascii")


def _wire_text(text: str, room: int) -> str:
    """``text`` as reply text: escaped to ASCII, and cut to ``room`` octets with "..."."""
    if _NOT_TEXT.search(text):
        text = _NOT_TEXT.sub(_escape, text)
    if len(text) > room:
        text = text[: max(0, room - 3)] + "..."
    return text


@dataclass(frozen=True)
class SMTPReply(Exception):
    """A reply to send to the client; raised (or used as a failure) to refuse.

    ``enhanced`` is the full RFC 3463 code (``"5.1.1"``) or "" when none applies
    (the greeting and EHLO replies carry none, RFC 2034 §3). ``text`` may hold
    several lines separated by ``"\\n"``; each becomes one reply line.
    """

    code: int
    enhanced: str
    text: str

    def __post_init__(self) -> None:
        if not 200 <= self.code <= 599:
            raise ValueError(f"SMTP reply code out of range: {self.code}")
        if self.enhanced and self.enhanced[0] != str(self.code)[0]:
            raise ValueError(f"enhanced code {self.enhanced} does not match {self.code}")
        if "\r" in self.text:
            raise ValueError("reply text must not contain CR")

    @property
    def permanent(self) -> bool:
        return self.code >= 500

    def lines(self, enhanced: bool = True) -> list[bytes]:
        """The reply as wire lines (without CRLF), multiline per RFC 5321 §4.2.1."""
        texts = self.text.split("\n") or [""]
        out = []
        for i, text in enumerate(texts):
            sep = " " if i == len(texts) - 1 else "-"
            start = f"{self.code}{sep}"
            prefix = f"{start}{self.enhanced} " if (enhanced and self.enhanced) else start
            # RFC 4954 §4: a 334 line carries a SASL challenge, allowed 12288 octets.
            limit = AUTH_REPLY_LINE_LIMIT if self.code == 334 else REPLY_LINE_LIMIT
            room = limit - 2 - len(prefix)
            out.append((prefix + _wire_text(text, room)).encode("ascii"))
        return out

    def __str__(self) -> str:
        return " ".join(p for p in (str(self.code), self.enhanced, self.text) if p)


__all__ = ["AUTH_REPLY_LINE_LIMIT", "REPLY_LINE_LIMIT", "SMTPReply"]
