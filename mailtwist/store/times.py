"""How the store writes times: fixed-width RFC 3339 UTC text, so text order is time order."""

from __future__ import annotations

from datetime import UTC, datetime

_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"


def time_text(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds, fixed width so text order is time order."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment!r}: the store needs timezone-aware times")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """The timezone-aware UTC datetime of a stored time."""
    return datetime.strptime(text, _TIME_FORMAT).replace(tzinfo=UTC)
