"""Tests for the webapi transport: paths, auth, limiter, forms and error answers (spec §1)."""

from __future__ import annotations

import json
import urllib.parse

from twisted.internet.defer import Deferred, fail
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.webapi import METHODS
from tests.webapi.fakes import PASSWORD, Harness, make_config

SAFE = {
    "X-Frame-Options": "deny",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'self' 'unsafe-inline' data:",
    "Referrer-Policy": "same-origin",
}
SIMPLE = {"To": [{"Address": "mox@localhost"}], "Text": "hi"}


class PathTests(SynchronousTestCase):
    """Paths below the base answer exactly as mox's (spec §1.1), with the safe headers."""

    def setUp(self) -> None:
        self.webapi = Harness()

    def assertSafe(self, response: object) -> None:
        for name, value in SAFE.items():
            self.assertEqual(response.header(name), value, name)  # type: ignore[attr-defined]

    def test_base_without_slash(self) -> None:
        """Any method on /webapi is 303 to /webapi/."""
        for method in ("GET", "POST"):
            response = self.webapi.request(method, "/webapi")
            self.assertEqual((response.code, response.header("Location")), (303, "/webapi/"))
            self.assertSafe(response)

    def test_base_redirects_to_v0(self) -> None:
        """GET /webapi/ is 303 to /webapi/v0/; other methods 405 (sic)."""
        response = self.webapi.request("GET", "/webapi/")
        self.assertEqual((response.code, response.header("Location")), (303, "/webapi/v0/"))
        response = self.webapi.request("POST", "/webapi/")
        self.assertEqual((response.code, response.body), (405, b"405 - method not allow\n"))
        self.assertSafe(response)

    def test_index_lists_methods(self) -> None:
        """/webapi/v0/ is an HTML page linking every method, in mox's order."""
        response = self.webapi.request("GET", "/webapi/v0/")
        self.assertEqual(response.code, 200)
        self.assertEqual(response.header("Content-Type"), "text/html; charset=utf-8")
        positions = [response.body.index(f'href="{name}"'.encode()) for name in METHODS]
        self.assertEqual(positions, sorted(positions))
        self.assertSafe(response)

    def test_method_page_without_auth(self) -> None:
        """GET on a method is its try-it page, with an example, no login needed."""
        for name in METHODS:
            response = self.webapi.request("GET", f"/webapi/v0/{name}")
            self.assertEqual(response.code, 200, name)
            self.assertIn(b'name="request"', response.body)
        raw = self.webapi.request("GET", "/webapi/v0/MessageRawGet")
        self.assertIn(b"non-JSON response", raw.body)

    def test_not_found(self) -> None:
        """Unknown methods and paths outside v0 are 404 as plain text."""
        for path in ("/webapi/v0/NoSuchMethod", "/webapi/v1/", "/webapi/v0", "/webapi/v0/Send/x"):
            response = self.webapi.request("POST", path)
            self.assertEqual((response.code, response.body), (404, b"404 page not found\n"), path)
            self.assertSafe(response)

    def test_not_utf8_path_not_found(self) -> None:
        """A path with a percent-escape that is not UTF-8 is the plain 404, not Klein's
        400, and logs no traceback."""
        for method in ("GET", "POST"):
            for path in ("/webapi/v0/%ff", "/webapi/v0/Send%ff", "/webapi/%ff/v0/", "/webapi/%c3"):
                response = self.webapi.request(method, path)
                self.assertEqual((response.code, response.body), (404, b"404 page not found\n"))
                self.assertEqual(response.header("Content-Type"), "text/plain; charset=utf-8")
                self.assertSafe(response)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_not_utf8_host(self) -> None:
        """A Host header that is not UTF-8 is Go's plain 400, and logs no traceback."""
        response = self.webapi.request(
            "GET",
            "/webapi/v0/",
            headers={"Host": b"\xff.example"},  # type: ignore[dict-item]
        )
        self.assertEqual(
            (response.code, response.body), (400, b"400 Bad Request: malformed Host header")
        )
        self.assertSafe(response)
        self.assertEqual(self.flushLoggedErrors(), [])

    def test_other_http_methods(self) -> None:
        """PUT or DELETE on a method is 405."""
        for method in ("PUT", "DELETE"):
            response = self.webapi.request(method, "/webapi/v0/Send")
            self.assertEqual(response.code, 405)
            self.assertEqual(response.body, b"405 - method not allowed - use get or post\n")

    def test_openapi_document(self) -> None:
        """GET /webapi/v0/openapi.json is the OpenAPI 3.1 document with every method."""
        response = self.webapi.request("GET", "/webapi/v0/openapi.json")
        self.assertEqual(response.code, 200)
        document = response.json
        self.assertEqual(document["openapi"], "3.1.0")
        self.assertEqual(set(document["paths"]), {f"/v0/{name}" for name in METHODS})
        self.assertEqual(document["servers"], [{"url": "/webapi"}])


