"""dkimpy's RSA signatures through OpenSSL: the same bytes as dkimpy's own, and in use."""

from __future__ import annotations

import hashlib
from pathlib import Path

import dkim
import dkim.crypto
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.dkim import openssl_rsa
from mailtwist.dkim.keys import dkimpy_private_key, generate_rsa_key
from mailtwist.dkim.sign import DKIMSigner
from tests.dkim.test_sign import _config

_PEM = dkimpy_private_key(generate_rsa_key(2048))


class _Named:
    """A hash object as dkimpy hands it over: name and digest()."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name = name
        self._hash = hashlib.new(name, data)

    def digest(self) -> bytes:
        return self._hash.digest()


class OpenSSLRSATests(SynchronousTestCase):
    """dkimpy signs RSA through OpenSSL once a DKIMSigner exists, with unchanged bytes."""

    def test_same_signature_as_dkimpy(self) -> None:
        """For SHA-256 and SHA-1 the signature is byte for byte dkimpy's own (PKCS#1 v1.5
        is deterministic)."""
        assert openssl_rsa._PURE_PYTHON is not None
        key = dkim.crypto.parse_pem_private_key(_PEM)
        for name in ("sha256", "sha1"):
            for data in (b"", b"header hash input", b"x" * 10_000):
                expected = openssl_rsa._PURE_PYTHON(_Named(name, data), key)
                self.assertEqual(openssl_rsa.sign(_Named(name, data), key), bytes(expected))

    def test_signer_installs_it_and_signatures_verify(self) -> None:
        """A DKIMSigner puts it in dkimpy, and an RSA-signed message verifies."""
        from mailtwist.address import parse_domain
        from tests.dkim.test_sign import MESSAGE, _dns, _records

        keys = (("rsa", generate_rsa_key(2048)),)
        signer = DKIMSigner(_config(Path(self.mktemp()), {"example.com": keys}))
        self.assertIs(dkim.RSASSA_PKCS1_v1_5_sign, openssl_rsa.sign)
        signed = signer.sign(MESSAGE, parse_domain("example.com"))
        self.assertTrue(dkim.verify(signed, dnsfunc=_dns(_records("example.com", keys))))
