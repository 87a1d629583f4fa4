"""Tests for FUTURERELEASE (RFC 4865) and fromid (spec §7) in the submission policy."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.testing import MemoryReactorClock
from twisted.trial.unittest import SynchronousTestCase

from mailtwist.address import parse_address
from mailtwist.config import load_config, write_localserve_config
from mailtwist.service import MailtwistService
from mailtwist.smtp.reply import SMTPReply
from mailtwist.smtpserver._interfaces import Envelope
from mailtwist.smtpserver.factory import ESMTPServerFactory
from mailtwist.smtpserver.submission import (
    FUTURE_RELEASE_PARAMETERS,
    SubmissionPolicy,
    future_release,
    future_release_keyword,
    new_fromid,
)
from mailtwist.store import FromIDNotUnique
from tests.smtpserver.test_protocol import FakeAuthenticator, ProtocolTestCase
from tests.smtpserver.test_submission import (
    MESSAGE,
    NOW,
    FakeDirectory,
    FakeQueue,
    SubmissionPolicyTestCase,
    directory,
    envelope,
    queued,
    session,
)

START = datetime.fromtimestamp(NOW, UTC)
SIXTY_DAYS = 5184000


def with_parameters(env: Envelope, **parameters: str | None) -> Envelope:
    return Envelope(
        mail_from=env.mail_from,
        recipients=env.recipients,
        mail_parameters=parameters,
        smtputf8=env.smtputf8,
    )


class FutureReleaseKeywordTests(SubmissionPolicyTestCase):
    def test_keyword_follows_the_clock(self) -> None:
        """The EHLO keyword names 60 days in seconds and now + 60 days in UTC RFC 3339."""
        keyword = future_release_keyword(self.clock)
        self.assertEqual(keyword(), "FUTURERELEASE 5184000 2027-01-27T03:39:48Z")
        self.clock.advance(86400)
        self.assertEqual(keyword(), "FUTURERELEASE 5184000 2027-01-28T03:39:48Z")


class FutureReleaseMailFromTests(SubmissionPolicyTestCase):
    def mail(self, **parameters: str | None) -> None:
        self.policy.check_mail_from(session(), parse_address("mjl@mox.example"), parameters)

    def refused(self, **parameters: str | None) -> SMTPReply:
        return self.refusal(lambda: self.mail(**parameters))

    def test_accepted(self) -> None:
        """HOLDFOR up to 60 days and HOLDUNTIL between now and now + 60 days are accepted."""
        for parameters in (
            {"HOLDFOR": "1"},
            {"HOLDFOR": str(SIXTY_DAYS)},
            {"HOLDUNTIL": "2026-11-28T03:39:49Z"},
            {"HOLDUNTIL": "2027-01-27T03:39:48.000Z"},
            {"HOLDUNTIL": "2026-12-01T00:00:00.123456789Z"},
        ):
            self.mail(**parameters)

    def test_holdfor_syntax(self) -> None:
        """HOLDFOR that is not 1-9 digits without leading zero is 501 5.5.2 bad syntax."""
        for value in ("0", "01", "1234567890", "-5", "1h", "", None, "١٢"):
            reply = self.refused(HOLDFOR=value)
            self.assertEqual((reply.code, reply.enhanced), (501, "5.5.2"), value)
            self.assertTrue(reply.text.startswith("bad syntax: "), reply.text)

    def test_holdfor_too_far(self) -> None:
        """HOLDFOR over 5184000 seconds is 554 5.5.4 (spec §12)."""
        self.assertEqual(
            self.refused(HOLDFOR=str(SIXTY_DAYS + 1)),
            SMTPReply(554, "5.5.4", "future release interval too far in the future"),
        )

    def test_holduntil_syntax(self) -> None:
        """A HOLDUNTIL that is not a UTC RFC 3339 date-time is 501 5.5.2 bad syntax."""
        for value in (
            "2026-12-01T00:00:00",
            "2026-12-01T00:00:00+01:00",
            "2026-12-01 00:00:00Z",
            "2026-13-01T00:00:00Z",
            "2026-02-30T00:00:00Z",
            "2026-12-01T24:00:00Z",
            "2026-12-01T00:00:00.Z",
            "tomorrow",
            None,
        ):
            reply = self.refused(HOLDUNTIL=value)
            self.assertEqual((reply.code, reply.enhanced), (501, "5.5.2"), value)
            self.assertTrue(reply.text.startswith("bad syntax: "), reply.text)

    def test_holduntil_past(self) -> None:
        """A HOLDUNTIL now or before is 554 5.5.4 in the past."""
        for value in ("2026-11-28T03:39:48Z", "2020-01-01T00:00:00Z"):
            self.assertEqual(
                self.refused(HOLDUNTIL=value),
                SMTPReply(554, "5.5.4", "requested future release time is in the past"),
            )

    def test_holduntil_too_far(self) -> None:
        """A HOLDUNTIL more than 60 days ahead is 554 5.5.4 too far in the future."""
        self.assertEqual(
            self.refused(HOLDUNTIL="2027-01-27T03:39:48.001Z"),
            SMTPReply(554, "5.5.4", "requested future release time is too far in the future"),
        )

    def test_both(self) -> None:
        """HOLDFOR and HOLDUNTIL together are 501 5.5.4 with mox's text, typo included."""
        self.assertEqual(
            self.refused(HOLDFOR="10", HOLDUNTIL="2026-12-01T00:00:00Z"),
            SMTPReply(501, "5.5.4", "cannot use both HOLDUNTIL and HOLFOR"),
        )

    def test_bounds_follow_the_clock(self) -> None:
        """What is in the future is decided by the injected clock, not the system time."""
        self.mail(HOLDUNTIL="2026-12-01T00:00:00Z")
        self.clock.advance(5 * 86400)
        self.assertEqual(self.refused(HOLDUNTIL="2026-12-01T00:00:00Z").code, 554)


