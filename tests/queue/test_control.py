"""Tests for queue control: operations by id and filter, hold rules, suppression lists and CSV."""

from __future__ import annotations

import email
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.queue.control import (
    AlreadySuppressed,
    InvalidAddress,
    InvalidHoldRule,
    QueueControl,
    QueueControlError,
    SuppressionCSVError,
)
from mailtwist.store._interfaces import AttemptOutcome
from mailtwist.store.records import (
    DEFAULT_MAILBOXES,
    MessageFilter,
    NewMessage,
    QueuedMessage,
)
from mailtwist.testing.store import MemoryStore

T0 = 1_767_225_600.0  # 2026-01-01T00:00:00Z


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(T0 + seconds, tz=UTC)


class ControlTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.clock.advance(T0)
        self.store = MemoryStore(self.clock)
        self.successResultOf(self.store.ensure_account("mox", DEFAULT_MAILBOXES))
        self.wakes = 0
        self.busy: set[int] = set()
        self.outcomes: list[tuple[int, str, AttemptOutcome]] = []
        self.control = QueueControl(
            store=self.store,
            clock=self.clock,
            wake=self.wake,
            in_flight=lambda: self.busy,
            outcome_recorded=self.recorded,
            keep_retired_for=lambda account: timedelta(days=1),
            make_id=lambda: "fixedid",
        )

    def wake(self) -> None:
        self.wakes += 1

    def recorded(self, message: QueuedMessage, outcome: AttemptOutcome, event: str) -> None:
        self.outcomes.append((message.id, event, outcome))

    def enqueue(self, *recipients: str, sender: str = "mox@localhost", **kwargs: Any) -> list[int]:
        message = NewMessage(
            account="mox",
            sender=sender,
            recipients=recipients,
            data=b"Message-ID: <orig@localhost>\r\nSubject: hi\r\n\r\nbody\r\n",
            message_id="<orig@localhost>",
            **kwargs,
        )
        return [m.id for m in self.successResultOf(self.store.enqueue(message, at(0)))]

    def queued(self) -> dict[int, QueuedMessage]:
        return {m.id: m for m in self.successResultOf(self.store.list_queue())}

    def calls_during(self, deferred_factory: Any) -> tuple[Any, list[str]]:
        """The result of a control call and the store methods it called."""
        before = len(self.store.calls)
        result = self.successResultOf(deferred_factory())
        return result, self.store.calls[before:]


