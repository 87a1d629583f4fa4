"""Tests for mailtwist.auth.password: normalisation, MD5/HMAC states, hashes, vectors."""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.auth.password import (
    cram_md5_digest,
    dummy_credentials,
    hmac_md5_from_states,
    hmac_md5_states,
    make_credentials,
    md5_digest,
    normalise_password,
    scram_keys,
    scram_salted_password,
    verify_password,
)

RFC7677_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")


class NormalisePasswordTests(SynchronousTestCase):
    def test_nfc(self) -> None:
        """A decomposed password is composed (NFC, RFC 8265 §4.2.2)."""
        self.assertEqual(normalise_password("cafe\u0301"), "caf\u00e9")

    def test_non_ascii_spaces(self) -> None:
        """Non-ASCII spaces become U+0020 (RFC 8265 §4.2.2 additional mapping)."""
        self.assertEqual(normalise_password("a\u00a0b\u3000c\u2009d"), "a b c d")

    def test_ascii_unchanged(self) -> None:
        """An ASCII password with spaces and symbols passes unchanged."""
        self.assertEqual(normalise_password(" p@ss word! "), " p@ss word! ")

    def test_empty_refused(self) -> None:
        """An empty password is refused (RFC 8265 §4.2.2)."""
        self.assertRaises(ValueError, normalise_password, "")

    def test_control_refused(self) -> None:
        """Control characters are refused (RFC 8264 §9.11)."""
        self.assertRaises(ValueError, normalise_password, "pass\x00word")
        self.assertRaises(ValueError, normalise_password, "pass\nword")

    def test_lone_surrogate_refused(self) -> None:
        """A lone surrogate, which cannot be encoded as UTF-8, is refused."""
        self.assertRaises(ValueError, normalise_password, "pass\ud800")


class MD5Tests(SynchronousTestCase):
    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=300))
    def test_md5_matches_hashlib(self, data: bytes) -> None:
        """The pure-Python MD5 equals hashlib.md5 for any input."""
        self.assertEqual(md5_digest(data), hashlib.md5(data).digest())

    def test_md5_block_boundaries(self) -> None:
        """MD5 is right at every length around the padding boundaries (RFC 1321 §3.1)."""
        for n in range(0, 200):
            data = bytes(range(256))[:n]
            self.assertEqual(md5_digest(data), hashlib.md5(data).digest(), n)

    def test_rfc1321_vectors(self) -> None:
        """The RFC 1321 §A.5 test suite digests come out."""
        vectors = {
            b"": "d41d8cd98f00b204e9800998ecf8427e",
            b"a": "0cc175b9c0f1b6a831c399e269772661",
            b"abc": "900150983cd24fb0d6963f7d28e17f72",
            b"message digest": "f96b697d7cb7938d525a2f31aaf161d0",
            b"abcdefghijklmnopqrstuvwxyz": "c3fcd3d76192e4007dfb496cca67e13b",
        }
        for data, digest in vectors.items():
            self.assertEqual(md5_digest(data).hex(), digest)

    @settings(max_examples=200, deadline=None)
    @given(st.binary(max_size=150), st.binary(max_size=200))
    def test_hmac_md5_from_states(self, key: bytes, message: bytes) -> None:
        """HMAC-MD5 from stored ipad/opad states equals hmac.new(key, msg, "md5")."""
        ipad, opad = hmac_md5_states(key)
        self.assertEqual(
            hmac_md5_from_states(ipad, opad, message), hmac.new(key, message, "md5").digest()
        )

    def test_rfc2104_vector(self) -> None:
        """The RFC 2104 appendix example: key "Jefe", "what do ya want for nothing?"."""
        ipad, opad = hmac_md5_states(b"Jefe")
        digest = hmac_md5_from_states(ipad, opad, b"what do ya want for nothing?")
        self.assertEqual(digest.hex(), "750c783e6ab0b503eaa86e310a5db738")


#: Built once: each make_credentials runs scrypt.
TIM = make_credentials("tim@example.org", "tanstaaftanstaaf")


