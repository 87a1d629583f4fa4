"""Tests for loading and validating mailtwist.toml: every error names file, key, reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from mailtwist.address import parse_address, parse_domain
from mailtwist.config import Config, ConfigError, load_config, write_self_signed_certificate
from mailtwist.config.certificate import write_private_file
from mailtwist.dkim.keys import generate_ed25519_key, generate_rsa_key

_RSA = generate_rsa_key(2048)
_NOW = datetime(2026, 11, 28, tzinfo=UTC)

FULL = """\
mode = "production"
hostname = "Mail.Example.com"
data_dir = "data"
postmaster_account = "admin"

[tls]
certificate = "tls/cert.pem"
key = "tls/key.pem"

[limits]
max_message_size = 1000000
max_recipients = 50
max_connections = 20
idle_timeout = "1m30s"

[queue]
concurrency = 3
attempt_timeout = "2m"

[submission]
allow_plaintext_auth = false

[webapi]
enabled = true
path = "/api/"

[[listeners]]
kind = "smtp"
addresses = ["127.0.0.1", "::1"]
port = 2525

[[listeners]]
kind = "submission"
addresses = ["127.0.0.1"]
port = 2587

[[listeners]]
kind = "metrics"
addresses = ["127.0.0.1"]
port = 8010

[domains."example.com"]
catchall_separators = ["+", "-"]
localpart_case_sensitive = false
disabled = false

[[domains."example.com".dkim]]
selector = "2026e"
algorithm = "ed25519-sha256"
private_key = "dkim/e.pem"

[[domains."example.com".dkim]]
selector = "2026r"
algorithm = "rsa-sha256"
private_key = "dkim/r.pem"

[domains."xn--74h.example"]
localpart_case_sensitive = true

[accounts.admin]
addresses = ["admin@example.com", "postmaster@example.com"]
full_name = "The Admin"
keep_retired_message_period = "72h"
keep_retired_webhook_period = "1h"
fromid_login_addresses = ["admin+fromid@example.com"]
max_outgoing_messages_per_day = 10
max_first_time_recipients_per_day = 5

