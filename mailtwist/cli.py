"""The `mailtwist` command: localserve, serve, quickstart, config check and listings."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import json
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from mailtwist.config import ConfigError, load_config, write_quickstart

DEFAULT_LOCALSERVE_DIR = "mailtwist-localserve"
CONFIG_FILE = "mailtwist.toml"


class CommandError(Exception):
    """A user error: printed without a traceback, exit status 2."""


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def record_json(record: Any) -> dict[str, Any]:
    """A frozen record as a JSON-ready dict (nested records and mappings included)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(record):
        value = getattr(record, f.name)
        if isinstance(value, tuple):
            value = [record_json(v) if dataclasses.is_dataclass(v) else v for v in value]
        elif isinstance(value, Mapping):
            value = dict(value)
        out[f.name] = value
    return out


def config_path(args: argparse.Namespace) -> Path:
    """The config file named by --config or --dir, else the localserve or current directory's."""
    if getattr(args, "config", None):
        return Path(args.config)
    if getattr(args, "dir", None):
        return Path(args.dir) / CONFIG_FILE
    local = Path(DEFAULT_LOCALSERVE_DIR) / CONFIG_FILE
    return local if local.exists() else Path(CONFIG_FILE)


def _with_store(args: argparse.Namespace, work: Callable[[Any, Any], Any]) -> Any:
    """Open the store of the configured data dir, run ``work(config, store)``, close it."""
    from twisted.internet import defer, task

    from mailtwist.service import DATABASE_FILE
    from mailtwist.store.sqlite import SQLiteStore

    config = load_config(config_path(args))
    database = config.data_dir / DATABASE_FILE
    if not database.exists():
        raise CommandError(f"{database}: no database yet (has the server been started?)")
    result: list[Any] = []
    errors: list[BaseException] = []

    async def main(reactor: Any) -> None:
        store = SQLiteStore(database, reactor=reactor)
        await store.start()
        try:
            # ``work`` returns a Deferred or a coroutine: both are awaitable.
            result.append(await work(config, store))
        except Exception as e:  # re-raised below, outside the reactor
            errors.append(e)
        finally:
            await store.close()

    try:
        task.react(lambda reactor: defer.ensureDeferred(main(reactor)))
    except SystemExit as e:
        if e.code:
            raise CommandError("the command failed (see the log above)") from None
    if errors:
        raise errors[0]
    return result[0] if result else None


def _print_records(
    records: Sequence[Any], columns: Sequence[str], as_json: bool, out: TextIO
) -> None:
    if as_json:
        json.dump([record_json(r) for r in records], out, default=_json_default, indent=2)
        out.write("\n")
        return
    if not records:
        out.write("(none)\n")
        return
    for record in records:
        out.write("  ".join(f"{c}={_short(getattr(record, c))}" for c in columns) + "\n")


def _short(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[-1]):
        last = value[-1]
        return repr(f"{getattr(last, 'code', '')} {getattr(last, 'error', '')}".strip())
    return repr(value) if isinstance(value, str) else str(value)


# -- commands


def cmd_localserve(args: argparse.Namespace, out: TextIO) -> int:
    return _run_twistd(["localserve", *args.rest])


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    return _run_twistd(["serve", "--config", args.config or CONFIG_FILE])


def _run_twistd(arguments: list[str]) -> int:
    from twisted.scripts.twistd import run

    # -n: stay in the foreground (also the only mode on Windows); no pid file so two
    # localserve directories can run side by side.
    sys.argv = ["twistd", "-n", "--pidfile=", "mailtwist", *arguments]
    run()
    return 0


def cmd_config_check(args: argparse.Namespace, out: TextIO) -> int:
    path = config_path(args)
    config = load_config(path)
    out.write(
        f"{path}: ok ({len(config.domains)} domains, {len(config.accounts)} accounts, "
        f"{len(config.listeners)} listeners)\n"
    )
    return 0


def cmd_quickstart(args: argparse.Namespace, out: TextIO) -> int:
    from mailtwist.auth.password import make_credentials

    directory = Path(args.dir)
    quick = write_quickstart(args.domain, directory, hostname=args.hostname)
    password = secrets.token_urlsafe(18)

    def set_password(config: Any, store: Any) -> Any:
        from mailtwist.store.records import DEFAULT_MAILBOXES

        async def go() -> None:
            await store.ensure_account(quick.account, DEFAULT_MAILBOXES)
            await store.set_credentials(make_credentials(quick.account, password))

        return go()

    _init_store(quick.config_path, set_password)
    out.write(f"Wrote {quick.config_path}\n")
    out.write(f"Account {quick.account}: login {quick.login}, password {password}\n")
    out.write("Publish these DNS records:\n")
    for record in quick.dns_records:
        out.write(f"  {record}\n")
    out.write(f"Then run: twistd -n mailtwist serve --config {quick.config_path}\n")
    return 0


