"""Named SMTP replies with their enhanced status codes, shared by server and policies."""

from __future__ import annotations

from mailtwist.smtp.reply import SMTPReply

# RFC 3463 enhanced status codes used by mailtwist, by subject.
OTHER_UNDEFINED = "0.0"  # X.0.0
BAD_DESTINATION_SYNTAX = "1.3"  # X.1.3
BAD_SENDER_SYNTAX = "1.7"  # X.1.7
MESSAGE_TOO_BIG = "3.4"  # X.3.4
SYSTEM_NOT_CAPABLE = "3.3"  # X.3.3
LOCAL_ERROR = "3.0"  # X.3.0
IDLE_TIMEOUT = "4.2"  # X.4.2
INVALID_COMMAND = "5.1"  # X.5.1
SYNTAX_ERROR = "5.2"  # X.5.2
TOO_MANY_RECIPIENTS = "5.3"  # X.5.3
INVALID_ARGUMENTS = "5.4"  # X.5.4
MEDIA_OTHER = "6.0"  # X.6.0
NON_ASCII_ADDRESS = "6.7"  # X.6.7, RFC 6531 §3.7.4 / RFC 6533
SECURITY_OTHER = "7.0"  # X.7.0
AUTH_INVALID = "7.8"  # X.7.8, RFC 4954 §6
ENCRYPTION_REQUIRED = "7.11"  # X.7.11, RFC 4954 §6


def reply(code: int, subject_detail: str, text: str) -> SMTPReply:
    """A reply whose enhanced code takes its class from ``code``: reply(501, "5.4", ...)."""
    return SMTPReply(code, f"{code // 100}.{subject_detail}", text)


# Connection level.
TOO_MANY_CONNECTIONS = reply(421, SECURITY_OTHER, "too many connections, try again later")
TIMEOUT = reply(421, IDLE_TIMEOUT, "idle timeout, closing connection")
TOO_MANY_ERRORS = reply(421, OTHER_UNDEFINED, "too many errors, closing connection")
#: RFC 3030 §2: a BDAT whose chunk size cannot be read leaves no way to find the next
#: command, so the session ends (the chunk's octets must never run as commands).
BDAT_UNREADABLE = reply(421, INVALID_ARGUMENTS, "BDAT chunk size unreadable, closing connection")
CLOSING = reply(221, OTHER_UNDEFINED, "bye")

# Generic command replies (RFC 5321 §4.2.2, §4.3.2).
OK = reply(250, OTHER_UNDEFINED, "ok")
RESET = reply(250, OTHER_UNDEFINED, "reset")
VRFY_CANNOT = reply(252, "5.0", "cannot verify, but will attempt delivery")
HELP = reply(214, OTHER_UNDEFINED, "see RFC 5321 and https://www.rfc-editor.org")
UNKNOWN_COMMAND = reply(500, INVALID_COMMAND, "unknown command")
LINE_TOO_LONG = reply(500, SYNTAX_ERROR, "line too long")
BARE_CR = reply(500, SYNTAX_ERROR, "bare CR in command line")
NOT_IMPLEMENTED = reply(502, INVALID_COMMAND, "command not implemented")
INTERNAL_ERROR = reply(451, LOCAL_ERROR, "internal error, try again later")
NO_RECIPIENTS = reply(554, INVALID_COMMAND, "no valid recipients")

# Message content.
MESSAGE_TOO_LARGE = reply(552, MESSAGE_TOO_BIG, "message too large")
DATA_LINE_TOO_LONG = reply(554, MEDIA_OTHER, "line too long")
RECIPIENT_LIMIT = reply(452, TOO_MANY_RECIPIENTS, "too many recipients")
NON_ASCII_WITHOUT_SMTPUTF8 = reply(
    553, NON_ASCII_ADDRESS, "non-ASCII address not permitted without SMTPUTF8"
)

# AUTH, RFC 4954 §4 and §6.
AUTH_SUCCEEDED = reply(235, "7.0", "authentication successful")
AUTH_FAILED = reply(535, AUTH_INVALID, "authentication credentials invalid")
AUTH_CANCELLED = reply(501, OTHER_UNDEFINED, "authentication cancelled")
AUTH_REQUIRED = reply(530, SECURITY_OTHER, "authentication required")
AUTH_NEEDS_TLS = reply(538, ENCRYPTION_REQUIRED, "encryption required for authentication")
AUTH_TOO_MANY_FAILURES = reply(454, SECURITY_OTHER, "too many authentication failures")
AUTH_BAD_BASE64 = reply(501, SYNTAX_ERROR, "malformed authentication response")
AUTH_UNKNOWN_MECHANISM = reply(504, INVALID_ARGUMENTS, "unrecognized authentication mechanism")
AUTH_LINE_TOO_LONG = reply(500, "5.6", "authentication exchange line is too long")
AUTH_NO_INITIAL_RESPONSE = reply(501, SYNTAX_ERROR, "this mechanism takes no initial response")

# STARTTLS, RFC 3207 §4.
STARTTLS_READY = reply(220, OTHER_UNDEFINED, "ready to start TLS")


def bad_sequence(text: str) -> SMTPReply:
    """503 5.5.1: the command is valid but not now (RFC 5321 §4.2.4)."""
    return reply(503, INVALID_COMMAND, text)


def syntax_error(text: str) -> SMTPReply:
    """501 5.5.2: the arguments do not parse (RFC 5321 §4.2.2)."""
    return reply(501, SYNTAX_ERROR, text)


def unrecognized_parameter(keyword: str) -> SMTPReply:
    """555 5.3.3: a MAIL/RCPT parameter this listener does not support (RFC 5321 §4.1.1.11)."""
    return reply(555, SYSTEM_NOT_CAPABLE, f"unrecognized parameter {keyword}")


def invalid_arguments(text: str) -> SMTPReply:
    """501 5.5.4: the arguments parse but are not acceptable (RFC 3463 X.5.4)."""
    return reply(501, INVALID_ARGUMENTS, text)


__all__ = [
    "AUTH_BAD_BASE64",
    "AUTH_CANCELLED",
    "AUTH_FAILED",
    "AUTH_LINE_TOO_LONG",
    "AUTH_NEEDS_TLS",
    "AUTH_NO_INITIAL_RESPONSE",
    "AUTH_REQUIRED",
    "AUTH_SUCCEEDED",
    "AUTH_TOO_MANY_FAILURES",
    "AUTH_UNKNOWN_MECHANISM",
    "BARE_CR",
    "BDAT_UNREADABLE",
    "CLOSING",
    "DATA_LINE_TOO_LONG",
    "HELP",
    "INTERNAL_ERROR",
    "LINE_TOO_LONG",
    "MESSAGE_TOO_LARGE",
    "NON_ASCII_WITHOUT_SMTPUTF8",
    "NOT_IMPLEMENTED",
    "NO_RECIPIENTS",
    "OK",
    "RECIPIENT_LIMIT",
    "RESET",
    "STARTTLS_READY",
    "TIMEOUT",
    "TOO_MANY_CONNECTIONS",
    "TOO_MANY_ERRORS",
    "UNKNOWN_COMMAND",
    "VRFY_CANNOT",
    "bad_sequence",
    "invalid_arguments",
    "reply",
    "syntax_error",
    "unrecognized_parameter",
]