class AuthTests(SynchronousTestCase):
    """HTTP basic auth with any address of the account; failures feed the limiter (spec §1.3)."""

    def setUp(self) -> None:
        self.webapi = Harness()

    def post(self, headers: dict[str, str]) -> object:
        body = urllib.parse.urlencode({"request": json.dumps(SIMPLE)}).encode()
        return self.webapi.request(
            "POST",
            "/webapi/v0/Send",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
        )

    def test_missing_auth(self) -> None:
        """No Authorization: 401 with WWW-Authenticate, not counted as a failure."""
        for _ in range(20):
            response = self.post({})
            self.assertEqual(response.code, 401)  # type: ignore[attr-defined]
        self.assertEqual(response.header("WWW-Authenticate"), "Basic realm=webapi")  # type: ignore[attr-defined]
        self.assertEqual(
            response.body,  # type: ignore[attr-defined]
            b"401 - unauthorized - use http basic auth with email address as username\n",
        )
        self.assertEqual(self.webapi.authenticator.checked, [])
        self.assertTrue(self.webapi.limiter.allowed("127.0.0.1"))

    def test_unparsable_auth(self) -> None:
        """A non-Basic scheme or bad base64 is 401 without a password check."""
        for value in ("Bearer x", "Basic !!!", "Basic " + "bm9jb2xvbg=="):
            response = self.post({"Authorization": value})
            self.assertEqual(response.code, 401, value)  # type: ignore[attr-defined]
        self.assertEqual(self.webapi.authenticator.checked, [])

    def test_wrong_password_counts(self) -> None:
        """Wrong passwords are 401; after 10 in a minute the /32 gets 429 (spec §1.5)."""
        for _ in range(10):
            response = self.webapi.call("Send", SIMPLE, password="wrong")
            self.assertEqual(response.code, 401)
        response = self.webapi.call("Send", SIMPLE, password="wrong")
        self.assertEqual((response.code, response.body), (429, b"429 - too many auth attempts\n"))
        # Even the right password waits for the window to pass.
        self.assertEqual(self.webapi.call("Send", SIMPLE).code, 429)
        self.webapi.clock.advance(60)
        self.assertEqual(self.webapi.call("Send", SIMPLE).code, 200)

    def test_parallel_logins(self) -> None:
        """Logins checked in parallel: of 15 wrong ones 10 are answered 401 and the
        rest 429, and a right one that finishes after them gets 429 too, so a burst
        of guesses learns only as many results as the limit allows (spec §1.5); 20
        right ones in parallel (a client's connection pool) all get in."""
        checks: list[Deferred[str | None]] = []

        def slow(login: str, password: str) -> Deferred[str | None]:
            checks.append(Deferred())
            return checks[-1]

        self.webapi.authenticator.check_password = slow  # type: ignore[method-assign]
        right = [self.webapi.start_call("SuppressionList", {}) for _ in range(20)]
        for check in checks:
            check.callback("mox")
        self.webapi.client.flush()  # type: ignore[attr-defined]
        self.assertEqual({self.successResultOf(answer).code for answer in right}, {200})
        checks.clear()
        wrong = [self.webapi.start_call("SuppressionList", {}, password="wrong") for _ in range(15)]
        late = self.webapi.start_call("SuppressionList", {})
        self.assertEqual(len(checks), 16)
        for check in checks[:15]:
            check.callback(None)
        checks[15].callback("mox")
        self.webapi.client.flush()  # type: ignore[attr-defined]
        codes = sorted(self.successResultOf(answer).code for answer in wrong)
        self.assertEqual(codes, [401] * 10 + [429] * 5)
        self.assertEqual(self.successResultOf(late).code, 429)

    def test_success_forgives_failures(self) -> None:
        """A successful login subtracts the address's failures (spec §1.5)."""
        for _ in range(9):
            self.webapi.call("SuppressionList", {}, password="wrong")
        self.assertEqual(self.webapi.call("SuppressionList", {}).code, 200)
        for _ in range(10):
            response = self.webapi.call("SuppressionList", {}, password="wrong")
            self.assertEqual(response.code, 401)

    def test_catchall_login(self) -> None:
        """A catchall variant of the account's address logs in too."""
        response = self.webapi.call("SuppressionList", {}, login="mox+anything@localhost")
        self.assertEqual(response.code, 200)

    def test_unknown_login(self) -> None:
        """An address of no account is 401 like a wrong password."""
        response = self.webapi.call("SuppressionList", {}, login="nobody@localhost")
        self.assertEqual(response.code, 401)

    def test_credential_check_breaks(self) -> None:
        """An internal error checking credentials is code server, never a traceback."""

        def broken(login: str, password: str) -> Deferred[str | None]:
            return fail(RuntimeError("database is gone"))

        self.webapi.authenticator.check_password = broken  # type: ignore[method-assign]
        response = self.webapi.call("SuppressionList", {})
        self.assertEqual(response.code, 400)
        self.assertEqual(
            response.json, {"Code": "server", "Message": "error verifying credentials"}
        )
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)


