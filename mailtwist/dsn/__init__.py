"""Delivery status notifications (RFC 3464): composing them and parsing returning ones."""

from mailtwist.dsn.compose import (
    ACTIONS,
    DEFAULT_RETRY_INTERVALS,
    DSNRecipient,
    compose_dsn,
    fold_field,
)
from mailtwist.dsn.parse import (
    DSN,
    STATUS_TYPES,
    DSNError,
    RecipientReport,
    parse_dsn,
    smtp_codes,
)

__all__ = [
    "ACTIONS",
    "DEFAULT_RETRY_INTERVALS",
    "DSN",
    "STATUS_TYPES",
    "DSNError",
    "DSNRecipient",
    "RecipientReport",
    "compose_dsn",
    "fold_field",
    "parse_dsn",
    "smtp_codes",
]
