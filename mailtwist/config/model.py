"""The validated configuration: immutable records and the lookups others ask of them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from types import MappingProxyType

from mailtwist.address import (
    Address,
    AddressError,
    Domain,
    canonical_localpart,
    parse_address,
)

#: Config modes: a server facing the internet, or the development mode (spec §9).
MODES = ("production", "localserve")

#: Listener kinds; each serves one protocol on its addresses and port.
LISTENER_KINDS = ("smtp", "submission", "submissions", "http", "metrics")


class ConfigError(Exception):
    """A config file that cannot be used: names the file, the key and the reason.

    ``key`` is dotted as written in TOML, e.g. ``accounts.admin.addresses[0]`` or
    ``domains."example.com".dkim[0].private_key``; it is "" for errors about the
    whole file (unreadable, TOML syntax), and then ``str()`` leaves it out.
    """

    def __init__(self, file: str | Path, key: str, reason: str) -> None:
        self.file = str(file)
        self.key = key
        self.reason = reason
        super().__init__(str(self))

    def __str__(self) -> str:
        if not self.key:
            return f"{self.file}: {self.reason}"
        return f"{self.file}: {self.key}: {self.reason}"


@dataclass(frozen=True)
class ListenerConfig:
    """One listener: a protocol served on IP addresses and a port."""

    kind: str
    addresses: tuple[str, ...]
    port: int


@dataclass(frozen=True)
class DKIMSelector:
    """A DKIM key of a domain (RFC 6376 §3.1): selector, algorithm, PEM key file."""

    selector: str
    algorithm: str
    private_key: Path


@dataclass(frozen=True)
class DomainConfig:
    """A domain mailtwist receives and sends for (spec §10.2)."""

    domain: Domain
    catchall_separators: tuple[str, ...] = ()
    localpart_case_sensitive: bool = False
    disabled: bool = False
    dkim: tuple[DKIMSelector, ...] = ()

    def canonical_localpart(self, localpart: str) -> str:
        """The localpart as account lookups compare it: cut at separators, cased (spec §13)."""
        return canonical_localpart(
            localpart, self.catchall_separators, case_sensitive=self.localpart_case_sensitive
        )


@dataclass(frozen=True)
class OutgoingWebhookConfig:
    """Where an account's outgoing-delivery events go (spec §10.1 OutgoingWebhook)."""

    url: str
    #: The Authorization header value, verbatim; a credential, so not in reprs.
    authorization: str = field(default="", repr=False)
    #: Event names sent (spec §3.4); empty means all.
    events: tuple[str, ...] = ()


@dataclass(frozen=True)
class IncomingWebhookConfig:
    """Where an account's incoming-delivery events go (spec §10.1 IncomingWebhook)."""

    url: str
    authorization: str = field(default="", repr=False)


@dataclass(frozen=True)
class AccountConfig:
    """An account: its addresses and the options of spec §10.1."""

    name: str
    addresses: tuple[Address, ...]
    full_name: str = ""
    keep_retired_message_period: timedelta = timedelta(0)
    keep_retired_webhook_period: timedelta = timedelta(0)
    fromid_login_addresses: tuple[Address, ...] = ()
    max_outgoing_messages_per_day: int = 1000
    max_first_time_recipients_per_day: int = 200
    #: False: no DSNs to the sender for messages sent through the webapi; the
    #: application learns the outcome from its webhooks instead (issue 3).
    dsn_for_webapi_sends: bool = True
    outgoing_webhook: OutgoingWebhookConfig | None = None
    incoming_webhook: IncomingWebhookConfig | None = None
    #: Standard Webhooks secrets (``whsec_<base64>``), zero to two for rotation;
    #: credentials, so not in reprs.
    webhook_secrets: tuple[str, ...] = field(default=(), repr=False)


