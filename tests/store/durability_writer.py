"""A store writer for the durability test: prints each enqueued id once acknowledged.

Run as ``python -m tests.store.durability_writer PATH``; it enqueues from several
concurrent callers until killed.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

from twisted.internet import reactor, task
from twisted.internet.defer import Deferred, ensureDeferred, gatherResults

from mailtwist.store import SQLiteStore
from tests.store.contract import new_message

CALLERS = 8


async def write_forever(store: SQLiteStore) -> None:
    await store.start()
    now = datetime.fromtimestamp(reactor.seconds(), UTC)  # type: ignore[attr-defined]

    async def caller() -> None:
        while True:
            [queued] = await store.enqueue(new_message(data=b"x" * 2048), now)
            # Printed only after the Deferred fired: after the commit returned.
            sys.stdout.write(f"{queued.id}\n")
            sys.stdout.flush()

    await gatherResults([ensureDeferred(caller()) for _ in range(CALLERS)])


def main(path: str) -> None:
    def run(reactor_: object) -> Deferred[None]:
        return ensureDeferred(write_forever(SQLiteStore(path)))

    task.react(run)


if __name__ == "__main__":
    main(sys.argv[1])
