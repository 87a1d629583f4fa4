"""Tests for DKIM key generation and DNS key records."""

from __future__ import annotations

import base64

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.dkim.keys import (
    dkim_algorithm,
    dkim_dns_value,
    dkimpy_private_key,
    generate_ed25519_key,
    generate_rsa_key,
    load_dkim_private_key,
)

_RSA = generate_rsa_key(2048)


def _pem(key: ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


class KeyTests(SynchronousTestCase):
    def test_ed25519(self) -> None:
        """An Ed25519 key is PKCS#8 PEM and publishes its raw 32-byte key (RFC 8463 §4)."""
        pem = generate_ed25519_key()
        self.assertTrue(pem.startswith(b"-----BEGIN PRIVATE KEY-----"))
        self.assertEqual(dkim_algorithm(pem), "ed25519-sha256")
        value = dkim_dns_value(pem)
        self.assertTrue(value.startswith("v=DKIM1; k=ed25519; p="), value)
        self.assertEqual(len(base64.b64decode(value.split("p=")[1])), 32)

    def test_rsa(self) -> None:
        """An RSA key is 2048 bits by default and publishes its SubjectPublicKeyInfo."""
        key = load_dkim_private_key(_RSA)
        assert isinstance(key, rsa.RSAPrivateKey)
        self.assertEqual(key.key_size, 2048)
        self.assertEqual(dkim_algorithm(_RSA), "rsa-sha256")
        value = dkim_dns_value(_RSA)
        self.assertTrue(value.startswith("v=DKIM1; k=rsa; p=MII"), value)

    def test_small_rsa_refused(self) -> None:
        """RSA keys under 1024 bits are not generated (RFC 8301 §3.2)."""
        error = self.assertRaises(ValueError, generate_rsa_key, 512)
        self.assertIn("RFC 8301", str(error))

    def test_other_keys_refused(self) -> None:
        """EC keys, garbage and encrypted keys are not DKIM keys."""
        self.assertRaises(ValueError, dkim_algorithm, _pem(ec.generate_private_key(ec.SECP256R1())))
        self.assertRaises(ValueError, dkim_algorithm, b"not a key")
        encrypted = rsa.generate_private_key(public_exponent=65537, key_size=1024).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"secret"),
        )
        self.assertRaises(ValueError, dkim_algorithm, encrypted)

    def test_dkimpy_signs_and_verifies_rsa(self) -> None:
        """dkimpy signs with the converted key and verifies against dkim_dns_value."""
        message = b"From: a@example.com\r\nTo: b@example.org\r\nSubject: hi\r\n\r\nbody\r\n"
        signature = dkim.sign(message, b"sel", b"example.com", dkimpy_private_key(_RSA))
        record = dkim_dns_value(_RSA).encode()

        def dnsfunc(name: bytes, timeout: int = 5) -> bytes:
            self.assertEqual(name, b"sel._domainkey.example.com.")
            return record

        self.assertTrue(dkim.verify(signature + message, dnsfunc=dnsfunc))

    def test_dkimpy_ed25519_form(self) -> None:
        """For Ed25519 dkimpy gets the base64 32-byte seed it hands to PyNaCl."""
        self.assertEqual(len(base64.b64decode(dkimpy_private_key(generate_ed25519_key()))), 32)
