"""What a failed delivery attempt says about its cause, and when it suppresses the recipient."""

from __future__ import annotations

import re
from collections.abc import Sequence

from mailtwist.address import AddressError, base_address, parse_address
from mailtwist.store.records import DeliveryAttempt, QueuedMessage, RetiredMessage, Suppression

#: The failure is about the recipient address: suppressing it is right.
RECIPIENT = "recipient"
#: The failure is about the sender: reputation, content, authentication, rate limits.
POLICY = "policy"
#: Neither: DNS, connections, TLS, timeouts, size, quota, loops, misconfiguration.
INFRASTRUCTURE = "infrastructure"

#: spec §6.4: SMTP codes that suppress at once (when the failure is about the recipient).
RECIPIENT_CODES = frozenset({521, 550, 551, 553, 556})

#: RFC 3463 §3.2/§3.3 short codes about the address itself: bad mailbox (1.1), bad
#: system (1.2), bad syntax (1.3), mailbox moved (1.6), mailbox disabled (2.1).
#: spec §6.4 also lists 7.1; mailtwist does not: x.7.x is about the sender (issue 3).
RECIPIENT_SECODES = frozenset({"1.1", "1.2", "1.3", "1.6", "2.1"})

#: Recent retired messages to the same recipient that must all have failed too.
CONSECUTIVE_FAILURES = 2

# Texts of rejections about the sender rather than the recipient. Words matched at
# word starts so "separate" is no "rate" and "blocklisted" is a "blocklist".
_POLICY_TEXT = re.compile(
    r"spam|unsolicited|junk mail|\bbulk mail|"
    r"block ?list|black ?list|blocked|\bbanned|\brbl\b|\bdnsbl|spamhaus|spamcop|barracuda|"
    r"reputation|\bpolic(y|ies)\b|\bcomplaint|\babuse\b|"
    r"\bdmarc\b|\bspf\b|\bdkim\b|authenticat|not authori[sz]ed|"
    r"\brate[- ]?limit|rate of|too many (messages|connections|emails|mails)|throttl|"
    r"\bvirus|malware|phish",
    re.IGNORECASE,
)

# Texts saying the address does not exist or cannot receive mail.
_RECIPIENT_TEXT = re.compile(
    r"no such (user|mailbox|recipient|address|account)|user unknown|unknown user|"
    r"unknown or illegal user|addressee unknown|unknown (recipient|mailbox|address)|"
    r"mailbox (is )?(unavailable|not found|does not exist)|no mailbox|"
    r"does ?n[o']t exist|invalid (recipient|mailbox|address)|bad destination mailbox|"
    r"user not found|recipient not found|address rejected: user|account (is )?disabled",
    re.IGNORECASE,
)

# Permanent failures about the message or the receiving system, not the address:
# a full mailbox, a size limit, a mail loop, a network or TLS problem.
_INFRASTRUCTURE_TEXT = re.compile(
    r"quota|mailbox (is )?full|too (large|big)|message size|size limit|exceed|"
    r"\bloop|timed? ?out|timeout|"
    r"connection (refused|reset|closed)|\bdns\b|no route|unreachable",
    re.IGNORECASE,
)

# TLS trouble (often sent with x.7.x codes) is about the connection, not the sender.
_TLS_TEXT = re.compile(r"\btls\b|starttls|certificate|\bssl\b", re.IGNORECASE)


