"""Tests for mailtwist.auth.sasl: the SASL server mechanisms and the Authenticator."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface.verify import verifyObject

from mailtwist.auth.password import make_credentials
from mailtwist.auth.sasl import (
    AUTHZID_REFUSED,
    INVALID_CREDENTIALS,
    VERIFIED_FOR,
    Authenticator,
    ChannelBinding,
    IServerMechanism,
    SASLChallenge,
    SASLFailure,
    SASLMalformed,
    SASLSuccess,
)
from mailtwist.store.records import Credentials

RFC7677_SALT = base64.b64decode("W22ZaJ0SNY7soEsUEjb6gQ==")
RFC7677_SERVER_NONCE = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != ",")

# Built once at import: each make_credentials runs scrypt.
USER = make_credentials("user-account", "pencil", salt=RFC7677_SALT, scram_iterations=4096)
TIM = make_credentials("tim-account", "tanstaaftanstaaf")
JOSE = make_credentials("jose-account", "s\u00e9same ouvre-toi")


class FakeAccounts:
    """Logins and credentials as the store would give them; records lookups."""

    def __init__(self) -> None:
        self.logins = {
            "user": "user-account",
            "tim": "tim-account",
            "jos\u00e9@example.org": "jose-account",
            "nocreds": "nocreds-account",
        }
        self.credentials = {c.account: c for c in (USER, TIM, JOSE)}
        self.looked_up: list[str] = []

    def account_for_login(self, login: str) -> str | None:
        self.looked_up.append(login)
        return self.logins.get(login)

    def credentials_for_account(self, account: str) -> Deferred[Credentials | None]:
        assert account in self.logins.values(), account
        return succeed(self.credentials.get(account))


class SynchronousRunner:
    """Stands in for deferToThread: runs the call at once and records its name."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, f: Callable[..., Any], *args: Any) -> Deferred[Any]:
        self.calls.append(f.__name__)
        return succeed(f(*args))


class ScriptedRandom:
    """random_bytes that hands out queued byte strings of exactly the asked length."""

    def __init__(self) -> None:
        self.queue: list[bytes] = []

    def __call__(self, n: int) -> bytes:
        if not self.queue:
            return bytes(n)
        data = self.queue.pop(0)
        assert len(data) == n, (len(data), n)
        return data


def nonce_bytes(nonce: str) -> bytes:
    """The random bytes that make the authenticator produce ``nonce``."""
    return bytes(_PRINTABLE.index(c) for c in nonce)


def scram_client_final(
    password: str,
    salt: bytes,
    iterations: int,
    client_first_bare: str,
    server_first: str,
    cbind_input: bytes,
    nonce: str,
) -> tuple[bytes, bytes]:
    """A SCRAM-SHA-256 client's final message and the server signature it expects."""
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.digest(salted, b"Client Key", "sha256")
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = f"c={base64.b64encode(cbind_input).decode()},r={nonce}"
    auth_message = f"{client_first_bare},{server_first},{without_proof}".encode()
    signature = hmac.digest(stored_key, auth_message, "sha256")
    proof = bytes(a ^ b for a, b in zip(client_key, signature, strict=True))
    server_key = hmac.digest(salted, b"Server Key", "sha256")
    final = f"{without_proof},p={base64.b64encode(proof).decode()}".encode()
    return final, hmac.digest(server_key, auth_message, "sha256")


def scram_answer(
    password: str, client_first_bare: str, server_first: str, cbind_input: bytes
) -> bytes:
    """The client-final-message answering a server-first-message (its salt, iterations
    and nonce read from it), as a client knowing ``password`` sends it."""
    attributes = dict(a.split("=", 1) for a in server_first.split(","))
    final, _ = scram_client_final(
        password,
        base64.b64decode(attributes["s"]),
        int(attributes["i"]),
        client_first_bare,
        server_first,
        cbind_input,
        attributes["r"],
    )
    return final


class AuthenticatorTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.accounts = FakeAccounts()
        self.runner = SynchronousRunner()
        self.random = ScriptedRandom()
        self.clock = Clock()
        self.authenticator = Authenticator(
            account_for_login=self.accounts.account_for_login,
            credentials_for_account=self.accounts.credentials_for_account,
            hostname="postoffice.reston.mci.net",
            clock=self.clock,
            run_in_thread=self.runner,
            random_bytes=self.random,
        )

    def step(self, mechanism: IServerMechanism, response: bytes | None) -> Any:
        return self.successResultOf(mechanism.step(response))

    def malformed(self, mechanism: IServerMechanism, response: bytes | None) -> None:
        self.failureResultOf(mechanism.step(response), SASLMalformed)


class AuthenticatorTests(AuthenticatorTestCase):
    def test_mechanisms(self) -> None:
        """Mechanisms are offered only with TLS or when plaintext is allowed."""
        everything = ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]
        self.assertEqual(self.authenticator.mechanisms(tls=True, allow_plaintext=False), everything)
        self.assertEqual(self.authenticator.mechanisms(tls=False, allow_plaintext=True), everything)
        self.assertEqual(self.authenticator.mechanisms(tls=False, allow_plaintext=False), [])
        self.assertEqual(
            self.authenticator.mechanisms(True, False, channel_binding=True),
            ["SCRAM-SHA-256-PLUS", *everything],
        )

    def test_start_unknown(self) -> None:
        """An unknown mechanism, or -PLUS without channel binding data, is a KeyError."""
        self.assertRaises(KeyError, self.authenticator.start, "GSSAPI")
        self.assertRaises(KeyError, self.authenticator.start, "SCRAM-SHA-256-PLUS")

    def test_start_provides_interface(self) -> None:
        """Every mechanism provides IServerMechanism, whatever the case of its name."""
        for name in ("plain", "Login", "CRAM-MD5", "scram-sha-256"):
            verifyObject(IServerMechanism, self.authenticator.start(name))
        verifyObject(IServerMechanism, self.authenticator.start("SCRAM-SHA-256-PLUS", b"x"))

    def test_check_password(self) -> None:
        """The right password gives the account, through run_in_thread."""
        d = self.authenticator.check_password("tim", "tanstaaftanstaaf")
        self.assertEqual(self.successResultOf(d), "tim-account")
        self.assertEqual(self.runner.calls, ["verify_password"])

    def test_check_password_wrong(self) -> None:
        """A wrong password gives None."""
        d = self.authenticator.check_password("tim", "wrong")
        self.assertIsNone(self.successResultOf(d))

    def test_check_password_unknown_costs_the_same(self) -> None:
        """An unknown login gives None after a password verification all the same."""
        d = self.authenticator.check_password("nobody", "tanstaaftanstaaf")
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.runner.calls, ["verify_password"])

    def test_check_password_no_credentials(self) -> None:
        """A known account without credentials gives None after a verification."""
        d = self.authenticator.check_password("nocreds", "x")
        self.assertIsNone(self.successResultOf(d))
        self.assertEqual(self.runner.calls, ["verify_password"])

    def test_check_password_nfc_login(self) -> None:
        """The login is NFC-normalised before the account lookup (spec §13)."""
        d = self.authenticator.check_password("jose\u0301@example.org", "se\u0301same ouvre-toi")
        self.assertEqual(self.successResultOf(d), "jose-account")
        self.assertEqual(self.accounts.looked_up, ["jos\u00e9@example.org"])

    def test_check_password_remembers_success_for_a_while(self) -> None:
        """A verified password is accepted again without hashing until VERIFIED_FOR has
        passed; wrong passwords are never remembered; a changed password is hashed anew."""
        check = self.authenticator.check_password
        self.assertEqual(self.successResultOf(check("tim", "tanstaaftanstaaf")), "tim-account")
        self.assertEqual(self.successResultOf(check("tim", "tanstaaftanstaaf")), "tim-account")
        self.assertEqual(self.runner.calls, ["verify_password"])
        self.assertIsNone(self.successResultOf(check("tim", "wrong")))
        self.assertIsNone(self.successResultOf(check("tim", "wrong")))
        self.assertEqual(len(self.runner.calls), 3)
        self.clock.advance(VERIFIED_FOR)
        self.assertEqual(self.successResultOf(check("tim", "tanstaaftanstaaf")), "tim-account")
        self.assertEqual(len(self.runner.calls), 4)
        self.accounts.credentials["tim-account"] = make_credentials(
            "tim-account", "new password", salt=b"salt", scram_iterations=1
        )
        self.assertIsNone(self.successResultOf(check("tim", "tanstaaftanstaaf")))
        self.assertEqual(len(self.runner.calls), 5)

    def test_check_password_lookup_error(self) -> None:
        """An error looking up the account fails the Deferred (the protocol says 454)."""

        def broken(login: str) -> str | None:
            raise RuntimeError("store down")

        self.authenticator._account_for_login = broken
        self.failureResultOf(self.authenticator.check_password("tim", "x"), RuntimeError)


