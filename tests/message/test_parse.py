"""Tests for mailtwist.message.parse and charset: message fields, structure and part bytes."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.message.charset import codec_name, decode_text
from mailtwist.message.parse import (
    MAX_READABLE,
    ParsedAddress,
    PartNotFound,
    parse_message,
    part_bytes,
)
from tests.message.samples import SAMPLE_22_RAW

# MessageGet's Structure for that message (sample 21), field for field.
SAMPLE_21_STRUCTURE = {
    "ContentType": "multipart/mixed",
    "ContentTypeParams": {
        "boundary": "83454679d53de09b4c6c0fc65e6139f86e52afb95bfd0703555187ef8876"
    },
    "ContentID": "",
    "ContentDisposition": "",
    "Filename": "",
    "DecodedSize": 0,
    "Parts": [
        {
            "ContentType": "multipart/related",
            "ContentTypeParams": {
                "boundary": "d022939aa8ce349234fac92f7e753a8cb7fdb4038019578876835bca6cc7"
            },
            "ContentID": "",
            "ContentDisposition": "",
            "Filename": "",
            "DecodedSize": 0,
            "Parts": [
                {
                    "ContentType": "multipart/alternative",
                    "ContentTypeParams": {
                        "boundary": "f3895961efa56beca00e1a83a45fe5dd57685879153eaee8c99670290b8d"
                    },
                    "ContentID": "",
                    "ContentDisposition": "",
                    "Filename": "",
                    "DecodedSize": 0,
                    "Parts": [
                        {
                            "ContentType": "text/plain",
                            "ContentTypeParams": {"charset": "us-ascii"},
                            "ContentID": "",
                            "ContentDisposition": "",
                            "Filename": "",
                            "DecodedSize": 16,
                            "Parts": [],
                        },
                        {
                            "ContentType": "text/html",
                            "ContentTypeParams": {"charset": "us-ascii"},
                            "ContentID": "",
                            "ContentDisposition": "",
                            "Filename": "",
                            "DecodedSize": 37,
                            "Parts": [],
                        },
                    ],
                },
                {
                    "ContentType": "image/png",
                    "ContentTypeParams": {},
                    "ContentID": "<pixel1>",
                    "ContentDisposition": "inline",
                    "Filename": "pixel.png",
                    "DecodedSize": 69,
                    "Parts": [],
                },
            ],
        },
        {
            "ContentType": "text/plain",
            "ContentTypeParams": {},
            "ContentID": "",
            "ContentDisposition": "attachment",
            "Filename": "notes.txt",
            "DecodedSize": 20,
            "Parts": [],
        },
        {
            "ContentType": "/",
            "ContentTypeParams": {},
            "ContentID": "",
            "ContentDisposition": "attachment",
            "Filename": "data.bin",
            "DecodedSize": 16,
            "Parts": [],
        },
    ],
}

# Sample 66: an incoming message with Cc, In-Reply-To, References, Auto-Submitted.
SAMPLE_66 = (
    b"From: External Sender <sender@localhost>\r\n"
    b"To: <someone@localhost>\r\n"
    b"Subject: 66-smtp-1025-incoming-external\r\n"
    b"Date: Thu, 26 Nov 2026 04:25:03 -0000\r\n"
    b"Message-ID: <66-smtp-1025-incoming-external-1795667103081@client.example>\r\n"
    b"In-Reply-To: <parent@example.org>\r\n"
    b"References: <root@example.org> <parent@example.org>\r\n"
    b"Auto-Submitted: auto-replied\r\n"
    b"Cc: Carol <carol@example.org>, dave@example.org\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: text/plain; charset=us-ascii\r\n"
    b"\r\n"
    b"hello from outside\r\n"
)


def _message(content_type: str, body: bytes, *headers: str) -> bytes:
    lines = ["From: a@example.com", "Subject: s", *headers]
    if content_type:
        lines.append(f"Content-Type: {content_type}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


def _multipart(subtype: str, *parts: bytes, boundary: str = "b1") -> bytes:
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return (
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"\r\n\r\n'.encode()
        + body
        + b"--"
        + boundary.encode()
        + b"--\r\n"
    )


class SampleTests(SynchronousTestCase):
    def test_sample_21_structure(self) -> None:
        """The message of sample 22 gives exactly the Structure MessageGet returned (sample 21)."""
        parsed = parse_message(SAMPLE_22_RAW, mail_from="mox+x@localhost")
        self.assertEqual(parsed.structure.to_json(), SAMPLE_21_STRUCTURE)

    def test_sample_21_message(self) -> None:
        """Sample 21's Message fields: addresses, id, date, subject, no references."""
        parsed = parse_message(SAMPLE_22_RAW, mail_from="mox+x@localhost")
        self.assertEqual(parsed.from_, (ParsedAddress("", "mox@localhost"),))
        self.assertEqual(parsed.to, (ParsedAddress("", "mox@localhost"),))
        self.assertEqual((parsed.cc, parsed.bcc, parsed.reply_to), ((), (), ()))
        self.assertEqual(parsed.message_id, "<_VkY7jOLp4G2dWFlpT-LDg@localhost>")
        self.assertEqual(parsed.date, datetime(2026, 11, 26, 4, 22, 41, tzinfo=UTC))
        self.assertEqual(parsed.subject, "attachments via json")
        self.assertEqual(
            (parsed.references, parsed.referenced_ids, parsed.in_reply_to), ((), (), "")
        )
        self.assertFalse(parsed.automated)
        self.assertFalse(parsed.is_dsn)

    def test_sample_21_body_better_than_mox(self) -> None:
        """The body is the text/plain and text/html of the alternative part, not the
        attached notes.txt that mox showed as Text."""
        parsed = parse_message(SAMPLE_22_RAW)
        self.assertEqual(parsed.text, "see attachment\n")
        self.assertEqual(parsed.html, '<p>hello <img src="cid:pixel1"></p>\n')

    def test_sample_66(self) -> None:
        """Sample 66 gives the webhook's Cc, InReplyTo, References, UTC Date, Text and
        Automated (Auto-Submitted: auto-replied)."""
        parsed = parse_message(SAMPLE_66, mail_from="sender@localhost")
        self.assertEqual(parsed.from_, (ParsedAddress("External Sender", "sender@localhost"),))
        self.assertEqual(
            parsed.cc,
            (ParsedAddress("Carol", "carol@example.org"), ParsedAddress("", "dave@example.org")),
        )
        self.assertEqual(parsed.in_reply_to, "<parent@example.org>")
        self.assertEqual(parsed.referenced_ids, ("<root@example.org>", "<parent@example.org>"))
        self.assertEqual(parsed.references, ("<root@example.org>", "<parent@example.org>"))
        self.assertEqual(parsed.date, datetime(2026, 11, 26, 4, 25, 3, tzinfo=UTC))
        self.assertEqual(parsed.text, "hello from outside\n")
        self.assertEqual(parsed.structure.decoded_size, 20)
        self.assertTrue(parsed.automated)


