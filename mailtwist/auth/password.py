"""Password secrets: normalising, deriving and verifying an account's stored Credentials."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import os
import struct
import unicodedata

from twisted.logger import Logger

from mailtwist.store.records import Credentials

log = Logger()

#: scrypt cost parameters for new password hashes (RFC 7914 §2; 16 MiB of memory).
SCRYPT_N = 2**14
SCRYPT_R = 8
SCRYPT_P = 1
_SCRYPT_DKLEN = 32
_SALT_LENGTH = 16

# Limits on parameters read back from a stored hash, so a corrupt or hostile
# record cannot make verification take unbounded memory or time.
_SCRYPT_MAX_N = 2**20
_SCRYPT_MAX_R = 32
_SCRYPT_MAX_P = 16
_SCRYPT_MAX_MEMORY = 2**28

#: Minimum SCRAM iteration count (RFC 7677 §4: at least 4096).
SCRAM_MIN_ITERATIONS = 4096


def normalise_password(password: str) -> str:
    """The password prepared as a PRECIS OpaqueString (RFC 8265 §4.2), as far as practical.

    Done (RFC 8265 §4.2.2): non-ASCII spaces (general category Zs) are mapped to
    U+0020 (width mapping is not applied for OpaqueString), then Unicode NFC.
    Enforced: the result is not empty and holds no control characters (Cc), which
    the FreeformClass disallows (RFC 8264 §9.11).
    Omitted: the full FreeformClass derived-property table of RFC 8264 §8
    (unassigned code points, old Hangul jamo, default-ignorables) - passwords
    with those characters are accepted as they are, consistently for hashing and
    for comparison, so nothing breaks; they only fail to match a peer that rejects them.

    Raises ValueError when the password is not valid.
    """
    # RFC 8265 §4.2.2 step 1: additional mapping of non-ASCII space to ASCII space.
    mapped = "".join(
        " " if ch != " " and unicodedata.category(ch) == "Zs" else ch for ch in password
    )
    # RFC 8265 §4.2.2 step 3: normalization form C.
    normal = unicodedata.normalize("NFC", mapped)
    if not normal:
        # RFC 8265 §4.2.2: an empty string after the rules is disallowed.
        raise ValueError("password is empty")
    if any(unicodedata.category(ch) == "Cc" for ch in normal):
        # RFC 8264 §9.11: control characters are disallowed in the FreeformClass.
        raise ValueError("password contains control characters")
    try:
        normal.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("password is not valid Unicode") from None
    return normal


# -- MD5 compression function (RFC 1321 §3.4), needed to keep HMAC-MD5 states.

_MASK = 0xFFFFFFFF
#: The initial MD5 chaining state A, B, C, D (RFC 1321 §3.3).
MD5_INITIAL_STATE = (0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476)
_MD5_SHIFTS = (7, 12, 17, 22) * 4 + (5, 9, 14, 20) * 4 + (4, 11, 16, 23) * 4 + (6, 10, 15, 21) * 4
# RFC 1321 §3.4: T[i] = floor(4294967296 * abs(sin(i))), i in 1..64.
_MD5_TABLE = tuple(int(abs(math.sin(i + 1)) * 2**32) & _MASK for i in range(64))

MD5State = tuple[int, int, int, int]


def md5_compress(state: MD5State, block: bytes) -> MD5State:
    """The MD5 chaining state after compressing one 64-byte block (RFC 1321 §3.4)."""
    if len(block) != 64:
        raise ValueError("an MD5 block is 64 bytes")
    words = struct.unpack("<16I", block)
    a, b, c, d = state
    for i in range(64):
        if i < 16:
            f = (b & c) | (~b & d)
            g = i
        elif i < 32:
            f = (d & b) | (~d & c)
            g = (5 * i + 1) % 16
        elif i < 48:
            f = b ^ c ^ d
            g = (3 * i + 5) % 16
        else:
            f = c ^ (b | ~d)
            g = (7 * i) % 16
        f = (f + a + _MD5_TABLE[i] + words[g]) & _MASK
        a, d, c = d, c, b
        shift = _MD5_SHIFTS[i]
        b = (b + ((f << shift) | (f >> (32 - shift)))) & _MASK
    return (
        (state[0] + a) & _MASK,
        (state[1] + b) & _MASK,
        (state[2] + c) & _MASK,
        (state[3] + d) & _MASK,
    )


def md5_resume(state: MD5State, processed: int, data: bytes) -> bytes:
    """The MD5 digest of a message whose first ``processed`` bytes gave ``state``.

    ``processed`` must be a multiple of 64; ``data`` is the rest of the message.
    Padding and length follow RFC 1321 §3.1-3.2.
    """
    if processed % 64:
        raise ValueError("a resumed MD5 state covers whole 64-byte blocks")
    total = processed + len(data)
    padding = b"\x80" + b"\x00" * ((55 - total) % 64)
    message = data + padding + struct.pack("<Q", (total * 8) & 0xFFFFFFFFFFFFFFFF)
    for offset in range(0, len(message), 64):
        state = md5_compress(state, message[offset : offset + 64])
    return struct.pack("<4I", *state)


def md5_digest(data: bytes) -> bytes:
    """The MD5 digest of ``data`` (RFC 1321), computed by this module's own code."""
    return md5_resume(MD5_INITIAL_STATE, 0, data)


