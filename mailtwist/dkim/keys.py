"""DKIM private keys: generation, recognition, and their DNS public-key records."""

from __future__ import annotations

import base64

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

#: Algorithms of DKIM signatures mailtwist signs with (RFC 6376 §3.3, RFC 8463 §3).
ED25519_SHA256 = "ed25519-sha256"
RSA_SHA256 = "rsa-sha256"

#: RFC 8301 §3.2: signers MUST use RSA keys of at least 1024 bits, SHOULD use 2048.
MIN_RSA_BITS = 1024


def _pkcs8_pem(key: ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def generate_ed25519_key() -> bytes:
    """A new Ed25519 private key (RFC 8463) as unencrypted PKCS#8 PEM."""
    return _pkcs8_pem(ed25519.Ed25519PrivateKey.generate())


def generate_rsa_key(bits: int = 2048) -> bytes:
    """A new RSA private key as unencrypted PKCS#8 PEM (dkimpy reads PKCS#8 too)."""
    if bits < MIN_RSA_BITS:
        raise ValueError(f"RSA DKIM keys need at least {MIN_RSA_BITS} bits (RFC 8301 §3.2)")
    return _pkcs8_pem(rsa.generate_private_key(public_exponent=65537, key_size=bits))


def load_dkim_private_key(
    private_pem: bytes,
) -> ed25519.Ed25519PrivateKey | rsa.RSAPrivateKey:
    """The Ed25519 or RSA key of an unencrypted PEM file; ValueError otherwise."""
    try:
        key = serialization.load_pem_private_key(private_pem, password=None)
    except (ValueError, TypeError) as e:
        raise ValueError(f"not an unencrypted PEM private key: {e}") from None
    except Exception as e:  # cryptography raises UnsupportedAlgorithm for odd keys
        raise ValueError(f"unsupported private key: {e}") from None
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return key
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < MIN_RSA_BITS:
            raise ValueError(
                f"RSA key has {key.key_size} bits, DKIM needs at least {MIN_RSA_BITS}"
                " (RFC 8301 §3.2)"
            )
        return key
    raise ValueError(f"DKIM keys must be Ed25519 or RSA, not {type(key).__name__}")


def dkim_algorithm(private_pem: bytes) -> str:
    """The signature algorithm a PEM key signs with: ``ed25519-sha256`` or ``rsa-sha256``."""
    key = load_dkim_private_key(private_pem)
    return ED25519_SHA256 if isinstance(key, ed25519.Ed25519PrivateKey) else RSA_SHA256


def dkim_dns_value(private_pem: bytes) -> str:
    """The TXT record value publishing the key's public half (RFC 6376 §3.6.1).

    ``k=ed25519`` carries the raw 32-byte public key (RFC 8463 §4); ``k=rsa`` the
    DER SubjectPublicKeyInfo, both base64.
    """
    key = load_dkim_private_key(private_pem)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        raw = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return f"v=DKIM1; k=ed25519; p={base64.b64encode(raw).decode('ascii')}"
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode('ascii')}"


def dkimpy_private_key(private_pem: bytes) -> bytes:
    """The key in the form ``dkim.sign(privkey=...)`` of dkimpy expects.

    RSA: PKCS#1 PEM. Ed25519: base64 of the 32-byte seed (dkimpy hands it to
    PyNaCl, which must then be installed).
    """
    key = load_dkim_private_key(private_pem)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        seed = key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )
        return base64.b64encode(seed)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    )


__all__ = [
    "ED25519_SHA256",
    "MIN_RSA_BITS",
    "RSA_SHA256",
    "dkim_algorithm",
    "dkim_dns_value",
    "dkimpy_private_key",
    "generate_ed25519_key",
    "generate_rsa_key",
    "load_dkim_private_key",
]
