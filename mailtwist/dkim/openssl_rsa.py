"""dkimpy's RSA signatures computed by OpenSSL (cryptography) instead of pure Python."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import dkim
import dkim.crypto
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

#: dkimpy's own signing function, kept for hashes OpenSSL is not given here.
_PURE_PYTHON: Callable[[Any, dict[str, int]], bytes] | None = getattr(
    dkim, "RSASSA_PKCS1_v1_5_sign", None
)

_HASHES: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha1": hashes.SHA1,
}


@functools.lru_cache(maxsize=1024)
def _private_key(
    n: int, e: int, d: int, p: int, q: int, dmp1: int, dmq1: int, iqmp: int
) -> rsa.RSAPrivateKey:
    public = rsa.RSAPublicNumbers(e=e, n=n)
    numbers = rsa.RSAPrivateNumbers(
        p=p, q=q, d=d, dmp1=dmp1, dmq1=dmq1, iqmp=iqmp, public_numbers=public
    )
    # The key was checked when the configuration loaded it (dkim.keys); OpenSSL's own
    # check costs ~26 ms for 2048 bits (~184 ms for 4096) on every cache miss.
    return numbers.private_key(unsafe_skip_rsa_key_validation=True)


def sign(hash: Any, private_key: dict[str, int]) -> bytes:
    """RFC 8017 RSASSA-PKCS1-v1_5 of ``hash.digest()``, as dkimpy's function of that name.

    ``private_key`` is dkimpy's parsed key. PKCS#1 v1.5 signatures are
    deterministic, so the bytes are the ones dkimpy computes itself, ~25 times
    faster: dkimpy's modular exponentiation is pure Python (~5 ms for 2048 bits).
    """
    algorithm = _HASHES.get(str(hash.name).lower())
    if algorithm is None:
        # Not a hash DKIM signs with RSA: dkimpy's own function reports it (install()
        # puts this one in only where that function exists).
        assert _PURE_PYTHON is not None
        return _PURE_PYTHON(hash, private_key)
    key = _private_key(
        private_key["modulus"],
        private_key["publicExponent"],
        private_key["privateExponent"],
        private_key["prime1"],
        private_key["prime2"],
        private_key["exponent1"],
        private_key["exponent2"],
        private_key["coefficient"],
    )
    try:
        return key.sign(hash.digest(), padding.PKCS1v15(), utils.Prehashed(algorithm()))
    except ValueError:
        # The modulus is too small for the digest: what dkimpy reports then.
        raise dkim.crypto.DigestTooLargeError() from None


def install() -> bool:
    """Make dkimpy sign RSA with ``sign``; False when dkimpy has no such hook (then
    its own, slower function stays). Installing twice is harmless."""
    if _PURE_PYTHON is None:
        return False
    dkim.RSASSA_PKCS1_v1_5_sign = sign
    return True
