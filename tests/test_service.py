"""Tests for the service that wires everything together."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.config import load_config, write_localserve_config
from mailtwist.service import MailtwistService


class StartFailureTests(SynchronousTestCase):
    """A server that cannot start ends instead of idling."""

    def test_failure_before_the_reactor_runs_stops_it(self) -> None:
        """twistd starts services before running the reactor; a start that fails at once
        (the data directory cannot be made) logs why and stops the reactor when it runs."""
        directory = Path(self.mktemp())
        config = load_config(write_localserve_config(directory))
        blocker = Path(self.mktemp())
        blocker.write_text("a file where the data directory should go")
        config = dataclasses.replace(config, data_dir=blocker / "data")
        reactor = MemoryReactorClock()
        service = MailtwistService(config, reactor=reactor)
        service.startService()
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)
        # MemoryReactor.run() always stops at its end, so look at what runs first.
        self.assertEqual(reactor.whenRunningHooks, [(reactor.stop, (), {})])
