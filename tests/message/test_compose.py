"""Tests for mailtwist.message.compose: Send's layout, encodings and refusals (spec §2.3)."""

from __future__ import annotations

import base64
import quopri
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.address import parse_address
from mailtwist.message.compose import (
    DEFAULT_USER_AGENT,
    Attachment,
    ComposeError,
    Composition,
    NameAddress,
    _quoted_printable,
    attachment_from_base64,
    compose_message,
    format_message_date,
    generate_message_id,
    needs_smtputf8,
    sniff_content_type,
)
from mailtwist.message.headers import field_values, parse_fields, split_message
from mailtwist.message.parse import Structure, parse_message
from tests.message.samples import SAMPLE_22_RAW

MOX = NameAddress("", parse_address("mox@localhost"))
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAIAAACQd1PeAAAADElEQVR4nGP4z8AAAAMBAQDJ/pLvAAAAAElFTkSuQmCC"
)


# The part of sample 22 that Send composed (from "From:" on); the rest is the
# per-recipient prefix and the headers added at delivery.
SAMPLE_19_COMPOSED = SAMPLE_22_RAW[SAMPLE_22_RAW.index(b"From: <mox@localhost>") :]


def _boundaries(message: bytes) -> Iterator[str]:
    """The boundaries of a message in order, to replay them into compose_message."""
    return iter(re.findall(r'boundary="([0-9a-f]+)"', message.decode("ascii")))


def _composition(**fields: object) -> Composition:
    """A Composition with the simple Send defaults, overridden by ``fields``."""
    values: dict[str, object] = {
        "from_": MOX,
        "to": (MOX,),
        "cc": (),
        "bcc": (),
        "reply_to": (),
        "message_id": "<id@localhost>",
        "references": (),
        "date": datetime(2026, 11, 26, 4, 22, 41, tzinfo=UTC),
        "subject": "",
        "text": "hi\n",
        "html": "",
    }
    values.update(fields)
    return Composition(**values)  # type: ignore[arg-type]


def _compose(**fields: object) -> bytes:
    smtputf8 = bool(fields.pop("smtputf8", False))
    return compose_message(_composition(**fields), smtputf8=smtputf8)


def _header_names(message: bytes) -> list[str]:
    header, _ = split_message(message)
    return [field.name.decode("ascii") for field in parse_fields(header)]


def _max_line(message: bytes) -> int:
    return max(len(line) for line in message.split(b"\r\n"))


