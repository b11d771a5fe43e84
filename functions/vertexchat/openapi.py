"""The OpenAPI 3.1 description of every route, served at ``GET /openapi.json`` without a token.

One document describes the API as the front door (or the ``api`` function) serves it, and
every function serves that same document; each operation's ``x-vertexchat-functions`` names
the deployed functions that answer it. Paths and methods come from ``route_table.ROUTES``: a
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

from vertexchat import __version__, openapi_responses, web
from vertexchat.anthropic_messages import openapi as messages_openapi
from vertexchat.cors import ALLOWED_METHODS, EXPOSED_HEADERS, MAX_AGE_SECONDS
from vertexchat.openapi_schemas import (
    PATH_PARAMETERS,
    SCHEMAS,
    error_ref,
    header,
    json_content,
    path_parameter,
    query,
    ref,
    ref_header,
    response_headers,
)
from vertexchat.route_table import FUNCTIONS, ROUTES, Route
from vertexchat.services import Services

JSON = dict[str, Any]

# The Responses routes' path parameter, documented next to their operations.
PATH_PARAMETERS.update(openapi_responses.PATH_PARAMETERS)


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
            item["parameters"] = [path_parameter(name) for name in parameters]
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
            "securitySchemes": {"bearer": _BEARER, "apiKey": messages_openapi.API_KEY_SCHEME},
            "schemas": {**SCHEMAS, **messages_openapi.SCHEMAS, **openapi_responses.SCHEMAS},
            "responses": {**_ERROR_RESPONSES, **_ANTHROPIC_ERROR_RESPONSES},
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
    anthropic = route.errors == "anthropic"
    defaults = messages_openapi.DEFAULT_STATUSES if anthropic else (401, 500, 503)
    statuses = (*spec.get("errors", ()), 500) if route.public else (*spec.get("errors", ()), *defaults)
    prefix = "A" if anthropic else "E"  # Anthropic's error body and statuses, or OpenAI's
    responses = {**spec["responses"], **{str(s): {"$ref": f"#/components/responses/{prefix}{s}"}
                                         for s in sorted(statuses) if str(s) not in spec["responses"]}}
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
    elif route.x_api_key:
        operation["security"] = messages_openapi.SECURITY
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
            header("Origin", "The calling page's origin."),
            header("Access-Control-Request-Method", "The method the browser is about to use."),
            header("Access-Control-Request-Headers", "The headers the browser is about to send."),
        ],
        "responses": {
            "204": {"description": "Preflight answer.", "headers": {
                "X-Request-Id": ref_header("X-Request-Id"),
                "Allow": {"description": "The route's methods.", "schema": {"type": "string"}},
                "Access-Control-Allow-Origin": ref_header("Access-Control-Allow-Origin"),
                "Access-Control-Allow-Methods": {"description": f"`{ALLOWED_METHODS}`.",
                                                 "schema": {"type": "string"}},
                "Access-Control-Allow-Headers": {"description": "The request headers browsers may send.",
                                                 "schema": {"type": "string"}},
                "Access-Control-Max-Age": {"description": f"`{MAX_AGE_SECONDS}` seconds.",
                                           "schema": {"type": "string"}},
            }},
            "500": error_ref(500),
        },
    }


_DESCRIPTION = """\
OpenAI-compatible Chat Completions and Responses APIs served by Claude on Vertex AI, with
conversations (sessions) and stored responses kept in Firestore.

**Authentication.** Every operation except `/health`, `/v1`, `/openapi.json` and CORS
preflights needs `Authorization: Bearer <ID token>` (Firebase Authentication or any OIDC
provider, as configured). A missing or invalid token answers 401 with
`WWW-Authenticate: Bearer error="invalid_token"`; when the identity provider's keys cannot be
fetched the answer is 503, never 401. The token's subject owns the sessions it creates, and
nobody else can see, change or delete them.

