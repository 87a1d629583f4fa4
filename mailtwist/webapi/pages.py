"""The webapi's HTML pages: the index of methods and a try-it page per method (spec §1.6)."""

from __future__ import annotations

import json
from html import escape
from typing import Any

from mailtwist.webapi._records import METHODS

_STYLE = """
body, html { padding: 1em; font-size: 16px; }
* { font-size: inherit; font-family: ubuntu, lato, sans-serif; margin: 0; padding: 0;
    box-sizing: border-box; }
h1, h2 { margin-bottom: 1ex; }
h1 { font-size: 1.2rem; }
h2 { font-size: 1.1rem; }
ul { padding-left: 1rem; }
p { margin-bottom: 1em; max-width: 50em; }
textarea { font-family: monospace; width: 100%; }
"""

#: Example requests shown on the try-it pages and in the OpenAPI document.
EXAMPLE_REQUESTS: dict[str, dict[str, Any]] = {
    "MessageDelete": {"MsgID": 1},
    "MessageFlagsAdd": {"MsgID": 1, "Flags": ["\\seen", "custom"]},
    "MessageFlagsRemove": {"MsgID": 1, "Flags": ["\\seen", "custom"]},
    "MessageGet": {"MsgID": 1},
    "MessageMove": {"MsgID": 1, "DestMailboxName": "Archive"},
    "MessagePartGet": {"MsgID": 1, "PartPath": [0]},
    "MessageRawGet": {"MsgID": 1},
    "Send": {
        "From": [{"Name": "", "Address": "you@example.com"}],
        "To": [{"Name": "Recipient", "Address": "recipient@example.org"}],
        "Subject": "hello",
        "Text": "hi there\n",
    },
    "SuppressionAdd": {"EmailAddress": "unsubscribed@example.org", "Manual": True, "Reason": ""},
    "SuppressionList": {},
    "SuppressionPresent": {"EmailAddress": "unsubscribed@example.org"},
    "SuppressionRemove": {"EmailAddress": "unsubscribed@example.org"},
}

#: Example results; None for the methods answering raw bytes.
EXAMPLE_RESULTS: dict[str, dict[str, Any] | None] = {
    "MessageDelete": {},
    "MessageFlagsAdd": {},
    "MessageFlagsRemove": {},
    "MessageGet": None,  # long; see the OpenAPI document for its schema
    "MessageMove": {},
    "MessagePartGet": None,
    "MessageRawGet": None,
    "Send": {
        "MessageID": "<UVsKu3Ovq1iEz_b0d4GzzQ@example.com>",
        "Submissions": [{"Address": "recipient@example.org", "QueueMsgID": 1, "FromID": ""}],
    },
    "SuppressionAdd": {},
    "SuppressionList": {"Suppressions": []},
    "SuppressionPresent": {"Present": True},
    "SuppressionRemove": {},
}


def _page(title: str, body: str) -> bytes:
    return (
        '<!doctype html>\n<html>\n<head>\n<meta charset="utf-8" />\n'
        '<meta name="robots" content="noindex,nofollow" />\n'
        f"<title>{escape(title)}</title>\n<style>{_STYLE}</style>\n</head>\n"
        f"<body>\n{body}\n</body>\n</html>\n"
    ).encode()


def index_page() -> bytes:
    """The introduction with one relative link per method, in mox's order."""
    items = "\n".join(f'<li><a href="{escape(name)}">{escape(name)}</a></li>' for name in METHODS)
    return _page(
        "Webapi - mailtwist",
        "<h1>Webapi and webhooks</h1>\n"
        "<p>The webapi is a simple HTTP/JSON API for sending messages and processing"
        " incoming messages, wire-compatible with mox's webapi v0.</p>\n"
        '<p>The methods are described in the <a href="openapi.json">OpenAPI document</a>.</p>\n'
        "<h2>Methods</h2>\n<p>Follow a link for an example request/response JSON,"
        " and a button to make an API call.</p>\n"
        f"<ul>\n{items}\n</ul>",
    )


def method_page(name: str) -> bytes:
    """A form to call ``name``: example request, and example response or a note."""
    request = json.dumps(EXAMPLE_REQUESTS[name], indent="\t", ensure_ascii=False)
    result = EXAMPLE_RESULTS[name]
    if result is None and METHODS[name][1] is bytes:
        response = "<p>This method has a non-JSON response.</p>"
    elif result is None:
        response = "<p>See the OpenAPI document for the response.</p>"
    else:
        example = json.dumps(result, indent="\t", ensure_ascii=False)
        response = (
            f'<h2>Example response</h2>\n<textarea rows="12" readonly>{escape(example)}</textarea>'
        )
    script = """
<script>
const form = document.getElementById('call');
form.addEventListener('submit', async (e) => {
	e.preventDefault();
	const out = document.getElementById('result');
	out.value = 'calling...';
	try {
		const resp = await fetch(location.pathname, {method: 'POST', body: new FormData(form)});
		out.value = resp.status + '\\n' + await resp.text();
	} catch (err) {
		out.value = 'error: ' + err.message;
	}
});
</script>"""
    return _page(
        f"Method {name} - WebAPI - mailtwist",
        f"<h1>Method {escape(name)}</h1>\n"
        '<form id="call">\n<h2>Request</h2>\n'
        f'<textarea name="request" rows="12">{escape(request)}</textarea>\n'
        '<div><button type="reset">Reset</button> <button type="submit">Call</button></div>\n'
        "</form>\n"
        '<h2>Result</h2>\n<textarea id="result" rows="8" readonly></textarea>\n'
        f"{response}{script}",
    )


__all__ = ["EXAMPLE_REQUESTS", "EXAMPLE_RESULTS", "index_page", "method_page"]