class PartBytesTests(SynchronousTestCase):
    def test_sample_23(self) -> None:
        """PartPath [2] gives the decoded bytes of data.bin (sample 23), LF untouched."""
        self.assertEqual(part_bytes(SAMPLE_22_RAW, [2]), bytes(range(16)))

    def test_nested_paths(self) -> None:
        """Paths index Parts successively; text parts come with CRLF line ends."""
        self.assertEqual(part_bytes(SAMPLE_22_RAW, [0, 0, 0]), b"see attachment\r\n")
        self.assertEqual(
            part_bytes(SAMPLE_22_RAW, [0, 1]),
            base64.b64decode(
                "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
            ),
        )
        self.assertEqual(part_bytes(SAMPLE_22_RAW, [1]), b"attached text file\r\n")

    def test_top_level(self) -> None:
        """[] is the top-level body: the raw multipart text, or a single part decoded."""
        body = part_bytes(SAMPLE_22_RAW, [])
        self.assertTrue(body.startswith(b"--83454679d53de"))
        self.assertTrue(body.endswith(b"--\r\n"))
        message = _message(
            "text/plain", b"caf=C3=A9\nline\n", "Content-Transfer-Encoding: quoted-printable"
        )
        self.assertEqual(part_bytes(message, []), "café\r\nline\r\n".encode())

    def test_nested_multipart_body(self) -> None:
        """A nested multipart's body is its MIME text, starting at its first boundary."""
        self.assertTrue(part_bytes(SAMPLE_22_RAW, [0]).startswith(b"--d022939aa8ce"))

    def test_not_found(self) -> None:
        """An index outside Parts is PartNotFound with mox's message."""
        for path, message in (
            ([3], "part 3 at index 0 not found"),
            ([0, 0, 2], "part 2 at index 2 not found"),
            ([2, 0], "part 0 at index 1 not found"),
            ([-1], "part -1 at index 0 not found"),
        ):
            error = self.assertRaises(PartNotFound, part_bytes, SAMPLE_22_RAW, path)
            self.assertEqual(str(error), message)
            self.assertEqual(error.message, message)


