"""Tests for mailtwist.message.headers: reading and extending raw message headers."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.message.headers import (
    DuplicateExtraKey,
    HeaderError,
    canonical_header_name,
    extra_from_fields,
    field_names,
    field_values,
    format_date,
    format_received,
    go_quote,
    has_field,
    parse_fields,
    prepend_fields,
    received_protocol,
    split_message,
    unfold,
)

_TOKEN = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"


class SplitMessageTests(SynchronousTestCase):
    def test_crlf(self) -> None:
        """The header block ends before the first empty CRLF line; the body follows it."""
        self.assertEqual(
            split_message(b"A: 1\r\nB: 2\r\n\r\nbody\r\n\r\nmore\r\n"),
            (b"A: 1\r\nB: 2\r\n", b"body\r\n\r\nmore\r\n"),
        )

    def test_bare_lf(self) -> None:
        """Bare LF line endings separate header and body too."""
        self.assertEqual(split_message(b"A: 1\nB: 2\n\nbody\n"), (b"A: 1\nB: 2\n", b"body\n"))

    def test_mixed_endings(self) -> None:
        """A CRLF header line followed by a bare LF empty line is a separator."""
        self.assertEqual(split_message(b"A: 1\r\n\nbody"), (b"A: 1\r\n", b"body"))

    def test_empty_header(self) -> None:
        """A message starting with an empty line has an empty header block."""
        self.assertEqual(split_message(b"\r\nbody\r\n"), (b"", b"body\r\n"))
        self.assertEqual(split_message(b"\nbody"), (b"", b"body"))

    def test_empty_body(self) -> None:
        """A separator at the very end gives an empty body."""
        self.assertEqual(split_message(b"A: 1\r\n\r\n"), (b"A: 1\r\n", b""))

    def test_no_separator(self) -> None:
        """Without an empty line the whole message is header and the body is empty
        (RFC 5322 §3.5: the body is optional)."""
        for data in (b"", b"A: 1\r\n", b"A: 1\r\nB: 2"):
            self.assertEqual(split_message(data), (data, b""))


class ParseFieldsTests(SynchronousTestCase):
    def test_fields(self) -> None:
        """Fields come in order with their names, unfolded values and raw bytes."""
        header = b"Subject: hello\r\n  world\r\nFrom:a@b.example\r\n"
        fields = parse_fields(header)
        self.assertEqual([f.name for f in fields], [b"Subject", b"From"])
        self.assertEqual([f.value for f in fields], [b"hello world", b"a@b.example"])
        self.assertEqual(b"".join(f.raw for f in fields), header)

    def test_folding_with_tabs_and_bare_lf(self) -> None:
        """Continuation lines (SP or HTAB, CRLF or LF) join with one space, trimmed."""
        fields = parse_fields(b"X: a \n\t\tb\r\n c  \r\nY:\r\n\tz\n")
        self.assertEqual([f.value for f in fields], [b"a b c", b"z"])

    def test_space_before_colon(self) -> None:
        """Obsolete WSP between name and colon (RFC 5322 §4.5.3) is not part of the name."""
        self.assertEqual(parse_fields(b"Subject \t: x\r\n")[0].name, b"Subject")

    def test_utf8(self) -> None:
        """UTF-8 names and values (RFC 6532) are kept as bytes."""
        field = parse_fields("X-Mox-Extra-☺: ☹\r\n".encode())[0]
        self.assertEqual((field.name, field.value), ("X-Mox-Extra-☺".encode(), "☹".encode()))

    def test_lone_cr_is_data(self) -> None:
        """A CR not followed by LF does not end a line."""
        self.assertEqual(parse_fields(b"A: x\ry\r\n")[0].value, b"x\ry")

    def test_no_colon(self) -> None:
        """A line without a colon names the line number."""
        e = self.assertRaises(HeaderError, parse_fields, b"A: 1\r\nHello world\r\n")
        self.assertEqual(str(e), "malformed header field on line 2: no colon")

    def test_bad_name(self) -> None:
        """An empty name or one with spaces or controls is refused."""
        for header in (b": x\r\n", b"Dear Bob: hi\r\n", b"A\x01: x\r\n"):
            e = self.assertRaises(HeaderError, parse_fields, header)
            self.assertEqual(str(e), "malformed header field name on line 1")

    def test_leading_continuation(self) -> None:
        """A header cannot start with a continuation line."""
        e = self.assertRaises(HeaderError, parse_fields, b" A: 1\r\n")
        self.assertIn("continuation", str(e))

    def test_empty(self) -> None:
        """An empty header block has no fields."""
        self.assertEqual(parse_fields(b""), [])

    def test_field_names(self) -> None:
        """field_names gives parse_fields' names and refuses what it refuses."""
        header = b"Subject: hello\r\n  world\r\nFrom \t:a@b.example\r\nX-\xe2\x98\xba: 1\n"
        self.assertEqual(field_names(header), [f.name for f in parse_fields(header)])
        self.assertEqual(field_names(b""), [])
        for bad in (b" A: 1\r\n", b"A: 1\r\nHello world\r\n", b"Dear Bob: hi\r\n"):
            self.assertRaises(HeaderError, field_names, bad)