class GoldenLayoutTests(SynchronousTestCase):
    def test_sample_19_byte_for_byte(self) -> None:
        """Send with text, HTML, an inline image and two attached files (sample 19)
        composes exactly the bytes mox stored (sample 22), boundaries aside."""
        boundaries = _boundaries(SAMPLE_19_COMPOSED)
        composition = _composition(
            message_id="<_VkY7jOLp4G2dWFlpT-LDg@localhost>",
            subject="attachments via json",
            text="see attachment\n",
            html='<p>hello <img src="cid:pixel1"></p>',
            inline_files=(Attachment("pixel.png", "image/png", "<pixel1>", PNG),),
            attached_files=(
                attachment_from_base64(
                    "notes.txt", "text/plain", "", "YXR0YWNoZWQgdGV4dCBmaWxlCg=="
                ),
                attachment_from_base64("data.bin", "", "", "AAECAwQFBgcICQoLDA0ODw=="),
            ),
            user_agent="mox/(devel)-go1.27.3",
        )
        message = compose_message(
            composition, smtputf8=False, make_boundary=lambda: next(boundaries)
        )
        self.assertEqual(message, SAMPLE_19_COMPOSED)

    def test_sample_90_headers(self) -> None:
        """Sample 90 (From with name, To with a non-ASCII name, BCC, MessageID,
        References, Date with zone, non-ASCII subject, HTML only) gives mox's header
        fields, in mox's order, without Bcc."""
        message = _compose(
            from_=NameAddress("Mox Sender", parse_address("mox@localhost")),
            to=(NameAddress("Récipient Ü", parse_address("mox@localhost")),),
            bcc=(NameAddress("", parse_address("hidden@localhost")),),
            message_id="<custom-id-123@client.example>",
            references=("<root@client.example>", "<parent@client.example>"),
            date=datetime(2024, 4, 4, 14, 29, 42, tzinfo=timezone(timedelta(hours=2))),
            subject="full fields ☺",
            text="",
            html="<p>html <b>only</b></p>",
        )
        header, body = split_message(message)
        self.assertEqual(
            header,
            b'From: "Mox Sender" <mox@localhost>\r\n'
            b"To: =?utf-8?q?R=C3=A9cipient_=C3=9C?= <mox@localhost>\r\n"
            b"Subject: full fields =?utf-8?q?=E2=98=BA?=\r\n"
            b"Date: 4 Apr 2024 14:29:42 +0200\r\n"
            b"Message-Id: <custom-id-123@client.example>\r\n"
            b"References: <root@client.example>\r\n\t<parent@client.example>\r\n"
            b"In-Reply-To: <parent@client.example>\r\n"
            b"MIME-Version: 1.0\r\n"
            b"User-Agent: " + DEFAULT_USER_AGENT.encode() + b"\r\n"
            b"Content-Transfer-Encoding: 7bit\r\n"
            b"Content-Type: text/html; charset=us-ascii\r\n",
        )
        self.assertEqual(body, b"<p>html <b>only</b></p>\r\n")

    def test_sample_90_reads_back_as_the_webhook_says(self) -> None:
        """The sample 90 message parses into the fields of its incoming webhook."""
        message = _compose(
            from_=NameAddress("Mox Sender", parse_address("mox@localhost")),
            to=(NameAddress("Récipient Ü", parse_address("mox@localhost")),),
            references=("<root@client.example>", "<parent@client.example>"),
            date=datetime(2024, 4, 4, 14, 29, 42, tzinfo=timezone(timedelta(hours=2))),
            subject="full fields ☺",
            text="",
            html="<p>html <b>only</b></p>",
        )
        parsed = parse_message(message, mail_from="mox+x@localhost")
        self.assertEqual(parsed.from_[0].name, "Mox Sender")
        self.assertEqual(parsed.to[0].name, "Récipient Ü")
        self.assertEqual(parsed.subject, "full fields ☺")
        self.assertEqual(parsed.in_reply_to, "<parent@client.example>")
        self.assertEqual(
            parsed.referenced_ids, ("<root@client.example>", "<parent@client.example>")
        )
        self.assertEqual(parsed.date, datetime(2024, 4, 4, 12, 29, 42, tzinfo=UTC))
        self.assertEqual((parsed.text, parsed.html), ("", "<p>html <b>only</b></p>\n"))
        self.assertEqual(
            parsed.structure.to_json(),
            {
                "ContentType": "text/html",
                "ContentTypeParams": {"charset": "us-ascii"},
                "ContentID": "",
                "ContentDisposition": "",
                "Filename": "",
                "DecodedSize": 25,
                "Parts": [],
            },
        )
        self.assertFalse(parsed.automated)

    def test_sample_17_utf8_text(self) -> None:
        """Sample 17's UTF-8 text is 8bit utf-8 and reads back with DecodedSize 27."""
        message = _compose(
            to=(NameAddress("Mox User", parse_address("mox@localhost")),),
            subject="hello simple",
            text="hi there ☺\nsecond line\n",
        )
        self.assertIn(b'To: "Mox User" <mox@localhost>\r\n', message)
        self.assertIn(b"Content-Transfer-Encoding: 8bit\r\n", message)
        self.assertIn(b"Content-Type: text/plain; charset=utf-8\r\n", message)
        parsed = parse_message(message, mail_from="a@b")
        self.assertEqual(parsed.text, "hi there ☺\nsecond line\n")
        self.assertEqual(parsed.structure.decoded_size, 27)

    def test_sample_18_custom_headers(self) -> None:
        """Sample 18: Reply-To, Cc and custom headers in given order before User-Agent;
        the List-Id header makes the delivered copy automated."""
        message = _compose(
            cc=(NameAddress("CC Person", parse_address("cc-person@localhost")),),
            reply_to=(NameAddress("", parse_address("replies@localhost")),),
            subject="with extra",
            text="extra test\n",
            headers=(("X-Custom-Header", "custom value"), ("List-Id", "<list.example>")),
        )
        self.assertEqual(
            _header_names(message),
            [
                "From",
                "Reply-To",
                "To",
                "Cc",
                "Subject",
                "Date",
                "Message-Id",
                "MIME-Version",
                "X-Custom-Header",
                "List-Id",
                "User-Agent",
                "Content-Transfer-Encoding",
                "Content-Type",
            ],
        )
        parsed = parse_message(message, mail_from="mox@localhost")
        self.assertEqual(parsed.cc[0].name, "CC Person")
        self.assertEqual(parsed.reply_to[0].address, "replies@localhost")
        self.assertEqual(parsed.structure.decoded_size, 12)
        self.assertTrue(parsed.automated)