class BodySelectionTests(SynchronousTestCase):
    def test_text_attachment_not_body(self) -> None:
        """A text/plain attachment before the body is skipped; the body is taken."""
        message = _message(
            "",
            b"",
        ).replace(b"\r\n\r\n", b"\r\n") + _multipart(
            "mixed",
            b"Content-Type: text/plain\r\nContent-Disposition: attachment; f"
            b'ilename="a.txt"\r\n\r\nfile',
            b"Content-Type: text/plain\r\n\r\nbody text",
        )
        self.assertEqual(parse_message(message).text, "body text")

    def test_inline_file_with_name_not_body(self) -> None:
        """An inline text part with a filename (or a content-type name) is a file, not the body."""
        for labels in (
            b'Content-Type: text/plain\r\nContent-Disposition: inline; filename="n.txt"\r\n',
            b'Content-Type: text/plain; name="n.txt"\r\n',
        ):
            message = b"Subject: s\r\n" + _multipart("mixed", labels + b"\r\nfile")
            self.assertEqual(parse_message(message).text, "")

    def test_first_readable_wins_in_mixed(self) -> None:
        """In a mixed part the first readable part wins, even when nested deeper."""
        alternative = _multipart(
            "alternative",
            b"Content-Type: text/plain\r\n\r\nplain",
            b"Content-Type: text/html\r\n\r\n<p>html</p>",
            boundary="b2",
        )
        message = b"Subject: s\r\n" + _multipart(
            "mixed", alternative, b"Content-Type: text/plain\r\n\r\nsignature"
        )
        parsed = parse_message(message)
        self.assertEqual((parsed.text, parsed.html), ("plain", "<p>html</p>"))

    def test_no_content_type_is_text(self) -> None:
        """A message without Content-Type is text (RFC 2045 §5.2); mox's Structure says "/"."""
        parsed = parse_message(b"Subject: s\r\n\r\nhello\r\n")
        self.assertEqual(parsed.text, "hello\n")
        self.assertEqual(parsed.structure.content_type, "/")

    def test_truncated(self) -> None:
        """Text is cut at 1 MiB of UTF-8 without splitting a character, LF line ends."""
        body = ("é" * 700_000).encode() + b"\r\n"
        parsed = parse_message(_message("text/plain; charset=utf-8", body))
        self.assertEqual(len(parsed.text.encode()), MAX_READABLE)
        self.assertEqual(parse_message(_message("text/plain", b"a\r\nb\r\n")).text, "a\nb\n")

    def test_base64_html(self) -> None:
        """A base64 HTML part is decoded."""
        message = _message(
            "text/html; charset=utf-8",
            base64.encodebytes("<p>grüße</p>".encode()),
            "Content-Transfer-Encoding: base64",
        )
        self.assertEqual(parse_message(message).html, "<p>grüße</p>")


