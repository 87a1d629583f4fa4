"""The `mailtwist` command: localserve, serve, quickstart, config check, queue and webhook tools."""

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
from mailtwist.gotime import go_time

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
        return go_time(value.astimezone(UTC).replace(microsecond=0))
    if isinstance(value, tuple) and value and dataclasses.is_dataclass(value[-1]):
        last = value[-1]
        return repr(f"{getattr(last, 'code', '')} {getattr(last, 'error', '')}".strip())
    return repr(value) if isinstance(value, str) else str(value)


# -- commands


def cmd_localserve(args: argparse.Namespace, out: TextIO) -> int:
    return _run_twistd(["localserve", *args.rest])


def cmd_serve(args: argparse.Namespace, out: TextIO) -> int:
    return _run_twistd(["serve", "--config", args.config or CONFIG_FILE])


def twistd_argv(arguments: list[str], pid_files: bool) -> list[str]:
    """The twistd command line that runs mailtwist with ``arguments``.

    -n: stay in the foreground (the only mode on Windows). Where twistd writes pid
    files, none: two localserve directories can then run side by side.
    """
    return ["twistd", "-n", *(["--pidfile="] if pid_files else []), "mailtwist", *arguments]


def _run_twistd(arguments: list[str]) -> int:
    from twisted.scripts.twistd import run

    from mailtwist.platform import twistd_has_pid_files

    sys.argv = twistd_argv(arguments, pid_files=twistd_has_pid_files())
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
    # A running server reads credentials afresh when woken (else within seconds).
    wake_server(load_config(config_path(args)))
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

    from mailtwist.dkim.sign import DKIMSigner
    from mailtwist.queue.control import QueueControl
    from mailtwist.webhook.queue import WebhookDispatcher

    # Not started: it only prepares the canceled/failed webhooks of drop and fail,
    # committed with them; the running server, woken afterwards, sends them.
    webhooks = WebhookDispatcher(
        store=store,
        clock=reactor,
        http_client=None,
        settings=_webhook_source(config, store),
        hostname=config.hostname.ascii,
    )
    return QueueControl(
        store=store,
        clock=reactor,
        wake=lambda: woken.append(True),
        hostname=config.hostname.ascii,
        dsn_enabled=config.dsn_enabled,
        keep_retired_for=config.retired_message_period,
        signer=DKIMSigner(config),
        prepare_webhook=lambda message, event, attempt, suppressing: webhooks.prepare_outgoing(
            message, event, attempt, suppressing=suppressing
        ),
    )


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


# -- webhooks (issue 5 item 6)

#: Most webhooks in one listed page.
WEBHOOK_PAGE_MAX = 1000


def _with_webhooks(
    args: argparse.Namespace, work: Callable[[Config, Any], Any], wake: bool = False
) -> Any:
    """Run ``work(config, store)``; refusals of the webhook modules become CommandErrors.

    With ``wake``, the running server is asked to look at its queues afterwards
    (its /internal/wake also kicks the webhook dispatcher).
    """
    from mailtwist.webhook.control import BadWebhookFilter
    from mailtwist.webhook.settings import InvalidWebhookSettings

    loaded: list[Config] = []

    def run(config: Config, store: Any) -> Any:
        loaded.append(config)
        return _result(work(config, store))

    try:
        result = _with_store(args, run)
    except (BadWebhookFilter, InvalidWebhookSettings) as e:
        raise CommandError(str(e)) from None
    if wake and loaded:
        wake_server(loaded[0])
    return result


def _webhook_selection(args: argparse.Namespace) -> Any:
    """The WebhookFilter of --id, --account, --event and --success/--failed."""
    from mailtwist.webhook.control import BadWebhookFilter, webhook_filter

    try:
        return webhook_filter(
            ids=tuple(getattr(args, "id", None) or ()),
            account=getattr(args, "account", None) or "",
            event=getattr(args, "event", None) or "",
            success=getattr(args, "success", None),
        )
    except BadWebhookFilter as e:
        option = "--event" if "event" in str(e) else "--id"
        raise CommandError(f"{option}: {e}") from None


def _webhook_source(config: Config, store: Any) -> Any:
    """The settings the server uses: saved in the store, else from the config file."""
    from mailtwist.webhook.settings import StoredWebhookSettings, defaults_from_accounts

    return StoredWebhookSettings(store, defaults_from_accounts(config.accounts))


