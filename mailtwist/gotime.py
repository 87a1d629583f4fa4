"""Times as Go's time.Time marshals them to JSON (mox's webapi and webhooks)."""

from __future__ import annotations

from datetime import datetime


def go_time(moment: datetime) -> str:
    """RFC 3339 with the value's zone ("Z" for UTC) and the fraction without trailing
    zeros, as Go writes it; naive datetimes are refused (the zone is part of the value).
    """
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"naive datetime {moment!r} cannot be encoded: it needs a zone")
    # Not strftime: glibc's %Y writes year 999 as "999", and RFC 3339 §5.6 (and Go)
    # always write four digits.
    text = (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}"
        f"T{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
    )
    if moment.microsecond:
        text += f".{moment.microsecond:06d}".rstrip("0")
    if not offset:
        return text + "Z"
    total = int(offset.total_seconds())
    sign = "+" if total >= 0 else "-"
    total = abs(total)
    return f"{text}{sign}{total // 3600:02d}:{total % 3600 // 60:02d}"


__all__ = ["go_time"]