class CharsetTests(SynchronousTestCase):
    def test_charsets(self) -> None:
        """Bodies in iso-8859-1, windows-1252, shift_jis and koi8-r are decoded to str."""
        cases = [
            ("iso-8859-1", "café".encode("latin-1"), "café\n"),
            ('"Windows-1252"', "€ “quoted”".encode("cp1252"), "€ “quoted”\n"),
            ("shift_jis", "日本語".encode("shift_jis"), "日本語\n"),
            ("koi8-r", "привет".encode("koi8-r"), "привет\n"),
        ]
        for charset, body, expected in cases:
            message = _message(f"text/plain; charset={charset}", body + b"\r\n")
            self.assertEqual(parse_message(message).text, expected, charset)

    def test_unknown_charset(self) -> None:
        """An unknown charset is read as UTF-8, bad bytes replaced."""
        message = _message("text/plain; charset=x-martian", "ok ☺".encode() + b"\xff\r\n")
        self.assertEqual(parse_message(message).text, "ok ☺\ufffd\n")

    def test_codec_names(self) -> None:
        """Labels map to Python codecs; non-text codecs and unknown labels give utf-8."""
        self.assertEqual(codec_name("ISO-8859-1"), "iso8859-1")
        self.assertEqual(codec_name("gb2312"), "gb18030")
        self.assertEqual(codec_name("us-ascii"), "utf-8")
        for label in ("base64", "rot13", "zlib", "idna", "unicode_escape", "no-such", "\x00"):
            self.assertEqual(codec_name(label), "utf-8", label)
        self.assertEqual(decode_text(b"+AKM-1", "utf-7"), "£1")
        self.assertEqual(decode_text(b"\xff", "utf-8"), "\ufffd")

    def test_subject_decoded(self) -> None:
        """RFC 2047 subjects in any charset, and raw UTF-8 subjects, are decoded."""
        for raw, expected in (
            (b"=?iso-8859-1?q?caf=E9?= au lait", "café au lait"),
            (b"=?utf-8?b?4pi6?=", "☺"),
            ("grüße".encode(), "grüße"),
            (b"folded\r\n subject", "folded subject"),
        ):
            message = b"Subject: " + raw + b"\r\n\r\nx"
            self.assertEqual(parse_message(message).subject, expected)


class HeaderFieldTests(SynchronousTestCase):
    def test_message_get_references(self) -> None:
        """MessageGet's References: all words of the fields, In-Reply-To prepended if missing."""
        message = _message(
            "",
            b"x",
            "References: <a@x>\r\n\t<b@x>",
            "References: <c@x>",
            "In-Reply-To: <p@x>",
        )
        self.assertEqual(parse_message(message).references, ("<p@x>", "<a@x>", "<b@x>", "<c@x>"))

    def test_webhook_references(self) -> None:
        """The webhook's References: <id> entries lower-cased, quotes and white space
        removed, truncated entries skipped, In-Reply-To not added."""
        message = _message(
            "",
            b"x",
            'References: <A@X.example> junk <"b"@x> <trunc <c@ x>',
            "In-Reply-To: <p@x>",
        )
        self.assertEqual(parse_message(message).referenced_ids, ("<a@x.example>", "<b@x>", "<c@x>"))

    def test_automated(self) -> None:
        """Automated is true for a null MAIL FROM, list or precedence fields, an
        Auto-Submitted other than no, and multipart/report (spec §3.7)."""
        plain = _message("text/plain", b"x")
        self.assertFalse(parse_message(plain, mail_from="a@b").automated)
        self.assertTrue(parse_message(plain, mail_from="").automated)
        # Without a MAIL FROM (unknown) only the message decides.
        self.assertFalse(parse_message(plain).automated)
        for header in (
            "List-Id: <l.example>",
            "List-Unsubscribe: <mailto:u@x>",
            "Precedence: bulk",
            "Auto-Submitted: auto-generated",
            "List-Unsubscribe-Post: List-Unsubscribe=One-Click",
        ):
            self.assertTrue(
                parse_message(_message("text/plain", b"x", header), mail_from="a@b").automated
            )
        self.assertFalse(
            parse_message(
                _message("text/plain", b"x", "Auto-Submitted: No"), mail_from="a@b"
            ).automated
        )
        report = b"Subject: s\r\n" + _multipart(
            "report; report-type=delivery-status",
            b"Content-Type: text/plain\r\n\r\nfailed",
            b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns;"
            b" x\r\n\r\nFinal-Recipient: rfc822; a@b\r\nAction: failed\r\nStatus: "
            b"5.1.1\r\n",
        )
        parsed = parse_message(report, mail_from="a@b")
        self.assertTrue(parsed.automated)
        self.assertTrue(parsed.is_dsn)
        self.assertGreater(parsed.structure.parts[1].decoded_size, 0)

    def test_dates(self) -> None:
        """Dates keep their zone, -0000 is UTC, garbage and absence are None."""
        cases = {
            "Date: Thu, 4 Apr 2024 14:29:42 +0200": datetime(
                2024, 4, 4, 14, 29, 42, tzinfo=timezone(timedelta(hours=2))
            ),
            "Date: 4 Apr 2024 14:29:42 -0000": datetime(2024, 4, 4, 14, 29, 42, tzinfo=UTC),
            "Date: yesterday": None,
            # RFC 5322 §3.3: DIGIT is ASCII; other Unicode digits are no date.
            "Date: 4 Apr \uff12\uff10\uff12\uff14 14:29:42 +0200": None,
            "Date: \uff14 Apr 2024 14:29:42 +0200": None,
        }
        for header, expected in cases.items():
            self.assertEqual(parse_message(_message("", b"x", header)).date, expected)
        self.assertIsNone(parse_message(_message("", b"x")).date)

    def test_date_years(self) -> None:
        """Four-digit years are read as written, even below 100; RFC 5322 §4.3 obsolete
        years: two digits below 50 are 20xx, from 50 19xx, three digits 1900 more."""
        cases = {
            "Date: 1 Jan 0001 00:00:00 +0000": datetime(1, 1, 1, tzinfo=UTC),
            "Date: Mon, 29 Feb 0004 10:00:00 +0100": datetime(
                4, 2, 29, 10, tzinfo=timezone(timedelta(hours=1))
            ),
            "Date: 1 Jan 0099 00:00:00 +0000": datetime(99, 1, 1, tzinfo=UTC),
            "Date: 1 Jan 0000 00:00:00 +0000": None,
            "Date: 1 Jan 01 00:00:00 +0000": datetime(2001, 1, 1, tzinfo=UTC),
            "Date: 1 Jan 49 00:00:00 +0000": datetime(2049, 1, 1, tzinfo=UTC),
            "Date: 1 Jan 50 00:00:00 +0000": datetime(1950, 1, 1, tzinfo=UTC),
            "Date: 1 Jan 68 00:00:00 +0000": datetime(1968, 1, 1, tzinfo=UTC),
            "Date: 1 Jan 099 00:00:00 +0000": datetime(1999, 1, 1, tzinfo=UTC),
            "Date: 1 Jan 126 00:00:00 +0000": datetime(2026, 1, 1, tzinfo=UTC),
        }
        for header, expected in cases.items():
            self.assertEqual(parse_message(_message("", b"x", header)).date, expected, header)

    def test_bad_addresses(self) -> None:
        """An address list our parser refuses still gives its readable entries."""
        message = b"To: Good <good@example.com>, bad@@x, <fine@example.org>\r\n\r\nx"
        addresses = [a.address for a in parse_message(message).to]
        self.assertIn("good@example.com", addresses)
        self.assertIn("fine@example.org", addresses)

    def test_unicode_domain(self) -> None:
        """Addresses are shown with the Unicode domain."""
        message = b"From: <a@xn--mnchen-3ya.example>\r\n\r\nx"
        self.assertEqual(parse_message(message).from_[0].address, "a@münchen.example")