def _pack_state(state: MD5State) -> bytes:
    return struct.pack("<4I", *state)


def _unpack_state(packed: bytes) -> MD5State:
    if len(packed) != 16:
        raise ValueError("a stored MD5 state is 16 bytes")
    a, b, c, d = struct.unpack("<4I", packed)
    return (a, b, c, d)


def hmac_md5_states(key: bytes) -> tuple[bytes, bytes]:
    """The HMAC-MD5 inner and outer states after the padded key (RFC 2104 §2).

    Each is the 16-byte MD5 chaining state after compressing (key XOR ipad) or
    (key XOR opad); with them a digest can be computed without the key.
    """
    # RFC 2104 §2: keys longer than the block size are hashed first.
    if len(key) > 64:
        key = md5_digest(key)
    key = key.ljust(64, b"\x00")
    inner = bytes(k ^ 0x36 for k in key)
    outer = bytes(k ^ 0x5C for k in key)
    return (
        _pack_state(md5_compress(MD5_INITIAL_STATE, inner)),
        _pack_state(md5_compress(MD5_INITIAL_STATE, outer)),
    )


def hmac_md5_from_states(ipad_state: bytes, opad_state: bytes, message: bytes) -> bytes:
    """HMAC-MD5 of ``message`` (RFC 2104 §2) from the states of ``hmac_md5_states``."""
    inner = md5_resume(_unpack_state(ipad_state), 64, message)
    return md5_resume(_unpack_state(opad_state), 64, inner)


# -- SCRAM-SHA-256 keys (RFC 5802 §3, RFC 7677)


def scram_salted_password(password: str, salt: bytes, iterations: int) -> bytes:
    """SaltedPassword := Hi(Normalize(password), salt, i) (RFC 5802 §3); Hi is PBKDF2."""
    return hashlib.pbkdf2_hmac("sha256", normalise_password(password).encode(), salt, iterations)