def _known_account(config: Config, account: str) -> None:
    if account not in config.accounts:
        raise CommandError(f"account {account!r} is not in {config.path}")


def webhook_json(hook: Any) -> dict[str, Any]:
    """A pending or retired webhook as JSON; a pending one's Authorization only as
    whether it is set (spec §3.6 keeps no more for retired ones either)."""
    value = record_json(hook)
    value["authorization"] = bool(hook.authorization)
    return value


def cmd_webhook_list(args: argparse.Namespace, out: TextIO) -> int:
    """Pending (``list``) or retired (``retired``) webhooks, a page at a time."""
    from mailtwist.webhook import control

    retired = args.webhook_command == "retired"
    if not 1 <= args.limit <= WEBHOOK_PAGE_MAX:
        raise CommandError(f"--limit must be between 1 and {WEBHOOK_PAGE_MAX}, not {args.limit}")
    after = parse_cursor(args.after) if args.after else None
    selection = _webhook_selection(args)

    def work(config: Config, store: Any) -> Any:
        lister = control.list_retired if retired else control.list_pending
        return lister(store, selection, after, args.limit)

    page = _with_webhooks(args, work)
    if args.json:
        json.dump([webhook_json(h) for h in page.rows], out, default=_json_default, indent=2)
        out.write("\n")
    elif not page.rows:
        out.write("(none)\n")
    else:
        show = control.format_retired if retired else control.format_pending
        for hook in page.rows:
            out.write(show(hook) + "\n")
    if page.next is not None:
        (sys.stderr if args.json else out).write(f"next: {format_cursor(page.next)}\n")
    return 0


def _report_webhooks(args: argparse.Namespace, out: TextIO, what: str, count: int) -> int:
    if args.json:
        json.dump({"changed": count}, out)
        out.write("\n")
    else:
        out.write(f"{count} webhook{'s' if count != 1 else ''} {what}\n")
    return 0


def cmd_webhook_retry(args: argparse.Namespace, out: TextIO) -> int:
    """Make selected pending webhooks due now."""
    from mailtwist.webhook import control

    if not args.id and not args.account:
        raise CommandError("say which webhooks: --id N... or --account A")
    selection = _webhook_selection(args)

    def work(config: Config, store: Any) -> Any:
        from twisted.internet import reactor

        return control.retry_now(store, reactor, selection)

    return _report_webhooks(args, out, "due now", int(_with_webhooks(args, work, wake=True)))


def cmd_webhook_cancel(args: argparse.Namespace, out: TextIO) -> int:
    """Remove pending webhooks; kept as retired per the account's period (spec §3.6)."""
    from mailtwist.webhook import control

    selection = _webhook_selection(args)

    def work(config: Config, store: Any) -> Any:
        from twisted.internet import reactor

        return control.cancel(store, reactor, _webhook_source(config, store), selection)

    return _report_webhooks(args, out, "canceled", int(_with_webhooks(args, work, wake=True)))


def cmd_webhook_test(args: argparse.Namespace, out: TextIO) -> int:
    """POST a sample payload to the account's webhook URL; exit 0 only on HTTP 200."""
    from mailtwist.webhook import control

    kind = "incoming" if args.incoming else "outgoing"

    async def work(config: Config, store: Any) -> Any:
        from treq.client import HTTPClient
        from twisted.internet import reactor
        from twisted.web.client import Agent, HTTPConnectionPool

        _known_account(config, args.account)
        settings = await _webhook_source(config, store).settings_for(args.account)
        hook = settings.outgoing if kind == "outgoing" else settings.incoming
        if hook is None:
            option = "--outgoing-url" if kind == "outgoing" else "--incoming-url"
            raise CommandError(
                f"account {args.account!r} has no {kind} webhook"
                f" (set one with: mailtwist webhook settings set {args.account} {option} URL)"
            )
        # Not persistent: the command ends when the request does.
        pool = HTTPConnectionPool(reactor, persistent=False)
        try:
            response = await control.send_test(
                HTTPClient(Agent(reactor, pool=pool)),
                reactor,
                settings,
                kind,
                config.hostname.ascii,
            )
        finally:
            await pool.closeCachedConnections()
        return hook.url, response

    url, response = _with_webhooks(args, work)
    body = response.response.decode("utf-8", "replace")
    if args.json:
        value = {
            "url": url,
            "code": response.code,
            "duration": response.duration,
            "success": response.success,
            "error": response.error,
            "response": body,
        }
        json.dump(value, out)
        out.write("\n")
    else:
        outcome = f"HTTP {response.code}" if response.code else "no response"
        out.write(f"POST {url}: {outcome} in {response.duration:.3f}s\n")
        if response.error:
            out.write(f"error: {response.error}\n")
        if body:
            out.write(f"response: {body}\n")
    return 0 if response.success else 1