class StructureTests(SynchronousTestCase):
    def test_filenames(self) -> None:
        """Filenames come from RFC 2231 or RFC 2047 encoded disposition parameters,
        else from the content-type name."""
        cases = {
            b"Content-Disposition: attachment; filename*=utf-8''r%C3%A9sum%C3%A9.pdf": "résumé.pdf",
            b"Content-Disposition: attachment;\r\n filename*0*=utf-8''a%C3%A9;\r\n"
            b" filename*1=b.txt": "aéb.txt",
            b'Content-Disposition: attachment; filename="=?utf-8?q?caf=C3=A9.txt?="': "café.txt",
            b'Content-Disposition: attachment\r\nContent-Type: text/plain; name="n.txt"': "n.txt",
        }
        for header, expected in cases.items():
            message = b"Subject: s\r\n" + _multipart("mixed", header + b"\r\n\r\ndata")
            part = parse_message(message).structure.parts[0]
            self.assertEqual(part.filename, expected)
            self.assertEqual(part.content_disposition, "attachment")

    def test_rfc2231_sections_ascii_digits(self) -> None:
        """Only ASCII digits number an RFC 2231 section: a superscript or Arabic-Indic digit
        is no section, and the message still reads."""
        for section in ("\u00b2", "\u0661", "x"):
            header = (
                "Content-Disposition: attachment;\r\n"
                f" filename*0=a; filename*1=b;\r\n filename*{section}=c"
            )
            message = b"Subject: s\r\n" + _multipart("mixed", header.encode() + b"\r\n\r\ndata")
            part = parse_message(message).structure.parts[0]
            self.assertEqual(part.filename, "ab", section)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_content_type_forms(self) -> None:
        """Types are lower case, parameter names lower case with values kept; a bad
        type is application/octet-stream, bad parameters are dropped."""
        cases = {
            "TEXT/Plain; CharSet=UTF-8": ("text/plain", {"charset": "UTF-8"}),
            'text/plain; format=flowed; charset="a b"': (
                "text/plain",
                {"format": "flowed", "charset": "a b"},
            ),
            "garbage": ("application/octet-stream", {}),
            "text/plain; ;;=x; broken": ("text/plain", {}),
            " ": ("/", {}),
        }
        for value, (content_type, params) in cases.items():
            structure = parse_message(_message(value, b"x")).structure
            self.assertEqual(
                (structure.content_type, dict(structure.content_type_params)),
                (content_type, params),
                value,
            )

    def test_text_size_counts_crlf(self) -> None:
        """DecodedSize of a text part counts a bare LF as CRLF, of other parts the bytes."""
        self.assertEqual(parse_message(_message("text/plain", b"a\nb\n")).structure.decoded_size, 6)
        self.assertEqual(
            parse_message(_message("application/x-y", b"a\nb\n")).structure.decoded_size, 4
        )

    def test_embedded_message(self) -> None:
        """A message/rfc822 part is a leaf with its size, as mox shows it."""
        inner = b"Subject: inner\r\n\r\ninner body\r\n"
        message = b"Subject: s\r\n" + _multipart(
            "mixed",
            b"Content-Type: text/plain\r\n\r\nouter",
            b"Content-Type: message/rfc822\r\n\r\n" + inner,
        )
        parsed = parse_message(message)
        embedded = parsed.structure.parts[1]
        self.assertEqual((embedded.content_type, embedded.parts), ("message/rfc822", ()))
        self.assertEqual(embedded.decoded_size, len(inner))
        self.assertEqual(parsed.text, "outer")
        self.assertEqual(part_bytes(message, [1]), inner)

    def test_missing_closing_boundary(self) -> None:
        """A multipart without its closing boundary still gives its parts."""
        message = (
            b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
            b"--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
        )
        parsed = parse_message(message)
        self.assertEqual(parsed.text, "hi")


