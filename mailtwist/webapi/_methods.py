"""The twelve webapi v0 methods over the queue, the suppression list and the mailboxes (spec §2)."""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from twisted.internet.defer import Deferred, DeferredLock, ensureDeferred, maybeDeferred
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger

from mailtwist.address import Address, AddressError, base_address, parse_address
from mailtwist.config.model import Config
from mailtwist.dkim.sign import MessageSigner, sign_message
from mailtwist.message.headers import format_date, go_quote
from mailtwist.queue.scheduler import Submit
from mailtwist.smtpserver.submission import header_address
from mailtwist.store import SuppressionExists
from mailtwist.store.messages import (
    AccountMessage,
    AlreadyInMailbox,
    IdempotencyRecord,
    MailboxMessageNotFound,
    MailboxMessageRemoved,
    MailboxNotFound,
)
from mailtwist.store.records import MailboxDelivery, NewMessage, QueuedMessage
from mailtwist.store.records import Suppression as SuppressionRecord
from mailtwist.webapi import _content
from mailtwist.webapi._errors import WebAPIError
from mailtwist.webapi._json import encode, format_time
from mailtwist.webapi._records import (
    EmptyResult,
    MessageDeleteRequest,
    MessageFlagsAddRequest,
    MessageFlagsRemoveRequest,
    MessageGetRequest,
    MessageGetResult,
    MessageMoveRequest,
    MessagePartGetRequest,
    MessageRawGetRequest,
    NameAddress,
    SendRequest,
    SendResult,
    Submission,
    Suppression,
    SuppressionAddRequest,
    SuppressionListRequest,
    SuppressionListResult,
    SuppressionPresentRequest,
    SuppressionPresentResult,
    SuppressionRemoveRequest,
)

_log = Logger()

#: spec §2.2 step 10, spec §12: the latest FutureRelease accepted, as mox (RFC 4865 §3).
FUTURE_RELEASE_MAX = timedelta(days=60)
#: Issue 4 item 5: how long an Idempotency-Key answers with its first response.
IDEMPOTENCY_PERIOD = timedelta(hours=24)
#: The longest Idempotency-Key kept; longer ones are refused.
MAX_IDEMPOTENCY_KEY = 255
#: An Idempotency-Key is visible ASCII (RFC 5234 B.1 VCHAR): other bytes would have
#: to be decoded somehow, and two keys that decode alike make a new Send replay an
#: old answer.
_IDEMPOTENCY_KEY = re.compile(r"[\x21-\x7e]+\Z")
#: spec §1.5: the send limits count the last 24 hours.
SEND_LIMIT_WINDOW = timedelta(hours=24)

#: Requests and messages at least this large are parsed and composed on a thread
#: (``run_in_thread``): megabytes take long enough on the reactor to stall every
#: other connection, while for small ones the thread hop would cost more than the work.
OFF_REACTOR_FROM = 256 * 1024

# RFC 3501 §9: atom-char, any CHAR except atom-specials "(){ %*\"\\]" and CTLs.
_ATOM = re.compile(r"[!#$&'+,\-./0-9:;<=>?@A-Z\[^_`a-z|}~]+\Z")


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart/form-data Send (spec §2.3)."""

    field: str
    filename: str
    content_type: str
    content_id: str
    data: bytes


@dataclass(frozen=True)
class CallContext:
    """Who calls and how: the authenticated account and what the transport saw."""

    account: str
    login: str
    tls: bool = False
    uploads: tuple[Upload, ...] = ()
    idempotency_key: str = ""
    request_text: str = ""


@dataclass(frozen=True)
class RawResult:
    """A method's answer that is data, not JSON (MessageRawGet, MessagePartGet)."""

    data: bytes
    content_type: str = "application/octet-stream"


