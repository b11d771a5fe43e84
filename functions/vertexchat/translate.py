"""PURE translation: an OpenAI Chat Completions request -> a Claude Messages request, and a
Claude message -> an OpenAI ``chat.completion``.

Nothing here does I/O; every function is deterministic, and every client-visible problem is
an :class:`~vertexchat.errors.InvalidRequestError` naming the field.

Conversation repair. Claude refuses conversations OpenAI clients send every day, so the
translation never sends what Claude rejects and repairs what it can:

- ``system`` and ``developer`` messages, wherever they stand, become Claude's ``system``.
- Empty and whitespace-only text parts are dropped, then messages left empty, then
  consecutive same-role messages are merged (Claude needs user/assistant alternation).
- A conversation that opens with an assistant message gets a short user turn in front
  (``OPENING_USER_TEXT``), because Claude's first message must be a user message.
- Tool results come first in their user turn; signed thinking comes first in its assistant
  turn. A tool call the client never answered gets an error ``tool_result`` saying so,
  since Claude requires a result for every ``tool_use`` in the very next user turn.
- Tool-call ids Claude would reject are replaced by ``call_`` + a sha256 prefix (also when
  a client reuses an id from an earlier turn); ``ClaudeRequest.tool_ids`` maps them back.
- The final assistant message (a prefill) is right-stripped, and dropped when nothing but
  thinking is left of it.

What cannot be repaired is a 400: no non-system message with content; a tool message that
answers no tool call of the assistant message just before it; a second result for a call.

Structured output. ``response_format`` ``json_object`` / ``json_schema`` is implemented
with an internal tool (``JSON_TOOL``, renamed if a client tool has that name) whose input
schema is the requested schema; the reply's tool input becomes the message ``content`` and
the internal tool never appears in ``tool_calls``. Without thinking the tool is forced
(``tool_choice`` ``tool``), or, when the client's own tools may be called, ``any`` so that
Claude either calls a client tool or answers through ours. Thinking forbids a forced tool
choice, so then ``tool_choice`` is ``auto`` plus a system instruction to answer through the
tool; a reply that ignores it arrives as plain text. A client ``tool_choice`` of
``required`` or a named function overrides ``response_format`` (the reply is a tool call).

Sampling. Claude's temperature range is 0..1: OpenAI's values above 1 are clamped to 1.
Newer Claude models reject ``temperature`` together with ``top_p``: when both are given
``top_p`` is dropped. With thinking, Claude requires temperature 1: a client temperature
becomes 1 and ``top_p`` is dropped.

Thinking. An explicit ``thinking`` object wins over ``reasoning_effort`` (``none`` -> off,
``minimal``/``low`` -> 1024, ``medium`` -> 4096, ``high`` -> 16384 budget tokens). Claude
needs 1024 <= budget < max_tokens. Without a client max, max_tokens becomes budget + the
default max; a client max caps thinking and answer together (as OpenAI's
``max_completion_tokens`` does), so the budget is clamped to max - 1, and a max of 1024 or
less cannot hold any thinking (400).

Replies. ``stop_reason`` maps by table (``FINISH_REASONS``); unknown future values map to
``stop``. Usage counts cached prompt tokens into ``prompt_tokens`` (Claude's
``input_tokens`` excludes them) and reports cache reads as ``cached_tokens``;
``completion_tokens_details`` is omitted because Claude does not count reasoning tokens
separately.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from vertexchat.errors import InvalidRequestError
from vertexchat.openai_schema import JSON, ChatRequest, image_url_of

JSON_TOOL = "json_response"
OPENING_USER_TEXT = "(conversation start)"
MISSING_RESULT_TEXT = "No result was provided for this tool call."
MIN_THINKING_BUDGET = 1024
EFFORT_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
MAX_USER_ID = 256  # Claude's limit on metadata.user_id

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

IMAGE_MEDIA_TYPES = {
    "image/jpeg": "image/jpeg",
    "image/jpg": "image/jpeg",
    "image/png": "image/png",
    "image/gif": "image/gif",
    "image/webp": "image/webp",
}

_TOOL_ID = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_DATA_URL = re.compile(r"data:([^,;]*)((?:;[^,;]*)*),(.*)", re.DOTALL)
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
_FIRST_IN_TURN = {"user": ("tool_result",), "assistant": ("thinking", "redacted_thinking")}


@dataclass(frozen=True, slots=True)
class ClaudeRequest:
    """A Claude Messages request body plus what the reply side needs to read the answer."""

    body: JSON
    """The Messages API body, including ``model`` and ``max_tokens``; never ``stream``, which is
    the transport's choice."""
    json_tool: str | None = None
    """Name of the internal structured-output tool, when ``response_format`` asked for JSON."""
    thinking: bool = False
    tool_ids: Mapping[str, str] = field(default_factory=dict)
    """Claude tool-use id -> the client's id, for every id the translation rewrote."""

    @property
    def json_mode(self) -> bool:
        """Whether the reply may arrive through the internal JSON tool."""
        return self.json_tool is not None


