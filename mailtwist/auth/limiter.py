"""The failed-login limiter: fixed windows of failures per client IP class (spec §1.5)."""

from __future__ import annotations

import functools
import ipaddress
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

log = Logger()

#: Prefix lengths of the three IP classes, smallest network first (spec §1.5).
IPV4_CLASSES = (32, 26, 21)
IPV6_CLASSES = (64, 48, 32)


@dataclass(frozen=True)
class FailureWindow:
    """A fixed window of ``seconds`` and the failure limit of each of the three classes."""

    seconds: int
    limits: tuple[int, int, int]

    def __post_init__(self) -> None:
        if self.seconds <= 0 or any(limit < 0 for limit in self.limits):
            raise ValueError("window length must be positive and limits non-negative")


#: spec §1.5: 10/30/90 failures per minute, 50/150/450 per 24 hours.
DEFAULT_WINDOWS = (
    FailureWindow(60, (10, 30, 90)),
    FailureWindow(24 * 3600, (50, 150, 450)),
)

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=4096)
def ip_classes(ip: str) -> tuple[_Network, _Network, _Network]:
    """The three networks ``ip`` is counted in, smallest first.

    IPv4-mapped IPv6 addresses count as IPv4. ValueError for a malformed address.
    Remembered per address: it is asked on every webapi request.
    """
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    prefixes = IPV4_CLASSES if address.version == 4 else IPV6_CLASSES
    n0, n1, n2 = (ipaddress.ip_network(f"{address}/{p}", strict=False) for p in prefixes)
    return n0, n1, n2


class _WindowCounts:
    """Failure counts per network in the current period of one window."""

    def __init__(self, window: FailureWindow) -> None:
        self.window = window
        self.period = -1
        self.counts: dict[_Network, int] = {}

    def roll(self, now: float) -> None:
        # A fixed window: a new period starts with no counts; the old ones are dropped.
        period = int(now // self.window.seconds)
        if period != self.period:
            self.period = period
            self.counts = {}


class FailedLoginLimiter:
    """Refuses logins from IP classes with too many recent failures (spec §1.5).

    Ask ``allowed`` when a login starts and again when its (slow, threaded) check
    has succeeded: logins started in parallel all pass the first question, but once
    the limit is reached none of them is answered with its result, so a burst of
    guesses learns no more than the limit allows, while parallel logins with the
    right password (a client's connection pool) all get in.

    Only the current period of each window is kept, so memory holds at most the
    networks that failed within the last day.
    """

    def __init__(
        self, clock: IReactorTime, windows: tuple[FailureWindow, ...] = DEFAULT_WINDOWS
    ) -> None:
        self._clock = clock
        self._windows = tuple(_WindowCounts(w) for w in windows)

    def _current(self) -> tuple[_WindowCounts, ...]:
        now = self._clock.seconds()
        for counts in self._windows:
            counts.roll(now)
        return self._windows

    def allowed(self, ip: str) -> bool:
        """False when one more failure from ``ip`` would exceed any limit."""
        networks = ip_classes(ip)
        for counts in self._current():
            for network, limit in zip(networks, counts.window.limits, strict=True):
                if counts.counts.get(network, 0) + 1 > limit:
                    return False
        return True

    def failed(self, ip: str) -> None:
        """Count one failed login from ``ip`` in all its classes and windows."""
        networks = ip_classes(ip)
        for counts in self._current():
            for network in networks:
                counts.counts[network] = counts.counts.get(network, 0) + 1
        log.debug("failed login from {ip}", ip=ip)

    def succeeded(self, ip: str) -> None:
        """Forgive ``ip``'s own failures: subtract its /32 (/64) count from all three classes."""
        networks = ip_classes(ip)
        for counts in self._current():
            own = counts.counts.get(networks[0], 0)
            if not own:
                continue
            for network in networks:
                left = counts.counts.get(network, 0) - own
                if left > 0:
                    counts.counts[network] = left
                else:
                    counts.counts.pop(network, None)


__all__ = ["DEFAULT_WINDOWS", "FailedLoginLimiter", "FailureWindow", "ip_classes"]
