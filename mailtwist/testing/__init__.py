"""Fakes and fixtures mailtwist ships for its own tests and for its users' tests.

- ``store.MemoryStore``: the real SQLite store, in memory, run inline (Clock tests);
- ``webhooks.WebhookReceiver``: a scripted receiver for StubTreq;
- ``addresses``: hypothesis strategies for localparts, domains and addresses;
- ``windows``: Windows file semantics on any OS, and a POSIX-only import probe.
"""