class OperationTests(ControlTestCase):
    def test_hold_and_release_by_ids(self) -> None:
        """hold/release by id change exactly those messages, in one store call, and wake."""
        a, b = self.enqueue("a@example.org", "b@example.org")
        count, calls = self.calls_during(lambda: self.control.hold(MessageFilter(ids=(a,))))
        self.assertEqual((count, calls), (1, ["set_hold"]))
        self.assertEqual({i: m.hold for i, m in self.queued().items()}, {a: True, b: False})
        count, calls = self.calls_during(lambda: self.control.release(MessageFilter(ids=(a,))))
        self.assertEqual((count, calls), (1, ["set_hold"]))
        self.assertFalse(self.queued()[a].hold)
        self.assertEqual(self.wakes, 2)

    def test_hold_by_filter(self) -> None:
        """A recipient-domain filter holds only the matching messages."""
        a, b = self.enqueue("a@example.org", "b@example.net")
        count = self.successResultOf(self.control.hold(MessageFilter(recipient="@example.net")))
        self.assertEqual(count, 1)
        self.assertEqual({i: m.hold for i, m in self.queued().items()}, {a: False, b: True})

    def test_reschedule(self) -> None:
        """reschedule sets the next attempt to a time, or to now plus a timedelta."""
        [a] = self.enqueue("a@example.org")
        self.successResultOf(self.control.reschedule(MessageFilter(ids=(a,)), at(600)))
        self.assertEqual(self.queued()[a].next_attempt, at(600))
        self.clock.advance(100)
        self.successResultOf(self.control.reschedule(MessageFilter(ids=(a,)), timedelta(hours=1)))
        self.assertEqual(self.queued()[a].next_attempt, at(3700))

    def test_reschedule_naive_time(self) -> None:
        """A time without timezone is refused with a precise error."""
        [a] = self.enqueue("a@example.org")
        failure = self.failureResultOf(
            self.control.reschedule(MessageFilter(ids=(a,)), datetime(2026, 1, 1)),
            QueueControlError,
        )
        self.assertIn("timezone", str(failure.value))

    def test_set_max_attempts(self) -> None:
        """set_max_attempts changes the limit; a negative limit is refused."""
        [a] = self.enqueue("a@example.org")
        self.assertEqual(
            self.successResultOf(self.control.set_max_attempts(MessageFilter(ids=(a,)), 3)), 1
        )
        self.assertEqual(self.queued()[a].max_attempts, 3)
        self.failureResultOf(
            self.control.set_max_attempts(MessageFilter(ids=(a,)), -1), QueueControlError
        )

    def test_drop(self) -> None:
        """drop retires matching messages as canceled in one transaction, no DSN, skipping
        messages whose attempt is running; the outcome hook hears "canceled"."""
        a, b, c = self.enqueue("a@example.org", "b@example.org", "c@example.net")
        self.busy.add(b)
        count, calls = self.calls_during(
            lambda: self.control.drop(MessageFilter(recipient="@example.org"))
        )
        self.assertEqual(count, 1)
        self.assertEqual(calls.count("finish_attempts"), 1)
        self.assertNotIn("finish_attempt", calls)
        self.assertEqual(sorted(self.queued()), [b, c])
        [retired] = self.successResultOf(self.store.list_retired())
        self.assertEqual((retired.id, retired.event, retired.success), (a, "canceled", False))
        self.assertEqual(retired.results[-1].error, "delivery canceled by admin")
        self.assertEqual(self.successResultOf(self.store.list_messages("mox")), [])
        self.assertEqual([(i, e) for i, e, _ in self.outcomes], [(a, "canceled")])
        self.assertEqual(self.wakes, 1)

    def test_fail(self) -> None:
        """fail retires as failed with a failure DSN of status 5.0.0 and the admin comment."""
        a, b = self.enqueue("a@example.org", "b@example.org")
        count, calls = self.calls_during(lambda: self.control.fail(MessageFilter(ids=(a, b))))
        self.assertEqual(count, 2)
        self.assertEqual(calls.count("finish_attempts"), 1)
        self.assertEqual(self.queued(), {})
        events = {m.id: m.event for m in self.successResultOf(self.store.list_retired())}
        self.assertEqual(events, {a: "failed", b: "failed"})
        dsns = self.successResultOf(self.store.list_messages("mox", "Inbox"))
        self.assertEqual([(m.dsn, m.rcpt_to) for m in dsns], [(True, "mox@localhost")] * 2)
        raw = self.successResultOf(self.store.message_data(dsns[0].data_id))
        report = email.message_from_bytes(raw)
        self.assertEqual(report["Subject"], "mail delivery failed")
        self.assertIn(b"Status: 5.0.0 (delivery canceled by admin)", raw)
        self.assertNotIn(b"Diagnostic-Code", raw)
        self.assertEqual(sorted(e for _, e, _ in self.outcomes), ["failed", "failed"])

    def test_fail_null_sender(self) -> None:
        """Failing a message from the null sender makes no DSN."""
        [a] = self.enqueue("a@example.org", sender="")
        self.assertEqual(self.successResultOf(self.control.fail(MessageFilter(ids=(a,)))), 1)
        self.assertEqual(self.successResultOf(self.store.list_messages("mox")), [])

    def test_nothing_matches(self) -> None:
        """An operation matching nothing changes nothing and opens no write transaction."""
        self.enqueue("a@example.org")
        count, calls = self.calls_during(lambda: self.control.drop(MessageFilter(ids=(999,))))
        self.assertEqual(count, 0)
        self.assertNotIn("finish_attempts", calls)

    def test_many_pages(self) -> None:
        """drop collects matches across listing pages, still applying them at once."""
        ids = self.enqueue(*(f"r{i}@example.org" for i in range(5)))
        self.patch(__import__("mailtwist.queue.control", fromlist=["x"]), "MAX_PAGE", 2)
        count, calls = self.calls_during(lambda: self.control.drop(MessageFilter()))
        self.assertEqual(count, len(ids))
        self.assertEqual(calls.count("queue_page"), 3)
        self.assertEqual(calls.count("finish_attempts"), 1)


