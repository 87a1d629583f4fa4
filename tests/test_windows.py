"""localserve under Windows file semantics, and proof it needs no POSIX-only code."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from twisted.internet import defer, reactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

import mailtwist
from mailtwist.config import load_config, write_localserve_config
from mailtwist.localserve import prepare_localserve
from mailtwist.service import MailtwistService
from mailtwist.store.records import NewMessage
from mailtwist.store.sqlite import SQLiteStore
from mailtwist.testing.windows import (
    emulate_windows_files,
    posix_only_imports_by,
    posix_only_modules_imported,
)
from tests.localserve_process import _free_base_port
from tests.queue.test_localdelivery import LocalDeliveryTests
from tests.queue.test_scheduler import LifecycleTests, ScheduleTests
from tests.queue.test_scheduler_sqlite import SchedulerOnSQLiteTests
from tests.store.contract import StoreContractMixin

#: The modules localserve runs: what `mailtwist localserve` imports.
LOCALSERVE_MODULES = ("mailtwist.cli", "mailtwist.tap", "mailtwist.localserve", "mailtwist.service")

#: Calls and names that exist only on POSIX (DESIGN.md, Windows rules).
POSIX_ONLY_ATTRIBUTES = {
    ("os", "fork"),
    ("os", "getuid"),
    ("os", "geteuid"),
    ("os", "setuid"),
    ("os", "setgid"),
    ("os", "chown"),
    ("os", "link"),
    ("os", "getpgid"),
    ("os", "killpg"),
    ("signal", "SIGHUP"),
    ("signal", "SIGKILL"),
    ("signal", "SIGUSR1"),
    ("signal", "SIGUSR2"),
}
POSIX_ONLY_IMPORTS = {"fcntl", "pwd", "grp", "resource", "termios"}


class WindowsStoreContractTests(StoreContractMixin, TestCase):  # type: ignore[misc]
    """The whole store contract holds with Windows file semantics."""

    not_found = LookupError

    def make_store(self) -> SQLiteStore:
        emulate_windows_files(self)
        return SQLiteStore(self.mktemp())


class WindowsScheduleTests(ScheduleTests):
    """The retry schedule and outcomes hold with Windows file semantics."""

    def setUp(self) -> None:
        emulate_windows_files(self)
        super().setUp()


class WindowsLifecycleTests(LifecycleTests):
    """Start, stop and restart recovery of the queue hold with Windows file semantics."""

    def setUp(self) -> None:
        emulate_windows_files(self)
        super().setUp()


class WindowsSchedulerOnSQLiteTests(SchedulerOnSQLiteTests):
    """The scheduler on the real SQLite store works with Windows file semantics."""

    def setUp(self) -> Any:
        emulate_windows_files(self)
        return super().setUp()


class WindowsLocalDeliveryTests(LocalDeliveryTests):
    """localserve's simulated deliveries work with Windows file semantics."""

    def setUp(self) -> None:
        emulate_windows_files(self)
        super().setUp()


class WindowsLocalserveTests(TestCase):
    """A localserve directory is created, reused and served with Windows file semantics."""

    def test_directory_created_then_reused(self) -> None:
        """The first start writes config, certificate and keys without renaming open files;
        the second start loads the same config unchanged."""
        emulate_windows_files(self)
        directory = Path(self.mktemp())
        first = prepare_localserve(directory, login="mailtwist@localhost", password=None)
        written = {p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}
        second = prepare_localserve(directory, login="mailtwist@localhost", password=None)
        self.assertEqual({p: p.read_bytes() for p in directory.rglob("*") if p.is_file()}, written)
        self.assertEqual(first.config.accounts.keys(), second.config.accounts.keys())

    @defer.inlineCallbacks
    def test_service_queues_and_delivers(self):  # type: ignore[no-untyped-def]
        """The real service starts, queues a message, delivers it into the Inbox and
        stops cleanly with Windows file semantics in force."""
        emulate_windows_files(self)
        directory = Path(self.mktemp())
        config = load_config(write_localserve_config(directory, base_port=_free_base_port()))
        service = MailtwistService(config, reactor=reactor)
        service.startService()
        self.addCleanup(lambda: service.running and service.stopService())
        yield service._started
        delivered = defer.Deferred()
        service.metrics.delivery = lambda outcome: delivered.callback(outcome)  # type: ignore[method-assign]
        yield service.scheduler.submit(
            NewMessage(
                account="mailtwist",
                sender="mailtwist@localhost",
                recipients=("friend@example.com",),
                data=b"From: mailtwist@localhost\r\nSubject: w\r\n\r\nhi\r\n",
            )
        )
        outcome = yield delivered
        self.assertEqual(outcome, "delivered")
        messages = yield service.store.list_messages("mailtwist", "Inbox")
        self.assertEqual([m.rcpt_to for m in messages], ["friend@example.com"])
        yield service.stopService()


class PosixOnlyCodeTests(SynchronousTestCase):
    """localserve needs nothing that Windows lacks."""

    def test_localserve_imports_no_posix_only_module(self) -> None:
        """No mailtwist module on the localserve path imports fcntl, pwd, grp, resource or
        termios, and importing that path loads none beyond what Python and the Twisted
        reactor already load (resource is imported optionally by prometheus_client)."""
        self.assertEqual(posix_only_imports_by(LOCALSERVE_MODULES), {})
        self.assertEqual(posix_only_modules_imported(LOCALSERVE_MODULES) - {"resource"}, set())

    def test_no_posix_only_calls_outside_the_platform_module(self) -> None:
        """No mailtwist source outside platform.py names a POSIX-only function, signal or
        module (a static check, so branches not run in tests count too)."""
        root = Path(mailtwist.__file__).parent
        found = []
        for path in sorted(root.rglob("*.py")):
            if path.name == "platform.py" or "testing" in path.parts:
                continue
            tree = ast.parse(path.read_text(), str(path))
            for node in ast.walk(tree):
                if (
                    isinstance(node, ast.Attribute)
                    and isinstance(node.value, ast.Name)
                    and (node.value.id, node.attr) in POSIX_ONLY_ATTRIBUTES
                ):
                    found.append(
                        f"{path.relative_to(root)}:{node.lineno} {node.value.id}.{node.attr}"
                    )
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name.partition(".")[0] for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                    names = [node.module.partition(".")[0]]
                found += [
                    f"{path.relative_to(root)}:{node.lineno} import {n}"
                    for n in names
                    if n in POSIX_ONLY_IMPORTS
                ]
        self.assertEqual(found, [])
