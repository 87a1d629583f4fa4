"""The OpenAPI 3.1 document of the webapi v0, built from the method records (issue 4)."""

from __future__ import annotations

import dataclasses
import functools
import json
import types
import typing
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from mailtwist import __version__
from mailtwist.webapi._errors import CODES
from mailtwist.webapi._records import METHODS
from mailtwist.webapi.pages import EXAMPLE_REQUESTS, EXAMPLE_RESULTS

_DESCRIPTIONS = {
    "MessageDelete": "Remove a message from the account permanently (not to Trash).",
    "MessageFlagsAdd": "Set system flags and keywords on a message.",
    "MessageFlagsRemove": "Clear system flags and keywords of a message.",
    "MessageGet": "A message's fields, MIME structure and delivery facts.",
    "MessageMove": "Move a message to another mailbox of the account.",
    "MessagePartGet": "The transfer-decoded body of one MIME part (PartPath indexes Parts).",
    "MessageRawGet": "The message as stored, as bytes.",
    "Send": (
        "Compose a message and queue it, one queue message per recipient. With an"
        " Idempotency-Key header the same request within 24 hours answers the first"
        " response and queues nothing."
    ),
    "SuppressionAdd": "Add an address (by base address) to the suppression list.",
    "SuppressionList": "The account's suppression list.",
    "SuppressionPresent": "Whether an address's base address is on the suppression list.",
    "SuppressionRemove": "Remove an address (by base address) from the suppression list.",
}


def _schema(tp: Any, components: dict[str, Any]) -> dict[str, Any]:
    origin = typing.get_origin(tp)
    if origin in (types.UnionType, typing.Union):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        schema = _schema(inner[0], components)
        if "$ref" in schema:
            return {"anyOf": [schema, {"type": "null"}]}
        return {**schema, "type": [schema["type"], "null"]}
    if origin is tuple or origin is list:
        args = typing.get_args(tp)
        item = _schema(args[0], components)
        if typing.get_origin(args[0]) is tuple:
            # Headers: [name, value] pairs (spec §2.2).
            item = {**item, "minItems": 2, "maxItems": 2}
        return {"type": "array", "items": item}
    if origin is dict or origin is Mapping:
        return {"type": "object", "additionalProperties": {"type": "string"}}
    if tp is str:
        return {"type": "string"}
    if tp is bool:
        return {"type": "boolean"}
    if tp is int:
        return {"type": "integer", "format": "int64"}
    if tp is datetime:
        return {"type": "string", "format": "date-time"}
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        name = tp.__name__
        if name not in components:
            components[name] = {}  # placeholder for recursive types (Structure)
            hints = typing.get_type_hints(tp)
            fields = dataclasses.fields(tp)
            components[name] = {
                "type": "object",
                "properties": {f.name: _schema(hints[f.name], components) for f in fields},
                "additionalProperties": False,
            }
            required = [
                f.name
                for f in fields
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
            ]
            if required:
                components[name]["required"] = required
        return {"$ref": f"#/components/schemas/{name}"}
    raise TypeError(f"no schema for {tp!r}")  # pragma: no cover - records only


def _text(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _operation(name: str, components: dict[str, Any]) -> dict[str, Any]:
    request_type, result_type = METHODS[name]
    request_schema = _schema(request_type, components)
    if result_type is bytes:
        content_type = "text/plain" if name == "MessageRawGet" else "application/octet-stream"
        success: dict[str, Any] = {
            "description": "The data.",
            "content": {content_type: {"schema": {"type": "string"}}},
        }
    else:
        success = {
            "description": "The result.",
            "content": {
                "application/json": {
                    "schema": _schema(result_type, components),
                    "example": EXAMPLE_RESULTS[name],
                }
            },
        }
        if EXAMPLE_RESULTS[name] is None:
            del success["content"]["application/json"]["example"]
    form = {
        "type": "object",
        "properties": {
            "request": {
                "type": "string",
                "contentMediaType": "application/json",
                "contentSchema": request_schema,
            }
        },
        "required": ["request"],
    }
    operation: dict[str, Any] = {
        "operationId": name,
        "summary": _DESCRIPTIONS[name],
        "security": [{"basic": []}],
        "requestBody": {
            "required": True,
            "description": (
                "Form field `request` with the JSON request (as mox), or, as a mailtwist"
                " extension, the JSON request as an application/json body."
            ),
            "content": {
                "application/x-www-form-urlencoded": {"schema": form},
                "multipart/form-data": {"schema": form},
                "application/json": {
                    "schema": request_schema,
                    "example": EXAMPLE_REQUESTS[name],
                },
            },
        },
        "responses": {
            "200": success,
            "400": {
                "description": "The call was refused; Code says why.",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
            },
            "401": _text("No or wrong HTTP basic credentials."),
            "413": _text("The request body is larger than the maximum message size."),
            "429": _text("Too many failed logins from the client's network."),
        },
    }
    if name == "Send":
        operation["parameters"] = [
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Same key and same request within 24 h: the first response.",
                "schema": {"type": "string"},
            }
        ]
    return operation


@functools.cache
def document(base_path: str = "/webapi/") -> dict[str, Any]:
    """The OpenAPI 3.1 document; paths are relative to the webapi's base path."""
    components: dict[str, Any] = {
        "Error": {
            "type": "object",
            "properties": {
                "Code": {"type": "string", "enum": list(CODES)},
                "Message": {"type": "string"},
            },
            "required": ["Code", "Message"],
            "additionalProperties": False,
        }
    }
    paths = {f"/v0/{name}": {"post": _operation(name, components)} for name in METHODS}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mailtwist webapi",
            "version": f"v0 (mailtwist {__version__})",
            "description": (
                "The webapi v0, wire-compatible with mox's. Times are RFC 3339 with"
                " their zone; request keys match case-insensitively; unknown keys are"
                " refused."
            ),
        },
        "servers": [{"url": base_path.rstrip("/")}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"basic": {"type": "http", "scheme": "basic"}},
        },
    }


@functools.cache
def document_bytes(base_path: str = "/webapi/") -> bytes:
    """The document as JSON text."""
    return json.dumps(document(base_path), indent=1).encode() + b"\n"


__all__ = ["document", "document_bytes"]
