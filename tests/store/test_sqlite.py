"""Tests of SQLiteStore: the IStore contract, group commit, migrations, indexes, durability."""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet import reactor
from twisted.internet.defer import Deferred, DeferredList, gatherResults
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import Clock
from twisted.python.failure import Failure
from twisted.python.runtime import platform
from twisted.trial.unittest import SynchronousTestCase, TestCase

import mailtwist
from mailtwist.store import (
    DatabaseClosed,
    InlineDatabase,
    MessageNotFound,
    SchemaTooNew,
    SQLiteStore,
)
from mailtwist.store.database import CAREFUL_BATCHES, run_transaction
from mailtwist.store.records import Cursor, MessageFilter
from mailtwist.store.schema import Migration, current_version, latest_version, migrate
from mailtwist.store.sqlite import (
    MIGRATIONS,
    QUEUE_SORTS,
    RETIRED_SORTS,
    page_query,
    parse_time,
    time_text,
)
from tests.store.contract import NOW, StoreContractMixin, new_message


class SQLiteStoreContractTests(StoreContractMixin, TestCase):  # type: ignore[misc]
    """The IStore contract against SQLiteStore on a temporary file."""

    not_found = MessageNotFound

    def make_store(self) -> SQLiteStore:
        return SQLiteStore(self.mktemp())


class CommitRecorder:
    """An on_commit hook remembering (seconds, jobs) and the thread it ran on."""

    def __init__(self) -> None:
        self.commits: list[tuple[float, int]] = []
        self.threads: set[threading.Thread] = set()

    def __call__(self, seconds: float, jobs: int) -> None:
        self.commits.append((seconds, jobs))
        self.threads.add(threading.current_thread())


def blocking_job(
    entered: threading.Event, release: threading.Event
) -> Callable[[sqlite3.Connection], None]:
    """A job that signals ``entered`` and holds the database thread until ``release``."""

    def job(connection: sqlite3.Connection) -> None:
        entered.set()
        if not release.wait(10):
            raise RuntimeError("test did not release the database thread")

    return job


