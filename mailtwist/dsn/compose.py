"""Composing delivery status notifications: RFC 3464 reports in RFC 6522 multipart/report."""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

from mailtwist.message.headers import HeaderError, split_message

#: RFC 3464 §2.3.3 action-value.
ACTIONS = ("failed", "delayed", "delivered", "relayed", "expanded")

#: mox's retry intervals after the delay notice (spec §4.7: "in 4, 8 and 16 hours").
DEFAULT_RETRY_INTERVALS = (timedelta(hours=4), timedelta(hours=8), timedelta(hours=16))

# RFC 5322 §2.1.1: lines SHOULD be at most 78 and MUST be at most 998 octets (without CRLF).
_FOLD_AT = 78
_MAX_LINE = 998
# RFC 3463 §2: status-code = class "." subject "." detail.
_ENHANCED = re.compile(r"[245]\.[0-9]{1,3}\.[0-9]{1,3}", re.ASCII)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NEWLINE = re.compile(rb"\r?\n")


@dataclass(frozen=True)
class DSNRecipient:
    """What happened to one recipient, as a per-recipient block of the report (RFC 3464 §2.3)."""

    final_recipient: str
    action: str
    status: str
    status_comment: str = ""
    diagnostic: str = ""
    remote_mta: str = ""
    last_attempt: datetime | None = None
    will_retry_until: datetime | None = None
    original_recipient: str = ""  # the ORCPT address when known (RFC 3464 §2.3.1)

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"DSN action must be one of {', '.join(ACTIONS)}, not {self.action!r}")
        if self.status and not _ENHANCED.fullmatch(self.status):
            raise ValueError(f"DSN status must be an enhanced code like 5.1.1, not {self.status!r}")
        if not self.final_recipient or _CONTROL.search(self.final_recipient):
            raise ValueError(f"invalid final recipient {self.final_recipient!r}")
        if _CONTROL.search(self.original_recipient):
            raise ValueError(f"invalid original recipient {self.original_recipient!r}")

    @property
    def effective_status(self) -> str:
        """The status, or the class default when empty (spec §11.1)."""
        if self.status:
            return self.status
        return {"failed": "5.0.0", "delayed": "4.0.0"}.get(self.action, "2.0.0")

    def diagnostic_lines(self) -> list[str]:
        """The remote's reply lines, without line endings or control characters."""
        lines = [_CONTROL.sub("", line) for line in self.diagnostic.split("\n")]
        return [line for line in lines if line.strip()]


