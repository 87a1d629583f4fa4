"""Fakes shared by the queue tests: a scripted transport, a directory, fixed jitter."""

from __future__ import annotations

from random import Random
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import implementer

from mailtwist.address import Address, Domain
from mailtwist.queue.transport import DeliveryResult, ITransport
from mailtwist.store.records import QueuedMessage

DELIVERED = DeliveryResult(attempt_code=250, secode="0.0", reply="250 2.0.0 ok", success=True)


class FixedJitter(Random):
    """A Random whose ``uniform`` always answers the same jitter."""

    def __init__(self, jitter: float = 0.0) -> None:
        super().__init__(0)
        self.jitter = jitter
        self.asked: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.asked.append((a, b))
        return self.jitter


@implementer(ITransport)
class ScriptedTransport:
    """Answers each delivery from a script: a result, an exception, or "pending".

    ``pending`` attempts get a Deferred kept in ``waiting`` for the test to fire;
    without a script entry the delivery succeeds.
    """

    def __init__(self, *script: Any) -> None:
        self.script = list(script)
        self.calls: list[tuple[QueuedMessage, bytes]] = []
        self.waiting: list[Deferred[DeliveryResult]] = []

    def deliver(self, message: QueuedMessage, data: bytes) -> Deferred[DeliveryResult]:
        if not isinstance(message, QueuedMessage) or not isinstance(data, bytes):
            raise TypeError("deliver(QueuedMessage, bytes)")
        self.calls.append((message, data))
        step = self.script.pop(0) if self.script else DELIVERED
        if step == "pending":
            d: Deferred[DeliveryResult] = Deferred()
            self.waiting.append(d)
            return d
        if step == "raise":
            raise RuntimeError("transport exploded")
        if isinstance(step, BaseException):
            return fail(step)
        return succeed(step)


class FakeDirectory:
    """A config answering for a few local domains and addresses."""

    def __init__(self, domains: set[str], addresses: dict[str, str]) -> None:
        self.domains = domains
        self.addresses = addresses

    def is_local_domain(self, domain: Domain) -> bool:
        assert isinstance(domain, Domain)
        return domain.ascii in self.domains

    def account_for_address(self, address: Address) -> str | None:
        assert isinstance(address, Address)
        return self.addresses.get(f"{address.localpart.lower()}@{address.domain.ascii}")