[accounts.other]
addresses = ["E\\u0301lise@\u263a.example"]
"""


class LoaderTestCase(SynchronousTestCase):
    def setUp(self) -> None:
        self.dir = Path(self.mktemp())
        self.dir.mkdir()
        write_private_file(self.dir / "dkim" / "e.pem", generate_ed25519_key())
        write_private_file(self.dir / "dkim" / "r.pem", _RSA)
        write_self_signed_certificate(
            self.dir / "tls" / "cert.pem", self.dir / "tls" / "key.pem", ["mail"], now=_NOW
        )
        self.path = self.dir / "mailtwist.toml"

    def load(self, text: str) -> Config:
        self.path.write_text(text, encoding="utf-8")
        return load_config(self.path)

    def edit(self, old: str, new: str) -> str:
        self.assertIn(old, FULL)
        return FULL.replace(old, new, 1)

    def assertError(self, text: str, key: str, reason: str) -> ConfigError:
        """Loading ``text`` fails at ``key`` with a reason containing ``reason``."""
        error = self.assertRaises(ConfigError, self.load, text)
        self.assertEqual(error.file, str(self.path.absolute()))
        self.assertEqual(error.key, key)
        self.assertIn(reason, error.reason)
        self.assertEqual(str(error), f"{error.file}: {key}: {error.reason}")
        return error


class ValidConfigTests(LoaderTestCase):
    def test_full(self) -> None:
        """Every key of a full config ends up normalised in the Config."""
        config = self.load(FULL)
        self.assertEqual(config.path, self.path.absolute())
        self.assertEqual(config.mode, "production")
        self.assertFalse(config.localserve)
        self.assertEqual(config.hostname.ascii, "mail.example.com")
        self.assertEqual(config.data_dir, self.dir.absolute() / "data")
        self.assertEqual(config.tls_certificate, self.dir.absolute() / "tls" / "cert.pem")
        self.assertEqual(config.tls_key, self.dir.absolute() / "tls" / "key.pem")
        self.assertEqual(
            (config.max_message_size, config.max_recipients, config.max_connections),
            (1000000, 50, 20),
        )
        self.assertEqual(config.idle_timeout, 90.0)
        self.assertEqual((config.queue_concurrency, config.attempt_timeout), (3, 120.0))
        self.assertFalse(config.allow_plaintext_auth)
        self.assertEqual((config.webapi_enabled, config.webapi_path), (True, "/api/"))
        self.assertEqual(
            [(x.kind, x.addresses, x.port) for x in config.listeners],
            [
                ("smtp", ("127.0.0.1", "::1"), 2525),
                ("submission", ("127.0.0.1",), 2587),
                ("metrics", ("127.0.0.1",), 8010),
            ],
        )
        self.assertEqual(sorted(config.domains), ["example.com", "xn--74h.example"])
        domain = config.domains["example.com"]
        self.assertEqual(domain.catchall_separators, ("+", "-"))
        self.assertEqual(
            [(d.selector, d.algorithm, d.private_key) for d in domain.dkim],
            [
                ("2026e", "ed25519-sha256", self.dir.absolute() / "dkim" / "e.pem"),
                ("2026r", "rsa-sha256", self.dir.absolute() / "dkim" / "r.pem"),
            ],
        )
        self.assertTrue(config.domains["xn--74h.example"].localpart_case_sensitive)
        admin = config.accounts["admin"]
        self.assertEqual(
            [str(a) for a in admin.addresses], ["admin@example.com", "postmaster@example.com"]
        )
        self.assertEqual(admin.full_name, "The Admin")
        self.assertEqual(admin.keep_retired_message_period, timedelta(hours=72))
        self.assertEqual(admin.keep_retired_webhook_period, timedelta(hours=1))
        self.assertEqual(admin.fromid_login_addresses, (parse_address("admin+fromid@example.com"),))
        self.assertEqual(
            (admin.max_outgoing_messages_per_day, admin.max_first_time_recipients_per_day), (10, 5)
        )

    def test_minimal_defaults(self) -> None:
        """Only hostname, postmaster, a domain and an account are needed; the rest defaults."""
        config = self.load(
            'hostname = "localhost"\npostmaster_account = "a"\n'
            '[domains.localhost]\n[accounts.a]\naddresses = ["a@localhost"]\n'
        )
        self.assertEqual(config.mode, "production")
        self.assertEqual(config.data_dir, self.dir.absolute() / "data")
        self.assertIsNone(config.tls_certificate)
        self.assertEqual(config.listeners, ())
        self.assertEqual((config.max_message_size, config.idle_timeout), (52428800, 300.0))
        self.assertEqual((config.queue_concurrency, config.attempt_timeout), (10, 600.0))
        self.assertEqual((config.webapi_enabled, config.webapi_path), (True, "/webapi/"))
        account = config.accounts["a"]
        self.assertEqual(account.keep_retired_message_period, timedelta(0))
        self.assertEqual(account.max_outgoing_messages_per_day, 1000)
        self.assertEqual(account.max_first_time_recipients_per_day, 200)

    def test_nfc_and_idna(self) -> None:
        """Config addresses are NFC, domains IDNA: any written form finds the account."""
        config = self.load(FULL)
        other = config.accounts["other"].addresses[0]
        self.assertEqual(other.localpart, "\u00c9lise")
        self.assertEqual(other.domain, parse_domain("xn--74h.example"))
        for login in ("\u00c9lise@xn--74h.example", "E\u0301lise@\u263a.example"):
            with self.subTest(login=login):
                self.assertEqual(config.account_for_login(login), "other")
        # That domain is case-sensitive.
        self.assertIsNone(config.account_for_login("\u00e9lise@xn--74h.example"))

    def test_domain_key_forms(self) -> None:
        """A domain key in A-label form is the same domain as its Unicode form."""
        config = self.load(
            FULL.replace('[domains."xn--74h.example"]', '[domains."\u263a.example"]')
        )
        self.assertEqual(config.domains["xn--74h.example"].domain.unicode, "\u263a.example")

    def test_absolute_paths_kept(self) -> None:
        """Absolute paths are used as they are."""
        key = (self.dir / "dkim" / "e.pem").absolute()
        config = self.load(self.edit('"dkim/e.pem"', f'"{key.as_posix()}"'))
        self.assertEqual(config.domains["example.com"].dkim[0].private_key, key)


class FileErrorTests(LoaderTestCase):
    def test_missing_file(self) -> None:
        """A missing file is an error naming the file."""
        error = self.assertRaises(ConfigError, load_config, self.dir / "nope.toml")
        self.assertEqual(error.key, "")
        self.assertIn("cannot read config file", error.reason)
        self.assertEqual(str(error), f"{(self.dir / 'nope.toml').absolute()}: {error.reason}")

    def test_syntax_error(self) -> None:
        """A TOML syntax error names the file and the line."""
        error = self.assertRaises(ConfigError, self.load, 'mode = "production"\nhostname = \n')
        self.assertEqual(error.key, "")
        self.assertIn("TOML syntax error", error.reason)
        self.assertIn("line 2", error.reason)

    def test_not_utf8(self) -> None:
        """A file that is not UTF-8 is refused, not decoded wrongly."""
        self.path.write_bytes(b'hostname = "caf\xe9"\n')
        error = self.assertRaises(ConfigError, load_config, self.path)
        self.assertIn("not UTF-8", error.reason)


class KeyErrorTests(LoaderTestCase):
    def test_unknown_top_key(self) -> None:
        """A misspelt top-level key is refused."""
        self.assertError('hostnam = "x"\n' + FULL, "hostnam", "unknown key")

    def test_unknown_nested_key(self) -> None:
        """A misspelt key in a table is refused with its dotted name."""
        text = self.edit("max_recipients = 50", "max_recipients = 50\nmax_mesage_size = 1")
        self.assertError(text, "limits.max_mesage_size", "unknown key")

    def test_unknown_key_in_quoted_table(self) -> None:
        """Keys under a domain name are quoted as in TOML."""
        text = self.edit("disabled = false", "disabled = false\ndisable = true")
        self.assertError(text, 'domains."example.com".disable', "unknown key")
        text = self.edit('selector = "2026e"', 'selector = "2026e"\nselektor = "x"')
        self.assertError(text, 'domains."example.com".dkim[0].selektor', "unknown key")

    def test_missing_required(self) -> None:
        """hostname, postmaster_account, account addresses are required."""
        self.assertError(self.edit('hostname = "Mail.Example.com"\n', ""), "hostname", "required")
        self.assertError(
            self.edit('postmaster_account = "admin"\n', ""), "postmaster_account", "required"
        )
        self.assertError(
            self.edit('addresses = ["E\\u0301lise@\u263a.example"]', ""),
            "accounts.other.addresses",
            "required key missing",
        )

    def test_wrong_types(self) -> None:
        """Wrong TOML types are named; a boolean is not an integer."""
        self.assertError(
            self.edit("max_recipients = 50", 'max_recipients = "50"'),
            "limits.max_recipients",
            "must be an integer, not a string",
        )
        self.assertError(
            self.edit("max_connections = 20", "max_connections = true"),
            "limits.max_connections",
            "must be an integer, not a boolean",
        )
        self.assertError(
            self.edit("enabled = true", "enabled = 1"), "webapi.enabled", "must be a boolean"
        )
        self.assertError(
            self.edit('addresses = ["127.0.0.1", "::1"]', 'addresses = "127.0.0.1"'),
            "listeners[0].addresses",
            "must be an array",
        )
        self.assertError(
            FULL + "[accounts.x]\naddresses = [1]\n", "accounts.x.addresses[0]", "must be a string"
        )
        self.assertError(
            'hostname = "x"\npostmaster_account = "a"\ndomains = 3\n',
            "domains",
            "must be a table, not an integer",
        )

    def test_limits(self) -> None:
        """Sizes and counts must be positive."""
        self.assertError(
            self.edit("max_message_size = 1000000", "max_message_size = 0"),
            "limits.max_message_size",
            "must be >= 1, not 0",
        )
        self.assertError(
            self.edit("concurrency = 3", "concurrency = -1"), "queue.concurrency", ">= 1"
        )
        self.assertError(
            self.edit("max_outgoing_messages_per_day = 10", "max_outgoing_messages_per_day = -5"),
            "accounts.admin.max_outgoing_messages_per_day",
            ">= 0",
        )

    def test_durations(self) -> None:
        """Durations must parse; timeouts must not be zero."""
        self.assertError(
            self.edit('idle_timeout = "1m30s"', 'idle_timeout = "90"'),
            "limits.idle_timeout",
            "invalid duration",
        )
        self.assertError(
            self.edit('attempt_timeout = "2m"', 'attempt_timeout = "0s"'),
            "queue.attempt_timeout",
            "longer than 0s",
        )
        self.assertError(
            self.edit('keep_retired_message_period = "72h"', 'keep_retired_message_period = "3d"'),
            "accounts.admin.keep_retired_message_period",
            "invalid duration",
        )

    def test_mode(self) -> None:
        """Only production and localserve are modes."""
        self.assertError(self.edit('mode = "production"', 'mode = "prod"'), "mode", "not 'prod'")

    def test_hostname(self) -> None:
        """The hostname must be a valid domain name."""
        self.assertError(
            self.edit('hostname = "Mail.Example.com"', 'hostname = "mail..example.com"'),
            "hostname",
            "empty label",
        )

    def test_data_dir_is_a_file(self) -> None:
        """A data_dir that exists as a file is refused."""
        (self.dir / "data").write_text("")
        self.assertError(FULL, "data_dir", "not a directory")

    def test_webapi_path(self) -> None:
        """The webapi path starts and ends with a slash."""
        self.assertError(
            self.edit('path = "/api/"', 'path = "api"'), "webapi.path", 'start and end with "/"'
        )


class ListenerErrorTests(LoaderTestCase):
    def test_port_range(self) -> None:
        """Ports are 1 to 65535."""
        for port in ("0", "65536"):
            with self.subTest(port=port):
                self.assertError(
                    self.edit("port = 2525", f"port = {port}"),
                    "listeners[0].port",
                    f"must be between 1 and 65535, not {port}",
                )

    def test_addresses_are_ips(self) -> None:
        """Listener addresses must be IP addresses, not names."""
        self.assertError(
            self.edit('addresses = ["127.0.0.1", "::1"]', 'addresses = ["127.0.0.1", "localhost"]'),
            "listeners[0].addresses[1]",
            "invalid 'localhost'",
        )
        self.assertError(
            self.edit('addresses = ["127.0.0.1", "::1"]', "addresses = []"),
            "listeners[0].addresses",
            "at least one",
        )

    def test_kind(self) -> None:
        """Unknown listener kinds are refused."""
        self.assertError(self.edit('kind = "smtp"', 'kind = "imap"'), "listeners[0].kind", "'imap'")

    def test_duplicate_kind_and_port(self) -> None:
        """Two listeners of one kind on one port are refused."""
        text = FULL + '[[listeners]]\nkind = "smtp"\naddresses = ["127.0.0.2"]\nport = 2525\n'
        self.assertError(text, "listeners[3].port", "another smtp listener already has port 2525")

    def test_same_address_and_port(self) -> None:
        """Two listeners cannot bind the same address and port."""
        text = FULL + '[[listeners]]\nkind = "http"\naddresses = ["::1"]\nport = 2525\n'
        self.assertError(
            text, "listeners[3].addresses[0]", "::1 port 2525 already used by listeners[0]"
        )

    def test_tls_required_for_submission(self) -> None:
        """In production a submission listener needs TLS configured."""
        text = self.edit('[tls]\ncertificate = "tls/cert.pem"\nkey = "tls/key.pem"\n', "")
        self.assertError(text, "tls", "listeners[1] (submission) needs a certificate")

    def test_tls_required_for_submissions_in_localserve(self) -> None:
        """Even localserve needs a certificate for implicit TLS."""
        text = (
            'mode = "localserve"\nhostname = "localhost"\npostmaster_account = "a"\n'
            '[[listeners]]\nkind = "submissions"\naddresses = ["127.0.0.1"]\nport = 1465\n'
            '[domains.localhost]\n[accounts.a]\naddresses = ["a@localhost"]\n'
        )
        self.assertError(text, "tls", "implicit TLS")

    def test_plaintext_auth_only_in_localserve(self) -> None:
        """allow_plaintext_auth = true is refused outside localserve."""
        text = self.edit("allow_plaintext_auth = false", "allow_plaintext_auth = true")
        self.assertError(
            text, "submission.allow_plaintext_auth", 'only allowed with mode = "localserve"'
        )
        config = self.load(text.replace('mode = "production"', 'mode = "localserve"'))
        self.assertTrue(config.allow_plaintext_auth)


class TLSErrorTests(LoaderTestCase):
    def test_files_missing(self) -> None:
        """Configured TLS files must exist."""
        (self.dir / "tls" / "cert.pem").unlink()
        self.assertError(FULL, "tls.certificate", "does not exist")

    def test_key_missing(self) -> None:
        """Both certificate and key are needed."""
        self.assertError(self.edit('key = "tls/key.pem"\n', ""), "tls.key", "required")

    def test_not_pem(self) -> None:
        """Garbage instead of a certificate or key is refused."""
        (self.dir / "tls" / "cert.pem").write_text("hello")
        self.assertError(FULL, "tls.certificate", "not a PEM certificate")

    def test_key_not_matching(self) -> None:
        """A key that does not belong to the certificate is refused."""
        write_self_signed_certificate(
            self.dir / "other.pem", self.dir / "tls" / "key.pem", ["x"], now=_NOW
        )
        self.assertError(FULL, "tls.key", "is not the key of certificate")


class DomainErrorTests(LoaderTestCase):
    def test_invalid_domain(self) -> None:
        """A domain key that is not a domain is refused."""
        self.assertError(FULL + '[domains."a b"]\n', 'domains."a b"', "invalid 'a b'")

    def test_duplicate_domain(self) -> None:
        """The same domain in Unicode and A-label form is configured twice."""
        self.assertError(
            FULL + '[domains."\u263a.example"]\n', 'domains."☺.example"', "configured twice"
        )

    def test_separators(self) -> None:
        """Catchall separators must be non-empty, without @ or space, and unique."""
        for value, reason in (
            ('["+", ""]', "non-empty"),
            ('["@"]', "without @"),
            ('["+", "+"]', "duplicate separator '+'"),
        ):
            with self.subTest(value=value):
                self.assertError(
                    self.edit('catchall_separators = ["+", "-"]', f"catchall_separators = {value}"),
                    'domains."example.com".catchall_separators[' + ("1]" if "+" in value else "0]"),
                    reason,
                )

    def test_dkim_key_missing(self) -> None:
        """A DKIM key file that does not exist is refused."""
        (self.dir / "dkim" / "e.pem").unlink()
        self.assertError(FULL, 'domains."example.com".dkim[0].private_key', "does not exist")

    def test_dkim_key_unparsable(self) -> None:
        """A DKIM key file that is not a key is refused."""
        (self.dir / "dkim" / "r.pem").write_text("-----BEGIN PRIVATE KEY-----\nxx\n")
        self.assertError(
            FULL, 'domains."example.com".dkim[1].private_key', "not an unencrypted PEM"
        )

    def test_dkim_algorithm_mismatch(self) -> None:
        """The algorithm must match the key's type."""
        text = self.edit('algorithm = "ed25519-sha256"', 'algorithm = "rsa-sha256"')
        self.assertError(
            text,
            'domains."example.com".dkim[0].private_key',
            "is a ed25519-sha256 key, not rsa-sha256",
        )
        text = self.edit('algorithm = "ed25519-sha256"', 'algorithm = "rsa-sha1"')
        self.assertError(text, 'domains."example.com".dkim[0].algorithm', "'rsa-sha1'")

    def test_dkim_selector(self) -> None:
        """Selectors are DNS labels and unique per domain (RFC 6376 §3.1)."""
        text = self.edit('selector = "2026e"', 'selector = "a_b"')
        self.assertError(text, 'domains."example.com".dkim[0].selector', "not a DNS label")
        text = self.edit('selector = "2026r"', 'selector = "2026E"')
        self.assertError(text, 'domains."example.com".dkim[1].selector', "duplicate selector")