def compose_dsn(
    *,
    hostname: str,
    to: str,
    original: bytes,
    original_message_id: str,
    arrival_date: datetime,
    recipients: Sequence[DSNRecipient],
    now: datetime,
    future_release_request: str = "",
    smtputf8: bool = False,
    make_id: Callable[[], str] | None = None,
    subject: str = "",
    received_from_mta: str = "",
    retry_intervals: Sequence[timedelta] = DEFAULT_RETRY_INTERVALS,
) -> bytes:
    """A DSN about ``original`` for ``to``, as CRLF message bytes (spec §11.1-11.2).

    ``smtputf8`` makes the RFC 6533 UTF-8 variant (message/global-delivery-status
    and message/global-headers); without it every header and the report are
    ASCII and ValueError is raised for a ``to`` that needs SMTPUTF8. ``make_id``
    gives the random parts of the Message-Id and MIME boundary. ``subject``
    overrides the default subject (the SMTP server's DSNs use their own, §11.3);
    ``received_from_mta`` is the ``dns;ehlo (ip)`` text of an SMTP-server DSN.
    """
    if not recipients:
        raise ValueError("a DSN needs at least one recipient (RFC 3464 §2.1)")
    new_id = make_id or _random_id
    if not smtputf8 and not to.isascii():
        raise ValueError(f"DSN to {to!r} needs SMTPUTF8 (RFC 6533): compose with smtputf8=True")
    for value, what in ((hostname, "hostname"), (to, "to")):
        if not value or _CONTROL.search(value) or " " in value:
            raise ValueError(f"invalid DSN {what} {value!r}")
    if not hostname.isascii():
        # Spec §11.1: Reporting-MTA carries the ASCII (A-label) host name.
        raise ValueError(f"DSN hostname {hostname!r} must be in its ASCII (A-label) form")

    text = _human_text(recipients, retry_intervals)
    report = _status_report(
        hostname=hostname,
        arrival_date=arrival_date,
        future_release_request=future_release_request,
        received_from_mta=received_from_mta,
        recipients=recipients,
        smtputf8=smtputf8,
    )
    original_header = _original_header(original)

    message_id = f"<{new_id()}@{hostname}>"
    parts: list[bytes] = []
    if (smtputf8 or text.isascii()) and not _has_long_line(text.encode()):
        charset = "utf-8" if smtputf8 else "us-ascii"
        encoding = "8bit" if smtputf8 else "7bit"
        parts.append(_part(f"text/plain; charset={charset}", encoding, _crlf(text.encode())))
    else:
        # An ASCII DSN naming a UTF-8 address, or a reply line too long for
        # RFC 5322 §2.1.1: base64 keeps the part 7-bit and short (RFC 2045 §6.8).
        parts.append(_part("text/plain; charset=utf-8", "base64", _base64(text.encode())))
    if smtputf8:
        parts.append(_part("message/global-delivery-status", "8bit", report))
        parts.append(_part("message/global-headers", "8bit", original_header))
    elif original_header.isascii() and not _has_long_line(original_header):
        parts.append(_part("message/delivery-status", "7bit", report))
        parts.append(_part("text/rfc822-headers", "7bit", original_header))
    else:
        parts.append(_part("message/delivery-status", "7bit", report))
        # Spec §11.1: an SMTPUTF8 original in an ASCII DSN is sent as base64
        # UTF-8 text; so is a header with lines over RFC 5322 §2.1.1's limit.
        parts.append(
            _part("text/rfc822-headers; charset=utf-8", "base64", _base64(original_header))
        )

    boundary = _boundary(new_id, parts)
    body = b"This is a MIME-formatted message.\r\n"
    for part in parts:
        # RFC 2046 §5.1.1: the CRLF before "--boundary" belongs to the delimiter.
        body += b"\r\n--" + boundary.encode() + b"\r\n" + part
    body += b"\r\n--" + boundary.encode() + b"--\r\n"

    fields: list[tuple[str, str]] = [
        ("From", f"<postmaster@{hostname}>"),
        ("To", f"<{to}>"),
        ("Subject", _CONTROL.sub(" ", subject).strip() or _default_subject(recipients)),
        ("Message-Id", message_id),
    ]
    reference = _message_id(original_message_id)
    if reference:
        # Issue 3 item 9: mail readers thread the DSN with the original; spec
        # §11.1: References only, no In-Reply-To.
        fields.append(("References", reference))
    fields += [
        ("Date", _date(now)),
        ("MIME-Version", "1.0"),
        # Spec §11.1 keeps report-type "delivery-status" for the UTF-8 variant too.
        (
            "Content-Type",
            f'multipart/report; report-type="delivery-status"; boundary="{boundary}"',
        ),
    ]
    header = b"".join(fold_field(name, value).encode() for name, value in fields)
    return header + b"\r\n" + body


def fold_field(name: str, value: str) -> str:
    """``Name: value`` with CRLF, folded at spaces per RFC 5322 §2.2.3.

    Lines stay within 78 octets where the words allow and never exceed 998
    octets (§2.1.1): a word too long for one line is cut, the only way to obey
    the hard limit.
    """
    words = value.split(" ")
    lines: list[str] = []
    line = name + ":"
    for word in words:
        if not word:
            continue
        if _octets(line) + 1 + _octets(word) > _FOLD_AT and line.strip() and line != name + ":":
            lines.append(line)
            line = ""
        while _octets(line) + 1 + _octets(word) > _MAX_LINE:
            room = _MAX_LINE - _octets(line) - 1
            head, word = _cut(word, room)
            lines.append(line + " " + head)
            line = ""
        line += " " + word
    lines.append(line)
    return "\r\n".join(lines) + "\r\n"