def _datetime(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _parse(address: str) -> Address:
    try:
        return parse_address(address)
    except AddressError as e:
        raise WebAPIError("badAddress", f"parsing address {go_quote(address)}: {e}") from None


def _content_size(request: SendRequest, context: CallContext) -> int:
    """How many bytes a Send's message is made of at least (its bodies and files).

    A lower bound of the composed size: a character is at least one octet, and a
    file's base64 Data is written again as base64, with line ends added.
    """
    files = (*request.AlternativeFiles, *request.InlineFiles, *request.AttachedFiles)
    return (
        len(request.Text)
        + len(request.HTML)
        + sum(len(f.Data) for f in files)
        + sum(len(u.data) for u in context.uploads)
    )


def _message_not_found() -> WebAPIError:
    return WebAPIError("messageNotFound", "message not found")


def _check_flags(flags: Sequence[str]) -> list[str]:
    """Lower-cased flags; a keyword must be an IMAP atom (RFC 3501 §9, spec §2.5)."""
    checked = []
    for flag in flags:
        lower = flag.lower()
        if lower not in _content.SYSTEM_FLAGS and (
            lower.startswith("\\") or not _ATOM.match(lower)
        ):
            raise WebAPIError("user", f"invalid flag or keyword {go_quote(flag)}")
        checked.append(lower)
    return checked


class WebAPIMethods:
    """One method per webapi method name; each takes (request record, CallContext).

    Results are records of ``_records`` (encoded as JSON) or RawResult; refusals
    are WebAPIError. ``submit`` queues a NewMessage durably (the scheduler);
    ``run_in_thread`` runs RSA signing and the work on large requests and messages
    off the reactor.
    """

    def __init__(
        self,
        *,
        config: Config,
        store: Any,
        submit: Submit,
        signer: MessageSigner | None,
        clock: IReactorTime,
        run_in_thread: Callable[..., Deferred[Any]] | None = None,
        random_id: Callable[[], str] | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._submit = submit
        self._signer = signer
        self._clock = clock
        self._run_in_thread = run_in_thread or maybeDeferred
        self._random_id = random_id or (lambda: secrets.token_urlsafe(16))
        self._idempotency_locks: dict[tuple[str, str], DeferredLock] = {}

    def _now(self) -> datetime:
        return _datetime(self._clock.seconds())

    # -- Send

    def Send(self, request: SendRequest, context: CallContext) -> Deferred[SendResult]:
        """Compose, sign and queue a message; idempotent with an Idempotency-Key."""
        if not context.idempotency_key:
            return ensureDeferred(self._send(request, context))
        return ensureDeferred(self._send_once(request, context))

    async def _send_once(self, request: SendRequest, context: CallContext) -> SendResult:
        if len(context.idempotency_key) > MAX_IDEMPOTENCY_KEY:
            raise WebAPIError(
                "protocol", f"Idempotency-Key longer than {MAX_IDEMPOTENCY_KEY} characters"
            )
        if not _IDEMPOTENCY_KEY.match(context.idempotency_key):
            raise WebAPIError(
                "protocol", "Idempotency-Key must be visible ASCII characters (0x21-0x7e)"
            )
        key = (context.account, context.idempotency_key)
        lock = self._idempotency_locks.setdefault(key, DeferredLock())
        # Concurrent duplicates wait here, then find the first one's response.
        await lock.acquire()
        try:
            digest = _request_hash(context)
            found = await self._store.idempotent_response(
                context.account, context.idempotency_key, self._now()
            )
            if found is not None:
                if found.request_hash != digest:
                    raise WebAPIError(
                        "idempotencyConflict",
                        "Idempotency-Key was used before with a different request",
                    )
                return _stored_result(found.response)
            return await self._send(request, context, digest)
        finally:
            lock.release()
            if not lock.locked and not lock.waiting:
                self._idempotency_locks.pop(key, None)

    async def _send(
        self, request: SendRequest, context: CallContext, digest: str | None = None
    ) -> SendResult:
        config = self._config
        account = config.accounts[context.account]
        # spec §2.2 step 1.
        if not request.Text and not request.HTML:
            raise WebAPIError("missingBody", "at least text or html body required")
        # Step 2: From defaults to the login address with the account's full name.
        senders = request.From or (NameAddress(account.full_name, context.login),)
        if len(senders) > 1:
            raise WebAPIError("multipleFrom", "multiple from-addresses not allowed")
        # Step 3: every address parses; display names without control characters.
        for entry in (*senders, *request.To, *request.CC, *request.BCC, *request.ReplyTo):
            if any(ord(c) < 0x20 or ord(c) == 0x7F for c in entry.Name):
                raise WebAPIError("user", "control characters in display name")
        sender = _parse(senders[0].Address)
        recipients = [
            (entry.Address, _parse(entry.Address))
            for entry in (*request.To, *request.CC, *request.BCC)
        ]
        reply_to = [_parse(entry.Address) for entry in request.ReplyTo]
        # Step 4: the From address must be the account's.
        domain = config.domain_config(sender.domain)
        if domain is not None and domain.disabled:
            raise WebAPIError("domainDisabled", "domain of from-address is disabled")
        if config.account_for_address(sender) != context.account:
            raise WebAPIError("badFrom", "from-address not configured for account")
        # Step 5.
        if not recipients:
            raise WebAPIError("noRecipients", "no recipients")
        # Step 9 (checked before composing, which writes the Message-Id).
        message_id = request.MessageID
        if message_id and not (message_id.startswith("<") and message_id.endswith(">")):
            raise WebAPIError("malformedMessageID", "missing <> in message-id")
        # Step 10.
        now = self._now()
        if request.FutureRelease is not None and request.FutureRelease - now > FUTURE_RELEASE_MAX:
            raise WebAPIError(
                "user",
                "scheduling delivery: date/time can not be further than 1440h0m0s in the future",
            )
        # Step 6: send limits (spec §1.5), off in localserve unless configured.
        addresses = [str(address) for _, address in recipients]
        await self._check_send_limits(context.account, account, addresses, now)
        # Step 7: RFC 6531 §3.2, SMTPUTF8 only when a localpart needs it.
        smtputf8 = any(not a.is_ascii for a in (sender, *(r for _, r in recipients), *reply_to))
        if not message_id:
            host = config.hostname.unicode if smtputf8 else config.hostname.ascii
            message_id = f"<{self._random_id()}@{host}>"
        # Step 8: compose; too large is refused before anything is queued, and
        # content that alone passes the maximum before the work of composing it.
        size = _content_size(request, context)
        if size > config.max_message_size > 0:
            raise WebAPIError("messageTooLarge", "message too large")
        large = size >= OFF_REACTOR_FROM
        run = self._run_in_thread if large else maybeDeferred
        try:
            composed = await run(
                _content.compose,
                request,
                sender=NameAddress(senders[0].Name, senders[0].Address),
                message_id=message_id,
                date=request.Date or now,
                uploads=context.uploads,
                smtputf8=smtputf8,
                max_size=config.max_message_size,
            )
        except _content.ContentError as e:
            raise WebAPIError(e.code, e.message) from None
        signed = composed
        if self._signer is not None:
            try:
                signed = await sign_message(
                    self._signer, composed, sender.domain, self._run_in_thread
                )
            except Exception:
                _log.failure("DKIM signing a webapi message")
                raise WebAPIError("server", "dkim signing message") from None
        dkim_prefix = signed[: len(signed) - len(composed)]
        queued = await self._queue(
            request, context, sender, recipients, signed, message_id, smtputf8, now
        )
        result = SendResult(
            MessageID=message_id,
            Submissions=tuple(
                Submission(Address=given, QueueMsgID=q.id, FromID=q.from_id)
                for (given, _), q in zip(recipients, queued, strict=True)
            ),
        )
        # Queueing counted the send toward the limits (the store, in its transaction).
        if digest is not None:
            idempotency = IdempotencyRecord(
                key=context.idempotency_key,
                request_hash=digest,
                response=encode(result),
                expires=now + IDEMPOTENCY_PERIOD,
            )
            try:
                await self._store.remember_idempotent_response(context.account, idempotency)
            except Exception:
                # The message is queued: answering an error would make the client send
                # it again. Only the key is lost.
                _log.failure("remembering an Idempotency-Key of {account}", account=context.account)
        if request.SaveSent:
            await self._save_sent(request, context, composed, dkim_prefix)
        return result

    async def _check_send_limits(
        self, name: str, account: Any, recipients: list[str], now: datetime
    ) -> None:
        # spec §1.5. Off in localserve mode, so local load tests are not throttled
        # (issue 4 item 3); a limit of 0 or less is no limit.
        max_messages = account.max_outgoing_messages_per_day
        max_first = account.max_first_time_recipients_per_day
        if self._config.localserve or (max_messages <= 0 and max_first <= 0):
            return
        counts = await self._store.webapi_send_counts(name, recipients, now - SEND_LIMIT_WINDOW)
        total = counts.messages + len(recipients)
        if max_messages > 0 and total > max_messages:
            raise WebAPIError(
                "messageLimitReached",
                f"outgoing message rate limit of {max_messages} per day reached",
            )
        # spec §1.5: the first-time count is only looked at from the same sum on.
        if max_first > 0 and total >= max_first and counts.first_time > max_first:
            raise WebAPIError(
                "recipientLimitReached",
                f"first-time recipient rate limit of {max_first} per day reached",
            )

    async def _queue(
        self,
        request: SendRequest,
        context: CallContext,
        sender: Address,
        recipients: list[tuple[str, Address]],
        data: bytes,
        message_id: str,
        smtputf8: bool,
        now: datetime,
    ) -> list[QueuedMessage]:
        config = self._config
        future = request.FutureRelease
        base = NewMessage(
            account=context.account,
            sender=str(sender),
            recipients=tuple(str(a) for _, a in recipients),
            data=data,
            message_id=message_id,
            subject=request.Subject,
            has8bit=not data.isascii(),
            smtputf8=smtputf8,
            next_attempt=future,
            # spec §12: "until;" and the time as given, in its own zone.
            future_release_request=f"until;{format_time(future)}" if future else "",
            require_tls=request.RequireTLS,
            extra=dict(request.Extra),
            origin="webapi",
        )
        separator = config.fromid_separator(sender.domain)
        if not (separator and config.uses_fromid(context.account, context.login)):
            return await self._submit(
                replace(base, data=self._with_received(data, recipients, context, now, smtputf8))
            )
        # spec §7.2: a new fromid per recipient, each its own queue message, all
        # queued in one transaction so a Send is queued whole or not at all.
        messages: list[NewMessage] = []
        localpart = sender.localpart.split(separator, 1)[0]
        for _, address in recipients:
            from_id = self._random_id()
            mail_from = Address(localpart + separator + from_id, sender.domain)
            new = replace(
                base,
                sender=str(mail_from),
                recipients=(str(address),),
                from_id=from_id,
                data=self._with_received(data, [("", address)], context, now, smtputf8),
            )
            messages.append(new)
        return await self._submit(*messages)

    def _with_received(
        self,
        data: bytes,
        recipients: list[tuple[str, Address]],
        context: CallContext,
        now: datetime,
        smtputf8: bool,
    ) -> bytes:
        # spec §2.3 per-recipient prefix; RFC 5321 §4.4 trace field. "for <>"
        # with several recipients keeps every copy's prefix identical.
        host = self._config.hostname.ascii
        rcpt = ""
        if len(recipients) == 1:
            rcpt = header_address(recipients[0][1], smtputf8)
        tls = " (TLS)" if context.tls else ""
        received = (
            f"Received: from {host} by {host} id {self._random_id()}{tls}\r\n"
            f"\tfor <{rcpt}>; {format_date(now.timestamp())}\r\n"
        )
        return received.encode("utf-8") + data

    async def _save_sent(
        self, request: SendRequest, context: CallContext, composed: bytes, prefix: bytes
    ) -> None:
        # spec §2.3 SaveSent: Bcc only in the stored copy, after the DKIM-Signature
        # fields (which do not cover it).
        bcc = b""
        if request.BCC:
            bcc = b"Bcc: " + ", ".join(e.Address for e in request.BCC).encode("utf-8") + b"\r\n"
        mailboxes = await self._store.mailboxes(context.account)
        if "Sent" not in mailboxes:
            return
        try:
            await self._store.deliver(
                [
                    MailboxDelivery(
                        account=context.account,
                        mailbox="Sent",
                        data=prefix + bcc + composed,
                        flags=("$notjunk", "\\seen"),
                    )
                ]
            )
        except Exception:
            _log.failure("saving a webapi message to Sent")
            raise WebAPIError("server", "message queued, but storing in Sent failed") from None

    # -- suppressions (spec §2.4)

    async def _suppression_list(self, context: CallContext) -> SuppressionListResult:
        entries = await self._store.suppressions(context.account)
        return SuppressionListResult(
            Suppressions=tuple(
                Suppression(
                    ID=s.id,
                    Created=s.created or _datetime(0),
                    Account=s.account,
                    BaseAddress=s.base_address,
                    OriginalAddress=s.original_address,
                    Manual=s.manual,
                    Reason=s.reason,
                )
                for s in entries
            )
        )

    def SuppressionList(
        self, request: SuppressionListRequest, context: CallContext
    ) -> Deferred[SuppressionListResult]:
        """The account's suppression list."""
        return ensureDeferred(self._suppression_list(context))

    async def _suppression_add(
        self, request: SuppressionAddRequest, context: CallContext
    ) -> EmptyResult:
        address = _parse(request.EmailAddress)
        entry = SuppressionRecord(
            account=context.account,
            base_address=base_address(address),
            original_address=str(address),
            manual=request.Manual,
            reason=request.Reason,
        )
        try:
            await self._store.add_suppression(entry)
        except SuppressionExists:
            # spec §1.4: mox answers its storage error, code "error".
            raise WebAPIError("error", "address is already on the suppression list") from None
        return EmptyResult()

    def SuppressionAdd(
        self, request: SuppressionAddRequest, context: CallContext
    ) -> Deferred[EmptyResult]:
        """Add an address (by its base address) to the suppression list."""
        return ensureDeferred(self._suppression_add(request, context))

    async def _suppression_remove(
        self, request: SuppressionRemoveRequest, context: CallContext
    ) -> EmptyResult:
        address = _parse(request.EmailAddress)
        if not await self._store.remove_suppression(context.account, base_address(address)):
            raise WebAPIError("error", "absent")
        return EmptyResult()

    def SuppressionRemove(
        self, request: SuppressionRemoveRequest, context: CallContext
    ) -> Deferred[EmptyResult]:
        """Remove the entry with the address's base address."""
        return ensureDeferred(self._suppression_remove(request, context))

    async def _suppression_present(
        self, request: SuppressionPresentRequest, context: CallContext
    ) -> SuppressionPresentResult:
        address = _parse(request.EmailAddress)
        found = await self._store.suppression(context.account, base_address(address))
        return SuppressionPresentResult(Present=found is not None)

    def SuppressionPresent(
        self, request: SuppressionPresentRequest, context: CallContext
    ) -> Deferred[SuppressionPresentResult]:
        """Whether the address's base address is on the list."""
        return ensureDeferred(self._suppression_present(request, context))

    # -- messages (spec §2.5)

    async def _message(self, account: str, message_id: int) -> AccountMessage:
        if message_id <= 0:
            raise _message_not_found()
        try:
            found: AccountMessage = await self._store.account_message(account, message_id)
        except (MailboxMessageNotFound, MailboxMessageRemoved):
            # spec §2.5: unknown or expunged, Get/RawGet/PartGet say not found.
            raise _message_not_found() from None
        return found

    async def _message_get(
        self, request: MessageGetRequest, context: CallContext
    ) -> MessageGetResult:
        found = await self._message(context.account, request.MsgID)
        if len(found.data) >= OFF_REACTOR_FROM:
            result: MessageGetResult = await self._run_in_thread(_content.message_get_result, found)
            return result
        return _content.message_get_result(found)

    def MessageGet(
        self, request: MessageGetRequest, context: CallContext
    ) -> Deferred[MessageGetResult]:
        """The message's fields, MIME structure and delivery facts."""
        return ensureDeferred(self._message_get(request, context))

    async def _message_raw_get(
        self, request: MessageRawGetRequest, context: CallContext
    ) -> RawResult:
        found = await self._message(context.account, request.MsgID)
        return RawResult(found.data, "text/plain")

    def MessageRawGet(
        self, request: MessageRawGetRequest, context: CallContext
    ) -> Deferred[RawResult]:
        """The message as stored."""
        return ensureDeferred(self._message_raw_get(request, context))

    async def _message_part_get(
        self, request: MessagePartGetRequest, context: CallContext
    ) -> RawResult:
        found = await self._message(context.account, request.MsgID)
        run = self._run_in_thread if len(found.data) >= OFF_REACTOR_FROM else maybeDeferred
        try:
            return RawResult(await run(_content.part_data, found.data, request.PartPath))
        except _content.ContentError as e:
            raise WebAPIError(e.code, e.message) from None

    def MessagePartGet(
        self, request: MessagePartGetRequest, context: CallContext
    ) -> Deferred[RawResult]:
        """One MIME part's body after transfer decoding."""
        return ensureDeferred(self._message_part_get(request, context))

    async def _message_delete(
        self, request: MessageDeleteRequest, context: CallContext
    ) -> EmptyResult:
        if request.MsgID == 0:
            raise WebAPIError("user", "message id must be non-zero")
        try:
            await self._store.remove_account_message(context.account, request.MsgID, self._now())
        except MailboxMessageNotFound:
            raise _message_not_found() from None
        except MailboxMessageRemoved:
            raise WebAPIError("user", "getting message: message was removed") from None
        return EmptyResult()

    def MessageDelete(
        self, request: MessageDeleteRequest, context: CallContext
    ) -> Deferred[EmptyResult]:
        """Remove the message permanently (no Trash)."""
        return ensureDeferred(self._message_delete(request, context))

    async def _change_flags(
        self, context: CallContext, message_id: int, add: Sequence[str], remove: Sequence[str]
    ) -> EmptyResult:
        adding, removing = _check_flags(add), _check_flags(remove)
        if message_id == 0:
            raise WebAPIError("user", "message id must be non-zero")
        try:
            await self._store.change_account_message_flags(
                context.account, message_id, adding, removing
            )
        except MailboxMessageNotFound:
            raise _message_not_found() from None
        except MailboxMessageRemoved:
            raise WebAPIError("user", "getting message: message was removed") from None
        return EmptyResult()

    def MessageFlagsAdd(
        self, request: MessageFlagsAddRequest, context: CallContext
    ) -> Deferred[EmptyResult]:
        """Set system flags and keywords; setting one already set is no error."""
        return ensureDeferred(self._change_flags(context, request.MsgID, request.Flags, ()))

    def MessageFlagsRemove(
        self, request: MessageFlagsRemoveRequest, context: CallContext
    ) -> Deferred[EmptyResult]:
        """Clear system flags and keywords; clearing one not set is no error."""
        return ensureDeferred(self._change_flags(context, request.MsgID, (), request.Flags))

    async def _message_move(self, request: MessageMoveRequest, context: CallContext) -> EmptyResult:
        if request.MsgID == 0:
            raise WebAPIError("user", "message id must be non-zero")
        try:
            await self._store.move_account_message(
                context.account, request.MsgID, request.DestMailboxName
            )
        except MailboxMessageNotFound:
            raise _message_not_found() from None
        except MailboxMessageRemoved:
            raise WebAPIError("user", "getting message: message was removed") from None
        except MailboxNotFound:
            raise WebAPIError("user", "looking up mailbox name: not found") from None
        except AlreadyInMailbox:
            raise WebAPIError("user", "message already in destination mailbox") from None
        return EmptyResult()

    def MessageMove(
        self, request: MessageMoveRequest, context: CallContext
    ) -> Deferred[EmptyResult]:
        """Move the message to another of the account's mailboxes, by name."""
        return ensureDeferred(self._message_move(request, context))


def _request_hash(context: CallContext) -> str:
    """What makes two Sends "the same request": the login, the JSON text and the uploads.

    The login counts because it is the default From: the same JSON sent as
    ``you@`` and as ``you+sales@`` makes different messages.
    """
    login = context.login.encode("utf-8")
    digest = hashlib.sha256(len(login).to_bytes(4, "big") + login)
    digest.update(context.request_text.encode("utf-8"))
    for upload in context.uploads:
        for part in (upload.field, upload.filename, upload.content_type, upload.content_id):
            digest.update(b"\0" + part.encode("utf-8"))
        digest.update(b"\0" + hashlib.sha256(upload.data).digest())
    return digest.hexdigest()


def _stored_result(response: bytes) -> SendResult:
    data = json.loads(response)
    return SendResult(
        MessageID=data["MessageID"],
        Submissions=tuple(Submission(**s) for s in data["Submissions"]),
    )


__all__ = [
    "FUTURE_RELEASE_MAX",
    "IDEMPOTENCY_PERIOD",
    "CallContext",
    "RawResult",
    "Upload",
    "WebAPIMethods",
]
