"""The `mailtwist` command: localserve, serve, quickstart, config check and listings."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import http.client
import inspect
import ipaddress
import json
import secrets
import sys
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TextIO

from mailtwist.config import Config, ConfigError, load_config, parse_duration, write_quickstart

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


QUEUE_COLUMNS = (
    "id",
    "account",
    "sender",
    "recipient",
    "hold",
    "attempts",
    "next_attempt",
    "future_release_request",
    "results",
)
RETIRED_COLUMNS = ("id", "account", "recipient", "event", "attempts", "last_activity", "results")
MESSAGE_COLUMNS = ("id", "account", "mailbox", "received", "size", "mail_from", "rcpt_to")
HOLD_RULE_COLUMNS = ("id", "account", "sender_domain", "recipient_domain")
SUPPRESSION_COLUMNS = ("base_address", "original_address", "manual", "reason", "created")

#: Path of the running server's endpoint that makes its scheduler look at the queue again.
WAKE_PATH = "/internal/wake"


async def _result(value: Any) -> Any:
    """The value of a Deferred, a coroutine or a plain value."""
    if inspect.isawaitable(value):
        return await value
    return value


def _queue_control(config: Config, store: Any, woken: list[bool]) -> Any:
    """A QueueControl over the CLI's store; ``wake`` only notes that the server should look."""
    from twisted.internet import reactor

    from mailtwist.queue.control import QueueControl

    offered: dict[str, Any] = {
        "store": store,
        "clock": reactor,
        "wake": lambda: woken.append(True),
        "hostname": config.hostname.ascii,
        "dsn_enabled": config.dsn_enabled,
        "keep_retired_for": lambda account: _keep_retired_for(config, account),
    }
    try:
        from mailtwist.dkim.sign import DKIMSigner

        offered["signer"] = DKIMSigner(config)
    except ImportError:
        pass
    accepted = inspect.signature(QueueControl).parameters
    return QueueControl(**{k: v for k, v in offered.items() if k in accepted})


def _keep_retired_for(config: Config, account: str) -> timedelta:
    acct = config.accounts.get(account)
    # spec §4.2: an account that no longer exists keeps retired messages a week.
    return acct.keep_retired_message_period if acct else timedelta(weeks=1)


def _with_control(args: argparse.Namespace, work: Callable[[Config, Any], Any]) -> Any:
    """Run ``work(config, control)`` on the store, then wake the running server if asked."""
    woken: list[bool] = []
    loaded: list[Config] = []

    def run(config: Config, store: Any) -> Any:
        loaded.append(config)
        return _result(work(config, _queue_control(config, store, woken)))

    try:
        result = _with_store(args, run)
    except ValueError as e:
        # The control's refusals (bad address, domain, CSV row) and the store's
        # (SuppressionExists) are ValueErrors with a message for the user.
        raise CommandError(str(e)) from None
    if woken and loaded:
        wake_server(loaded[0])
    return result


def wake_address(config: Config) -> tuple[str, int] | None:
    """The loopback address and port of the server's http listener, or None.

    Only loopback: the CLI runs next to the server and never talks to other hosts.
    """
    listener = config.listener("http")
    if listener is None:
        return None
    for text in listener.addresses:
        ip = ipaddress.ip_address(text)
        if ip.is_loopback:
            return str(ip), listener.port
        if ip.is_unspecified:
            return ("::1" if ip.version == 6 else "127.0.0.1"), listener.port
    return None


def wake_server(config: Config, timeout: float = 2.0) -> bool:
    """Best effort: ask the running server to look at its queue now (True if it answered).

    A server that is not running (connection refused) or answers slowly is not an
    error: it looks at the queue when it starts or at its next timer.
    """
    address = wake_address(config)
    if address is None:
        return False
    connection = http.client.HTTPConnection(address[0], address[1], timeout=timeout)
    try:
        connection.request("POST", WAKE_PATH)
        return connection.getresponse().status < 300
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()


def parse_cursor(text: str) -> Any:
    """A keyset cursor as printed after ``next:``: ``<iso time>,<id>``."""
    from mailtwist.store.records import Cursor

    value, sep, ident = text.rpartition(",")
    try:
        if not sep:
            raise ValueError
        moment = datetime.fromisoformat(value)
        number = int(ident)
    except ValueError:
        raise CommandError(f"--after {text!r}: expected TIME,ID as printed after 'next:'") from None
    return Cursor(moment if moment.tzinfo else moment.replace(tzinfo=UTC), number)