class PlainTests(AuthenticatorTestCase):
    def test_success(self) -> None:
        """PLAIN with empty authzid, right password: success with account and login."""
        mech = self.authenticator.start("PLAIN")
        self.assertEqual(
            self.step(mech, b"\0tim\0tanstaaftanstaaf"), SASLSuccess("tim-account", "tim")
        )

    def test_no_initial_response(self) -> None:
        """Without an initial response PLAIN sends an empty challenge, then checks."""
        mech = self.authenticator.start("PLAIN")
        self.assertEqual(self.step(mech, None), SASLChallenge(b""))
        self.assertEqual(
            self.step(mech, b"tim\0tim\0tanstaaftanstaaf"), SASLSuccess("tim-account", "tim")
        )

    def test_utf8_nfc(self) -> None:
        """UTF-8 logins and passwords in NFD authenticate as their NFC form."""
        mech = self.authenticator.start("PLAIN")
        message = "\0jose\u0301@example.org\0se\u0301same ouvre-toi".encode()
        self.assertEqual(
            self.step(mech, message), SASLSuccess("jose-account", "jos\u00e9@example.org")
        )

    def test_other_authzid(self) -> None:
        """An authzid other than the login is refused (RFC 4616 §2)."""
        mech = self.authenticator.start("PLAIN")
        self.assertEqual(
            self.step(mech, b"user\0tim\0tanstaaftanstaaf"), SASLFailure(AUTHZID_REFUSED)
        )

    def test_wrong_and_unknown_alike(self) -> None:
        """A wrong password and an unknown login give the same failure and the same work."""
        wrong = self.step(self.authenticator.start("PLAIN"), b"\0tim\0nope")
        unknown = self.step(self.authenticator.start("PLAIN"), b"\0nobody\0nope")
        self.assertEqual(wrong, SASLFailure(INVALID_CREDENTIALS))
        self.assertEqual(unknown, wrong)
        self.assertEqual(self.runner.calls, ["verify_password", "verify_password"])

    def test_malformed(self) -> None:
        """Messages without two NULs, with empty fields or bad UTF-8 are malformed."""
        for message in (
            b"",
            b"tim",
            b"\0tim",
            b"\0tim\0pw\0",
            b"\0\0pw",
            b"\0tim\0",
            b"\0tim\0\xff",
        ):
            self.malformed(self.authenticator.start("PLAIN"), message)
        self.assertEqual(self.runner.calls, [])

    def test_step_after_end(self) -> None:
        """Another step after the outcome is malformed."""
        mech = self.authenticator.start("PLAIN")
        self.step(mech, b"\0tim\0nope")
        self.malformed(mech, b"\0tim\0tanstaaftanstaaf")


