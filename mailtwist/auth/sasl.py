"""SASL server mechanisms (PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-256[-PLUS]) and the Authenticator."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import unicodedata
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import threads
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from zope.interface import Interface, implementer

from mailtwist.auth.password import (
    SCRAM_MIN_ITERATIONS,
    cram_md5_digest,
    dummy_credentials,
    verify_password,
)
from mailtwist.store.records import Credentials

log = Logger()

#: The reason given for an unknown login and for a wrong password alike.
INVALID_CREDENTIALS = "invalid credentials"
#: PLAIN/LOGIN: acting as another identity is not supported (RFC 4616 §2).
AUTHZID_REFUSED = "authorization identity must be empty or equal to the login"


@dataclass(frozen=True)
class ChannelBinding:
    """The TLS channel's binding for SCRAM-PLUS: its type name (RFC 5056 §7, e.g.
    ``tls-exporter`` of RFC 9266 or ``tls-unique`` of RFC 5929) and its data."""

    name: str
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class SASLChallenge:
    """A server challenge to send to the client (raw bytes; the protocol encodes them).

    ``verified`` when the client's credentials have been verified already and the
    challenge tells it so (SCRAM's server-final message): the protocol then treats
    it as the exchange's result, for the failed-login limiter too.
    """

    data: bytes
    verified: bool = False


@dataclass(frozen=True)
class SASLSuccess:
    """The exchange succeeded: ``login`` (NFC) authenticated as ``account``."""

    account: str
    login: str


@dataclass(frozen=True)
class SASLFailure:
    """The exchange failed; ``reason`` is safe to show and never says which part was wrong.

    For SCRAM-SHA-256 the reason is the RFC 5802 §7 ``server-error`` text, e.g.
    ``e=invalid-proof``.
    """

    reason: str


class SASLMalformed(ValueError):
    """The client's response does not follow the mechanism's syntax."""


SASLResult = SASLChallenge | SASLSuccess | SASLFailure


class IServerMechanism(Interface):
    """The server side of one SASL exchange (RFC 4422 §3)."""

    def step(response):  # type: ignore[no-untyped-def]
        """Take the client's decoded response (None: no initial response).

        Deferred[SASLChallenge | SASLSuccess | SASLFailure]; fails with
        SASLMalformed on bad syntax or a step after the exchange ended.
        """


def _normalise_login(login: str) -> str:
    # mox spec §13: login names are NFC-normalised for SMTP AUTH.
    return unicodedata.normalize("NFC", login)


def _utf8(data: bytes, what: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise SASLMalformed(f"{what} is not valid UTF-8") from None


class _Mechanism(ABC):
    """Common driver: runs ``_step`` and turns exceptions into failed Deferreds."""

    name = ""

    def __init__(self, authenticator: Authenticator) -> None:
        self._authenticator = authenticator
        self._finished = False

    def step(self, response: bytes | None) -> Deferred[SASLResult]:
        if self._finished:
            return fail(SASLMalformed("the authentication exchange has ended"))
        d: Deferred[SASLResult]
        try:
            result = self._step(response)
        except Exception:
            d = fail()
        else:
            d = result if isinstance(result, Deferred) else succeed(result)

        def ended(result: Any) -> Any:
            if not isinstance(result, SASLChallenge):
                self._finished = True
            if isinstance(result, SASLFailure):
                log.debug(
                    "SASL {mechanism} failed: {reason}", mechanism=self.name, reason=result.reason
                )
            return result

        d.addBoth(ended)
        return d

    @abstractmethod
    def _step(self, response: bytes | None) -> SASLResult | Deferred[SASLResult]:
        """One exchange step of the mechanism (each subclass's protocol)."""

    def _check(self, login: str, password: str) -> Deferred[SASLResult]:
        login = _normalise_login(login)
        d = self._authenticator.check_password(login, password)

        def result(account: str | None) -> SASLResult:
            if account is None:
                return SASLFailure(INVALID_CREDENTIALS)
            return SASLSuccess(account=account, login=login)

        return d.addCallback(result)


@implementer(IServerMechanism)
class PlainMechanism(_Mechanism):
    """PLAIN (RFC 4616): one message ``[authzid] NUL authcid NUL passwd``, UTF-8."""

    name = "PLAIN"

    def _step(self, response: bytes | None) -> SASLResult | Deferred[SASLResult]:
        if response is None:
            # RFC 4616 §2: the client sends the message; an empty challenge asks for it.
            return SASLChallenge(b"")
        parts = _utf8(response, "PLAIN message").split("\0")
        if len(parts) != 3:
            raise SASLMalformed("PLAIN message needs authzid NUL authcid NUL passwd")
        authzid, authcid, passwd = parts
        # RFC 4616 §2: authcid and passwd are 1*SAFE (non-empty).
        if not authcid or not passwd:
            raise SASLMalformed("PLAIN authcid and password must not be empty")
        if authzid and _normalise_login(authzid) != _normalise_login(authcid):
            # RFC 4616 §2: the server decides whether authcid may act as authzid;
            # mailtwist has no proxy authorisation.
            return SASLFailure(AUTHZID_REFUSED)
        return self._check(authcid, passwd)


@implementer(IServerMechanism)
class LoginMechanism(_Mechanism):
    """LOGIN (draft-murchison-sasl-login): prompts for user name then password."""

    name = "LOGIN"

    def __init__(self, authenticator: Authenticator) -> None:
        super().__init__(authenticator)
        self._login: str | None = None
        self._asked = False

    def _step(self, response: bytes | None) -> SASLResult | Deferred[SASLResult]:
        if self._login is None:
            if response is None or (not self._asked and response == b""):
                # draft-murchison-sasl-login §2: the server prompts "Username:".
                # An empty initial response counts as no initial response.
                self._asked = True
                return SASLChallenge(b"Username:")
            login = _utf8(response, "LOGIN user name")
            if not login:
                raise SASLMalformed("LOGIN user name must not be empty")
            self._login = login
            return SASLChallenge(b"Password:")
        if response is None:
            raise SASLMalformed("LOGIN needs a password response")
        password = _utf8(response, "LOGIN password")
        return self._check(self._login, password)


@implementer(IServerMechanism)
class CramMD5Mechanism(_Mechanism):
    """CRAM-MD5 (RFC 2195): challenge ``<random.timestamp@hostname>``, reply ``user digest``."""

    name = "CRAM-MD5"

    def __init__(self, authenticator: Authenticator, challenge: bytes) -> None:
        super().__init__(authenticator)
        self._challenge = challenge
        self._sent = False

    def _step(self, response: bytes | None) -> SASLResult | Deferred[SASLResult]:
        if not self._sent:
            # RFC 2195 §2: the server speaks first; no initial response is possible.
            if response:
                raise SASLMalformed("CRAM-MD5 takes no initial response")
            self._sent = True
            return SASLChallenge(self._challenge)
        if response is None:
            raise SASLMalformed("CRAM-MD5 needs a response")
        text = _utf8(response, "CRAM-MD5 response")
        # RFC 2195 §2: user name, a space, then 32 lower-case hex digits.
        login, sep, digest = text.rpartition(" ")
        if not sep or not login:
            raise SASLMalformed("CRAM-MD5 response must be 'user digest'")
        if len(digest) != 32 or any(c not in "0123456789abcdefABCDEF" for c in digest):
            raise SASLMalformed("CRAM-MD5 digest must be 32 hex digits")
        login = _normalise_login(login)
        d = self._authenticator.credentials_for_login(login)

        def verify(found: tuple[str, Credentials] | None) -> SASLResult:
            creds = found[1] if found else self._authenticator.dummy
            expected = cram_md5_digest(creds, self._challenge)
            matches = hmac.compare_digest(expected.encode(), digest.lower().encode())
            if found is None or not matches:
                return SASLFailure(INVALID_CREDENTIALS)
            return SASLSuccess(account=found[0], login=login)

        return d.addCallback(verify)


# -- SCRAM-SHA-256 (RFC 5802, RFC 7677)

_PRINTABLE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) != ",")
#: Characters in the server's part of the nonce (as long as RFC 7677 §3's example).
SCRAM_SERVER_NONCE_LENGTH = 30
#: The longest client nonce taken: the server-first message repeats it, base64
#: encoded within RFC 4954 §4's 12288 octets, with the salt and iteration count.
SCRAM_MAX_CLIENT_NONCE = 1024


