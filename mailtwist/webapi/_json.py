"""Go encoding/json conventions of the mox webapi: strict decoding into records, encoding."""

from __future__ import annotations

import dataclasses
import functools
import json
import re
import types
import typing
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, TypeVar

from mailtwist.gotime import go_time

T = TypeVar("T")

#: Go's zero time.Time (spec conventions).
ZERO_TIME = "0001-01-01T00:00:00Z"

# RFC 3339 §5.6 date-time; Go's time.Time UnmarshalJSON accepts exactly this.
# [0-9], not \d (which takes any Unicode digit), and \Z, not $ (which allows a
# final newline).
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


class JSONDecodeError(ValueError):
    """A request that does not decode; the text follows Go's (``json: unknown field "X"``)."""


def _go_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _go_type(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return "*" + _go_type(inner[0])
    if origin is list or origin is tuple:
        return "[]" + _go_type(typing.get_args(tp)[0])
    if origin is dict or origin is Mapping:
        key, value = typing.get_args(tp)
        return f"map[{_go_type(key)}]{_go_type(value)}"
    if tp is str:
        return "string"
    if tp is bool:
        return "bool"
    if tp is int:
        return "int64"
    if tp is datetime:
        return "time.Time"
    return getattr(tp, "__name__", str(tp))


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (Go time.Time JSON) with its zone; ValueError otherwise."""
    match = _RFC3339.match(text)
    if match is None:
        raise ValueError(f"parsing time {json.dumps(text)} as RFC 3339")
    year, month, day, hour, minute, second = (int(match.group(i)) for i in range(1, 7))
    fraction = match.group(7) or ""
    micro = int((fraction[1:] + "000000")[:6]) if fraction else 0
    zone_text = match.group(8)
    if zone_text in ("Z", "z"):
        zone: timezone = UTC
    else:
        sign = 1 if zone_text[0] == "+" else -1
        hours, minutes = int(zone_text[1:3]), int(zone_text[4:6])
        if hours > 23 or minutes > 59:
            raise ValueError(f"parsing time {json.dumps(text)}: time zone offset out of range")
        zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
    moment = datetime(year, month, day, hour, minute, second, micro, tzinfo=zone)
    if year in (1, 9999) and zone is not UTC:
        # Go's time.Time goes further, but the store and the queue keep times in
        # UTC, where early in year 1 east of UTC or late in 9999 west of it is
        # outside datetime's range: refused here, not an OverflowError later.
        try:
            moment.astimezone(UTC)
        except OverflowError:
            raise ValueError(
                f"parsing time {json.dumps(text)}: outside the range of UTC years 1-9999"
            ) from None
    return moment


def format_time(moment: datetime | None) -> str | None:
    """Go's time.Time JSON (``go_time``); None stays None (a nil pointer, ``null``)."""
    return None if moment is None else go_time(moment)


@functools.cache
def _hints(cls: type) -> dict[str, Any]:
    # Resolving string annotations is costly and the record types never change.
    return typing.get_type_hints(cls)


def _decode_value(value: Any, tp: Any, where: str) -> Any:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        if value is None:
            return None
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _decode_value(value, inner[0], where)
    if origin is list or origin is tuple:
        if value is None:
            return origin()
        if not isinstance(value, list):
            raise _mismatch(value, tp, where)
        item = typing.get_args(tp)[0]
        return origin(_decode_value(v, item, where) for v in value)
    if origin is dict or origin is Mapping:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise _mismatch(value, tp, where)
        _, item = typing.get_args(tp)
        return {k: _decode_value(v, item, where) for k, v in value.items()}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if value is None:
            return tp()
        return decode_record(value, tp)
    if value is None:
        # Go: null into a non-pointer leaves the zero value.
        return _zero(tp)
    if tp is str:
        if not isinstance(value, str):
            raise _mismatch(value, tp, where)
        return value
    if tp is bool:
        if not isinstance(value, bool):
            raise _mismatch(value, tp, where)
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _mismatch(value, tp, where)
        if isinstance(value, float) or not _INT64_MIN <= value <= _INT64_MAX:
            raise JSONDecodeError(
                f"json: cannot unmarshal number {value} into Go struct field {where} of type int64"
            )
        return value
    if tp is datetime:
        if not isinstance(value, str):
            raise _mismatch(value, tp, where)
        try:
            return parse_time(value)
        except ValueError as e:
            raise JSONDecodeError(f"{e}") from None
    raise TypeError(f"cannot decode into {tp!r}")  # pragma: no cover - schema bug


def _zero(tp: Any) -> Any:
    if tp is str:
        return ""
    if tp is bool:
        return False
    if tp is int:
        return 0
    return None


def _mismatch(value: Any, tp: Any, where: str) -> JSONDecodeError:
    return JSONDecodeError(
        f"json: cannot unmarshal {_go_kind(value)} into Go struct field {where}"
        f" of type {_go_type(tp)}"
    )


def decode_record(data: Any, cls: type[T]) -> T:
    """Fill the frozen dataclass ``cls`` from decoded JSON the way Go would.

    Keys match field names case-insensitively, an exact match preferred (Go
    encoding/json); unknown keys are refused (``DisallowUnknownFields``); null
    leaves a field at its zero value; a later duplicate key wins.
    """
    name = cls.__name__
    if not isinstance(data, dict):
        raise JSONDecodeError(
            f"json: cannot unmarshal {_go_kind(data)} into Go value of type {name}"
        )
    assert dataclasses.is_dataclass(cls)
    hints = _hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    folded = {field_name.lower(): field_name for field_name in fields}
    values: dict[str, Any] = {}
    for key, value in data.items():
        field_name = key if key in fields else folded.get(key.lower())
        if field_name is None:
            raise JSONDecodeError(f"json: unknown field {json.dumps(key)}")
        values[field_name] = _decode_value(value, hints[field_name], f"{name}.{field_name}")
    return cls(**values)


#: A \uD800 to \uDFFF escape in JSON text: the only way a surrogate gets into
#: a string decoded from a ``str`` (which cannot hold one from UTF-8).
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_surrogates(value: Any) -> Any:
    """``value`` with every lone surrogate in its strings and keys made U+FFFD."""
    if isinstance(value, str):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(v) for v in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
    return value


def decode_request(text: str, cls: type[T]) -> T:
    """Parse request JSON text into ``cls``; JSONDecodeError with Go-like text."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as e:
        if isinstance(e, JSONDecodeError):
            raise
        raise JSONDecodeError(f"invalid character in JSON: {e}") from None
    if _SURROGATE_ESCAPE.search(text) is not None:
        # Go's encoding/json (mox) decodes an escaped surrogate that is not half of
        # a pair as U+FFFD; json.loads keeps it, and it cannot be encoded as UTF-8.
        # Valid pairs were combined by json.loads already.
        data = _replace_surrogates(data)
    return decode_record(data, cls)


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259 §6); Python accepts them by default.
    raise JSONDecodeError(f"invalid character {name!r} looking for beginning of value")


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return format_time(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    return value


def encode(value: Any) -> bytes:
    """The JSON body of a response: Go field names, no HTML escaping, newline-terminated.

    Dataclasses become objects with their field names, datetimes RFC 3339 text;
    lists and mappings are written as given, so records use ``[]``/``{}`` for
    empty ones (spec §1.4: nil lists and maps become empty before encoding).
    """
    return (json.dumps(_plain(value), ensure_ascii=False, separators=(",", ":")) + "\n").encode()


__all__ = [
    "ZERO_TIME",
    "JSONDecodeError",
    "decode_record",
    "decode_request",
    "encode",
    "format_time",
    "parse_time",
]