class ListingTests(ControlTestCase):
    def test_queue_pages(self) -> None:
        """queue_page pages by keyset: the cursor of one page starts the next."""
        ids = self.enqueue(*(f"r{i}@example.org" for i in range(3)))
        first = self.successResultOf(self.control.queue_page(MessageFilter(), limit=2))
        self.assertEqual([m.id for m in first.rows], ids[:2])
        assert first.next is not None
        second = self.successResultOf(
            self.control.queue_page(MessageFilter(), after=first.next, limit=2)
        )
        self.assertEqual(([m.id for m in second.rows], second.next), (ids[2:], None))

    def test_retired_page(self) -> None:
        """retired_page lists retired messages matching the filter."""
        [a] = self.enqueue("a@example.org")
        self.successResultOf(self.control.drop(MessageFilter(ids=(a,))))
        page = self.successResultOf(self.control.retired_page(MessageFilter(event="canceled")))
        self.assertEqual([m.id for m in page.rows], [a])

    def test_bad_sort_and_limit(self) -> None:
        """An unknown sort field or a page size out of range is a precise error."""
        failure = self.failureResultOf(
            self.control.queue_page(MessageFilter(), sort="size"), QueueControlError
        )
        self.assertEqual(
            str(failure.value), "unknown sort 'size', expected one of: next_attempt, queued"
        )
        self.failureResultOf(
            self.control.retired_page(MessageFilter(), sort="next_attempt"), QueueControlError
        )
        for limit in (0, 1001):
            self.failureResultOf(
                self.control.queue_page(MessageFilter(), limit=limit), QueueControlError
            )


class HoldRuleTests(ControlTestCase):
    def test_add_list_remove(self) -> None:
        """A rule with a domain in any form is stored in Unicode form and holds matching
        messages; it is listed, and removed once."""
        a, b = self.enqueue("a@☺.example", "b@example.org")
        rule = self.successResultOf(self.control.add_hold_rule(recipient_domain="XN--74H.Example"))
        self.assertEqual(rule.recipient_domain, "☺.example")
        self.assertEqual({i: m.hold for i, m in self.queued().items()}, {a: True, b: False})
        self.assertGreater(rule.id, 0)
        self.assertEqual(self.successResultOf(self.control.hold_rules()), [rule])
        self.assertEqual(self.wakes, 1)
        self.assertTrue(self.successResultOf(self.control.remove_hold_rule(rule.id)))
        self.assertFalse(self.successResultOf(self.control.remove_hold_rule(rule.id)))
        self.assertEqual(self.successResultOf(self.control.hold_rules()), [])

    def test_bad_domain(self) -> None:
        """A malformed domain is refused, naming the field and the domain; nothing is stored."""
        failure = self.failureResultOf(
            self.control.add_hold_rule(sender_domain="exa mple.org"), InvalidHoldRule
        )
        self.assertIn("invalid sender domain 'exa mple.org' in hold rule", str(failure.value))
        self.assertEqual(self.successResultOf(self.control.hold_rules()), [])

    def test_blank_account(self) -> None:
        """A blank account is refused rather than taken as "any account"."""
        self.failureResultOf(self.control.add_hold_rule(account="  "), InvalidHoldRule)

    def test_bad_rule_id(self) -> None:
        """A rule id that is no positive number is an error, not a silent False."""
        self.failureResultOf(self.control.remove_hold_rule(0), QueueControlError)


class SuppressionTests(ControlTestCase):
    def test_add_by_base_address(self) -> None:
        """An added address is keyed on its base address; every variant is suppressed."""
        added = self.successResultOf(
            self.control.add_suppression("mox", "Bob.Smith+news@Example.org", reason="asked")
        )
        self.assertEqual(
            (added.base_address, added.original_address, added.manual, added.reason),
            ("bobsmith@example.org", "Bob.Smith+news@example.org", True, "asked"),
        )
        self.assertTrue(
            self.successResultOf(self.control.is_suppressed("mox", "bobsmith@EXAMPLE.org"))
        )
        self.assertFalse(
            self.successResultOf(self.control.is_suppressed("other", "bobsmith@example.org"))
        )
        self.assertEqual(self.successResultOf(self.control.suppressions("mox")), [added])

    def test_add_twice(self) -> None:
        """A second variant of a listed address is refused with a message naming both."""
        self.successResultOf(self.control.add_suppression("mox", "bob@example.org"))
        failure = self.failureResultOf(
            self.control.add_suppression("mox", "b.o.b+x@example.org"), AlreadySuppressed
        )
        self.assertEqual(
            str(failure.value),
            "b.o.b+x@example.org is already on the suppression list of account mox"
            " (as bob@example.org)",
        )

    def test_bad_address(self) -> None:
        """A bad address is an InvalidAddress (a ValueError) saying what is wrong."""
        failure = self.failureResultOf(
            self.control.add_suppression("mox", "bob@@example.org"), InvalidAddress
        )
        self.assertIsInstance(failure.value, ValueError)
        self.assertTrue(str(failure.value).startswith("invalid address 'bob@@example.org': "))
        self.failureResultOf(self.control.is_suppressed("mox", "nope"), InvalidAddress)
        self.failureResultOf(self.control.add_suppression("", "bob@example.org"), QueueControlError)

    def test_remove(self) -> None:
        """remove takes any variant of the address; False when it was not listed."""
        self.successResultOf(self.control.add_suppression("mox", "bob@example.org"))
        self.assertTrue(
            self.successResultOf(self.control.remove_suppression("mox", "B.ob+1@example.org"))
        )
        self.assertFalse(
            self.successResultOf(self.control.remove_suppression("mox", "bob@example.org"))
        )


