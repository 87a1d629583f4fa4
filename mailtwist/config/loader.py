"""Reading ``mailtwist.toml``: TOML parsing, validation, normalisation into a Config.

The file format (TOML), every key and its default::

    mode = "production"                 # or "localserve" (spec §9)
    hostname = "mail.example.com"       # required; IDNA-normalised
    data_dir = "data"                   # relative paths are from the config's directory
    postmaster_account = "admin"        # required; must be an account below
    [tls]                               # both keys; needed for submissions, and for
    certificate = "tls/cert.pem"        # submission in production
    key = "tls/key.pem"
    [limits]
    max_message_size = 52428800         # bytes
    max_recipients = 1000
    max_connections = 500
    idle_timeout = "5m"                 # Go-style duration: "72h", "1h30m", "45s", "0s"
    [queue]
    concurrency = 10
    attempt_timeout = "10m"
    [submission]
    allow_plaintext_auth = false        # true only with mode = "localserve"
    [webapi]
    enabled = true
    path = "/webapi/"                   # starts and ends with "/"
    [[listeners]]                       # any number; kind + port unique
    kind = "smtp"                       # smtp | submission | submissions | http | metrics
    addresses = ["0.0.0.0", "::"]       # IP addresses (required)
    port = 25                           # required
    [domains."example.com"]             # Unicode or xn-- form; spec §10.2
    catchall_separators = ["+"]
    localpart_case_sensitive = false
    disabled = false
    [[domains."example.com".dkim]]
    selector = "2026a"
    algorithm = "ed25519-sha256"        # or "rsa-sha256"; must match the key
    private_key = "dkim/example.com-2026a-ed25519.pem"
    [accounts.admin]                    # spec §10.1
    addresses = ["admin@example.com"]   # required, at least one; domains configured
    full_name = ""
    keep_retired_message_period = "0s"
    keep_retired_webhook_period = "0s"
    fromid_login_addresses = []         # spec §7.1
    max_outgoing_messages_per_day = 1000
    max_first_time_recipients_per_day = 200
    dsn_for_webapi_sends = true         # false: webapi senders get webhooks, no DSNs
    webhook_secrets = []                # 0-2 "whsec_<base64 of 24-64 bytes>": signing keys
    [accounts.admin.outgoing_webhook]   # optional; spec §10.1 OutgoingWebhook
    url = "https://app.example/hooks"   # required in the table; http or https
    authorization = ""                  # Authorization header value, sent verbatim
    events = []                         # event names (spec §3.4); empty: all
    [accounts.admin.incoming_webhook]   # optional; spec §10.1 IncomingWebhook
    url = "https://app.example/mail"
    authorization = ""

Unknown keys are errors (they are nearly always typos). Every error is a
``ConfigError`` naming the file, the dotted key and the reason.
"""

from __future__ import annotations

import ipaddress
import json
import os
import re
import tomllib
import unicodedata
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from twisted.logger import Logger

from mailtwist.address import Address, AddressError, parse_address, parse_domain
from mailtwist.config.duration import parse_duration
from mailtwist.config.model import (
    LISTENER_KINDS,
    MODES,
    AccountConfig,
    Config,
    ConfigError,
    DKIMSelector,
    DomainConfig,
    IncomingWebhookConfig,
    ListenerConfig,
    OutgoingWebhookConfig,
)
from mailtwist.dkim.keys import ED25519_SHA256, RSA_SHA256, dkim_algorithm

log = Logger()

T = TypeVar("T")

_REQUIRED: Any = object()

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")

# RFC 6376 §3.1: a selector is one or more DNS labels.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_SELECTOR = re.compile(rf"{_LABEL}(?:\.{_LABEL})*")

_TOML_TYPES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a float",
    list: "an array",
    dict: "a table",
}


def _type_name(value: object) -> str:
    for kind, name in _TOML_TYPES.items():
        if type(value) is kind:
            return name
    return f"a {type(value).__name__}"


