"""The development mode: creates or reuses a local directory and describes what runs there."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from twisted.python import usage

from mailtwist.address import AddressError, parse_address
from mailtwist.config import Config, load_config, write_localserve_config

#: The account localserve creates (issue 2); its login and password can be chosen.
LOCALSERVE_ACCOUNT = "mailtwist"
LOCALSERVE_CONFIG = "mailtwist.toml"


@dataclass(frozen=True)
class LocalserveSetup:
    """A ready localserve directory: its config and the password to set, if any."""

    config: Config
    password: str | None

    def banner(self, config: Config) -> str:
        return localserve_banner(config, self.password)


def prepare_localserve(
    directory: Path, *, login: str, password: str | None, ip: str = "127.0.0.1"
) -> LocalserveSetup:
    """Create ``directory`` with a config on first start, then load it.

    A second start reuses the directory as it is: flags that shape the config
    (login, ip) only apply to the first start; ``--password`` always resets the
    account's password.
    """
    try:
        address = parse_address(login)
    except AddressError as e:
        raise usage.UsageError(f"--login {login}: {e}") from None
    if address.domain.ascii != "localhost":
        raise usage.UsageError(f"--login {login}: localserve logins are @localhost addresses")
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / LOCALSERVE_CONFIG
    if not path.exists():
        write_localserve_config(
            directory, login=str(address), account=LOCALSERVE_ACCOUNT, addresses=(ip,)
        )
    return LocalserveSetup(config=load_config(path), password=password)


def localserve_banner(config: Config, password: str | None) -> str:
    """What a developer needs to start using a running localserve."""
    account = config.accounts[config.postmaster_account]
    login = str(account.addresses[0])
    shown = password or "mailtwist (unless changed with --password)"
    lines = [
        f"mailtwist localserve is running; config {config.path}",
        f"  login     {login}",
        f"  password  {shown}",
    ]
    names = {
        "smtp": "SMTP (incoming)",
        "submission": "submission (STARTTLS; plaintext AUTH allowed in localserve)",
        "submissions": "submission with implicit TLS",
        "http": "HTTP status page",
        "metrics": "Prometheus metrics",
    }
    for listener in config.listeners:
        for ip in listener.addresses:
            host = f"[{ip}]" if ":" in ip else ip
            lines.append(f"  {host}:{listener.port:<6} {names.get(listener.kind, listener.kind)}")
    submission = config.listener("submission")
    if submission is not None:
        ip = submission.addresses[0]
        host = f"[{ip}]" if ":" in ip else ip
        lines += [
            "Send a message:",
            f"  printf 'From: {login}\\r\\nTo: test@localhost\\r\\n"
            "Subject: hi\\r\\n\\r\\nhello\\r\\n' | \\",
            f"    curl -sS smtp://{host}:{submission.port} --mail-from {login} \\",
            f"      --mail-rcpt test@localhost --user '{login}:PASSWORD' -T -",
        ]
    lines += [
        "Deliveries are simulated: a recipient localpart ending in temperror, permerror,",
        "timeout or a code 400-599 (e.g. x550@example.com) fails that way; mailfrom/rcptto",
        "prefixes choose the SMTP stage. Everything else lands in an Inbox here.",
        f"See what happened: mailtwist queue list --dir {config.path.parent}",
        f"                   mailtwist messages list --dir {config.path.parent}",
    ]
    return "\n".join(lines)