class FieldLookupTests(SynchronousTestCase):
    header = b"From: a@x\r\nsubject: one\r\nSUBJECT: two\r\n"

    def test_field_values(self) -> None:
        """Values of all fields with a name, case-insensitively, in header order."""
        self.assertEqual(field_values(self.header, "Subject"), [b"one", b"two"])
        self.assertEqual(field_values(parse_fields(self.header), "from"), [b"a@x"])
        self.assertEqual(field_values(self.header, "Date"), [])

    def test_has_field(self) -> None:
        """has_field is case-insensitive and works on bytes or parsed fields."""
        self.assertTrue(has_field(self.header, "FROM"))
        self.assertFalse(has_field(parse_fields(self.header), "Date"))

    def test_unfold(self) -> None:
        """unfold takes the raw lines of one field."""
        self.assertEqual(unfold([b"S: a\r\n", b"\tb\r\n"]), b"a b")


class PrependFieldsTests(SynchronousTestCase):
    def test_prepend(self) -> None:
        """New fields go in front in order; the original bytes stay untouched."""
        data = b"Subject: x\n\nbody\n"
        self.assertEqual(
            prepend_fields(data, [("Received", "from a\r\n\tby b"), ("Date", "now")]),
            b"Received: from a\r\n\tby b\r\nDate: now\r\n" + data,
        )

    def test_utf8_value(self) -> None:
        """Values are written as UTF-8."""
        self.assertEqual(prepend_fields(b"", [("X", "é")]), "X: é\r\n".encode())

    def test_refuse_line_breaks(self) -> None:
        """A value with a line break that is not a fold, or a bad name, is a programming error."""
        for field in (("X", "a\r\nb"), ("X", "a\nb"), ("X", "a\r"), ("X Y", "a"), ("", "a")):
            self.assertRaises(ValueError, prepend_fields, b"", [field])


class DateTests(SynchronousTestCase):
    def test_format_date(self) -> None:
        """Dates are RFC 5322 §3.3 in UTC with +0000, seconds truncated."""
        self.assertEqual(format_date(0), "Thu, 01 Jan 1970 00:00:00 +0000")
        self.assertEqual(format_date(1795837188.9), "Sat, 28 Nov 2026 03:39:48 +0000")


class ReceivedTests(SynchronousTestCase):
    def test_protocol(self) -> None:
        """The protocol types of RFC 3848 and RFC 6531 §3.7.3 follow TLS, auth and SMTPUTF8."""
        self.assertEqual(received_protocol(tls=False, authenticated=False), "ESMTP")
        self.assertEqual(received_protocol(tls=True, authenticated=False), "ESMTPS")
        self.assertEqual(received_protocol(tls=False, authenticated=True), "ESMTPA")
        self.assertEqual(received_protocol(tls=True, authenticated=True), "ESMTPSA")
        self.assertEqual(
            received_protocol(tls=True, authenticated=True, smtputf8=True), "UTF8SMTPSA"
        )

    def test_format(self) -> None:
        """The Received value has from, by, with, id, for and the date (RFC 5321 §4.4)."""
        self.assertEqual(
            format_received(
                helo="client.example",
                remote_ip="192.0.2.1",
                hostname="mail.example",
                protocol="ESMTPSA",
                id="abc",
                recipient="rcpt@remote.example",
                timestamp=0,
            ),
            "from client.example ([192.0.2.1])\r\n\tby mail.example with ESMTPSA id abc"
            "\r\n\tfor <rcpt@remote.example>; Thu, 01 Jan 1970 00:00:00 +0000",
        )

    def test_ipv6_no_recipient_tls(self) -> None:
        """IPv6 literals are tagged, "for" is left out without one recipient, TLS is a comment."""
        value = format_received(
            helo="",
            remote_ip="::1",
            hostname="h",
            protocol="ESMTPS",
            id="i",
            recipient=None,
            timestamp=0,
            tls_description="TLSv1.3 (AES)\\",
        )
        self.assertEqual(
            value,
            "from unknown ([IPv6:::1])\r\n\tby h with ESMTPS (TLSv1.3 AES) id i"
            "; Thu, 01 Jan 1970 00:00:00 +0000",
        )

    def test_helo_cleaned(self) -> None:
        """Spaces and controls in the client's EHLO cannot break the header."""
        value = format_received(
            helo="a b\r\nX: y",
            remote_ip="1.2.3.4",
            hostname="h",
            protocol="ESMTP",
            id="i",
            recipient=None,
            timestamp=0,
        )
        self.assertTrue(value.startswith("from abX:y ([1.2.3.4])\r\n"))