class CredentialsTests(SynchronousTestCase):
    creds = TIM

    def test_cram_md5_rfc2195(self) -> None:
        """The RFC 2195 §2 example: tim/tanstaaftanstaaf gives b913a602...3890."""
        digest = cram_md5_digest(self.creds, b"<1896.697170952@postoffice.reston.mci.net>")
        self.assertEqual(digest, "b913a602c7eda7a495b4e6e7334d3890")

    def test_password_not_stored(self) -> None:
        """No stored field holds the password in clear."""
        for value in vars(self.creds).values():
            if isinstance(value, bytes | str):
                self.assertNotIn(b"tanstaaf", value if isinstance(value, bytes) else value.encode())

    def test_hash_format(self) -> None:
        """password_hash is scrypt$n$r$p$salt$hash with base64 salt and hash."""
        parts = self.creds.password_hash.split("$")
        self.assertEqual(parts[:4], ["scrypt", "16384", "8", "1"])
        self.assertEqual(base64.b64decode(parts[4]), self.creds.scram_salt)
        self.assertEqual(len(base64.b64decode(parts[5])), 32)

    def test_verify(self) -> None:
        """The right password verifies; wrong, empty and invalid ones do not."""
        self.assertTrue(verify_password(self.creds, "tanstaaftanstaaf"))
        self.assertFalse(verify_password(self.creds, "tanstaaftanstaafx"))
        self.assertFalse(verify_password(self.creds, ""))
        self.assertFalse(verify_password(self.creds, "tanstaaf\x00"))

    def test_verify_normalised(self) -> None:
        """A password set in NFD with a no-break space verifies in NFC with a space."""
        creds = make_credentials("a", "cafe\u0301\u00a0bar")
        self.assertTrue(verify_password(creds, "caf\u00e9 bar"))

    def test_random_salt(self) -> None:
        """Without a salt, two credentials for one password differ."""
        other = make_credentials("tim@example.org", "tanstaaftanstaaf")
        self.assertNotEqual(other.scram_salt, self.creds.scram_salt)
        self.assertNotEqual(other.password_hash, self.creds.password_hash)

    def test_corrupt_hash(self) -> None:
        """A corrupt or hostile stored hash fails verification instead of raising."""
        for bad in (
            "",
            "bcrypt$x",
            "scrypt$16384$8$1$!!!$AAAA",
            "scrypt$1000$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44,
            "scrypt$1073741824$8$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44,
            "scrypt$16384$8$1$$" + "A" * 44,
            "scrypt$1048576$32$1$AAAAAAAAAAAAAAAAAAAAAA==$" + "A" * 44,
            "scrypt$16384$8$1$AAAAAAAAAAAAAAAAAAAAAA==$AAAA",
        ):
            self.assertFalse(verify_password(replace(self.creds, password_hash=bad), "x"), bad)
        self.flushLoggedErrors()

    def test_dummy_never_matches(self) -> None:
        """Dummy credentials reject a password and have the same cost parameters."""
        dummy = dummy_credentials()
        self.assertFalse(verify_password(dummy, "tanstaaftanstaaf"))
        self.assertEqual(dummy.password_hash.split("$")[:4], ["scrypt", "16384", "8", "1"])

    def test_invalid_inputs(self) -> None:
        """make_credentials refuses empty account, password, salt and bad iterations."""
        self.assertRaises(ValueError, make_credentials, "", "pw")
        self.assertRaises(ValueError, make_credentials, "a", "")
        self.assertRaises(ValueError, make_credentials, "a", "pw", salt=b"")
        self.assertRaises(ValueError, make_credentials, "a", "pw", scram_iterations=0)


class ScramKeysTests(SynchronousTestCase):
    def test_rfc7677_keys(self) -> None:
        """The stored keys reproduce RFC 7677 §3's server signature for user/pencil."""
        creds = make_credentials("user", "pencil", salt=RFC7677_SALT, scram_iterations=4096)
        auth_message = (
            b"n=user,r=rOprNGfwEbeRWgbNEkqO,"
            b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
            b"s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,"
            b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
        )
        signature = hmac.digest(creds.scram_server_key, auth_message, "sha256")
        self.assertEqual(
            base64.b64encode(signature), b"6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
        )
        salted = scram_salted_password("pencil", RFC7677_SALT, 4096)
        self.assertEqual(scram_keys(salted), (creds.scram_stored_key, creds.scram_server_key))
