"""PURE translation: an OpenAI Chat Completions request -> a Claude Messages request.

The messages themselves are converted (and repaired) in ``conversation.py``; replies go
back through ``reply.py``.

Nothing here does I/O; every function is deterministic, and every client-visible problem is
an :class:`~vertexchat.errors.InvalidRequestError` naming the field.

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
``max_completion_tokens`` does), so a budget that does not fit below it becomes the largest
power of two (from 1024) that does: never ``max - 1``, which would change the thinking settings,
and with them the cached prompt, whenever a client's max moves. A max of 1024 or less cannot
hold any thinking (400).

Tested in tests/test_translate.py. Tested in tests/test_translate_properties.py.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from vertexchat.caching import Stable
from vertexchat.errors import InvalidRequestError
from vertexchat.openai_chat.conversation import claude_messages, leading_system_blocks, remote_image_urls, system_blocks
from vertexchat.openai_chat.schema import JSON, ChatRequest

JSON_TOOL = "json_response"
MIN_THINKING_BUDGET = 1024
EFFORT_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
MAX_USER_ID = 256  # Claude's limit on metadata.user_id





@dataclass(frozen=True, slots=True)
class ClaudeRequest:
    """A Claude Messages request body plus what the reply side needs to read the answer."""

    body: JSON
    """The Messages API body, including ``model`` and ``max_tokens``; never ``stream``, which is
    the transport's choice."""
    json_tool: str | None = None
    """Name of the internal structured-output tool, when ``response_format`` asked for JSON."""
    thinking: bool = False
    stable: Stable = field(default_factory=Stable)
    """How much of ``tools`` and ``system`` is the same every turn (the client's tools; the first
    message's system blocks), for the cache breakpoints (``caching.py``)."""

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
    messages = claude_messages(req.messages, resolved_images or {})
    budget, max_tokens = _thinking_budget(req, default_max_tokens)
    tools, tool_choice, json_tool = _tooling(req, thinking=budget is not None)
    system = system_blocks(req.messages)
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
    stable = Stable(tools=len(req.tools), system=leading_system_blocks(req.messages))
    return ClaudeRequest(body=body, json_tool=json_tool, thinking=budget is not None, stable=stable)


def image_urls(req: ChatRequest) -> list[tuple[str, str]]:
    """Every non-``data:`` image URL in the request as ``(param, url)``, for pre-resolution."""
    return remote_image_urls(req.messages)


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
    return _budget_below(budget, req.max_tokens), req.max_tokens


def _budget_below(budget: int, max_tokens: int) -> int:
    """The requested budget, or when it does not fit below max_tokens the largest power of two that does.

    Not ``max_tokens - 1``: the thinking settings are part of Claude's cached prefix, so a client
    whose max_tokens moves a little from turn to turn must keep the same budget.
    """
    if budget < max_tokens:
        return budget
    step = MIN_THINKING_BUDGET
    while step * 2 < max_tokens:
        step *= 2
    return step


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
    tools = [_claude_tool(tool) for tool in req.tools]
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


def _claude_tool(client_tool: JSON) -> JSON:
    function = client_tool["function"]
    tool: JSON = {"name": function["name"]}
    if function.get("description"):
        tool["description"] = function["description"]
    parameters = function.get("parameters")
    if parameters is None:
        tool["input_schema"] = {"type": "object", "properties": {}}
    else:
        # Claude requires the root "type"; OpenAI lets clients omit it ({} is common).
        tool["input_schema"] = parameters if "type" in parameters else {"type": "object", **parameters}
    # An explicit breakpoint, on the tool (LiteLLM's place) or inside its function.
    control = client_tool.get("cache_control") or function.get("cache_control")
    if control is not None:
        tool["cache_control"] = control
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