def to_claude(req: ChatRequest, *, default_max_tokens: int,
              resolved_images: Mapping[str, str] | None = None) -> ClaudeRequest:
    """Translate a validated OpenAI request into a Claude Messages request.

    ``resolved_images`` maps remote image URLs (see :func:`image_urls`) to ``data:`` URLs
    fetched beforehand; remote URLs missing from it are refused.
    """
    ids = _ToolIds()
    messages = _conversation(req.messages, ids, resolved_images or {})
    budget, max_tokens = _thinking_budget(req, default_max_tokens)
    tools, tool_choice, json_tool = _tooling(req, thinking=budget is not None)
    system = _system(req.messages)
    if json_tool is not None and budget is not None:
        system.append({"type": "text", "text": _json_instruction(json_tool)})
    body: JSON = {"model": req.model, "max_tokens": max_tokens}
    if system:
        body["system"] = system
    body["messages"] = messages
    if tools:
        body["tools"] = tools
        body["tool_choice"] = tool_choice
    if budget is not None:
        body["thinking"] = {"type": "enabled", "budget_tokens": budget}
    body.update(_sampling(req, thinking=budget is not None))
    _add_options(body, req)
    return ClaudeRequest(body=body, json_tool=json_tool, thinking=budget is not None, tool_ids=ids.reverse)


def image_urls(req: ChatRequest) -> list[tuple[str, str]]:
    """Every non-``data:`` image URL in the request as ``(param, url)``, for pre-resolution."""
    return [(param, url) for param, url in _image_parts(req.messages) if not url.startswith("data:")]


def _image_parts(messages: tuple[JSON, ...]) -> Iterator[tuple[str, str]]:
    for i, message in enumerate(messages):
        content = message.get("content")
        if message["role"] != "user" or not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if part["type"] == "image_url":
                yield f"messages[{i}].content[{j}].image_url.url", image_url_of(part)


def _system(messages: tuple[JSON, ...]) -> list[JSON]:
    return [block for message in messages if message["role"] in ("system", "developer")
            for block in _text_blocks(message.get("content"))]


def _text_blocks(content: object) -> list[JSON]:
    """Text blocks for string or text-part content; Claude rejects whitespace-only text."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    if not isinstance(content, list):
        return []
    texts = (part.get("text") if part["type"] == "text" else part.get("refusal") for part in content)
    return [{"type": "text", "text": text} for text in texts if isinstance(text, str) and text.strip()]


@dataclass(slots=True)
class _Turn:
    role: str
    blocks: list[JSON]
    calls: dict[str, str] = field(default_factory=dict)  # client id -> Claude id of its latest call here
    call_ids: list[str] = field(default_factory=list)  # every Claude tool_use id of this turn
    answered: set[str] = field(default_factory=set)  # Claude ids with a result in the next user turn


class _ToolIds:
    """Assigns Claude-acceptable, conversation-unique ids to the client's tool-call ids."""

    def __init__(self) -> None:
        self.used: set[str] = set()
        self.seen: set[str] = set()
        self.reverse: dict[str, str] = {}

    def assign(self, client_id: str) -> str:
        claude_id = client_id if _TOOL_ID.fullmatch(client_id) else _hashed_id(client_id)
        n = 0
        while claude_id in self.used:  # a reused id (some clients number calls per turn)
            n += 1
            claude_id = _hashed_id(f"{client_id}#{n}")
        self.used.add(claude_id)
        self.seen.add(client_id)
        if claude_id != client_id:
            self.reverse[claude_id] = client_id
        return claude_id


