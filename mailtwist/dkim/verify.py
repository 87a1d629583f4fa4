"""DKIM verification (RFC 6376 §6): keys fetched through the resolver, dkimpy off the reactor."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

import dkim
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.threads import deferToThread
from twisted.logger import Logger
from twisted.python.failure import Failure

from mailtwist.message.headers import HeaderError, parse_fields, split_message

log = Logger()

#: ``txt_lookup(name)``: the TXT records of a DNS name, each as one byte string.
TXTLookup = Callable[[str], "Deferred[list[bytes]]"]
#: ``runner(function, *args)``: runs CPU-heavy work, like ``deferToThread``.
Runner = Callable[..., "Deferred[Any]"]

# RFC 6376 §3.2 tag-spec: name "=" value, separated by ";".
_TAG = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]*)\s*=\s*([^;]*)")
# RFC 6376 §3.1 selector and §3.5 d= domain: dot-separated DNS labels.
_DNS_NAME = re.compile(
    r"[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]*[A-Za-z0-9_])?)*",
    re.ASCII,
)


def key_names(message: bytes) -> list[tuple[str, str]]:
    """``(d=, key record name)`` of every DKIM-Signature field, top first.

    The record name is ``<s>._domainkey.<d>`` (RFC 6376 §3.6.2.1); a signature
    without usable d= or s= gives ``("", "")`` so indexes stay aligned.
    """
    try:
        header, _ = split_message(message)
        fields = parse_fields(header)
    except HeaderError:
        return []
    out = []
    for field in fields:
        if not field.is_named("DKIM-Signature"):
            continue
        tags = dict(
            (name, value.strip())
            for name, value in _TAG.findall(field.value.decode("utf-8", "replace"))
        )
        domain = tags.get("d", "").rstrip(".").lower()
        selector = tags.get("s", "").lower()
        if _DNS_NAME.fullmatch(domain) and _DNS_NAME.fullmatch(selector):
            out.append((domain, f"{selector}._domainkey.{domain}"))
        else:
            out.append(("", ""))
    return out


def verify_dkim(
    message: bytes, txt_lookup: TXTLookup, *, runner: Runner = deferToThread
) -> Deferred[list[str]]:
    """The domains (d=, lower-case ASCII) of the signatures on ``message`` that verify.

    The public keys are fetched first, through ``txt_lookup`` only (a failed
    lookup fails just that signature, RFC 6376 §6.1.2 temperror); then dkimpy
    checks each signature in ``runner`` with those records. A domain appears
    once even when several of its signatures verify.
    """
    signatures = key_names(message)
    names = sorted({name for _, name in signatures if name})
    if not names:
        return succeed([])
    lookups = DeferredList([txt_lookup(name) for name in names], consumeErrors=True)

    def check(results: Sequence[tuple[bool, Any]]) -> Deferred[list[str]]:
        records: dict[str, bytes | None] = {}
        for name, (ok, value) in zip(names, results, strict=True):
            if ok:
                records[name] = _key_record(value)
            else:
                log.info(
                    "DKIM key lookup of {name} failed: {error}",
                    name=name,
                    error=value.getErrorMessage() if isinstance(value, Failure) else value,
                )
                records[name] = None
        return runner(_verify_all, message, signatures, records)

    return lookups.addCallback(check)


def _key_record(records: Sequence[bytes]) -> bytes | None:
    # RFC 6376 §3.6.2.2: one TXT record per key is expected; take the first that
    # looks like a key record rather than failing on unrelated TXT records.
    for record in records:
        if b"p=" in record:
            return record
    return None


def _verify_all(
    message: bytes, signatures: Sequence[tuple[str, str]], records: dict[str, bytes | None]
) -> list[str]:
    def dnsfunc(name: bytes, timeout: float = 5) -> bytes | None:
        # dkimpy asks for "<s>._domainkey.<d>." as bytes; answer only from prefetched records.
        return records.get(name.decode("ascii", "replace").rstrip(".").lower())

    verified: list[str] = []
    for index, (domain, name) in enumerate(signatures):
        if not name or records.get(name) is None or domain in verified:
            continue
        try:
            ok = dkim.DKIM(message).verify(idx=index, dnsfunc=dnsfunc)
        except dkim.DKIMException as e:
            log.info(
                "DKIM signature {index} of {domain} is invalid: {error}",
                index=index,
                domain=domain,
                error=str(e),
            )
            continue
        if ok:
            verified.append(domain)
    return verified


__all__ = ["Runner", "TXTLookup", "key_names", "verify_dkim"]