class GroupCommitTests(TestCase):
    """Concurrent jobs share a transaction; a failing one is rolled back alone."""

    async def setUp(self) -> None:  # type: ignore[override]
        self.recorder = CommitRecorder()
        self.store = SQLiteStore(self.mktemp(), on_commit=self.recorder)
        await self.store.start()
        self.addCleanup(self.store.close)

    async def test_concurrent_enqueues_share_commits(self) -> None:
        """50 concurrent enqueues are committed in fewer than 50 transactions."""
        self.recorder.commits.clear()
        results = await gatherResults(
            [self.store.enqueue(new_message(data=b"x" * 2048), NOW) for _ in range(50)]
        )
        self.assertEqual(len({r[0].id for r in results}), 50)
        self.assertEqual(sum(jobs for _, jobs in self.recorder.commits), 50)
        self.assertLess(len(self.recorder.commits), 50)
        self.assertEqual(self.recorder.threads, {threading.main_thread()})
        self.assertTrue(all(seconds >= 0 for seconds, _ in self.recorder.commits))

    async def test_waiting_jobs_form_one_batch(self) -> None:
        """Every job queued while the thread is busy goes into the next single commit."""
        entered, release = threading.Event(), threading.Event()
        held = self.store._database.run(blocking_job(entered, release))
        self.assertTrue(entered.wait(10))
        self.recorder.commits.clear()
        pending = [self.store.enqueue(new_message(), NOW) for _ in range(30)]
        release.set()
        await held
        await gatherResults(pending)
        self.assertEqual([jobs for _, jobs in self.recorder.commits], [1, 30])

    async def test_failing_job_fails_alone(self) -> None:
        """A job failing inside a batch rolls back only its own writes and fails only itself."""
        entered, release = threading.Event(), threading.Event()
        held = self.store._database.run(blocking_job(entered, release))
        # The held job is now alone in its batch; what follows queues up behind it.
        self.assertTrue(entered.wait(10))
        self.recorder.commits.clear()

        def half_done(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT INTO account (name) VALUES ('half')")
            raise ValueError("broken job")

        before = self.store.enqueue(new_message(recipients=("a@x",)), NOW)
        broken = self.store._database.run(half_done)
        bad_input = self.store.enqueue(new_message(), datetime_naive())
        after = self.store.enqueue(new_message(recipients=("b@x",)), NOW)
        release.set()
        await held
        results = await DeferredList([before, broken, bad_input, after], consumeErrors=True)
        successes = [ok for ok, _ in results]
        self.assertEqual(successes, [True, False, False, True])
        failures: list[Failure] = [value for ok, value in results if not ok]
        self.assertTrue(failures[0].check(ValueError))
        self.assertTrue(failures[1].check(ValueError))
        # Held job in its own batch, the four others committed together.
        self.assertEqual([jobs for _, jobs in self.recorder.commits][-1], 4)
        # The batches after one with a failure start with savepoints.
        self.assertEqual(self.store._database._careful, CAREFUL_BATCHES)
        queued = await self.store.list_queue()
        self.assertEqual([m.recipient for m in queued], ["a@x", "b@x"])
        self.assertEqual(await self.store.mailboxes("half"), [])
        rows = await self.store._database.run(
            lambda c: c.execute("SELECT COUNT(*) FROM account WHERE name = 'half'").fetchone()[0]
        )
        self.assertEqual(rows, 0)

    async def test_close_drains_pending_jobs(self) -> None:
        """close() runs jobs submitted before it, then refuses new ones."""
        pending = self.store.enqueue(new_message(), NOW)
        closed = self.store.close()
        [queued] = await pending
        await closed
        self.assertEqual(queued.recipient, "a@example.com")
        await self.assertFailure(self.store.list_queue(), DatabaseClosed)
        await self.store.close()

    async def test_commit_observer_failure_is_contained(self) -> None:
        """An on_commit hook that raises is logged and does not break the store."""

        def broken_hook(seconds: float, jobs: int) -> None:
            raise ZeroDivisionError("hook fails")

        store = SQLiteStore(self.mktemp(), on_commit=broken_hook)
        await store.start()
        try:
            await store.enqueue(new_message(), NOW)
            self.assertEqual(len(await store.list_queue()), 1)
        finally:
            await store.close()
        self.assertEqual(len(self.flushLoggedErrors(ZeroDivisionError)), 2)


class RunTransactionTests(SynchronousTestCase):
    """run_transaction on a plain connection: reruns, careful mode, failing transactions."""

    def setUp(self) -> None:
        self.connection = sqlite3.connect(self.mktemp(), isolation_level=None)
        self.addCleanup(self.connection.close)
        self.connection.execute("CREATE TABLE t (v BLOB)")
        self.runs: list[str] = []

    def job(self, name: str, fail: bool = False) -> Callable[[sqlite3.Connection], str]:
        def run(connection: sqlite3.Connection) -> str:
            self.runs.append(name)
            connection.execute("INSERT INTO t (v) VALUES (?)", (name,))
            if fail:
                raise ValueError(name)
            return name

        return run

    def rows(self) -> list[str]:
        return [r[0] for r in self.connection.execute("SELECT v FROM t ORDER BY rowid")]

    def test_failure_reruns_batch_with_savepoints(self) -> None:
        """Without ``careful`` a failing job makes the batch run again with savepoints:
        the others commit once, the failing one's write is gone."""
        outcomes = run_transaction(
            self.connection, [self.job("a"), self.job("bad", fail=True), self.job("c")]
        )
        self.assertEqual(outcomes[0::2], ["a", "c"])
        self.assertIsInstance(outcomes[1], Failure)
        self.assertEqual(self.runs, ["a", "bad", "a", "bad", "c"])
        self.assertEqual(self.rows(), ["a", "c"])

    def test_careful_runs_each_job_once(self) -> None:
        """With ``careful`` the savepoints are there from the start: nothing runs twice."""
        outcomes = run_transaction(
            self.connection,
            [self.job("a"), self.job("bad", fail=True), self.job("c")],
            careful=True,
        )
        self.assertIsInstance(outcomes[1], Failure)
        self.assertEqual(self.runs, ["a", "bad", "c"])
        self.assertEqual(self.rows(), ["a", "c"])

    def test_transaction_ended_by_sqlite_fails_with_its_cause(self) -> None:
        """An error with which SQLite ends the whole transaction (the database is full)
        fails the batch with that error, not a missing savepoint, and is not rerun."""
        page_size = self.connection.execute("PRAGMA page_size").fetchone()[0]
        pages = self.connection.execute("PRAGMA page_count").fetchone()[0]
        self.connection.execute(f"PRAGMA max_page_count = {pages + 2}")

        def huge(connection: sqlite3.Connection) -> None:
            self.runs.append("huge")
            connection.execute("INSERT INTO t (v) VALUES (?)", (b"x" * page_size * 8,))

        for careful in (False, True):
            self.runs.clear()
            with self.assertRaises(sqlite3.OperationalError) as caught:
                run_transaction(self.connection, [self.job("a"), huge], careful=careful)
            self.assertIn("full", str(caught.exception))
            self.assertEqual(self.runs, ["a", "huge"])
            self.assertEqual(self.rows(), [])
            self.assertFalse(self.connection.in_transaction)


def datetime_naive() -> datetime:
    return datetime(2026, 1, 1)


class OpeningTests(TestCase):
    """Opening a file applies migrations; reopening keeps the data."""

    async def test_fresh_file_migrated_and_wal(self) -> None:
        """A new file gets the latest schema version, WAL journal and the tables."""
        path = self.mktemp()
        store = SQLiteStore(path)
        await store.start()
        await store.close()
        connection = sqlite3.connect(path)
        try:
            self.assertEqual(current_version(connection), latest_version(MIGRATIONS))
            mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
            self.assertEqual(mode, "wal")
            tables = {r[0] for r in connection.execute("SELECT name FROM sqlite_master")}
            self.assertTrue({"queue", "retired", "message_data", "mailbox_message"} <= tables)
        finally:
            connection.close()

    async def test_connection_settings(self) -> None:
        """The store's connection commits with synchronous=FULL and enforces foreign keys."""
        store = SQLiteStore(self.mktemp())
        await store.start()
        try:
            settings = await store._database.run(
                lambda c: (
                    c.execute("PRAGMA synchronous").fetchone()[0],
                    c.execute("PRAGMA foreign_keys").fetchone()[0],
                )
            )
        finally:
            await store.close()
        self.assertEqual(settings, (2, 1))  # 2 is FULL: the WAL is fsync'd at each commit

    async def test_reopen_keeps_data(self) -> None:
        """Closing and opening the same file again finds what was committed."""
        path = self.mktemp()
        store = SQLiteStore(path)
        await store.start()
        [queued] = await store.enqueue(new_message(), NOW)
        await store.close()
        again = SQLiteStore(path)
        await again.start()
        try:
            self.assertEqual(await again.queued_message(queued.id), queued)
        finally:
            await again.close()

    async def test_newer_schema_refused(self) -> None:
        """A database from a newer mailtwist fails start() with SchemaTooNew, naming versions."""
        path = self.mktemp()
        store = SQLiteStore(path)
        await store.start()
        await store.close()
        connection = sqlite3.connect(path)
        with connection:
            connection.execute("INSERT INTO schema_version VALUES (999, 'from the future')")
        connection.close()
        newer = SQLiteStore(path)
        with self.assertRaises(SchemaTooNew) as raised:
            await newer.start()
        self.assertIn("999", str(raised.exception))
        await newer.close()
        await self.assertFailure(newer.list_queue(), DatabaseClosed)

    async def test_unopenable_path(self) -> None:
        """A path in a missing directory fails start() with sqlite3's error."""
        store = SQLiteStore(os.path.join(self.mktemp(), "missing", "store.db"))
        await self.assertFailure(store.start(), sqlite3.OperationalError)
        await store.close()


class MigrateTests(SynchronousTestCase):
    """migrate() applies versioned steps in order, each in its own transaction."""

    def setUp(self) -> None:
        self.connection = sqlite3.connect(":memory:", isolation_level=None)
        self.addCleanup(self.connection.close)

    def test_applies_in_order_once(self) -> None:
        """Pending migrations run in version order; a second run applies nothing."""
        ran: list[int] = []
        steps = [
            Migration(1, "t", statements=("CREATE TABLE t (x)",)),
            Migration(2, "fn", function=lambda c: ran.append(2)),
        ]
        self.assertEqual(migrate(self.connection, steps), 2)
        self.assertEqual(migrate(self.connection, steps), 2)
        self.assertEqual(ran, [2])

    def test_failed_migration_keeps_earlier(self) -> None:
        """A failing step is rolled back entirely; the steps before it stay applied."""

        def broken(connection: sqlite3.Connection) -> None:
            connection.execute("CREATE TABLE half (x)")
            raise RuntimeError("broken step")

        steps = [
            Migration(1, "t", statements=("CREATE TABLE t (x)",)),
            Migration(2, "broken", function=broken),
        ]
        self.assertRaises(RuntimeError, migrate, self.connection, steps)
        self.assertEqual(current_version(self.connection), 1)
        tables = {r[0] for r in self.connection.execute("SELECT name FROM sqlite_master")}
        self.assertNotIn("half", tables)

    def test_versions_must_increase(self) -> None:
        """Migrations out of order or repeated are a programming error."""
        steps = [Migration(2, "b"), Migration(1, "a")]
        self.assertRaises(ValueError, migrate, self.connection, steps)
        self.assertRaises(ValueError, migrate, self.connection, [Migration(1, "a")] * 2)

    def test_newer_database(self) -> None:
        """A database past the last known migration raises SchemaTooNew."""
        steps = [Migration(1, "a"), Migration(2, "b")]
        migrate(self.connection, steps)
        with self.assertRaises(SchemaTooNew) as raised:
            migrate(self.connection, steps[:1])
        self.assertIn("version 2", str(raised.exception))

    def test_shipped_migrations_apply(self) -> None:
        """The shipped migrations apply to an empty database."""
        self.assertEqual(migrate(self.connection), latest_version())


class StoredTimeTests(SynchronousTestCase):
    """Stored times are fixed-width UTC text that sorts and round-trips."""

    @settings(database=None, deadline=None)
    @given(
        st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(9000, 1, 1)),
        st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)),
    )
    def test_round_trip(self, moment: datetime, offset: timedelta) -> None:
        """Any aware datetime comes back as the same instant in UTC, with microseconds."""
        aware = moment.replace(tzinfo=timezone(offset))
        text = time_text(aware)
        self.assertEqual(len(text), len("2026-01-01T00:00:00.000000Z"))
        self.assertEqual(parse_time(text), aware)
        self.assertEqual(parse_time(text).tzinfo, UTC)

    @settings(database=None, deadline=None)
    @given(st.lists(st.datetimes(timezones=st.just(UTC)), min_size=2, max_size=5))
    def test_text_order_is_time_order(self, moments: list[datetime]) -> None:
        """Sorting the stored text sorts the times, which due_messages relies on."""
        texts = [time_text(m) for m in moments]
        self.assertEqual(sorted(texts), [time_text(m) for m in sorted(moments)])

    def test_early_years_four_digits(self) -> None:
        """Years below 1000 are stored with four digits, so they keep the fixed width."""
        self.assertEqual(time_text(datetime(1, 1, 1, tzinfo=UTC)), "0001-01-01T00:00:00.000000Z")
        self.assertEqual(
            time_text(datetime(999, 6, 1, 1, tzinfo=timezone(timedelta(hours=1)))),
            "0999-06-01T00:00:00.000000Z",
        )
        self.assertEqual(parse_time("0999-06-01T00:00:00.000000Z"), datetime(999, 6, 1, tzinfo=UTC))

    def test_naive_refused(self) -> None:
        """A naive datetime has no instant and is refused."""
        self.assertRaises(ValueError, time_text, datetime(2026, 1, 1))

    def test_other_forms_refused(self) -> None:
        """Forms time_text never writes are refused when read, not silently accepted."""
        for text in (
            "2026-11-28T05:43:06Z",
            "2026-11-28T05:43:06.123456+00:00",
            "2026-11-28 05:43:06.123456Z",
            "2026-11-28T05:43:06,123456Z",
            "2026-11-28T054306.12345678Z",
            "",
        ):
            with self.assertRaises(ValueError, msg=text):
                parse_time(text)


