"""Tests for mailtwist.auth.limiter: failed-login windows per IP class (spec §1.5)."""

from __future__ import annotations

import ipaddress

from twisted.internet.task import Clock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.auth.limiter import FailedLoginLimiter, FailureWindow, ip_classes

DAY = 24 * 3600


class IPClassesTests(SynchronousTestCase):
    def test_ipv4(self) -> None:
        """IPv4 addresses fall in their /32, /26 and /21."""
        self.assertEqual(
            ip_classes("192.0.2.77"),
            (
                ipaddress.ip_network("192.0.2.77/32"),
                ipaddress.ip_network("192.0.2.64/26"),
                ipaddress.ip_network("192.0.0.0/21"),
            ),
        )

    def test_ipv6(self) -> None:
        """IPv6 addresses fall in their /64, /48 and /32."""
        self.assertEqual(
            ip_classes("2001:db8:1:2:3::4"),
            (
                ipaddress.ip_network("2001:db8:1:2::/64"),
                ipaddress.ip_network("2001:db8:1::/48"),
                ipaddress.ip_network("2001:db8::/32"),
            ),
        )

    def test_ipv4_mapped(self) -> None:
        """An IPv4-mapped IPv6 address counts as the IPv4 address."""
        self.assertEqual(ip_classes("::ffff:192.0.2.77"), ip_classes("192.0.2.77"))

    def test_scoped(self) -> None:
        """A zone index on a link-local address is ignored."""
        self.assertEqual(ip_classes("fe80::1%eth0"), ip_classes("fe80::1"))

    def test_malformed(self) -> None:
        """A malformed address is a ValueError."""
        self.assertRaises(ValueError, ip_classes, "192.0.2.300")
        self.assertRaises(ValueError, ip_classes, "")


class FailedLoginLimiterTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.limiter = FailedLoginLimiter(self.clock)

    def fail_times(self, ip: str, n: int) -> None:
        for _ in range(n):
            self.limiter.failed(ip)

    def test_ten_per_minute_per_address(self) -> None:
        """Ten failures in a minute are allowed; the eleventh attempt is refused."""
        self.fail_times("192.0.2.1", 9)
        self.assertTrue(self.limiter.allowed("192.0.2.1"))
        self.limiter.failed("192.0.2.1")
        self.assertFalse(self.limiter.allowed("192.0.2.1"))
        self.assertTrue(self.limiter.allowed("192.0.2.2"))

    def test_minute_window_resets(self) -> None:
        """A new one-minute window allows the address again (fixed windows)."""
        self.clock.advance(30)
        self.fail_times("192.0.2.1", 10)
        self.clock.advance(29)
        self.assertFalse(self.limiter.allowed("192.0.2.1"))
        self.clock.advance(1)
        self.assertTrue(self.limiter.allowed("192.0.2.1"))

    def test_class_26(self) -> None:
        """Thirty failures within a /26 refuse all its addresses, not the /21 beyond."""
        for host in range(1, 4):
            self.fail_times(f"192.0.2.{host}", 10)
        self.assertFalse(self.limiter.allowed("192.0.2.60"))
        self.assertTrue(self.limiter.allowed("192.0.2.64"))

    def test_class_21(self) -> None:
        """Ninety failures within a /21 refuse all its addresses."""
        for net in range(3):
            for host in range(3):
                self.fail_times(f"192.0.{net}.{host * 64 + 1}", 10)
        self.assertFalse(self.limiter.allowed("192.0.7.200"))
        self.assertTrue(self.limiter.allowed("192.0.8.1"))

    def test_day_window(self) -> None:
        """Fifty failures in a day refuse an address even when spread over minutes."""
        for _ in range(5):
            self.fail_times("192.0.2.1", 10)
            self.clock.advance(60)
        self.assertFalse(self.limiter.allowed("192.0.2.1"))
        self.clock.advance(DAY - 300)
        self.assertTrue(self.limiter.allowed("192.0.2.1"))

    def test_day_window_classes(self) -> None:
        """The day limits of the /26 (150) and /21 (450) apply too."""
        for minute in range(15):
            self.fail_times(f"192.0.2.{minute + 1}", 10)
            self.clock.advance(60)
        self.assertFalse(self.limiter.allowed("192.0.2.50"))
        self.assertTrue(self.limiter.allowed("192.0.2.100"))
        for minute in range(30):
            self.fail_times(f"192.0.{minute % 7}.{minute // 7 + 1}", 10)
            self.clock.advance(60)
        self.assertFalse(self.limiter.allowed("192.0.6.250"))

    def test_success_forgives_own_failures(self) -> None:
        """A success subtracts the address's own count from all three classes."""
        self.fail_times("192.0.2.1", 9)
        self.fail_times("192.0.2.2", 9)
        self.fail_times("192.0.2.3", 9)
        self.limiter.succeeded("192.0.2.1")
        # The /26 now holds 18: twelve more failures from a neighbour would exceed 30.
        self.fail_times("192.0.2.4", 9)
        self.fail_times("192.0.2.5", 2)
        self.assertTrue(self.limiter.allowed("192.0.2.6"))
        self.limiter.failed("192.0.2.5")
        self.assertFalse(self.limiter.allowed("192.0.2.6"))
        self.assertTrue(self.limiter.allowed("192.0.2.128"))

    def test_success_clears_address(self) -> None:
        """After a success the address has its full allowance again."""
        self.fail_times("192.0.2.1", 10)
        self.limiter.succeeded("192.0.2.1")
        self.fail_times("192.0.2.1", 9)
        self.assertTrue(self.limiter.allowed("192.0.2.1"))

    def test_success_without_failures(self) -> None:
        """A success from an address without failures changes nothing."""
        self.fail_times("192.0.2.2", 10)
        self.limiter.succeeded("192.0.2.1")
        self.assertFalse(self.limiter.allowed("192.0.2.2"))

    def test_ipv6_classes(self) -> None:
        """IPv6 failures count per /64, /48 and /32."""
        self.fail_times("2001:db8:0:1::1", 5)
        self.fail_times("2001:db8:0:1::2", 5)
        self.assertFalse(self.limiter.allowed("2001:db8:0:1::3"))
        for subnet in range(2, 4):
            self.fail_times(f"2001:db8:0:{subnet}::1", 10)
        self.assertFalse(self.limiter.allowed("2001:db8:0:ffff::1"))
        self.assertTrue(self.limiter.allowed("2001:db8:1::1"))

    def test_ipv4_mapped(self) -> None:
        """Failures over IPv4-mapped IPv6 count against the IPv4 address."""
        self.fail_times("::ffff:192.0.2.1", 10)
        self.assertFalse(self.limiter.allowed("192.0.2.1"))

    def test_old_windows_dropped(self) -> None:
        """Counts of past windows are dropped, so memory stays bounded."""
        for host in range(50):
            self.limiter.failed(f"198.51.100.{host}")
        self.clock.advance(DAY)
        self.limiter.allowed("192.0.2.1")
        self.assertEqual([len(w.counts) for w in self.limiter._windows], [0, 0])

    def test_custom_windows(self) -> None:
        """Windows and limits can be given, e.g. to test a tighter policy."""
        limiter = FailedLoginLimiter(self.clock, (FailureWindow(10, (1, 5, 5)),))
        limiter.failed("192.0.2.1")
        self.assertFalse(limiter.allowed("192.0.2.1"))
        self.clock.advance(10)
        self.assertTrue(limiter.allowed("192.0.2.1"))

    def test_bad_window(self) -> None:
        """A window without positive length is refused."""
        self.assertRaises(ValueError, FailureWindow, 0, (1, 2, 3))

    def test_malformed_ip(self) -> None:
        """A malformed IP is a ValueError from every method."""
        for method in (self.limiter.allowed, self.limiter.failed, self.limiter.succeeded):
            self.assertRaises(ValueError, method, "not an ip")