def _secret_fingerprint(secret: str) -> str:
    """A secret's name for display: a hash of its key, never the key itself."""
    import hashlib

    from mailtwist.webhook.settings import secret_key

    return "sha256:" + hashlib.sha256(secret_key(secret)).hexdigest()[:16]


def webhook_settings_view(settings: Any, saved: bool) -> dict[str, Any]:
    """An account's webhook settings for display: Authorization values and secrets masked."""
    from mailtwist.config import format_duration

    def endpoint(hook: Any) -> dict[str, Any] | None:
        if hook is None:
            return None
        value: dict[str, Any] = {"url": hook.url, "authorization": bool(hook.authorization)}
        if hasattr(hook, "events"):
            value["events"] = list(hook.events)
        return value

    return {
        "source": "saved" if saved else "config file",
        "outgoing_webhook": endpoint(settings.outgoing),
        "incoming_webhook": endpoint(settings.incoming),
        "keep_retired_webhook_period": format_duration(settings.keep_retired_webhook_period),
        "webhook_secrets": [_secret_fingerprint(s) for s in settings.secrets],
    }


def _write_settings_view(account: str, view: dict[str, Any], out: TextIO) -> None:
    out.write(f"account {account} ({view['source']})\n")
    for kind in ("outgoing", "incoming"):
        hook = view[f"{kind}_webhook"]
        if hook is None:
            out.write(f"{kind} webhook: (none)\n")
            continue
        line = f"{kind} webhook: {hook['url']}"
        line += "  authorization: " + ("(set, hidden)" if hook["authorization"] else "(none)")
        if kind == "outgoing":
            line += "  events: " + (",".join(hook["events"]) or "all")
        out.write(line + "\n")
    out.write(f"keep retired webhooks: {view['keep_retired_webhook_period']}\n")
    secrets = view["webhook_secrets"]
    out.write(
        "signing secrets: "
        + (", ".join(f"{i}: {f}" for i, f in enumerate(secrets, 1)) or "(none)")
        + "\n"
    )


async def _settings_and_source(config: Config, store: Any, account: str) -> tuple[Any, bool]:
    saved = await store.webhook_settings(account)
    return await _webhook_source(config, store).settings_for(account), saved is not None


def cmd_webhook_settings_show(args: argparse.Namespace, out: TextIO) -> int:
    async def work(config: Config, store: Any) -> Any:
        _known_account(config, args.account)
        return await _settings_and_source(config, store, args.account)

    settings, saved = _with_webhooks(args, work)
    view = webhook_settings_view(settings, saved)
    if args.json:
        json.dump(view, out, indent=2)
        out.write("\n")
    else:
        _write_settings_view(args.account, view, out)
    return 0


class _Option:
    """Turns a webhook setting's refusal into a CommandError naming the CLI option."""

    def __init__(self, option: str) -> None:
        self.option = option

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        from mailtwist.webhook.settings import InvalidWebhookSettings

        if isinstance(error, InvalidWebhookSettings):
            # The setting's name comes before ": "; the option replaces it.
            reason = str(error).partition(": ")[2] or str(error)
            raise CommandError(f"{self.option}: {reason}") from None


