"""Tests for mailtwist.webapi._json: decoding and encoding as Go's encoding/json does."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.webapi._json import (
    JSONDecodeError,
    decode_request,
    encode,
    format_time,
    parse_time,
)
from mailtwist.webapi._records import (
    MessagePartGetRequest,
    NameAddress,
    SendRequest,
    SendResult,
    Submission,
    SuppressionListResult,
)


class DecodeTests(SynchronousTestCase):
    """Requests decode like Go: case-insensitive keys, unknown keys refused, types strict."""

    def test_keys_case_insensitive(self) -> None:
        """Lower-case keys fill the PascalCase fields, nested ones too."""
        request = decode_request(
            '{"to": [{"address": "a@example.org"}], "text": "hi"}', SendRequest
        )
        self.assertEqual(request.To, (NameAddress("", "a@example.org"),))
        self.assertEqual(request.Text, "hi")

    def test_exact_case_preferred(self) -> None:
        """With both spellings present the later key wins, as in Go (last assignment)."""
        request = decode_request('{"text": "a", "Text": "b"}', SendRequest)
        self.assertEqual(request.Text, "b")

    def test_unknown_field(self) -> None:
        """An unknown key is refused with Go's message (spec §1.3 step 8)."""
        with self.assertRaises(JSONDecodeError) as caught:
            decode_request('{"Bogus": 1}', SendRequest)
        self.assertEqual(str(caught.exception), 'json: unknown field "Bogus"')

    def test_wrong_type(self) -> None:
        """A number where a string belongs names the field and the Go type."""
        with self.assertRaises(JSONDecodeError) as caught:
            decode_request('{"Subject": 1}', SendRequest)
        self.assertIn("SendRequest.Subject of type string", str(caught.exception))

    def test_not_an_object(self) -> None:
        """A JSON array is not a request."""
        with self.assertRaises(JSONDecodeError):
            decode_request("[]", SendRequest)

    def test_not_json(self) -> None:
        """Malformed JSON and NaN are refused."""
        for text in ("{", "nope", '{"MsgID": NaN}'):
            with self.assertRaises(JSONDecodeError):
                decode_request(text, MessagePartGetRequest)

    def test_integers(self) -> None:
        """int64 fields take integers only: no floats, no booleans, no overflow."""
        self.assertEqual(decode_request('{"MsgID": 5}', MessagePartGetRequest).MsgID, 5)
        for text in ('{"MsgID": 1.5}', '{"MsgID": true}', '{"MsgID": 9223372036854775808}'):
            with self.assertRaises(JSONDecodeError):
                decode_request(text, MessagePartGetRequest)

    def test_null_gives_zero_values(self) -> None:
        """null leaves a field at its zero value; a nullable field stays None."""
        request = decode_request(
            '{"Subject": null, "To": null, "RequireTLS": null, "Date": null}', SendRequest
        )
        self.assertEqual((request.Subject, request.To), ("", ()))
        self.assertIsNone(request.RequireTLS)
        self.assertIsNone(request.Date)

    def test_times_keep_their_zone(self) -> None:
        """An RFC 3339 time decodes with its zone; other formats are refused."""
        request = decode_request('{"Date": "2024-04-04T14:29:42+02:00"}', SendRequest)
        self.assertEqual(request.Date, datetime(2024, 4, 4, 12, 29, 42, tzinfo=UTC))
        assert request.Date is not None
        self.assertEqual(request.Date.utcoffset(), timedelta(hours=2))
        with self.assertRaises(JSONDecodeError):
            decode_request('{"Date": "4 Apr 2024"}', SendRequest)

    def test_headers_pairs(self) -> None:
        """Headers decode as a list of string lists; Extra as a string map."""
        request = decode_request('{"Headers": [["X-A", "1"]], "Extra": {"k": "v"}}', SendRequest)
        self.assertEqual(request.Headers, (("X-A", "1"),))
        self.assertEqual(dict(request.Extra), {"k": "v"})
        with self.assertRaises(JSONDecodeError):
            decode_request('{"Extra": {"k": 1}}', SendRequest)

    def test_lone_surrogates_replaced(self) -> None:
        """Escaped surrogates that are not half of a pair decode as U+FFFD, in values
        and keys, as Go's encoding/json does; a valid pair stays one character."""
        request = decode_request(
            r'{"Subject": "a\ud800b\udc00c\ud800\ud800", "Text": "\ud83d\ude00",'
            r' "Extra": {"k\uDBFF": "\uDFFFv"}, "Headers": [["X-A", "\ud800"]],'
            r' "To": [{"Name": "\udfff", "Address": "a@b"}], "HTML": "\\ud800"}',
            SendRequest,
        )
        self.assertEqual(request.Subject, "a\ufffdb\ufffdc\ufffd\ufffd")
        self.assertEqual(request.Text, "\U0001f600")
        self.assertEqual(dict(request.Extra), {"k\ufffd": "\ufffdv"})
        self.assertEqual(request.Headers, (("X-A", "\ufffd"),))
        self.assertEqual(request.To[0].Name, "\ufffd")
        # An escaped backslash before "ud800" is no escape of a surrogate.
        self.assertEqual(request.HTML, "\\ud800")


