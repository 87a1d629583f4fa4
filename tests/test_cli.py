"""Tests for the `mailtwist` command, run as a child process like a user runs it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from twisted.internet import defer
from twisted.trial.unittest import SynchronousTestCase, TestCase

from mailtwist.auth.password import verify_password
from mailtwist.cli import parser
from mailtwist.config import load_config, write_localserve_config
from mailtwist.service import DATABASE_FILE
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
