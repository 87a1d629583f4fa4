#!/usr/bin/env python3
"""SMTP submission load generator (asyncio, stdlib only) printing throughput as JSON.

N sessions share a budget of M messages; each session keeps its connection and runs
MAIL/RCPT/DATA per message (optionally pipelined, optionally after AUTH PLAIN).
Only loopback (127.0.0.0/8) is ever a target.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import ipaddress
import json
import math
import sys
import time
from dataclasses import dataclass, field


class SMTPError(Exception):
    """The server answered with an unexpected reply."""


@dataclass
class Run:
    """Shared state of one load run."""

    budget: int
    sent: int = 0
    errors: int = 0
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    pipelined_sessions: int = 0

    def take(self) -> bool:
        if self.budget <= 0:
            return False
        self.budget -= 1
        return True

    def error(self, text: str) -> None:
        self.errors += 1
        if len(self.error_samples) < 5:
            self.error_samples.append(text)


def build_message(size: int, sender: str, recipient: str) -> bytes:
    """A message of about ``size`` bytes, CRLF lines, already dot-safe (RFC 5321 §4.5.2)."""
    head = (
        f"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: load test\r\n"
        "Date: Thu, 01 Jan 2026 00:00:00 +0000\r\nMIME-Version: 1.0\r\n"
        "Content-Type: text/plain; charset=us-ascii\r\n\r\n"
    ).encode()
    line = b"x" * 74 + b"\r\n"
    body = bytearray(head)
    while len(body) + len(line) <= size:
        body += line
    if len(body) < size:
        body += b"y" * max(0, size - len(body) - 2) + b"\r\n"
    return bytes(body)


class Session:
    """One SMTP connection sending messages until the run's budget is spent."""

    def __init__(self, args: argparse.Namespace, run: Run, body: bytes) -> None:
        self.args = args
        self.run = run
        self.body = body
        self.reader: asyncio.StreamReader
        self.writer: asyncio.StreamWriter
        self.pipelining = False

    async def reply(self) -> tuple[int, list[bytes]]:
        """One (possibly multiline, RFC 5321 §4.2.1) reply: code and text lines."""
        lines = []
        while True:
            line = await self.reader.readline()
            if not line.endswith(b"\n"):
                raise ConnectionError("connection closed by server")
            lines.append(line[4:].rstrip(b"\r\n"))
            if len(line) < 4 or line[3:4] != b"-":
                try:
                    return int(line[:3]), lines
                except ValueError:
                    raise SMTPError(f"malformed reply {line!r}") from None

    async def expect(self, code: int, what: str) -> list[bytes]:
        got, lines = await self.reply()
        if got != code:
            raise SMTPError(f"{what}: {got} {b' '.join(lines).decode(errors='replace')}")
        return lines

    async def open(self) -> None:
        try:
            await self.handshake()
        except BaseException:
            self.close()
            raise

    async def handshake(self) -> None:
        a = self.args
        self.reader, self.writer = await asyncio.open_connection(a.host, a.port)
        await self.expect(220, "greeting")
        self.writer.write(f"EHLO {a.helo}\r\n".encode())
        extensions = {ln.split(b" ")[0].upper() for ln in await self.expect(250, "EHLO")}
        # RFC 2920: pipeline only when the server advertises it.
        self.pipelining = a.pipelining and b"PIPELINING" in extensions
        if self.pipelining:
            self.run.pipelined_sessions += 1
        if a.user is not None:
            # RFC 4954 §4 initial response; RFC 4616 PLAIN message.
            token = base64.b64encode(f"\0{a.user}\0{a.password}".encode()).decode()
            self.writer.write(f"AUTH PLAIN {token}\r\n".encode())
            await self.expect(235, "AUTH")

    async def send_one(self) -> None:
        a = self.args
        mail = f"MAIL FROM:<{a.sender}>\r\n".encode()
        rcpt = f"RCPT TO:<{a.recipient}>\r\n".encode()
        if self.pipelining:
            self.writer.write(mail + rcpt + b"DATA\r\n")
            replies = [await self.reply() for _ in range(3)]
            codes = [code for code, _ in replies]
            if codes != [250, 250, 354]:
                if codes[2] == 354:
                    # RFC 2920 §3.1: DATA was accepted without a recipient; end it empty.
                    self.writer.write(b".\r\n")
                    await self.reply()
                raise SMTPError(f"pipelined MAIL/RCPT/DATA: {codes}")
        else:
            self.writer.write(mail)
            await self.expect(250, "MAIL")
            self.writer.write(rcpt)
            await self.expect(250, "RCPT")
            self.writer.write(b"DATA\r\n")
            await self.expect(354, "DATA")
        self.writer.write(self.body + b".\r\n")
        await self.expect(250, "end of data")

    async def work(self) -> None:
        while self.run.take():
            try:
                if not hasattr(self, "writer"):
                    await self.open()
                start = time.perf_counter()
                await self.send_one()
            except SMTPError as e:
                self.run.error(str(e))
                await self.reset()
                continue
            except OSError as e:
                self.run.error(f"connection: {e}")
                self.close()
                await asyncio.sleep(0.05)
                continue
            self.run.latencies.append(time.perf_counter() - start)
            self.run.sent += 1
        await self.quit()

    async def reset(self) -> None:
        if not hasattr(self, "writer"):
            return
        try:
            self.writer.write(b"RSET\r\n")
            await self.expect(250, "RSET")
        except (OSError, SMTPError):
            self.close()

    async def quit(self) -> None:
        if not hasattr(self, "writer"):
            return
        try:
            self.writer.write(b"QUIT\r\n")
            await asyncio.wait_for(self.reply(), 2)
        except (TimeoutError, OSError, SMTPError):
            pass
        self.close()

    def close(self) -> None:
        if hasattr(self, "writer"):
            self.writer.close()
            del self.writer


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of already sorted values (0 for none)."""
    if not sorted_values:
        return 0.0
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


async def load(args: argparse.Namespace) -> dict[str, object]:
    run = Run(budget=args.messages)
    body = build_message(args.size, args.sender, args.recipient)
    sessions = [Session(args, run, body) for _ in range(args.sessions)]
    cpu0 = time.process_time()
    start = time.perf_counter()
    tasks = [asyncio.create_task(s.work()) for s in sessions]
    timed_out = False
    done, pending = await asyncio.wait(tasks, timeout=args.timeout)
    if pending:
        timed_out = True
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for s in sessions:
            s.close()
    for t in done:
        if t.exception() is not None:
            run.error(f"session crashed: {t.exception()!r}")
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu0
    lat = sorted(run.latencies)
    return {
        "host": args.host,
        "port": args.port,
        "sessions": args.sessions,
        "size": args.size,
        "requested": args.messages,
        "sent": run.sent,
        "errors": run.errors,
        "error_samples": run.error_samples,
        "elapsed_s": round(elapsed, 3),
        "msgs_per_s": round(run.sent / elapsed, 1) if elapsed > 0 else 0.0,
        "p50_ms": round(percentile(lat, 0.50) * 1000, 2),
        "p99_ms": round(percentile(lat, 0.99) * 1000, 2),
        "pipelining": run.pipelined_sessions > 0,
        "auth": args.user is not None,
        "timed_out": timed_out,
        # Near 1.0 means this tool, not the server, was the limit.
        "tool_cpu_share": round(cpu / elapsed, 2) if elapsed > 0 else 0.0,
    }


def loopback_host(value: str) -> str:
    """Accept only IPv4 loopback literals (127.0.0.0/8) or "localhost"."""
    if value == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r}: only 127.0.0.0/8 may be a target") from None
    if address.version != 4 or not address.is_loopback:
        raise argparse.ArgumentTypeError(f"{value!r}: only 127.0.0.0/8 may be a target")
    return value


def positive(value: str) -> int:
    n = int(value)
    if n <= 0:
        raise argparse.ArgumentTypeError(f"{value}: must be positive")
    return n


def parse_args(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--host", type=loopback_host, default="127.0.0.1")
    p.add_argument("--port", type=positive, required=True)
    p.add_argument("-s", "--sessions", type=positive, default=20)
    p.add_argument("-m", "--messages", type=positive, default=10000)
    p.add_argument("-l", "--size", type=positive, default=2048)
    p.add_argument("--from", dest="sender", default="a@src.test")
    p.add_argument("--to", dest="recipient", default="b@sink.test")
    p.add_argument("--helo", default="src.test")
    p.add_argument("--user", help="AUTH PLAIN right after EHLO")
    p.add_argument("--password", default="")
    p.add_argument("--pipelining", action="store_true", help="when advertised (RFC 2920)")
    p.add_argument("--timeout", type=float, default=300.0, help="seconds for the whole run")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    try:
        result = asyncio.run(load(args))
    except KeyboardInterrupt:
        print("smtp_load: interrupted", file=sys.stderr)
        return 130
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 0 if result["errors"] == 0 and not result["timed_out"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
