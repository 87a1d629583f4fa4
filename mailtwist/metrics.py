"""Operational metrics: the IMetrics interface and its null and Prometheus implementations."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder
from twisted.web.resource import Resource
from twisted.web.server import Request
from zope.interface import Interface, implementer

#: Outcomes a delivery attempt may be counted as: "delayed" (will retry) or the
#: event of the message's retirement (store ``Retirement.event``).
DELIVERY_OUTCOMES = ("delivered", "failed", "delayed", "suppressed", "canceled")

#: Verbs counted under their own label; anything else a client sends counts as
#: "other", so a client cannot grow the label set without bound.
SMTP_VERBS = frozenset(
    {
        # RFC 5321 §4.1.1
        "HELO",
        "EHLO",
        "MAIL",
        "RCPT",
        "DATA",
        "RSET",
        "VRFY",
        "EXPN",
        "HELP",
        "NOOP",
        "QUIT",
        # RFC 3207 (STARTTLS), RFC 4954 (AUTH), RFC 3030 (BDAT)
        "STARTTLS",
        "AUTH",
        "BDAT",
    }
)

#: Store commit durations worth telling apart: an fsync here costs about 2 ms.
COMMIT_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


def smtp_verb_label(verb: str) -> str:
    """The label value counted for an SMTP command verb: upper-cased, or "other"."""
    upper = verb.upper()
    return upper if upper in SMTP_VERBS else "other"


def _check_delivery_outcome(outcome: str) -> None:
    if outcome not in DELIVERY_OUTCOMES:
        raise ValueError(
            f"unknown delivery outcome {outcome!r}, expected one of {DELIVERY_OUTCOMES}"
        )


class IMetrics(Interface):
    """What mailtwist reports about its work. Calls are cheap and never block."""

    def smtp_connection(listener: str) -> None:
        """An SMTP connection was accepted on the named listener."""

    def smtp_command(listener: str, verb: str) -> None:
        """An SMTP command arrived on the named listener (any verb, even unknown)."""

    def delivery(outcome: str) -> None:
        """A delivery attempt ended: one of DELIVERY_OUTCOMES (unknown: ValueError)."""

    def queue_size(n: int) -> None:
        """The queue now holds ``n`` messages."""

    def store_commit(seconds: float, jobs: int) -> None:
        """A store transaction committed ``jobs`` pieces of work in ``seconds``."""


@implementer(IMetrics)
class NullMetrics:
    """Metrics that go nowhere; checks its arguments like the real thing."""

    def smtp_connection(self, listener: str) -> None:
        pass

    def smtp_command(self, listener: str, verb: str) -> None:
        pass

    def delivery(self, outcome: str) -> None:
        _check_delivery_outcome(outcome)

    def queue_size(self, n: int) -> None:
        if n < 0:
            raise ValueError(f"negative queue size {n}")

    def store_commit(self, seconds: float, jobs: int) -> None:
        if seconds < 0 or jobs < 0:
            raise ValueError(f"negative store commit figures: {seconds}s, {jobs} jobs")


@implementer(IMetrics)
class RecordingMetrics(NullMetrics):
    """A fake for tests: checks arguments and records each call as a tuple.

    ``calls`` holds e.g. ``("smtp_command", "smtp", "EHLO")``, in call order.
    """

    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def smtp_connection(self, listener: str) -> None:
        self.calls.append(("smtp_connection", listener))

    def smtp_command(self, listener: str, verb: str) -> None:
        self.calls.append(("smtp_command", listener, verb))

    def delivery(self, outcome: str) -> None:
        super().delivery(outcome)
        self.calls.append(("delivery", outcome))

    def queue_size(self, n: int) -> None:
        super().queue_size(n)
        self.calls.append(("queue_size", n))

    def store_commit(self, seconds: float, jobs: int) -> None:
        super().store_commit(seconds, jobs)
        self.calls.append(("store_commit", seconds, jobs))


@implementer(IMetrics)
class PrometheusMetrics(NullMetrics):
    """Metrics kept in a private Prometheus registry, exposed by ``resource()``.

    The registry is never prometheus_client's global one, so two instances (two
    services in one test process) do not collide.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True) if registry is None else registry
        self._connections = Counter(
            "mailtwist_smtp_connections",
            "SMTP connections accepted.",
            ["listener"],
            registry=self.registry,
        )
        self._commands = Counter(
            "mailtwist_smtp_commands",
            "SMTP commands received, by verb (unknown verbs as other).",
            ["listener", "verb"],
            registry=self.registry,
        )
        self._deliveries = Counter(
            "mailtwist_deliveries",
            "Delivery attempts by outcome.",
            ["outcome"],
            registry=self.registry,
        )
        self._queue_size = Gauge(
            "mailtwist_queue_size", "Messages in the queue.", registry=self.registry
        )
        self._commit_seconds = Histogram(
            "mailtwist_store_commit_seconds",
            "Duration of store commits.",
            buckets=COMMIT_BUCKETS,
            registry=self.registry,
        )
        self._commit_jobs = Counter(
            "mailtwist_store_commit_jobs",
            "Pieces of work committed by store transactions.",
            registry=self.registry,
        )
        # Outcomes exist from the start, so a rate() over them is never "no data".
        for outcome in DELIVERY_OUTCOMES:
            self._deliveries.labels(outcome=outcome)

    def smtp_connection(self, listener: str) -> None:
        self._connections.labels(listener=listener).inc()

    def smtp_command(self, listener: str, verb: str) -> None:
        self._commands.labels(listener=listener, verb=smtp_verb_label(verb)).inc()

    def delivery(self, outcome: str) -> None:
        _check_delivery_outcome(outcome)
        self._deliveries.labels(outcome=outcome).inc()

    def queue_size(self, n: int) -> None:
        super().queue_size(n)
        self._queue_size.set(n)

    def store_commit(self, seconds: float, jobs: int) -> None:
        super().store_commit(seconds, jobs)
        self._commit_seconds.observe(seconds)
        self._commit_jobs.inc(jobs)

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """The registry's samples and their content type, negotiated from ``accept``."""
        encoder, content_type = choose_encoder(accept)
        return encoder(self.registry), content_type

    def resource(self) -> Resource:
        """A twisted.web resource answering GET with the Prometheus exposition."""
        return MetricsPage(self)


class MetricsPage(Resource):
    """Serves one PrometheusMetrics' samples; synchronous, as rendering is cheap.

    prometheus_client's own twisted ``MetricsResource`` runs a WSGI app on the
    global reactor's thread pool; this one stays on the reactor thread and needs
    neither, so it renders under a DummyRequest in tests.
    """

    isLeaf = True

    def __init__(self, metrics: PrometheusMetrics) -> None:
        super().__init__()
        self._metrics = metrics

    def render_GET(self, request: Request) -> bytes:
        accept = request.getHeader(b"accept")
        accept_text = accept.decode("latin-1") if isinstance(accept, bytes) else (accept or "")
        body, content_type = self._metrics.exposition(accept_text)
        request.setHeader(b"content-type", content_type.encode("ascii"))
        return body


__all__ = [
    "DELIVERY_OUTCOMES",
    "SMTP_VERBS",
    "IMetrics",
    "MetricsPage",
    "NullMetrics",
    "PrometheusMetrics",
    "RecordingMetrics",
    "smtp_verb_label",
]
