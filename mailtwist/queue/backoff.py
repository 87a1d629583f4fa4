"""The retry schedule of queued messages: delay before the next attempt (spec §4.4)."""

from __future__ import annotations

from datetime import timedelta

#: Attempts of a message whose ``max_attempts`` is 0 (spec §4.1 ``MaxAttempts``).
DEFAULT_MAX_ATTEMPTS = 8

#: The first retry waits this long; each later one waits twice the previous (spec §4.4).
BASE_DELAY = timedelta(minutes=7, seconds=30)

#: Largest jitter, in seconds, either way (spec §4.4 "± up to 5s jitter").
MAX_JITTER = 5.0


def retry_delay(attempts_before: int, jitter: float) -> timedelta:
    """The wait after an attempt that had ``attempts_before`` attempts before it.

    spec §4.4: (7m30s + jitter) * 2**attempts_before, so 7m30s, 15m, 30m, 1h, 2h,
    4h, 8h for attempts 1..7 without jitter.
    """
    if attempts_before < 0:
        raise ValueError(f"attempts_before must not be negative: {attempts_before}")
    if not -MAX_JITTER <= jitter <= MAX_JITTER:
        raise ValueError(f"jitter must be within ±{MAX_JITTER}s: {jitter}")
    return (BASE_DELAY + timedelta(seconds=jitter)) * (2**attempts_before)


__all__ = ["BASE_DELAY", "DEFAULT_MAX_ATTEMPTS", "MAX_JITTER", "retry_delay"]