#: A key inside a table: a name, an array index, or a name and an index in its array.
KeyPart = str | int | tuple[str, int]


def key_name(prefix: str, name: KeyPart) -> str:
    """The dotted key of ``name`` inside ``prefix``, quoting as TOML would."""
    if isinstance(name, tuple):
        return f"{key_name(prefix, name[0])}[{name[1]}]"
    if isinstance(name, int):
        return f"{prefix}[{name}]"
    part = name if _BARE_KEY.fullmatch(name) else json.dumps(name, ensure_ascii=False)
    return f"{prefix}.{part}" if prefix else part


class _Table:
    """One TOML table being read: takes keys by type, and refuses the ones left over."""

    def __init__(self, file: Path, key: str, data: dict[str, Any]) -> None:
        self.file = file
        self.key = key
        self.data = data
        self.seen: set[str] = set()

    def error(self, name: KeyPart | None, reason: str) -> ConfigError:
        key = self.key if name is None else key_name(self.key, name)
        return ConfigError(self.file, key, reason)

    def _take(self, name: str, kind: type, default: Any) -> Any:
        self.seen.add(name)
        if name not in self.data:
            if default is _REQUIRED:
                raise self.error(name, "required key missing")
            return default
        value = self.data[name]
        # bool is an int in Python but not in TOML.
        if type(value) is not kind and not (kind is float and type(value) is int):
            raise self.error(name, f"must be {_TOML_TYPES[kind]}, not {_type_name(value)}")
        return value

    def string(self, name: str, default: Any = _REQUIRED) -> str:
        return self._take(name, str, default)  # type: ignore[no-any-return]

    def boolean(self, name: str, default: Any = _REQUIRED) -> bool:
        return self._take(name, bool, default)  # type: ignore[no-any-return]

    def integer(
        self, name: str, default: Any = _REQUIRED, minimum: int = 0, maximum: int | None = None
    ) -> int:
        value: int = self._take(name, int, default)
        if value < minimum or (maximum is not None and value > maximum):
            bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
            raise self.error(name, f"must be {bound}, not {value}")
        return value

    def duration(self, name: str, default: str, positive: bool = False) -> timedelta:
        text = self.string(name, default)
        try:
            value = parse_duration(text)
        except ValueError as e:
            raise self.error(name, str(e)) from None
        if positive and value <= timedelta(0):
            raise self.error(name, "must be longer than 0s")
        return value

    def strings(self, name: str, default: Any = _REQUIRED) -> list[str]:
        values: list[Any] = self._take(name, list, default)
        for i, value in enumerate(values):
            if type(value) is not str:
                raise self.error((name, i), f"must be a string, not {_type_name(value)}")
        return values

    def path(self, name: str, default: Any = _REQUIRED) -> Path:
        text = self.string(name, default)
        if not text:
            raise self.error(name, "empty path")
        path = Path(text)
        return path if path.is_absolute() else self.file.parent / path

    def table(self, name: str) -> _Table:
        value = self._take(name, dict, {})
        return _Table(self.file, key_name(self.key, name), value)

    def tables(self, name: str) -> list[_Table]:
        values: list[Any] = self._take(name, list, [])
        out = []
        for i, value in enumerate(values):
            key = key_name(key_name(self.key, name), i)
            if type(value) is not dict:
                raise ConfigError(self.file, key, f"must be a table, not {_type_name(value)}")
            out.append(_Table(self.file, key, value))
        return out

    def items(self) -> list[tuple[str, _Table]]:
        """Every key of this table as a subtable (for ``domains`` and ``accounts``)."""
        out = []
        for name, value in self.data.items():
            self.seen.add(name)
            if type(value) is not dict:
                raise self.error(name, f"must be a table, not {_type_name(value)}")
            out.append((name, _Table(self.file, key_name(self.key, name), value)))
        return out

    def finish(self) -> None:
        """Refuse keys nobody asked for: in a config file these are typos."""
        for name in self.data:
            if name not in self.seen:
                raise self.error(name, "unknown key")


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, validate and normalise a config file; ConfigError on any problem."""
    file = Path(path).absolute()
    try:
        raw = file.read_bytes()
    except OSError as e:
        raise ConfigError(file, "", f"cannot read config file: {e.strerror or e}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(file, "", f"not UTF-8 (byte {e.start}): TOML files are UTF-8") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        # tomllib's message names the line and column.
        raise ConfigError(file, "", f"TOML syntax error: {e}") from None
    config = _read_config(_Table(file, "", data))
    log.info("loaded config {path}", path=str(file))
    return config


def _checked(table: _Table, name: KeyPart, parse: Callable[[str], T], text: str) -> T:
    try:
        return parse(text)
    except (AddressError, ValueError) as e:
        raise table.error(name, f"invalid {text!r}: {e}") from None


def _read_config(top: _Table) -> Config:
    mode = top.string("mode", "production")
    if mode not in MODES:
        raise top.error("mode", f"must be one of {', '.join(MODES)}, not {mode!r}")
    hostname = _checked(top, "hostname", parse_domain, top.string("hostname"))
    data_dir = top.path("data_dir", "data")
    if data_dir.exists() and not data_dir.is_dir():
        raise top.error("data_dir", f"{data_dir} exists and is not a directory")
    postmaster = top.string("postmaster_account")

    tls = top.table("tls")
    certificate: Path | None = None
    key: Path | None = None
    if "tls" in top.data:
        certificate = tls.path("certificate")
        key = tls.path("key")
        _check_tls_files(tls, certificate, key)
    tls.finish()

    limits = top.table("limits")
    max_message_size = limits.integer("max_message_size", 52428800, minimum=1)
    max_recipients = limits.integer("max_recipients", 1000, minimum=1)
    max_connections = limits.integer("max_connections", 500, minimum=1)
    idle_timeout = limits.duration("idle_timeout", "5m", positive=True)
    limits.finish()

    queue = top.table("queue")
    concurrency = queue.integer("concurrency", 10, minimum=1)
    attempt_timeout = queue.duration("attempt_timeout", "10m", positive=True)
    queue.finish()

    submission = top.table("submission")
    allow_plaintext_auth = submission.boolean("allow_plaintext_auth", False)
    if allow_plaintext_auth and mode != "localserve":
        # RFC 4954 §4: PLAIN/LOGIN without TLS exposes passwords; only for development.
        raise submission.error(
            "allow_plaintext_auth", 'true is only allowed with mode = "localserve"'
        )
    submission.finish()

    webapi = top.table("webapi")
    webapi_enabled = webapi.boolean("enabled", True)
    webapi_path = webapi.string("path", "/webapi/")
    if not (webapi_path.startswith("/") and webapi_path.endswith("/")) or " " in webapi_path:
        raise webapi.error("path", f'must start and end with "/", not {webapi_path!r}')
    webapi.finish()

    listeners = _read_listeners(top)
    for i, listener in enumerate(listeners):
        needs_tls = listener.kind == "submissions" or (
            listener.kind == "submission" and mode == "production"
        )
        if needs_tls and certificate is None:
            why = (
                "implicit TLS"
                if listener.kind == "submissions"
                else "STARTTLS before authentication in production"
            )
            raise top.error(
                "tls",
                f"required: listeners[{i}] ({listener.kind}) needs a certificate for {why}",
            )

    domains = _read_domains(top)
    accounts = _read_accounts(top, domains)
    if postmaster not in accounts:
        raise top.error("postmaster_account", f"no account named {postmaster!r}")
    top.finish()
    return Config(
        path=top.file,
        mode=mode,
        hostname=hostname,
        data_dir=data_dir,
        postmaster_account=postmaster,
        tls_certificate=certificate,
        tls_key=key,
        listeners=tuple(listeners),
        max_message_size=max_message_size,
        max_recipients=max_recipients,
        max_connections=max_connections,
        idle_timeout=idle_timeout.total_seconds(),
        queue_concurrency=concurrency,
        attempt_timeout=attempt_timeout.total_seconds(),
        allow_plaintext_auth=allow_plaintext_auth,
        webapi_enabled=webapi_enabled,
        webapi_path=webapi_path,
        domains=domains,
        accounts=accounts,
    )


def _read_file(table: _Table, name: str, path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise table.error(name, f"file {path} does not exist") from None
    except OSError as e:
        raise table.error(name, f"cannot read {path}: {e.strerror or e}") from None


def _check_tls_files(tls: _Table, certificate: Path, key: Path) -> None:
    try:
        cert = x509.load_pem_x509_certificates(_read_file(tls, "certificate", certificate))[0]
    except ValueError as e:
        raise tls.error("certificate", f"{certificate}: not a PEM certificate: {e}") from None
    try:
        private = serialization.load_pem_private_key(_read_file(tls, "key", key), password=None)
    except (ValueError, TypeError) as e:
        raise tls.error("key", f"{key}: not an unencrypted PEM private key: {e}") from None
    except Exception as e:  # cryptography's UnsupportedAlgorithm
        raise tls.error("key", f"{key}: unsupported private key: {e}") from None
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if private.public_key().public_bytes(der, public) != cert.public_key().public_bytes(
        der, public
    ):
        raise tls.error("key", f"{key} is not the key of certificate {certificate}")


def _read_listeners(top: _Table) -> list[ListenerConfig]:
    listeners: list[ListenerConfig] = []
    bound: dict[tuple[str, int], str] = {}
    for table in top.tables("listeners"):
        kind = table.string("kind")
        if kind not in LISTENER_KINDS:
            raise table.error("kind", f"must be one of {', '.join(LISTENER_KINDS)}, not {kind!r}")
        port = table.integer("port", minimum=1, maximum=65535)
        texts = table.strings("addresses")
        if not texts:
            raise table.error("addresses", "at least one IP address needed")
        addresses = []
        for i, text in enumerate(texts):
            ip = _checked(table, ("addresses", i), ipaddress.ip_address, text)
            addresses.append(str(ip))
            if (str(ip), port) in bound:
                raise table.error(
                    ("addresses", i), f"{ip} port {port} already used by {bound[str(ip), port]}"
                )
            bound[str(ip), port] = table.key
        table.finish()
        for other in listeners:
            if (other.kind, other.port) == (kind, port):
                raise table.error("port", f"another {kind} listener already has port {port}")
        listeners.append(ListenerConfig(kind=kind, addresses=tuple(addresses), port=port))
    return listeners


def _read_domains(top: _Table) -> dict[str, DomainConfig]:
    domains: dict[str, DomainConfig] = {}
    section = top.table("domains")
    for name, table in section.items():
        domain = _checked(section, name, parse_domain, name)
        if domain.ascii in domains:
            raise table.error(None, f"domain {domain.unicode} configured twice")
        separators = table.strings("catchall_separators", [])
        for i, separator in enumerate(separators):
            if not separator or "@" in separator or any(c.isspace() for c in separator):
                raise table.error(
                    ("catchall_separators", i),
                    f"{separator!r}: a separator is a non-empty string without @ or spaces",
                )
            if separator in separators[:i]:
                # spec §10.2: duplicates rejected.
                raise table.error(("catchall_separators", i), f"duplicate separator {separator!r}")
        case_sensitive = table.boolean("localpart_case_sensitive", False)
        disabled = table.boolean("disabled", False)
        selectors: list[DKIMSelector] = []
        for dkim in table.tables("dkim"):
            selector = dkim.string("selector")
            if not _SELECTOR.fullmatch(selector):
                raise dkim.error("selector", f"{selector!r} is not a DNS label (RFC 6376 §3.1)")
            if any(s.selector.lower() == selector.lower() for s in selectors):
                raise dkim.error("selector", f"duplicate selector {selector!r}")
            algorithm = dkim.string("algorithm")
            if algorithm not in (ED25519_SHA256, RSA_SHA256):
                raise dkim.error(
                    "algorithm", f"must be {ED25519_SHA256} or {RSA_SHA256}, not {algorithm!r}"
                )
            key_path = dkim.path("private_key")
            try:
                actual = dkim_algorithm(_read_file(dkim, "private_key", key_path))
            except ValueError as e:
                raise dkim.error("private_key", f"{key_path}: {e}") from None
            if actual != algorithm:
                raise dkim.error("private_key", f"{key_path} is a {actual} key, not {algorithm}")
            dkim.finish()
            selectors.append(DKIMSelector(selector, algorithm, key_path))
        table.finish()
        domains[domain.ascii] = DomainConfig(
            domain=domain,
            catchall_separators=tuple(separators),
            localpart_case_sensitive=case_sensitive,
            disabled=disabled,
            dkim=tuple(selectors),
        )
    return domains


def _account_name_problem(name: str) -> str | None:
    if not name:
        return "empty account name"
    if unicodedata.normalize("NFC", name) != name:
        return "account name must be NFC-normalised (spec §13)"
    if any(c.isspace() or c in "/\\" or not c.isprintable() for c in name):
        return "account name must not contain spaces, slashes or control characters"
    return None


def _read_accounts(top: _Table, domains: dict[str, DomainConfig]) -> dict[str, AccountConfig]:
    accounts: dict[str, AccountConfig] = {}
    # (domain ascii, canonical localpart) -> (account, key where configured)
    owners: dict[tuple[str, str], tuple[str, str]] = {}
    section = top.table("accounts")
    for name, table in section.items():
        problem = _account_name_problem(name)
        if problem:
            raise table.error(None, problem)
        texts = table.strings("addresses")
        if not texts:
            raise table.error("addresses", "an account needs at least one address")
        addresses: list[Address] = []
        for i, text in enumerate(texts):
            where = ("addresses", i)
            address = _checked(table, where, parse_address, text)
            domain = domains.get(address.domain.ascii)
            if domain is None:
                raise table.error(where, f"domain {address.domain.unicode} is not configured")
            for separator in domain.catchall_separators:
                if separator in address.localpart:
                    raise table.error(
                        where,
                        f"localpart contains the catchall separator {separator!r}"
                        f" of {address.domain.unicode}",
                    )
            canonical = (address.domain.ascii, domain.canonical_localpart(address.localpart))
            if canonical in owners:
                account, key = owners[canonical]
                other = "this account" if account == name else f"account {account!r}"
                raise table.error(where, f"{text!r} is already an address of {other} ({key})")
            owners[canonical] = (name, key_name(table.key, where))
            addresses.append(address)
        fromids = _read_fromid_logins(table, name, domains, owners)
        accounts[name] = AccountConfig(
            name=name,
            addresses=tuple(addresses),
            full_name=table.string("full_name", ""),
            keep_retired_message_period=table.duration("keep_retired_message_period", "0s"),
            keep_retired_webhook_period=table.duration("keep_retired_webhook_period", "0s"),
            fromid_login_addresses=fromids,
            max_outgoing_messages_per_day=table.integer("max_outgoing_messages_per_day", 1000),
            max_first_time_recipients_per_day=table.integer(
                "max_first_time_recipients_per_day", 200
            ),
            dsn_for_webapi_sends=table.boolean("dsn_for_webapi_sends", True),
            outgoing_webhook=_read_outgoing_webhook(table),
            incoming_webhook=_read_incoming_webhook(table),
            webhook_secrets=_read_webhook_secrets(table),
        )
        table.finish()
    return accounts


def _read_fromid_logins(
    table: _Table,
    account: str,
    domains: dict[str, DomainConfig],
    owners: dict[tuple[str, str], tuple[str, str]],
) -> tuple[Address, ...]:
    # spec §7.1: each parses, its domain is configured and has a catchall separator,
    # and its canonical form is an address of this account.
    out: list[Address] = []
    for i, text in enumerate(table.strings("fromid_login_addresses", [])):
        where = ("fromid_login_addresses", i)
        address = _checked(table, where, parse_address, text)
        domain = domains.get(address.domain.ascii)
        if domain is None:
            raise table.error(where, f"domain {address.domain.unicode} is not configured")
        if not domain.catchall_separators:
            raise table.error(
                where,
                f"domain {address.domain.unicode} has no catchall_separators,"
                " needed to make unique MAIL FROM addresses",
            )
        canonical = (address.domain.ascii, domain.canonical_localpart(address.localpart))
        if owners.get(canonical, ("",))[0] != account:
            raise table.error(where, f"{text!r} is not an address of account {account!r}")
        if address in out:
            raise table.error(where, f"duplicate address {text!r}")
        out.append(address)
    return tuple(out)


def _webhook_reason(error: ValueError) -> str:
    # mailtwist.webhook.settings names its setting before ": "; the config error
    # names the key instead. Its messages never contain a secret or Authorization.
    setting, colon, reason = str(error).partition(": ")
    return reason if colon else setting


def _read_webhook_endpoint(table: _Table) -> tuple[str, str]:
    """The url and authorization of a webhook table, checked as the webhook sender needs."""
    # Imported here: the webhook package pulls in treq, which config users rarely need.
    from mailtwist.webhook.settings import check_authorization, check_url

    url = table.string("url")
    try:
        check_url("url", url)
    except ValueError as e:
        raise table.error("url", _webhook_reason(e)) from None
    authorization = table.string("authorization", "")
    try:
        check_authorization("authorization", authorization)
    except ValueError as e:
        raise table.error("authorization", _webhook_reason(e)) from None
    return url, authorization


def _read_outgoing_webhook(account: _Table) -> OutgoingWebhookConfig | None:
    if "outgoing_webhook" not in account.data:
        account.seen.add("outgoing_webhook")
        return None
    from mailtwist.webhook.payload import OUTGOING_EVENTS

    table = account.table("outgoing_webhook")
    url, authorization = _read_webhook_endpoint(table)
    events = table.strings("events", [])
    for i, event in enumerate(events):
        # spec §3.4, §10.1: only the 8 event names are allowed.
        if event not in OUTGOING_EVENTS:
            raise table.error(
                ("events", i), f"unknown event {event!r}, known: {', '.join(OUTGOING_EVENTS)}"
            )
        if event in events[:i]:
            raise table.error(("events", i), f"duplicate event {event!r}")
    table.finish()
    return OutgoingWebhookConfig(url=url, authorization=authorization, events=tuple(events))


def _read_incoming_webhook(account: _Table) -> IncomingWebhookConfig | None:
    if "incoming_webhook" not in account.data:
        account.seen.add("incoming_webhook")
        return None
    table = account.table("incoming_webhook")
    url, authorization = _read_webhook_endpoint(table)
    table.finish()
    return IncomingWebhookConfig(url=url, authorization=authorization)


def _read_webhook_secrets(account: _Table) -> tuple[str, ...]:
    from mailtwist.webhook.settings import MAX_SECRETS, secret_key

    secrets = account.strings("webhook_secrets", [])
    if len(secrets) > MAX_SECRETS:
        raise account.error(
            "webhook_secrets",
            f"at most {MAX_SECRETS} secrets (the current one and the one being rotated out),"
            f" not {len(secrets)}",
        )
    for i, secret in enumerate(secrets):
        try:
            secret_key(secret)
        except ValueError as e:
            raise account.error(("webhook_secrets", i), _webhook_reason(e)) from None
        if secret in secrets[:i]:
            raise account.error(("webhook_secrets", i), "the same secret twice")
    return tuple(secrets)


__all__ = ["key_name", "load_config"]