class RequestFormTests(SynchronousTestCase):
    """The request JSON comes from a form field (or a JSON body); bad ones are code protocol."""

    def setUp(self) -> None:
        self.webapi = Harness()

    def post(self, body: bytes, content_type: str | None) -> object:
        headers = {} if content_type is None else {"Content-Type": content_type}
        return self.webapi.request(
            "POST",
            "/webapi/v0/SuppressionList",
            data=body,
            headers=headers,
            auth=("mox@localhost", PASSWORD),
        )

    def assertProtocol(self, response: object, message: str) -> None:
        self.assertEqual(response.code, 400)  # type: ignore[attr-defined]
        self.assertEqual(
            response.header("Content-Type"),  # type: ignore[attr-defined]
            "application/json; charset=utf-8",
        )
        self.assertEqual(response.json, {"Code": "protocol", "Message": message})  # type: ignore[attr-defined]

    def test_urlencoded(self) -> None:
        """The mox client's form: request=<json>."""
        response = self.post(b"request=%7B%7D", "application/x-www-form-urlencoded")
        self.assertEqual((response.code, response.body), (200, b'{"Suppressions":[]}\n'))  # type: ignore[attr-defined]

    def test_multipart(self) -> None:
        """A multipart/form-data body with the request field."""
        body = b'--b\r\nContent-Disposition: form-data; name="request"\r\n\r\n{}\r\n--b--\r\n'
        response = self.post(body, "multipart/form-data; boundary=b")
        self.assertEqual(response.code, 200)  # type: ignore[attr-defined]

    def test_json_body_extension(self) -> None:
        """mailtwist extension: the JSON request as an application/json body."""
        response = self.post(b"{}", "application/json")
        self.assertEqual(response.code, 200)  # type: ignore[attr-defined]

    def test_missing_content_type(self) -> None:
        """No Content-Type is code protocol naming it."""
        self.assertProtocol(self.post(b"request=%7B%7D", None), "unknown content-type ")

    def test_bad_content_type(self) -> None:
        """An unparsable Content-Type is code protocol."""
        self.assertProtocol(self.post(b"x", "non sense"), "unknown content-type non sense")

    def test_content_type_forms(self) -> None:
        """The media type is matched case-insensitively with parameters and blanks around
        it; what Go's mime.ParseMediaType refuses, parameters included, is refused."""
        body = b"request=%7B%7D"
        for good in (
            "Application/X-WWW-Form-Urlencoded",
            "application/x-www-form-urlencoded; charset=utf-8",
            " application/x-www-form-urlencoded ;charset=utf-8",
            "application/x-www-form-urlencoded; charset=utf-8;",
            'application/x-www-form-urlencoded; a="b \\" c"; A="b \\" c"',
        ):
            self.assertEqual(self.post(body, good).code, 200, good)  # type: ignore[attr-defined]
        for bad in (
            "a/b/c",
            "a/",
            "/b",
            "a b/c",
            "application/x-www-form-urlencoded; ;;;",
            "application/x-www-form-urlencoded;;",
            "application/x-www-form-urlencoded; charset",
            "application/x-www-form-urlencoded; charset=",
            'application/x-www-form-urlencoded; charset="utf-8',
            "application/x-www-form-urlencoded; a=1; a=2",
            "application/x-www-form-urlencoded; a=1 b=2",
        ):
            self.assertProtocol(self.post(body, bad), f"unknown content-type {bad}")

    def test_other_content_type_is_an_empty_form(self) -> None:
        """A body of another media type is not read as a form: as in mox (Go's ParseForm),
        the request field is missing."""
        body = b"request=%7B%7D"
        for other in ("text/plain", "application/octet-stream", "text", "application/json{"):
            self.assertProtocol(self.post(body, other), "missing/empty request")

    def test_missing_request(self) -> None:
        """A form without request (or an empty one) is missing/empty request."""
        for body in (b"other=1", b"request=", b""):
            self.assertProtocol(
                self.post(body, "application/x-www-form-urlencoded"), "missing/empty request"
            )

    def test_request_from_query_ignored(self) -> None:
        """request in the URL query does not count: only the POST body (spec §1.3 step 7)."""
        response = self.webapi.request(
            "POST",
            "/webapi/v0/SuppressionList?request=%7B%7D",
            data=b"",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=("mox@localhost", PASSWORD),
        )
        self.assertProtocol(response, "missing/empty request")

    def test_bad_json(self) -> None:
        """Unknown fields, wrong types and garbage: parsing request: ..."""
        response = self.post(b"request=%7B%22Bogus%22%3A1%7D", "application/x-www-form-urlencoded")
        self.assertProtocol(response, 'parsing request: json: unknown field "Bogus"')
        response = self.post(b"request=%5B%5D", "application/x-www-form-urlencoded")
        self.assertEqual(response.json["Code"], "protocol")  # type: ignore[attr-defined]

    def test_not_utf8(self) -> None:
        """A body that is not UTF-8 is code protocol, not a traceback."""
        response = self.post(b"request=\xff\xfe", "application/x-www-form-urlencoded")
        self.assertEqual(response.json["Code"], "protocol")  # type: ignore[attr-defined]
        response = self.post(b"\xff", "application/json")
        self.assertEqual(response.json["Code"], "protocol")  # type: ignore[attr-defined]


