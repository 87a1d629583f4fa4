"""The factory of ESMTP server sessions for one listener: its settings and connection limit."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from twisted.internet.interfaces import IAddress, IReactorTime
from twisted.internet.protocol import Factory

from mailtwist.auth.limiter import FailedLoginLimiter
from mailtwist.auth.sasl import Authenticator
from mailtwist.metrics import NullMetrics
from mailtwist.smtpserver._interfaces import ISessionPolicy
from mailtwist.smtpserver.protocol import ESMTPServerProtocol

#: Listener kinds: inbound mail, submission (STARTTLS), submissions (implicit TLS).
KINDS = ("smtp", "submission", "submissions")


class ESMTPServerFactory(Factory):
    """Builds one ESMTPServerProtocol per connection and holds the listener's settings.

    ``extra_ehlo_keywords`` are strings or callables returning one (for keywords
    whose value changes, like ``FUTURERELEASE <interval> <date>``);
    ``extra_mail_parameters`` are MAIL FROM parameter keywords (upper case) the
    policy validates, e.g. ``("HOLDFOR", "HOLDUNTIL")``, and
    ``extra_rcpt_parameters`` the same for RCPT TO; any other parameter the
    protocol does not know is refused with 555 5.3.3.
    """

    def __init__(
        self,
        *,
        hostname: str,
        listener: str,
        kind: str,
        policy: ISessionPolicy,
        authenticator: Authenticator | None,
        limiter: FailedLoginLimiter | None,
        clock: IReactorTime,
        tls_context_factory: Any = None,
        implicit_tls: bool = False,
        allow_plaintext_auth: bool = False,
        max_message_size: int = 50 * 1024 * 1024,
        max_recipients: int = 1000,
        max_connections: int = 500,
        idle_timeout: float = 300.0,
        extra_ehlo_keywords: Iterable[str | Callable[[], str]] = (),
        metrics: Any = None,
        extra_mail_parameters: Iterable[str] = (),
        extra_rcpt_parameters: Iterable[str] = (),
        auth_failure_delay: float = 1.0,
        max_errors: int = 20,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown SMTP listener kind {kind!r}, expected one of {KINDS}")
        if max_message_size <= 0 or max_recipients <= 0 or max_connections <= 0:
            raise ValueError("SMTP limits must be positive")
        if idle_timeout <= 0 or auth_failure_delay < 0 or max_errors <= 0:
            raise ValueError("SMTP timeouts must be positive")
        self.hostname = hostname
        self.listener = listener
        self.kind = kind
        self.policy = policy
        self.authenticator = authenticator
        self.limiter = limiter
        self.clock = clock
        self.tls_context_factory = tls_context_factory
        self.implicit_tls = implicit_tls
        #: Sessions start in TLS on a "submissions" listener (RFC 8314 §3.3).
        self.tls_at_start = implicit_tls or kind == "submissions"
        self.allow_plaintext_auth = allow_plaintext_auth
        self.max_message_size = max_message_size
        self.max_recipients = max_recipients
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.extra_ehlo_keywords = tuple(extra_ehlo_keywords)
        self.metrics = metrics if metrics is not None else NullMetrics()
        self.extra_mail_parameters = frozenset(p.upper() for p in extra_mail_parameters)
        self.extra_rcpt_parameters = frozenset(p.upper() for p in extra_rcpt_parameters)
        self.auth_failure_delay = auth_failure_delay
        self.max_errors = max_errors
        self.active_connections = 0

    def buildProtocol(self, addr: IAddress | None) -> ESMTPServerProtocol:
        return ESMTPServerProtocol(self)

    def admit(self) -> bool:
        """Count a new session in; False when the listener is full."""
        if self.active_connections >= self.max_connections:
            return False
        self.active_connections += 1
        return True

    def release(self) -> None:
        """Count an admitted session out."""
        self.active_connections -= 1


__all__ = ["KINDS", "ESMTPServerFactory"]