def _hashed_id(client_id: str) -> str:
    return "call_" + hashlib.sha256(client_id.encode()).hexdigest()[:32]


def _conversation(messages: tuple[JSON, ...], ids: _ToolIds, images: Mapping[str, str]) -> list[JSON]:
    turns: list[_Turn] = []
    for i, message in enumerate(messages):
        role = message["role"]
        if role in ("system", "developer"):
            continue
        if role == "tool":
            blocks = [_tool_result(message, f"messages[{i}]", turns, ids)]
        elif role == "user":
            blocks = _user_blocks(message.get("content"), f"messages[{i}]", images)
        else:
            _append(turns, _assistant_turn(message, f"messages[{i}]", ids))
            continue
        _append(turns, _Turn("user", blocks))
    _answer_open_calls(turns)
    _trim_prefill(turns)
    if not turns:
        raise InvalidRequestError("messages must contain at least one user or assistant message with content.",
                                  param="messages")
    if turns[0].role == "assistant":
        turns.insert(0, _Turn("user", [{"type": "text", "text": OPENING_USER_TEXT}]))
    return [{"role": turn.role, "content": _ordered(turn)} for turn in turns]


def _append(turns: list[_Turn], turn: _Turn) -> None:
    """Add a turn, dropping it when empty and merging it into a previous same-role turn."""
    if not turn.blocks:
        return
    if turns and turns[-1].role == turn.role:
        turns[-1].blocks.extend(turn.blocks)
        turns[-1].calls.update(turn.calls)
        turns[-1].call_ids.extend(turn.call_ids)
        turns[-1].answered.update(turn.answered)
    else:
        turns.append(turn)


def _ordered(turn: _Turn) -> list[JSON]:
    # Tool results lead a user turn and signed thinking leads an assistant turn; a stable
    # partition keeps everything else in the client's order.
    first = _FIRST_IN_TURN[turn.role]
    return [b for b in turn.blocks if b["type"] in first] + [b for b in turn.blocks if b["type"] not in first]


def _user_blocks(content: object, param: str, images: Mapping[str, str]) -> list[JSON]:
    if not isinstance(content, list):
        return _text_blocks(content)
    blocks: list[JSON] = []
    for j, part in enumerate(content):
        if part["type"] == "image_url":
            blocks.append(_image_block(image_url_of(part), f"{param}.content[{j}].image_url.url", images))
        else:
            blocks.extend(_text_blocks([part]))
    return blocks


def _image_block(url: str, param: str, images: Mapping[str, str]) -> JSON:
    url = images.get(url, url)
    if url.startswith(("http://", "https://")):
        # The chat route fetches remote images beforehand (images.py); one it did not is refused.
        raise InvalidRequestError("This image URL was not fetched; send the image inline as a "
                                  "data: URL (data:image/png;base64,...).", param=param)
    match = _DATA_URL.fullmatch(url)
    if match is None or ";base64" not in match.group(2).lower():
        raise InvalidRequestError("Image URLs must be base64 data: URLs (data:image/png;base64,...).", param=param)
    media_type = IMAGE_MEDIA_TYPES.get(match.group(1).strip().lower())
    if media_type is None:
        raise InvalidRequestError(f"Unsupported image type {match.group(1)!r}; Claude accepts image/jpeg, "
                                  "image/png, image/gif and image/webp.", param=param)
    data = match.group(3)
    if not _BASE64.fullmatch(data):
        raise InvalidRequestError("The image data: URL does not hold valid base64 data.", param=param)
    return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _assistant_turn(message: JSON, param: str, ids: _ToolIds) -> _Turn:
    # Signed thinking first: Claude requires it at the start of the turn in a tool loop.
    blocks = [_thinking_block(block) for block in message.get("thinking_blocks") or []]
    blocks.extend(_text_blocks(message.get("content")))
    turn = _Turn("assistant", blocks)
    for j, call in enumerate(message.get("tool_calls") or []):
        claude_id = ids.assign(call["id"])
        turn.calls[call["id"]] = claude_id
        turn.call_ids.append(claude_id)
        arguments = _arguments(call["function"].get("arguments"), f"{param}.tool_calls[{j}].function.arguments")
        blocks.append({"type": "tool_use", "id": claude_id, "name": call["function"]["name"], "input": arguments})
    return turn