class CSVTests(ControlTestCase):
    def test_export(self) -> None:
        """Export writes the header and one row per entry, quoting where CSV needs it."""
        self.successResultOf(
            self.control.add_suppression("mox", "bob@example.org", reason="said so, twice")
        )
        self.successResultOf(self.control.add_suppression("mox", "carol@example.org", manual=False))
        text = self.successResultOf(self.control.export_suppressions_csv("mox"))
        self.assertEqual(
            text.splitlines(),
            [
                "address,reason,manual,created",
                'bob@example.org,"said so, twice",true,2026-01-01T00:00:00+00:00',
                "carol@example.org,,false,2026-01-01T00:00:00+00:00",
            ],
        )

    def test_round_trip(self) -> None:
        """An export imports into another account as the same entries; importing again skips."""
        self.successResultOf(self.control.add_suppression("mox", "Bob+x@example.org", reason="r,1"))
        self.successResultOf(self.control.add_suppression("mox", "carol@☺.example", manual=False))
        text = self.successResultOf(self.control.export_suppressions_csv("mox"))
        self.assertEqual(
            self.successResultOf(self.control.import_suppressions_csv("other", text)), (2, 0)
        )
        self.assertEqual(
            self.successResultOf(self.control.import_suppressions_csv("other", text)), (0, 2)
        )

        def key(account: str) -> list[tuple[str, str, str, bool]]:
            return [
                (s.base_address, s.original_address, s.reason, s.manual)
                for s in self.successResultOf(self.control.suppressions(account))
            ]

        self.assertEqual(key("other"), key("mox"))

    def test_duplicates_in_file(self) -> None:
        """Two variants of one base address in a file: the first is added, the second skipped."""
        text = "address\nbob@example.org\nb.ob+1@example.org\n\n"
        self.assertEqual(
            self.successResultOf(self.control.import_suppressions_csv("mox", text)), (1, 1)
        )

    def test_bad_rows(self) -> None:
        """Every bad row is reported with its line number, and nothing at all is imported."""
        text = (
            "address,reason,manual,created\n"
            "good@example.org,,true,\n"
            "bad@@example.org,,true,\n"
            "also-good@example.org,,maybe,\n"
            "short@example.org,x\n"
            "late@example.org,,false,yesterday\n"
        )
        failure = self.failureResultOf(
            self.control.import_suppressions_csv("mox", text), SuppressionCSVError
        )
        self.assertEqual([line for line, _ in failure.value.problems], [3, 4, 5, 6])
        message = str(failure.value)
        self.assertTrue(message.startswith("4 bad rows in the suppression CSV, nothing imported:"))
        self.assertIn("line 3: invalid address 'bad@@example.org'", message)
        self.assertIn("line 4: manual must be true or false, not 'maybe'", message)
        self.assertIn("line 5: expected 4 fields, got 2", message)
        self.assertIn("line 6: created must be an ISO 8601 time, not 'yesterday'", message)
        self.assertEqual(self.successResultOf(self.control.suppressions("mox")), [])

    def test_bad_header(self) -> None:
        """A file without the expected header, or an empty one, is refused as a whole."""
        for text in ("", "email,why\nbob@example.org,x\n", "address,address\n"):
            with self.subTest(text=text):
                failure = self.failureResultOf(
                    self.control.import_suppressions_csv("mox", text), SuppressionCSVError
                )
                self.assertEqual(failure.value.problems[0][0], 1)

    def test_quoted_multiline_reason(self) -> None:
        """A quoted reason with a newline is one row; later line numbers stay right."""
        text = 'address,reason\nbob@example.org,"two\nlines"\nbad@,x\n'
        failure = self.failureResultOf(
            self.control.import_suppressions_csv("mox", text), SuppressionCSVError
        )
        self.assertEqual([line for line, _ in failure.value.problems], [4])