class _AckCollector(ProcessProtocol):
    """Reads the writer's acknowledged ids and kills it after ``wanted`` of them."""

    def __init__(self, wanted: int) -> None:
        self.wanted = wanted
        self.buffer = b""
        self.acked: list[int] = []
        self.errors = b""
        self.killed = False
        self.ended: Deferred[None] = Deferred()

    def outReceived(self, data: bytes) -> None:
        self.buffer += data
        *lines, self.buffer = self.buffer.split(b"\n")
        self.acked.extend(int(line) for line in lines if line.strip())
        if len(self.acked) >= self.wanted and not self.killed:
            self.killed = True
            # SIGKILL: no chance to flush or close anything (POSIX only).
            self.transport.signalProcess("KILL")  # type: ignore[union-attr]

    def errReceived(self, data: bytes) -> None:
        self.errors += data

    def processEnded(self, reason: Failure) -> None:
        self.ended.callback(None)


class DurabilityTests(TestCase):
    """What was acknowledged survives the process being killed."""

    if platform.isWindows():
        skip = "SIGKILL is POSIX"

    async def test_acked_enqueues_survive_sigkill(self) -> None:
        """Every id printed by a writer killed with SIGKILL is in the queue on reopen."""
        path = os.path.abspath(self.mktemp())
        root = str(Path(mailtwist.__file__).resolve().parent.parent)
        env = dict(os.environ, PYTHONPATH=root)
        collector = _AckCollector(wanted=40)
        reactor.spawnProcess(  # type: ignore[attr-defined]
            collector,
            sys.executable,
            [sys.executable, "-m", "tests.store.durability_writer", path],
            env=env,
            path=root,
        )
        await collector.ended
        self.assertTrue(collector.killed, collector.errors.decode(errors="replace"))
        self.assertGreaterEqual(len(collector.acked), 40)
        store = SQLiteStore(path)
        await store.start()
        try:
            present = {m.id for m in await store.list_queue()}
        finally:
            await store.close()
        self.assertEqual(set(collector.acked) - present, set())