def _init_store(path: Path, work: Callable[[Any, Any], Any]) -> None:
    """Like _with_store, but creates the database when it does not exist yet."""
    config = load_config(path)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    from mailtwist.service import DATABASE_FILE

    (config.data_dir / DATABASE_FILE).touch(exist_ok=True)
    _with_store(argparse.Namespace(config=str(path)), work)


def cmd_account_password(args: argparse.Namespace, out: TextIO) -> int:
    from mailtwist.auth.password import make_credentials

    password = sys.stdin.readline().rstrip("\r\n") if args.stdin else getpass.getpass()
    if not password:
        raise CommandError("empty password refused")

    def set_password(config: Any, store: Any) -> Any:
        if args.account not in config.accounts:
            raise CommandError(f"account {args.account!r} is not in {config.path}")
        return store.set_credentials(make_credentials(args.account, password))

    _init_store(config_path(args), set_password)
    out.write(f"password of {args.account} set\n")
    return 0


QUEUE_COLUMNS = ("id", "account", "sender", "recipient", "attempts", "next_attempt", "results")
RETIRED_COLUMNS = ("id", "account", "recipient", "event", "attempts", "last_activity", "results")
MESSAGE_COLUMNS = ("id", "account", "mailbox", "received", "size", "mail_from", "rcpt_to")


def cmd_queue_list(args: argparse.Namespace, out: TextIO) -> int:
    records = _with_store(args, lambda config, store: store.list_queue(args.account))
    _print_records(records, QUEUE_COLUMNS, args.json, out)
    return 0


def cmd_retired_list(args: argparse.Namespace, out: TextIO) -> int:
    records = _with_store(args, lambda config, store: store.list_retired(args.account))
    _print_records(records, RETIRED_COLUMNS, args.json, out)
    return 0


def cmd_messages_list(args: argparse.Namespace, out: TextIO) -> int:
    def work(config: Any, store: Any) -> Any:
        account = args.account or config.postmaster_account
        if account not in config.accounts:
            raise CommandError(f"account {account!r} is not in {config.path}")
        return store.list_messages(account, args.mailbox)

    records = _with_store(args, work)
    _print_records(records, MESSAGE_COLUMNS, args.json, out)
    return 0


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mailtwist", description="A mail server for applications.")
    sub = p.add_subparsers(dest="command", required=True)

    def where(cmd: argparse.ArgumentParser) -> None:
        group = cmd.add_mutually_exclusive_group()
        group.add_argument("--config", help="config file (default: ./mailtwist.toml)")
        group.add_argument("--dir", help="localserve directory holding mailtwist.toml")

    ls = sub.add_parser("localserve", help="run the local development server")
    ls.add_argument("rest", nargs=argparse.REMAINDER, help="options of twistd's localserve")
    ls.set_defaults(func=cmd_localserve)

    serve = sub.add_parser("serve", help="run the production server")
    serve.add_argument("--config", help="config file (default: ./mailtwist.toml)")
    serve.set_defaults(func=cmd_serve)

    qs = sub.add_parser("quickstart", help="write a production config for a domain")
    qs.add_argument("domain")
    qs.add_argument("--dir", default=".", help="directory for config, keys and data")
    qs.add_argument("--hostname", help="the server's host name (default mail.DOMAIN)")
    qs.set_defaults(func=cmd_quickstart)

    config = sub.add_parser("config", help="configuration tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a config file")
    where(check)
    check.set_defaults(func=cmd_config_check)

    account = sub.add_parser("account", help="account tools")
    account_sub = account.add_subparsers(dest="account_command", required=True)
    password = account_sub.add_parser("password", help="set an account's password")
    password.add_argument("account")
    password.add_argument("--stdin", action="store_true", help="read the password from stdin")
    where(password)
    password.set_defaults(func=cmd_account_password)

    for name, func, help_text in (
        ("queue", cmd_queue_list, "list queued messages"),
        ("retired", cmd_retired_list, "list retired (delivered/failed) messages"),
        ("messages", cmd_messages_list, "list messages in an account's mailboxes"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd_sub = cmd.add_subparsers(dest=f"{name}_command", required=True)
        lister = cmd_sub.add_parser("list", help=help_text)
        where(lister)
        lister.add_argument("--account", help="only this account")
        if name == "messages":
            lister.add_argument("--mailbox", help="only this mailbox")
        lister.add_argument("--json", action="store_true", help="JSON output")
        lister.set_defaults(func=func)
    return p


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run the command; user errors print one line on stderr and exit with status 2."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["localserve"]:
        # Options after `localserve` (and its --help) belong to twistd's localserve.
        return _run_twistd(argv)
    args = parser().parse_args(argv)
    try:
        return int(args.func(args, out or sys.stdout))
    except (CommandError, ConfigError, FileExistsError) as e:
        sys.stderr.write(f"mailtwist: {e}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
