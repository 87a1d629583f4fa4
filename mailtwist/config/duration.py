"""Go-style durations in the config file ("72h", "1h30m", "500ms") and their rendering."""

from __future__ import annotations

import re
from datetime import timedelta

# Units as Go's time.ParseDuration knows them, in microseconds (timedelta's resolution;
# nanoseconds are accepted but round to the nearest microsecond).
_UNITS: dict[str, float] = {
    "ns": 0.001,
    "us": 1.0,
    "µs": 1.0,
    "μs": 1.0,
    "ms": 1_000.0,
    "s": 1_000_000.0,
    "m": 60_000_000.0,
    "h": 3_600_000_000.0,
}

_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> timedelta:
    """The timedelta of a Go-style duration such as ``"72h"``, ``"1h30m"``, ``"0s"``.

    A duration is one or more decimal numbers (fraction allowed), each with a unit
    (``ns us ms s m h``); a bare ``"0"`` is zero, as in Go. Negative durations and
    anything else raise ValueError with a message fit for a config error.
    """
    if not isinstance(text, str):
        raise ValueError(f'duration must be a string like "72h", not {type(text).__name__}')
    if text == "0":
        return timedelta(0)
    if text.startswith("-"):
        raise ValueError(f"negative duration {text!r} not allowed")
    body = text[1:] if text.startswith("+") else text
    if not body:
        raise ValueError('empty duration; use e.g. "0s", "45s", "1h30m"')
    micros = 0.0
    pos = 0
    while pos < len(body):
        match = _PART.match(body, pos)
        if match is None:
            raise ValueError(
                f"invalid duration {text!r}: expected numbers with units ns, us, ms, s, m, h"
                ' (e.g. "1h30m")'
            )
        micros += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    try:
        return timedelta(microseconds=round(micros))
    except OverflowError:
        raise ValueError(f"duration {text!r} is too large") from None


def format_duration(value: timedelta) -> str:
    """The Go-style text of a non-negative timedelta, e.g. ``"72h"``, ``"1h30m"``, ``"0s"``.

    ``parse_duration(format_duration(d)) == d`` for whole milliseconds and coarser.
    """
    if value < timedelta(0):
        raise ValueError("negative durations have no config form")
    micros = value // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    hours, rest = divmod(micros, 3_600_000_000)
    minutes, rest = divmod(rest, 60_000_000)
    seconds, rest = divmod(rest, 1_000_000)
    parts = []
    if hours:
        parts.append(f"{hours}h")
    if minutes:
        parts.append(f"{minutes}m")
    if seconds:
        parts.append(f"{seconds}s")
    if rest:
        parts.append(f"{rest // 1000}ms" if rest % 1000 == 0 else f"{rest}us")
    return "".join(parts)


__all__ = ["format_duration", "parse_duration"]