class ListingIndexTests(SynchronousTestCase):
    """Every default listing is an index range seek: no table scan, no sort step."""

    def setUp(self) -> None:
        self.connection = sqlite3.connect(":memory:", isolation_level=None)
        self.addCleanup(self.connection.close)
        migrate(self.connection, MIGRATIONS)

    def plan(self, table: str, message_filter: MessageFilter, sort: str, **kwargs: Any) -> str:
        sql, params = page_query(table, message_filter, sort, limit=100, **kwargs)
        rows = self.connection.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
        return " | ".join(row[3] for row in rows)

    def test_pages_use_indexes(self) -> None:
        """Both sorts, both directions, first or later page, with or without an account."""
        cursor = Cursor(NOW, 12345)
        for table, sorts in (("queue", QUEUE_SORTS), ("retired", RETIRED_SORTS)):
            for sort in sorts:
                for account in ("", "mjl"):
                    for ascending in (True, False):
                        for after in (None, cursor):
                            plan = self.plan(
                                table,
                                MessageFilter(account=account),
                                sort,
                                ascending=ascending,
                                after=after,
                            )
                            where = (table, sort, account, ascending, after)
                            self.assertIn("USING INDEX", plan, where)
                            self.assertNotIn("TEMP B-TREE", plan, where)
                            if after is not None:
                                self.assertIn(f"{sort}{'>' if ascending else '<'}?", plan)


