"""Running store jobs on one SQLite connection: the database thread, or inline for tests."""

from __future__ import annotations

import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorFromThreads
from twisted.logger import Logger
from twisted.python.failure import Failure

#: A job runs on the database thread with the connection, inside the batch's transaction.
Job = Callable[[sqlite3.Connection], Any]

#: Called on the reactor thread after each commit: (seconds, jobs in the batch).
CommitObserver = Callable[[float, int], None]

_log = Logger()


class DatabaseClosed(Exception):
    """A job was submitted to a database that is closed or not started."""


@dataclass
class _Pending:
    job: Job
    deferred: Deferred[Any] = field(default_factory=Deferred)


class _Stop:
    """Marks the end of the job queue: drain what came before, then close."""


def _in_memory(path: str) -> bool:
    return path in ("", ":memory:") or path.startswith("file::memory:")


def _configure(connection: sqlite3.Connection, path: str) -> None:
    connection.execute("PRAGMA foreign_keys=ON")
    if _in_memory(path):
        # Nothing to make durable, and no other process can open it.
        return
    # WAL with synchronous=FULL fsyncs the WAL on every COMMIT, so a commit that
    # returned is durable; readers never block the writer.
    mode = connection.execute("PRAGMA journal_mode=WAL").fetchone()[0]
    if mode != "wal":
        _log.warn("SQLite journal mode is {mode}, not wal", mode=mode)
    connection.execute("PRAGMA synchronous=FULL")
    # Other processes (the CLI) may briefly hold the write lock.
    connection.execute("PRAGMA busy_timeout=10000")


#: After a batch in which a job failed, this many batches run with a savepoint per
#: job from the start: a client that makes jobs fail over and over (unknown message
#: ids) does not make every batch run twice.
CAREFUL_BATCHES = 100


def run_transaction(
    connection: sqlite3.Connection, jobs: list[Job], careful: bool = False
) -> list[Any]:
    """Run ``jobs`` in one transaction and commit once; a failing job fails alone.

    A failing job rolls back only its own changes; its slot in the returned list
    is its Failure. When the transaction as a whole fails (disk full, I/O error)
    it is rolled back and the exception propagates: nothing of it is durable.

    Jobs rarely fail, so unless ``careful`` the batch first runs without a
    SAVEPOINT per job (two statements less per job, each a round of the GIL on
    this thread). When a job does fail, that attempt is rolled back whole and the
    batch runs again with a SAVEPOINT around each job. Jobs change nothing but the
    database (they may log or draw a random jitter), so running one again after a
    rollback is the same as running it once.
    """
    if len(jobs) > 1 and not careful:
        try:
            return _run_jobs(connection, jobs, savepoints=False)
        except _JobFailed:
            pass
    return _run_jobs(connection, jobs, savepoints=True)


class _JobFailed(Exception):
    """A job raised while the batch ran without savepoints: run it again with them."""


def _run_jobs(connection: sqlite3.Connection, jobs: list[Job], savepoints: bool) -> list[Any]:
    outcomes: list[Any] = []
    try:
        connection.execute("BEGIN IMMEDIATE")
        for job in jobs:
            if not savepoints:
                try:
                    outcomes.append(job(connection))
                except Exception as e:
                    if not connection.in_transaction:
                        raise  # SQLite ended the whole transaction: the batch fails
                    raise _JobFailed() from e
                continue
            connection.execute("SAVEPOINT job")
            try:
                outcomes.append(job(connection))
            except Exception:
                if not connection.in_transaction:
                    raise  # SQLite ended the whole transaction: the batch fails
                outcomes.append(Failure())
                connection.execute("ROLLBACK TO job")
            connection.execute("RELEASE job")
        connection.execute("COMMIT")
    except BaseException:
        if connection.in_transaction:
            try:
                connection.execute("ROLLBACK")
            except sqlite3.Error:
                _log.failure("rollback failed")
        raise
    return outcomes


def _notify(on_commit: CommitObserver | None, seconds: float, count: int) -> None:
    if on_commit is not None:
        try:
            on_commit(seconds, count)
        except Exception:
            _log.failure("commit observer failed")


