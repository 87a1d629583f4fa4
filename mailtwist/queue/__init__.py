"""The outgoing queue: scheduling, delivery attempts, transports, control and suppression."""

from mailtwist.queue.control import (
    AlreadySuppressed,
    InvalidAddress,
    InvalidHoldRule,
    QueueControl,
    QueueControlError,
    SuppressionCSVError,
)
from mailtwist.queue.retention import RetiredCleanup
from mailtwist.queue.scheduler import DSNWriter, QueueScheduler
from mailtwist.queue.suppression import classify, suppression_for
from mailtwist.queue.transport import DeliveryResult, ITransport

__all__ = [
    "AlreadySuppressed",
    "DSNWriter",
    "DeliveryResult",
    "ITransport",
    "InvalidAddress",
    "InvalidHoldRule",
    "QueueControl",
    "QueueControlError",
    "QueueScheduler",
    "RetiredCleanup",
    "SuppressionCSVError",
    "classify",
    "suppression_for",
]
