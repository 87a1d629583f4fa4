"""Tests for self-signed certificate generation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.config import write_self_signed_certificate

_NOW = datetime(2026, 11, 28, tzinfo=UTC)


class SelfSignedCertificateTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.cert, self.key = self.dir / "tls" / "c.pem", self.dir / "tls" / "k.pem"

    def test_names_and_validity(self) -> None:
        """Names become dNSName or iPAddress SANs; validity starts an hour before now."""
        write_self_signed_certificate(
            self.cert, self.key, ["mail.example.com", "::1"], now=_NOW, days=10
        )
        cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(san.get_values_for_type(x509.DNSName), ["mail.example.com"])
        self.assertEqual([str(ip) for ip in san.get_values_for_type(x509.IPAddress)], ["::1"])
        self.assertEqual(cert.not_valid_before_utc, _NOW - timedelta(hours=1))
        self.assertEqual(cert.not_valid_after_utc, _NOW + timedelta(days=10))
        self.assertEqual(cert.issuer, cert.subject)

    def test_key_matches(self) -> None:
        """The written key is the certificate's key."""
        write_self_signed_certificate(self.cert, self.key, ["localhost"], now=_NOW)
        cert = x509.load_pem_x509_certificate(self.cert.read_bytes())
        key = serialization.load_pem_private_key(self.key.read_bytes(), password=None)
        der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        self.assertEqual(
            key.public_key().public_bytes(der, spki), cert.public_key().public_bytes(der, spki)
        )

    def test_needs_a_name(self) -> None:
        """A certificate without names is refused."""
        self.assertRaises(
            ValueError, write_self_signed_certificate, self.cert, self.key, [], now=_NOW
        )