class FutureReleaseQueuedTests(SubmissionPolicyTestCase):
    def test_holdfor_queued(self) -> None:
        """HOLDFOR makes the release time the first attempt, stored as for;<n>."""
        self.clock.advance(2)  # DATA ends two seconds after MAIL FROM
        message = self.submit(MESSAGE, with_parameters(envelope(), HOLDFOR="3600"))
        self.assertEqual(message.next_attempt, START + timedelta(seconds=3602))
        self.assertEqual(message.future_release_request, "for;3600")
        self.assertEqual(message.origin, "submission")

    def test_holduntil_queued(self) -> None:
        """HOLDUNTIL makes that time the first attempt, stored as until;<as given>."""
        value = "2026-12-01T10:00:00.5Z"
        message = self.submit(MESSAGE, with_parameters(envelope(), HOLDUNTIL=value))
        self.assertEqual(message.next_attempt, datetime(2026, 12, 1, 10, 0, 0, 500000, tzinfo=UTC))
        self.assertEqual(message.future_release_request, "until;" + value)

    def test_without_release(self) -> None:
        """Without HOLDFOR/HOLDUNTIL the queue decides the first attempt (now)."""
        message = self.submit(MESSAGE)
        self.assertIsNone(message.next_attempt)
        self.assertEqual(message.future_release_request, "")

    def test_release_pure_function(self) -> None:
        """future_release without checks computes a due time for a past HOLDUNTIL."""
        release = future_release({"HOLDUNTIL": "2020-01-01T00:00:00Z"}, NOW, check=False)
        assert release is not None
        self.assertEqual(release.at, datetime(2020, 1, 1, tzinfo=UTC))
        self.assertIsNone(future_release({"SIZE": "10"}, NOW))


class FromIDTestCase(SubmissionPolicyTestCase):
    def setUp(self) -> None:
        super().setUp()
        base = directory()
        self.directory = FakeDirectory(
            # The fake does not cut catchall suffixes: list the variants used.
            {**base.addresses, "mjl+my-id@mox.example": "mjl", "mjl+x@mox.example": "mjl"}
            | {"mjl+@mox.example": "mjl"},
            base.domains,
            fromid_logins={"mjl": {"mjl+fromid@mox.example"}},
            separators={"mox.example": "+"},
        )
        self.fromids = iter(["F" * 21 + str(i) for i in range(1, 10)])
        self.policy = SubmissionPolicy(
            hostname="mail.mox.example",
            directory=self.directory,
            submit=self.queue.submit,
            clock=self.clock,
            make_id=lambda: "id",
            make_fromid=lambda: next(self.fromids),
        )

    def accept(self, env: Envelope, login: str = "mjl+fromid@mox.example") -> Deferred[Any]:
        return self.policy.accept_message(session(login=login), env, MESSAGE)


