"""Self-signed TLS certificates for localserve and as a quickstart stand-in."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from twisted.logger import Logger

log = Logger()


def write_private_file(path: Path, data: bytes) -> None:
    """Write a secret (a private key) readable by its owner only where the OS allows.

    The file is created with mode 0600 (on POSIX; Windows ignores the mode and we
    never fail there because of permissions).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0), 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    try:
        os.chmod(path, 0o600)
    except OSError:
        log.warn("could not restrict permissions of {path}", path=str(path))


def write_self_signed_certificate(
    cert_path: Path,
    key_path: Path,
    hostnames: Sequence[str],
    *,
    now: datetime,
    days: int = 825,
) -> None:
    """Write an ECDSA P-256 key and a self-signed certificate for ``hostnames``.

    Each hostname becomes a subjectAltName (RFC 5280 §4.2.1.6): IP addresses as
    iPAddress, names as dNSName (IDNA A-labels expected); the first one is also the
    subject CN. Valid from an hour before ``now`` (clock skew) for ``days`` days;
    825 days is the longest validity clients accept for server certificates.
    """
    if not hostnames:
        raise ValueError("a certificate needs at least one hostname")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for name in hostnames:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            names.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0])])
    not_before = now - timedelta(hours=1)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        # Self-signed: it is its own CA, so clients can choose to trust it as one.
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    write_private_file(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))


__all__ = ["write_private_file", "write_self_signed_certificate"]