class GarbageTests(SynchronousTestCase):
    def test_odd_inputs(self) -> None:
        """Empty input, no header, bare LF and no empty line all give a result."""
        for data in (
            b"",
            b"\r\n",
            b"no header at all",
            b"Subject: x\nContent-Type: text/plain\n\nbody\n",
            b"\xff\xfe\x00",
        ):
            parsed = parse_message(data)
            self.assertIsInstance(parsed.text, str)

    def test_deep_nesting(self) -> None:
        """Thousands of nested multiparts give a result, not a recursion error."""
        data = b"".join(
            f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode()
            for i in range(3000)
        )
        parsed = parse_message(data)
        self.assertIsInstance(parsed.structure.content_type, str)
        self.assertRaises(PartNotFound, part_bytes, data, [0])
        self.assertIsInstance(part_bytes(data, []), bytes)

    def test_nesting_capped(self) -> None:
        """Nesting deeper than the cap but within Python's parser is cut off as leaves."""
        data = b"".join(
            f'Content-Type: multipart/mixed; boundary="b{i}"\r\n\r\n--b{i}\r\n'.encode()
            for i in range(120)
        )
        structure = parse_message(data).structure
        depth = 0
        while structure.parts:
            structure = structure.parts[0]
            depth += 1
        self.assertLessEqual(depth, 50)

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=2000))
    def test_never_raises(self, data: bytes) -> None:
        """Random bytes never make parse_message raise."""
        parse_message(b"Content-Type: multipart/mixed; boundary=x\r\n\r\n--x\r\n" + data)
        parse_message(data)

    @settings(max_examples=100, deadline=None)
    @given(
        st.lists(
            st.sampled_from(
                [
                    b"Content-Type: multipart/mixed; boundary=x\r\n",
                    b"--x\r\n",
                    b"--x--\r\n",
                    b"\r\n",
                    b"Content-Transfer-Encoding: base64\r\n",
                    b"Content-Type: message/rfc822\r\n",
                    b"=?utf-8?q?=FF?=\r\n",
                    b"Content-Disposition: attachment; filename*0*=bad'%zz\r\n",
                    b"abc\r\n",
                    b"Subject: =?x?b?!!?=\r\n",
                ]
            ),
            max_size=40,
        )
    )
    def test_structured_garbage(self, pieces: list[bytes]) -> None:
        """MIME-looking garbage never makes parse_message raise."""
        parse_message(b"".join(pieces))