class LoginTests(AuthenticatorTestCase):
    def test_success(self) -> None:
        """LOGIN prompts Username: and Password:, then succeeds."""
        mech = self.authenticator.start("LOGIN")
        self.assertEqual(self.step(mech, None), SASLChallenge(b"Username:"))
        self.assertEqual(self.step(mech, b"tim"), SASLChallenge(b"Password:"))
        self.assertEqual(self.step(mech, b"tanstaaftanstaaf"), SASLSuccess("tim-account", "tim"))

    def test_initial_response(self) -> None:
        """A user name given as initial response skips the first prompt."""
        mech = self.authenticator.start("LOGIN")
        self.assertEqual(self.step(mech, b"tim"), SASLChallenge(b"Password:"))
        self.assertEqual(self.step(mech, b"tanstaaftanstaaf"), SASLSuccess("tim-account", "tim"))

    def test_empty_initial_response(self) -> None:
        """An empty initial response is treated as none: the server prompts."""
        mech = self.authenticator.start("LOGIN")
        self.assertEqual(self.step(mech, b""), SASLChallenge(b"Username:"))
        self.malformed(mech, b"")

    def test_wrong_and_unknown_alike(self) -> None:
        """A wrong password and an unknown login both give INVALID_CREDENTIALS."""
        for login in (b"tim", b"nobody"):
            mech = self.authenticator.start("LOGIN")
            self.step(mech, login)
            self.assertEqual(self.step(mech, b"nope"), SASLFailure(INVALID_CREDENTIALS))
        self.assertEqual(self.runner.calls, ["verify_password", "verify_password"])

    def test_malformed(self) -> None:
        """A user name or password that is not UTF-8 is malformed."""
        self.malformed(self.authenticator.start("LOGIN"), b"\xfftim")
        mech = self.authenticator.start("LOGIN")
        self.step(mech, b"tim")
        self.malformed(mech, b"\xc3")


class CramMD5Tests(AuthenticatorTestCase):
    def start_rfc2195(self) -> IServerMechanism:
        self.clock.advance(697170952 - self.clock.seconds())
        self.random.queue.append((1896).to_bytes(8, "big"))
        mech = self.authenticator.start("CRAM-MD5")
        challenge = self.step(mech, None)
        self.assertEqual(challenge, SASLChallenge(b"<1896.697170952@postoffice.reston.mci.net>"))
        return mech

    def test_rfc2195_example(self) -> None:
        """The RFC 2195 §2 exchange: tim b913a602c7eda7a495b4e6e7334d3890 succeeds."""
        mech = self.start_rfc2195()
        result = self.step(mech, b"tim b913a602c7eda7a495b4e6e7334d3890")
        self.assertEqual(result, SASLSuccess("tim-account", "tim"))
        self.assertEqual(self.runner.calls, [])

    def test_upper_case_digest(self) -> None:
        """Upper-case hex digits are accepted."""
        mech = self.start_rfc2195()
        result = self.step(mech, b"tim B913A602C7EDA7A495B4E6E7334D3890")
        self.assertEqual(result, SASLSuccess("tim-account", "tim"))

    def test_wrong_and_unknown_alike(self) -> None:
        """A wrong digest and an unknown user both give INVALID_CREDENTIALS."""
        mech = self.start_rfc2195()
        self.assertEqual(
            self.step(mech, b"tim b913a602c7eda7a495b4e6e7334d3891"),
            SASLFailure(INVALID_CREDENTIALS),
        )
        mech = self.start_rfc2195()
        self.assertEqual(
            self.step(mech, b"nobody b913a602c7eda7a495b4e6e7334d3890"),
            SASLFailure(INVALID_CREDENTIALS),
        )

    def test_malformed(self) -> None:
        """Responses without a user, with a short or non-hex digest are malformed."""
        for response in (
            b"b913a602c7eda7a495b4e6e7334d3890",
            b" b913a602c7eda7a495b4e6e7334d3890",
            b"tim b913a602",
            b"tim z913a602c7eda7a495b4e6e7334d3890",
            b"tim\xff b913a602c7eda7a495b4e6e7334d3890",
        ):
            mech = self.start_rfc2195()
            self.malformed(mech, response)

    def test_initial_response_refused(self) -> None:
        """CRAM-MD5 has no initial response (RFC 2195 §2)."""
        self.malformed(self.authenticator.start("CRAM-MD5"), b"tim")

    def test_challenges_differ(self) -> None:
        """Each exchange gets a fresh challenge from the random source and clock."""
        self.random.queue += [(1).to_bytes(8, "big"), (2).to_bytes(8, "big")]
        first = self.step(self.authenticator.start("CRAM-MD5"), None)
        self.clock.advance(5)
        second = self.step(self.authenticator.start("CRAM-MD5"), None)
        self.assertEqual(first.data, b"<1.0@postoffice.reston.mci.net>")
        self.assertEqual(second.data, b"<2.5@postoffice.reston.mci.net>")


