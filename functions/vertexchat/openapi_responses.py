"""PURE: the OpenAPI operations and schemas of the Responses API routes (merged into ``openapi.py``).

Tested in tests/test_openapi.py.
"""

from __future__ import annotations

from typing import Any

from vertexchat.openai_chat.schema import REASONING_EFFORTS
from vertexchat.openai_responses.schema import MAX_INPUT_ITEMS
from vertexchat.openapi_schemas import header, json_content, query, ref, response_headers

JSON = dict[str, Any]

PATH_PARAMETERS = {"response_id": "A stored response's id (`resp_...`)."}

_NULL_BOOL = {"type": ["boolean", "null"]}
_NULL_STRING = {"type": ["string", "null"]}
_ITEM = {"type": "object", "description": "An input item: `message` (or `{role, content}`), `function_call`, "
                                          "`function_call_output`, `reasoning` or `item_reference`."}

SCHEMAS: dict[str, JSON] = {
    "ResponseRequest": {
        "type": "object", "required": ["model"],
        "description": "OpenAI's Responses request. Fields not listed are accepted and ignored; OpenAI's built-in "
                       "tools, `background`, `prompt` and `truncation: auto` are a 400 naming the param.",
        "properties": {
            "model": {"type": "string", "minLength": 1, "maxLength": 256},
            "input": {"anyOf": [{"type": "string"}, {"type": "array", "maxItems": MAX_INPUT_ITEMS, "items": _ITEM},
                                {"type": "null"}]},
            "instructions": _NULL_STRING,
            "stream": _NULL_BOOL,
            "store": {"type": ["boolean", "null"], "description": "Default true: keep the response, its items and "
                                                                  "its conversation (a session branch)."},
            "previous_response_id": _NULL_STRING,
            "conversation": {"anyOf": [{"type": "string"}, {"type": "object", "required": ["id"],
                                                           "properties": {"id": {"type": "string"}}},
                                       {"type": "null"}],
                             "description": "A vertexchat session id to continue."},
            "tools": {"type": ["array", "null"], "items": {
                "type": "object", "required": ["type", "name"], "properties": {
                    "type": {"const": "function"}, "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
                    "description": _NULL_STRING, "parameters": {"type": ["object", "null"]}, "strict": _NULL_BOOL}}},
            "tool_choice": {"anyOf": [{"enum": ["auto", "none", "required", None]}, {
                "type": "object", "required": ["type", "name"],
                "properties": {"type": {"const": "function"}, "name": {"type": "string", "minLength": 1}}}]},
            "parallel_tool_calls": _NULL_BOOL,
            "text": {"type": ["object", "null"], "properties": {"format": {"anyOf": [{"type": "null"}, {
                "type": "object", "required": ["type"],
                "properties": {"type": {"enum": ["text", "json_object", "json_schema"]},
                               "schema": {"type": ["object", "null"]}}}]}}},
            "reasoning": {"type": ["object", "null"], "properties": {"effort": {"enum": [*REASONING_EFFORTS, None]}}},
            "max_output_tokens": {"type": ["integer", "null"], "minimum": 1},
            "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2},
            "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "metadata": {"type": ["object", "null"], "maxProperties": 16,
                         "additionalProperties": {"type": "string", "maxLength": 512}},
            "user": _NULL_STRING, "safety_identifier": _NULL_STRING,
            "include": {"type": ["array", "null"], "items": {
                "enum": ["reasoning.encrypted_content", "message.input_image.image_url"]}},
        },
    },
    "Response": {
        "type": "object", "required": ["id", "object", "created_at", "status", "model", "output"],
        "properties": {
            "id": {"type": "string"}, "object": {"const": "response"}, "created_at": {"type": "integer"},
            "status": {"enum": ["completed", "incomplete", "failed", "in_progress"]},
            "model": {"type": "string"}, "output": {"type": "array", "items": {"type": "object"}},
            "usage": {"type": ["object", "null"]}, "error": {"type": ["object", "null"]},
            "incomplete_details": {"type": ["object", "null"]},
        },
    },
    "ResponseEvent": {
        "type": "object", "required": ["data"],
        "description": "One server-sent event: `event: <type>` and `data: <JSON>` with the same `type` and a "
                       "`sequence_number` counting from 0.",
        "properties": {"event": {"type": "string"}, "data": {
            "contentMediaType": "application/json",
            "contentSchema": {"type": "object", "required": ["type", "sequence_number"],
                              "properties": {"type": {"type": "string"}, "sequence_number": {"type": "integer"}}}}},
    },
    "ResponseDeleted": {
        "type": "object", "required": ["id", "object", "deleted"],
        "properties": {"id": {"type": "string"}, "object": {"const": "response.deleted"}, "deleted": {"const": True}},
    },
    "ResponseItemList": {
        "type": "object", "required": ["object", "data", "has_more"],
        "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": {"type": "object"}},
                       "first_id": _NULL_STRING, "last_id": _NULL_STRING, "has_more": {"type": "boolean"}},
    },
}

_ERRORS = (400, 404)

OPERATIONS: dict[tuple[str, str], JSON] = {
    ("responses.create", "POST"): {
        "id": "createResponse", "tag": "responses", "summary": "Create a response (streamed or not)",
        "description": "With `stream: true` the answer is `text/event-stream`: OpenAI's semantic events, each with a "
                       "`sequence_number`, SSE comments while Claude is silent, and `response.completed` (or "
                       "`response.incomplete`) last; a failure after the first byte is an `error` event followed by "
                       "`response.failed`.",
        "parameters": [header("Idempotency-Key", "Retries with the same key and body replay the first result.",
                              {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"})],
        "body": {"required": True, "content": {"application/json": {"schema": ref("ResponseRequest"), "examples": {
            "simple": {"value": {"model": "claude-sonnet-4-5", "input": "Hello"}}}}}},
        "responses": {"200": {
            "description": "The response, or its event stream.",
            "headers": response_headers("X-Session-Id", "X-Session-Saved", "Idempotent-Replayed"),
            "content": {"application/json": {"schema": ref("Response")},
                        "text/event-stream": {"schema": ref("ResponseEvent")}}}},
        "errors": (400, 404, 409, 413, 415, 422, 429, 502, 504),
    },
    ("responses.item", "GET"): {
        "id": "retrieveResponse", "tag": "responses", "summary": "One of the caller's stored responses",
        "responses": {"200": json_content(ref("Response"), "The response.")},
        "errors": _ERRORS,
    },
    ("responses.item", "DELETE"): {
        "id": "deleteResponse", "tag": "responses", "summary": "Delete a stored response and its items",
        "description": "Its conversation stays in its session (delete that through `/v1/sessions`).",
        "responses": {"200": json_content(ref("ResponseDeleted"), "Deleted.")},
        "errors": _ERRORS,
    },
    ("responses.input_items", "GET"): {
        "id": "listResponseInputItems", "tag": "responses", "summary": "A stored response's input items",
        "parameters": [query("limit", "Page size (1-100, default 20).", {"type": "integer", "minimum": 1,
                                                                        "maximum": 100}),
                       query("order", "`desc` (default) or `asc`.", {"enum": ["asc", "desc"]}),
                       query("after", "An item id: the page starts after it.", {"type": "string", "minLength": 1})],
        "responses": {"200": json_content(ref("ResponseItemList"), "A page of input items.")},
        "errors": _ERRORS,
    },
}
