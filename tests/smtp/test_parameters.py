"""Tests for mailtwist.smtp.parameters: MAIL/RCPT argument and ESMTP parameter parsing."""

from __future__ import annotations

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.smtp.parameters import ParameterError, parse_parameters, parse_path_arguments


class ParsePathArgumentsTests(SynchronousTestCase):
    def test_path_and_parameters(self) -> None:
        """The path keeps its brackets and parameter keys are upper-cased."""
        self.assertEqual(
            parse_path_arguments("FROM", "FROM:<a@example.org> size=100 SMTPUTF8"),
            ("<a@example.org>", {"SIZE": "100", "SMTPUTF8": None}),
        )

    def test_case_insensitive_prefix(self) -> None:
        """ "from:" and "To:" are accepted in any case (RFC 5321 §2.4)."""
        self.assertEqual(parse_path_arguments("FROM", "from:<>"), ("<>", {}))
        self.assertEqual(parse_path_arguments("TO", "To:<b@x.org>"), ("<b@x.org>", {}))

    def test_space_after_colon_tolerated(self) -> None:
        """A space between the colon and the path, sent by old clients, is accepted."""
        self.assertEqual(parse_path_arguments("TO", "TO: <b@x.org>"), ("<b@x.org>", {}))

    def test_quoted_localpart_with_angle_and_space(self) -> None:
        """A quoted localpart may hold ">" and spaces without ending the path."""
        path, parameters = parse_path_arguments("FROM", 'FROM:<"a> \\"b"@x.org> BODY=8BITMIME')
        self.assertEqual(path, '<"a> \\"b"@x.org>')
        self.assertEqual(parameters, {"BODY": "8BITMIME"})

    def test_missing_prefix(self) -> None:
        """Arguments not starting with FROM: are a path error, not a parameter error."""
        with self.assertRaises(ParameterError) as caught:
            parse_path_arguments("FROM", "TO:<a@x.org>")
        self.assertFalse(caught.exception.parameter)

    def test_missing_brackets(self) -> None:
        """A path without angle brackets is refused (RFC 5321 §4.1.2 Path)."""
        for text in ("FROM:a@x.org", "FROM:<a@x.org", "FROM:<a@x.org>SIZE=1"):
            with self.assertRaises(ParameterError):
                parse_path_arguments("FROM", text)

    def test_duplicate_parameter(self) -> None:
        """The same keyword twice (in any case) is a parameter error."""
        with self.assertRaises(ParameterError) as caught:
            parse_path_arguments("FROM", "FROM:<> SIZE=1 size=2")
        self.assertTrue(caught.exception.parameter)


class ParseParametersTests(SynchronousTestCase):
    def test_bad_keyword(self) -> None:
        """Keywords must match esmtp-keyword (RFC 5321 §4.1.2)."""
        for text in ("-X=1", "A_B=1", "=1"):
            with self.assertRaises(ParameterError):
                parse_parameters(text)

    def test_bad_value(self) -> None:
        """Values must not be empty or hold "=" or control characters."""
        for text in ("SIZE=", "X=a=b", "X=a\x01"):
            with self.assertRaises(ParameterError):
                parse_parameters(text)

    def test_utf8_value(self) -> None:
        """RFC 6531 §3.3 allows UTF-8 in esmtp-value."""
        self.assertEqual(parse_parameters("ENVID=é"), {"ENVID": "é"})

    def test_empty(self) -> None:
        """No parameters gives an empty mapping."""
        self.assertEqual(parse_parameters(""), {})