class ScramTests(AuthenticatorTestCase):
    CLIENT_FIRST = b"n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
    SERVER_FIRST = (
        b"r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
    )
    CLIENT_FINAL = (
        b"c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,"
        b"p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
    )
    SERVER_FINAL = b"v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="
    NONCE = "rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"

    def start(self, name: str = "SCRAM-SHA-256", binding: bytes | None = None) -> Any:
        """An exchange; ``binding`` is the channel's tls-exporter data, if any."""
        self.random.queue.append(nonce_bytes(RFC7677_SERVER_NONCE))
        channel = None if binding is None else ChannelBinding("tls-exporter", binding)
        return self.authenticator.start(name, channel)

    def test_rfc7677_example(self) -> None:
        """The RFC 7677 §3 exchange for user/pencil runs message for message."""
        mech = self.start()
        self.assertEqual(self.step(mech, self.CLIENT_FIRST), SASLChallenge(self.SERVER_FIRST))
        self.assertEqual(
            self.step(mech, self.CLIENT_FINAL), SASLChallenge(self.SERVER_FINAL, verified=True)
        )
        self.assertEqual(self.step(mech, b""), SASLSuccess("user-account", "user"))
        self.assertEqual(self.runner.calls, [])

    def test_no_initial_response(self) -> None:
        """Without an initial response the server sends an empty challenge first."""
        mech = self.start()
        self.assertEqual(self.step(mech, None), SASLChallenge(b""))
        self.assertEqual(self.step(mech, self.CLIENT_FIRST), SASLChallenge(self.SERVER_FIRST))

    def test_wrong_password(self) -> None:
        """A proof made from another password fails with e=invalid-proof."""
        mech = self.start()
        self.step(mech, self.CLIENT_FIRST)
        final, _ = scram_client_final(
            "pencil2",
            RFC7677_SALT,
            4096,
            "n=user,r=rOprNGfwEbeRWgbNEkqO",
            self.SERVER_FIRST.decode(),
            b"n,,",
            self.NONCE,
        )
        self.assertEqual(self.step(mech, final), SASLFailure("e=invalid-proof"))
        self.malformed(mech, b"")

    def test_unknown_user(self) -> None:
        """An unknown user gets a stable salt and fails like a wrong password."""
        challenges = []
        for _ in range(2):
            mech = self.start()
            challenge = self.step(mech, b"n,,n=nobody,r=abc")
            challenges.append(challenge)
            fields = dict(f.split("=", 1) for f in challenge.data.decode().split(","))
            self.assertEqual(fields["i"], "4096")
            final, _ = scram_client_final(
                "pencil",
                base64.b64decode(fields["s"]),
                4096,
                "n=nobody,r=abc",
                challenge.data.decode(),
                b"n,,",
                fields["r"],
            )
            self.assertEqual(self.step(mech, final), SASLFailure("e=invalid-proof"))
        self.assertEqual(challenges[0], challenges[1])

    def test_gs2_y_accepted(self) -> None:
        """A client that supports channel binding but saw no -PLUS ("y,,") succeeds."""
        mech = self.start()
        challenge = self.step(mech, b"y,,n=user,r=abc")
        final, signature = scram_client_final(
            "pencil",
            RFC7677_SALT,
            4096,
            "n=user,r=abc",
            challenge.data.decode(),
            b"y,,",
            "abc" + RFC7677_SERVER_NONCE,
        )
        self.assertEqual(
            self.step(mech, final),
            SASLChallenge(b"v=" + base64.b64encode(signature), verified=True),
        )
        self.assertEqual(self.step(mech, b""), SASLSuccess("user-account", "user"))

    def test_authzid_and_escapes(self) -> None:
        """An authzid equal to the user, and =2C/=3D escapes, are understood (RFC 5802 §7)."""
        self.accounts.logins["a,b=c"] = "user-account"
        mech = self.start()
        bare = "n=a=2Cb=3Dc,r=abc"
        challenge = self.step(mech, f"n,a=a=2Cb=3Dc,{bare}".encode())
        final, _ = scram_client_final(
            "pencil",
            RFC7677_SALT,
            4096,
            bare,
            challenge.data.decode(),
            b"n,a=a=2Cb=3Dc,",
            "abc" + RFC7677_SERVER_NONCE,
        )
        self.assertIsInstance(self.step(mech, final), SASLChallenge)
        self.assertEqual(self.step(mech, b""), SASLSuccess("user-account", "a,b=c"))

    def test_overlong_nonce(self) -> None:
        """A client nonce over 1024 characters is malformed: the server-first message
        repeats it and must fit RFC 4954 §4's 12288-octet line."""
        self.malformed(self.start(), b"n,,n=user,r=" + b"a" * 1025)
        self.assertIsInstance(self.step(self.start(), b"n,,n=user,r=" + b"a" * 1024), SASLChallenge)

    def test_other_authzid(self) -> None:
        """An authzid other than the user is refused."""
        mech = self.start()
        self.assertEqual(self.step(mech, b"n,a=tim,n=user,r=abc"), SASLFailure("e=other-error"))

    def test_channel_binding_without_binding(self) -> None:
        """p= without channel binding data fails: e=channel-binding-not-supported."""
        mech = self.start()
        self.assertEqual(
            self.step(mech, b"p=tls-exporter,,n=user,r=abc"),
            SASLFailure("e=channel-binding-not-supported"),
        )

    def test_tls_exporter(self) -> None:
        """SCRAM-SHA-256-PLUS with tls-exporter binds the proof to the TLS channel."""
        mech = self.start("SCRAM-SHA-256-PLUS", binding=b"exported-keying-material")
        challenge = self.step(mech, b"p=tls-exporter,,n=user,r=abc")
        final, signature = scram_client_final(
            "pencil",
            RFC7677_SALT,
            4096,
            "n=user,r=abc",
            challenge.data.decode(),
            b"p=tls-exporter,,exported-keying-material",
            "abc" + RFC7677_SERVER_NONCE,
        )
        self.assertEqual(
            self.step(mech, final),
            SASLChallenge(b"v=" + base64.b64encode(signature), verified=True),
        )
        self.assertEqual(self.step(mech, b""), SASLSuccess("user-account", "user"))

    def test_binding_mismatch(self) -> None:
        """Channel binding data from another TLS session fails: e=channel-bindings-dont-match."""
        mech = self.start("SCRAM-SHA-256-PLUS", binding=b"exported-keying-material")
        challenge = self.step(mech, b"p=tls-exporter,,n=user,r=abc")
        final, _ = scram_client_final(
            "pencil",
            RFC7677_SALT,
            4096,
            "n=user,r=abc",
            challenge.data.decode(),
            b"p=tls-exporter,,other-session",
            "abc" + RFC7677_SERVER_NONCE,
        )
        self.assertEqual(self.step(mech, final), SASLFailure("e=channel-bindings-dont-match"))

    def test_unsupported_binding_type(self) -> None:
        """A channel binding type other than the channel's (tls-exporter) is refused."""
        mech = self.start("SCRAM-SHA-256-PLUS", binding=b"x")
        self.assertEqual(
            self.step(mech, b"p=tls-unique,,n=user,r=abc"),
            SASLFailure("e=unsupported-channel-binding-type"),
        )

    def test_downgrade_detected(self) -> None:
        """A "y" flag when the server offered -PLUS is a downgrade (RFC 5802 §6)."""
        mech = self.start(binding=b"x")
        self.assertEqual(
            self.step(mech, b"y,,n=user,r=abc"),
            SASLFailure("e=server-does-support-channel-binding"),
        )

    def test_plus_requires_binding(self) -> None:
        """SCRAM-SHA-256-PLUS without channel binding ("n,,") is malformed."""
        self.malformed(self.start("SCRAM-SHA-256-PLUS", binding=b"x"), b"n,,n=user,r=abc")

    def test_mandatory_extension(self) -> None:
        """An unknown mandatory extension fails: e=extensions-not-supported."""
        mech = self.start()
        self.assertEqual(
            self.step(mech, b"n,,m=ext,n=user,r=abc"), SASLFailure("e=extensions-not-supported")
        )

    def test_wrong_nonce(self) -> None:
        """A client-final nonce that is not the combined nonce fails."""
        mech = self.start()
        self.step(mech, self.CLIENT_FIRST)
        final = self.CLIENT_FINAL.replace(b"k0,p=", b"k1,p=")
        self.assertEqual(self.step(mech, final), SASLFailure("e=other-error"))

    def test_malformed_first(self) -> None:
        """Client-first messages that break RFC 5802 §7 syntax are malformed."""
        for message in (
            b"",
            b"n,n=user,r=abc",
            b"x,,n=user,r=abc",
            b"n,b=x,n=user,r=abc",
            b"n,,r=abc",
            b"n,,n=user",
            b"n,,n=user,x=abc",
            b"n,,n=,r=abc",
            b"n,,n=us=er,r=abc",
            b"n,,n=user,r=",
            b"n,,n=user,r=a\x7fb",
            b"n,,n=\xff,r=abc",
        ):
            self.malformed(self.start(), message)

    def test_malformed_final(self) -> None:
        """Client-final messages without c=, r=, p= or with bad base64 are malformed."""
        for message in (
            b"",
            b"c=biws,r=x",
            b"r=x,c=biws,p=AAAA",
            b"c=b!ws,r=x,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            b"c=biws,r=x,p=AAAA",
            b"c=biws,r=x,p=not base64",
        ):
            mech = self.start()
            self.step(mech, self.CLIENT_FIRST)
            self.malformed(mech, message)

    def test_nonempty_after_server_final(self) -> None:
        """After server-final only an empty response is accepted."""
        mech = self.start()
        self.step(mech, self.CLIENT_FIRST)
        self.step(mech, self.CLIENT_FINAL)
        self.malformed(mech, b"x")

    def test_extensions_in_final_signed(self) -> None:
        """Optional extensions in client-final are part of the signed AuthMessage."""
        mech = self.start()
        self.step(mech, self.CLIENT_FIRST)
        final = self.CLIENT_FINAL.replace(b",p=", b",x=ext,p=")
        self.assertEqual(self.step(mech, final), SASLFailure("e=invalid-proof"))


class ThreadedCheckTests(TestCase):
    def test_default_runner(self) -> Deferred[object]:
        """With the default runner the scrypt check runs in the reactor's thread pool."""
        accounts = FakeAccounts()
        authenticator = Authenticator(
            account_for_login=accounts.account_for_login,
            credentials_for_account=accounts.credentials_for_account,
            hostname="mail.example.org",
            clock=Clock(),
        )
        d = authenticator.check_password("tim", "tanstaaftanstaaf")
        return d.addCallback(self.assertEqual, "tim-account")