def changed_webhook_settings(args: argparse.Namespace, current: Any) -> tuple[Any, str | None]:
    """The settings after the options of ``webhook settings set``, and a new secret if
    one was added. Empty URLs remove a webhook, as mox's account page does (spec §10.1)."""
    from mailtwist.webhook.payload import OUTGOING_EVENTS
    from mailtwist.webhook.settings import (
        MAX_SECRETS,
        IncomingWebhook,
        OutgoingWebhook,
        WebhookSettings,
        check_authorization,
        check_url,
        new_secret,
    )

    outgoing = current.outgoing
    if args.outgoing_url == "":
        if args.outgoing_authorization is not None or args.events is not None:
            raise CommandError("--outgoing-url '' removes the outgoing webhook: nothing to set")
        outgoing = None
    elif args.outgoing_url is not None:
        with _Option("--outgoing-url"):
            check_url("OutgoingWebhook", args.outgoing_url)
        outgoing = OutgoingWebhook(
            args.outgoing_url,
            outgoing.authorization if outgoing else "",
            outgoing.events if outgoing else (),
        )
    for option, given in (
        ("--outgoing-authorization", args.outgoing_authorization),
        ("--events", args.events),
    ):
        if given is not None and outgoing is None:
            raise CommandError(
                f"{option}: account has no outgoing webhook; give --outgoing-url too"
            )
    if args.outgoing_authorization is not None:
        with _Option("--outgoing-authorization"):
            check_authorization("OutgoingWebhook", args.outgoing_authorization)
        outgoing = dataclasses.replace(outgoing, authorization=args.outgoing_authorization)
    if args.events is not None:
        events = tuple(e.strip() for e in args.events.split(",") if e.strip())
        for event in events:
            # spec §3.4: only the 8 event names.
            if event not in OUTGOING_EVENTS:
                raise CommandError(
                    f"--events: unknown event {event!r}, known: {', '.join(OUTGOING_EVENTS)}"
                )
        outgoing = dataclasses.replace(outgoing, events=tuple(dict.fromkeys(events)))

    incoming = current.incoming
    if args.incoming_url == "":
        if args.incoming_authorization is not None:
            raise CommandError("--incoming-url '' removes the incoming webhook: nothing to set")
        incoming = None
    elif args.incoming_url is not None:
        with _Option("--incoming-url"):
            check_url("IncomingWebhook", args.incoming_url)
        incoming = IncomingWebhook(args.incoming_url, incoming.authorization if incoming else "")
    if args.incoming_authorization is not None:
        if incoming is None:
            raise CommandError(
                "--incoming-authorization: account has no incoming webhook; give --incoming-url too"
            )
        with _Option("--incoming-authorization"):
            check_authorization("IncomingWebhook", args.incoming_authorization)
        incoming = dataclasses.replace(incoming, authorization=args.incoming_authorization)

    period = current.keep_retired_webhook_period
    if args.keep_retired is not None:
        try:
            period = parse_duration(args.keep_retired)
        except ValueError as e:
            raise CommandError(f"--keep-retired: {e}") from None

    secrets = list(current.secrets)
    added = None
    if args.add_secret:
        if len(secrets) >= MAX_SECRETS:
            raise CommandError(
                f"--add-secret: the account has {MAX_SECRETS} secrets already;"
                " remove the old one first (--remove-secret N)"
            )
        added = new_secret()
        secrets.append(added)
    if args.remove_secret is not None:
        if not 1 <= args.remove_secret <= len(secrets):
            raise CommandError(
                f"--remove-secret: no secret {args.remove_secret}; the account has"
                f" {len(secrets)} (numbered from 1 in 'webhook settings show')"
            )
        del secrets[args.remove_secret - 1]
    # A refusal here names its setting; _with_webhooks reports it as it is.
    return WebhookSettings(outgoing, incoming, period, tuple(secrets)), added


_SETTINGS_OPTIONS = (
    "outgoing_url",
    "outgoing_authorization",
    "events",
    "incoming_url",
    "incoming_authorization",
    "keep_retired",
    "remove_secret",
)


def cmd_webhook_settings_set(args: argparse.Namespace, out: TextIO) -> int:
    """Change an account's webhook settings in the store: the server uses them at once."""
    changes = [name for name in _SETTINGS_OPTIONS if getattr(args, name) is not None]
    if args.add_secret:
        changes.append("add_secret")
    if args.reset and changes:
        raise CommandError("--reset returns to the config file's settings: give it alone")
    if not args.reset and not changes:
        raise CommandError("nothing to change: give an option (see --help) or --reset")

    async def work(config: Config, store: Any) -> Any:
        _known_account(config, args.account)
        source = _webhook_source(config, store)
        added = None
        if args.reset:
            await source.save(args.account, None)
        else:
            current = await source.settings_for(args.account)
            settings, added = changed_webhook_settings(args, current)
            await source.save(args.account, settings)
        settings, saved = await _settings_and_source(config, store, args.account)
        return settings, saved, added

    settings, saved, added = _with_webhooks(args, work, wake=True)
    view = webhook_settings_view(settings, saved)
    if args.json:
        json.dump({**view, "new_secret": added}, out, indent=2)
        out.write("\n")
        return 0
    _write_settings_view(args.account, view, out)
    if added:
        out.write(f"new signing secret (shown only now; give it to your receiver): {added}\n")
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
    _add_webhook_commands(sub, where)
    return p


