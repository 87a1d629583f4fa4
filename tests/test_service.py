"""Tests for the service that wires everything together."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from twisted.internet import defer, reactor
from twisted.internet.task import deferLater
from twisted.internet.testing import MemoryReactorClock
from twisted.internet.threads import deferToThread
from twisted.trial.unittest import SynchronousTestCase, TestCase

from mailtwist.auth.password import make_credentials
from mailtwist.config import load_config, write_localserve_config
from mailtwist.service import DATABASE_FILE, MailtwistService
from mailtwist.store.records import MailboxDelivery
from mailtwist.store.sqlite import SQLiteStore
from mailtwist.store.webhooks import WebhookFilter
from mailtwist.webhook.settings import IncomingWebhook, StoredWebhookSettings, WebhookSettings
from tests.localserve_process import _free_base_port


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


class CatchUpTests(TestCase):
    """Incoming mail stored before a crash still reaches its webhook."""

    @defer.inlineCallbacks
    def test_pending_incoming_event_is_handled_at_start(self):  # type: ignore[no-untyped-def]
        """A message stored with a pending event (the server died before its incoming
        webhook was queued) gets that webhook at the next start, and the event is done."""
        directory = Path(self.mktemp())
        config = load_config(write_localserve_config(directory, base_port=_free_base_port()))
        config.data_dir.mkdir(parents=True, exist_ok=True)
        store = SQLiteStore(config.data_dir / DATABASE_FILE)
        yield store.start()
        yield StoredWebhookSettings(store).save(
            "mailtwist", WebhookSettings(incoming=IncomingWebhook("http://127.0.0.1:9/in"))
        )
        yield store.deliver(
            [
                MailboxDelivery(
                    account="mailtwist",
                    mailbox="Inbox",
                    rcpt_to="mailtwist@localhost",
                    data=b"From: a@example.org\r\nSubject: left behind\r\n\r\nhi\r\n",
                    notify=True,
                )
            ]
        )
        yield store.close()

        service = MailtwistService(config, reactor=reactor)
        service.startService()
        yield service._started
        for _ in range(100):
            pending = yield service.store.pending_stored_events()
            if not pending:
                break
            yield deferLater(reactor, 0.05, lambda: None)
        self.assertEqual(pending, [])
        page = yield service.store.webhook_page(WebhookFilter())
        hooks = list(page.rows)
        self.assertEqual([(h.is_incoming, h.subject) for h in hooks], [(True, "left behind")])
        yield service.stopService()


class WakeTests(TestCase):
    """What the CLI changes in the store, the running server sees once woken."""

    @defer.inlineCallbacks
    def test_wake_reads_credentials_and_webhook_settings_afresh(self):  # type: ignore[no-untyped-def]
        """Credentials and webhook settings are served from memory for a while; a password
        or settings written behind the server's back apply as soon as it is woken."""
        directory = Path(self.mktemp())
        config = load_config(write_localserve_config(directory, base_port=_free_base_port()))
        service = MailtwistService(config, reactor=reactor)
        service.startService()
        yield service._started
        self.addCleanup(service.stopService)
        login = "mailtwist@localhost"
        check = service.authenticator.check_password
        self.assertEqual((yield check(login, "mailtwist")), "mailtwist")
        before = yield service.webhook_settings.settings_for("mailtwist")
        # What `mailtwist account password` and `webhook settings` write.
        new = yield deferToThread(make_credentials, "mailtwist", "changed")
        yield service.store.set_credentials(new)
        changed = WebhookSettings(incoming=IncomingWebhook("http://127.0.0.1:9/in"))
        yield service.store.set_webhook_settings("mailtwist", changed.to_json())
        self.assertEqual((yield check(login, "mailtwist")), "mailtwist")
        self.assertEqual((yield service.webhook_settings.settings_for("mailtwist")), before)
        service._wake()
        self.assertIsNone((yield check(login, "mailtwist")))
        self.assertEqual((yield check(login, "changed")), "mailtwist")
        self.assertEqual((yield service.webhook_settings.settings_for("mailtwist")), changed)
