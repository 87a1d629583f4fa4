"""Tests for DKIM verification through an injected TXT lookup and CPU runner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import dkim
from twisted.internet.defer import Deferred, fail, maybeDeferred, succeed
from twisted.trial.unittest import SynchronousTestCase, TestCase

from mailtwist.dkim.keys import (
    dkim_dns_value,
    dkimpy_private_key,
    generate_ed25519_key,
    generate_rsa_key,
)
from mailtwist.dkim.verify import key_names, verify_dkim

_ED25519 = generate_ed25519_key()
_RSA = generate_rsa_key(2048)

MESSAGE = (
    b"From: Sender <sender@example.com>\r\n"
    b"To: rcpt@example.org\r\n"
    b"Subject: hello\r\n"
    b"\r\n"
    b"Hello there.\r\n"
)


def _sign(message: bytes, domain: str, selector: str, pem: bytes) -> bytes:
    algorithm = b"ed25519-sha256" if pem == _ED25519 else b"rsa-sha256"
    signature = dkim.sign(
        message,
        selector.encode(),
        domain.encode(),
        dkimpy_private_key(pem),
        canonicalize=(b"relaxed", b"relaxed"),
        signature_algorithm=algorithm,
        include_headers=[b"from", b"to", b"subject"],
    )
    return signature + message


class FakeTXT:
    """A TXT lookup answering from a table; names not in it fail like NXDOMAIN."""

    def __init__(self, records: dict[str, list[bytes]]) -> None:
        self.records = records
        self.asked: list[str] = []

    def __call__(self, name: str) -> Deferred[list[bytes]]:
        self.asked.append(name)
        if name not in self.records:
            return fail(LookupError(f"no TXT records for {name}"))
        return succeed(self.records[name])


def _inline(function: Callable[..., Any], *args: Any) -> Deferred[Any]:
    return maybeDeferred(function, *args)


def _key(selector: str, domain: str, pem: bytes) -> dict[str, list[bytes]]:
    return {f"{selector}._domainkey.{domain}": [dkim_dns_value(pem).encode()]}


class VerifyTests(SynchronousTestCase):
    def _verify(self, message: bytes, lookup: FakeTXT) -> list[str]:
        return self.successResultOf(verify_dkim(message, lookup, runner=_inline))

    def test_ed25519_and_rsa(self) -> None:
        """Ed25519 and RSA signatures verify against keys served by the fake DNS."""
        for selector, pem in (("ed", _ED25519), ("rsa", _RSA)):
            lookup = FakeTXT(_key(selector, "example.com", pem))
            signed = _sign(MESSAGE, "example.com", selector, pem)
            self.assertEqual(self._verify(signed, lookup), ["example.com"])
            self.assertEqual(lookup.asked, [f"{selector}._domainkey.example.com"])

    def test_several_domains(self) -> None:
        """Every verifying signing domain is listed once."""
        signed = _sign(MESSAGE, "example.com", "ed", _ED25519)
        signed = _sign(signed, "example.com", "rsa", _RSA)
        signed = _sign(signed, "esp.example.net", "k1", _ED25519)
        records = {
            **_key("ed", "example.com", _ED25519),
            **_key("rsa", "example.com", _RSA),
            **_key("k1", "esp.example.net", _ED25519),
        }
        self.assertEqual(
            sorted(self._verify(signed, FakeTXT(records))), ["esp.example.net", "example.com"]
        )

    def test_tampered_message(self) -> None:
        """A changed body or signed header fails verification."""
        lookup = FakeTXT(_key("ed", "example.com", _ED25519))
        signed = _sign(MESSAGE, "example.com", "ed", _ED25519)
        self.assertEqual(self._verify(signed.replace(b"Hello", b"Jello"), lookup), [])
        self.assertEqual(self._verify(signed.replace(b"hello", b"hullo"), lookup), [])

    def test_wrong_key(self) -> None:
        """A signature checked against another key's record fails."""
        lookup = FakeTXT(_key("ed", "example.com", generate_ed25519_key()))
        self.assertEqual(self._verify(_sign(MESSAGE, "example.com", "ed", _ED25519), lookup), [])

    def test_lookup_failure(self) -> None:
        """A failed or empty TXT lookup fails only that signature, without an error."""
        signed = _sign(MESSAGE, "example.com", "ed", _ED25519)
        signed = _sign(signed, "example.net", "ok", _ED25519)
        lookup = FakeTXT({**_key("ok", "example.net", _ED25519)})
        self.assertEqual(self._verify(signed, lookup), ["example.net"])
        lookup = FakeTXT({"ed._domainkey.example.com": [b"v=spf1 -all"]})
        self.assertEqual(self._verify(_sign(MESSAGE, "example.com", "ed", _ED25519), lookup), [])

    def test_unsigned_and_malformed(self) -> None:
        """No signature, a signature without d=, or a broken header: nothing verified, no DNS."""
        lookup = FakeTXT({})
        self.assertEqual(self._verify(MESSAGE, lookup), [])
        self.assertEqual(self._verify(b"DKIM-Signature: v=1; s=x\r\n" + MESSAGE, lookup), [])
        self.assertEqual(self._verify(b"bad header\r\n\r\nbody", lookup), [])
        self.assertEqual(lookup.asked, [])

    def test_garbage_signature(self) -> None:
        """A signature with d= and s= but nonsense tags is not verified, never an error."""
        lookup = FakeTXT(_key("ed", "example.com", _ED25519))
        garbage = b"DKIM-Signature: v=1; a=rsa-sha256; d=example.com; s=ed; b=@@; bh=!\r\n"
        self.assertEqual(self._verify(garbage + MESSAGE, lookup), [])

    def test_key_names(self) -> None:
        """Key record names are <s>._domainkey.<d>, lower-cased, one per signature in order."""
        signed = _sign(MESSAGE, "Example.COM", "Sel", _ED25519)
        signed = b"DKIM-Signature: v=1; d=bad domain; s=x\r\n" + signed
        self.assertEqual(
            key_names(signed), [("", ""), ("example.com", "sel._domainkey.example.com")]
        )


class ThreadRunnerTests(TestCase):
    def test_default_runner(self) -> Deferred[None]:
        """By default dkimpy runs in a thread and the result comes back on the reactor."""
        lookup = FakeTXT(_key("ed", "example.com", _ED25519))
        signed = _sign(MESSAGE, "example.com", "ed", _ED25519)
        result = verify_dkim(signed, lookup)
        return result.addCallback(self.assertEqual, ["example.com"])