class CanonicalHeaderNameTests(SynchronousTestCase):
    def test_examples(self) -> None:
        """Go's CanonicalMIMEHeaderKey examples and spec §8's."""
        for name, canonical in [
            ("x-mox-extra-a", "X-Mox-Extra-A"),
            ("X-Mox-Extra-x-cANONICAL-z", "X-Mox-Extra-X-Canonical-Z"),
            ("content-type", "Content-Type"),
            ("USER-AGENT", "User-Agent"),
            ("a--b", "A--B"),
            ("-a", "-A"),
            ("1a", "1a"),
            ("x_y", "X_y"),
            ("x-mox-extra-☺", "x-mox-extra-☺"),
            ("has space", "has space"),
            ("", ""),
        ]:
            self.assertEqual(canonical_header_name(name), canonical, name)

    @given(st.text())
    def test_idempotent(self, name: str) -> None:
        """Canonicalising twice gives the same as once."""
        once = canonical_header_name(name)
        self.assertEqual(canonical_header_name(once), once)

    @given(st.text(alphabet=_TOKEN))
    def test_token_names(self, name: str) -> None:
        """Token names keep their length and compare equal case-insensitively."""
        canonical = canonical_header_name(name)
        self.assertEqual(canonical.lower(), name.lower())
        for i, ch in enumerate(canonical):
            if i == 0 or canonical[i - 1] == "-":
                self.assertEqual(ch, ch.upper())
            else:
                self.assertEqual(ch, ch.lower())

    @given(st.text(), st.text(min_size=1).filter(lambda s: any(c not in _TOKEN for c in s)))
    def test_non_token_untouched(self, prefix: str, rest: str) -> None:
        """A name with any non-token character is returned as is."""
        self.assertEqual(canonical_header_name(prefix + rest), prefix + rest)


class ExtraTests(SynchronousTestCase):
    def extra(self, header: str) -> dict[str, str]:
        return extra_from_fields(parse_fields(header.encode()))

    def test_spec_examples(self) -> None:
        """The three examples of spec §8."""
        self.assertEqual(self.extra("X-Mox-Extra-a: 123\r\n"), {"A": "123"})
        self.assertEqual(self.extra("X-Mox-Extra-x-cANONICAL-z: ok\r\n"), {"X-Canonical-Z": "ok"})
        self.assertEqual(self.extra("X-Mox-Extra-☺: ☹\r\n"), {"☺": "☹"})
        self.assertEqual(self.extra("x-mox-extra-☺: ☹\r\n"), {})

    def test_value_unfolded_trimmed_not_decoded(self) -> None:
        """Values are unfolded and trimmed but not RFC 2047 decoded; others are ignored."""
        self.assertEqual(
            self.extra(
                "Subject: s\r\nx-mox-extra-userid:  42 \r\n\t43\r\n"
                "X-Mox-Extra-Name: =?utf-8?q?a?=\r\nX-Mox-Extra: no\r\n"
            ),
            {"Userid": "42 43", "Name": "=?utf-8?q?a?="},
        )

    def test_duplicate(self) -> None:
        """The same key after canonicalisation is refused with Go-quoted key."""
        e = self.assertRaises(
            DuplicateExtraKey, self.extra, "X-Mox-Extra-Key: 1\r\nx-mox-extra-KEY: 2\r\n"
        )
        self.assertEqual(str(e), 'duplicate x-mox-extra- key "Key"')
        self.assertEqual(e.key, "Key")

    def test_non_utf8(self) -> None:
        """A non-UTF-8 value or key is refused, not stored mangled."""
        for header in (b"X-Mox-Extra-A: \xff\r\n", b"X-Mox-Extra-\xff: a\r\n"):
            e = self.assertRaises(HeaderError, extra_from_fields, parse_fields(header))
            self.assertIn("UTF-8", str(e))

    @given(
        st.dictionaries(
            st.text(alphabet=_TOKEN, min_size=1).map(canonical_header_name),
            st.text(alphabet="abc xyz=;", max_size=20).map(str.strip),
        )
    )
    def test_round_trip(self, extra: dict[str, str]) -> None:
        """Canonical keys written as headers (any case) come back unchanged."""
        header = "".join(f"x-MOX-extra-{k.swapcase()}: {v}\r\n" for k, v in extra.items())
        self.assertEqual(self.extra(header), extra)

    def test_go_quote(self) -> None:
        """Keys in replies are quoted like Go's %+q: ASCII only."""
        self.assertEqual(go_quote('a"\\b'), '"a\\"\\\\b"')
        self.assertEqual(go_quote("☺\x01\U0001f600"), '"\\u263a\\x01\\U0001f600"')