def format_cursor(cursor: Any) -> str:
    return f"{cursor.value.isoformat()},{cursor.id}"


def parse_time(text: str) -> datetime:
    """An ISO 8601 time for --at; without a zone it is UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise CommandError(
            f"--at {text!r}: expected an ISO time like 2026-12-01T10:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def message_filter(args: argparse.Namespace) -> Any:
    """The MessageFilter of the command's --id and filter options."""
    from mailtwist.store.records import MessageFilter

    return MessageFilter(
        ids=tuple(getattr(args, "id", None) or ()),
        account=getattr(args, "account", None) or "",
        sender=getattr(args, "sender", None) or "",
        recipient=getattr(args, "recipient", None) or "",
        hold=getattr(args, "hold", None),
        success=getattr(args, "success", None),
        event=getattr(args, "event", None) or "",
    )


def _selected(args: argparse.Namespace) -> Any:
    """The filter of a changing operation; refuses to act on everything by accident."""
    selection = message_filter(args)
    from mailtwist.store.records import MessageFilter

    if selection == MessageFilter() and not args.all:
        raise CommandError("say which messages: --id N..., a filter, or --all")
    return selection


def _print_page(page: Any, columns: Sequence[str], as_json: bool, out: TextIO) -> None:
    _print_records(page.rows, columns, as_json, out)
    if page.next is not None:
        # JSON stays a plain list of rows; the cursor goes to stderr there.
        target = sys.stderr if as_json else out
        target.write(f"next: {format_cursor(page.next)}\n")


def _listing(args: argparse.Namespace, retired: bool) -> Any:
    if args.limit < 1:
        raise CommandError("--limit must be at least 1")
    after = parse_cursor(args.after) if args.after else None
    ascending = not args.desc if args.desc is not None else not retired
    sort = args.sort or ("last_activity" if retired else "next_attempt")

    def work(config: Config, control: Any) -> Any:
        lister = control.retired_page if retired else control.queue_page
        return lister(message_filter(args), sort, ascending, after, args.limit)

    return _with_control(args, work)


def cmd_queue_list(args: argparse.Namespace, out: TextIO) -> int:
    _print_page(_listing(args, retired=False), QUEUE_COLUMNS, args.json, out)
    return 0


def cmd_retired_list(args: argparse.Namespace, out: TextIO) -> int:
    _print_page(_listing(args, retired=True), RETIRED_COLUMNS, args.json, out)
    return 0


def _report_count(args: argparse.Namespace, out: TextIO, what: str, count: int) -> int:
    if args.json:
        json.dump({"changed": count}, out)
        out.write("\n")
    else:
        out.write(f"{count} message{'s' if count != 1 else ''} {what}\n")
    return 0


def cmd_queue_change(args: argparse.Namespace, out: TextIO) -> int:
    """hold, release, drop, fail, reschedule and max-attempts on selected messages."""
    selection = _selected(args)
    operation = args.queue_command

    when: datetime | timedelta | None = None
    if operation == "reschedule":
        if args.at:
            when = parse_time(args.at)
        else:
            try:
                # From now on the control's clock.
                when = parse_duration(args.in_)
            except ValueError as e:
                raise CommandError(f"--in: {e}") from None

    def work(config: Config, control: Any) -> Any:
        if operation == "reschedule":
            return control.reschedule(selection, when)
        if operation == "max-attempts":
            return control.set_max_attempts(selection, args.attempts)
        return getattr(control, operation)(selection)

    count = _with_control(args, work)
    done = {
        "hold": "held",
        "release": "released",
        "drop": "dropped",
        "fail": "failed",
        "reschedule": "rescheduled",
        "max-attempts": "changed",
    }[operation]
    return _report_count(args, out, done, int(count))


