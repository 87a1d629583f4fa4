"""The embedded store: all SQL of mailtwist lives in this package."""

from mailtwist.store._interfaces import AttemptOutcome, IStore, Retirement
from mailtwist.store.database import DatabaseClosed, InlineDatabase
from mailtwist.store.schema import SchemaTooNew
from mailtwist.store.sqlite import (
    INTERRUPTED,
    FromIDNotUnique,
    MessageNotFound,
    SQLiteStore,
    SuppressionExists,
)

__all__ = [
    "INTERRUPTED",
    "AttemptOutcome",
    "DatabaseClosed",
    "FromIDNotUnique",
    "IStore",
    "InlineDatabase",
    "MessageNotFound",
    "Retirement",
    "SQLiteStore",
    "SchemaTooNew",
    "SuppressionExists",
]