def _add_webhook_commands(sub: Any, where: Callable[[argparse.ArgumentParser], None]) -> None:
    """``mailtwist webhook ...``: the webhook queue and the accounts' webhook settings."""
    webhook = sub.add_parser("webhook", help="webhook queue and account webhook settings")
    webhook_sub = webhook.add_subparsers(dest="webhook_command", required=True)
    for name, help_text in (
        ("list", "list pending webhooks by next attempt, a page at a time"),
        ("retired", "list delivered/failed webhooks, newest first, a page at a time"),
    ):
        lister = webhook_sub.add_parser(name, help=help_text)
        where(lister)
        lister.add_argument("--id", type=_positive_int, nargs="+", help="only these webhooks")
        lister.add_argument("--account", help="only webhooks of this account")
        lister.add_argument("--event", help="incoming, or an outgoing event (delivered, ...)")
        if name == "retired":
            outcome = lister.add_mutually_exclusive_group()
            outcome.add_argument(
                "--success", dest="success", action="store_const", const=True, help="delivered"
            )
            outcome.add_argument(
                "--failed", dest="success", action="store_const", const=False, help="not delivered"
            )
        lister.add_argument("--limit", type=_positive_int, default=100, help="rows per page")
        lister.add_argument("--after", metavar="CURSOR", help="the 'next:' value of a page")
        lister.add_argument("--json", action="store_true", help="JSON output")
        lister.set_defaults(func=cmd_webhook_list)

    retry = webhook_sub.add_parser("retry", help="make pending webhooks due now")
    where(retry)
    retry.add_argument("--id", type=_positive_int, nargs="+", help="webhook ids")
    retry.add_argument("--account", help="every pending webhook of this account")
    retry.add_argument("--json", action="store_true", help="JSON output")
    retry.set_defaults(func=cmd_webhook_retry)

    cancel = webhook_sub.add_parser("cancel", help="remove pending webhooks (kept as retired)")
    where(cancel)
    cancel.add_argument("--id", type=_positive_int, nargs="+", required=True, help="webhook ids")
    cancel.add_argument("--json", action="store_true", help="JSON output")
    cancel.set_defaults(func=cmd_webhook_cancel)

    test = webhook_sub.add_parser("test", help="POST a sample payload to an account's webhook")
    where(test)
    test.add_argument("account")
    test.add_argument(
        "--incoming", action="store_true", help="the incoming webhook (default: outgoing)"
    )
    test.add_argument("--json", action="store_true", help="JSON output")
    test.set_defaults(func=cmd_webhook_test)

    settings = webhook_sub.add_parser("settings", help="an account's webhook settings")
    settings_sub = settings.add_subparsers(dest="settings_command", required=True)
    show = settings_sub.add_parser("show", help="show them (secrets and Authorization masked)")
    where(show)
    show.add_argument("account")
    show.add_argument("--json", action="store_true", help="JSON output")
    show.set_defaults(func=cmd_webhook_settings_show)

    change = settings_sub.add_parser("set", help="change them; the running server uses them")
    where(change)
    change.add_argument("account")
    change.add_argument("--outgoing-url", metavar="URL", help="http(s) URL; '' removes")
    change.add_argument("--outgoing-authorization", metavar="VALUE", help="Authorization header")
    change.add_argument("--events", metavar="E1,E2", help="outgoing events sent; '' for all")
    change.add_argument("--incoming-url", metavar="URL", help="http(s) URL; '' removes")
    change.add_argument("--incoming-authorization", metavar="VALUE", help="Authorization header")
    change.add_argument("--keep-retired", metavar="DURATION", help="keep retired webhooks: 72h")
    secret = change.add_mutually_exclusive_group()
    secret.add_argument(
        "--add-secret", action="store_true", help="add a new signing secret (printed once)"
    )
    secret.add_argument(
        "--remove-secret", type=_positive_int, metavar="N", help="remove secret N (from show)"
    )
    change.add_argument("--reset", action="store_true", help="return to the config file's settings")
    change.add_argument("--json", action="store_true", help="JSON output")
    change.set_defaults(func=cmd_webhook_settings_set)


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