class FromIDTests(FromIDTestCase):
    def test_generated_per_recipient(self) -> None:
        """A fromid login gets one queued message per recipient, each with its own
        MAIL FROM localpart+fromid, all queued in one call (one transaction); 250 once
        that is durable."""
        d = self.accept(envelope("mjl@mox.example", "a@remote.example", "b@remote.example"))
        self.assertEqual([len(call) for call in self.queue.calls], [2])
        (first, d1), (second, d2) = self.queue.submitted
        self.assertIs(d1, d2)
        self.assertEqual(
            [(m.sender, m.recipients, m.from_id) for m in (first, second)],
            [
                ("mjl+" + "F" * 21 + "1@mox.example", ("a@remote.example",), "F" * 21 + "1"),
                ("mjl+" + "F" * 21 + "2@mox.example", ("b@remote.example",), "F" * 21 + "2"),
            ],
        )
        self.assertEqual(first.data, second.data)
        self.assertEqual(first.origin, "submission")
        self.assertNoResult(d)
        d1.callback([queued(7, first), queued(8, second)])
        self.assertEqual(self.successResultOf(d), SMTPReply(250, "2.0.0", "message queued as 7"))

    def test_login_compared_as_given(self) -> None:
        """The account's normal login sends without fromid, in one message."""
        self.accept(
            envelope("mjl@mox.example", "a@remote.example", "b@remote.example"), "mjl@mox.example"
        )
        [(message, _)] = self.queue.submitted
        self.assertEqual((message.sender, message.from_id), ("mjl@mox.example", ""))

    def test_chosen_fromid(self) -> None:
        """A MAIL FROM localpart with the separator chooses the fromid: the text after it."""
        self.accept(envelope("mjl+my-id@mox.example", "a@remote.example"))
        [(message, _)] = self.queue.submitted
        self.assertEqual((message.sender, message.from_id), ("mjl+my-id@mox.example", "my-id"))

    def test_chosen_fromid_several_recipients(self) -> None:
        """A chosen fromid with more than one recipient is 554 5.5.3, nothing queued."""
        reply = self.refusal(
            lambda: self.accept(envelope("mjl+x@mox.example", "a@remote.example", "b@r.example"))
        )
        self.assertEqual(
            reply, SMTPReply(554, "5.5.3", "cannot send to multiple recipients with chosen fromid")
        )
        self.assertEqual(self.queue.submitted, [])

    def test_chosen_fromid_already_used(self) -> None:
        """A fromid the store says is used is 554 5.1.7 bad fromid."""
        policy = SubmissionPolicy(
            hostname="h",
            directory=self.directory,
            submit=lambda m: fail(FromIDNotUnique("fromid 'x' not unique")),
            clock=self.clock,
        )
        d = policy.accept_message(
            session(login="mjl+fromid@mox.example"), envelope("mjl+x@mox.example"), MESSAGE
        )
        self.assertEqual(
            self.failureResultOf(d, SMTPReply).value,
            SMTPReply(554, "5.1.7", "bad fromid in smtp mail from address: already used"),
        )

    def test_other_failure_is_temporary(self) -> None:
        """A store failure is 451 4.3.0, logged, for the whole submission."""
        d = self.accept(envelope("mjl@mox.example", "a@remote.example", "b@remote.example"))
        self.queue.submitted[0][1].errback(OSError("disk"))
        self.assertEqual(self.failureResultOf(d, SMTPReply).value.code, 451)
        self.assertEqual(len(self.flushLoggedErrors(OSError)), 1)

    def test_empty_chosen_fromid(self) -> None:
        """A separator with nothing after it is refused 554 5.1.7."""
        reply = self.refusal(lambda: self.accept(envelope("mjl+@mox.example")))
        self.assertEqual((reply.code, reply.enhanced), (554, "5.1.7"))

    def test_domain_without_separator(self) -> None:
        """Sending from a domain without catchall separator with a fromid login is refused."""
        reply = self.refusal(lambda: self.accept(envelope("alias@müx.example")))
        self.assertEqual((reply.code, reply.enhanced), (554, "5.1.7"))
        self.assertIn("müx.example", reply.text)

    def test_extra_and_release_kept(self) -> None:
        """Per-recipient messages keep extra data and the future release of the submission."""
        data = b"From: mjl@mox.example\r\nX-Mox-Extra-Order: 42\r\n\r\nbody\r\n"
        env = with_parameters(
            envelope("mjl@mox.example", "a@r.example", "b@r.example"), HOLDFOR="60"
        )
        self.policy.accept_message(session(login="mjl+fromid@mox.example"), env, data)
        for message, _ in self.queue.submitted:
            self.assertEqual(dict(message.extra), {"Order": "42"})
            self.assertEqual(message.future_release_request, "for;60")

    def test_default_fromid(self) -> None:
        """The default fromid is base64url of 16 random bytes: 22 characters."""
        ids = {new_fromid() for _ in range(20)}
        self.assertEqual(len(ids), 20)
        for value in ids:
            self.assertRegex(value, r"^[A-Za-z0-9_-]{22}$")
            self.assertEqual(len(base64.urlsafe_b64decode(value + "==")), 16)