def _has_long_line(data: bytes) -> bool:
    return any(len(line.rstrip(b"\r")) > _MAX_LINE for line in data.split(b"\n"))


def _octets(text: str) -> int:
    return len(text.encode("utf-8"))


def _cut(word: str, room: int) -> tuple[str, str]:
    # Cut at a character boundary so a UTF-8 sequence is never split.
    size = 0
    for index, char in enumerate(word):
        size += _octets(char)
        if size > room:
            return word[:index], word[index:]
    return word, ""


def _random_id() -> str:
    return secrets.token_urlsafe(16)


def _boundary(new_id: Callable[[], str], parts: Sequence[bytes]) -> str:
    # RFC 2046 §5.1.1: the boundary must not occur in the encapsulated text.
    for _ in range(10):
        boundary = "=_" + new_id()
        if not any(boundary.encode() in part for part in parts):
            return boundary
    raise ValueError("could not find a MIME boundary absent from the DSN content")


def _date(moment: datetime) -> str:
    # RFC 5322 §3.3; a naive datetime is taken as UTC.
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return format_datetime(moment)


def _message_id(text: str) -> str:
    text = _CONTROL.sub("", text).strip()
    if not text:
        return ""
    return text if text.startswith("<") else f"<{text}>"


def _default_subject(recipients: Sequence[DSNRecipient]) -> str:
    actions = {recipient.action for recipient in recipients}
    if "failed" in actions:
        return "mail delivery failed"
    if "delayed" in actions:
        return "mail delivery delayed"
    return "mail delivery report"


def _human_text(recipients: Sequence[DSNRecipient], retry_intervals: Sequence[timedelta]) -> str:
    out: list[str] = []
    failed = [r for r in recipients if r.action == "failed"]
    delayed = [r for r in recipients if r.action == "delayed"]
    other = [r for r in recipients if r.action not in ("failed", "delayed")]
    if failed:
        out.append("Delivery has failed permanently for:\n")
        out += [f"\t{r.final_recipient}" for r in failed]
        out.append("\nNo further deliveries will be attempted.\n")
        out += _errors(failed)
    if delayed:
        out.append("Delivery has been delayed for:\n")
        out += [f"\t{r.final_recipient}" for r in delayed]
        if retry_intervals:
            hours = [_interval(interval) for interval in retry_intervals]
            when = hours[0] if len(hours) == 1 else ", ".join(hours[:-1]) + " and " + hours[-1]
            out.append(f"\nNext delivery attempts are planned in {when}.")
        until = [r.will_retry_until for r in delayed if r.will_retry_until is not None]
        if until:
            out.append(f"Delivery will be retried until {_date(max(until))}.")
        out.append("If all attempts fail, you will receive a notice.\n")
        out += _errors(delayed)
    if other:
        out.append("Delivery status for:\n")
        out += [f"\t{r.final_recipient}: {r.action}" for r in other]
        out.append("")
    return "\n".join(out).rstrip("\n") + "\n"


def _errors(recipients: Sequence[DSNRecipient]) -> list[str]:
    out: list[str] = []
    for recipient in recipients:
        status = recipient.effective_status
        if recipient.status_comment:
            status += f" {_CONTROL.sub(' ', recipient.status_comment)}"
        out.append(f"Last error for {recipient.final_recipient}: {status}")
        lines = recipient.diagnostic_lines()
        if lines:
            out.append("Full SMTP response:\n")
            out += [f"\t{line}" for line in lines]
        out.append("")
    return out