def _v1_row(table: str) -> dict[str, Any]:
    """A queue or retired row as version 1 wrote it: results without classification."""
    results = json.dumps(
        [
            {
                "start": "2026-11-28T03:00:00.123456Z",
                "duration": 1.0,
                "success": False,
                "code": 451,
                "secode": "4.0",
                "error": "later",
                "remote_host": "mx",
                "reply": "451 later",
                "tls": False,
                "permanent": False,
            }
        ]
    )
    row: dict[str, Any] = {
        "id": 7,
        "base_id": 0,
        "queued": "2026-11-28T03:00:00.000000Z",
        "account": "mjl",
        "sender": "a@x",
        "recipient": "b@y",
        "recipient_domain": "y",
        "message_id": "",
        "subject": "",
        "size": 1,
        "last_attempt": None,
        "attempts": 1,
        "max_attempts": 0,
        "results": results,
        "has8bit": 0,
        "smtputf8": 0,
        "future_release_request": "",
        "require_tls": None,
        "from_id": "v1",
        "transport": "",
        "extra": "{}",
    }
    if table == "queue":
        row.update(hold=0, next_attempt="2026-11-28T04:00:00.000000Z", data_id=1)
    else:
        row.update(
            id=8,
            from_id="v1r",
            success=0,
            event="failed",
            last_activity="2026-11-28T03:00:01.000000Z",
            keep_until="2026-12-28T03:00:01.000000Z",
        )
    return row


