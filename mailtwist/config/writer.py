"""Writing new config files: ``localserve`` defaults and ``quickstart`` for a domain."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from mailtwist.address import parse_address, parse_domain
from mailtwist.config.certificate import write_private_file, write_self_signed_certificate
from mailtwist.config.model import ConfigError
from mailtwist.dkim.keys import dkim_dns_value, generate_ed25519_key, generate_rsa_key
from mailtwist.platform import copy_or_link

log = Logger()

#: The config file's name inside its directory.
CONFIG_NAME = "mailtwist.toml"


@dataclass(frozen=True)
class Quickstart:
    """What ``write_quickstart`` made: the config, the login, and DNS records to publish.

    ``dns_records`` are zone-file lines with absolute names (trailing dot).
    """

    config_path: Path
    account: str
    login: str
    dns_records: tuple[str, ...]


def _default_clock() -> IReactorTime:
    from twisted.internet import reactor

    return cast(IReactorTime, reactor)


def _utc(clock: IReactorTime) -> datetime:
    return datetime.fromtimestamp(clock.seconds(), UTC)


def toml_string(value: str) -> str:
    """A TOML basic string for ``value`` (TOML 1.0 "Basic strings" escapes)."""
    out = ['"']
    for char in value:
        if char == '"':
            out.append('\\"')
        elif char == "\\":
            out.append("\\\\")
        elif char == "\n":
            out.append("\\n")
        elif char == "\t":
            out.append("\\t")
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04X}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def toml_key(name: str) -> str:
    """A TOML key: bare when it can be (TOML 1.0 "Keys"), else a basic string."""
    if name and all(c.isascii() and (c.isalnum() or c in "_-") for c in name):
        return name
    return toml_string(name)


def _toml_strings(values: Iterable[str]) -> str:
    return "[" + ", ".join(toml_string(v) for v in values) + "]"


def _render(
    *,
    header: Sequence[str],
    mode: str,
    hostname: str,
    data_dir: str,
    postmaster: str,
    tls: tuple[str, str] | None,
    allow_plaintext_auth: bool,
    listeners: Sequence[tuple[str, Sequence[str], int]],
    domains: Sequence[tuple[str, Sequence[tuple[str, str, str]]]],
    account: str,
    addresses: Sequence[str],
    keep_retired: str,
    tls_comment: Sequence[str] = (),
) -> str:
    lines = [f"# {h}" if h else "#" for h in header]
    lines += [
        "",
        f"mode = {toml_string(mode)}",
        f"hostname = {toml_string(hostname)}",
        f"data_dir = {toml_string(data_dir)}",
        f"postmaster_account = {toml_string(postmaster)}",
        "",
    ]
    if tls is not None:
        lines += [f"# {c}" for c in tls_comment]
        lines += [
            "[tls]",
            f"certificate = {toml_string(tls[0])}",
            f"key = {toml_string(tls[1])}",
            "",
        ]
    lines += [
        "[limits]",
        "max_message_size = 52428800",
        "max_recipients = 1000",
        "max_connections = 500",
        'idle_timeout = "5m"',
        "",
        "[queue]",
        "concurrency = 10",
        'attempt_timeout = "10m"',
        "",
        "[submission]",
        f"allow_plaintext_auth = {'true' if allow_plaintext_auth else 'false'}",
        "",
        "[webapi]",
        "enabled = true",
        'path = "/webapi/"',
        "",
    ]
    for kind, ips, port in listeners:
        lines += [
            "[[listeners]]",
            f"kind = {toml_string(kind)}",
            f"addresses = {_toml_strings(ips)}",
            f"port = {port}",
            "",
        ]
    for domain, dkims in domains:
        lines += [
            f"[domains.{toml_key(domain)}]",
            'catchall_separators = ["+"]',
            "localpart_case_sensitive = false",
            "disabled = false",
            "",
        ]
        for selector, algorithm, key in dkims:
            lines += [
                f"[[domains.{toml_key(domain)}.dkim]]",
                f"selector = {toml_string(selector)}",
                f"algorithm = {toml_string(algorithm)}",
                f"private_key = {toml_string(key)}",
                "",
            ]
    lines += [
        f"[accounts.{toml_key(account)}]",
        f"addresses = {_toml_strings(addresses)}",
        'full_name = ""',
        f"keep_retired_message_period = {toml_string(keep_retired)}",
        f"keep_retired_webhook_period = {toml_string(keep_retired)}",
        "fromid_login_addresses = []",
        "max_outgoing_messages_per_day = 1000",
        "max_first_time_recipients_per_day = 200",
        "dsn_for_webapi_sends = true",
    ]
    return "\n".join(lines) + "\n"


def _write_new(path: Path, text: str) -> None:
    """Write a file that must not exist yet, all or nothing."""
    partial = path.with_name(path.name + ".partial")
    # Closed before the rename: Windows cannot rename an open file.
    partial.write_text(text, encoding="utf-8", newline="\n")
    try:
        # A hard link (a copy on Windows) fails if ``path`` appeared meanwhile.
        copy_or_link(partial, path)
    finally:
        partial.unlink()


def write_localserve_config(
    directory: Path,
    *,
    login: str = "mailtwist@localhost",
    account: str = "mailtwist",
    addresses: tuple[str, ...] = ("127.0.0.1",),
    base_port: int = 1000,
    clock: IReactorTime | None = None,
) -> Path:
    """Write the localserve config into ``directory`` unless one exists; its path.

    Spec §9.1 adapted: hostname ``localhost``, data in the directory itself, domain
    ``localhost`` with catchall ``+`` and an Ed25519 DKIM selector ``localserve``,
    one account owning ``login``, retired messages and webhooks kept 72h, plaintext
    AUTH allowed, listeners on ``addresses`` at the standard ports + ``base_port``
    (1025 smtp, 1587 submission, 1465 submissions, 1080 http, 1081 metrics) and a
    self-signed certificate ``localhost.crt``/``localhost.key``.
    """
    directory = Path(directory)
    path = directory / CONFIG_NAME
    if path.exists():
        return path
    if not 0 <= base_port <= 65535 - 587:
        raise ValueError(f"base port {base_port} puts listeners outside 1-65535")
    address = parse_address(login)
    clock = clock or _default_clock()
    directory.mkdir(parents=True, exist_ok=True)

    cert, key = directory / "localhost.crt", directory / "localhost.key"
    if not (cert.exists() and key.exists()):
        hostnames = ["localhost", "127.0.0.1", "::1"]
        hostnames += [ip for ip in addresses if ip not in hostnames and ip not in ("0.0.0.0", "::")]
        write_self_signed_certificate(cert, key, hostnames, now=_utc(clock))
    dkim_key = "dkim/localhost-localserve-ed25519.pem"
    if not (directory / dkim_key).exists():
        write_private_file(directory / dkim_key, generate_ed25519_key())

    domains: list[tuple[str, Sequence[tuple[str, str, str]]]] = [
        ("localhost", [("localserve", "ed25519-sha256", dkim_key)])
    ]
    if address.domain.ascii != "localhost":
        domains.append((address.domain.unicode, []))
    text = _render(
        header=[
            "mailtwist localserve: a mail server for development on this machine (spec §9).",
            "Delivery is simulated: all outgoing mail ends up in local accounts.",
        ],
        mode="localserve",
        hostname="localhost",
        data_dir=".",
        postmaster=account,
        tls=("localhost.crt", "localhost.key"),
        allow_plaintext_auth=True,
        listeners=[
            ("smtp", addresses, 25 + base_port),
            ("submission", addresses, 587 + base_port),
            ("submissions", addresses, 465 + base_port),
            ("http", addresses, 80 + base_port),
            ("metrics", addresses, 81 + base_port),
        ],
        domains=domains,
        account=account,
        addresses=[login],
        keep_retired="72h",
    )
    try:
        _write_new(path, text)
    except FileExistsError:
        return path
    log.info("wrote localserve config {path}", path=str(path))
    return path


def _txt(name: str, value: str) -> str:
    # RFC 1035 §3.3.14: a TXT record holds character-strings of at most 255 octets;
    # longer values (RSA DKIM keys) are split, and verifiers join them (RFC 6376 §3.6.2.2).
    chunks = [value[i : i + 255] for i in range(0, len(value), 255)] or [""]
    return f"{name} TXT " + " ".join(f'"{chunk}"' for chunk in chunks)


def write_quickstart(
    domain: str,
    directory: Path,
    *,
    hostname: str | None = None,
    clock: IReactorTime | None = None,
) -> Quickstart:
    """Write a production config for ``domain`` into ``directory``; what to publish.

    Listeners on all addresses: smtp 25, submission 587 (STARTTLS required before
    AUTH), submissions 465, http 80; metrics on 127.0.0.1:8010. Account ``admin``
    owns admin@, postmaster@ and dmarc-reports@ the domain. DKIM keys (Ed25519 and
    RSA-2048, selectors ``<yyyymmdd>e`` and ``<yyyymmdd>r`` of the clock's UTC date)
    go to ``dkim/``. ``tls/cert.pem`` and ``tls/key.pem`` are a self-signed stand-in
    unless present: replace them with a certificate clients trust.

    FileExistsError when the directory already has a config; ConfigError (key
    ``domain``/``hostname``) for a name that is not a valid domain.
    """
    directory = Path(directory)
    path = directory / CONFIG_NAME
    try:
        mail_domain = parse_domain(domain)
    except ValueError as e:
        raise ConfigError("quickstart", "domain", f"invalid domain {domain!r}: {e}") from None
    try:
        host = parse_domain(hostname if hostname is not None else f"mail.{mail_domain.ascii}")
    except ValueError as e:
        raise ConfigError("quickstart", "hostname", f"invalid hostname {hostname!r}: {e}") from None
    if path.exists():
        raise FileExistsError(f"{path} already exists; not overwriting it")
    clock = clock or _default_clock()
    now = _utc(clock)
    directory.mkdir(parents=True, exist_ok=True)

    cert, key = directory / "tls" / "cert.pem", directory / "tls" / "key.pem"
    if not (cert.exists() and key.exists()):
        write_self_signed_certificate(cert, key, [host.ascii], now=now)

    day = now.strftime("%Y%m%d")
    dkims: list[tuple[str, str, str]] = []
    records = [
        f"{mail_domain.ascii}. MX 10 {host.ascii}.",
        # RFC 7208: only our MX hosts send for the domain; everything else fails.
        _txt(f"{mail_domain.ascii}.", "v=spf1 mx -all"),
    ]
    if host.ascii != mail_domain.ascii:
        # RFC 7208 §2.3: receivers check the HELO name too.
        records.append(_txt(f"{host.ascii}.", "v=spf1 a -all"))
    for suffix, algorithm, pem in (
        ("e", "ed25519-sha256", generate_ed25519_key()),
        ("r", "rsa-sha256", generate_rsa_key(2048)),
    ):
        selector = f"{day}{suffix}"
        kind = algorithm.split("-")[0]
        relative = f"dkim/{mail_domain.ascii}-{selector}-{kind}.pem"
        write_private_file(directory / relative, pem)
        dkims.append((selector, algorithm, relative))
        # RFC 6376 §3.6.2.1: the key lives at <selector>._domainkey.<domain>.
        records.append(_txt(f"{selector}._domainkey.{mail_domain.ascii}.", dkim_dns_value(pem)))
    reports = f"dmarc-reports@{mail_domain.unicode}"
    records.append(
        # RFC 7489 §6.3: reject mail failing DMARC, aggregate reports to us; DNS
        # TXT is ASCII, so the A-label domain.
        _txt(
            f"_dmarc.{mail_domain.ascii}.",
            f"v=DMARC1; p=reject; rua=mailto:dmarc-reports@{mail_domain.ascii}",
        )
    )
    login = f"admin@{mail_domain.unicode}"
    text = _render(
        header=[
            f"mailtwist production config for {mail_domain.unicode}, written by quickstart.",
            "Check it with: mailtwist config check",
        ],
        mode="production",
        hostname=host.unicode,
        data_dir="data",
        postmaster="admin",
        tls=("tls/cert.pem", "tls/key.pem"),
        tls_comment=[
            "REPLACE these files with a certificate for the hostname that clients trust",
            "(e.g. from Let's Encrypt). The ones quickstart wrote are self-signed stand-ins.",
        ],
        allow_plaintext_auth=False,
        listeners=[
            ("smtp", ["0.0.0.0", "::"], 25),
            ("submission", ["0.0.0.0", "::"], 587),
            ("submissions", ["0.0.0.0", "::"], 465),
            ("http", ["0.0.0.0", "::"], 80),
            ("metrics", ["127.0.0.1"], 8010),
        ],
        domains=[(mail_domain.unicode, dkims)],
        account="admin",
        addresses=[login, f"postmaster@{mail_domain.unicode}", reports],
        keep_retired="0s",
    )
    _write_new(path, text)
    log.info("wrote quickstart config {path}", path=str(path))
    return Quickstart(config_path=path, account="admin", login=login, dns_records=tuple(records))


__all__ = [
    "CONFIG_NAME",
    "Quickstart",
    "toml_key",
    "toml_string",
    "write_localserve_config",
    "write_quickstart",
]