def cmd_holdrule(args: argparse.Namespace, out: TextIO) -> int:
    command = args.holdrule_command

    def work(config: Config, control: Any) -> Any:
        if command == "add":
            if args.account and args.account not in config.accounts:
                raise CommandError(f"account {args.account!r} is not in {config.path}")
            return control.add_hold_rule(
                account=args.account or "",
                sender_domain=args.sender_domain or "",
                recipient_domain=args.recipient_domain or "",
            )
        if command == "remove":
            return control.remove_hold_rule(args.rule_id)
        return control.hold_rules()

    result = _with_control(args, work)
    if command == "add":
        if args.json:
            json.dump(record_json(result), out, default=_json_default)
            out.write("\n")
        else:
            out.write(f"hold rule {result.id} added\n")
    elif command == "remove":
        if not result:
            raise CommandError(f"no hold rule with id {args.rule_id}")
        out.write(f"hold rule {args.rule_id} removed\n")
    else:
        _print_records(result, HOLD_RULE_COLUMNS, args.json, out)
    return 0


def cmd_suppression(args: argparse.Namespace, out: TextIO) -> int:
    command = args.suppression_command
    text = ""
    if command == "import":
        try:
            text = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise CommandError(f"{args.file}: cannot read: {e}") from None

    def work(config: Config, control: Any) -> Any:
        if args.account not in config.accounts:
            raise CommandError(f"account {args.account!r} is not in {config.path}")
        if command == "add":
            return control.add_suppression(
                args.account, args.address, reason=args.reason or "added through mailtwist cli"
            )
        if command == "remove":
            return control.remove_suppression(args.account, args.address)
        if command == "check":
            return control.is_suppressed(args.account, args.address)
        if command == "export":
            return control.export_suppressions_csv(args.account)
        if command == "import":
            return control.import_suppressions_csv(args.account, text)
        return control.suppressions(args.account)

    result = _with_control(args, work)
    if command == "list":
        _print_records(result, SUPPRESSION_COLUMNS, args.json, out)
    elif command == "export":
        out.write(result)
    elif command == "import":
        added, skipped = result
        out.write(f"{added} added, {skipped} already listed\n")
    elif command == "add":
        out.write(f"{args.address} suppressed for {args.account}\n")
    elif command == "remove":
        if not result:
            raise CommandError(f"{args.address} is not on the suppression list of {args.account}")
        out.write(f"{args.address} removed from the suppression list of {args.account}\n")
    else:
        listed = bool(result)
        if args.json:
            json.dump({"suppressed": listed}, out)
            out.write("\n")
        else:
            out.write(f"{args.address}: {'suppressed' if listed else 'not suppressed'}\n")
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