class DatabaseThread:
    """Runs every job against one SQLite connection on one dedicated thread.

    The database is one file plus SQLite's own -wal/-shm files; nothing here
    renames or deletes files, so it behaves the same on Windows.

    Jobs waiting together are run in one transaction (a failing job rolls back
    only its own changes and fails only its own Deferred: see run_transaction),
    and committed once: group commit. Deferreds fire on the reactor
    thread after the COMMIT returned, so a job's result is durable when seen.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        reactor: IReactorFromThreads,
        on_commit: CommitObserver | None = None,
        name: str = "mailtwist-store",
    ) -> None:
        self._path = os.fspath(path)
        self._reactor = reactor
        self._on_commit = on_commit
        self._name = name
        self._jobs: queue.Queue[_Pending | _Stop] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._accepting = False
        self._stopping = False
        self._ended_flag = False
        self._close_waiters: list[Deferred[None]] = []
        #: Batches still to run with savepoints from the start (CAREFUL_BATCHES).
        self._careful = 0

    @property
    def path(self) -> str:
        return self._path

    def start(self, setup: Callable[[sqlite3.Connection], None]) -> Deferred[None]:
        """Open the database on a new thread and run ``setup`` (migrations) there.

        ``setup`` runs with the connection in autocommit mode and manages its own
        transactions. The Deferred fails with setup's exception, and the thread
        then ends.
        """
        if self._thread is not None:
            raise RuntimeError("database thread already started")
        started: Deferred[None] = Deferred()
        self._accepting = True
        self._thread = threading.Thread(
            target=self._main, args=(setup, started), name=self._name, daemon=True
        )
        self._thread.start()
        return started

    def run(self, job: Job) -> Deferred[Any]:
        """Run ``job(connection)`` in the next batch. Deferred[its result]."""
        if not self._accepting:
            raise DatabaseClosed(f"database {self._path} is not open")
        pending = _Pending(job)
        self._jobs.put(pending)
        return pending.deferred

    def close(self) -> Deferred[None]:
        """Refuse new jobs, run those already submitted, close the connection.

        Deferred[None] fires once the thread has ended. Closing twice is fine.
        """
        self._accepting = False
        waiter: Deferred[None] = Deferred()
        if self._thread is None or self._ended_flag:
            waiter.callback(None)
            return waiter
        self._close_waiters.append(waiter)
        if not self._stopping:
            self._stopping = True
            self._jobs.put(_Stop())
        return waiter

    # -- on the database thread

    def _main(self, setup: Callable[[sqlite3.Connection], None], started: Deferred[None]) -> None:
        connection: sqlite3.Connection | None = None
        try:
            try:
                # isolation_level None: we issue BEGIN/COMMIT ourselves.
                connection = sqlite3.connect(self._path, isolation_level=None)
                _configure(connection, self._path)
                setup(connection)
            except BaseException:
                self._accepting = False
                self._reactor.callFromThread(started.errback, Failure())
                self._drain_after_failure()
                return
            self._reactor.callFromThread(started.callback, None)
            self._serve(connection)
        finally:
            if connection is not None:
                connection.close()
            self._reactor.callFromThread(self._ended)

    def _drain_after_failure(self) -> None:
        failure = Failure(DatabaseClosed(f"database {self._path} failed to open"))
        while True:
            try:
                item = self._jobs.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Pending):
                self._reactor.callFromThread(item.deferred.errback, failure)

    def _serve(self, connection: sqlite3.Connection) -> None:
        stop = False
        while not stop:
            batch: list[_Pending] = []
            item = self._jobs.get()
            while True:
                if isinstance(item, _Stop):
                    stop = True
                else:
                    batch.append(item)
                try:
                    item = self._jobs.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._run_batch(connection, batch)

    def _run_batch(self, connection: sqlite3.Connection, batch: list[_Pending]) -> None:
        began = time.perf_counter()  # a duration for metrics, not a clock reading
        try:
            jobs = [pending.job for pending in batch]
            outcomes = run_transaction(connection, jobs, careful=self._careful > 0)
        except Exception:
            failure = Failure()
            _log.failure("store batch of {count} jobs failed", failure, count=len(batch))
            outcomes = [failure] * len(batch)
        else:
            if any(isinstance(outcome, Failure) for outcome in outcomes):
                self._careful = CAREFUL_BATCHES
            elif self._careful:
                self._careful -= 1
            self._reactor.callFromThread(self._committed, time.perf_counter() - began, len(batch))
        self._reactor.callFromThread(self._deliver, batch, outcomes)

    # -- on the reactor thread

    def _committed(self, seconds: float, count: int) -> None:
        _notify(self._on_commit, seconds, count)

    @staticmethod
    def _deliver(batch: list[_Pending], outcomes: list[Any]) -> None:
        for pending, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Failure):
                pending.deferred.errback(outcome)
            else:
                pending.deferred.callback(outcome)

    def _ended(self) -> None:
        if self._thread is not None:
            self._thread.join()  # the thread is past its last statement
        self._ended_flag = True
        waiters, self._close_waiters = self._close_waiters, []
        for waiter in waiters:
            waiter.callback(None)


class InlineDatabase:
    """The DatabaseThread's API run on the calling thread: for tests and tools.

    Each job is its own transaction with the same failure semantics, and its
    Deferred has already fired when ``run`` returns; ``on_commit`` is still
    called after each commit. Use it with ``":memory:"`` for a store that needs
    no thread and no file, or with a file for tools that already own a thread.
    """

    def __init__(
        self, path: str | os.PathLike[str], on_commit: CommitObserver | None = None
    ) -> None:
        self._path = os.fspath(path)
        self._on_commit = on_commit
        self._connection: sqlite3.Connection | None = None
        self._started = False

    @property
    def path(self) -> str:
        return self._path

    def start(self, setup: Callable[[sqlite3.Connection], None]) -> Deferred[None]:
        """Open the database and run ``setup`` (autocommit mode, like DatabaseThread)."""
        if self._started:
            raise RuntimeError("database already started")
        self._started = True
        connection: sqlite3.Connection | None = None
        try:
            connection = sqlite3.connect(self._path, isolation_level=None)
            _configure(connection, self._path)
            setup(connection)
        except BaseException:
            failure = Failure()
            if connection is not None:
                connection.close()
            return fail(failure)
        self._connection = connection
        return succeed(None)

    def run(self, job: Job) -> Deferred[Any]:
        """Run ``job(connection)`` now, in its own transaction. Deferred[its result], fired."""
        connection = self._connection
        if connection is None:
            raise DatabaseClosed(f"database {self._path} is not open")
        began = time.perf_counter()  # a duration for metrics, not a clock reading
        try:
            [outcome] = run_transaction(connection, [job])
        except Exception:
            failure = Failure()
            _log.failure("store job failed", failure)
            return fail(failure)
        _notify(self._on_commit, time.perf_counter() - began, 1)
        if isinstance(outcome, Failure):
            return fail(outcome)
        return succeed(outcome)

    def close(self) -> Deferred[None]:
        """Close the connection; new jobs are refused. Closing twice is fine."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()
        return succeed(None)


__all__ = [
    "CommitObserver",
    "DatabaseClosed",
    "DatabaseThread",
    "InlineDatabase",
    "Job",
    "run_transaction",
]
