"""Parsing of MAIL FROM / RCPT TO command arguments: the path and its ESMTP parameters."""

from __future__ import annotations

import re

# RFC 5321 §4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-")
_KEYWORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]*\Z")
# RFC 5321 §4.1.2: esmtp-value = 1*(%d33-60 / %d62-126), RFC 6531 §3.3 adds
# UTF8-non-ascii: anything but controls, space and "=".
_VALUE = re.compile(r"[^\x00-\x20=\x7f]+\Z")


class ParameterError(ValueError):
    """The command arguments do not follow RFC 5321 §4.1.1.2 / §4.1.1.3 syntax.

    ``parameter`` is True when the path was fine but an ESMTP parameter was not
    (the server answers 501 5.5.4 then, 501 5.5.2 for a bad path).
    """

    def __init__(self, message: str, *, parameter: bool = False) -> None:
        super().__init__(message)
        self.parameter = parameter


def _split_path(text: str) -> tuple[str, str]:
    """Split ``<path> rest`` at the ">" that closes the path, honouring quoted strings."""
    if not text.startswith("<"):
        raise ParameterError("path must be enclosed in <>")
    quoted = False
    escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif quoted and char == "\\":
            # RFC 5321 §4.1.2 quoted-pairSMTP
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char == ">" and not quoted:
            return text[: i + 1], text[i + 1 :]
    raise ParameterError("path is missing its closing >")


def parse_parameters(text: str) -> dict[str, str | None]:
    """Parse space-separated ``keyword[=value]`` ESMTP parameters (RFC 5321 §4.1.2).

    Keys are upper-cased; a parameter without ``=value`` maps to None. A keyword
    given twice is an error.
    """
    parameters: dict[str, str | None] = {}
    for word in text.split(" "):
        if not word:
            # RFC 5321 §4.1.2 wants exactly one SP; tolerate runs of spaces.
            continue
        keyword, sep, value = word.partition("=")
        if not _KEYWORD.match(keyword):
            raise ParameterError(f"bad parameter keyword {keyword!r}", parameter=True)
        if sep and not _VALUE.match(value):
            raise ParameterError(f"bad value for parameter {keyword.upper()}", parameter=True)
        key = keyword.upper()
        if key in parameters:
            raise ParameterError(f"duplicate parameter {key}", parameter=True)
        parameters[key] = value if sep else None
    return parameters


def parse_path_arguments(prefix: str, arguments: str) -> tuple[str, dict[str, str | None]]:
    """Parse the arguments of MAIL (``prefix="FROM"``) or RCPT (``prefix="TO"``).

    ``arguments`` is everything after the verb and its space, e.g.
    ``"FROM:<a@example.org> SIZE=100 BODY=8BITMIME"``. Returns the path with its
    angle brackets (``"<a@example.org>"``, ``"<>"``) and the parameters.

    RFC 5321 §4.1.1.2 / §4.1.1.3: ``"FROM:" Reverse-path [SP Mail-parameters]``.
    A space after the colon is tolerated, as most servers do for old clients.
    """
    head = prefix + ":"
    if arguments[: len(head)].upper() != head:
        raise ParameterError(f"expected {head}<path>")
    rest = arguments[len(head) :].lstrip(" ")
    path, rest = _split_path(rest)
    if rest and not rest.startswith(" "):
        raise ParameterError("expected a space after the path")
    return path, parse_parameters(rest)


__all__ = ["ParameterError", "parse_parameters", "parse_path_arguments"]