def _interval(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    if seconds % 3600 == 0:
        hours = seconds // 3600
        return f"{hours} hour" + ("" if hours == 1 else "s")
    minutes = max(1, seconds // 60)
    return f"{minutes} minute" + ("" if minutes == 1 else "s")


def _status_report(
    *,
    hostname: str,
    arrival_date: datetime,
    future_release_request: str,
    received_from_mta: str,
    recipients: Sequence[DSNRecipient],
    smtputf8: bool,
) -> bytes:
    # RFC 3464 §2.2 per-message fields, then §2.3 per-recipient blocks, each
    # block preceded by an empty line (§2.1).
    fields = [fold_field("Reporting-MTA", f"dns; {hostname}")]
    if received_from_mta:
        fields.append(fold_field("Received-From-MTA", _text(received_from_mta, smtputf8)))
    fields.append(fold_field("Arrival-Date", _date(arrival_date)))
    if future_release_request:
        # RFC 4865 §4.1: "for;<seconds>" or "until;<date-time>".
        fields.append(fold_field("Future-Release-Request", _text(future_release_request, False)))
    for recipient in recipients:
        fields.append("\r\n")
        if recipient.original_recipient:
            original = _address_type(recipient.original_recipient, smtputf8)
            fields.append(fold_field("Original-Recipient", original))
        fields.append(
            fold_field("Final-Recipient", _address_type(recipient.final_recipient, smtputf8))
        )
        fields.append(fold_field("Action", recipient.action))
        status = recipient.effective_status
        if recipient.status_comment:
            status += f" ({_comment(recipient.status_comment, smtputf8)})"
        fields.append(fold_field("Status", status))
        if recipient.remote_mta:
            fields.append(fold_field("Remote-MTA", f"dns;{_text(recipient.remote_mta, smtputf8)}"))
        lines = recipient.diagnostic_lines()
        if lines:
            # RFC 3464 §2.3.6: diagnostic-type "smtp" with the reply as sent;
            # issue 3: all lines, codes included, joined by a space.
            joined = " ".join(_text(line, smtputf8) for line in lines)
            fields.append(fold_field("Diagnostic-Code", f"smtp; {joined}"))
        if recipient.last_attempt is not None:
            fields.append(fold_field("Last-Attempt-Date", _date(recipient.last_attempt)))
        if recipient.will_retry_until is not None:
            fields.append(fold_field("Will-Retry-Until", _date(recipient.will_retry_until)))
    return "".join(fields).encode("utf-8")


def _address_type(address: str, smtputf8: bool) -> str:
    if address.isascii():
        return f"rfc822;{address}"
    if smtputf8:
        # RFC 6533 §3: utf-8-addr-unitext in message/global-delivery-status.
        return f"utf-8;{address}"
    # RFC 6533 §3: utf-8-addr-xtext in message/delivery-status, \x{HEX} per character.
    return "utf-8;" + "".join(ch if ch.isascii() else f"\\x{{{ord(ch):X}}}" for ch in address)


def _text(text: str, smtputf8: bool) -> str:
    text = _CONTROL.sub(" ", text)
    if smtputf8:
        return text
    # message/delivery-status is 7-bit (RFC 3464 §2.1): non-ASCII becomes "?".
    return text.encode("ascii", "replace").decode("ascii")


def _comment(text: str, smtputf8: bool) -> str:
    # RFC 5322 §3.2.2: parentheses and backslashes inside a comment are quoted-pairs.
    text = _text(text, smtputf8).strip()
    return re.sub(r"([()\\])", r"\\\1", text)


def _original_header(original: bytes) -> bytes:
    try:
        header, _body = split_message(original)
    except HeaderError:
        # RFC 5322 §3.5: a message without a body has no empty line; it is all header.
        header = original
    header = _NEWLINE.sub(b"\r\n", header)
    if header and not header.endswith(b"\r\n"):
        header += b"\r\n"
    return header


def _part(content_type: str, encoding: str, content: bytes) -> bytes:
    head = fold_field("Content-Type", content_type) + fold_field(
        "Content-Transfer-Encoding", encoding
    )
    return head.encode() + b"\r\n" + content


def _crlf(data: bytes) -> bytes:
    return _NEWLINE.sub(b"\r\n", data)


def _base64(data: bytes) -> bytes:
    # RFC 2045 §6.8: encoded lines of at most 76 characters.
    encoded = base64.b64encode(data)
    return b"".join(encoded[i : i + 76] + b"\r\n" for i in range(0, len(encoded), 76))


__all__ = ["ACTIONS", "DEFAULT_RETRY_INTERVALS", "DSNRecipient", "compose_dsn", "fold_field"]