class SessionTests(ProtocolTestCase):
    """The policy behind the real protocol on a submission listener."""

    def setUp(self) -> None:
        super().setUp()
        self.clock.advance(NOW)
        self.queue = FakeQueue()
        self.policy = SubmissionPolicy(  # type: ignore[assignment]
            hostname="mail.mox.example",
            directory=FakeDirectory({"mjl@mox.example": "acct"}, {"mox.example"}),
            submit=lambda m: succeed([queued(5, m)]),
            clock=self.clock,
        )
        self.connect(
            kind="submission",
            authenticator=FakeAuthenticator(),
            allow_plaintext_auth=True,
            extra_ehlo_keywords=[future_release_keyword(self.clock)],
            extra_mail_parameters=FUTURE_RELEASE_PARAMETERS,
        )
        self.replies()
        self.send("EHLO c\r\n")
        self.ehlo_lines = self.replies()
        plain = base64.b64encode(b"\0mjl@mox.example\0secret").decode()
        self.send(f"AUTH PLAIN {plain}\r\n")
        self.assertEqual(self.replies()[0][:3], "235")

    def command(self, line: str) -> list[str]:
        self.send(line + "\r\n")
        return self.replies()

    def test_ehlo_advertises(self) -> None:
        """EHLO on submission advertises FUTURERELEASE with the clock's date-time."""
        self.assertEqual(self.ehlo_lines[-1], "250 FUTURERELEASE 5184000 2027-01-27T03:39:48Z")

    def test_replies_on_the_wire(self) -> None:
        """Each refusal of spec §12 reaches the client as the exact SMTP reply."""
        cases: list[tuple[str, str]] = [
            ("HOLDFOR=5184001", "554 5.5.4 future release interval too far in the future"),
            ("HOLDFOR=0", "501 5.5.2 bad syntax: HOLDFOR must be 1 to 9 digits"),
            (
                "HOLDUNTIL=2020-01-01T00:00:00Z",
                "554 5.5.4 requested future release time is in the past",
            ),
            ("HOLDFOR=1 HOLDUNTIL=2026-12-01T00:00:00Z", "501 5.5.4 cannot use both"),
            ("HOLDFOR=1 HOLDFOR=2", "501 5.5.4 duplicate parameter HOLDFOR"),
        ]
        for parameters, expected in cases:
            [line] = self.command(f"MAIL FROM:<mjl@mox.example> {parameters}")
            self.assertTrue(line.startswith(expected), (parameters, line))
        self.assertEqual(
            self.command("MAIL FROM:<mjl@mox.example> HOLDFOR=30"), ["250 2.1.0 sender ok"]
        )


class ServiceWiringTests(SynchronousTestCase):
    def test_only_submission_listeners_offer_futurerelease(self) -> None:
        """The service gives FUTURERELEASE and HOLDFOR/HOLDUNTIL to submission listeners only."""
        directory = Path(self.mktemp())
        config = load_config(write_localserve_config(directory))
        reactor = MemoryReactorClock()
        reactor.advance(NOW)
        service = MailtwistService(config, reactor=reactor)
        seen = {}
        for listener in config.listeners:
            factory = service._factory(listener)
            factory = getattr(factory, "wrappedFactory", factory)
            if isinstance(factory, ESMTPServerFactory):
                keywords = [k() if callable(k) else k for k in factory.extra_ehlo_keywords]
                seen[listener.kind] = (keywords, factory.extra_mail_parameters)
        self.assertEqual(seen["smtp"], ([], frozenset()))
        for kind in ("submission", "submissions"):
            self.assertEqual(
                seen[kind],
                (
                    ["FUTURERELEASE 5184000 2027-01-27T03:39:48Z"],
                    frozenset({"HOLDFOR", "HOLDUNTIL"}),
                ),
            )
