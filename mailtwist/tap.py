"""twistd options for `twistd -n mailtwist serve|localserve` and the service they make."""

from __future__ import annotations

import sys
from pathlib import Path

from twisted.application.service import IService
from twisted.python import usage

from mailtwist.config import ConfigError, load_config

DEFAULT_LOCALSERVE_DIR = "mailtwist-localserve"


class ServeOptions(usage.Options):
    """Run the production server from a config file."""

    synopsis = "--config PATH"
    optParameters = [
        ["config", "c", "mailtwist.toml", "The configuration file."],
    ]


class LocalserveOptions(usage.Options):
    """Run the development server: a real queue, simulated deliveries."""

    synopsis = "[--dir DIR] [--login ADDRESS] [--password PASSWORD] [--ip IP]"
    optParameters = [
        ["dir", "d", DEFAULT_LOCALSERVE_DIR, "Directory for config and data (created if needed)."],
        ["login", None, "mailtwist@localhost", "Login address of the account (first start only)."],
        ["password", None, None, "Password of the account (default: mailtwist)."],
        ["ip", None, "127.0.0.1", "Loopback IP to listen on (first start only)."],
    ]

    def postOptions(self) -> None:
        ip = self["ip"]
        if not (ip.startswith("127.") or ip == "::1"):
            raise usage.UsageError(f"--ip {ip}: localserve listens on loopback addresses only")
        if "@" not in self["login"]:
            raise usage.UsageError(f"--login {self['login']}: not an email address")


class Options(usage.Options):
    """Top-level options of the twistd plugin."""

    synopsis = "serve|localserve [options]"
    subCommands = [
        ["serve", None, ServeOptions, "Run the production server from a config file."],
        ["localserve", None, LocalserveOptions, "Run the local development server."],
    ]

    def postOptions(self) -> None:
        if self.subCommand is None:
            raise usage.UsageError("choose a command: serve or localserve")


def makeService(options: Options) -> IService:
    """Build the service for the chosen command; config errors end the process cleanly."""
    from twisted.internet import reactor

    from mailtwist.localserve import prepare_localserve
    from mailtwist.service import MailtwistService

    sub = options.subOptions
    try:
        if options.subCommand == "localserve":
            setup = prepare_localserve(
                Path(sub["dir"]),
                login=sub["login"],
                password=sub["password"],
                ip=sub["ip"],
            )
            return MailtwistService(
                setup.config,
                reactor=reactor,
                initial_password=setup.password,
                banner=setup.banner,
            )
        config = load_config(sub["config"])
    except ConfigError as e:
        # twistd would print a traceback for any other exception: a config error is the
        # user's to fix, so say exactly what and stop.
        sys.stderr.write(f"mailtwist: config error: {e}\n")
        raise SystemExit(2) from None
    return MailtwistService(config, reactor=reactor)
