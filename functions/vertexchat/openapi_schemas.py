"""PURE: the schemas of the OpenAPI document (request, response and error shapes) and small builders.

Kept apart from ``openapi.py`` (which walks the route table) because the shapes are long and
change with the API codecs, while the document's structure does not. Tested in tests/test_openapi.py.
"""

from __future__ import annotations

from typing import Any

from vertexchat.fields import MAX_METADATA_KEY_CHARS, MAX_METADATA_KEYS, MAX_METADATA_VALUE_CHARS, MAX_MODEL_CHARS
from vertexchat.openai_chat.schema import (
    MAX_CONTENT_PARTS,
    MAX_MESSAGES,
    MAX_STOP_SEQUENCES,
    MAX_TOOLS,
    REASONING_EFFORTS,
    ROLES,
)
from vertexchat.sessions import records as session_records

JSON = dict[str, Any]

PATH_PARAMETERS = {
    "model_id": "A model id from `GET /v1/models` (an undated name or configured alias works too).",
    "session_id": "A session UUID (the `/atoms` routes also take the earlier frontend's ids).",
}


def ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def ref_header(name: str) -> JSON:
    return {"$ref": f"#/components/headers/{name}"}


def error_ref(status: int) -> JSON:
    return {"$ref": f"#/components/responses/E{status}"}


def nullable(schema: JSON) -> JSON:
    return {"anyOf": [schema, {"type": "null"}]}


def header(name: str, description: str, schema: JSON | None = None) -> JSON:
    return {"name": name, "in": "header", "required": False, "description": description,
            "schema": schema or {"type": "string"}}


def query(name: str, description: str, schema: JSON) -> JSON:
    return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}


def path_parameter(name: str) -> JSON:
    return {"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1},
            "description": PATH_PARAMETERS[name]}


def json_content(schema: JSON, description: str, headers: tuple[str, ...] = ()) -> JSON:
    """A JSON response; every response carries X-Request-Id and, for allowed origins, CORS headers."""
    return {"description": description, "headers": response_headers(*headers),
            "content": {"application/json": {"schema": schema}}}


def response_headers(*extra: str) -> JSON:
    names = ("X-Request-Id", "Access-Control-Allow-Origin", "Access-Control-Expose-Headers", *extra)
    return {name: ref_header(name) for name in names}


STRING = {"type": "string"}
INT = {"type": "integer"}
NULL_STRING = {"type": ["string", "null"]}
NULL_INT = {"type": ["integer", "null"]}
ISO = {"type": "string", "format": "date-time"}
COMPAT_SESSION: JSON = {
    "id": {"type": "string", "format": "uuid"}, "user_id": STRING, "organization_id": NULL_STRING,
    "title": NULL_STRING, "model": NULL_STRING, "agent_type": NULL_STRING, "created_at": ISO,
    "updated_at": ISO, "last_message_at": {"anyOf": [ISO, {"type": "null"}]}, "message_count": INT,
    "tokens_in": INT, "tokens_out": INT, "tokens_total": INT,
    "metadata": {"type": "object", "additionalProperties": STRING}, "archived": {"type": "boolean"},
    "legacy_id": NULL_STRING,
}
COMPAT_MESSAGE: JSON = {
    "id": {"type": "string", "format": "uuid"}, "message_index": INT, "role": STRING, "content": STRING,
    "metadata": {"type": "object"}, "tokens": NULL_INT, "created_at": ISO, "updated_at": {"type": "null"},
}
NULL_BOOL = {"type": ["boolean", "null"]}

CHAT_METADATA = {
    "type": ["object", "null"], "maxProperties": MAX_METADATA_KEYS,
    "propertyNames": {"minLength": 1, "maxLength": MAX_METADATA_KEY_CHARS},
    "additionalProperties": {"type": "string", "maxLength": MAX_METADATA_VALUE_CHARS},
}

CACHE_CONTROL = {"type": "object", "required": ["type"], "additionalProperties": False,
                 "description": "An explicit Claude prompt-cache breakpoint on this block (README, Prompt caching).",
                 "properties": {"type": {"const": "ephemeral"}, "ttl": {"enum": ["5m", "1h"]}}}
TEXT_PART = {"type": "object", "required": ["type", "text"],
              "properties": {"type": {"const": "text"}, "text": STRING, "cache_control": CACHE_CONTROL}}
IMAGE_PART = {
    "type": "object", "required": ["type", "image_url"],
    "properties": {
        "type": {"const": "image_url"},
        "image_url": {"anyOf": [
            {"type": "string", "minLength": 1},
            {"type": "object", "required": ["url"], "properties": {
                "url": {"type": "string", "minLength": 1,
                        "description": "A `data:` URL (jpeg, png, gif, webp) or a public http(s) URL, which is "
                                       "fetched (private, loopback and link-local addresses are refused)."},
                "detail": NULL_STRING}},
        ]},
        "cache_control": CACHE_CONTROL,
    },
}
REFUSAL_PART = {"type": "object", "required": ["type", "refusal"],
                 "properties": {"type": {"const": "refusal"}, "refusal": STRING}}


