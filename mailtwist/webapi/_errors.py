"""The webapi's error answer: a mox error code and a message for the client (spec §1.4)."""

from __future__ import annotations

#: Every code a method may answer with (spec §1.4), plus mailtwist's own.
CODES = (
    "protocol",
    "server",
    "user",
    "error",
    "badAddress",
    "missingBody",
    "multipleFrom",
    "badFrom",
    "domainDisabled",
    "noRecipients",
    "messageLimitReached",
    "recipientLimitReached",
    "messageTooLarge",
    "malformedMessageID",
    "sentOverQuota",
    "messageNotFound",
    "partNotFound",
    # mailtwist extension (issue 4 item 5): an Idempotency-Key reused for another request.
    "idempotencyConflict",
)


class WebAPIError(Exception):
    """Refuse a call: answered as 400 ``{"Code": code, "Message": message}``."""

    def __init__(self, code: str, message: str) -> None:
        if code not in CODES:
            raise ValueError(f"unknown webapi error code {code!r}")
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


__all__ = ["CODES", "WebAPIError"]
