"""The OpenAPI 3.1 description of every route, served at ``GET /openapi.json`` without a token.

One document describes the API as the front door (or the ``api`` function) serves it, and
every function serves that same document; each operation's ``x-vertexchat-functions`` names
the deployed functions that answer it. Paths and methods come from ``handlers.ROUTES``: a
route without a description here makes :func:`document` raise, so the two cannot drift
apart (``tests/test_openapi.py`` checks it, and fuzzes the API against this document).

Every error status an operation can answer is listed with the OpenAI error body; a 5xx
is documented because clients must handle it, not because it is expected.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import flask

from vertexchat import __version__, session_records, web
from vertexchat.cors import ALLOWED_METHODS, EXPOSED_HEADERS, MAX_AGE_SECONDS
from vertexchat.handlers import FUNCTIONS, ROUTES, Route, Services
from vertexchat.openai_schema import (
    MAX_CONTENT_PARTS,
    MAX_MESSAGES,
    MAX_METADATA_KEY_CHARS,
    MAX_METADATA_KEYS,
    MAX_METADATA_VALUE_CHARS,
    MAX_MODEL_CHARS,
    MAX_STOP_SEQUENCES,
    MAX_TOOLS,
    REASONING_EFFORTS,
    ROLES,
)

JSON = dict[str, Any]


def serve(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """``GET /openapi.json``: this document; public, so tools and browsers can read it."""
    return web.json_response(document(), call, headers={"Cache-Control": "public, max-age=300"})


@functools.cache
def document() -> JSON:
    """The whole OpenAPI document (built once per instance)."""
    paths: dict[str, JSON] = {}
    for route in ROUTES:
        template, parameters = path_template(route.pattern)
        item = paths.setdefault(template, {})
        if parameters:
            item["parameters"] = [_path_parameter(name) for name in parameters]
        for method in route.methods:
            item[method.lower()] = _operation(route, method)
        item["options"] = _preflight(route)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "vertexchat",
            "version": __version__,
            "summary": "OpenAI Chat Completions on Claude through Vertex AI, with sessions.",
            "description": _DESCRIPTION,
        },
        "servers": [{"url": "/", "description": "The front door, the `api` function, or one function's own URL "
                                                "(which answers the operations naming it in x-vertexchat-functions)."}],
        "security": [{"bearer": []}],
        "tags": [{"name": name, "description": text} for name, text in _TAGS.items()],
        "paths": paths,
        "components": {
            "securitySchemes": {"bearer": _BEARER},
            "schemas": _SCHEMAS,
            "responses": _ERROR_RESPONSES,
            "headers": _HEADERS,
        },
    }


def path_template(pattern: str) -> tuple[str, list[str]]:
    """The OpenAPI path of a route's full-match regex, and its parameter names in order.

    ``/v1/sessions/(?P<session_id>[^/]+)`` -> ``/v1/sessions/{session_id}``.
    """
    names = re.findall(r"\(\?P<(\w+)>[^()]*\)", pattern)
    path = re.sub(r"\(\?P<(\w+)>[^()]*\)", r"{\1}", pattern)
    return re.sub(r"\\(.)", r"\1", path), names


def _operation(route: Route, method: str) -> JSON:
    spec = _OPERATIONS[(route.name, method)]
    statuses = (*spec.get("errors", ()), 500) if route.public else (*spec.get("errors", ()), 401, 500, 503)
    responses = {**spec["responses"], **{str(s): _error_ref(s) for s in sorted(statuses)
                                         if str(s) not in spec["responses"]}}
    operation: JSON = {
        "operationId": spec["id"],
        "tags": [spec["tag"]],
        "summary": spec["summary"],
        "x-vertexchat-route": route.name,
        "x-vertexchat-functions": sorted(route.functions, key=FUNCTIONS.index),
        "parameters": [*spec.get("parameters", ()), *_COMMON_REQUEST_HEADERS],
        "responses": responses,
    }
    if "description" in spec:
        operation["description"] = spec["description"]
    if "body" in spec:
        operation["requestBody"] = spec["body"]
    if route.public:
        operation["security"] = []
    return operation


def _preflight(route: Route) -> JSON:
    return {
        "operationId": f"preflight_{route.name.replace('.', '_')}",
        "tags": ["cors"],
        "summary": "CORS preflight (no token needed)",
        "description": "Answered before authentication. An allowed `Origin` gets the `Access-Control-Allow-*` "
                       "headers; any other origin gets none, and the browser blocks the call.",
        "x-vertexchat-route": route.name,
        "x-vertexchat-functions": sorted(route.functions, key=FUNCTIONS.index),
        "security": [],
        "parameters": [
            _header("Origin", "The calling page's origin."),
            _header("Access-Control-Request-Method", "The method the browser is about to use."),
            _header("Access-Control-Request-Headers", "The headers the browser is about to send."),
        ],
        "responses": {
            "204": {"description": "Preflight answer.", "headers": {
                "X-Request-Id": _ref_header("X-Request-Id"),
                "Allow": {"description": "The route's methods.", "schema": {"type": "string"}},
                "Access-Control-Allow-Origin": _ref_header("Access-Control-Allow-Origin"),
                "Access-Control-Allow-Methods": {"description": f"`{ALLOWED_METHODS}`.",
                                                 "schema": {"type": "string"}},
                "Access-Control-Allow-Headers": {"description": "The request headers browsers may send.",
                                                 "schema": {"type": "string"}},
                "Access-Control-Max-Age": {"description": f"`{MAX_AGE_SECONDS}` seconds.",
                                           "schema": {"type": "string"}},
            }},
            "500": _error_ref(500),
        },
    }


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _ref_header(name: str) -> JSON:
    return {"$ref": f"#/components/headers/{name}"}


def _error_ref(status: int) -> JSON:
    return {"$ref": f"#/components/responses/E{status}"}


def _nullable(schema: JSON) -> JSON:
    return {"anyOf": [schema, {"type": "null"}]}


def _header(name: str, description: str, schema: JSON | None = None) -> JSON:
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def _query(name: str, description: str, schema: JSON) -> JSON:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def _path_parameter(name: str) -> JSON:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
            "description": _PATH_PARAMETERS[name]}


def _json(schema: JSON, description: str, headers: tuple[str, ...] = ()) -> JSON:
    """A JSON response; every response carries X-Request-Id and, for allowed origins, CORS headers."""
    return {"description": description, "headers": _response_headers(*headers),
            "content": {"application/json": {"schema": schema}}}


def _response_headers(*extra: str) -> JSON:
    names = ("X-Request-Id", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers", *extra)
    return {name: _ref_header(name) for name in names}


_DESCRIPTION = """\
An OpenAI-compatible Chat Completions API served by Claude on Vertex AI, with conversations
(sessions) kept in Firestore.

