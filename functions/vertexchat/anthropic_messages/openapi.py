"""PURE: the OpenAPI description of the Messages API routes, merged into ``vertexchat.openapi``'s document.

Request and response bodies are Anthropic's (described loosely: the body passes through to
Vertex, which validates it); errors are Anthropic's ``{"type": "error", "error": {type, message}}``
with its statuses (an overloaded or unavailable service is 529); the token may come as a bearer
token or as ``x-api-key``.

Tested in tests/test_openapi.py.
"""

from __future__ import annotations

from typing import Any

from vertexchat.openapi_schemas import INT, STRING, header, ref, response_headers

JSON = dict[str, Any]

# The routes' error statuses, with what each means; the responses are components named A<status>.
ERROR_STATUSES: dict[int, tuple[str, tuple[str, ...]]] = {
    400: ("`invalid_request_error`: malformed JSON, a missing `model`, or Claude's own 400 for the body.", ()),
    401: ("`authentication_error`: a missing or invalid token (bearer or `x-api-key`).", ("WWW-Authenticate",)),
    404: ("`not_found_error`: an unknown model (no upstream call was made).", ()),
    413: ("`request_too_large`: the body is larger than the limit.", ()),
    415: ("`invalid_request_error`: the body is not `application/json`.", ()),
    429: ("`rate_limit_error`: Vertex AI quota exhausted.", ("Retry-After",)),
    500: ("`api_error`: a bug of ours; the message names the request id.", ()),
    502: ("`api_error`: Vertex AI failed.", ()),
    504: ("`api_error`: Vertex AI did not answer in time.", ()),
    529: ("`overloaded_error`: Claude overloaded, or the service (or its credentials) temporarily unavailable.",
          ("Retry-After",)),
}

# What the shared defaults (401, 500, 503) become for these routes.
DEFAULT_STATUSES = (401, 500, 529)

SECURITY: list[JSON] = [{"bearer": []}, {"apiKey": []}]
API_KEY_SCHEME = {"type": "apiKey", "in": "header", "name": "x-api-key",
                  "description": "The same ID token as the bearer scheme, as the Anthropic clients send an API "
                                 "key (Claude Code's `ANTHROPIC_API_KEY`, `apiKeyHelper`). Messages API only."}

_ANY = {"description": "Passed through to Vertex AI unchanged."}
_MESSAGE_PARAM = {"type": "object", "required": ["role", "content"],
                  "properties": {"role": {"enum": ["user", "assistant"]},
                                 "content": {"anyOf": [STRING, {"type": "array", "items": {"type": "object"}}]}}}
_COMMON_BODY = {"model": {"type": "string", "minLength": 1, "description": "An Anthropic id "
                          "(`claude-sonnet-4-5-20250929`), an undated alias (`claude-sonnet-4-5`) or a Vertex id "
                          "(`claude-sonnet-4-5@20250929`)."},
                "messages": {"type": "array", "minItems": 1, "items": _MESSAGE_PARAM},
                "system": {"anyOf": [STRING, {"type": "array", "items": {"type": "object"}}]},
                "tools": {"type": "array", "items": {"type": "object"}}, "tool_choice": _ANY, "thinking": _ANY}

SCHEMAS: JSON = {
    "AnthropicError": {
        "type": "object", "required": ["type", "error"],
        "properties": {"type": {"const": "error"}, "error": {
            "type": "object", "required": ["type", "message"], "properties": {"type": STRING, "message": STRING}}},
    },
    "MessageCreateRequest": {
        "type": "object", "required": ["model", "max_tokens", "messages"],
        "description": "Anthropic's Messages API request. Everything but `model` reaches Vertex AI as sent "
                       "(`cache_control`, `context_management`, `metadata`, images, documents...).",
        "properties": {**_COMMON_BODY, "max_tokens": {"type": "integer", "minimum": 1},
                       "stream": {"type": "boolean"}, "metadata": {"type": "object"}},
    },
    "MessageCountTokensRequest": {
        "type": "object", "required": ["model", "messages"],
        "description": "Anthropic's count-tokens request.", "properties": _COMMON_BODY,
    },
    "Message": {
        "type": "object", "required": ["id", "type", "role", "content", "stop_reason", "usage"],
        "description": "Claude's message, as Vertex AI returned it.",
        "properties": {"id": STRING, "type": {"const": "message"}, "role": {"const": "assistant"},
                       "model": STRING, "content": {"type": "array", "items": {"type": "object"}},
                       "stop_reason": {"type": ["string", "null"]}, "usage": {"type": "object"}},
    },
    "MessageStreamEvent": {
        "type": "object", "required": ["event", "data"],
        "description": "One server-sent event: `event: <type>` and `data: <json>` as Claude sends them "
                       "(`message_start` ... `message_stop`, `ping` while Claude is silent), or an in-band "
                       "`event: error` with an AnthropicError if it fails after the first byte.",
        "properties": {"event": STRING, "data": {"contentMediaType": "application/json"}},
    },
    "MessageTokensCount": {"type": "object", "required": ["input_tokens"], "properties": {"input_tokens": INT}},
}

_HEADERS = (
    header("anthropic-beta", "Beta features, comma-separated; values Vertex AI refuses are dropped."),
    header("anthropic-version", "Accepted and not forwarded: Vertex AI takes its own version in the body."),
)


def _body(schema: str) -> JSON:
    return {"required": True, "content": {"application/json": {"schema": ref(schema)}}}


OPERATIONS: dict[tuple[str, str], JSON] = {
    ("messages", "POST"): {
        "id": "createMessage", "tag": "messages", "summary": "Create a message (Anthropic Messages API)",
        "description": "Claude on Vertex AI, passed through: the body reaches Vertex as sent (`model` moved into "
                       "the URL); the message or the SSE events come back unchanged. Claude Code adds `?beta=true`.",
        "parameters": [*_HEADERS, {"name": "beta", "in": "query", "required": False, "schema": STRING,
                                   "description": "Sent by Claude Code; ignored."}],
        "body": _body("MessageCreateRequest"),
        "responses": {"200": {
            "description": "The message, or its event stream.",
            "headers": response_headers(),
            "content": {"application/json": {"schema": ref("Message")},
                        "text/event-stream": {"schema": ref("MessageStreamEvent")}}}},
        "errors": (400, 404, 413, 415, 429, 502, 504),
    },
    ("messages.count_tokens", "POST"): {
        "id": "countMessageTokens", "tag": "messages", "summary": "Count a message request's input tokens",
        "parameters": list(_HEADERS),
        "body": _body("MessageCountTokensRequest"),
        "responses": {"200": {"description": "The count.", "headers": response_headers(),
                              "content": {"application/json": {"schema": ref("MessageTokensCount")}}}},
        "errors": (400, 404, 413, 415, 429, 502, 504),
    },
}
