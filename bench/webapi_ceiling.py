#!/usr/bin/env python3
"""The framework ceiling for bench/webapi_send: a bare Klein endpoint, one SQLite row per request.

  PYTHONPATH=. python3 bench/webapi_ceiling.py --port 8099 --db /tmp/x/ceiling.db [--sign]

POST /webapi/v0/Send with the same form body as mailtwist's webapi (``request=<json>``,
urlencoded): twisted.web parses the form, the JSON is decoded, one row (the raw JSON)
is inserted and committed on a one-thread threadpool (WAL, synchronous=FULL, one
COMMIT per request, so an fsync per request), and only then a small JSON answer is
written. No auth, no validation, no message composition: what Klein + twisted.web +
a durable SQLite insert cost, the most a webapi Send could reach in one process.
Listens on 127.0.0.1 only.

With ``--sign`` (diagnostic, bench/webapi_send FLOOR=1) it also does the two things
every Send must do to the message before queueing it: compose it with mailtwist's
composer (From, To, Subject, Text) and DKIM-sign it with dkimpy and an Ed25519 key,
as localserve does; the signed message is the row. Still no auth, no validation, no
queue records and no delivery: an upper bound for any Send in this stack.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import threading
from datetime import UTC, datetime

import dkim
from klein import Klein
from twisted.internet import endpoints, reactor
from twisted.internet.threads import deferToThreadPool
from twisted.python.threadpool import ThreadPool
from twisted.web.server import Site

from mailtwist.address import parse_address
from mailtwist.dkim.keys import dkimpy_private_key, generate_ed25519_key
from mailtwist.message.compose import Composition, NameAddress, compose_message


def _signing_key() -> bytes:
    """A fresh Ed25519 key as dkimpy takes it (base64 of the seed)."""
    return dkimpy_private_key(generate_ed25519_key())


def _composed_and_signed(parsed: dict[str, object], key: bytes) -> str:
    """The Send's message, composed by mailtwist and DKIM-signed by dkimpy."""
    [to] = parsed["To"]  # type: ignore[misc]
    composition = Composition(
        from_=NameAddress("", parse_address("mailtwist@localhost")),
        to=(NameAddress("", parse_address(to["Address"])),),
        cc=(),
        bcc=(),
        reply_to=(),
        message_id="<ceiling@localhost>",
        references=(),
        date=datetime.now(tz=UTC),
        subject=str(parsed["Subject"]),
        text=str(parsed["Text"]),
        html="",
    )
    message = compose_message(composition, smtputf8=False)
    signature = dkim.sign(
        message,
        b"ceiling",
        b"localhost",
        key,
        canonicalize=(b"relaxed", b"relaxed"),
        signature_algorithm=b"ed25519-sha256",
        include_headers=[b"from", b"to", b"subject", b"date", b"message-id"],
    )
    return (signature + message).decode()


class Ceiling:
    app = Klein()

    def __init__(self, path: str, *, sign: bool = False) -> None:
        self._key = _signing_key() if sign else None
        self._path = path
        self._local = threading.local()
        self._next = 0
        self.pool = ThreadPool(minthreads=1, maxthreads=1, name="ceiling-db")

    def _connection(self) -> sqlite3.Connection:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None)
            assert connection.execute("PRAGMA journal_mode=WAL").fetchone()[0] == "wal"
            connection.execute("PRAGMA synchronous=FULL")
            connection.execute(
                "CREATE TABLE IF NOT EXISTS sent (id INTEGER PRIMARY KEY, request TEXT NOT NULL)"
            )
            self._local.connection = connection
        return connection

    def _insert(self, request_json: str) -> int:
        connection = self._connection()
        connection.execute("BEGIN IMMEDIATE")
        try:
            cursor = connection.execute("INSERT INTO sent (request) VALUES (?)", (request_json,))
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        return int(cursor.lastrowid or 0)

    @app.route("/webapi/v0/Send", methods=["POST"])
    def send(self, request):  # type: ignore[no-untyped-def]
        raw = request.args.get(b"request", [b""])[0].decode()
        parsed = json.loads(raw)
        address = parsed["To"][0]["Address"]
        row = raw if self._key is None else _composed_and_signed(parsed, self._key)
        request.setHeader(b"content-type", b"application/json; charset=utf-8")

        def answer(row_id: int) -> bytes:
            body = {
                "MessageID": f"<ceiling{row_id}@localhost>",
                "Submissions": [{"Address": address, "QueueMsgID": row_id, "FromID": ""}],
            }
            return json.dumps(body, separators=(",", ":")).encode()

        return deferToThreadPool(reactor, self.pool, self._insert, row).addCallback(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--db", required=True)
    parser.add_argument(
        "--sign", action="store_true", help="also compose and DKIM-sign each message"
    )
    args = parser.parse_args()
    ceiling = Ceiling(args.db, sign=args.sign)
    ceiling.pool.start()
    # Create the table before listening, so the first request is not the slow one.
    deferToThreadPool(reactor, ceiling.pool, ceiling._connection)
    reactor.addSystemEventTrigger("during", "shutdown", ceiling.pool.stop)
    site = Site(ceiling.app.resource())
    site.noisy = False
    endpoint = endpoints.TCP4ServerEndpoint(reactor, args.port, interface="127.0.0.1")
    endpoint.listen(site)
    reactor.run()


if __name__ == "__main__":
    main()
