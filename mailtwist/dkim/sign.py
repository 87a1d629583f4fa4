"""DKIM signing (RFC 6376) with the keys of the configured domains and parent-domain lookup."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import dkim
from twisted.internet.defer import Deferred, maybeDeferred
from twisted.internet.threads import deferToThread
from twisted.logger import Logger

from mailtwist.address import Domain
from mailtwist.config.model import Config
from mailtwist.dkim import openssl_rsa
from mailtwist.dkim.keys import ED25519_SHA256, dkimpy_private_key
from mailtwist.message.headers import HeaderError, field_names, split_message

log = Logger()

#: Header fields signed when present, in this order (RFC 6376 §5.4.1 recommends these).
SIGNED_HEADERS = (
    "From",
    "To",
    "Cc",
    "Subject",
    "Date",
    "Message-ID",
    "References",
    "In-Reply-To",
    "MIME-Version",
    "Content-Type",
    "Reply-To",
)

#: Fields named once more than they occur, so none can be added after signing
#: without breaking the signature (RFC 6376 §8.15, "oversigning").
OVERSIGNED_HEADERS = ("From",)


@dataclass(frozen=True)
class SigningKey:
    """One selector of a domain with its key loaded in the form dkimpy signs with."""

    selector: str
    algorithm: str
    private_key: bytes


class DKIMSigner:
    """Signs outgoing messages with the DKIM keys of the configuration.

    The keys of every domain are read once, at construction; a key file that
    cannot be read raises ValueError naming the file. Signing is CPU work
    (RSA especially): callers on the reactor thread run :meth:`sign` in a
    thread when messages are large or many. The ``t=`` tag is set by dkimpy
    from the system clock.
    """

    def __init__(self, config: Config) -> None:
        # dkimpy's RSA is pure Python (~5 ms a signature); OpenSSL does it in ~0.2 ms.
        if not openssl_rsa.install():
            log.warn("dkimpy has no RSA signing hook: RSA DKIM signatures use its pure Python")
        self._disabled = frozenset(
            name for name, domain in config.domains.items() if domain.disabled
        )
        keys: dict[str, tuple[SigningKey, ...]] = {}
        for name, domain in config.domains.items():
            loaded = []
            for selector in domain.dkim:
                try:
                    pem = selector.private_key.read_bytes()
                    private_key = dkimpy_private_key(pem)
                except (OSError, ValueError) as e:
                    raise ValueError(
                        f"DKIM key {selector.private_key} of {name} selector"
                        f" {selector.selector}: {e}"
                    ) from None
                loaded.append(SigningKey(selector.selector, selector.algorithm, private_key))
            keys[name] = tuple(loaded)
        self._keys = keys

    def signing_domain(self, domain: Domain) -> str | None:
        """The domain whose keys sign mail from ``domain`` (ASCII), or None.

        Spec §11.3: start at the domain and drop the leftmost label until a
        configured domain is found; a disabled one stops the search (unsigned).
        Issue 3 item 9 goes further than mox: a configured domain without keys
        (``mail.example.com``) also hands over to its parent (``example.com``).
        """
        name, disabled = self._lookup(domain)
        if disabled:
            log.info(
                "not DKIM-signing for {domain}: domain {name} is disabled",
                domain=domain.ascii,
                name=disabled,
            )
        return name

    def _lookup(self, domain: Domain) -> tuple[str | None, str | None]:
        """(the signing domain or None, the disabled domain that stopped the search)."""
        if domain.is_literal:
            return None, None
        name = domain.ascii.rstrip(".").lower()
        while name:
            if name in self._disabled:
                return None, name
            if self._keys.get(name):
                return name, None
            _, _, name = name.partition(".")
        return None, None

    def signs_quickly(self, domain: Domain) -> bool:
        """Whether signing mail from ``domain`` is cheap: no key, or Ed25519 keys only.

        Ed25519 takes ~0.2 ms for a small message, less than handing it to a thread;
        an RSA signature ~0.7 ms even through OpenSSL (openssl_rsa), and belongs on one.
        """
        name, _ = self._lookup(domain)
        return name is None or all(k.algorithm == ED25519_SHA256 for k in self._keys[name])

    def sign(self, message: bytes, domain: Domain) -> bytes:
        """``message`` with one DKIM-Signature in front per selector of the signing domain.

        RFC 6376: relaxed/relaxed canonicalization (§3.4), sha256 (RFC 8301),
        the fields of SIGNED_HEADERS that are present, From once more. Without a
        signing domain, or for a message whose header cannot be read, the
        message is returned unchanged (and the latter logged).
        """
        name = self.signing_domain(domain)
        if name is None:
            return message
        try:
            header, _ = split_message(message)
            present = [name.decode("ascii", "replace").lower() for name in field_names(header)]
        except HeaderError as e:
            log.warn("not DKIM-signing a message with a malformed header: {error}", error=e)
            return message
        include: list[bytes] = []
        for field_name in SIGNED_HEADERS:
            # RFC 6376 §5.4.2: a field occurring n times is listed n times.
            include += [field_name.lower().encode()] * present.count(field_name.lower())
        if "from" not in present:
            # RFC 6376 §5.4: From is required; a message without it cannot be signed.
            log.warn("not DKIM-signing a message without From")
            return message
        include += [field_name.lower().encode() for field_name in OVERSIGNED_HEADERS]
        signatures = []
        for key in self._keys[name]:
            try:
                signature = dkim.sign(
                    message,
                    key.selector.encode("ascii"),
                    name.encode("ascii"),
                    key.private_key,
                    canonicalize=(b"relaxed", b"relaxed"),
                    signature_algorithm=key.algorithm.encode("ascii"),
                    include_headers=include,
                )
            except dkim.DKIMException as e:
                # Spec §11.3: a message that cannot be signed goes out unsigned, logged.
                log.warn(
                    "DKIM signing with {selector} of {name} failed: {error}",
                    selector=key.selector,
                    name=name,
                    error=str(e),
                )
                return message
            signatures.append(signature if signature.endswith(b"\r\n") else signature + b"\r\n")
        return b"".join(signatures) + message


#: Messages at least this large are signed on a thread even with Ed25519 keys: the
#: canonicalization grows with the message (measured here: 2.3 ms for 32 KiB of text,
#: 13 ms for 256 KiB, 46 ms for a 256 KiB header of 7,000 fields), a few KiB ~0.2 ms.
SIGN_INLINE_BELOW = 32 * 1024


class MessageSigner(Protocol):
    """What the webapi and SMTP submission need of DKIMSigner."""

    def sign(self, message: bytes, domain: Domain) -> bytes:
        """The message with its DKIM-Signature fields in front."""

    def signs_quickly(self, domain: Domain) -> bool:
        """Whether signing for ``domain`` is cheap enough for the reactor (small messages)."""


def sign_message(
    signer: MessageSigner,
    message: bytes,
    domain: Domain,
    run_in_thread: Callable[..., Deferred[Any]] = deferToThread,
) -> Deferred[bytes]:
    """``signer.sign(message, domain)``: here when that is cheap (Ed25519 keys, a message
    under SIGN_INLINE_BELOW), else through ``run_in_thread`` (DESIGN: the reactor thread
    never blocks). Handing a 0.2 ms Ed25519 signature to a thread costs more than it."""
    if len(message) < SIGN_INLINE_BELOW and signer.signs_quickly(domain):
        return maybeDeferred(signer.sign, message, domain)
    result: Deferred[bytes] = run_in_thread(signer.sign, message, domain)
    return result


__all__ = [
    "OVERSIGNED_HEADERS",
    "SIGNED_HEADERS",
    "SIGN_INLINE_BELOW",
    "DKIMSigner",
    "MessageSigner",
    "SigningKey",
    "sign_message",
]
