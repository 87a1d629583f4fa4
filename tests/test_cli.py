"""Tests for the `mailtwist` command, run as a child process like a user runs it."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import subprocess
import sys
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase, TestCase

from mailtwist.auth.password import verify_password
from mailtwist.cli import (
    WAKE_PATH,
    CommandError,
    parse_cursor,
    parser,
    twistd_argv,
    wake_address,
    wake_server,
)
from mailtwist.config import ListenerConfig, load_config, write_localserve_config
from mailtwist.service import DATABASE_FILE
from mailtwist.store.records import DEFAULT_MAILBOXES, Cursor, NewMessage
from mailtwist.store.sqlite import SQLiteStore
from tests.localserve_process import child_env


def run(*arguments: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mailtwist.cli", *arguments],
        capture_output=True,
        text=True,
        input=stdin,
        env=child_env(),
        timeout=120,
        check=False,
    )


class ParserTests(SynchronousTestCase):
    """The command line is parsed the way the README and docs show it."""

    def test_listing_commands(self) -> None:
        """queue/retired/messages list take --dir, --account and --json."""
        args = parser().parse_args(["queue", "list", "--dir", "d", "--account", "a", "--json"])
        self.assertEqual((args.dir, args.account, args.json), ("d", "a", True))

    def test_queue_operations(self) -> None:
        """Operations take ids or filters; reschedule needs exactly one of --in and --at."""
        args = parser().parse_args(["queue", "hold", "--id", "1", "2", "--to", "@x.org"])
        self.assertEqual((args.id, args.recipient, args.all), ([1, 2], "@x.org", False))
        args = parser().parse_args(["queue", "max-attempts", "3", "--all"])
        self.assertEqual(args.attempts, 3)
        for argv in (
            ["queue", "reschedule", "--all"],
            ["queue", "reschedule", "--all", "--in", "1m", "--at", "2026-12-01T00:00:00"],
            ["queue", "hold", "--id", "x"],
            ["queue", "list", "--held", "--not-held"],
            ["retired", "list", "--success", "--failed"],
        ):
            with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
                parser().parse_args(argv)

    def test_twistd_command_line(self) -> None:
        """`mailtwist localserve` runs twistd in the foreground without a pid file; on
        Windows, whose twistd has no --pidfile option, without that option."""
        self.assertEqual(
            twistd_argv(["localserve", "--dir", "d"], pid_files=True),
            ["twistd", "-n", "--pidfile=", "mailtwist", "localserve", "--dir", "d"],
        )
        self.assertEqual(
            twistd_argv(["localserve"], pid_files=False),
            ["twistd", "-n", "mailtwist", "localserve"],
        )

    def test_cursor(self) -> None:
        """A cursor printed after "next:" parses back; anything else is a precise error."""
        moment = datetime(2026, 11, 28, 4, 0, 0, 123456, tzinfo=UTC)
        self.assertEqual(parse_cursor(f"{moment.isoformat()},17"), Cursor(moment, 17))
        for text in ("17", "yesterday,1", "2026-11-28T04:00:00+00:00,x"):
            self.assertRaises(CommandError, parse_cursor, text)

    def test_wake_address_is_loopback_only(self) -> None:
        """The server is woken on a loopback address of its http listener, never elsewhere."""
        directory = Path(self.mktemp())
        config = load_config(write_localserve_config(directory))

        def with_http(*addresses: str) -> object:
            return wake_address(
                replace(config, listeners=(ListenerConfig("http", addresses, 8080),))
            )

        self.assertEqual(with_http("127.0.0.1"), ("127.0.0.1", 8080))
        self.assertEqual(with_http("0.0.0.0"), ("127.0.0.1", 8080))
        self.assertEqual(with_http("192.0.2.1", "::"), ("::1", 8080))
        self.assertIsNone(with_http("192.0.2.1"))
        self.assertIsNone(wake_address(replace(config, listeners=())))

    def test_webhook_commands(self) -> None:
        """webhook commands parse as the README shows; cancel needs ids, and a secret is
        added or removed, not both."""
        args = parser().parse_args(["webhook", "retired", "--account", "a", "--failed"])
        self.assertEqual((args.account, args.success, args.limit), ("a", False, 100))
        args = parser().parse_args(["webhook", "settings", "set", "a", "--events", ""])
        self.assertEqual((args.account, args.events, args.add_secret), ("a", "", False))
        for argv in (
            ["webhook", "cancel"],
            ["webhook", "settings", "set", "a", "--add-secret", "--remove-secret", "1"],
            ["webhook", "test"],
        ):
            with self.assertRaises(SystemExit), contextlib.redirect_stderr(io.StringIO()):
                parser().parse_args(argv)

    def test_config_and_dir_exclude_each_other(self) -> None:
        """Naming both a config file and a localserve directory is a usage error."""
        with self.assertRaises(SystemExit):
            parser().parse_args(["config", "check", "--config", "x", "--dir", "y"])


class CommandTests(SynchronousTestCase):
    """Each command does its job or says precisely why not, without a traceback."""

    def test_config_check_accepts_a_valid_config(self) -> None:
        """config check of a fresh localserve directory reports ok."""
        directory = Path(self.mktemp())
        write_localserve_config(directory)
        result = run("config", "check", "--dir", str(directory))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(": ok (", result.stdout)

    def test_config_check_names_file_key_and_reason(self) -> None:
        """A bad value is reported with the file and the key, exit status 2, no traceback."""
        directory = Path(self.mktemp())
        path = write_localserve_config(directory)
        text = path.read_text().replace("max_recipients = ", "max_recipients = -", 1)
        path.write_text(text)
        result = run("config", "check", "--config", str(path))
        self.assertEqual(result.returncode, 2)
        self.assertIn(str(path), result.stderr)
        self.assertIn("max_recipients", result.stderr)
        self.assertNotIn("Traceback", result.stderr)

    def test_listing_before_first_start_says_so(self) -> None:
        """Listing the queue of a directory whose server never ran explains the missing data."""
        directory = Path(self.mktemp())
        write_localserve_config(directory)
        result = run("queue", "list", "--dir", str(directory))
        self.assertEqual(result.returncode, 2)
        self.assertIn("no database yet", result.stderr)

    def test_quickstart_writes_a_loadable_config_and_prints_dns_records(self) -> None:
        """quickstart writes a config that loads, sets a password and prints the records."""
        directory = Path(self.mktemp())
        result = run("quickstart", "example.com", "--dir", str(directory))
        self.assertEqual(result.returncode, 0, result.stderr)
        config = load_config(directory / "mailtwist.toml")
        self.assertEqual(config.hostname.ascii, "mail.example.com")
        for record in (" MX ", "v=spf1", "v=DKIM1", "v=DMARC1"):
            self.assertIn(record, result.stdout)
        self.assertIn("login admin@example.com, password ", result.stdout)
        again = run("quickstart", "example.com", "--dir", str(directory))
        self.assertEqual(again.returncode, 2)
        self.assertNotIn("Traceback", again.stderr)


class PasswordCommandTests(TestCase):
    """`mailtwist account password` changes what the server checks logins against."""

    @defer.inlineCallbacks
    def test_account_password_sets_credentials(self):  # type: ignore[no-untyped-def]
        """The password read from stdin verifies against the stored credentials; an
        account that is not in the config is refused by name."""
        directory = Path(self.mktemp())
        write_localserve_config(directory)
        result = run(
            "account", "password", "mailtwist", "--stdin", "--dir", str(directory), stdin="s3cret\n"
        )
        self.assertEqual(result.returncode, 0, result.stderr)
        store = SQLiteStore(directory / DATABASE_FILE)
        yield store.start()
        credentials = yield store.credentials("mailtwist")
        yield store.close()
        self.assertTrue(verify_password(credentials, "s3cret"))
        self.assertFalse(verify_password(credentials, "mailtwist"))
        unknown = run(
            "account", "password", "nobody", "--stdin", "--dir", str(directory), stdin="x\n"
        )
        self.assertEqual(unknown.returncode, 2)
        self.assertIn("nobody", unknown.stderr)


class WakeTests(TestCase):
    """The CLI's best-effort wake reaches a server on loopback and shrugs off a dead one."""

    @defer.inlineCallbacks
    def test_wake_posts_to_the_http_listener(self):  # type: ignore[no-untyped-def]
        """wake_server POSTs /internal/wake; without a server it returns False quietly."""
        from twisted.internet import reactor
        from twisted.internet.threads import deferToThread
        from twisted.web.resource import Resource
        from twisted.web.server import Request, Site

        seen: list[tuple[bytes, bytes]] = []

        class Wake(Resource):
            isLeaf = True

            def render(self, request: Request) -> bytes:
                seen.append((request.method, request.path))
                return b"ok"

        tcp: Any = reactor
        port = tcp.listenTCP(0, Site(Wake()), interface="127.0.0.1")
        config = load_config(write_localserve_config(Path(self.mktemp())))
        listener = ListenerConfig("http", ("127.0.0.1",), port.getHost().port)
        config = replace(config, listeners=(listener,))
        self.assertTrue((yield deferToThread(wake_server, config)))
        self.assertEqual(seen, [(b"POST", WAKE_PATH.encode())])
        yield port.stopListening()
        self.assertFalse((yield deferToThread(wake_server, config)))


