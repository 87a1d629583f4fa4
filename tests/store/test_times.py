"""The store's time text: round trips, and only its own fixed-width form is read."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.store.times import parse_time, time_text


class TimeTextTests(SynchronousTestCase):
    def test_round_trip(self) -> None:
        """A written time reads back as the same UTC instant, whatever zone it was given in."""
        moment = datetime(2026, 11, 28, 5, 43, 6, 123456, tzinfo=timezone(timedelta(hours=2)))
        text = time_text(moment)
        self.assertEqual(text, "2026-11-28T03:43:06.123456Z")
        self.assertEqual(parse_time(text), moment)
        self.assertEqual(parse_time(text).tzinfo, UTC)

    def test_whole_seconds_keep_width(self) -> None:
        """Whole seconds are written with microseconds, so text order stays time order."""
        text = time_text(datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))
        self.assertEqual(text, "2026-01-02T03:04:05.000000Z")
        self.assertLess(text, time_text(datetime(2026, 1, 2, 3, 4, 5, 1, tzinfo=UTC)))

    def test_other_forms_refused(self) -> None:
        """Forms time_text never writes are refused, not silently read."""
        for text in (
            "2026-11-28T05:43:06Z",
            "2026-11-28T05:43:06.123456+00:00",
            "2026-11-28 05:43:06.123456Z",
            "",
        ):
            with self.assertRaises(ValueError, msg=text):
                parse_time(text)

    def test_naive_refused(self) -> None:
        """A naive datetime has no instant to store."""
        with self.assertRaises(ValueError):
            time_text(datetime(2026, 1, 1))