class AccountErrorTests(LoaderTestCase):
    def test_bad_address(self) -> None:
        """Unparsable account addresses are refused with the parser's reason."""
        text = self.edit('"postmaster@example.com"', '"postmaster@@example.com"')
        self.assertError(text, "accounts.admin.addresses[1]", "invalid 'postmaster@@example.com'")

    def test_domain_not_configured(self) -> None:
        """An account address's domain must be configured."""
        text = self.edit('"postmaster@example.com"', '"postmaster@example.org"')
        self.assertError(
            text, "accounts.admin.addresses[1]", "domain example.org is not configured"
        )

    def test_address_of_two_accounts(self) -> None:
        """An address (compared case-insensitively) belongs to one account only."""
        text = FULL + '[accounts.third]\naddresses = ["ADMIN@example.com"]\n'
        self.assertError(
            text,
            "accounts.third.addresses[0]",
            "already an address of account 'admin' (accounts.admin.addresses[0])",
        )

    def test_address_twice_in_account(self) -> None:
        """An account cannot list the same address twice."""
        text = self.edit('"postmaster@example.com"', '"Admin@example.com"')
        self.assertError(text, "accounts.admin.addresses[1]", "already an address of this account")

    def test_localpart_with_separator(self) -> None:
        """An account address cannot contain its domain's catchall separator."""
        text = self.edit('"postmaster@example.com"', '"post-master@example.com"')
        self.assertError(text, "accounts.admin.addresses[1]", "catchall separator '-'")

    def test_no_addresses(self) -> None:
        """An account needs at least one address."""
        text = self.edit('addresses = ["E\\u0301lise@\u263a.example"]', "addresses = []")
        self.assertError(text, "accounts.other.addresses", "at least one address")

    def test_postmaster_account_exists(self) -> None:
        """postmaster_account must name an account."""
        text = self.edit('postmaster_account = "admin"', 'postmaster_account = "root"')
        self.assertError(text, "postmaster_account", "no account named 'root'")

    def test_account_name(self) -> None:
        """Account names are NFC and have no spaces or slashes."""
        self.assertError(
            FULL + '[accounts."a b"]\naddresses = ["x@example.com"]\n', 'accounts."a b"', "spaces"
        )
        self.assertError(
            FULL + '[accounts."E\u0301"]\naddresses = ["x@example.com"]\n',
            'accounts."E\u0301"',
            "NFC",
        )