def queued_store(directory: Path) -> defer.Deferred[None]:
    """A localserve directory whose database holds three queued messages (ids 1-3)."""

    async def fill() -> None:
        path = write_localserve_config(directory)
        # No http listener: the commands must not wake whatever listens on its port.
        http = '[[listeners]]\nkind = "http"\naddresses = ["127.0.0.1"]\nport = 1080\n'
        text = path.read_text()
        assert http in text, text
        path.write_text(text.replace(http, ""))
        store = SQLiteStore(directory / DATABASE_FILE)
        await store.start()
        await store.ensure_account("mailtwist", DEFAULT_MAILBOXES)
        now = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
        for recipient in ("a@example.com", "b@example.org", "c@example.org"):
            message = NewMessage(
                account="mailtwist",
                sender="mailtwist@localhost",
                recipients=(recipient,),
                data=b"From: mailtwist@localhost\r\n\r\nhi\r\n",
            )
            await store.enqueue(message, now)
        await store.close()

    return defer.ensureDeferred(fill())


class QueueCommandTests(TestCase):
    """Queue listings and operations through the command, on a real database."""

    def setUp(self) -> defer.Deferred[None]:  # type: ignore[override]
        self.directory = Path(self.mktemp())
        return queued_store(self.directory)

    def cli(self, *arguments: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = run(*arguments, "--dir", str(self.directory))
        self.assertEqual(result.returncode, code, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        return result

    def ids(self, *arguments: str) -> list[int]:
        rows = json.loads(self.cli("queue", "list", "--json", *arguments).stdout)
        return [row["id"] for row in rows]

    def test_list_pages_and_filters(self) -> None:
        """A page ends with its cursor; --after gives the next page; filters select."""
        first = self.cli("queue", "list", "--limit", "2").stdout.splitlines()
        self.assertEqual(len(first), 3)
        self.assertTrue(first[0].startswith("id=1  account='mailtwist'"), first[0])
        self.assertTrue(first[2].startswith("next: "), first)
        cursor = first[2].removeprefix("next: ")
        self.assertEqual(self.ids("--after", cursor), [3])
        self.assertEqual(self.ids("--to", "@example.org", "--desc"), [3, 2])
        bad = self.cli("queue", "list", "--after", "nonsense", code=2)
        self.assertIn("--after 'nonsense'", bad.stderr)
        self.assertIn("page size", self.cli("queue", "list", "--limit", "5000", code=2).stderr)

    def test_operations(self) -> None:
        """hold, release, reschedule, max-attempts and drop change what they select."""
        self.assertIn("say which messages", self.cli("queue", "hold", code=2).stderr)
        held = self.cli("queue", "hold", "--to", "@example.org", "--json")
        self.assertEqual(json.loads(held.stdout), {"changed": 2})
        self.assertEqual(self.ids("--held"), [2, 3])
        self.assertEqual(self.cli("queue", "release", "--id", "3").stdout, "1 message released\n")
        self.assertEqual(self.ids("--not-held"), [1, 3])
        self.cli("queue", "reschedule", "--id", "1", "--at", "2030-01-01T00:00:00Z")
        self.cli("queue", "max-attempts", "2", "--all")
        rows = json.loads(self.cli("queue", "list", "--json", "--sort", "queued").stdout)
        self.assertEqual(rows[0]["next_attempt"], "2030-01-01T00:00:00+00:00")
        self.assertEqual({row["max_attempts"] for row in rows}, {2})
        self.assertIn(
            "--in: ", self.cli("queue", "reschedule", "--all", "--in", "-1m", code=2).stderr
        )
        self.cli("queue", "drop", "--id", "2")
        self.assertEqual(self.ids(), [3, 1])

    def test_drop_queues_the_canceled_webhook(self) -> None:
        """A drop from the CLI queues the account's "canceled" webhook in the store, for the
        running server to send; a message without a subscribed event queues none."""
        self.cli(
            "webhook", "settings", "set", "mailtwist",
            "--outgoing-url", "http://127.0.0.1:9/hook", "--events", "canceled",
        )  # fmt: skip
        self.cli("queue", "drop", "--id", "2")
        pending = json.loads(self.cli("webhook", "list", "--json").stdout)
        self.assertEqual(
            [(hook["queue_msg_id"], hook["outgoing_event"]) for hook in pending], [(2, "canceled")]
        )
        self.cli("queue", "fail", "--id", "3")
        self.assertEqual(len(json.loads(self.cli("webhook", "list", "--json").stdout)), 1)

    def test_hold_rules(self) -> None:
        """Hold rules are added (holding matches), listed and removed; bad input is named."""
        added = json.loads(
            self.cli("holdrule", "add", "--recipient-domain", "Example.COM", "--json").stdout
        )
        self.assertEqual(added["recipient_domain"], "example.com")
        self.assertEqual(self.ids("--held"), [1])
        rules = json.loads(self.cli("holdrule", "list", "--json").stdout)
        self.assertEqual([rule["id"] for rule in rules], [added["id"]])
        bad = self.cli("holdrule", "add", "--sender-domain", "bad domain", code=2)
        self.assertIn("invalid sender domain 'bad domain'", bad.stderr)
        self.cli("holdrule", "remove", str(added["id"]))
        self.assertIn("no hold rule with id", self.cli("holdrule", "remove", "99", code=2).stderr)

    def test_suppressions(self) -> None:
        """Suppressions are added, checked by base address, exported, removed and imported."""
        self.cli("suppression", "add", "mailtwist", "X.Y+news@example.com", "--reason", "asked")
        check = self.cli("suppression", "check", "mailtwist", "xy-other@example.com")
        self.assertEqual(check.stdout, "xy-other@example.com: suppressed\n")
        exported = self.cli("suppression", "export", "mailtwist").stdout
        rows = list(csv.DictReader(io.StringIO(exported)))
        self.assertEqual(
            [(r["address"], r["reason"]) for r in rows], [("X.Y+news@example.com", "asked")]
        )
        again = self.cli("suppression", "add", "mailtwist", "xy@example.com", code=2)
        self.assertIn("already on the suppression list", again.stderr)
        self.cli("suppression", "remove", "mailtwist", "xy@example.com")
        self.assertEqual(
            json.loads(self.cli("suppression", "list", "mailtwist", "--json").stdout), []
        )
        path = self.directory / "list.csv"
        path.write_text(exported + "not an address,,,\n")
        bad = self.cli("suppression", "import", "mailtwist", str(path), code=2)
        self.assertIn("line 3: invalid address", bad.stderr)
        path.write_text(exported)
        self.assertEqual(
            self.cli("suppression", "import", "mailtwist", str(path)).stdout,
            "1 added, 0 already listed\n",
        )
        for arguments in (("add", "nobody", "a@example.com"), ("add", "mailtwist", "a@")):
            self.cli("suppression", *arguments, code=2)


# -- webhooks (issue 5 item 6)

WEBHOOK_AUTHORIZATION = "Bearer hook-token-1234"


def webhook_store(directory: Path) -> defer.Deferred[None]:
    """A localserve directory (no http listener) whose store holds three pending
    webhooks of account mailtwist: delivered for message 1 (id 1), failed for
    message 2 (id 2), an incoming one (id 3), and one of an account no longer in
    the config (id 4), due in that order."""
    from mailtwist.store.webhooks import NewWebhook

    async def fill() -> None:
        store = SQLiteStore(directory / DATABASE_FILE)
        await store.start()
        now = datetime(2026, 11, 28, 4, 0, tzinfo=UTC)
        hooks = (("mailtwist", "delivered", 1), ("mailtwist", "failed", 2), ("mailtwist", "", 0))
        for minute, (account, event, msg_id) in enumerate((*hooks, ("gone", "failed", 4))):
            hook = NewWebhook(
                account=account,
                url="http://127.0.0.1:9/hooks",
                payload=b'{"Version":0}',
                submitted=now,
                authorization=WEBHOOK_AUTHORIZATION,
                is_incoming=not event,
                outgoing_event=event,
                queue_msg_id=msg_id,
            )
            # Due in 2030: "retry now" moves a hook before the others.
            await store.add_webhook(hook, now.replace(year=2030, minute=minute), None)
        await store.close()

    return queued_store(directory).addCallback(lambda _: defer.ensureDeferred(fill()))


class WebhookCommandTests(TestCase):
    """`mailtwist webhook` lists, retries and cancels webhooks, and keeps settings."""

    def setUp(self) -> defer.Deferred[None]:  # type: ignore[override]
        self.directory = Path(self.mktemp())
        return webhook_store(self.directory)

    def cli(self, *arguments: str, code: int = 0) -> subprocess.CompletedProcess[str]:
        result = run(*arguments, "--dir", str(self.directory))
        self.assertEqual(result.returncode, code, result.stderr)
        self.assertNotIn("Traceback", result.stderr)
        return result

    def ids(self, *arguments: str) -> list[int]:
        result = self.cli("webhook", *arguments, "--json")
        self.assertNotIn(WEBHOOK_AUTHORIZATION, result.stdout)
        return [row["id"] for row in json.loads(result.stdout)]

    def test_list_retry_cancel(self) -> None:
        """Pending webhooks page by next attempt and filter; retry makes them due; cancel
        retires them with "canceled by admin"; bad selections are named."""
        first = self.cli("webhook", "list", "--limit", "2").stdout.splitlines()
        self.assertTrue(first[0].startswith("1 mailtwist delivered msg=1 attempts=0"), first)
        self.assertTrue(first[-1].startswith("next: "), first)
        self.assertEqual(self.ids("list", "--after", first[-1].removeprefix("next: ")), [3, 4])
        self.assertEqual(self.ids("list", "--event", "incoming"), [3])
        rows = json.loads(self.cli("webhook", "list", "--json", "--id", "1").stdout)
        self.assertEqual(rows[0]["authorization"], True)
        self.assertEqual(rows[0]["payload"], '{"Version":0}')

        retried = self.cli("webhook", "retry", "--id", "3").stdout
        self.assertEqual(retried, "1 webhook due now\n")
        self.assertEqual(self.ids("list"), [3, 1, 2, 4])
        self.assertEqual(
            self.cli("webhook", "cancel", "--id", "1", "2", "4").stdout, "3 webhooks canceled\n"
        )
        self.assertEqual(self.ids("list"), [3])
        # localserve keeps retired webhooks 72h; a removed account's a week (spec §3.6).
        self.assertEqual(self.ids("retired", "--failed"), [4, 2, 1])
        for account, kept in (("gone", timedelta(weeks=1)), ("mailtwist", timedelta(hours=72))):
            rows = json.loads(self.cli("webhook", "retired", "--json", "--account", account).stdout)
            last, until = (
                datetime.fromisoformat(rows[0][k]) for k in ("last_activity", "keep_until")
            )
            self.assertEqual(until - last, kept)
        retired = self.cli("webhook", "retired", "--event", "failed").stdout
        self.assertIn("canceled by admin", retired)
        self.assertNotIn(WEBHOOK_AUTHORIZATION, retired)

        self.assertIn("say which webhooks", self.cli("webhook", "retry", code=2).stderr)
        bad = self.cli("webhook", "list", "--event", "bounced", code=2)
        self.assertIn("--event: unknown event 'bounced'", bad.stderr)
        self.assertIn(
            "--limit must be between", self.cli("webhook", "list", "--limit", "0", code=2).stderr
        )
        self.assertIn("--after 'x'", self.cli("webhook", "retired", "--after", "x", code=2).stderr)

    @defer.inlineCallbacks
    def test_settings_round_trip(self):  # type: ignore[no-untyped-def]
        """settings set saves what the server reads (StoredWebhookSettings); show masks
        credentials; --reset returns to the config file; bad input is named."""
        shown = json.loads(self.cli("webhook", "settings", "show", "mailtwist", "--json").stdout)
        self.assertEqual(
            shown,
            {
                "source": "config file",
                "outgoing_webhook": None,
                "incoming_webhook": None,
                "keep_retired_webhook_period": "72h",
                "webhook_secrets": [],
            },
        )
        result = self.cli(
            "webhook", "settings", "set", "mailtwist",
            "--outgoing-url", "https://app.example/out",
            "--outgoing-authorization", WEBHOOK_AUTHORIZATION,
            "--events", "delivered,failed",
            "--incoming-url", "http://127.0.0.1:8000/in",
            "--keep-retired", "1h",
            "--add-secret",
        )  # fmt: skip
        secret = result.stdout.rsplit(": ", 1)[1].strip()
        self.assertTrue(secret.startswith("whsec_"), result.stdout)
        self.assertNotIn(WEBHOOK_AUTHORIZATION, result.stdout)
        self.assertIn("events: delivered,failed", result.stdout)

        shown = self.cli("webhook", "settings", "show", "mailtwist", "--json").stdout
        for credential in (secret, WEBHOOK_AUTHORIZATION):
            self.assertNotIn(credential, shown)
        view = json.loads(shown)
        self.assertEqual(view["source"], "saved")
        self.assertEqual(
            view["outgoing_webhook"],
            {
                "url": "https://app.example/out",
                "authorization": True,
                "events": ["delivered", "failed"],
            },
        )
        self.assertEqual(
            view["incoming_webhook"], {"url": "http://127.0.0.1:8000/in", "authorization": False}
        )
        self.assertEqual(view["keep_retired_webhook_period"], "1h")
        self.assertEqual(len(view["webhook_secrets"]), 1)

        saved = yield self.stored()
        assert saved.outgoing is not None
        self.assertEqual(saved.outgoing.authorization, WEBHOOK_AUTHORIZATION)
        self.assertEqual(saved.secrets, (secret,))

        # Rotation: a second secret, then the first removed.
        self.cli("webhook", "settings", "set", "mailtwist", "--add-secret")
        third = self.cli("webhook", "settings", "set", "mailtwist", "--add-secret", code=2)
        self.assertIn("--add-secret: the account has 2 secrets already", third.stderr)
        self.cli("webhook", "settings", "set", "mailtwist", "--remove-secret", "1")
        self.assertNotIn(secret, (yield self.stored()).secrets)
        self.cli(
            "webhook", "settings", "set", "mailtwist", "--outgoing-url", "", "--events", "", code=2
        )
        self.cli("webhook", "settings", "set", "mailtwist", "--outgoing-url", "")
        view = json.loads(self.cli("webhook", "settings", "show", "mailtwist", "--json").stdout)
        self.assertIsNone(view["outgoing_webhook"])

        for arguments, message in (
            (
                ("--outgoing-url", "ftp://h.example/"),
                "--outgoing-url: scheme must be http or https",
            ),
            (("--events", "failed"), "--events: account has no outgoing webhook"),
            (
                ("--incoming-url", "http://h.example/", "--events", "delivered,bounced"),
                "account has no outgoing webhook",
            ),
            (("--incoming-authorization", "x\ty"), "--incoming-authorization: must be one line"),
            (("--remove-secret", "5"), "--remove-secret: no secret 5; the account has 1"),
            (("--keep-retired", "soon"), "--keep-retired: invalid duration 'soon'"),
            (("--reset", "--add-secret"), "--reset returns to the config file's settings"),
            ((), "nothing to change"),
        ):
            bad = self.cli("webhook", "settings", "set", "mailtwist", *arguments, code=2)
            self.assertIn(message, bad.stderr)
        self.assertIn("'nobody'", self.cli("webhook", "settings", "show", "nobody", code=2).stderr)

        self.cli("webhook", "settings", "set", "mailtwist", "--reset")
        view = json.loads(self.cli("webhook", "settings", "show", "mailtwist", "--json").stdout)
        self.assertEqual(view["source"], "config file")

    def stored(self) -> defer.Deferred[Any]:
        """The account's settings as the server reads them from the store."""
        from mailtwist.webhook.settings import StoredWebhookSettings

        async def read() -> Any:
            store = SQLiteStore(self.directory / DATABASE_FILE)
            await store.start()
            try:
                return await StoredWebhookSettings(store).settings_for("mailtwist")
            finally:
                await store.close()

        return defer.ensureDeferred(read())


class WebhookTestCommandTests(TestCase):
    """`mailtwist webhook test` POSTs a sample payload to the configured URL."""

    @defer.inlineCallbacks
    def test_posts_sample_to_loopback_receiver(self):  # type: ignore[no-untyped-def]
        """The sample reaches a loopback receiver with mox's headers, Authorization and a
        signature; a 500 answer exits 1 showing it; a missing webhook exits 2."""
        from twisted.internet import reactor
        from twisted.internet.threads import deferToThread
        from twisted.web.server import Site

        from mailtwist.testing.webhooks import WebhookReceiver
        from mailtwist.webhook.settings import (
            OutgoingWebhook,
            StoredWebhookSettings,
            WebhookSettings,
            new_secret,
        )

        receiver = WebhookReceiver()
        tcp: Any = reactor
        port = tcp.listenTCP(0, Site(receiver), interface="127.0.0.1")
        self.addCleanup(port.stopListening)
        directory = Path(self.mktemp())
        yield queued_store(directory)
        url = f"http://127.0.0.1:{port.getHost().port}/hooks"
        settings = WebhookSettings(
            outgoing=OutgoingWebhook(url, WEBHOOK_AUTHORIZATION), secrets=(new_secret(),)
        )
        store = SQLiteStore(directory / DATABASE_FILE)
        yield store.start()
        yield StoredWebhookSettings(store).save("mailtwist", settings)
        yield store.close()

        def cli(*arguments: str) -> defer.Deferred[subprocess.CompletedProcess[str]]:
            # In a thread: this reactor serves the receiver meanwhile.
            return deferToThread(run, "webhook", "test", *arguments, "--dir", str(directory))

        result = yield cli("mailtwist")
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn(f"POST {url}: HTTP 200 in ", result.stdout)
        self.assertIn("response: ok", result.stdout)
        [received] = receiver.received
        self.assertEqual(received.path, "/hooks")
        self.assertEqual(received.headers["x-mox-webhook-id"], "1")
        self.assertEqual(received.headers["x-mox-webhook-attempt"], "1")
        self.assertEqual(received.headers["authorization"], WEBHOOK_AUTHORIZATION)
        self.assertTrue(received.headers["webhook-signature"].startswith("v1,"))
        self.assertEqual(json.loads(received.body)["Event"], "delivered")

        receiver.status = 500
        result = yield cli("mailtwist", "--json")
        self.assertEqual(result.returncode, 1, result.stderr)
        answer = json.loads(result.stdout)
        self.assertEqual((answer["code"], answer["success"]), (500, False))
        self.assertIn("HTTP status 500", answer["error"])

        result = yield cli("mailtwist", "--incoming")
        self.assertEqual(result.returncode, 2)
        self.assertIn("account 'mailtwist' has no incoming webhook", result.stderr)
        self.assertNotIn("Traceback", result.stderr)