class UpgradeTests(TestCase):
    """A database written by schema version 1 opens with its rows intact."""

    async def test_version_1_rows(self) -> None:
        """Old rows read with origin "submission" and attempts classified ""."""
        path = self.mktemp()
        connection = sqlite3.connect(path, isolation_level=None)
        migrate(connection, MIGRATIONS[:1])
        with connection:
            connection.execute("BEGIN")
            connection.execute("INSERT INTO message_data (id, data) VALUES (1, x'41')")
            for table in ("queue", "retired"):
                row = _v1_row(table)
                connection.execute(
                    f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                    tuple(row.values()),
                )
        connection.close()
        store = SQLiteStore(path)
        await store.start()
        self.addCleanup(store.close)
        queued = await store.queued_message(7)
        assert queued is not None
        self.assertEqual(queued.origin, "submission")
        self.assertEqual([r.classification for r in queued.results], [""])
        self.assertEqual(queued.results[0].code, 451)
        retired = await store.retired_by_from_id("v1r")
        assert retired is not None
        self.assertEqual((retired.id, retired.origin), (8, "submission"))
        self.assertEqual(retired.results[0].classification, "")
        self.assertEqual(await store.hold_rules(), [])


class InlineDatabaseTests(SynchronousTestCase):
    """InlineDatabase: DatabaseThread's contract, run on the calling thread."""

    def setUp(self) -> None:
        self.commits: list[tuple[float, int]] = []
        self.database = InlineDatabase(":memory:", lambda s, n: self.commits.append((s, n)))
        self.successResultOf(self.database.start(self.create_table))
        self.addCleanup(self.database.close)

    @staticmethod
    def create_table(connection: sqlite3.Connection) -> None:
        connection.execute("CREATE TABLE t (x UNIQUE)")

    def count(self) -> int:
        return int(
            self.successResultOf(
                self.database.run(lambda c: c.execute("SELECT COUNT(*) FROM t").fetchone()[0])
            )
        )

    def test_fired_and_committed(self) -> None:
        """A job's Deferred has fired with its result, after on_commit saw one job."""
        result = self.database.run(lambda c: c.execute("INSERT INTO t VALUES (1)").lastrowid)
        self.assertEqual(self.successResultOf(result), 1)
        self.assertEqual([jobs for _, jobs in self.commits], [1])
        self.assertTrue(all(seconds >= 0 for seconds, _ in self.commits))

    def test_failing_job_rolled_back(self) -> None:
        """A failing job's writes are rolled back and only its Deferred fails."""

        def half(connection: sqlite3.Connection) -> None:
            connection.execute("INSERT INTO t VALUES (1)")
            connection.execute("INSERT INTO t VALUES (1)")

        self.failureResultOf(self.database.run(half), sqlite3.IntegrityError)
        self.assertEqual(self.count(), 0)
        self.successResultOf(self.database.run(lambda c: c.execute("INSERT INTO t VALUES (2)")))
        self.assertEqual(self.count(), 1)

    def test_closed(self) -> None:
        """After close() run raises DatabaseClosed; closing twice is fine."""
        self.successResultOf(self.database.close())
        self.successResultOf(self.database.close())
        self.assertRaises(DatabaseClosed, self.database.run, lambda c: None)

    def test_setup_failure(self) -> None:
        """A failing setup fails start() and leaves the database closed."""

        def broken(connection: sqlite3.Connection) -> None:
            raise SchemaTooNew("from the future")

        database = InlineDatabase(":memory:")
        self.failureResultOf(database.start(broken), SchemaTooNew)
        self.assertRaises(DatabaseClosed, database.run, lambda c: None)
        self.assertRaises(RuntimeError, database.start, broken)

    def test_inline_store_on_file(self) -> None:
        """SQLiteStore(inline=True) on a file answers at once, in WAL, and keeps its data."""
        path = self.mktemp()
        clock = Clock()
        store = SQLiteStore(path, reactor=clock, inline=True)
        self.successResultOf(store.start())
        [queued] = self.successResultOf(store.enqueue(new_message(), NOW))
        mode = self.successResultOf(
            store._database.run(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0])
        )
        self.assertEqual(mode, "wal")
        self.successResultOf(store.close())
        again = SQLiteStore(path, reactor=clock, inline=True)
        self.successResultOf(again.start())
        self.assertEqual(self.successResultOf(again.queued_message(queued.id)), queued)
        self.successResultOf(again.close())
