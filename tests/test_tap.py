"""Tests for the twistd options and the plugin that exposes them."""

from __future__ import annotations

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.tap import Options


class OptionsTests(SynchronousTestCase):
    """`twistd mailtwist` command lines parse into the right sub-options or a usage error."""

    def test_localserve_defaults(self) -> None:
        """localserve without flags uses ./mailtwist-localserve, loopback and the default login."""
        options = Options()
        options.parseOptions(["localserve"])
        self.assertEqual(options.subCommand, "localserve")
        self.assertEqual(options.subOptions["dir"], "mailtwist-localserve")
        self.assertEqual(options.subOptions["ip"], "127.0.0.1")
        self.assertEqual(options.subOptions["login"], "mailtwist@localhost")
        self.assertIsNone(options.subOptions["password"])

    def test_localserve_refuses_non_loopback_ip(self) -> None:
        """localserve never listens on a public address."""
        with self.assertRaises(usage.UsageError) as caught:
            Options().parseOptions(["localserve", "--ip", "0.0.0.0"])
        self.assertIn("loopback", str(caught.exception))

    def test_localserve_refuses_a_login_that_is_no_address(self) -> None:
        """A login without @ is refused with the flag named."""
        with self.assertRaises(usage.UsageError) as caught:
            Options().parseOptions(["localserve", "--login", "mailtwist"])
        self.assertIn("--login", str(caught.exception))

    def test_serve_takes_a_config(self) -> None:
        """serve --config names the production config file."""
        options = Options()
        options.parseOptions(["serve", "--config", "/etc/mailtwist.toml"])
        self.assertEqual(options.subOptions["config"], "/etc/mailtwist.toml")

    def test_a_command_is_required(self) -> None:
        """Without serve or localserve the plugin says what to choose."""
        with self.assertRaises(usage.UsageError):
            Options().parseOptions([])


class PluginTests(SynchronousTestCase):
    """The twistd plugin is found by Twisted's plugin system."""

    def test_plugin_is_discovered(self) -> None:
        """`twistd mailtwist` works: the plugin is visible in twisted.plugins."""
        from twisted.application.service import IServiceMaker
        from twisted.plugin import getPlugins

        from twisted import plugins

        names = {p.tapname for p in getPlugins(IServiceMaker, plugins)}
        self.assertIn("mailtwist", names)
