"""Parse and validate an OpenAI Chat Completions request into a :class:`ChatRequest`.

Only shapes are checked here: types, allowed values and ranges, each failure an
:class:`~vertexchat.errors.InvalidRequestError` naming the offending field the way
OpenAI does (``messages[1].content[0].image_url.url``). Whether Claude can express a
request (thinking budgets, tool pairing, image media types) is decided in
:mod:`vertexchat.openai_chat.request`.

Unknown fields are ignored because OpenAI clients send many (``seed``,
``frequency_penalty``, ``store``...), and an explicit ``null`` counts as absent. Messages
stay the client's plain dicts, validated but not remodelled.

Tested in tests/test_openai_schema.py.

Long because one validator per request field keeps every 400 naming its field in one place;
the helpers are shared by all of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

from vertexchat.errors import InvalidRequestError
from vertexchat.fields import bool_or_none as _bool_or_none
from vertexchat.fields import dict_or_none as _dict_or_none
from vertexchat.fields import is_int as _is_int
from vertexchat.fields import list_of as _list
from vertexchat.fields import metadata as _metadata
from vertexchat.fields import model_name as _model
from vertexchat.fields import nonempty_str as _nonempty_str
from vertexchat.fields import str_or_none as _str_or_none

JSON = dict[str, Any]
"""A JSON object as parsed by :func:`json.loads`."""

ROLES = ("system", "developer", "user", "assistant", "tool")
REASONING_EFFORTS = ("none", "minimal", "low", "medium", "high")
RESPONSE_FORMATS = ("text", "json_object", "json_schema")
TOOL_CHOICES = ("auto", "none", "required")
CACHE_TTLS = ("5m", "1h")
MAX_STOP_SEQUENCES = 16  # OpenAI allows 4; being lenient costs nothing.

# Bounds on the work one request can cause (every message is validated, translated and,
# with a session, stored). Generous for any real conversation; the body size caps the rest.
MAX_MESSAGES = 2000
MAX_CONTENT_PARTS = 1000  # per message
MAX_TOOLS = 512
# http(s) images are fetched by the function, each up to MAX_IMAGE_BYTES, so their number is bounded.
MAX_REMOTE_IMAGES = 20
# OpenAI's metadata limits.

# OpenAI's and Claude's rule for function names alike.
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")

# Which content part types each role may carry. Assistant refusal parts are plain text
# to Claude; anything else OpenAI knows (audio, files) is not supported.
_PART_TYPES: dict[str, tuple[str, ...]] = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url"),
    "assistant": ("text", "refusal"),
    "tool": ("text",),
}


@dataclass(frozen=True, slots=True)
class ChatRequest:
    """A validated Chat Completions request; ``None`` means the client did not say."""

    model: str
    messages: tuple[JSON, ...]
    stream: bool = False
    include_usage: bool = False
    max_tokens: int | None = None
    # Which field ``max_tokens`` came from, so errors about it name what the client sent.
    max_tokens_param: str = "max_completion_tokens"
    temperature: float | None = None
    top_p: float | None = None
    stop: tuple[str, ...] = ()
    tools: tuple[JSON, ...] = ()
    tool_choice: str | JSON | None = None
    parallel_tool_calls: bool | None = None
    response_format: JSON | None = None
    reasoning_effort: str | None = None
    thinking: JSON | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    session_id: str | None = None


def _fail(message: str, param: str | None) -> NoReturn:
    raise InvalidRequestError(message, param=param)


def parse_chat_request(body: object) -> ChatRequest:
    """Validate a decoded request body; raise InvalidRequestError naming the first bad field."""
    if not isinstance(body, dict):
        _fail("The request body must be a JSON object.", None)
    _check_unsupported(body)
    max_tokens, max_tokens_param = _max_tokens(body)
    stream_options = _dict_or_none(body.get("stream_options"), "stream_options") or {}
    return ChatRequest(
        model=_model(body.get("model")),
        messages=_messages(body.get("messages")),
        stream=_bool_or_none(body.get("stream"), "stream") or False,
        include_usage=_bool_or_none(stream_options.get("include_usage"), "stream_options.include_usage") or False,
        max_tokens=max_tokens,
        max_tokens_param=max_tokens_param,
        temperature=_number_or_none(body.get("temperature"), "temperature", 0.0, 2.0),
        top_p=_number_or_none(body.get("top_p"), "top_p", 0.0, 1.0),
        stop=_stop(body.get("stop")),
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=_bool_or_none(body.get("parallel_tool_calls"), "parallel_tool_calls"),
        response_format=_response_format(body.get("response_format")),
        reasoning_effort=_choice_or_none(body.get("reasoning_effort"), "reasoning_effort", REASONING_EFFORTS),
        thinking=_thinking(body.get("thinking")),
        user=_str_or_none(body.get("user"), "user"),
        metadata=_metadata(body.get("metadata")),
        session_id=_str_or_none(body.get("session_id"), "session_id"),
    )


def image_url_of(part: JSON) -> str:
    """The URL of a validated ``image_url`` part (clients send an object or a bare string)."""
    value = part["image_url"]
    return value if isinstance(value, str) else str(value["url"])




def _check_unsupported(body: JSON) -> None:
    n = body.get("n")
    if n is not None and (not _is_int(n) or n != 1):
        _fail("Only n=1 is supported: Claude returns one choice per request.", "n")
    if _bool_or_none(body.get("logprobs"), "logprobs"):
        _fail("logprobs is not supported: Claude does not return token log probabilities.", "logprobs")














def _choice_or_none(value: object, param: str, options: tuple[str, ...]) -> str | None:
    if value is None or (isinstance(value, str) and value in options):
        return value
    _fail(f"{param} must be one of: {', '.join(options)}.", param)


def _number_or_none(value: object, param: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    # NaN fails the range check too; bool is excluded because true is not a number.
    if isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high:
        return float(value)
    _fail(f"{param} must be a number from {low:g} to {high:g}.", param)


def _positive_int(value: object, param: str) -> int:
    # JSON has one number type; 256.0 is as good as 256 (is_integer() is false for inf and NaN).
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    _fail(f"{param} must be a positive integer.", param)


def _max_tokens(body: JSON) -> tuple[int | None, str]:
    # max_completion_tokens supersedes the deprecated max_tokens when both are sent.
    for param in ("max_completion_tokens", "max_tokens"):
        if body.get(param) is not None:
            return _positive_int(body[param], param), param
    return None, "max_completion_tokens"


def _stop(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    items = _list(value, "stop")
    if len(items) > MAX_STOP_SEQUENCES or not all(isinstance(s, str) for s in items):
        _fail(f"stop must be a string or an array of at most {MAX_STOP_SEQUENCES} strings.", "stop")
    return tuple(items)






def _messages(value: object) -> tuple[JSON, ...]:
    if value is None:
        _fail("messages is required.", "messages")
    items = _list(value, "messages")
    if not items:
        _fail("messages must contain at least one message.", "messages")
    if len(items) > MAX_MESSAGES:
        _fail(f"messages may hold at most {MAX_MESSAGES} messages.", "messages")
    messages = tuple(_message(item, f"messages[{i}]") for i, item in enumerate(items))
    _count_remote_images(messages)
    return messages


def _count_remote_images(messages: tuple[JSON, ...]) -> None:
    remote = 0
    for i, message in enumerate(messages):
        content = message.get("content")
        for j, part in enumerate(content if isinstance(content, list) else ()):
            if part.get("type") == "image_url" and not image_url_of(part).startswith("data:"):
                remote += 1
                if remote > MAX_REMOTE_IMAGES:
                    _fail(f"At most {MAX_REMOTE_IMAGES} http(s) image URLs per request; send more as data: URLs.",
                          f"messages[{i}].content[{j}].image_url.url")


def _message(value: object, param: str) -> JSON:
    if not isinstance(value, dict):
        _fail(f"{param} must be an object.", param)
    role = value.get("role")
    if role == "function":
        _fail("The 'function' role is deprecated and not supported; use 'tool' messages.", f"{param}.role")
    if role not in ROLES:
        _fail(f"{param}.role must be one of: {', '.join(ROLES)}.", f"{param}.role")
    _MESSAGE_CHECKS[role](value, param)
    _cache_control(value.get("cache_control"), f"{param}.cache_control")
    return value


def _cache_control(value: object, param: str) -> None:
    """An explicit Claude cache breakpoint: ``{"type": "ephemeral"}``, optionally with ``ttl`` 5m or 1h."""
    if value is None:
        return
    if not isinstance(value, dict) or value.get("type") != "ephemeral":
        _fail(f'{param} must be {{"type": "ephemeral"}}, optionally with "ttl": "5m" or "1h".', param)
    if value.get("ttl", "5m") not in CACHE_TTLS:
        _fail(f"{param}.ttl must be one of: {', '.join(CACHE_TTLS)}.", f"{param}.ttl")
    extra = sorted(set(value) - {"type", "ttl"})
    if extra:
        _fail(f"{param}.{extra[0]} is not supported: cache_control takes type and ttl.", f"{param}.{extra[0]}")


def _check_plain(message: JSON, param: str) -> None:
    _content(message, param, required=True)


def _check_assistant(message: JSON, param: str) -> None:
    _content(message, param, required=False)
    for j, call in enumerate(_list(message.get("tool_calls") or [], f"{param}.tool_calls")):
        _tool_call(call, f"{param}.tool_calls[{j}]")
    for j, block in enumerate(_list(message.get("thinking_blocks") or [], f"{param}.thinking_blocks")):
        _thinking_block(block, f"{param}.thinking_blocks[{j}]")


def _check_tool(message: JSON, param: str) -> None:
    # Any string: it only has to match an assistant tool call id, which may be one Claude rejects.
    _str_or_fail(message.get("tool_call_id"), f"{param}.tool_call_id")
    _content(message, param, required=True)


_MESSAGE_CHECKS: dict[str, Callable[[JSON, str], None]] = {
    "system": _check_plain,
    "developer": _check_plain,
    "user": _check_plain,
    "assistant": _check_assistant,
    "tool": _check_tool,
}


def _content(message: JSON, param: str, *, required: bool) -> None:
    content = message.get("content")
    if isinstance(content, str) or (content is None and not required):
        return
    if content is None:
        _fail(f"{param}.content is required.", f"{param}.content")
    if not isinstance(content, list):
        _fail(f"{param}.content must be a string or an array of content parts.", f"{param}.content")
    if len(content) > MAX_CONTENT_PARTS:
        _fail(f"{param}.content may hold at most {MAX_CONTENT_PARTS} parts.", f"{param}.content")
    allowed = _PART_TYPES[message["role"]]
    for j, part in enumerate(content):
        _part(part, f"{param}.content[{j}]", allowed)


def _part(part: object, param: str, allowed: tuple[str, ...]) -> None:
    if not isinstance(part, dict):
        _fail(f"{param} must be an object.", param)
    kind = part.get("type")
    if kind not in allowed:
        _fail(f"{param}.type {kind!r} is not supported here; use one of: {', '.join(allowed)}.", f"{param}.type")
    _cache_control(part.get("cache_control"), f"{param}.cache_control")
    if kind == "image_url":
        _image_url(part.get("image_url"), f"{param}.image_url")
    elif not isinstance(part.get(kind), str):  # "text" and "refusal" parts carry a string under their type
        _fail(f"{param}.{kind} must be a string.", f"{param}.{kind}")


def _image_url(value: object, param: str) -> None:
    if isinstance(value, str) and value:
        return
    if not isinstance(value, dict):
        _fail(f"{param} must be an object with a url.", param)
    if not isinstance(value.get("url"), str) or not value["url"]:
        _fail(f"{param}.url must be a non-empty string.", f"{param}.url")
    _str_or_none(value.get("detail"), f"{param}.detail")


def _tool_call(call: object, param: str) -> None:
    if not isinstance(call, dict):
        _fail(f"{param} must be an object.", param)
    if not isinstance(call.get("id"), str):
        _fail(f"{param}.id must be a string.", f"{param}.id")
    if call.get("type", "function") != "function":
        _fail(f"{param}.type must be 'function'.", f"{param}.type")
    function = call.get("function")
    if not isinstance(function, dict):
        _fail(f"{param}.function must be an object.", f"{param}.function")
    _nonempty_str(function.get("name"), f"{param}.function.name")
    _str_or_none(function.get("arguments"), f"{param}.function.arguments")


def _thinking_block(block: object, param: str) -> None:
    if not isinstance(block, dict):
        _fail(f"{param} must be an object.", param)
    kind = block.get("type")
    if kind == "thinking":
        _str_or_fail(block.get("thinking"), f"{param}.thinking")
        _nonempty_str(block.get("signature"), f"{param}.signature")
    elif kind == "redacted_thinking":
        _nonempty_str(block.get("data"), f"{param}.data")
    else:
        _fail(f"{param}.type must be 'thinking' or 'redacted_thinking'.", f"{param}.type")


def _str_or_fail(value: object, param: str) -> str:
    if not isinstance(value, str):
        _fail(f"{param} must be a string.", param)
    return value


def _tools(value: object) -> tuple[JSON, ...]:
    if value is None:
        return ()
    items = _list(value, "tools")
    if len(items) > MAX_TOOLS:
        _fail(f"tools may hold at most {MAX_TOOLS} tools.", "tools")
    tools = tuple(_tool(tool, f"tools[{i}]") for i, tool in enumerate(items))
    seen: set[str] = set()
    for i, tool in enumerate(tools):
        name = tool["function"]["name"]
        if name in seen:
            _fail(f"Tool name {name!r} is defined more than once.", f"tools[{i}].function.name")
        seen.add(name)
    return tools


def _tool(tool: object, param: str) -> JSON:
    if not isinstance(tool, dict):
        _fail(f"{param} must be an object.", param)
    if tool.get("type", "function") != "function":
        _fail(f"{param}.type must be 'function'; other tool types are not supported.", f"{param}.type")
    function = tool.get("function")
    if not isinstance(function, dict):
        _fail(f"{param}.function must be an object.", f"{param}.function")
    name = function.get("name")
    if not isinstance(name, str) or not _TOOL_NAME.fullmatch(name):
        _fail(f"{param}.function.name must be 1-64 letters, digits, underscores or dashes.",
              f"{param}.function.name")
    _str_or_none(function.get("description"), f"{param}.function.description")
    parameters = _dict_or_none(function.get("parameters"), f"{param}.function.parameters")
    if parameters is not None and parameters.get("type", "object") != "object":
        _fail(f"{param}.function.parameters must be a JSON schema of type 'object'.", f"{param}.function.parameters")
    _bool_or_none(function.get("strict"), f"{param}.function.strict")
    _cache_control(tool.get("cache_control"), f"{param}.cache_control")
    _cache_control(function.get("cache_control"), f"{param}.function.cache_control")
    return tool


def _tool_choice(value: object) -> str | JSON | None:
    if value is None or (isinstance(value, str) and value in TOOL_CHOICES):
        return value
    if isinstance(value, dict) and value.get("type") == "function":
        function = value.get("function")
        if isinstance(function, dict) and isinstance(function.get("name"), str) and function["name"]:
            return value
    _fail("tool_choice must be 'auto', 'none', 'required' or "
          '{"type": "function", "function": {"name": ...}}.', "tool_choice")


def _response_format(value: object) -> JSON | None:
    response_format = _dict_or_none(value, "response_format")
    if response_format is None:
        return None
    _choice_or_none(response_format.get("type"), "response_format.type", RESPONSE_FORMATS)
    if response_format.get("type") is None:
        _fail("response_format.type is required.", "response_format.type")
    if response_format["type"] == "json_schema":
        _json_schema(response_format.get("json_schema"))
    return response_format


def _json_schema(value: object) -> None:
    param = "response_format.json_schema"
    if not isinstance(value, dict):
        _fail(f"{param} is required for type 'json_schema' and must be an object.", param)
    _str_or_none(value.get("name"), f"{param}.name")
    _str_or_none(value.get("description"), f"{param}.description")
    _bool_or_none(value.get("strict"), f"{param}.strict")
    schema = _dict_or_none(value.get("schema"), f"{param}.schema")
    # Claude answers through a tool whose input must be an object.
    if schema is not None and schema.get("type", "object") != "object":
        _fail(f"{param}.schema must describe a JSON object (type 'object'): Claude returns structured "
              "output as an object.", f"{param}.schema")


def _thinking(value: object) -> JSON | None:
    thinking = _dict_or_none(value, "thinking")
    if thinking is None:
        return None
    kind = thinking.get("type")
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if not _is_int(budget):
            _fail("thinking.budget_tokens must be an integer.", "thinking.budget_tokens")
    elif kind != "disabled":
        _fail("thinking.type must be 'enabled' or 'disabled'.", "thinking.type")
    return thinking
