"""PURE: parse and validate an OpenAI Responses request into a :class:`ResponsesRequest`.

The request's options are mapped onto the chat codec's terms where the semantics are the
same (``tools``, ``tool_choice``, ``text.format`` -> ``response_format``, ``reasoning.effort``
-> ``reasoning_effort``), so that ``openai_chat.request.to_claude`` applies one set of rules
to both APIs. The ``input`` items are validated and converted in ``items.py``.

Unsupported features (OpenAI's built-in tools, background mode, prompt templates, automatic
truncation, log probabilities) are a 400 naming the param; unknown fields are ignored, as
the SDKs send many (``service_tier``, ``prompt_cache_key``, ``stream_options``...).

Tested in tests/test_responses_codec.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NoReturn

from vertexchat.errors import InvalidRequestError
from vertexchat.fields import bool_or_none as _bool_or_none
from vertexchat.fields import dict_or_none as _dict_or_none
from vertexchat.fields import metadata as _metadata
from vertexchat.fields import model_name as _model
from vertexchat.fields import str_or_none as _str_or_none
from vertexchat.openai_chat.schema import REASONING_EFFORTS, RESPONSE_FORMATS, parse_chat_request

JSON = dict[str, Any]

MAX_INPUT_ITEMS = 2000
MAX_TOOLS = 512
MAX_METADATA_KEYS = 16
SUPPORTED_INCLUDES = ("reasoning.encrypted_content", "message.input_image.image_url")
ENCRYPTED_REASONING = "reasoning.encrypted_content"
TOOL_CHOICES = ("auto", "none", "required")


@dataclass(frozen=True, slots=True)
class ResponsesRequest:
    """A validated Responses request; ``None`` means the client did not say."""

    model: str
    input: tuple[JSON, ...]
    instructions: str | None = None
    stream: bool = False
    store: bool = True
    previous_response_id: str | None = None
    conversation: str | None = None
    tools: tuple[JSON, ...] = ()  # in the chat codec's shape: {"type": "function", "function": {...}}
    tool_choice: str | JSON | None = None  # in the chat codec's shape
    parallel_tool_calls: bool | None = None
    response_format: JSON | None = None  # text.format, in the chat codec's shape
    reasoning_effort: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    user: str | None = None
    metadata: dict[str, str] | None = None
    include: frozenset[str] = frozenset()
    echo: JSON | None = None  # the request's fields the response object repeats, as sent

    @property
    def encrypted_reasoning(self) -> bool:
        return ENCRYPTED_REASONING in self.include


def _fail(message: str, param: str | None) -> NoReturn:
    raise InvalidRequestError(message, param=param)


def parse_responses_request(body: object) -> ResponsesRequest:
    """Validate a decoded body; raise InvalidRequestError naming the first bad field."""
    if not isinstance(body, dict):
        _fail("The request body must be a JSON object.", None)
    _check_unsupported(body)
    previous = _str_or_none(body.get("previous_response_id"), "previous_response_id")
    return ResponsesRequest(
        model=_model(body.get("model")),
        input=_input(body.get("input"), required=previous is None),
        instructions=_str_or_none(body.get("instructions"), "instructions"),
        stream=_bool(body.get("stream"), "stream", False),
        store=_bool(body.get("store"), "store", True),
        previous_response_id=previous,
        conversation=_conversation(body.get("conversation")),
        tools=_tools(body.get("tools")),
        tool_choice=_tool_choice(body.get("tool_choice")),
        parallel_tool_calls=_bool_or_none(body.get("parallel_tool_calls"), "parallel_tool_calls"),
        response_format=_text_format(body.get("text")),
        reasoning_effort=_effort(body.get("reasoning")),
        max_output_tokens=_positive_int_or_none(body.get("max_output_tokens"), "max_output_tokens"),
        temperature=_number_or_none(body.get("temperature"), "temperature", 0.0, 2.0),
        top_p=_number_or_none(body.get("top_p"), "top_p", 0.0, 1.0),
        user=_str_or_none(body.get("safety_identifier"), "safety_identifier") or _str_or_none(body.get("user"),
                                                                                               "user"),
        metadata=_metadata(body.get("metadata")),
        include=_include(body.get("include")),
        echo=_echo(body),
    )




def _check_unsupported(body: JSON) -> None:
    if body.get("background") is True:
        _fail("background mode is not supported: responses are answered while the request is open.", "background")
    if body.get("prompt") is not None:
        _fail("Stored prompt templates are not supported; send instructions and input instead.", "prompt")
    if body.get("truncation") not in (None, "disabled"):
        _fail("Only truncation 'disabled' is supported: vertexchat never drops context silently.", "truncation")
    top_logprobs = body.get("top_logprobs")
    if top_logprobs not in (None, 0):
        _fail("top_logprobs is not supported: Claude does not return token log probabilities.", "top_logprobs")
    if body.get("previous_response_id") is not None and body.get("conversation") is not None:
        _fail("previous_response_id and conversation cannot be used together.", "conversation")


def _echo(body: JSON) -> JSON:
    keys = ("instructions", "max_output_tokens", "metadata", "parallel_tool_calls", "previous_response_id",
            "reasoning", "temperature", "text", "tool_choice", "tools", "top_p", "user", "safety_identifier")
    echo = {key: body.get(key) for key in keys}
    echo["store"] = body.get("store") is not False
    echo["parallel_tool_calls"] = body.get("parallel_tool_calls") is not False
    echo["tool_choice"] = body.get("tool_choice") or "auto"
    echo["tools"] = body.get("tools") or []
    echo["metadata"] = body.get("metadata") or {}
    echo["text"] = body.get("text") or {"format": {"type": "text"}}
    echo["reasoning"] = body.get("reasoning") or {"effort": None, "summary": None}
    return echo






def _bool(value: object, param: str, default: bool) -> bool:
    found = _bool_or_none(value, param)
    return default if found is None else found




def _number_or_none(value: object, param: str, low: float, high: float) -> float | None:
    if value is None:
        return None
    if isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high:
        return float(value)
    _fail(f"{param} must be a number from {low:g} to {high:g}.", param)


def _positive_int_or_none(value: object, param: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    _fail(f"{param} must be a positive integer.", param)




def _input(value: object, *, required: bool) -> tuple[JSON, ...]:
    if value is None:
        if required:
            _fail("input is required (a string or an array of input items).", "input")
        return ()
    if isinstance(value, str):
        return ({"type": "message", "role": "user", "content": value},)
    if not isinstance(value, list):
        _fail("input must be a string or an array of input items.", "input")
    if len(value) > MAX_INPUT_ITEMS:
        _fail(f"input may hold at most {MAX_INPUT_ITEMS} items.", "input")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            _fail(f"input[{i}] must be an object.", f"input[{i}]")
    return tuple(value)


def _conversation(value: object) -> str | None:
    if isinstance(value, dict):
        value = value.get("id")
        if not isinstance(value, str) or not value:
            _fail("conversation.id must be a non-empty string.", "conversation.id")
    return _str_or_none(value, "conversation")


def _tools(value: object) -> tuple[JSON, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or len(value) > MAX_TOOLS:
        _fail(f"tools must be an array of at most {MAX_TOOLS} tools.", "tools")
    tools: list[JSON] = []
    for i, tool in enumerate(value):
        param = f"tools[{i}]"
        if not isinstance(tool, dict):
            _fail(f"{param} must be an object.", param)
        if tool.get("type") != "function":
            _fail(f"{param}.type {tool.get('type')!r} is not supported: only function tools are (OpenAI's "
                  "built-in tools such as web search, file search, computer use and code interpreter are not).",
                  f"{param}.type")
        function = {key: tool[key] for key in ("name", "description", "parameters", "strict")
                    if tool.get(key) is not None}
        tools.append({"type": "function", "function": function})
    return tuple(_checked_tools(tools))


def _checked_tools(tools: list[JSON]) -> list[JSON]:
    """Function tools under the chat codec's rules, with the errors naming the Responses params."""
    try:
        parse_chat_request({"model": "m", "messages": [{"role": "user", "content": "x"}], "tools": tools})
    except InvalidRequestError as exc:
        _fail(exc.message, (exc.param or "tools").replace(".function.", "."))
    return tools


