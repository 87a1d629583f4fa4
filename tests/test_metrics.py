"""Tests for mailtwist.metrics: the interface, the null and the Prometheus implementations."""

from __future__ import annotations

from prometheus_client import REGISTRY
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.error import UnsupportedMethod
from twisted.web.test.requesthelper import DummyRequest
from zope.interface.verify import verifyObject

from mailtwist.metrics import (
    IMetrics,
    NullMetrics,
    PrometheusMetrics,
    RecordingMetrics,
    smtp_verb_label,
)
from mailtwist.store._interfaces import Retirement


class NullMetricsTests(SynchronousTestCase):
    """NullMetrics."""

    def test_provides(self) -> None:
        """NullMetrics provides IMetrics completely."""
        self.assertTrue(verifyObject(IMetrics, NullMetrics()))

    def test_accepts_everything_valid(self) -> None:
        """Every call with valid arguments is accepted and does nothing."""
        m = NullMetrics()
        m.smtp_connection("submission")
        m.smtp_command("submission", "XYZZY")
        m.delivery("delayed")
        m.queue_size(0)
        m.store_commit(0.002, 3)

    def test_checks_arguments(self) -> None:
        """Invalid arguments are refused as by the real implementation."""
        m = NullMetrics()
        self.assertRaises(ValueError, m.delivery, "bounced")
        self.assertRaises(ValueError, m.queue_size, -1)
        self.assertRaises(ValueError, m.store_commit, -0.1, 1)
        self.assertRaises(ValueError, m.store_commit, 0.1, -1)


class RecordingMetricsTests(SynchronousTestCase):
    """RecordingMetrics, the fake for other parts' tests."""

    def test_records_in_order(self) -> None:
        """Each call is recorded as a tuple, in call order, and it provides IMetrics."""
        m = RecordingMetrics()
        self.assertTrue(verifyObject(IMetrics, m))
        m.smtp_connection("smtp")
        m.smtp_command("smtp", "ehlo")
        m.delivery("delivered")
        m.queue_size(2)
        m.store_commit(0.5, 2)
        self.assertEqual(
            m.calls,
            [
                ("smtp_connection", "smtp"),
                ("smtp_command", "smtp", "ehlo"),
                ("delivery", "delivered"),
                ("queue_size", 2),
                ("store_commit", 0.5, 2),
            ],
        )

    def test_checks_arguments(self) -> None:
        """Invalid arguments are refused and not recorded."""
        m = RecordingMetrics()
        self.assertRaises(ValueError, m.delivery, "gone")
        self.assertRaises(ValueError, m.queue_size, -1)
        self.assertEqual(m.calls, [])


