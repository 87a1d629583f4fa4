"""Per-account webhook settings: validation, their stored form, and the store-backed lookup."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Protocol
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime

from mailtwist.cache import ExpiringCache
from mailtwist.webhook.payload import OUTGOING_EVENTS

#: Prefix of a Standard Webhooks secret; the rest is the base64 of the HMAC key.
SECRET_PREFIX = "whsec_"

#: At most two secrets are active: the current one and the one being rotated out.
MAX_SECRETS = 2


class InvalidWebhookSettings(ValueError):
    """A webhook setting is not valid; the message names the setting and the reason."""


def check_url(setting: str, url: str) -> str:
    """The URL when it is an absolute http or https URL with a host (spec §10.1)."""
    if not isinstance(url, str) or not url:
        raise InvalidWebhookSettings(f"{setting}.URL: required")
    if any(c in url for c in "\r\n\t ") or not url.isprintable():
        raise InvalidWebhookSettings(f"{setting}.URL: contains whitespace or control characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as e:
        raise InvalidWebhookSettings(f"{setting}.URL: {e}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidWebhookSettings(
            f"{setting}.URL: scheme must be http or https, not {parts.scheme!r}"
        )
    if not parts.hostname:
        raise InvalidWebhookSettings(f"{setting}.URL: no host in {url!r}")
    return url


def check_authorization(setting: str, value: str) -> str:
    """An Authorization header value: one line of printable text (or empty)."""
    if not isinstance(value, str) or not value.isprintable() or value != value.strip():
        # Never echo the value: it is a credential.
        raise InvalidWebhookSettings(
            f"{setting}.Authorization: must be one line of printable text without"
            " leading or trailing spaces"
        )
    return value


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (Standard Webhooks)."""
    if not isinstance(secret, str) or not secret.startswith(SECRET_PREFIX):
        raise InvalidWebhookSettings(f"WebhookSecrets: a secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except (binascii.Error, ValueError):
        raise InvalidWebhookSettings("WebhookSecrets: a secret is not valid base64") from None
    if not 24 <= len(key) <= 64:
        raise InvalidWebhookSettings("WebhookSecrets: a secret's key must be 24 to 64 bytes")
    return key


def new_secret() -> str:
    """A fresh random secret, ``whsec_`` and 32 random bytes in base64."""
    return SECRET_PREFIX + base64.b64encode(os.urandom(32)).decode("ascii")


@dataclass(frozen=True)
class OutgoingWebhook:
    """Where an account's outgoing-delivery events go (spec §10.1 OutgoingWebhook)."""

    url: str
    authorization: str = field(default="", repr=False)  # a credential: not in logs
    #: Events sent; empty means all (spec §3.4).
    events: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        check_url("OutgoingWebhook", self.url)
        check_authorization("OutgoingWebhook", self.authorization)
        object.__setattr__(self, "events", tuple(self.events))
        for event in self.events:
            if event not in OUTGOING_EVENTS:
                raise InvalidWebhookSettings(
                    f"OutgoingWebhook.Events: unknown event {event!r},"
                    f" known: {', '.join(OUTGOING_EVENTS)}"
                )

    def wants(self, event: str) -> bool:
        """Whether ``event`` is sent to this webhook (spec §3.4)."""
        return not self.events or event in self.events


@dataclass(frozen=True)
class IncomingWebhook:
    """Where an account's incoming-delivery events go (spec §10.1 IncomingWebhook)."""

    url: str
    authorization: str = field(default="", repr=False)  # a credential: not in logs

    def __post_init__(self) -> None:
        check_url("IncomingWebhook", self.url)
        check_authorization("IncomingWebhook", self.authorization)


@dataclass(frozen=True)
class WebhookSettings:
    """An account's webhook settings; every field validated at construction."""

    outgoing: OutgoingWebhook | None = None
    incoming: IncomingWebhook | None = None
    #: 0 means retired webhooks are not kept (spec §3.6).
    keep_retired_webhook_period: timedelta = timedelta(0)
    #: Standard Webhooks secrets (``whsec_...``); each signs every request.
    secrets: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.keep_retired_webhook_period < timedelta(0):
            raise InvalidWebhookSettings("KeepRetiredWebhookPeriod: must not be negative")
        object.__setattr__(self, "secrets", tuple(self.secrets))
        if len(self.secrets) > MAX_SECRETS:
            raise InvalidWebhookSettings(
                f"WebhookSecrets: at most {MAX_SECRETS} (the current one and the previous one)"
            )
        for secret in self.secrets:
            secret_key(secret)

    def secret_keys(self) -> tuple[bytes, ...]:
        """The HMAC keys of the secrets."""
        return tuple(secret_key(s) for s in self.secrets)

    def to_json(self) -> str:
        """The stored form (JSON text with mox's names)."""
        value: dict[str, Any] = {
            "KeepRetiredWebhookPeriod": self.keep_retired_webhook_period.total_seconds(),
            "WebhookSecrets": list(self.secrets),
        }
        if self.outgoing is not None:
            value["OutgoingWebhook"] = {
                "URL": self.outgoing.url,
                "Authorization": self.outgoing.authorization,
                "Events": list(self.outgoing.events),
            }
        if self.incoming is not None:
            value["IncomingWebhook"] = {
                "URL": self.incoming.url,
                "Authorization": self.incoming.authorization,
            }
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> WebhookSettings:
        """Settings from their stored or user-given JSON; InvalidWebhookSettings if wrong."""
        try:
            value = json.loads(text)
        except ValueError as e:
            raise InvalidWebhookSettings(f"webhook settings: not JSON: {e}") from None
        if not isinstance(value, dict):
            raise InvalidWebhookSettings("webhook settings: must be a JSON object")
        known = {"OutgoingWebhook", "IncomingWebhook", "KeepRetiredWebhookPeriod", "WebhookSecrets"}
        unknown = sorted(set(value) - known)
        if unknown:
            raise InvalidWebhookSettings(f"webhook settings: unknown field {unknown[0]!r}")
        try:
            outgoing = value.get("OutgoingWebhook")
            incoming = value.get("IncomingWebhook")
            period = value.get("KeepRetiredWebhookPeriod", 0)
            if not isinstance(period, (int, float)) or isinstance(period, bool):
                raise InvalidWebhookSettings("KeepRetiredWebhookPeriod: must be seconds")
            secrets = value.get("WebhookSecrets", [])
            if not isinstance(secrets, list):
                raise InvalidWebhookSettings("WebhookSecrets: must be a list")
            return cls(
                outgoing=None
                if not outgoing
                else OutgoingWebhook(
                    url=outgoing.get("URL", ""),
                    authorization=outgoing.get("Authorization", ""),
                    events=tuple(outgoing.get("Events") or ()),
                ),
                incoming=None
                if not incoming
                else IncomingWebhook(
                    url=incoming.get("URL", ""),
                    authorization=incoming.get("Authorization", ""),
                ),
                keep_retired_webhook_period=timedelta(seconds=period),
                secrets=tuple(secrets),
            )
        except (AttributeError, TypeError) as e:
            raise InvalidWebhookSettings(f"webhook settings: wrong type: {e}") from None

    def __repr__(self) -> str:
        # Secrets and Authorization values never reach logs through a repr.
        return (
            f"WebhookSettings(outgoing={self.outgoing and self.outgoing.url!r},"
            f" incoming={self.incoming and self.incoming.url!r},"
            f" keep_retired_webhook_period={self.keep_retired_webhook_period!r},"
            f" secrets={len(self.secrets)})"
        )


def defaults_from_accounts(accounts: Mapping[str, Any]) -> dict[str, WebhookSettings]:
    """Settings of each config-file account (AccountConfig), for StoredWebhookSettings.

    The config file's webhooks, secrets and KeepRetiredWebhookPeriod (already
    validated by the config loader); settings saved at run time (CLI, account
    page) replace them as a whole.
    """
    defaults: dict[str, WebhookSettings] = {}
    for name, account in accounts.items():
        outgoing = getattr(account, "outgoing_webhook", None)
        incoming = getattr(account, "incoming_webhook", None)
        defaults[name] = WebhookSettings(
            outgoing=None
            if outgoing is None
            else OutgoingWebhook(outgoing.url, outgoing.authorization, tuple(outgoing.events)),
            incoming=None
            if incoming is None
            else IncomingWebhook(incoming.url, incoming.authorization),
            keep_retired_webhook_period=account.keep_retired_webhook_period,
            secrets=tuple(getattr(account, "webhook_secrets", ())),
        )
    return defaults


class ISettingsStore(Protocol):
    """The part of the store that keeps webhook settings (see IWebhookStore)."""

    def webhook_settings(self, account: str) -> Deferred[str | None]: ...

    def set_webhook_settings(self, account: str, settings: str | None) -> Deferred[None]: ...


#: An account no longer in the config: no webhooks, and the hooks it still had queued
#: are kept a week once retired (spec §3.6).
_GONE_ACCOUNT = WebhookSettings(keep_retired_webhook_period=timedelta(weeks=1))


class StoredWebhookSettings:
    """Webhook settings kept in the store, so changes apply without restart.

    ``defaults`` are the settings of accounts that never saved any (from the
    config file); a saved value replaces them. Without ``cached`` the store is read
    on each use (the CLI); with ``cached=(clock, seconds)`` (the server, which looks
    them up twice per delivered message) a read is used for that long, and
    ``forget()`` reads afresh (the CLI wakes the server after changing them).
    """

    def __init__(
        self,
        store: ISettingsStore,
        defaults: dict[str, WebhookSettings] | None = None,
        cached: tuple[IReactorTime, float] | None = None,
    ) -> None:
        self._store = store
        self._defaults = dict(defaults or {})
        self._read: Callable[[str], Deferred[str | None]] = store.webhook_settings
        self._cache: ExpiringCache[str, str | None] | None = None
        if cached is not None:
            self._cache = ExpiringCache(store.webhook_settings, *cached)
            self._read = self._cache

    def settings_for(self, account: str) -> Deferred[WebhookSettings]:
        """The account's current settings (no webhooks when none are set)."""

        def parse(text: str | None) -> WebhookSettings:
            if text is None:
                return self._defaults.get(account, _GONE_ACCOUNT)
            return WebhookSettings.from_json(text)

        return self._read(account).addCallback(parse)

    def save(self, account: str, settings: WebhookSettings | None) -> Deferred[None]:
        """Store the account's settings; None returns it to its defaults."""
        d = self._store.set_webhook_settings(
            account, None if settings is None else settings.to_json()
        )

        def written(_: None) -> None:
            # Once durable: a read started before would still bring the old value.
            self.forget(account)

        return d.addCallback(written)

    def forget(self, account: str | None = None) -> None:
        """Read the settings of ``account`` (or of all) from the store next time."""
        if self._cache is not None:
            self._cache.forget(account)


__all__ = [
    "MAX_SECRETS",
    "IncomingWebhook",
    "InvalidWebhookSettings",
    "OutgoingWebhook",
    "StoredWebhookSettings",
    "WebhookSettings",
    "check_url",
    "defaults_from_accounts",
    "new_secret",
    "secret_key",
]
