"""Tests for Go-style config durations."""

from __future__ import annotations

from datetime import timedelta

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.config.duration import format_duration, parse_duration


class ParseDurationTests(SynchronousTestCase):
    def test_units(self) -> None:
        """Each Go unit gives its length, and parts add up."""
        self.assertEqual(parse_duration("72h"), timedelta(hours=72))
        self.assertEqual(parse_duration("1h30m"), timedelta(hours=1, minutes=30))
        self.assertEqual(parse_duration("45s"), timedelta(seconds=45))
        self.assertEqual(parse_duration("500ms"), timedelta(milliseconds=500))
        self.assertEqual(parse_duration("250us"), timedelta(microseconds=250))
        self.assertEqual(parse_duration("1500ns"), timedelta(microseconds=2))
        self.assertEqual(parse_duration("1.5h"), timedelta(minutes=90))

    def test_zero(self) -> None:
        """ "0s" and a bare "0" are zero, as in Go."""
        self.assertEqual(parse_duration("0s"), timedelta(0))
        self.assertEqual(parse_duration("0"), timedelta(0))

    def test_invalid(self) -> None:
        """Missing units, unknown units, spaces, empty and negative input are refused."""
        for text in ("", "5", "5d", "1h 30m", "h", "-1h", "+", "1.h.", "abc", "1H"):
            with self.subTest(text=text):
                self.assertRaises(ValueError, parse_duration, text)

    def test_not_a_string(self) -> None:
        """A number instead of a string is refused with a hint at the right form."""
        error = self.assertRaises(ValueError, parse_duration, 5)  # type: ignore[arg-type]
        self.assertIn('"72h"', str(error))

    def test_too_large(self) -> None:
        """A duration beyond timedelta's range is a ValueError, not an OverflowError."""
        self.assertRaises(ValueError, parse_duration, "99999999999999h")


class FormatDurationTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        """Formatting gives the shortest Go form, which parses back to the same value."""
        cases = {
            timedelta(0): "0s",
            timedelta(hours=72): "72h",
            timedelta(hours=1, minutes=30): "1h30m",
            timedelta(seconds=45, milliseconds=5): "45s5ms",
            timedelta(microseconds=7): "7us",
        }
        for value, text in cases.items():
            with self.subTest(text=text):
                self.assertEqual(format_duration(value), text)
                self.assertEqual(parse_duration(text), value)

    def test_negative(self) -> None:
        """Negative durations have no config form."""
        self.assertRaises(ValueError, format_duration, timedelta(seconds=-1))