class PrometheusMetricsTests(SynchronousTestCase):
    """PrometheusMetrics."""

    def setUp(self) -> None:
        self.metrics = PrometheusMetrics()

    def value(self, name: str, labels: dict[str, str] | None = None) -> float | None:
        return self.metrics.registry.get_sample_value(name, labels or {})

    def test_provides(self) -> None:
        """PrometheusMetrics provides IMetrics completely."""
        self.assertTrue(verifyObject(IMetrics, self.metrics))

    def test_private_registry(self) -> None:
        """Two instances coexist and neither registers in the global registry."""
        other = PrometheusMetrics()
        self.metrics.smtp_connection("smtp")
        self.assertEqual(
            other.registry.get_sample_value(
                "mailtwist_smtp_connections_total", {"listener": "smtp"}
            ),
            None,
        )
        self.assertIsNone(REGISTRY.get_sample_value("mailtwist_queue_size"))

    def test_connections_count(self) -> None:
        """Connections are counted per listener."""
        self.metrics.smtp_connection("smtp")
        self.metrics.smtp_connection("smtp")
        self.metrics.smtp_connection("submission")
        name = "mailtwist_smtp_connections_total"
        self.assertEqual(self.value(name, {"listener": "smtp"}), 2.0)
        self.assertEqual(self.value(name, {"listener": "submission"}), 1.0)

    def test_commands_bounded_labels(self) -> None:
        """Known verbs count under their upper-cased name, unknown ones under "other"."""
        for verb in ("ehlo", "MAIL", "rcpt", "XEXCH50", "GET", "ZZZ"):
            self.metrics.smtp_command("smtp", verb)
        name = "mailtwist_smtp_commands_total"
        self.assertEqual(self.value(name, {"listener": "smtp", "verb": "EHLO"}), 1.0)
        self.assertEqual(self.value(name, {"listener": "smtp", "verb": "RCPT"}), 1.0)
        self.assertEqual(self.value(name, {"listener": "smtp", "verb": "other"}), 3.0)
        self.assertIsNone(self.value(name, {"listener": "smtp", "verb": "GET"}))

    def test_verb_label(self) -> None:
        """smtp_verb_label maps verbs to the bounded label set."""
        self.assertEqual(smtp_verb_label("starttls"), "STARTTLS")
        self.assertEqual(smtp_verb_label("BDAT"), "BDAT")
        self.assertEqual(smtp_verb_label("a" * 1000), "other")
        self.assertEqual(smtp_verb_label(""), "other")

    def test_deliveries(self) -> None:
        """Deliveries count per outcome; all outcomes exist at zero; unknown ones are refused."""
        name = "mailtwist_deliveries_total"
        self.assertEqual(self.value(name, {"outcome": "failed"}), 0.0)
        self.metrics.delivery("delivered")
        self.metrics.delivery("delayed")
        self.metrics.delivery("delayed")
        self.assertEqual(self.value(name, {"outcome": "delivered"}), 1.0)
        self.assertEqual(self.value(name, {"outcome": "delayed"}), 2.0)
        self.assertRaises(ValueError, self.metrics.delivery, "lost")

    def test_retirement_events_are_outcomes(self) -> None:
        """Every event a message can retire with is a countable outcome."""
        for event in ("delivered", "failed", "suppressed", "canceled"):
            Retirement(success=event == "delivered", event=event, keep_until=None)
            self.metrics.delivery(event)
            self.assertEqual(self.value("mailtwist_deliveries_total", {"outcome": event}), 1.0)

    def test_queue_size(self) -> None:
        """The queue size gauge follows the last value reported."""
        self.metrics.queue_size(7)
        self.metrics.queue_size(3)
        self.assertEqual(self.value("mailtwist_queue_size"), 3.0)
        self.assertRaises(ValueError, self.metrics.queue_size, -2)

    def test_store_commit(self) -> None:
        """Commits feed the duration histogram and the jobs counter."""
        self.metrics.store_commit(0.0015, 4)
        self.metrics.store_commit(0.3, 1)
        self.assertEqual(self.value("mailtwist_store_commit_seconds_count"), 2.0)
        self.assertAlmostEqual(self.value("mailtwist_store_commit_seconds_sum") or 0, 0.3015)
        self.assertEqual(self.value("mailtwist_store_commit_seconds_bucket", {"le": "0.002"}), 1.0)
        self.assertEqual(self.value("mailtwist_store_commit_jobs_total"), 5.0)

    def test_exposition_text(self) -> None:
        """The text exposition names every metric with its current values."""
        self.metrics.smtp_connection("smtp")
        self.metrics.smtp_command("smtp", "QUIT")
        self.metrics.queue_size(12)
        body, content_type = self.metrics.exposition()
        self.assertTrue(content_type.startswith("text/plain"))
        text = body.decode("utf-8")
        self.assertIn('mailtwist_smtp_connections_total{listener="smtp"} 1.0', text)
        self.assertIn('mailtwist_smtp_commands_total{listener="smtp",verb="QUIT"} 1.0', text)
        self.assertIn('mailtwist_deliveries_total{outcome="delivered"} 0.0', text)
        self.assertIn("mailtwist_queue_size 12.0", text)
        self.assertIn("# TYPE mailtwist_store_commit_seconds histogram", text)
        self.assertIn("mailtwist_store_commit_jobs_total 0.0", text)

    def test_resource_renders(self) -> None:
        """The resource answers a GET with the exposition and its content type."""
        self.metrics.delivery("failed")
        request = DummyRequest([b""])
        body = self.metrics.resource().render(request)
        self.assertIsInstance(body, bytes)
        self.assertIn(b'mailtwist_deliveries_total{outcome="failed"} 1.0', body)
        ct = request.responseHeaders.getRawHeaders(b"content-type")
        self.assertEqual(ct, [b"text/plain; version=0.0.4; charset=utf-8"])

    def test_resource_openmetrics(self) -> None:
        """A scraper asking for OpenMetrics gets that format."""
        request = DummyRequest([b""])
        request.requestHeaders.setRawHeaders(b"accept", [b"application/openmetrics-text"])
        body = self.metrics.resource().render(request)
        self.assertTrue(body.endswith(b"# EOF\n"))
        ct = request.responseHeaders.getRawHeaders(b"content-type", [b""])[0]
        self.assertTrue(ct.startswith(b"application/openmetrics-text"))

    def test_resource_refuses_post(self) -> None:
        """Other methods raise UnsupportedMethod, which twisted.web answers with 405."""
        request = DummyRequest([b""])
        request.method = b"POST"
        self.assertRaises(UnsupportedMethod, self.metrics.resource().render, request)
