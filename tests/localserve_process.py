"""A real localserve in a child process on free loopback ports, for end-to-end tests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import mailtwist
from mailtwist.config import write_localserve_config

#: Where the package under test lives: its parent holds `twisted/plugins` in a source
#: tree, and site-packages holds it when installed, so twistd finds the plugin either way.
PACKAGE_ROOT = str(Path(mailtwist.__file__).resolve().parent.parent)

START_TIMEOUT = 60.0


def _free_base_port() -> int:
    """A base such that base+25, +587, +465, +80 and +81 are all free on 127.0.0.1."""
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            base = s.getsockname()[1] - 25
        if not 1024 <= base <= 64000:
            continue
        if all(_port_free(base + offset) for offset in (25, 587, 465, 80, 81)):
            return base
    raise RuntimeError("no free loopback ports")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
    # The child is not under trial: keep its warnings from failing it, but show them.
    env.pop("PYTHONWARNINGS", None)
    return env


class LocalserveProcess:
    """Creates a localserve directory with free ports and runs `twistd -n mailtwist localserve`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.base = _free_base_port()
        write_localserve_config(directory, base_port=self.base)
        self.smtp_port = self.base + 25
        self.submission_port = self.base + 587
        self.submissions_port = self.base + 465
        self.http_port = self.base + 80
        self.metrics_port = self.base + 81
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = directory / "twistd.out"

    def start(self) -> None:
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-c",
                "from twisted.scripts.twistd import run; run()",
                "-n",
                "--pidfile=",
                "mailtwist",
                "localserve",
                "--dir",
                str(self.directory),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=child_env(),
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"localserve exited at start:\n{self.output()}")
            if self.listening(self.http_port):
                return
            time.sleep(0.1)
        raise RuntimeError(f"localserve did not start:\n{self.output()}")

    def listening(self, port: int) -> bool:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
        except OSError:
            return False
        return True

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def interrupt(self, timeout: float = 30.0) -> int:
        """Stop like Ctrl-C does; returns the exit status."""
        assert self.process is not None
        self.process.send_signal(signal.SIGINT)
        return self.process.wait(timeout)

    def kill(self) -> None:
        """kill -9: no chance to clean up."""
        assert self.process is not None
        self.process.kill()
        self.process.wait(30)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def cli(self, *arguments: str) -> Any:
        """Run `mailtwist ARGS --dir DIR --json` in a child and decode its output."""
        command = [sys.executable, "-m", "mailtwist.cli", *arguments]
        result = subprocess.run(
            [*command, "--dir", str(self.directory), "--json"],
            capture_output=True,
            env=child_env(),
            timeout=60,
            check=False,
        )
        if result.returncode:
            raise RuntimeError(f"mailtwist {arguments} failed: {result.stderr.decode()}")
        return json.loads(result.stdout)

    def message_bytes(self, message_id: int) -> bytes:
        """The stored message ``message_id`` as `mailtwist messages get` prints it."""
        command = [sys.executable, "-m", "mailtwist.cli", "messages", "get", str(message_id)]
        result = subprocess.run(
            [*command, "--dir", str(self.directory)],
            capture_output=True,
            env=child_env(),
            timeout=60,
            check=True,
        )
        return result.stdout

    def wait_for(self, what: str, predicate: Any, timeout: float = 30.0) -> Any:
        """Poll the CLI listing ``what`` (e.g. ("queue", "list")) until predicate(rows)."""
        deadline = time.monotonic() + timeout
        rows: Any = None
        while time.monotonic() < deadline:
            rows = self.cli(*what.split())
            if predicate(rows):
                return rows
            time.sleep(0.2)
        raise AssertionError(f"timed out waiting on {what}; last: {rows}\n{self.output()}")