def content(*parts: JSON, required: bool = True) -> JSON:
    array = {"type": "array", "maxItems": MAX_CONTENT_PARTS, "items": {"anyOf": list(parts)}}
    return {"anyOf": [STRING, array] if required else [STRING, array, {"type": "null"}]}


def message(role: str, content: JSON, **extra: JSON) -> JSON:
    return {"type": "object", "required": ["role", *([] if role == "assistant" else ["content"])],
            "properties": {"role": {"const": role}, "content": content, "name": STRING,
                           "cache_control": CACHE_CONTROL, **extra}}


TOOL_CALL = {
    "type": "object", "required": ["id", "function"],
    "properties": {
        "id": STRING, "type": {"const": "function"},
        "function": {"type": "object", "required": ["name"],
                     "properties": {"name": {"type": "string", "minLength": 1}, "arguments": NULL_STRING}},
    },
}

THINKING_BLOCK = {"anyOf": [
    {"type": "object", "required": ["type", "thinking", "signature"],
     "properties": {"type": {"const": "thinking"}, "thinking": STRING,
                    "signature": {"type": "string", "minLength": 1}}},
    {"type": "object", "required": ["type", "data"],
     "properties": {"type": {"const": "redacted_thinking"}, "data": {"type": "string", "minLength": 1}}},
]}

TOOL = {
    "type": "object", "required": ["function"],
    "properties": {
        "type": {"const": "function"},
        "function": {"type": "object", "required": ["name"], "properties": {
            "name": {"type": "string", "pattern": "^[a-zA-Z0-9_-]{1,64}$"},
            "description": NULL_STRING,
            "parameters": {"type": ["object", "null"], "description": "A JSON schema of type `object`."},
            "strict": NULL_BOOL, "cache_control": CACHE_CONTROL}},
        "cache_control": CACHE_CONTROL,
    },
}

USAGE = {
    "type": "object", "required": ["prompt_tokens", "completion_tokens", "total_tokens"],
    "properties": {
        "prompt_tokens": INT, "completion_tokens": INT, "total_tokens": INT,
        "prompt_tokens_details": {"type": "object", "properties": {
            "cached_tokens": {**INT, "description": "Prompt tokens read from Claude's prompt cache."},
            "cache_write_tokens": {**INT, "description": "Prompt tokens written to the cache (OpenRouter's name)."}}},
        "cache_read_input_tokens": {**INT, "description": "LiteLLM's name for `cached_tokens`."},
        "cache_creation_input_tokens": {**INT, "description": "LiteLLM's name for `cache_write_tokens`."},
    },
}

FINISH_REASON = {"enum": ["stop", "length", "tool_calls", "content_filter", None]}

SESSION_USAGE_FIELDS = ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens")
SESSION_USAGE = {"type": "object", "required": list(SESSION_USAGE_FIELDS),
                  "properties": dict.fromkeys(SESSION_USAGE_FIELDS, INT)}

SESSION_METADATA = {
    "type": "object", "maxProperties": session_records.MAX_METADATA_KEYS,
    "propertyNames": {"minLength": 1, "maxLength": 64}, "additionalProperties": {"type": "string", "maxLength": 512},
}
TITLE = {"type": ["string", "null"], "maxLength": session_records.MAX_TITLE_CHARS}


def list_of(item: str) -> JSON:
    return {"type": "object", "required": ["object", "data", "has_more", "next_cursor"],
            "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": ref(item)},
                           "has_more": {"type": "boolean"}, "next_cursor": NULL_STRING}}


