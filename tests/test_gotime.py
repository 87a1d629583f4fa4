"""Tests for mailtwist.gotime: times written as Go's time.Time JSON."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.gotime import go_time


class GoTimeTests(SynchronousTestCase):
    def test_zones_and_fractions(self) -> None:
        """UTC is "Z", other zones ±hh:mm, and the fraction loses its trailing zeros."""
        moment = datetime(2026, 11, 28, 7, 34, 44, 120000, tzinfo=UTC)
        self.assertEqual(go_time(moment), "2026-11-28T07:34:44.12Z")
        east = moment.replace(microsecond=0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
        self.assertEqual(go_time(east), "2026-11-28T07:34:44+05:30")
        west = moment.replace(microsecond=0, tzinfo=timezone(-timedelta(hours=3)))
        self.assertEqual(go_time(west), "2026-11-28T07:34:44-03:00")

    def test_early_years_four_digits(self) -> None:
        """Years below 1000 are written with four digits (RFC 3339 §5.6): strftime's %Y
        does not pad them on glibc, which Go clients cannot parse."""
        self.assertEqual(go_time(datetime(999, 6, 1, tzinfo=UTC)), "0999-06-01T00:00:00Z")
        self.assertEqual(go_time(datetime(1, 1, 1, tzinfo=UTC)), "0001-01-01T00:00:00Z")

    def test_naive_refused(self) -> None:
        """A time without a zone cannot be written: the zone is part of the value."""
        self.assertRaises(ValueError, go_time, datetime(2026, 11, 28))