class HeaderTests(SynchronousTestCase):
    def test_user_agent_suppressed(self) -> None:
        """A custom User-Agent or X-Mailer header, any case, replaces ours."""
        for name in ("user-agent", "X-MAILER"):
            message = _compose(headers=((name, "app/1"),))
            header, _ = split_message(message)
            self.assertEqual(
                field_values(header, "User-Agent"), [b"app/1"] if "user" in name else []
            )
            self.assertNotIn(DEFAULT_USER_AGENT.encode(), message)

    def test_no_optional_fields(self) -> None:
        """Without subject, Cc, Reply-To and references those fields are absent."""
        names = _header_names(_compose())
        for absent in ("Subject", "Cc", "Reply-To", "References", "In-Reply-To", "Bcc"):
            self.assertNotIn(absent, names)

    def test_no_to(self) -> None:
        """With only BCC recipients no To field is written."""
        message = _compose(to=(), bcc=(MOX,))
        self.assertNotIn("To", _header_names(message))

    def test_subject_smtputf8_raw(self) -> None:
        """Under SMTPUTF8 the subject is written as UTF-8 (RFC 6532 §3.2)."""
        message = _compose(subject="grüße ☺", smtputf8=True)
        self.assertIn("Subject: grüße ☺\r\n".encode(), message)

    def test_subject_words_encoded_separately(self) -> None:
        """Only the non-ASCII words of the subject are RFC 2047 Q-encoded."""
        message = _compose(subject="a café_= b")
        self.assertIn(b"Subject: a =?utf-8?q?caf=C3=A9=5F=3D?= b\r\n", message)

    def test_subject_folded(self) -> None:
        """A long subject is folded with CRLF TAB so lines stay within 78 characters."""
        subject = " ".join(["word"] * 40)
        message = _compose(subject=subject)
        header, _ = split_message(message)
        self.assertIn(b"\r\n\t", header)
        self.assertLessEqual(_max_line(header), 78)
        self.assertEqual(parse_message(message).subject, subject)

    def test_long_nonascii_subject_word(self) -> None:
        """A very long non-ASCII word becomes several encoded-words, each within 75
        characters, and reads back whole."""
        subject = "é" * 500
        message = _compose(subject=subject)
        header, _ = split_message(message)
        # RFC 2047 §2: encoded-words of at most 75 characters; the first follows "Subject: ".
        self.assertLessEqual(_max_line(header), len("Subject: ") + 75)
        self.assertEqual(parse_message(message).subject, subject)

    def test_huge_ascii_subject_word(self) -> None:
        """An ASCII word over 998 octets is encoded so no line passes 998 (RFC 5322 §2.1.1)."""
        subject = "x" * 3000
        message = _compose(subject=subject)
        self.assertLessEqual(_max_line(message), 998)
        self.assertEqual(parse_message(message).subject, subject)

    def test_address_list_folded(self) -> None:
        """Many recipients are comma separated and folded before passing 77 characters."""
        to = tuple(
            NameAddress(f"Person {i}", parse_address(f"person{i}@example.com")) for i in range(20)
        )
        message = _compose(to=to)
        header, _ = split_message(message)
        self.assertLessEqual(_max_line(header), 78)
        self.assertIn(b',\r\n\t"Person', header)
        parsed = parse_message(message)
        self.assertEqual(
            [a.address for a in parsed.to], [f"person{i}@example.com" for i in range(20)]
        )

    def test_long_display_names_folded(self) -> None:
        """Long display names, quoted or encoded, are folded so lines stay within 78
        characters, and read back unchanged."""
        for name in ("Very " * 30 + "Long", "Ünïcödé " * 20 + "Name"):
            to = (NameAddress(name, parse_address("long@example.com")),)
            message = _compose(to=to)
            header, _ = split_message(message)
            # A first encoded-word (RFC 2047 §2: up to 75 characters) follows "To: ".
            self.assertLessEqual(_max_line(header), len("To: ") + 75)
            self.assertEqual(parse_message(message).to[0].name, name)

    def test_display_name_specials_b_encoded(self) -> None:
        """A non-ASCII display name with specials is B-encoded, as Go's net/mail does."""
        message = _compose(to=(NameAddress("Müller, Hans", parse_address("h@example.com")),))
        self.assertIn(b"To: =?utf-8?b?TcO8bGxlciwgSGFucw==?= <h@example.com>\r\n", message)
        self.assertEqual(parse_message(message).to[0].name, "Müller, Hans")

    def test_display_name_quoting(self) -> None:
        """An ASCII display name is a quoted-string with escapes (RFC 5322 §3.2.4)."""
        message = _compose(to=(NameAddress('A "B" \\C', parse_address("h@example.com")),))
        self.assertIn(b'To: "A \\"B\\" \\\\C" <h@example.com>\r\n', message)

    def test_quoted_localpart(self) -> None:
        """A localpart that is not a dot-atom is written as a quoted-string."""
        message = _compose(to=(NameAddress("", parse_address('"a b"@example.com')),))
        self.assertIn(b'To: <"a b"@example.com>\r\n', message)

    def test_idna_domain(self) -> None:
        """The domain is its A-label without SMTPUTF8 and its U-label with it."""
        to = (NameAddress("", parse_address("a@münchen.example")),)
        self.assertIn(b"To: <a@xn--mnchen-3ya.example>\r\n", _compose(to=to))
        self.assertIn("To: <a@münchen.example>\r\n".encode(), _compose(to=to, smtputf8=True))

    def test_non_ascii_localpart_needs_smtputf8(self) -> None:
        """needs_smtputf8 sees a non-ASCII localpart in any address field, and composing
        it without SMTPUTF8 is refused."""
        utf8 = NameAddress("", parse_address("jörg@example.com"))
        self.assertFalse(needs_smtputf8(_composition()))
        for field in ("to", "cc", "bcc", "reply_to"):
            self.assertTrue(needs_smtputf8(_composition(**{field: (utf8,)})))
        self.assertTrue(needs_smtputf8(_composition(from_=utf8)))
        error = self.assertRaises(ComposeError, _compose, to=(utf8,))
        self.assertEqual(error.code, "user")
        self.assertIn("To: <jörg@example.com>".encode(), _compose(to=(utf8,), smtputf8=True))

    def test_date_format(self) -> None:
        """Date has no weekday, no leading zero on the day, and the value's own zone."""
        self.assertEqual(
            format_message_date(
                datetime(2006, 1, 2, 15, 4, 5, tzinfo=timezone(-timedelta(hours=7)))
            ),
            "2 Jan 2006 15:04:05 -0700",
        )
        self.assertEqual(
            format_message_date(
                datetime(2026, 12, 31, 23, 0, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
            ),
            "31 Dec 2026 23:00:00 +0530",
        )
        self.assertEqual(format_message_date(datetime(2026, 1, 1)), "1 Jan 2026 00:00:00 +0000")

    def test_message_id_generated(self) -> None:
        """A generated Message-ID is 22 base64url characters at the hostname (spec §2.2)."""
        message_id = generate_message_id("mail.example", random_bytes=lambda n: b"\xff" * n)
        self.assertEqual(message_id, "<_____________________w@mail.example>")

    def test_long_custom_header_folded(self) -> None:
        """A long custom header value is folded at spaces and reads back unchanged."""
        value = " ".join(["v"] * 300)
        message = _compose(headers=(("X-Long", value),))
        self.assertLessEqual(_max_line(message), 78)
        header, _ = split_message(message)
        self.assertEqual(field_values(header, "X-Long"), [value.encode()])

    def test_unfoldable_custom_header_refused(self) -> None:
        """A custom header value with a word over 998 octets is refused, code user."""
        error = self.assertRaises(ComposeError, _compose, headers=(("X-Long", "v" * 1200),))
        self.assertEqual(error.code, "user")


class InjectionTests(SynchronousTestCase):
    def assertUserError(self, **fields: object) -> None:
        error = self.assertRaises(ComposeError, _compose, **fields)
        self.assertEqual(error.code, "user")

    def test_header_value_controls(self) -> None:
        """CR, LF, NUL, DEL and Unicode line separators in custom header values are refused."""
        for bad in (
            "a\r\nBcc: x@example.com",
            "a\nb",
            "a\rb",
            "a\x00",
            "a\x7f",
            "a\u2028b",
            "a\tb",
        ):
            self.assertUserError(headers=(("X-Test", bad),))

    def test_header_name_controls(self) -> None:
        """Header names with line breaks, colons, spaces or nothing at all are refused."""
        for bad in ("X-A\r\nBcc", "X:A", "X A", "", "Ünïcode"):
            self.assertUserError(headers=((bad, "v"),))

    def test_other_fields(self) -> None:
        """Line breaks in subject, message-id, references, display names and file
        labels are refused."""
        self.assertUserError(subject="hi\r\nBcc: x@example.com")
        self.assertUserError(message_id="<a@b>\r\nBcc: x@example.com")
        self.assertUserError(references=("<a@b>\nX: y",))
        self.assertUserError(to=(NameAddress("A\r\nBcc: x", parse_address("a@b.example")),))
        self.assertUserError(attached_files=(Attachment("f", "text/plain\r\nX: y", "", b"x"),))
        self.assertUserError(attached_files=(Attachment("f", "", "<a>\nX: y", b"x"),))

    def test_filename_line_break_encoded(self) -> None:
        """A line break in a filename cannot inject: it is RFC 2231 percent-encoded."""
        message = _compose(attached_files=(Attachment("a\r\nX-Evil: 1", "", "", b"x"),))
        self.assertIn(b"filename*=utf-8''a%0D%0AX-Evil%3A%201", message)
        self.assertNotIn(b"\r\nX-Evil", message)

    def test_missing_body(self) -> None:
        """Neither text nor HTML is code missingBody."""
        error = self.assertRaises(ComposeError, _compose, text="", html="")
        self.assertEqual(
            (error.code, error.message), ("missingBody", "at least text or html body required")
        )

    def test_invalid_base64(self) -> None:
        """Invalid base64 file data is code user, message "parsing attachment as base64"."""
        error = self.assertRaises(ComposeError, attachment_from_base64, "f", "", "", "not base64!")
        self.assertEqual(error.code, "user")
        self.assertTrue(error.message.startswith("parsing attachment as base64: "))

    def test_too_large(self) -> None:
        """Beyond max_size the message is refused with messageTooLarge, before and after
        composing."""
        big = Attachment("f", "", "", b"x" * 3000)
        composition = _composition(attached_files=(big,))
        for limit in (1000, 4100):
            error = self.assertRaises(
                ComposeError, compose_message, composition, smtputf8=False, max_size=limit
            )
            self.assertEqual(error.code, "messageTooLarge")
        self.assertTrue(compose_message(composition, smtputf8=False, max_size=10_000))

    def test_too_large_content_refused_before_composing(self) -> None:
        """Text and HTML that alone pass max_size are messageTooLarge before the fields
        are composed (a bad header field name is never looked at)."""
        composition = _composition(text="x" * 600, html="y" * 600, headers=(("Bad Name", "v"),))
        error = self.assertRaises(
            ComposeError, compose_message, composition, smtputf8=False, max_size=1000
        )
        self.assertEqual(error.code, "messageTooLarge")


class TextPartTests(SynchronousTestCase):
    def _body_part(self, text: str, smtputf8: bool = False) -> tuple[bytes, bytes]:
        message = compose_message(_composition(text=text), smtputf8=smtputf8)
        return split_message(message)

    def test_ascii_7bit(self) -> None:
        """ASCII text is us-ascii 7bit with CRLF line ends and a final line end added."""
        header, body = self._body_part("a\nb")
        self.assertIn(b"Content-Transfer-Encoding: 7bit\r\n", header)
        self.assertIn(b"Content-Type: text/plain; charset=us-ascii\r\n", header)
        self.assertEqual(body, b"a\r\nb\r\n")

    def test_ascii_smtputf8_8bit(self) -> None:
        """In an SMTPUTF8 message even ASCII text is declared 8bit, as mox does."""
        header, _ = self._body_part("a\n", smtputf8=True)
        self.assertIn(b"Content-Transfer-Encoding: 8bit\r\n", header)

    def test_utf8_8bit(self) -> None:
        """UTF-8 text with short lines is utf-8 8bit, bytes as given."""
        header, body = self._body_part("grüße\n")
        self.assertIn(b"Content-Transfer-Encoding: 8bit\r\n", header)
        self.assertIn(b"charset=utf-8", header)
        self.assertEqual(body, "grüße\r\n".encode())

    def test_crlf_input(self) -> None:
        """CRLF in the given text counts as one line end, not a bare CR."""
        _, body = self._body_part("a\r\nb\r\n")
        self.assertEqual(body, b"a\r\nb\r\n")

    def test_long_line_quoted_printable(self) -> None:
        """A line over 76 octets makes the part quoted-printable with lines of at most
        76 characters that decode to the text."""
        text = ("é" * 30 + " " + "x" * 200 + " \n") * 3
        header, body = self._body_part(text)
        self.assertIn(b"Content-Transfer-Encoding: quoted-printable\r\n", header)
        self.assertLessEqual(_max_line(body), 76)
        self.assertEqual(quopri.decodestring(body).decode("utf-8"), text.replace("\n", "\r\n"))
        self.assertEqual(
            parse_message(compose_message(_composition(text=text), smtputf8=False)).text, text
        )

    def test_bare_cr_quoted_printable(self) -> None:
        """A bare CR in the text forces quoted-printable, where it is =0D."""
        header, body = self._body_part("a\rb\n")
        self.assertIn(b"quoted-printable", header)
        self.assertEqual(body, b"a=0Db\r\n")

    def test_trailing_space_encoded(self) -> None:
        """Quoted-printable encodes white space at the end of a line (RFC 2045 §6.7 rule 3)."""
        _, body = self._body_part("x" * 80 + " \nend\t\n")
        self.assertIn(b"=20\r\n", body)
        self.assertTrue(body.endswith(b"end=09\r\n"))

    @settings(max_examples=60, deadline=None)
    @given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), min_size=1, max_size=3000))
    def test_any_text_reads_back(self, text: str) -> None:
        """Any text gives lines within 998 octets and reads back with LF line ends."""
        message = compose_message(_composition(text=text), smtputf8=False)
        self.assertLessEqual(_max_line(message), 998)
        expected = text.replace("\r\n", "\n")
        if not expected.endswith("\n"):
            expected += "\n"
        # Reading converts CRLF to LF; a CR the text ends a line with stays a CR.
        self.assertEqual(
            parse_message(message).text, expected.replace("\n", "\r\n").replace("\r\n", "\n")
        )