def _tool_choice(value: object) -> str | JSON | None:
    if value is None or (isinstance(value, str) and value in TOOL_CHOICES):
        return value
    if isinstance(value, dict) and value.get("type") == "function" and isinstance(value.get("name"), str):
        return {"type": "function", "function": {"name": value["name"]}}
    if isinstance(value, dict) and value.get("type") not in (None, "function"):
        _fail(f"tool_choice type {value.get('type')!r} is not supported: only function tools are.",
              "tool_choice.type")
    _fail("tool_choice must be 'auto', 'none', 'required' or {\"type\": \"function\", \"name\": ...}.", "tool_choice")


def _text_format(value: object) -> JSON | None:
    text = _dict_or_none(value, "text")
    fmt = _dict_or_none((text or {}).get("format"), "text.format")
    if fmt is None:
        return None
    kind = fmt.get("type")
    if kind not in RESPONSE_FORMATS:
        _fail(f"text.format.type must be one of: {', '.join(RESPONSE_FORMATS)}.", "text.format.type")
    if kind != "json_schema":
        return {"type": kind}
    schema = _dict_or_none(fmt.get("schema"), "text.format.schema")
    if schema is None:
        _fail("text.format.schema is required for type 'json_schema'.", "text.format.schema")
    if schema.get("type", "object") != "object":
        _fail("text.format.schema must describe a JSON object (type 'object').", "text.format.schema")
    _bool_or_none(fmt.get("strict"), "text.format.strict")
    json_schema = {key: fmt[key] for key in ("name", "description", "strict", "schema") if fmt.get(key) is not None}
    return {"type": "json_schema", "json_schema": json_schema}


def _effort(value: object) -> str | None:
    reasoning = _dict_or_none(value, "reasoning")
    effort = (reasoning or {}).get("effort")
    if effort is None or (isinstance(effort, str) and effort in REASONING_EFFORTS):
        return effort
    _fail(f"reasoning.effort must be one of: {', '.join(REASONING_EFFORTS)}.", "reasoning.effort")




def _include(value: object) -> frozenset[str]:
    if value is None:
        return frozenset()
    if not isinstance(value, list):
        _fail("include must be an array of strings.", "include")
    for i, item in enumerate(value):
        if item not in SUPPORTED_INCLUDES:
            _fail(f"include value {item!r} is not supported; supported: {', '.join(SUPPORTED_INCLUDES)}.",
                  f"include[{i}]")
    return frozenset(value)
