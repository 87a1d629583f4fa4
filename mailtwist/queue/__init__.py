"""The outgoing queue: scheduling, delivery attempts, transports, control and suppression."""

from mailtwist.queue.control import (
    AlreadySuppressed,
    InvalidAddress,
    InvalidHoldRule,
    QueueControl,
    QueueControlError,
    SuppressionCSVError,
)
from mailtwist.queue.retention import ExpiryCleanup
from mailtwist.queue.scheduler import DSNWriter, QueueScheduler
from mailtwist.queue.suppression import classify, suppression_for
from mailtwist.queue.transport import DeliveryResult, ITransport

__all__ = [
    "AlreadySuppressed",
    "DSNWriter",
    "DeliveryResult",
    "ExpiryCleanup",
    "ITransport",
    "InvalidAddress",
    "InvalidHoldRule",
    "QueueControl",
    "QueueControlError",
    "QueueScheduler",
    "SuppressionCSVError",
    "classify",
    "suppression_for",
]