**Errors.** Every error is `{"error": {"message", "type", "param", "code"}}`; `param` names
the offending field. In a stream, an error after the first byte arrives as
`data: {"error": {...}}` followed by `data: [DONE]`; in a Responses stream it is an `error` event
followed by `response.failed`. The Anthropic Messages API routes (`/v1/messages`) answer in
Anthropic's shape instead: `{"type": "error", "error": {"type", "message"}}`, 529 for
overloaded, and in a stream an `event: error`; they also take the token as `x-api-key`.

**CORS.** Origins listed in `CORS_ALLOWED_ORIGINS` get `Access-Control-Allow-Origin` on
every response (errors and streams included), with `Access-Control-Expose-Headers`.

**Limits.** Request bodies over `MAX_REQUEST_BYTES` answer 413 before parsing; bodies that
are not JSON answer 415. JSON may nest at most 64 levels, numbers must be finite, integers
fit in 64 bits, and an object may not repeat a key (400 each).

Every function also answers its own root path `/` as its primary route (see `x-vertexchat-functions`).
"""

_TAGS = {
    "chat": "OpenAI Chat Completions.",
    "messages": "The Anthropic Messages API (Claude Code, the Anthropic SDKs), passed through to Vertex AI.",
    "responses": "OpenAI Responses, stored under their owner.",
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


_COMMON_REQUEST_HEADERS = (
    header("X-Request-Id", "Your id for the request (8-128 of `A-Za-z0-9._:-`), echoed back and logged; "
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

_ERROR_RESPONSES: JSON = {f"E{status}": json_content(ref("Error"), text, headers)
                          for status, (text, headers) in _ERROR_STATUSES.items()}

_ANTHROPIC_ERROR_RESPONSES: JSON = {f"A{status}": json_content(ref("AnthropicError"), text, headers)
                                    for status, (text, headers) in messages_openapi.ERROR_STATUSES.items()}

_LIMIT_SESSIONS = query("limit", "Page size (1-100, default 20).", {"type": "integer", "minimum": 1, "maximum": 100})
_LIMIT_MESSAGES = query("limit", "Page size (1-1000, default 100).",
                         {"type": "integer", "minimum": 1, "maximum": 1000})
_AFTER = query("after", "The `next_cursor` of the previous page.", {"type": "string", "minLength": 1})
_SESSION_ERRORS = (400, 404)
_BODY_ERRORS = (400, 413, 415)
_HELLO = [{"role": "user", "content": "Hello"}]
_CHAT_BODY = {"required": True, "content": {"application/json": {
    "schema": ref("ChatCompletionRequest"),
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
            header("X-Session-Id", "Record the exchange in this session (as `session_id`).",
                    {"type": "string", "minLength": 1, "maxLength": 128}),
            header("Idempotency-Key", "Retries with the same key and body replay the first result (no second "
                                       "completion); the same key with another body is a 422, one still running "
                                       "a 409.", {"type": "string", "minLength": 1, "maxLength": 255,
                                                  "pattern": "^[ -~]+$"}),
        ],
        "body": _CHAT_BODY,
        "responses": {"200": {
            "description": "The completion, or its stream.",
            "headers": response_headers("X-Session-Id", "X-Session-Saved", "Idempotent-Replayed"),
            "content": {"application/json": {"schema": ref("ChatCompletion")},
                        "text/event-stream": {"schema": ref("ChatCompletionEvent")}}}},
        "errors": (*_BODY_ERRORS, 404, 409, 422, 429, 502, 504),
    },
    ("models.list", "GET"): {
        "id": "listModels", "tag": "models", "summary": "List the models offered, newest first",
        "responses": {"200": json_content(ref("ModelList"), "The models.", ("X-Catalog-Source",))},
    },
    ("models.get", "GET"): {
        "id": "retrieveModel", "tag": "models", "summary": "One model",
        "responses": {"200": json_content(ref("Model"), "The model.", ("X-Catalog-Source",))},
        "errors": (404,),
    },
    ("sessions.collection", "GET"): {
        "id": "listSessions", "tag": "sessions", "summary": "The caller's sessions, most recently updated first",
        "parameters": [_LIMIT_SESSIONS, _AFTER],
        "responses": {"200": json_content(ref("SessionList"), "A page of sessions.")},
        "errors": (400,),
    },
    ("sessions.collection", "POST"): {
        "id": "createSession", "tag": "sessions", "summary": "Create a session",
        "body": {"required": False, "content": {"application/json": {"schema": ref("SessionCreate")}}},
        "responses": {"201": json_content(ref("Session"), "The new session.")},
        "errors": _BODY_ERRORS,
    },
    ("sessions.item", "GET"): {
        "id": "retrieveSession", "tag": "sessions", "summary": "One of the caller's sessions",
        "responses": {"200": json_content(ref("Session"), "The session.")},
        "errors": _SESSION_ERRORS,
    },
    ("sessions.item", "PATCH"): {
        "id": "updateSession", "tag": "sessions", "summary": "Set the title and/or replace the metadata",
        "body": {"required": False, "content": {"application/json": {"schema": ref("SessionUpdate")}}},
        "responses": {"200": json_content(ref("Session"), "The updated session.")},
        "errors": (*_SESSION_ERRORS, 413, 415),
    },
    ("sessions.item", "DELETE"): {
        "id": "deleteSession", "tag": "sessions", "summary": "Delete a session and its messages",
        "description": "A missing session, one already deleted and someone else's all answer the same 404.",
        "responses": {"200": json_content(ref("SessionDeleted"), "Deleted.")},
        "errors": _SESSION_ERRORS,
    },
    ("sessions.messages", "GET"): {
        "id": "listSessionMessages", "tag": "sessions", "summary": "A session's messages in seq order",
        "parameters": [_LIMIT_MESSAGES, _AFTER],
        "responses": {"200": json_content(ref("SessionMessageList"), "A page of messages.")},
        "errors": _SESSION_ERRORS,
    },
    ("compat.sessions", "GET"): {
        "id": "compatListSessions", "tag": "compat", "summary": "The caller's sessions, offset-paged",
        "description": "A `user_id` query parameter is ignored: the owner is always the token's subject.",
        "parameters": [
            query("page", "Page number (1-10000, default 1).", {"type": "integer", "minimum": 1, "maximum": 10000}),
            query("page_size", "Page size (1-100, default 20); page * page_size <= 10000.",
                   {"type": "integer", "minimum": 1, "maximum": 100}),
        ],
        "responses": {"200": json_content(ref("CompatSessionList"), "A page of sessions.")},
        "errors": (400,),
    },
    ("compat.session", "GET"): {
        "id": "compatRetrieveSession", "tag": "compat", "summary": "A session and its active conversation",
        "responses": {"200": json_content(ref("CompatSession"), "The session and its messages.")},
        "errors": _SESSION_ERRORS,
    },
    ("health", "GET"): {
        "id": "health", "tag": "service", "summary": "Deep health check (Firestore, credentials, Vertex AI)",
        "parameters": [query("deep", "`0` answers from the process alone, without I/O.",
                              {"type": "string", "enum": ["0", "1", "false", "no"]})],
        "responses": {"200": json_content(ref("Health"), "Healthy or degraded."),
                      "503": json_content(ref("Health"), "A required check is down.")},
    },
    ("health", "HEAD"): {
        "id": "healthHead", "tag": "service", "summary": "The health status without a body",
        "parameters": [query("deep", "As for GET.", {"type": "string", "enum": ["0", "1", "false", "no"]})],
        "responses": {"200": {"description": "Healthy or degraded.", "headers": response_headers()},
                      "503": {"description": "A required check is down.", "headers": response_headers()}},
    },
    ("index", "GET"): {
        "id": "serviceIndex", "tag": "service", "summary": "The service and its routes",
        "responses": {"200": json_content(ref("ServiceIndex"), "The index.")},
    },
    ("openapi", "GET"): {
        "id": "openapi", "tag": "service", "summary": "This document",
        "responses": {"200": json_content({"type": "object", "required": ["openapi", "paths"]}, "OpenAPI 3.1.")},
    },
    **messages_openapi.OPERATIONS,
}
_OPERATIONS.update(openapi_responses.OPERATIONS)
