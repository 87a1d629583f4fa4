"""The OpenAPI document describes the webapi: schemathesis finds no server error or violation."""

from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

from twisted.internet import reactor
from twisted.internet.defer import Deferred, inlineCallbacks
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SkipTest, SynchronousTestCase, TestCase
from twisted.web.server import Site

from mailtwist.webapi import METHODS, webapi_request_factory
from mailtwist.webapi.openapi import document
from tests.webapi.fakes import PASSWORD, Harness


class DocumentTests(SynchronousTestCase):
    """The document has every method with its request, result and error schemas."""

    def test_every_method(self) -> None:
        """Each method is a POST with form, multipart and JSON bodies and its answers."""
        doc = document()
        for name, (_, result) in METHODS.items():
            operation = doc["paths"][f"/v0/{name}"]["post"]
            self.assertEqual(operation["operationId"], name)
            content = operation["requestBody"]["content"]
            self.assertEqual(
                set(content),
                {"application/x-www-form-urlencoded", "multipart/form-data", "application/json"},
            )
            self.assertEqual(set(operation["responses"]), {"200", "400", "401", "413", "429"})
            success = operation["responses"]["200"]["content"]
            if result is bytes:
                self.assertNotIn("application/json", success)
            else:
                self.assertIn("$ref", success["application/json"]["schema"])

    def test_base_path(self) -> None:
        """The server URL follows the configured base path."""
        self.assertEqual(document("/api/mail/")["servers"], [{"url": "/api/mail"}])

    def test_records_are_closed(self) -> None:
        """Unknown fields are refused, so every object schema says so."""
        for name, schema in document()["components"]["schemas"].items():
            self.assertIs(schema.get("additionalProperties"), False, name)


class SchemathesisTests(TestCase):
    """schemathesis against the webapi served on loopback: no 5xx, no schema violation."""

    timeout = 120

    @inlineCallbacks
    def test_schemathesis(self) -> Any:
        """Examples, coverage and fuzzing phases pass the conformance checks."""
        if importlib.util.find_spec("schemathesis") is None:
            raise SkipTest("schemathesis is not installed (pip install schemathesis)")
        webapi = Harness()
        site = Site(
            webapi.root,
            requestFactory=webapi_request_factory(webapi.config.max_message_size),
            parsePOSTFormSubmission=False,
        )
        port = reactor.listenTCP(0, site, interface="127.0.0.1")  # type: ignore[attr-defined,arg-type]
        self.addCleanup(port.stopListening)
        workdir = self.mktemp()
        os.makedirs(workdir)
        url = f"http://127.0.0.1:{port.getHost().port}/webapi/v0/openapi.json"  # type: ignore[attr-defined]
        run: Deferred[tuple[bytes, bytes, int]] = getProcessOutputAndValue(
            sys.executable,
            [
                "-m",
                "schemathesis.cli",
                "run",
                url,
                "--auth",
                f"mox@localhost:{PASSWORD}",
                "--checks",
                "not_a_server_error,response_schema_conformance,"
                "status_code_conformance,content_type_conformance",
                "--max-examples",
                "25",
                "--seed",
                "20261128",
                "--workers",
                "1",
                "--warnings",
                "off",
            ],
            env={**os.environ, "NO_COLOR": "1"},
            path=workdir,
        )
        out, err, code = yield run
        self.assertEqual(code, 0, (out[-6000:] + err[-2000:]).decode("utf-8", "replace"))