class EncodeTests(SynchronousTestCase):
    """Results encode with Go's names, RFC 3339 times, [] for empty lists, no HTML escaping."""

    def test_result(self) -> None:
        """A SendResult is one line of JSON with a newline, <> not escaped."""
        body = encode(SendResult("<id@x>", (Submission("a@x", 1, ""),)))
        self.assertEqual(
            body,
            b'{"MessageID":"<id@x>","Submissions":[{"Address":"a@x","QueueMsgID":1,"FromID":""}]}\n',
        )

    def test_empty_list(self) -> None:
        """An empty list is [] (spec §1.4), never null."""
        self.assertEqual(encode(SuppressionListResult(())), b'{"Suppressions":[]}\n')

    def test_time_formats(self) -> None:
        """Times keep their zone, drop trailing zeros of the fraction, UTC is Z."""
        self.assertEqual(
            format_time(datetime(2026, 11, 26, 4, 23, 6, 156570, tzinfo=UTC)),
            "2026-11-26T04:23:06.15657Z",
        )
        plus2 = timezone(timedelta(hours=2))
        self.assertEqual(
            format_time(datetime(2024, 4, 4, 14, 29, 42, tzinfo=plus2)),
            "2024-04-04T14:29:42+02:00",
        )
        self.assertIsNone(format_time(None))
        with self.assertRaises(ValueError):
            format_time(datetime(2024, 4, 4))

    def test_early_years_four_digits(self) -> None:
        """Years below 1000 are written with four digits (RFC 3339 §5.6), and read back."""
        for moment, text in (
            (datetime(999, 6, 1, tzinfo=UTC), "0999-06-01T00:00:00Z"),
            (datetime(1, 1, 1, 0, 0, 0, 5, tzinfo=UTC), "0001-01-01T00:00:00.000005Z"),
            (
                datetime(42, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=-2))),
                "0042-01-02T03:04:05-02:00",
            ),
        ):
            self.assertEqual(format_time(moment), text)
            self.assertEqual(parse_time(text), moment)
        self.assertEqual(
            encode({"T": datetime(1, 1, 1, tzinfo=UTC)}), b'{"T":"0001-01-01T00:00:00Z"}\n'
        )

    def test_parse_time_round_trip(self) -> None:
        """parse_time and format_time are inverses for Go's forms."""
        for text in ("2024-04-04T14:29:42+02:00", "2026-11-26T04:23:06.15657Z"):
            self.assertEqual(format_time(parse_time(text)), text)
        with self.assertRaises(ValueError):
            parse_time("2024-04-04T14:29:42+25:00")

    def test_parse_time_ascii_only(self) -> None:
        """Only ASCII digits and nothing after the zone make an RFC 3339 time: full-width or
        Arabic-Indic digits and a final newline are refused."""
        for text in (
            "\uff12\uff10\uff12\uff16-11-28T10:00:00Z",
            "2026-11-28T10:00:00.\uff11Z",
            "2026-11-28T10:00:00+\u0660\u0661:00",
            "2026-11-28T10:00:00Z\n",
        ):
            with self.assertRaises(ValueError):
                parse_time(text)
            with self.assertRaises(JSONDecodeError):
                decode_request(json.dumps({"Date": text}), SendRequest)

    def test_parse_time_outside_utc_range(self) -> None:
        """Times whose UTC falls before year 1 or after 9999 are refused; the edges in
        UTC, or in a zone that stays inside, are accepted."""
        for text in ("0001-01-01T00:00:00+01:00", "9999-12-31T23:30:00-01:00"):
            with self.assertRaisesRegex(ValueError, "outside the range of UTC years 1-9999"):
                parse_time(text)
        for text in ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00-01:00", "9999-12-31T23:59:59Z"):
            self.assertIsNotNone(parse_time(text).utcoffset())