class SizeTests(SynchronousTestCase):
    """Bodies larger than the maximum message size are refused before being parsed."""

    def test_too_large(self) -> None:
        """Content-Length above max_message_size plus slack is 413, even without auth."""
        webapi = Harness(config=make_config(max_message_size=1000))
        body = b"request=" + b"x" * 200_000
        response = webapi.request(
            "POST",
            "/webapi/v0/Send",
            data=body,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        self.assertEqual(response.code, 413)
        self.assertEqual(webapi.submitted, [])

    def test_composed_too_large(self) -> None:
        """A message that composes larger than the maximum is messageTooLarge."""
        webapi = Harness(config=make_config(max_message_size=1000))
        response = webapi.call("Send", {**SIMPLE, "Text": "x" * 2000})
        self.assertEqual(response.json["Code"], "messageTooLarge")
        self.assertEqual(webapi.submitted, [])

    def test_content_too_large_refused_before_composing(self) -> None:
        """A Text larger than the maximum message size is messageTooLarge without being
        composed (no compose on the thread pool)."""
        webapi = Harness(config=make_config(max_message_size=300 * 1024))
        response = webapi.call("Send", {**SIMPLE, "Text": "x" * (310 * 1024)})
        self.assertEqual(response.json, {"Code": "messageTooLarge", "Message": "message too large"})
        self.assertEqual(webapi.in_thread, ["_parse_request"])
        self.assertEqual(webapi.submitted, [])


class FailureTests(SynchronousTestCase):
    """A failing collaborator gives code server, never a traceback in the response."""

    def test_store_failure(self) -> None:
        """A store error in a method is 400 server "unhandled error", logged."""
        webapi = Harness()
        webapi.store.fail_next("suppressions", RuntimeError("disk on fire"))
        response = webapi.call("SuppressionList", {})
        self.assertEqual(response.code, 400)
        self.assertEqual(response.json, {"Code": "server", "Message": "unhandled error"})
        self.assertNotIn(b"disk on fire", response.body)
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)

    def test_queue_failure(self) -> None:
        """A failing submit is code server and nothing is recorded as sent."""
        webapi = Harness()
        webapi.submit = lambda message: fail(RuntimeError("queue broken"))  # type: ignore[method-assign]
        response = webapi.call("Send", SIMPLE)
        self.assertEqual(response.json["Code"], "server")
        self.assertEqual(len(self.flushLoggedErrors(RuntimeError)), 1)
