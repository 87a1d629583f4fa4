"""End to end in localserve mode: a curl-style Send is delivered, and MessageGet reads it."""

from __future__ import annotations

from datetime import timedelta

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from mailtwist.metrics import NullMetrics
from mailtwist.queue.localdelivery import LocalDeliveryTransport
from mailtwist.queue.scheduler import QueueScheduler
from tests.webapi.fakes import Harness, Response, make_config


class OutcomeWaiter(NullMetrics):
    """Fires ``done`` with the first delivery outcome the scheduler records."""

    def __init__(self) -> None:
        self.done: Deferred[str] = Deferred()

    def delivery(self, outcome: str) -> None:
        if not self.done.called:
            self.done.callback(outcome)


class LocalserveEndToEndTests(TestCase):
    """The webapi over the real scheduler, localserve transport and SQLite store."""

    timeout = 30

    async def test_send_then_message_get(self) -> None:
        """Send to our own address; the copy lands in the Inbox and MessageGet shows it."""
        config = make_config(mode="localserve")
        webapi = Harness(config=config)
        waiter = OutcomeWaiter()
        scheduler = QueueScheduler(
            store=webapi.store,
            transport=LocalDeliveryTransport(
                directory=config, clock=reactor, hostname="localhost", simulate=True
            ),
            clock=reactor,
            keep_retired_for=lambda account: timedelta(days=1),
            metrics=waiter,
        )
        await scheduler.start()
        self.addCleanup(scheduler.stop)
        webapi.submit = scheduler.submit  # type: ignore[method-assign]

        response: Response = await webapi.start_call(
            "Send",
            {"To": [{"Address": "mox@localhost"}], "Subject": "e2e", "Text": "over the queue\n"},
        )
        self.assertEqual(response.code, 200, response.body)
        message_id = response.json["MessageID"]
        self.assertEqual(await waiter.done, "delivered")

        inbox = await webapi.store.list_messages("mox", "Inbox")
        self.assertEqual(len(inbox), 1)
        got = await webapi.start_call("MessageGet", {"MsgID": inbox[0].id})
        self.assertEqual(got.code, 200, got.body)
        message = got.json["Message"]
        self.assertEqual(message["MessageID"], message_id)
        self.assertEqual(message["Subject"], "e2e")
        self.assertEqual(message["Text"], "over the queue\n")
        self.assertEqual(message["From"], [{"Name": "Mox User", "Address": "mox@localhost"}])
        self.assertEqual(got.json["Meta"]["MailboxName"], "Inbox")