@dataclass(frozen=True)
class Config:
    """The whole configuration file, validated; build it with ``load_config``.

    Paths are absolute (relative ones in the file are taken from its directory).
    ``domains`` is keyed by the domain's ASCII (IDNA A-label) form, ``accounts`` by
    account name. Durations are seconds (float) where the consumer is a timer.
    """

    path: Path
    mode: str
    hostname: Domain
    data_dir: Path
    postmaster_account: str
    tls_certificate: Path | None
    tls_key: Path | None
    listeners: tuple[ListenerConfig, ...]
    max_message_size: int
    max_recipients: int
    max_connections: int
    idle_timeout: float
    queue_concurrency: int
    attempt_timeout: float
    allow_plaintext_auth: bool
    webapi_enabled: bool
    webapi_path: str
    domains: Mapping[str, DomainConfig]
    accounts: Mapping[str, AccountConfig]
    # (domain ascii, canonical localpart) -> account name; built from ``accounts``.
    _address_index: Mapping[tuple[str, str], str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "listeners", tuple(self.listeners))
        object.__setattr__(self, "domains", MappingProxyType(dict(self.domains)))
        object.__setattr__(self, "accounts", MappingProxyType(dict(self.accounts)))
        index: dict[tuple[str, str], str] = {}
        for account in self.accounts.values():
            for address in account.addresses:
                domain = self.domains.get(address.domain.ascii)
                if domain is None:
                    raise ValueError(f"address {address} of {account.name}: domain not configured")
                key = (address.domain.ascii, domain.canonical_localpart(address.localpart))
                if index.setdefault(key, account.name) != account.name:
                    raise ValueError(f"address {address} belongs to two accounts")
        object.__setattr__(self, "_address_index", MappingProxyType(index))

    @property
    def localserve(self) -> bool:
        """Whether this is the development mode (spec §9)."""
        return self.mode == "localserve"

    def listener(self, kind: str) -> ListenerConfig | None:
        """The first listener of a kind, or None when there is none."""
        for listener in self.listeners:
            if listener.kind == kind:
                return listener
        return None

    def domain_config(self, domain: Domain) -> DomainConfig | None:
        """The configuration of a domain, or None when it is not ours."""
        return self.domains.get(domain.ascii)

    def is_local_domain(self, domain: Domain) -> bool:
        """Whether mail for the domain is ours to receive (disabled domains included)."""
        return domain.ascii in self.domains

    def account_for_address(self, address: Address) -> str | None:
        """The account owning an address, or None.

        A catchall variant (``admin+tag@``) belongs to the account of its base
        (``admin@``): the localpart is cut at the domain's separators and compared
        lower-cased unless the domain is case-sensitive (spec §10.2, §13).
        """
        domain = self.domains.get(address.domain.ascii)
        if domain is None:
            return None
        key = (address.domain.ascii, domain.canonical_localpart(address.localpart))
        return self._address_index.get(key)

    def uses_fromid(self, account: str, login: str | None) -> bool:
        """Whether messages sent with this login get a unique MAIL FROM (spec §7.1).

        True when the login, parsed as an address (NFC localpart compared exactly,
        domain normalised), is one of the account's ``fromid_login_addresses``.
        """
        acct = self.accounts.get(account)
        if acct is None or not acct.fromid_login_addresses or not login:
            return False
        try:
            address = parse_address(login)
        except AddressError:
            return False
        return address in acct.fromid_login_addresses

    def fromid_separator(self, domain: Domain) -> str | None:
        """The separator put before a fromid: the domain's first catchall separator
        (spec §7.2), or None when the domain is not ours or has none."""
        config = self.domains.get(domain.ascii)
        if config is None or not config.catchall_separators:
            return None
        return config.catchall_separators[0]

    def dsn_enabled(self, account: str, origin: str) -> bool:
        """Whether DSNs go to the sender of a message of this account and origin.

        An account may turn them off for webapi sends (``dsn_for_webapi_sends``):
        its application hears about failures through webhooks. Unknown accounts
        get DSNs, as mox delivers them to the postmaster then (spec §4.7).
        """
        acct = self.accounts.get(account)
        if origin != "webapi" or acct is None:
            return True
        return acct.dsn_for_webapi_sends

    def retired_message_period(self, account: str) -> timedelta:
        """How long the account's retired messages are kept (0: not at all).

        spec §4.2: an account that is no longer configured keeps them a week.
        """
        acct = self.accounts.get(account)
        return acct.keep_retired_message_period if acct else timedelta(weeks=1)

    def account_for_login(self, login: str) -> str | None:
        """The account of a login name (an address), or None, also on bad syntax."""
        try:
            address = parse_address(login)
        except AddressError:
            return None
        return self.account_for_address(address)


__all__ = [
    "LISTENER_KINDS",
    "MODES",
    "AccountConfig",
    "Config",
    "ConfigError",
    "DKIMSelector",
    "DomainConfig",
    "IncomingWebhookConfig",
    "ListenerConfig",
    "OutgoingWebhookConfig",
]