**Authentication.** Every operation except `/health`, `/v1`, `/openapi.json` and CORS
preflights needs `Authorization: Bearer <ID token>` (Firebase Authentication or any OIDC
provider, as configured). A missing or invalid token answers 401 with
`WWW-Authenticate: Bearer error="invalid_token"`; when the identity provider's keys cannot be
fetched the answer is 503, never 401. The token's subject owns the sessions it creates, and
nobody else can see, change or delete them.

**Errors.** Every error is `{"error": {"message", "type", "param", "code"}}`; `param` names
the offending field. In a stream, an error after the first byte arrives as
`data: {"error": {...}}` followed by `data: [DONE]`.

**CORS.** Origins listed in `CORS_ALLOWED_ORIGINS` get `Access-Control-Allow-Origin` on
every response (errors and streams included), with `Access-Control-Expose-Headers`.

**Limits.** Request bodies over `MAX_REQUEST_BYTES` answer 413 before parsing; bodies that
are not JSON answer 415. JSON may nest at most 64 levels, numbers must be finite, integers
fit in 64 bits, and an object may not repeat a key (400 each).

Every function also answers its own root path `/` as its primary route (see `x-vertexchat-functions`).
"""

_TAGS = {
    "chat": "OpenAI Chat Completions.",
    "models": "The Claude models this deployment offers.",
    "sessions": "Conversations, visible to their owner only.",
    "compat": "The earlier frontend's session routes, in its shapes.",
    "service": "Health, the route index and this document.",
    "cors": "Browser preflights.",
}

_BEARER = {
    "type": "http",
    "scheme": "bearer",
    "bearerFormat": "JWT",
    "description": "A Firebase Authentication ID token or an ID token of the configured OIDC issuer "
                   "(RS/PS/ES/EdDSA signatures only). Its `sub` is the caller's identity.",
}

_PATH_PARAMETERS = {
    "model_id": "A model id from `GET /v1/models` (an undated name or configured alias works too).",
    "session_id": "A session UUID (the `/atoms` routes also take the earlier frontend's ids).",
}

_COMMON_REQUEST_HEADERS = (
    _header("X-Request-Id", "Your id for the request (8-128 of `A-Za-z0-9._:-`), echoed back and logged; "
                            "otherwise one is made."),
)

_HEADERS: JSON = {
    "X-Request-Id": {"description": "The request's id (also in the log line).", "required": True,
                     "schema": {"type": "string"}},
    "Access-Control-Allow-Origin": {"description": "The calling origin, when it is allowed.",
                                    "schema": {"type": "string"}},
    "Access-Control-Expose-Headers": {"description": f"`{EXPOSED_HEADERS}`, for allowed origins.",
                                      "schema": {"type": "string"}},
    "Retry-After": {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}},
    "WWW-Authenticate": {"description": "`Bearer error=\"invalid_token\", error_description=\"...\"`.",
                         "schema": {"type": "string"}},
    "X-Catalog-Source": {"description": "Where the model list came from: `live`, `cached`, `stale` or `builtin`.",
                         "schema": {"type": "string", "enum": ["live", "cached", "stale", "builtin"]}},
    "X-Session-Id": {"description": "The session the completion was recorded in.", "schema": {"type": "string"}},
    "X-Session-Saved": {"description": "`false` when the reply could not be stored (the client still gets it).",
                        "schema": {"type": "string"}},
    "Idempotent-Replayed": {"description": "`true` when this is the stored result of an earlier request "
                                           "with the same Idempotency-Key.", "schema": {"type": "string"}},
}

_ERROR_STATUSES: dict[int, tuple[str, tuple[str, ...]]] = {
    400: ("Invalid request: malformed JSON, a wrong type or value (`param` names the field), or an id "
          "that is not valid here.", ()),
    401: ("Missing or invalid bearer token.", ("WWW-Authenticate",)),
    404: ("Not found: an unknown model (`model_not_found`) or a session that is missing or not the caller's "
          "(`not_found`).", ()),
    409: ("Conflict: a request with the same Idempotency-Key is still running.", ("Retry-After",)),
    413: ("The body is larger than the limit (`request_too_large`).", ()),
    422: ("The Idempotency-Key was used with a different request body.", ()),
    415: ("The body is not `application/json` (`unsupported_media_type`).", ()),
    429: ("Vertex AI quota exhausted (`rate_limit_exceeded`).", ("Retry-After",)),
    500: ("A bug of ours; the message names the request id to find the log line.", ()),
    502: ("Vertex AI failed (`upstream_error`).", ()),
    503: ("Temporarily unavailable: Claude overloaded, session storage busy or unreachable, our credentials "
          "refused, or the identity provider's keys unreachable.", ("Retry-After",)),
    504: ("Vertex AI did not answer in time (`upstream_timeout`).", ()),
}

_ERROR_RESPONSES: JSON = {f"E{status}": _json(_ref("Error"), text, headers)
                          for status, (text, headers) in _ERROR_STATUSES.items()}

_STRING = {"type": "string"}
_INT = {"type": "integer"}
_NULL_STRING = {"type": ["string", "null"]}
_NULL_INT = {"type": ["integer", "null"]}
_ISO = {"type": "string", "format": "date-time"}
_COMPAT_SESSION: JSON = {
    "id": {"type": "string", "format": "uuid"}, "user_id": _STRING, "organization_id": _NULL_STRING,
    "title": _NULL_STRING, "model": _NULL_STRING, "agent_type": _NULL_STRING, "created_at": _ISO,
    "updated_at": _ISO, "last_message_at": {"anyOf": [_ISO, {"type": "null"}]}, "message_count": _INT,
    "tokens_in": _INT, "tokens_out": _INT, "tokens_total": _INT,
    "metadata": {"type": "object", "additionalProperties": _STRING}, "archived": {"type": "boolean"},
    "legacy_id": _NULL_STRING,
}
_COMPAT_MESSAGE: JSON = {
    "id": {"type": "string", "format": "uuid"}, "message_index": _INT, "role": _STRING, "content": _STRING,
    "metadata": {"type": "object"}, "tokens": _NULL_INT, "created_at": _ISO, "updated_at": {"type": "null"},
}
_NULL_BOOL = {"type": ["boolean", "null"]}

_CHAT_METADATA = {
    "type": ["object", "null"], "maxProperties": MAX_METADATA_KEYS,
    "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY_CHARS},
    "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_VALUE_CHARS},
}

_TEXT_PART = {"type": "object", "required": ["type", "text"],
              "properties": {"type": {"const": "text"}, "text": _STRING}}
_IMAGE_PART = {
    "type": "object", "required": ["type", "image_url"],
    "properties": {
        "type": {"const": "image_url"},
        "image_url": {"anyOf": [
            {"type": "string", "minLength": 1},
            {"type": "object", "required": ["url"], "properties": {
                "url": {"type": "string", "minLength": 1,
                        "description": "A `data:` URL (jpeg, png, gif, webp) or a public http(s) URL, which is "
                                       "fetched (private, loopback and link-local addresses are refused)."},
                "detail": _NULL_STRING}},
        ]},
    },
}
_REFUSAL_PART = {"type": "object", "required": ["type", "refusal"],
                 "properties": {"type": {"const": "refusal"}, "refusal": _STRING}}


def _content(*parts: JSON, required: bool = True) -> JSON:
    array = {"type": "array", "maxItems": MAX_CONTENT_PARTS, "items": {"anyOf": list(parts)}}
    return {"anyOf": [_STRING, array] if required else [_STRING, array, {"type": "null"}]}


def _message(role: str, content: JSON, **extra: JSON) -> JSON:
    return {"type": "object", "required": ["role", *([] if role == "assistant" else ["content"])],
            "properties": {"role": {"const": role}, "content": content, "name": _STRING, **extra}}


_TOOL_CALL = {
    "type": "object", "required": ["id", "function"],
    "properties": {
        "id": _STRING, "type": {"const": "function"},
        "function": {"type": "object", "required": ["name"],
                     "properties": {"name": {"type": "string", "minLength": 1}, "arguments": _NULL_STRING}},
    },
}

_THINKING_BLOCK = {"anyOf": [
    {"type": "object", "required": ["type", "thinking", "signature"],
     "properties": {"type": {"const": "thinking"}, "thinking": _STRING,
                    "signature": {"type": "string", "minLength": 1}}},
    {"type": "object", "required": ["type", "data"],
     "properties": {"type": {"const": "redacted_thinking"}, "data": {"type": "string", "minLength": 1}}},
]}

_TOOL = {
    "type": "object", "required": ["function"],
    "properties": {
        "type": {"const": "function"},
        "function": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
            "description": _NULL_STRING,
            "parameters": {"type": ["object", "null"], "description": "A JSON schema of type `object`."},
            "strict": _NULL_BOOL}},
    },
}

_USAGE = {
    "type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
    "properties": {
        "prompt_tokens": _INT, "completion_tokens": _INT, "total_tokens": _INT,
        "prompt_tokens_details": {"type": "object", "properties": {"cached_tokens": _INT}},
    },
}

_FINISH_REASON = {"enum": ["stop", "length", "tool_calls", "content_filter", None]}

_SESSION_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
_SESSION_USAGE = {"type": "object", "required": list(_SESSION_USAGE_FIELDS),
                  "properties": dict.fromkeys(_SESSION_USAGE_FIELDS, _INT)}

_SESSION_METADATA = {
    "type": "object", "maxProperties": session_records.MAX_METADATA_KEYS,
    "propertyNames": {"minLength": 1, "maxLength": 64}, "additionalProperties": {"type": "string", "maxLength": 512},
}
_TITLE = {"type": ["string", "null"], "maxLength": session_records.MAX_TITLE_CHARS}


def _list_of(item: str) -> JSON:
    return {"type": "object", "required": ["object", "data", "has_more", "next_cursor"],
            "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref(item)},
                           "has_more": {"type": "boolean"}, "next_cursor": _NULL_STRING}}


_SCHEMAS: JSON = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["message", "type", "param", "code"],
            "properties": {"message": _STRING, "type": _STRING, "param": _NULL_STRING, "code": _NULL_STRING}}},
    },
    "ChatCompletionRequest": {
        "type": "object", "required": ["model", "messages"],
        "description": "OpenAI's request. Fields not listed here are accepted and ignored, as OpenAI clients "
                       "send many; `null` counts as absent.",
        "properties": {
            "model": {"type": "string", "minLength": 1, "maxLength": MAX_MODEL_CHARS},
            "messages": {"type": "array", "minItems": 1, "maxItems": MAX_MESSAGES, "items": _ref("ChatMessage")},
            "stream": _NULL_BOOL,
            "stream_options": {"type": ["object", "null"], "properties": {"include_usage": _NULL_BOOL}},
            "max_completion_tokens": {"type": ["integer", "null"], "minimum": 1},
            "max_tokens": {"type": ["integer", "null"], "minimum": 1, "deprecated": True},
            "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2,
                            "description": "Values above 1 are clamped to Claude's maximum of 1."},
            "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "stop": {"anyOf": [_STRING, {"type": "array", "maxItems": MAX_STOP_SEQUENCES, "items": _STRING},
                               {"type": "null"}]},
            "tools": {"type": ["array", "null"], "maxItems": MAX_TOOLS, "items": _TOOL},
            "tool_choice": {"anyOf": [
                {"enum": ["auto", "none", "required", None]},
                {"type": "object", "required": ["type", "function"], "properties": {
                    "type": {"const": "function"},
                    "function": {"type": "object", "required": ["name"],
                                 "properties": {"name": {"type": "string", "minLength": 1}}}}},
            ]},
            "parallel_tool_calls": _NULL_BOOL,
            "response_format": {"anyOf": [{"type": "null"}, {
                "type": "object", "required": ["type"], "properties": {
                    "type": {"enum": ["text", "json_object", "json_schema"]},
                    "json_schema": {"type": "object", "properties": {
                        "name": _NULL_STRING, "description": _NULL_STRING, "strict": _NULL_BOOL,
                        "schema": {"type": ["object", "null"]}}}}}]},
            "reasoning_effort": {"enum": [*REASONING_EFFORTS, None]},
            "thinking": {"anyOf": [{"type": "null"}, {
                "type": "object", "required": ["type"], "properties": {
                    "type": {"enum": ["enabled", "disabled"]}, "budget_tokens": _INT}}]},
            "user": {"type": ["string", "null"]},
            "metadata": _CHAT_METADATA,
            "session_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 128,
                           "description": "Record the exchange in this session: a UUID (a new one creates the "
                                          "session) or an earlier frontend's id; someone else's is a 404. Also "
                                          "accepted as `metadata.session_id` or the `X-Session-Id` header."},
            "session_history": {"enum": ["client", "server"],
                                "description": "`client` (default): `messages` is the whole conversation. "
                                               "`server`: only the new turn; the stored one is prepended."},
            "n": {"enum": [1, None], "description": "Only 1: Claude returns one choice."},
            "logprobs": {"enum": [False, None], "description": "Not supported."},
        },
    },
    "ChatMessage": {"anyOf": [
        _message("system", _content(_TEXT_PART)),
        _message("developer", _content(_TEXT_PART)),
        _message("user", _content(_TEXT_PART, _IMAGE_PART)),
        _message("assistant", _content(_TEXT_PART, _REFUSAL_PART, required=False),
                 tool_calls={"type": ["array", "null"], "items": _TOOL_CALL},
                 thinking_blocks={"type": ["array", "null"], "items": _THINKING_BLOCK,
                                  "description": "Send back unchanged what a reply carried."}),
        {**_message("tool", _content(_TEXT_PART), tool_call_id=_STRING),
         "required": ["role", "content", "tool_call_id"]},
    ], "description": f"Roles: {', '.join(ROLES)}."},
    "AssistantMessage": {
        "type": "object", "required": ["role", "content"],
        "properties": {
            "role": {"const": "assistant"}, "content": _NULL_STRING,
            "tool_calls": {"type": "array", "items": _TOOL_CALL},
            "reasoning_content": {"type": "string", "description": "Claude's thinking text."},
            "thinking_blocks": {"type": "array", "items": _THINKING_BLOCK},
        },
    },
    "ChatCompletion": {
        "type": "object", "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {
            "id": _STRING, "object": {"const": "chat.completion"}, "created": _INT, "model": _STRING,
            "system_fingerprint": _NULL_STRING, "session_id": {"type": "string", "description": "With a session."},
            "choices": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                "type": "object", "required": ["index", "message", "finish_reason"],
                "properties": {"index": _INT, "message": _ref("AssistantMessage"), "logprobs": {"type": "null"},
                               "finish_reason": _FINISH_REASON}}},
            "usage": _USAGE,
        },
    },
    "ChatCompletionChunk": {
        "type": "object", "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": _STRING, "object": {"const": "chat.completion.chunk"}, "created": _INT, "model": _STRING,
            "system_fingerprint": _NULL_STRING,
            "choices": {"type": "array", "maxItems": 1, "items": {
                "type": "object", "required": ["index", "delta", "finish_reason"],
                "properties": {"index": _INT, "delta": {"type": "object"}, "logprobs": {"type": "null"},
                               "finish_reason": _FINISH_REASON}}},
            "usage": _nullable(_USAGE),
        },
    },
    "ChatCompletionEvent": {
        "type": "object", "required": ["data"],
        "description": "One server-sent event: a chunk, an in-band error, or the final `[DONE]`.",
        "properties": {"data": {"anyOf": [
            {"const": "[DONE]"},
            {"not": {"const": "[DONE]"}, "contentMediaType": "application/json",
             "contentSchema": {"anyOf": [_ref("ChatCompletionChunk"), _ref("Error")]}},
        ]}},
    },
    "Model": {
        "type": "object", "required": ["id", "object", "created", "owned_by"],
        "properties": {
            "id": _STRING, "object": {"const": "model"}, "created": _INT, "owned_by": _STRING,
            "context_window": _INT, "context_length": {**_INT, "description": "Same as `context_window` "
                                                                            "(OpenRouter's name)."},
            "max_output_tokens": _INT,
            "capabilities": {"type": "array", "items": _STRING,
                             "description": "`chat`, `streaming`, and those of `supports` that are true."},
            "supports": {"type": "object", "additionalProperties": {"type": "boolean"},
                         "description": "Flags: `vision`, `tools`, `thinking`, `json_schema`."},
        },
    },
    "ModelList": {"type": "object", "required": ["object", "data"],
                  "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref("Model")}}},
    "Session": {
        "type": "object",
        "required": ["id", "object", "created_at", "updated_at", "expires_at", "title", "model", "metadata",
                     "message_count", "usage", "legacy_id"],
        "properties": {
            "id": {"type": "string", "format": "uuid"}, "object": {"const": "chat.session"},
            "created_at": _INT, "updated_at": _INT, "expires_at": _NULL_INT, "title": _NULL_STRING,
            "model": _NULL_STRING, "metadata": {"type": "object", "additionalProperties": _STRING},
            "message_count": _INT, "usage": _SESSION_USAGE, "legacy_id": _NULL_STRING,
        },
    },
    "SessionCreate": {
        "type": "object", "additionalProperties": False,
        "description": "All optional; unknown fields are refused (400 naming the field).",
        "properties": {"title": _TITLE,
                       "model": {"type": ["string", "null"], "maxLength": session_records.MAX_MODEL_CHARS},
                       "metadata": {"anyOf": [_SESSION_METADATA, {"type": "null"}]}},
        "example": {"title": "Trip planning", "metadata": {"project": "alps"}},
    },
    "SessionUpdate": {
        "type": "object", "additionalProperties": False,
        "description": "Sets `title` and/or replaces `metadata`; unknown fields are refused.",
        "properties": {"title": _TITLE,
                       "metadata": {"anyOf": [_SESSION_METADATA, {"type": "null"}]}},
    },
    "SessionDeleted": {
        "type": "object", "required": ["id", "object", "deleted"],
        "properties": {"id": _STRING, "object": {"const": "chat.session.deleted"}, "deleted": {"const": True}},
    },
    "SessionList": _list_of("Session"),
    "SessionMessage": {
        "type": "object",
        "required": ["id", "object", "session_id", "seq", "parent_seq", "status", "finish_reason", "model",
                     "usage", "request_id", "created_at"],
        "description": "The stored OpenAI message (role, content, tool_calls...) in an envelope.",
        "properties": {
            "id": _STRING, "object": {"const": "chat.message"}, "session_id": _STRING, "seq": _INT,
            "parent_seq": _NULL_INT, "role": _STRING, "status": _STRING, "finish_reason": _NULL_STRING,
            "model": _NULL_STRING, "usage": _nullable(_SESSION_USAGE), "request_id": _NULL_STRING,
            "created_at": _INT,
        },
    },
    "SessionMessageList": _list_of("SessionMessage"),
    "CompatSessionSummary": {
        "type": "object", "description": "atomsAgent's session summary; timestamps are ISO-8601 UTC strings.",
        "required": list(_COMPAT_SESSION),
        "properties": _COMPAT_SESSION,
    },
    "CompatMessage": {
        "type": "object", "description": "atomsAgent's message: its text, and in `metadata` what text cannot hold.",
        "required": list(_COMPAT_MESSAGE),
        "properties": _COMPAT_MESSAGE,
    },
    "CompatSessionList": {
        "type": "object", "required": ["sessions", "total", "page", "page_size", "has_more"],
        "properties": {"sessions": {"type": "array", "items": _ref("CompatSessionSummary")}, "total": _INT,
                       "page": _INT, "page_size": _INT, "has_more": {"type": "boolean"}},
    },
    "CompatSession": {
        "type": "object", "required": ["session", "messages"],
        "properties": {"session": _ref("CompatSessionSummary"),
                       "messages": {"type": "array", "items": _ref("CompatMessage")}},
    },
    "Health": {
        "type": "object", "required": ["status", "version", "instance", "checks"],
        "properties": {
            "status": {"enum": ["ok", "degraded", "down"]}, "version": _STRING, "instance": _STRING,
            "checks": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["status", "latency_ms", "error"],
                "properties": {"status": {"enum": ["ok", "degraded", "down"]}, "latency_ms": {"type": "number"},
                               "error": _NULL_STRING}}},
        },
    },
    "ServiceIndex": {
        "type": "object", "required": ["object", "name", "version", "routes"],
        "properties": {
            "object": {"const": "service"}, "name": _STRING, "version": _STRING,
            "routes": {"type": "array", "items": {
                "type": "object", "required": ["path", "methods"],
                "properties": {"path": _STRING, "methods": {"type": "array", "items": _STRING}}}},
        },
    },
}

_LIMIT_SESSIONS = _query("limit", "Page size (1-100, default 20).", {"type": "integer", "minimum": 1, "maximum": 100})
_LIMIT_MESSAGES = _query("limit", "Page size (1-1000, default 100).",
                         {"type": "integer", "minimum": 1, "maximum": 1000})
_AFTER = _query("after", "The `next_cursor` of the previous page.", {"type": "string", "minLength": 1})
_SESSION_ERRORS = (400, 404)
_BODY_ERRORS = (400, 413, 415)
_HELLO = [{"role": "user", "content": "Hello"}]
_CHAT_BODY = {"required": True, "content": {"application/json": {
    "schema": _ref("ChatCompletionRequest"),
    "examples": {
        "simple": {"value": {"model": "claude-sonnet-4-5", "messages": _HELLO}},
        "streamed": {"value": {"model": "claude-sonnet-4-5", "messages": _HELLO, "stream": True,
                               "stream_options": {"include_usage": True}}},
    },
}}}

_OPERATIONS: dict[tuple[str, str], JSON] = {
    ("chat.completions", "POST"): {
        "id": "createChatCompletion", "tag": "chat", "summary": "Create a chat completion (streamed or not)",
        "description": "With `stream: true` the answer is `text/event-stream`: `data: <chunk>` events, SSE "
                       "comments while Claude is silent, an in-band `data: {\"error\": ...}` if it fails after "
                       "the first byte, and `data: [DONE]` last.",
        "parameters": [
            _header("X-Session-Id", "Record the exchange in this session (as `session_id`).",
                    {"type": "string", "minLength": 1, "maxLength": 128}),
            _header("Idempotency-Key", "Retries with the same key and body replay the first result (no second "
                                       "completion); the same key with another body is a 422, one still running "
                                       "a 409.", {"type": "string", "minLength": 1, "maxLength": 255,
                                                  "pattern": "^[ -~]+$"}),
        ],
        "body": _CHAT_BODY,
        "responses": {"200": {
            "description": "The completion, or its stream.",
            "headers": _response_headers("X-Session-Id", "X-Session-Saved", "Idempotent-Replayed"),
            "content": {"application/json": {"schema": _ref("ChatCompletion")},
                        "text/event-stream": {"schema": _ref("ChatCompletionEvent")}}}},
        "errors": (*_BODY_ERRORS, 404, 409, 422, 429, 502, 504),
    },
    ("models.list", "GET"): {
        "id": "listModels", "tag": "models", "summary": "List the models offered, newest first",
        "responses": {"200": _json(_ref("ModelList"), "The models.", ("X-Catalog-Source",))},
    },
    ("models.get", "GET"): {
        "id": "retrieveModel", "tag": "models", "summary": "One model",
        "responses": {"200": _json(_ref("Model"), "The model.", ("X-Catalog-Source",))},
        "errors": (404,),
    },
    ("sessions.collection", "GET"): {
        "id": "listSessions", "tag": "sessions", "summary": "The caller's sessions, most recently updated first",
        "parameters": [_LIMIT_SESSIONS, _AFTER],
        "responses": {"200": _json(_ref("SessionList"), "A page of sessions.")},
        "errors": (400,),
    },
    ("sessions.collection", "POST"): {
        "id": "createSession", "tag": "sessions", "summary": "Create a session",
        "body": {"required": False, "content": {"application/json": {"schema": _ref("SessionCreate")}}},
        "responses": {"201": _json(_ref("Session"), "The new session.")},
        "errors": _BODY_ERRORS,
    },
    ("sessions.item", "GET"): {
        "id": "retrieveSession", "tag": "sessions", "summary": "One of the caller's sessions",
        "responses": {"200": _json(_ref("Session"), "The session.")},
        "errors": _SESSION_ERRORS,
    },
    ("sessions.item", "PATCH"): {
        "id": "updateSession", "tag": "sessions", "summary": "Set the title and/or replace the metadata",
        "body": {"required": False, "content": {"application/json": {"schema": _ref("SessionUpdate")}}},
        "responses": {"200": _json(_ref("Session"), "The updated session.")},
        "errors": (*_SESSION_ERRORS, 413, 415),
    },
    ("sessions.item", "DELETE"): {
        "id": "deleteSession", "tag": "sessions", "summary": "Delete a session and its messages",
        "description": "A missing session, one already deleted and someone else's all answer the same 404.",
        "responses": {"200": _json(_ref("SessionDeleted"), "Deleted.")},
        "errors": _SESSION_ERRORS,
    },
    ("sessions.messages", "GET"): {
        "id": "listSessionMessages", "tag": "sessions", "summary": "A session's messages in seq order",
        "parameters": [_LIMIT_MESSAGES, _AFTER],
        "responses": {"200": _json(_ref("SessionMessageList"), "A page of messages.")},
        "errors": _SESSION_ERRORS,
    },
    ("compat.sessions", "GET"): {
        "id": "compatListSessions", "tag": "compat", "summary": "The caller's sessions, offset-paged",
        "description": "A `user_id` query parameter is ignored: the owner is always the token's subject.",
        "parameters": [
            _query("page", "Page number (1-10000, default 1).", {"type": "integer", "minimum": 1, "maximum": 10000}),
            _query("page_size", "Page size (1-100, default 20); page * page_size <= 10000.",
                   {"type": "integer", "minimum": 1, "maximum": 100}),
        ],
        "responses": {"200": _json(_ref("CompatSessionList"), "A page of sessions.")},
        "errors": (400,),
    },
    ("compat.session", "GET"): {
        "id": "compatRetrieveSession", "tag": "compat", "summary": "A session and its active conversation",
        "responses": {"200": _json(_ref("CompatSession"), "The session and its messages.")},
        "errors": _SESSION_ERRORS,
    },
    ("health", "GET"): {
        "id": "health", "tag": "service", "summary": "Deep health check (Firestore, credentials, Vertex AI)",
        "parameters": [_query("deep", "`0` answers from the process alone, without I/O.",
                              {"type": "string", "enum": ["0", "1", "false", "no"]})],
        "responses": {"200": _json(_ref("Health"), "Healthy or degraded."),
                      "503": _json(_ref("Health"), "A required check is down.")},
    },
    ("health", "HEAD"): {
        "id": "healthHead", "tag": "service", "summary": "The health status without a body",
        "parameters": [_query("deep", "As for GET.", {"type": "string", "enum": ["0", "1", "false", "no"]})],
        "responses": {"200": {"description": "Healthy or degraded.", "headers": _response_headers()},
                      "503": {"description": "A required check is down.", "headers": _response_headers()}},
    },
    ("index", "GET"): {
        "id": "serviceIndex", "tag": "service", "summary": "The service and its routes",
        "responses": {"200": _json(_ref("ServiceIndex"), "The index.")},
    },
    ("openapi", "GET"): {
        "id": "openapi", "tag": "service", "summary": "This document",
        "responses": {"200": _json({"type": "object", "required": ["openapi", "paths"]}, "OpenAPI 3.1.")},
    },
}