def cmd_messages_get(args: argparse.Namespace, out: TextIO) -> int:
    """Write one stored message, raw, to stdout (bytes as stored, CRLF line ends)."""

    async def work(config: Any, store: Any) -> bytes:
        account = args.account or config.postmaster_account
        if account not in config.accounts:
            raise CommandError(f"account {account!r} is not in {config.path}")
        for message in await store.list_messages(account):
            if message.id == args.id:
                data: bytes = await store.message_data(message.data_id)
                return data
        raise CommandError(f"account {account!r} has no message {args.id}")

    data = _with_store(args, work)
    buffer = getattr(out, "buffer", None)
    if buffer is not None:
        out.flush()
        buffer.write(data)
        buffer.flush()
    else:
        out.write(data.decode("utf-8", "replace"))
    return 0


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def _add_filters(cmd: argparse.ArgumentParser, retired: bool) -> None:
    cmd.add_argument("--account", help="only messages of this account")
    cmd.add_argument("--from", dest="sender", help="sender address contains this text")
    cmd.add_argument(
        "--to", dest="recipient", help="recipient address contains this (@domain: a domain)"
    )
    if retired:
        outcome = cmd.add_mutually_exclusive_group()
        outcome.add_argument(
            "--success", dest="success", action="store_const", const=True, help="delivered only"
        )
        outcome.add_argument(
            "--failed", dest="success", action="store_const", const=False, help="not delivered"
        )
        cmd.add_argument("--event", help="delivered, failed, suppressed or canceled")
    else:
        held = cmd.add_mutually_exclusive_group()
        held.add_argument("--held", dest="hold", action="store_const", const=True)
        held.add_argument("--not-held", dest="hold", action="store_const", const=False)


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

    messages = sub.add_parser("messages", help="messages in an account's mailboxes")
    messages_sub = messages.add_subparsers(dest="messages_command", required=True)
    lister = messages_sub.add_parser("list", help="list messages in an account's mailboxes")
    where(lister)
    lister.add_argument("--account", help="only this account")
    lister.add_argument("--mailbox", help="only this mailbox")
    lister.add_argument("--json", action="store_true", help="JSON output")
    lister.set_defaults(func=cmd_messages_list)
    getter = messages_sub.add_parser("get", help="write one message, raw, to stdout")
    getter.add_argument("id", type=_positive_int, help="the message id (from messages list)")
    where(getter)
    getter.add_argument("--account", help="the account (default: the postmaster account)")
    getter.set_defaults(func=cmd_messages_get)

    for name, func, sorts, help_text in (
        ("queue", cmd_queue_list, ("next_attempt", "queued"), "queued messages"),
        ("retired", cmd_retired_list, ("last_activity", "queued"), "delivered/failed messages"),
    ):
        cmd = sub.add_parser(name, help=help_text)
        cmd_sub = cmd.add_subparsers(dest=f"{name}_command", required=True)
        lister = cmd_sub.add_parser("list", help=f"list {help_text}, a page at a time")
        where(lister)
        _add_filters(lister, retired=name == "retired")
        lister.add_argument("--sort", choices=sorts, help=f"sort field (default {sorts[0]})")
        order = lister.add_mutually_exclusive_group()
        order.add_argument("--desc", action="store_true", default=None, help="newest first")
        order.add_argument("--asc", dest="desc", action="store_false", help="oldest first")
        lister.add_argument("--limit", type=_positive_int, default=100, help="rows per page")
        lister.add_argument("--after", metavar="CURSOR", help="the 'next:' value of a page")
        lister.add_argument("--json", action="store_true", help="JSON output")
        lister.set_defaults(func=func)
        if name != "queue":
            continue
        for op, op_help in (
            ("hold", "hold messages: no delivery attempts until released"),
            ("release", "release held messages"),
            ("drop", "remove messages from the queue without DSN (event canceled)"),
            ("fail", "fail messages now, with a DSN to the sender (event failed)"),
            ("reschedule", "set the next delivery attempt"),
            ("max-attempts", "change the number of attempts (0: default 8)"),
        ):
            change = cmd_sub.add_parser(op, help=op_help)
            where(change)
            change.add_argument("--id", type=_positive_int, nargs="+", help="message ids")
            _add_filters(change, retired=False)
            change.add_argument("--all", action="store_true", help="every queued message")
            change.add_argument("--json", action="store_true", help="JSON output")
            if op == "reschedule":
                when = change.add_mutually_exclusive_group(required=True)
                when.add_argument("--in", dest="in_", metavar="DURATION", help="from now: 10m, 2h")
                when.add_argument("--at", metavar="TIME", help="ISO time, UTC without a zone")
            if op == "max-attempts":
                change.add_argument("attempts", type=_positive_int)
            change.set_defaults(func=cmd_queue_change)

    holdrule = sub.add_parser("holdrule", help="rules that hold matching messages")
    holdrule_sub = holdrule.add_subparsers(dest="holdrule_command", required=True)
    add = holdrule_sub.add_parser("add", help="hold new and queued messages that match")
    add.add_argument("--account")
    add.add_argument("--sender-domain")
    add.add_argument("--recipient-domain")
    remove = holdrule_sub.add_parser("remove", help="remove a rule (held messages stay held)")
    remove.add_argument("rule_id", type=_positive_int, metavar="ID")
    listing = holdrule_sub.add_parser("list", help="list the hold rules")
    for cmd in (add, remove, listing):
        where(cmd)
        cmd.add_argument("--json", action="store_true", help="JSON output")
        cmd.set_defaults(func=cmd_holdrule)

    suppression = sub.add_parser("suppression", help="per-account suppression lists")
    suppression_sub = suppression.add_subparsers(dest="suppression_command", required=True)
    for op, op_help in (
        ("list", "list an account's suppressed addresses"),
        ("add", "suppress an address (and its +/- variants)"),
        ("remove", "remove an address"),
        ("check", "whether an address is suppressed"),
        ("export", "write the list as CSV to stdout"),
        ("import", "add the addresses of a CSV file (as export writes it)"),
    ):
        cmd = suppression_sub.add_parser(op, help=op_help)
        where(cmd)
        cmd.add_argument("account")
        if op in ("add", "remove", "check"):
            cmd.add_argument("address")
        if op == "add":
            cmd.add_argument("--reason", help="why (default: added through mailtwist cli)")
        if op == "import":
            cmd.add_argument("file")
        cmd.add_argument("--json", action="store_true", help="JSON output")
        cmd.set_defaults(func=cmd_suppression)
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