def _scram_nonce(random: bytes) -> str:
    """A nonce of ``printable`` characters (RFC 5802 §7), one per random byte."""
    return "".join(_PRINTABLE[b % len(_PRINTABLE)] for b in random)


def _saslname(value: str) -> str:
    """Decode a saslname (RFC 5802 §7): ``=2C`` is ``,``, ``=3D`` is ``=``, no other ``=``."""
    out = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == "=":
            escape = value[i : i + 3]
            if escape == "=2C":
                out.append(",")
            elif escape == "=3D":
                out.append("=")
            else:
                raise SASLMalformed("SCRAM name has a bad = escape")
            i += 3
        elif ch == ",":
            raise SASLMalformed("SCRAM name contains an unescaped comma")
        else:
            out.append(ch)
            i += 1
    return "".join(out)


def _b64decode(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SASLMalformed(f"SCRAM {what} is not valid base64") from None


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


@implementer(IServerMechanism)
class ScramSHA256Mechanism(_Mechanism):
    """SCRAM-SHA-256 (RFC 7677) and, with a ``binding``, the -PLUS variant (RFC 5802 §6).

    ``binding`` is the channel's binding when the protocol offered -PLUS on it,
    also for plain SCRAM-SHA-256 (so a downgrade is seen). Unknown logins get a
    salt derived from the login and fail with ``e=invalid-proof`` after the same
    computation, like a wrong password.
    """

    def __init__(
        self,
        authenticator: Authenticator,
        server_nonce: str,
        binding: ChannelBinding | None,
        plus: bool,
    ) -> None:
        super().__init__(authenticator)
        self.name = "SCRAM-SHA-256-PLUS" if plus else "SCRAM-SHA-256"
        self._server_nonce = server_nonce
        self._binding = binding
        self._plus = plus
        self._state = "first"
        self._gs2_header = ""
        self._cbind_data = b""
        self._client_first_bare = ""
        self._server_first = ""
        self._nonce = ""
        self._login = ""
        self._account: str | None = None
        self._credentials: Credentials | None = None
        self._server_signature = b""

    def _step(self, response: bytes | None) -> SASLResult | Deferred[SASLResult]:
        if self._state == "first":
            if response is None:
                # RFC 5802 §5: the client speaks first; an empty challenge asks for it.
                self._state = "first-asked"
                return SASLChallenge(b"")
            return self._client_first(response)
        if self._state == "first-asked":
            if response is None:
                raise SASLMalformed("SCRAM needs the client-first-message")
            return self._client_first(response)
        if self._state == "final":
            if response is None:
                raise SASLMalformed("SCRAM needs the client-final-message")
            return self._client_final(response)
        # self._state == "verified": the client acknowledges server-final (RFC 4422 §5).
        if response:
            raise SASLMalformed("SCRAM expects an empty response after server-final")
        assert self._account is not None
        return SASLSuccess(account=self._account, login=self._login)

    def _client_first(self, response: bytes) -> SASLResult | Deferred[SASLResult]:
        text = _utf8(response, "SCRAM client-first-message")
        # RFC 5802 §7: gs2-header = gs2-cbind-flag "," [authzid] ","
        parts = text.split(",", 2)
        if len(parts) != 3:
            raise SASLMalformed("SCRAM client-first-message lacks a gs2 header")
        flag, authzid_attr, bare = parts
        self._gs2_header = f"{flag},{authzid_attr},"
        if flag.startswith("p="):
            cb_name = flag[2:]
            if self._binding is None:
                # RFC 5802 §6: the server cannot do channel binding here.
                return SASLFailure("e=channel-binding-not-supported")
            if cb_name != self._binding.name:
                return SASLFailure("e=unsupported-channel-binding-type")
            self._cbind_data = self._binding.data
        elif flag == "y":
            if self._binding is not None:
                # RFC 5802 §6: the client thinks we lack channel binding, but the
                # protocol offered -PLUS (it passed the binding): a downgrade.
                return SASLFailure("e=server-does-support-channel-binding")
        elif flag == "n":
            if self._plus:
                raise SASLMalformed("SCRAM-SHA-256-PLUS requires channel binding")
        else:
            raise SASLMalformed("SCRAM gs2-cbind-flag must be n, y or p=")
        if authzid_attr and not authzid_attr.startswith("a="):
            raise SASLMalformed("SCRAM authzid must start with a=")
        authzid = _saslname(authzid_attr[2:]) if authzid_attr else ""
        attributes = bare.split(",")
        if attributes[0].startswith("m="):
            # RFC 5802 §5.1: a mandatory extension we do not know.
            return SASLFailure("e=extensions-not-supported")
        if len(attributes) < 2 or not attributes[0].startswith("n="):
            raise SASLMalformed("SCRAM client-first-message needs n= then r=")
        if not attributes[1].startswith("r="):
            raise SASLMalformed("SCRAM client-first-message needs a nonce r=")
        login = _saslname(attributes[0][2:])
        client_nonce = attributes[1][2:]
        if not login:
            raise SASLMalformed("SCRAM user name must not be empty")
        if len(client_nonce) > SCRAM_MAX_CLIENT_NONCE:
            # The server-first message repeats it; RFC 4954 §4 caps that line.
            raise SASLMalformed("SCRAM nonce is too long")
        if not client_nonce or any(c not in _PRINTABLE for c in client_nonce):
            raise SASLMalformed("SCRAM nonce must be printable characters")
        self._login = _normalise_login(login)
        if authzid and _normalise_login(authzid) != self._login:
            return SASLFailure("e=other-error")
        self._client_first_bare = bare
        self._nonce = client_nonce + self._server_nonce
        d = self._authenticator.credentials_for_login(self._login)
        return d.addCallback(self._server_first_message)

    def _server_first_message(self, found: tuple[str, Credentials] | None) -> SASLResult:
        if found is None:
            self._account, self._credentials = None, None
            salt = self._authenticator.fake_scram_salt(self._login)
            iterations = SCRAM_MIN_ITERATIONS
        else:
            self._account, self._credentials = found
            salt = self._credentials.scram_salt
            iterations = self._credentials.scram_iterations
        # RFC 5802 §7: server-first-message = nonce "," salt "," iteration-count
        self._server_first = (
            f"r={self._nonce},s={base64.b64encode(salt).decode('ascii')},i={iterations}"
        )
        self._state = "final"
        return SASLChallenge(self._server_first.encode("utf-8"))

    def _client_final(self, response: bytes) -> SASLResult:
        text = _utf8(response, "SCRAM client-final-message")
        # RFC 5802 §7: channel-binding "," nonce ["," extensions] "," proof
        without_proof, sep, proof_attr = text.rpartition(",")
        attributes = without_proof.split(",")
        if not sep or not proof_attr.startswith("p=") or len(attributes) < 2:
            raise SASLMalformed("SCRAM client-final-message needs c=, r= and p=")
        if not attributes[0].startswith("c=") or not attributes[1].startswith("r="):
            raise SASLMalformed("SCRAM client-final-message needs c= then r=")
        channel_binding = _b64decode(attributes[0][2:], "channel binding")
        proof = _b64decode(proof_attr[2:], "proof")
        if len(proof) != hashlib.sha256().digest_size:
            raise SASLMalformed("SCRAM proof has the wrong length")
        # RFC 5802 §5.1: c= carries the gs2 header and the channel binding data.
        expected_binding = self._gs2_header.encode("utf-8") + self._cbind_data
        if not hmac.compare_digest(channel_binding, expected_binding):
            return SASLFailure("e=channel-bindings-dont-match")
        if not hmac.compare_digest(attributes[1][2:].encode(), self._nonce.encode()):
            return SASLFailure("e=other-error")
        # RFC 5802 §3: AuthMessage, ClientSignature, ClientKey = proof XOR signature.
        auth_message = ",".join((self._client_first_bare, self._server_first, without_proof))
        creds = self._credentials or self._authenticator.dummy
        signature = hmac.digest(creds.scram_stored_key, auth_message.encode("utf-8"), "sha256")
        client_key = _xor(proof, signature)
        valid = hmac.compare_digest(hashlib.sha256(client_key).digest(), creds.scram_stored_key)
        if not valid or self._credentials is None:
            return SASLFailure("e=invalid-proof")
        server_signature = hmac.digest(
            creds.scram_server_key, auth_message.encode("utf-8"), "sha256"
        )
        self._state = "verified"
        # RFC 5802 §7: server-final-message = verifier; RFC 4954 §4 sends it as a
        # challenge and the client answers with an empty response.
        return SASLChallenge(b"v=" + base64.b64encode(server_signature), verified=True)


#: How long a verified password is remembered by ``check_password``: HTTP basic auth
#: checks on every request, and scrypt costs ~40 ms of CPU a time.
VERIFIED_FOR = 300.0

#: At most this many remembered passwords; the oldest go first.
MAX_VERIFIED = 10_000


class VerifiedPasswords:
    """Passwords verified recently, remembered as keyed digests of (stored hash, password).

    Only successes are remembered: a wrong password always pays the full check. A
    changed password changes the stored hash, so entries for the old one never match
    again. The digest key is random per process; no password is kept.
    """

    def __init__(self, clock: IReactorTime, secret: bytes, lifetime: float = VERIFIED_FOR) -> None:
        self._clock = clock
        self._secret = secret
        self._lifetime = lifetime
        self._expiry: OrderedDict[bytes, float] = OrderedDict()

    def _key(self, credentials: Credentials, password: str) -> bytes:
        material = credentials.password_hash.encode() + b"\0" + password.encode("utf-8", "replace")
        return hmac.digest(self._secret, material, "sha256")

    def known(self, credentials: Credentials, password: str) -> bool:
        key = self._key(credentials, password)
        expiry = self._expiry.get(key)
        if expiry is None:
            return False
        if expiry <= self._clock.seconds():
            del self._expiry[key]
            return False
        return True

    def remember(self, credentials: Credentials, password: str) -> None:
        key = self._key(credentials, password)
        self._expiry.pop(key, None)
        self._expiry[key] = self._clock.seconds() + self._lifetime
        while len(self._expiry) > MAX_VERIFIED:
            self._expiry.popitem(last=False)


class Authenticator:
    """Checks logins against stored credentials and starts SASL server mechanisms.

    ``account_for_login`` maps an NFC login to an account (None: unknown);
    ``credentials_for_account`` fetches the account's Credentials (None: none
    set). CPU-heavy password hashing runs through ``run_in_thread``.
    """

    def __init__(
        self,
        *,
        account_for_login: Callable[[str], str | None],
        credentials_for_account: Callable[[str], Deferred[Credentials | None]],
        hostname: str,
        clock: IReactorTime,
        run_in_thread: Callable[..., Deferred[Any]] = threads.deferToThread,
        random_bytes: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._account_for_login = account_for_login
        self._credentials_for_account = credentials_for_account
        self._hostname = hostname
        self._clock = clock
        self._run_in_thread = run_in_thread
        self._random_bytes = random_bytes
        self.dummy = dummy_credentials()
        self._salt_secret = os.urandom(32)
        self._verified = VerifiedPasswords(clock, os.urandom(32))

    def mechanisms(
        self, tls: bool, allow_plaintext: bool, channel_binding: bool = False
    ) -> list[str]:
        """Mechanisms to advertise; none without TLS unless plaintext is allowed.

        ``channel_binding`` (the TLS channel's binding known) adds SCRAM-SHA-256-PLUS first.
        """
        # RFC 4954 §4 / RFC 4616 §6: no passwords over an unprotected channel.
        if not (tls or allow_plaintext):
            return []
        names = ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"]
        if channel_binding:
            names.insert(0, "SCRAM-SHA-256-PLUS")
        return names

    def start(self, name: str, binding: ChannelBinding | None = None) -> IServerMechanism:
        """A new exchange for mechanism ``name``; KeyError if unknown.

        Pass the channel's ``binding`` only when SCRAM-SHA-256-PLUS was offered.
        """
        # RFC 4422 §3.1: mechanism names are upper-case; accept any case.
        upper = name.upper()
        if upper == "PLAIN":
            return PlainMechanism(self)
        if upper == "LOGIN":
            return LoginMechanism(self)
        if upper == "CRAM-MD5":
            return CramMD5Mechanism(self, self._cram_md5_challenge())
        if upper == "SCRAM-SHA-256":
            return ScramSHA256Mechanism(self, self._scram_server_nonce(), binding, plus=False)
        if upper == "SCRAM-SHA-256-PLUS" and binding is not None:
            return ScramSHA256Mechanism(self, self._scram_server_nonce(), binding, plus=True)
        raise KeyError(name)

    def check_password(self, login: str, password: str) -> Deferred[str | None]:
        """The account ``login`` authenticates as with ``password``, or None.

        Unknown logins are verified against dummy credentials, so they cost the
        same and answer the same as a wrong password. A password verified in the
        last VERIFIED_FOR seconds is accepted without hashing again (HTTP basic auth
        sends it with every request).
        """
        login = _normalise_login(login)
        d = self.credentials_for_login(login)

        def verify(found: tuple[str, Credentials] | None) -> Deferred[str | None]:
            if found is not None and self._verified.known(found[1], password):
                return succeed(found[0])
            creds = found[1] if found else self.dummy
            check = self._run_in_thread(verify_password, creds, password)

            def decide(ok: bool) -> str | None:
                if ok and found is not None:
                    self._verified.remember(found[1], password)
                    return found[0]
                return None

            return check.addCallback(decide)

        return d.addCallback(verify)

    def credentials_for_login(self, login: str) -> Deferred[tuple[str, Credentials] | None]:
        """The account and Credentials of an NFC login, or None when either is unknown."""
        try:
            account = self._account_for_login(login)
        except Exception:
            return fail()
        if account is None:
            return succeed(None)
        d = self._credentials_for_account(account)

        def pair(creds: Credentials | None) -> tuple[str, Credentials] | None:
            return None if creds is None else (account, creds)

        return d.addCallback(pair)

    def fake_scram_salt(self, login: str) -> bytes:
        """A stable salt for an unknown login, so repeated probes see no change."""
        return hmac.digest(self._salt_secret, login.encode("utf-8"), "sha256")[:16]

    def _cram_md5_challenge(self) -> bytes:
        # RFC 2195 §2: msg-id style challenge <random.timestamp@hostname>.
        random = int.from_bytes(self._random_bytes(8), "big")
        timestamp = int(self._clock.seconds())
        return f"<{random}.{timestamp}@{self._hostname}>".encode()

    def _scram_server_nonce(self) -> str:
        return _scram_nonce(self._random_bytes(SCRAM_SERVER_NONCE_LENGTH))


__all__ = [
    "AUTHZID_REFUSED",
    "INVALID_CREDENTIALS",
    "Authenticator",
    "ChannelBinding",
    "IServerMechanism",
    "SASLChallenge",
    "SASLFailure",
    "SASLMalformed",
    "SASLSuccess",
]