SCHEMAS: JSON = {
    "Error": {
        "type": "object", "required": ["error"],
        "properties": {"error": {
            "type": "object", "required": ["message", "type", "param", "code"],
            "properties": {"message": STRING, "type": STRING, "param": NULL_STRING, "code": NULL_STRING}}},
    },
    "ChatCompletionRequest": {
        "type": "object", "required": ["model", "messages"],
        "description": "OpenAI's request. Fields not listed here are accepted and ignored, as OpenAI clients "
                       "send many; `null` counts as absent.",
        "properties": {
            "model": {"type": "string", "minLength": 1, "maxLength": MAX_MODEL_CHARS},
            "messages": {"type": "array", "minItems": 1, "maxItems": MAX_MESSAGES, "items": ref("ChatMessage")},
            "stream": NULL_BOOL,
            "stream_options": {"type": ["object", "null"], "properties": {"include_usage": NULL_BOOL}},
            "max_completion_tokens": {"type": ["integer", "null"], "minimum": 1},
            "max_tokens": {"type": ["integer", "null"], "minimum": 1, "deprecated": True},
            "temperature": {"type": ["number", "null"], "minimum": 0, "maximum": 2,
                            "description": "Values above 1 are clamped to Claude's maximum of 1."},
            "top_p": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
            "stop": {"anyOf": [STRING, {"type": "array", "maxItems": MAX_STOP_SEQUENCES, "items": STRING},
                               {"type": "null"}]},
            "tools": {"type": ["array", "null"], "maxItems": MAX_TOOLS, "items": TOOL},
            "tool_choice": {"anyOf": [
                {"enum": ["auto", "none", "required", None]},
                {"type": "object", "required": ["type", "function"], "properties": {
                    "type": {"const": "function"},
                    "function": {"type": "object", "required": ["name"],
                                 "properties": {"name": {"type": "string", "minLength": 1}}}}},
            ]},
            "parallel_tool_calls": NULL_BOOL,
            "response_format": {"anyOf": [{"type": "null"}, {
                "type": "object", "required": ["type"], "properties": {
                    "type": {"enum": ["text", "json_object", "json_schema"]},
                    "json_schema": {"type": "object", "properties": {
                        "name": NULL_STRING, "description": NULL_STRING, "strict": NULL_BOOL,
                        "schema": {"type": ["object", "null"]}}}}}]},
            "reasoning_effort": {"enum": [*REASONING_EFFORTS, None]},
            "thinking": {"anyOf": [{"type": "null"}, {
                "type": "object", "required": ["type"], "properties": {
                    "type": {"enum": ["enabled", "disabled"]}, "budget_tokens": INT}}]},
            "user": {"type": ["string", "null"]},
            "metadata": CHAT_METADATA,
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
        message("system", content(TEXT_PART)),
        message("developer", content(TEXT_PART)),
        message("user", content(TEXT_PART, IMAGE_PART)),
        message("assistant", content(TEXT_PART, REFUSAL_PART, required=False),
                 tool_calls={"type": ["array", "null"], "items": TOOL_CALL},
                 thinking_blocks={"type": ["array", "null"], "items": THINKING_BLOCK,
                                  "description": "Send back unchanged what a reply carried."}),
        {**message("tool", content(TEXT_PART), tool_call_id=STRING),
         "required": ["role", "content", "tool_call_id"]},
    ], "description": f"Roles: {', '.join(ROLES)}."},
    "AssistantMessage": {
        "type": "object", "required": ["role", "content"],
        "properties": {
            "role": {"const": "assistant"}, "content": NULL_STRING,
            "tool_calls": {"type": "array", "items": TOOL_CALL},
            "reasoning_content": {"type": "string", "description": "Claude's thinking text."},
            "thinking_blocks": {"type": "array", "items": THINKING_BLOCK},
        },
    },
    "ChatCompletion": {
        "type": "object", "required": ["id", "object", "created", "model", "choices", "usage"],
        "properties": {
            "id": STRING, "object": {"const": "chat.completion"}, "created": INT, "model": STRING,
            "system_fingerprint": NULL_STRING, "session_id": {"type": "string", "description": "With a session."},
            "choices": {"type": "array", "minItems": 1, "maxItems": 1, "items": {
                "type": "object", "required": ["index", "message", "finish_reason"],
                "properties": {"index": INT, "message": ref("AssistantMessage"), "logprobs": {"type": "null"},
                               "finish_reason": FINISH_REASON}}},
            "usage": USAGE,
        },
    },
    "ChatCompletionChunk": {
        "type": "object", "required": ["id", "object", "created", "model", "choices"],
        "properties": {
            "id": STRING, "object": {"const": "chat.completion.chunk"}, "created": INT, "model": STRING,
            "system_fingerprint": NULL_STRING,
            "choices": {"type": "array", "maxItems": 1, "items": {
                "type": "object", "required": ["index", "delta", "finish_reason"],
                "properties": {"index": INT, "delta": {"type": "object"}, "logprobs": {"type": "null"},
                               "finish_reason": FINISH_REASON}}},
            "usage": nullable(USAGE),
        },
    },
    "ChatCompletionEvent": {
        "type": "object", "required": ["data"],
        "description": "One server-sent event: a chunk, an in-band error, or the final `[DONE]`.",
        "properties": {"data": {"anyOf": [
            {"const": "[DONE]"},
            {"not": {"const": "[DONE]"}, "contentMediaType": "application/json",
             "contentSchema": {"anyOf": [ref("ChatCompletionChunk"), ref("Error")]}},
        ]}},
    },
    "Model": {
        "type": "object", "required": ["id", "object", "created", "owned_by"],
        "properties": {
            "id": STRING, "object": {"const": "model"}, "created": INT, "owned_by": STRING,
            "context_window": INT, "context_length": {**INT, "description": "Same as `context_window` "
                                                                          "(OpenRouter's name)."},
            "max_output_tokens": INT,
            "capabilities": {"type": "array", "items": STRING,
                             "description": "`chat`, `streaming`, and those of `supports` that are true."},
            "supports": {"type": "object", "additionalProperties": {"type": "boolean"},
                         "description": "Flags: `vision`, `tools`, `thinking`, `json_schema`."},
        },
    },
    "ModelList": {"type": "object", "required": ["object", "data"],
                  "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": ref("Model")}}},
    "Session": {
        "type": "object",
        "required": ["id", "object", "created_at", "updated_at", "expires_at", "title", "model", "metadata",
                     "message_count", "usage", "legacy_id"],
        "properties": {
            "id": {"type": "string", "format": "uuid"}, "object": {"const": "chat.session"},
            "created_at": INT, "updated_at": INT, "expires_at": NULL_INT, "title": NULL_STRING,
            "model": NULL_STRING, "metadata": {"type": "object", "additionalProperties": STRING},
            "message_count": INT, "usage": SESSION_USAGE, "legacy_id": NULL_STRING,
        },
    },
    "SessionCreate": {
        "type": "object", "additionalProperties": False,
        "description": "All optional; unknown fields are refused (400 naming the field).",
        "properties": {"title": TITLE,
                       "model": {"type": ["string", "null"], "maxLength": session_records.MAX_MODEL_CHARS},
                       "metadata": {"anyOf": [SESSION_METADATA, {"type": "null"}]}},
        "example": {"title": "Trip planning", "metadata": {"project": "alps"}},
    },
    "SessionUpdate": {
        "type": "object", "additionalProperties": False,
        "description": "Sets `title` and/or replaces `metadata`; unknown fields are refused.",
        "properties": {"title": TITLE,
                       "metadata": {"anyOf": [SESSION_METADATA, {"type": "null"}]}},
    },
    "SessionDeleted": {
        "type": "object", "required": ["id", "object", "deleted"],
        "properties": {"id": STRING, "object": {"const": "chat.session.deleted"}, "deleted": {"const": True}},
    },
    "SessionList": list_of("Session"),
    "SessionMessage": {
        "type": "object",
        "required": ["id", "object", "session_id", "seq", "parent_seq", "status", "finish_reason", "model",
                     "usage", "request_id", "created_at"],
        "description": "The stored OpenAI message (role, content, tool_calls...) in an envelope.",
        "properties": {
            "id": STRING, "object": {"const": "chat.message"}, "session_id": STRING, "seq": INT,
            "parent_seq": NULL_INT, "role": STRING, "status": STRING, "finish_reason": NULL_STRING,
            "model": NULL_STRING, "usage": nullable(SESSION_USAGE), "request_id": NULL_STRING,
            "created_at": INT,
        },
    },
    "SessionMessageList": list_of("SessionMessage"),
    "CompatSessionSummary": {
        "type": "object", "description": "atomsAgent's session summary; timestamps are ISO-8601 UTC strings.",
        "required": list(COMPAT_SESSION),
        "properties": COMPAT_SESSION,
    },
    "CompatMessage": {
        "type": "object", "description": "atomsAgent's message: its text, and in `metadata` what text cannot hold.",
        "required": list(COMPAT_MESSAGE),
        "properties": COMPAT_MESSAGE,
    },
    "CompatSessionList": {
        "type": "object", "required": ["sessions", "total", "page", "page_size", "has_more"],
        "properties": {"sessions": {"type": "array", "items": ref("CompatSessionSummary")}, "total": INT,
                       "page": INT, "page_size": INT, "has_more": {"type": "boolean"}},
    },
    "CompatSession": {
        "type": "object", "required": ["session", "messages"],
        "properties": {"session": ref("CompatSessionSummary"),
                       "messages": {"type": "array", "items": ref("CompatMessage")}},
    },
    "Health": {
        "type": "object", "required": ["status", "version", "instance", "checks"],
        "properties": {
            "status": {"enum": ["ok", "degraded", "down"]}, "version": STRING, "instance": STRING,
            "checks": {"type": "object", "additionalProperties": {
                "type": "object", "required": ["status", "latency_ms", "error"],
                "properties": {"status": {"enum": ["ok", "degraded", "down"]}, "latency_ms": {"type": "number"},
                               "error": NULL_STRING}}},
        },
    },
    "ServiceIndex": {
        "type": "object", "required": ["object", "name", "version", "routes"],
        "properties": {
            "object": {"const": "service"}, "name": STRING, "version": STRING,
            "routes": {"type": "array", "items": {
                "type": "object", "required": ["path", "methods"],
                "properties": {"path": STRING, "methods": {"type": "array", "items": STRING}}}},
        },
    },
}