class QuotedPrintableTests(SynchronousTestCase):
    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=400))
    def test_round_trip_and_line_length(self, raw: bytes) -> None:
        """Quoted-printable of any CRLF text decodes back to it and no line passes 76
        characters (RFC 2045 §6.7)."""
        body = raw.replace(b"\r", b"").replace(b"\n", b"\r\n")
        encoded = _quoted_printable(body)
        self.assertTrue(all(len(line) <= 76 for line in encoded.split(b"\r\n")))
        expected = body.replace(b"\r\n", b"\n")
        if expected and not expected.endswith(b"\n"):
            expected += b"\n"
        self.assertEqual(quopri.decodestring(encoded.replace(b"\r\n", b"\n")), expected)

    def test_long_line_linear_time(self) -> None:
        """An 8 MB single-line text and a 2 MB line of escaped bytes encode in well
        under two seconds each: soft line breaks cost linear time, not quadratic."""
        for text in ("x" * 8_000_000, "é" * 1_000_000):
            started = time.perf_counter()
            _, body = split_message(_compose(text=text))
            self.assertLess(time.perf_counter() - started, 2.0)
            self.assertLessEqual(_max_line(body), 76)
            self.assertEqual(quopri.decodestring(body), text.encode() + b"\r\n")


class MimeStructureTests(SynchronousTestCase):
    def _types(self, message: bytes) -> list[object]:
        def walk(structure: Structure) -> object:
            if structure.parts:
                return [structure.content_type, [walk(p) for p in structure.parts]]
            return structure.content_type

        return [walk(parse_message(message).structure)]

    def test_nesting(self) -> None:
        """Levels exist only when needed: mixed for attachments, related for inline
        files, alternative for text plus HTML or alternative files (spec §2.3)."""
        file = Attachment("f.txt", "text/plain", "", b"f")
        cases: list[tuple[dict[str, object], list[object]]] = [
            ({}, ["text/plain"]),
            ({"html": "<p>h</p>"}, [["multipart/alternative", ["text/plain", "text/html"]]]),
            ({"attached_files": (file,)}, [["multipart/mixed", ["text/plain", "text/plain"]]]),
            ({"inline_files": (file,)}, [["multipart/related", ["text/plain", "text/plain"]]]),
            (
                {"alternative_files": (file,)},
                [["multipart/alternative", ["text/plain", "text/plain"]]],
            ),
            (
                {"html": "<p>h</p>", "inline_files": (file,), "attached_files": (file,)},
                [
                    [
                        "multipart/mixed",
                        [
                            [
                                "multipart/related",
                                [
                                    ["multipart/alternative", ["text/plain", "text/html"]],
                                    "text/plain",
                                ],
                            ],
                            "text/plain",
                        ],
                    ]
                ],
            ),
        ]
        for fields, expected in cases:
            self.assertEqual(self._types(_compose(**dict(fields))), expected, fields)

    def test_alternative_file_disposition_inline(self) -> None:
        """Alternative files are inline parts after the text and HTML."""
        file = Attachment("cal.ics", "text/calendar", "", b"BEGIN:VCALENDAR\r\n")
        parsed = parse_message(_compose(html="<p>h</p>", alternative_files=(file,)))
        last = parsed.structure.parts[-1]
        self.assertEqual((last.content_type, last.content_disposition), ("text/calendar", "inline"))
        self.assertEqual(parsed.text, "hi\n")

    def test_base64_lines(self) -> None:
        """File data is base64 in lines of 76 characters that decode to the data."""
        data = bytes(range(256)) * 4
        message = _compose(
            attached_files=(Attachment("b.bin", "application/octet-stream", "", data),)
        )
        lines = [
            line for line in message.split(b"\r\n") if re.fullmatch(rb"[A-Za-z0-9+/=]{20,}", line)
        ]
        self.assertTrue(all(len(line) == 76 for line in lines[:-1]))
        self.assertEqual(base64.b64decode(b"".join(lines)), data)

    def test_filenames(self) -> None:
        """Filenames are tokens, quoted-strings, RFC 2231 encoded when non-ASCII, and
        split in RFC 2231 continuations when long; all read back."""
        names = {
            "report.pdf": b"filename=report.pdf",
            "my file.txt": b'filename="my file.txt"',
            "": b'filename=""',
            "résumé.pdf": b"filename*=utf-8''r%C3%A9sum%C3%A9.pdf",
            "ü" * 60 + ".txt": b"filename*0*=utf-8''",
        }
        for name, expected in names.items():
            message = _compose(attached_files=(Attachment(name, "text/plain", "", b"x"),))
            self.assertIn(
                b"Content-Disposition: attachment; " if len(name) < 40 else b"attachment;\r\n\t",
                message,
            )
            self.assertIn(expected, message)
            header = message[message.index(b"Content-Disposition") :].split(b"\r\n\r\n")[0]
            self.assertLessEqual(_max_line(header), 78)
            self.assertEqual(parse_message(message).structure.parts[1].filename, name)

    def test_content_id(self) -> None:
        """Content-ID is written as Content-Id when given."""
        message = _compose(inline_files=(Attachment("p.png", "", "<p1>", PNG),))
        self.assertIn(b"Content-Id: <p1>\r\n", message)
        self.assertIn(b"Content-Type: image/png\r\n", message)

    def test_non_ascii_content_type_and_id(self) -> None:
        """A non-ASCII ContentType or ContentID of a file is refused with code user unless
        the message is SMTPUTF8, where RFC 6532 allows it as UTF-8."""
        for attachment in (
            Attachment("f", "application/x-\u00e9", "", b"x"),
            Attachment("f", "text/plain", "<\u00e9@x>", b"x"),
        ):
            error = self.assertRaises(ComposeError, _compose, attached_files=(attachment,))
            self.assertEqual(error.code, "user")
            self.assertIn("non-ASCII characters not allowed", error.message)
            message = _compose(attached_files=(attachment,), smtputf8=True)
            self.assertIn("\u00e9".encode(), message)

    def test_empty_content_type(self) -> None:
        """A file whose type sniffs to nothing has an empty Content-Type from JSON
        (mox's quirk) and none from a form upload."""
        data = b"\x00\x01"
        json_file = _compose(attached_files=(Attachment("d", "", "", data),))
        self.assertIn(b"Content-Type: \r\n", json_file)
        form_file = _compose(
            attached_files=(Attachment("d", "", "", data, omit_empty_content_type=True),)
        )
        self.assertEqual(form_file.count(b"Content-Type: "), 2)


class SniffTests(SynchronousTestCase):
    def test_signatures(self) -> None:
        """Common file types are recognised from their first bytes; unknown binary is ""."""
        cases = {
            PNG: "image/png",
            b"\xff\xd8\xff\xe0rest": "image/jpeg",
            b"GIF89a...": "image/gif",
            b"%PDF-1.7\n": "application/pdf",
            b"PK\x03\x04rest": "application/zip",
            b"\x1f\x8b\x08\x00": "application/x-gzip",
            b"hello, world\n": "text/plain; charset=utf-8",
            b"  <html><body>": "text/html; charset=utf-8",
            b"<?xml version='1.0'?>": "text/xml; charset=utf-8",
            b"RIFF\x00\x00\x00\x00WEBPVP8 ": "image/webp",
            b"\x00\x01\x02": "",
            b"": "text/plain; charset=utf-8",
        }
        for data, expected in cases.items():
            self.assertEqual(sniff_content_type(data), expected, data)