def scram_keys(salted_password: bytes) -> tuple[bytes, bytes]:
    """StoredKey and ServerKey from a SaltedPassword (RFC 5802 §3)."""
    client_key = hmac.digest(salted_password, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.digest(salted_password, b"Server Key", "sha256")
    return stored_key, server_key


# -- scrypt password hashes


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _scrypt(password: bytes, salt: bytes, n: int, r: int, p: int, dklen: int) -> bytes:
    # hashlib needs about 128 * r * n * p bytes (RFC 7914 §2); allow that plus slack.
    maxmem = 128 * r * (n + p + 2) + 2**20
    return hashlib.scrypt(password, salt=salt, n=n, r=r, p=p, dklen=dklen, maxmem=maxmem)


def password_hash(password: str, salt: bytes) -> str:
    """``scrypt$<n>$<r>$<p>$<b64 salt>$<b64 hash>`` for a password (RFC 7914)."""
    derived = _scrypt(
        normalise_password(password).encode(), salt, SCRYPT_N, SCRYPT_R, SCRYPT_P, _SCRYPT_DKLEN
    )
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${_b64(salt)}${_b64(derived)}"


def _parse_password_hash(encoded: str) -> tuple[int, int, int, bytes, bytes]:
    parts = encoded.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ValueError("not an scrypt password hash")
    try:
        n, r, p = int(parts[1]), int(parts[2]), int(parts[3])
        salt = base64.b64decode(parts[4], validate=True)
        derived = base64.b64decode(parts[5], validate=True)
    except (ValueError, binascii.Error):
        raise ValueError("malformed scrypt password hash") from None
    if not (1 < n <= _SCRYPT_MAX_N and n & (n - 1) == 0):
        raise ValueError("scrypt n out of range or not a power of 2")
    if not (1 <= r <= _SCRYPT_MAX_R and 1 <= p <= _SCRYPT_MAX_P):
        raise ValueError("scrypt r or p out of range")
    if 128 * r * (n + p) > _SCRYPT_MAX_MEMORY:
        raise ValueError("scrypt parameters need too much memory")
    if not salt or not 16 <= len(derived) <= 64:
        raise ValueError("scrypt salt or hash length out of range")
    return n, r, p, salt, derived


def make_credentials(
    account: str,
    password: str,
    *,
    salt: bytes | None = None,
    scram_iterations: int = SCRAM_MIN_ITERATIONS,
) -> Credentials:
    """The secrets to store for an account's password; never the password itself.

    The password is normalised first (``normalise_password``); ValueError when it
    is not valid. ``salt`` (default: 16 random bytes) serves both the scrypt hash
    and SCRAM; tests pass it to reproduce published vectors.
    """
    if not account:
        raise ValueError("account must not be empty")
    if scram_iterations < 1:
        raise ValueError("SCRAM iterations must be at least 1")
    normal = normalise_password(password)
    if salt is None:
        salt = os.urandom(_SALT_LENGTH)
    if not salt:
        raise ValueError("salt must not be empty")
    stored_key, server_key = scram_keys(scram_salted_password(normal, salt, scram_iterations))
    # RFC 2195 §2: the CRAM-MD5 digest is HMAC-MD5 keyed with the password.
    ipad, opad = hmac_md5_states(normal.encode())
    return Credentials(
        account=account,
        password_hash=password_hash(normal, salt),
        scram_salt=salt,
        scram_iterations=scram_iterations,
        scram_stored_key=stored_key,
        scram_server_key=server_key,
        cram_md5_ipad=ipad,
        cram_md5_opad=opad,
    )


def dummy_credentials(account: str = "") -> Credentials:
    """Random credentials no password matches, costing the same work to check.

    Used for unknown logins, so they cannot be told apart from a wrong password
    by the reply or by the time it takes.
    """
    random = os.urandom
    return Credentials(
        account=account,
        password_hash=(
            f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}"
            f"${_b64(random(_SALT_LENGTH))}${_b64(random(_SCRYPT_DKLEN))}"
        ),
        scram_salt=random(_SALT_LENGTH),
        scram_iterations=SCRAM_MIN_ITERATIONS,
        scram_stored_key=random(32),
        scram_server_key=random(32),
        cram_md5_ipad=random(16),
        cram_md5_opad=random(16),
    )


def verify_password(credentials: Credentials, password: str) -> bool:
    """Whether ``password`` matches the stored hash; compared in constant time.

    CPU heavy (scrypt): call it off the reactor thread. A password that is not
    valid (``normalise_password``) still costs one scrypt run, then fails.
    """
    try:
        n, r, p, salt, expected = _parse_password_hash(credentials.password_hash)
    except ValueError as e:
        log.error(
            "unusable password hash for account {account}: {why}",
            account=credentials.account,
            why=str(e),
        )
        return False
    try:
        candidate = normalise_password(password).encode()
        valid = True
    except ValueError:
        candidate, valid = b"", False
    derived = _scrypt(candidate, salt, n, r, p, len(expected))
    return hmac.compare_digest(derived, expected) and valid


def cram_md5_digest(credentials: Credentials, challenge: bytes) -> str:
    """The hex HMAC-MD5 of a CRAM-MD5 challenge from the stored states (RFC 2195 §2)."""
    digest = hmac_md5_from_states(credentials.cram_md5_ipad, credentials.cram_md5_opad, challenge)
    return digest.hex()


__all__ = [
    "SCRAM_MIN_ITERATIONS",
    "cram_md5_digest",
    "dummy_credentials",
    "hmac_md5_from_states",
    "hmac_md5_states",
    "make_credentials",
    "md5_digest",
    "normalise_password",
    "scram_keys",
    "scram_salted_password",
    "verify_password",
]