def _thinking_block(block: JSON) -> JSON:
    if block["type"] == "redacted_thinking":
        return {"type": "redacted_thinking", "data": block["data"]}
    return {"type": "thinking", "thinking": block["thinking"], "signature": block["signature"]}


def _arguments(arguments: str | None, param: str) -> JSON:
    if not arguments or not arguments.strip():
        return {}
    try:
        value = json.loads(arguments)
    except ValueError:
        raise InvalidRequestError("Tool call arguments must be a JSON object encoded as a string.",
                                  param=param) from None
    if not isinstance(value, dict):
        raise InvalidRequestError("Tool call arguments must be a JSON object.", param=param)
    return value


def _tool_result(message: JSON, param: str, turns: list[_Turn], ids: _ToolIds) -> JSON:
    client_id: str = message["tool_call_id"]
    previous = _previous_assistant(turns)
    claude_id = previous.calls.get(client_id) if previous else None
    if previous is None or claude_id is None:
        where = ("an earlier assistant message, not the one just before it" if client_id in ids.seen
                 else "no earlier assistant tool call")
        raise InvalidRequestError(f"tool_call_id {client_id!r} matches {where}; tool messages must answer the "
                                  "tool_calls of the preceding assistant message.", param=f"{param}.tool_call_id")
    if claude_id in previous.answered:
        raise InvalidRequestError(f"Tool call {client_id!r} has more than one tool message.",
                                  param=f"{param}.tool_call_id")
    previous.answered.add(claude_id)
    result: JSON = {"type": "tool_result", "tool_use_id": claude_id}
    content = _text_blocks(message.get("content"))
    if content:  # Claude accepts a result without content, never an empty text block
        result["content"] = content
    return result


def _previous_assistant(turns: list[_Turn]) -> _Turn | None:
    if turns and turns[-1].role == "assistant":
        return turns[-1]
    if len(turns) >= 2:
        return turns[-2]
    return None


def _answer_open_calls(turns: list[_Turn]) -> None:
    """Give every unanswered tool call an error result in the next user turn."""
    for k, turn in enumerate(turns):  # turns only grows at the end, by a turn with no calls
        missing = [claude_id for claude_id in turn.call_ids if claude_id not in turn.answered]
        if not missing:
            continue
        results = [{"type": "tool_result", "tool_use_id": claude_id, "is_error": True,
                    "content": [{"type": "text", "text": MISSING_RESULT_TEXT}]} for claude_id in missing]
        if k + 1 < len(turns):
            turns[k + 1].blocks.extend(results)
        else:
            turns.append(_Turn("user", results))


def _trim_prefill(turns: list[_Turn]) -> None:
    # Claude rejects a final assistant message ending in whitespace; one holding nothing but
    # thinking prefills nothing and is dropped too.
    if not turns or turns[-1].role != "assistant":
        return
    last = turns[-1]
    last.blocks = _ordered(last)  # the text that ends the turn is the one after any thinking
    while last.blocks and last.blocks[-1]["type"] == "text":
        text = last.blocks[-1]["text"].rstrip()
        if text:
            last.blocks[-1] = {"type": "text", "text": text}
            return
        last.blocks.pop()
    if all(block["type"] in _FIRST_IN_TURN["assistant"] for block in last.blocks):
        turns.pop()


def _thinking_budget(req: ChatRequest, default_max_tokens: int) -> tuple[int | None, int]:
    """The thinking budget (None when off) and the max_tokens to send."""
    budget = _requested_budget(req)
    if budget is None:
        return None, req.max_tokens or default_max_tokens
    if req.max_tokens is None:
        return budget, budget + default_max_tokens
    if req.max_tokens <= MIN_THINKING_BUDGET:
        raise InvalidRequestError(
            f"{req.max_tokens_param} must be above {MIN_THINKING_BUDGET} when thinking is on: Claude's thinking "
            f"budget is at least {MIN_THINKING_BUDGET} tokens and must be below max_tokens.",
            param=req.max_tokens_param)
    return min(budget, req.max_tokens - 1), req.max_tokens


