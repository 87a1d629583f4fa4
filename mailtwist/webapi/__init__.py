"""The webapi v0 (mox wire-compatible) on Klein: what the http listener mounts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.web.resource import IResource

from mailtwist.config.model import Config
from mailtwist.dkim.sign import MessageSigner
from mailtwist.queue.scheduler import Submit
from mailtwist.webapi._app import (
    Credentials,
    LoginLimiter,
    WebAPI,
    WebAPIRequest,
    webapi_request_factory,
    webapi_resource,
)
from mailtwist.webapi._errors import CODES, WebAPIError
from mailtwist.webapi._methods import CallContext, RawResult, Upload, WebAPIMethods
from mailtwist.webapi._records import METHODS


def make_webapi_resource(
    *,
    config: Config,
    authenticator: Credentials,
    limiter: LoginLimiter,
    store: Any,
    submit: Submit,
    signer: MessageSigner | None,
    clock: IReactorTime,
    run_in_thread: Callable[..., Deferred[Any]] | None = None,
) -> IResource:
    """The webapi resource, to mount at ``config.webapi_path`` (e.g. ``putChild(b"webapi", r)``).

    Serve it with ``Site(root, requestFactory=webapi_request_factory(
    config.max_message_size), parsePOSTFormSubmission=False)``: large bodies are
    then dropped as they arrive and bad multipart forms get a JSON answer.

    ``store`` provides IStore and IMessageStore (SQLiteStore does); ``submit`` is
    the queue scheduler's; ``signer`` a DKIMSigner (None: unsigned);
    ``run_in_thread`` runs DKIM signing and the parsing and composing of large
    requests and messages (default: inline, on the reactor).
    """
    methods = WebAPIMethods(
        config=config,
        store=store,
        submit=submit,
        signer=signer,
        clock=clock,
        run_in_thread=run_in_thread,
    )
    webapi = WebAPI(
        authenticator=authenticator,
        limiter=limiter,
        methods=methods,
        max_message_size=config.max_message_size,
        run_in_thread=run_in_thread,
    )
    return webapi_resource(webapi)


__all__ = [
    "CODES",
    "METHODS",
    "CallContext",
    "RawResult",
    "Upload",
    "WebAPI",
    "WebAPIError",
    "WebAPIMethods",
    "WebAPIRequest",
    "make_webapi_resource",
    "webapi_request_factory",
    "webapi_resource",
]
