"""SMTP replies with enhanced status codes (RFC 5321 §4.2, RFC 3463)."""

from __future__ import annotations

from dataclasses import dataclass


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
            prefix = f"{self.enhanced} " if (enhanced and self.enhanced) else ""
            out.append(f"{self.code}{sep}{prefix}{text}".encode())
        return out

    def __str__(self) -> str:
        return " ".join(p for p in (str(self.code), self.enhanced, self.text) if p)


__all__ = ["SMTPReply"]