def classify(code: int, secode: str, reply: str, error: str) -> str:
    """The cause of a failed attempt: RECIPIENT, POLICY or INFRASTRUCTURE (issue 3).

    ``code`` is the SMTP reply code (0 when the failure was no SMTP reply),
    ``secode`` the enhanced code without its class digit (``"1.1"``), ``reply`` the
    remote's full reply and ``error`` our description of the failure.
    """
    if not code:
        # No SMTP reply: connection, DNS, TLS or a timeout.
        return INFRASTRUCTURE
    text = f"{reply}\n{error}"
    subject = secode.split(".", 1)[0]
    # The enhanced code is the machine-readable answer: it wins over words in the text.
    if secode in RECIPIENT_SECODES:
        return RECIPIENT
    if _TLS_TEXT.search(text):
        return INFRASTRUCTURE
    # RFC 3463 §3.8: x.7.x is security or policy status; RFC 5321 §4.2.3: 421 is the
    # server closing the channel, in practice rate limits and reputation deferrals.
    if subject == "7" or code == 421:
        return POLICY
    if _POLICY_TEXT.search(text):
        return POLICY
    permanent = 500 <= code <= 599
    if permanent and _RECIPIENT_TEXT.search(text):
        return RECIPIENT
    if _INFRASTRUCTURE_TEXT.search(text):
        return INFRASTRUCTURE
    # RFC 3463 §3.4/§3.5: x.3.x mail system and x.4.x network/routing status.
    if subject in ("3", "4"):
        return INFRASTRUCTURE
    if permanent and code in RECIPIENT_CODES:
        return RECIPIENT
    return INFRASTRUCTURE


def classify_attempt(attempt: DeliveryAttempt) -> str:
    """``classify`` of a recorded attempt; "" for a success."""
    if attempt.success:
        return ""
    return classify(attempt.code, attempt.secode, attempt.reply, attempt.error)


def immediate_reason(attempt: DeliveryAttempt, source: str = "queue") -> str:
    """The reason of an immediate suppression for this final failure, or "".

    spec §6.4, with the issue-3 rule that only failures about the recipient count.
    """
    if not _may_suppress(attempt):
        return ""
    code = attempt.code
    if code in RECIPIENT_CODES or (500 <= code <= 599 and attempt.secode in RECIPIENT_SECODES):
        return (
            f"delivery failure from {source} with smtp code {code},"
            f' enhanced code "{attempt.secode}"'
        )
    return ""


def needs_history(attempt: DeliveryAttempt) -> bool:
    """Whether ``suppression_for`` needs the recent retired messages to decide.

    The caller then asks the store for ``recent_retired_to`` (CONSECUTIVE_FAILURES of
    them); otherwise it passes nothing and saves the query.
    """
    return _may_suppress(attempt) and not immediate_reason(attempt)


def suppression_for(
    message: QueuedMessage,
    attempt: DeliveryAttempt,
    recent_retired: Sequence[RetiredMessage] = (),
    source: str = "queue",
) -> Suppression | None:
    """The automatic suppression a final failure of ``message`` adds, or None (spec §6.4).

    ``attempt`` is the failed last attempt; ``recent_retired`` the latest retired
    messages to exactly the same recipient, newest first, without this one. Never
    for a policy or infrastructure failure, nor without an SMTP code.
    """
    reason = immediate_reason(attempt, source)
    if not reason and _may_suppress(attempt):
        recent = list(recent_retired)[:CONSECUTIVE_FAILURES]
        if len(recent) == CONSECUTIVE_FAILURES and not any(m.success for m in recent):
            reason = f"delivery failure from {source} and three consecutive failures"
    if not reason:
        return None
    try:
        address = parse_address(message.recipient)
    except AddressError:
        # An address we cannot parse has no base address to list.
        return None
    return Suppression(
        account=message.account,
        base_address=base_address(address),
        original_address=str(address),
        manual=False,
        reason=reason,
    )


def _may_suppress(attempt: DeliveryAttempt) -> bool:
    # spec §6.4: only failures that carry an SMTP code; issue 3: only about the recipient.
    if attempt.success or not attempt.code:
        return False
    classification = attempt.classification or classify_attempt(attempt)
    return classification == RECIPIENT


__all__ = [
    "CONSECUTIVE_FAILURES",
    "INFRASTRUCTURE",
    "POLICY",
    "RECIPIENT",
    "RECIPIENT_CODES",
    "RECIPIENT_SECODES",
    "classify",
    "classify_attempt",
    "immediate_reason",
    "needs_history",
    "suppression_for",
]