class FromIDLoginTests(LoaderTestCase):
    def test_not_an_address(self) -> None:
        """Each entry must parse (spec §7.1)."""
        text = self.edit('["admin+fromid@example.com"]', '["admin+fromid"]')
        self.assertError(text, "accounts.admin.fromid_login_addresses[0]", "missing '@'")

    def test_domain_not_configured(self) -> None:
        """Its domain must be configured (spec §7.1)."""
        text = self.edit('["admin+fromid@example.com"]', '["admin+fromid@example.org"]')
        self.assertError(text, "accounts.admin.fromid_login_addresses[0]", "not configured")

    def test_domain_without_separator(self) -> None:
        """Its domain needs a catchall separator (spec §7.1)."""
        text = FULL + 'fromid_login_addresses = ["E\u0301lise@xn--74h.example"]\n'
        self.assertError(
            text, "accounts.other.fromid_login_addresses[0]", "has no catchall_separators"
        )

    def test_other_account(self) -> None:
        """It must belong to the account (spec §7.1)."""
        text = FULL + 'fromid_login_addresses = ["admin+x@example.com"]\n'
        text = text.replace("localpart_case_sensitive = true", 'catchall_separators = ["+"]')
        self.assertError(
            text, "accounts.other.fromid_login_addresses[0]", "is not an address of account 'other'"
        )

    def test_canonical_match(self) -> None:
        """Case and a catchall suffix are ignored when matching it to the account."""
        config = self.load(
            self.edit('["admin+fromid@example.com"]', '["Admin-FromID@example.com"]')
        )
        self.assertEqual(
            config.accounts["admin"].fromid_login_addresses[0].localpart, "Admin-FromID"
        )