def _requested_budget(req: ChatRequest) -> int | None:
    if req.thinking is not None:
        if req.thinking["type"] == "disabled":
            return None
        budget: int = req.thinking["budget_tokens"]
        if budget < MIN_THINKING_BUDGET:
            raise InvalidRequestError(f"thinking.budget_tokens must be at least {MIN_THINKING_BUDGET}.",
                                      param="thinking.budget_tokens")
        return budget
    return EFFORT_BUDGETS.get(req.reasoning_effort or "none")


def _tooling(req: ChatRequest, *, thinking: bool) -> tuple[list[JSON], JSON | None, str | None]:
    """Claude ``tools``, ``tool_choice`` and the internal JSON tool's name (if any)."""
    tools = [_claude_tool(tool["function"]) for tool in req.tools]
    choice = _client_tool_choice(req.tool_choice, {tool["name"] for tool in tools})
    if thinking and choice is not None and choice["type"] in ("any", "tool"):
        raise InvalidRequestError("Claude cannot be forced to call a tool while thinking: use tool_choice "
                                  "'auto' or 'none', or turn thinking off.", param="tool_choice")
    schema = _json_schema(req.response_format)
    json_tool = None
    if schema is not None and (choice is None or choice["type"] in ("auto", "none")):
        json_tool = _free_name(JSON_TOOL, {tool["name"] for tool in tools})
        tools.append({"name": json_tool, "description": _json_description(req.response_format), "input_schema": schema})
        choice = _json_choice(choice, json_tool, thinking=thinking, client_tools=bool(req.tools))
    if not tools:
        return [], None, None
    choice = choice or {"type": "auto"}
    if req.parallel_tool_calls is False and choice["type"] != "none":
        choice["disable_parallel_tool_use"] = True
    return tools, choice, json_tool


def _claude_tool(function: JSON) -> JSON:
    tool: JSON = {"name": function["name"]}
    if function.get("description"):
        tool["description"] = function["description"]
    parameters = function.get("parameters")
    if parameters is None:
        tool["input_schema"] = {"type": "object", "properties": {}}
    else:
        # Claude requires the root "type"; OpenAI lets clients omit it ({} is common).
        tool["input_schema"] = parameters if "type" in parameters else {"type": "object", **parameters}
    return tool


def _client_tool_choice(choice: str | JSON | None, names: set[str]) -> JSON | None:
    if choice is None:
        return None
    if isinstance(choice, dict):
        name = choice["function"]["name"]
        if name not in names:
            raise InvalidRequestError(f"tool_choice names the function {name!r}, which is not in tools.",
                                      param="tool_choice")
        return {"type": "tool", "name": name}
    if choice == "required" and not names:
        raise InvalidRequestError("tool_choice 'required' needs at least one tool in tools.", param="tool_choice")
    return {"type": {"auto": "auto", "none": "none", "required": "any"}[choice]}


def _json_schema(response_format: JSON | None) -> JSON | None:
    if response_format is None or response_format["type"] == "text":
        return None
    schema = (response_format.get("json_schema") or {}).get("schema")
    if schema is None:
        return {"type": "object"}
    return schema if "type" in schema else {"type": "object", **schema}


def _json_description(response_format: JSON | None) -> str:
    described = ((response_format or {}).get("json_schema") or {}).get("description")
    base = "Give your final answer to the user by calling this tool: its input is the answer."
    return f"{base} {described}" if described else base


def _json_instruction(json_tool: str) -> str:
    return (f"Give your final answer by calling the {json_tool} tool with the answer as its input, "
            "not as plain text.")


def _json_choice(choice: JSON | None, json_tool: str, *, thinking: bool, client_tools: bool) -> JSON:
    if thinking:  # forced tool use is not allowed with thinking; a system instruction asks instead
        return {"type": "auto"}
    if client_tools and (choice is None or choice["type"] == "auto"):
        return {"type": "any"}  # call a client tool, or answer through ours
    return {"type": "tool", "name": json_tool}


def _free_name(name: str, taken: set[str]) -> str:
    candidate, n = name, 0
    while candidate in taken:
        n += 1
        candidate = f"{name}_{n}"
    return candidate


def _sampling(req: ChatRequest, *, thinking: bool) -> JSON:
    if thinking:
        return {"temperature": 1.0} if req.temperature is not None else {}
    if req.temperature is not None:
        return {"temperature": min(req.temperature, 1.0)}
    if req.top_p is not None:
        return {"top_p": req.top_p}
    return {}


def _add_options(body: JSON, req: ChatRequest) -> None:
    stop = [s for s in req.stop if s.strip()]  # Claude rejects whitespace-only stop sequences
    if stop:
        body["stop_sequences"] = stop
    if req.user:
        user = req.user
        if len(user) > MAX_USER_ID:
            user = hashlib.sha256(user.encode()).hexdigest()
        body["metadata"] = {"user_id": user}


def finish_reason(stop_reason: str | None, *, json_mode: bool) -> str:
    """OpenAI ``finish_reason`` for a Claude ``stop_reason``.

    ``json_mode`` is true when the reply answered through the internal JSON tool (and
    called no client tool): that ``tool_use`` stop is a normal ``stop`` to the client.
    """
    if json_mode and stop_reason == "tool_use":
        return "stop"
    return FINISH_REASONS.get(stop_reason or "", "stop")


def usage_from_claude(usage: Mapping[str, Any] | None) -> JSON:
    """OpenAI ``usage`` from Claude's; cached prompt tokens count as prompt tokens."""
    usage = usage or {}
    cache_read = usage.get("cache_read_input_tokens") or 0
    prompt = (usage.get("input_tokens") or 0) + cache_read + (usage.get("cache_creation_input_tokens") or 0)
    completion = usage.get("output_tokens") or 0
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cache_read},
    }


def to_openai_completion(message: Mapping[str, Any], *, request: ClaudeRequest, completion_id: str,
                         created: int, model: str) -> JSON:
    """A ``chat.completion`` from a complete Claude message (non-streamed or accumulated)."""
    reply, json_answer = openai_message(message.get("content") or [], json_tool=request.json_tool)
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "system_fingerprint": None,
        "choices": [{
            "index": 0,
            "message": reply,
            "logprobs": None,
            "finish_reason": finish_reason(message.get("stop_reason"),
                                           json_mode=json_answer and "tool_calls" not in reply),
        }],
        "usage": usage_from_claude(message.get("usage")),
    }


def openai_message(blocks: list[JSON], *, json_tool: str | None) -> tuple[JSON, bool]:
    """The assistant message for Claude content blocks, and whether the JSON tool answered."""
    content: list[str] = []
    reasoning: list[str] = []
    thinking_blocks: list[JSON] = []
    tool_calls: list[JSON] = []
    json_answer = False
    for block in blocks:
        kind = block.get("type")
        if kind == "text":
            content.append(block["text"])
        elif kind == "tool_use" and block["name"] == json_tool:
            json_answer = True
            content.append(json.dumps(block.get("input") or {}, ensure_ascii=False))
        elif kind == "tool_use":
            tool_calls.append(openai_tool_call(block))
        elif kind in ("thinking", "redacted_thinking"):
            reasoning.append(block.get("thinking") or "")
            if block.get("signature") or block.get("data"):
                thinking_blocks.append(_thinking_block(block))
        # Other block types (server tools, future ones) have no OpenAI form and are skipped.
    return assistant_message("".join(content), tool_calls, "".join(reasoning), thinking_blocks), json_answer


def openai_tool_call(block: Mapping[str, Any]) -> JSON:
    """An OpenAI ``tool_calls`` entry for a Claude ``tool_use`` block."""
    return {
        "id": block["id"],
        "type": "function",
        "function": {"name": block["name"], "arguments": json.dumps(block.get("input") or {}, ensure_ascii=False)},
    }


def assistant_message(content: str, tool_calls: list[JSON], reasoning: str, thinking_blocks: list[JSON]) -> JSON:
    """The OpenAI assistant message; shared with the stream side so both shapes match."""
    # Empty fields are left out rather than sent empty, as OpenAI does for tool_calls.
    message: JSON = {"role": "assistant", "content": content or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    if reasoning:
        message["reasoning_content"] = reasoning
    if thinking_blocks:
        message["thinking_blocks"] = thinking_blocks
    return message
