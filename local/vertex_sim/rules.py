"""PURE: the Claude request rules the real API enforces, so translator bugs fail here as they would upstream.

`first_violation(body)` returns the message of the first broken rule (None when the body is fine).
The messages name the offending field the way Claude's own 400s do (`messages.1.content.0: ...`).
Vertex's own acceptance rules (top-level fields, beta values) live in envelope.py, the prompt-caching
breakpoint rules in prompt.py; both are applied from here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection, Iterator, Mapping
from functools import partial
from typing import Any

from local.vertex_sim.envelope import INTERLEAVED_THINKING, field_violations
from local.vertex_sim.prompt import marker_violations, markers

ID_PATTERN = re.compile(r"^[a-zA-Z0-9_-]+$")
TOOL_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9_-]{1,128}$")
IMAGE_MEDIA_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
DOCUMENT_SOURCES = frozenset({"base64", "text", "content"})
MIN_THINKING_BUDGET = 1024

Violations = Iterator[str]


def first_violation(body: Any, *, count_tokens: bool = False, betas: Collection[str] = (),
                    model: str | None = None) -> str | None:
    """Check a rawPredict/streamRawPredict body (or a count-tokens body, which has no max_tokens).

    `betas` are the request's `anthropic-beta` values (some fields and limits depend on them);
    `model` is the Vertex model id the body is for (from the URL, or the count-tokens body).
    """
    if not isinstance(body, Mapping):
        return "request body must be a JSON object"
    fields = partial(field_violations, count_tokens=count_tokens, betas=betas, model=model)
    checks: list[Callable[[Mapping[str, Any]], Violations]] = [_envelope, fields, _cache_control, _messages,
                                                                _system, _tools]
    if not count_tokens:
        checks += [_max_tokens, partial(_thinking, betas=betas), _sampling]
    for check in checks:
        for violation in check(body):
            return violation
    return None


def _cache_control(body: Mapping[str, Any]) -> Violations:
    if isinstance(body.get("messages"), list):
        yield from marker_violations(markers(body))


def _envelope(body: Mapping[str, Any]) -> Violations:
    if not isinstance(body.get("anthropic_version"), str) or not body["anthropic_version"]:
        yield "anthropic_version: Field required (Vertex AI needs it in the body, e.g. 'vertex-2023-10-16')"
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        yield "messages: Field required: a non-empty list of messages"


def _max_tokens(body: Mapping[str, Any]) -> Violations:
    value = body.get("max_tokens")
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        yield "max_tokens: Field required: an integer >= 1"


def _messages(body: Mapping[str, Any]) -> Violations:
    messages = body["messages"]
    for index, message in enumerate(messages):
        yield from _message(message, f"messages.{index}", final=index == len(messages) - 1)
    yield from _tool_pairing(messages)


def _message(message: Any, where: str, *, final: bool) -> Violations:
    if not isinstance(message, Mapping) or message.get("role") not in ("user", "assistant"):
        yield f"{where}: a message must be an object with role 'user' or 'assistant'"
        return
    content = message.get("content")
    final_assistant = final and message["role"] == "assistant"
    if not isinstance(content, (str, list)):
        yield f"{where}.content: must be a string or a list of content blocks"
    elif not content and not final_assistant:
        yield f"{where}: all messages must have non-empty content except for the optional final assistant message"
    elif isinstance(content, list):
        for index, block in enumerate(content):
            yield from _block(block, f"{where}.content.{index}")
    if final_assistant and _ends_in_whitespace(content):
        yield f"{where}: final assistant content cannot end with trailing whitespace"


def _ends_in_whitespace(content: Any) -> bool:
    if isinstance(content, list) and content and isinstance(content[-1], Mapping):
        content = content[-1].get("text") if content[-1].get("type") == "text" else None
    return isinstance(content, str) and content != content.rstrip()


def _block(block: Any, where: str) -> Violations:
    if not isinstance(block, Mapping) or not isinstance(block.get("type"), str):
        yield f"{where}: a content block must be an object with a 'type'"
        return
    check = BLOCK_CHECKS.get(block["type"])
    if check is not None:
        yield from check(block, where)


def _text(block: Mapping[str, Any], where: str) -> Violations:
    text = block.get("text")
    if not isinstance(text, str) or not text:
        yield f"{where}.text: text content blocks must be non-empty"
    elif not text.strip():
        yield f"{where}.text: text content blocks must contain non-whitespace text"


def _image(block: Mapping[str, Any], where: str) -> Violations:
    source = block.get("source")
    if not isinstance(source, Mapping) or source.get("type") != "base64":
        yield f"{where}.source: image sources must be base64 on Vertex AI (URL sources are not supported)"
    elif source.get("media_type") not in IMAGE_MEDIA_TYPES:
        yield f"{where}.source.media_type: must be one of {sorted(IMAGE_MEDIA_TYPES)}"
    elif not isinstance(source.get("data"), str) or not source["data"]:
        yield f"{where}.source.data: base64 image data must be a non-empty string"


def _document(block: Mapping[str, Any], where: str) -> Violations:
    source = block.get("source")
    if not isinstance(source, Mapping) or source.get("type") not in DOCUMENT_SOURCES:
        yield f"{where}.source: document sources must be base64, text or content on Vertex AI"


def _tool_use(block: Mapping[str, Any], where: str) -> Violations:
    if not isinstance(block.get("id"), str) or not ID_PATTERN.match(block["id"]):
        yield f"{where}.id: String should match pattern '^[a-zA-Z0-9_-]+$'"
    if not isinstance(block.get("name"), str) or not block["name"]:
        yield f"{where}.name: Field required"
    if not isinstance(block.get("input"), Mapping):
        yield f"{where}.input: Input should be a valid dictionary"


def _tool_result(block: Mapping[str, Any], where: str) -> Violations:
    if not isinstance(block.get("tool_use_id"), str) or not ID_PATTERN.match(block["tool_use_id"]):
        yield f"{where}.tool_use_id: String should match pattern '^[a-zA-Z0-9_-]+$'"
    content = block.get("content")
    if isinstance(content, list):
        for index, inner in enumerate(content):
            yield from _block(inner, f"{where}.content.{index}")
    elif content is not None and not isinstance(content, str):
        yield f"{where}.content: must be a string or a list of content blocks"


def _thinking_block(block: Mapping[str, Any], where: str) -> Violations:
    if not isinstance(block.get("signature"), str) or not block["signature"]:
        yield f"{where}.signature: Field required (thinking blocks must be sent back with their signature)"


BLOCK_CHECKS: dict[str, Callable[[Mapping[str, Any], str], Violations]] = {
    "text": _text,
    "image": _image,
    "document": _document,
    "tool_use": _tool_use,
    "tool_result": _tool_result,
    "thinking": _thinking_block,
}


def _blocks_of(message: Any, kind: str) -> list[Mapping[str, Any]]:
    content = message.get("content") if isinstance(message, Mapping) else None
    if not isinstance(content, list):
        return []
    return [block for block in content if isinstance(block, Mapping) and block.get("type") == kind]


def _tool_pairing(messages: list[Any]) -> Violations:
    """Every tool_use needs its tool_result in the very next message, and results come first there."""
    for index, message in enumerate(messages):
        results = _blocks_of(message, "tool_result")
        previous_ids = {b.get("id") for b in _blocks_of(messages[index - 1], "tool_use")} if index else set()
        stray = [b.get("tool_use_id") for b in results if b.get("tool_use_id") not in previous_ids]
        if stray:
            yield (f"messages.{index}: unexpected `tool_use_id` found in `tool_result` blocks: {stray}. Each "
                   "`tool_result` block must have a corresponding `tool_use` block in the previous message.")
        content = message.get("content") if isinstance(message, Mapping) else None
        if results and isinstance(content, list) and content[: len(results)] != results:
            yield f"messages.{index}: `tool_result` blocks must come before any other content in the message"
        if index + 1 < len(messages):
            answered = {b.get("tool_use_id") for b in _blocks_of(messages[index + 1], "tool_result")}
            missing = [b.get("id") for b in _blocks_of(message, "tool_use") if b.get("id") not in answered]
            if missing:
                yield (f"messages.{index + 1}: `tool_use` ids were found without `tool_result` blocks immediately "
                       f"after: {missing}. Each `tool_use` block must have a corresponding `tool_result` block "
                       "in the next message.")


def _system(body: Mapping[str, Any]) -> Violations:
    system = body.get("system")
    if system is None or isinstance(system, str):
        return
    if not isinstance(system, list):
        yield "system: must be a string or a list of text blocks"
        return
    for index, block in enumerate(system):
        if not isinstance(block, Mapping) or block.get("type") != "text":
            yield f"system.{index}: system blocks must be text blocks"
        else:
            yield from _text(block, f"system.{index}")


def _tools(body: Mapping[str, Any]) -> Violations:
    tools = body.get("tools")
    if tools is None:
        return
    if not isinstance(tools, list):
        yield "tools: must be a list"
        return
    for index, tool in enumerate(tools):
        custom = isinstance(tool, Mapping) and tool.get("type") in (None, "custom")
        if custom and not TOOL_NAME_PATTERN.match(str(tool.get("name", ""))):
            yield f"tools.{index}.name: String should match pattern '^[a-zA-Z0-9_-]{{1,128}}$'"
        elif custom and not isinstance(tool.get("input_schema"), Mapping):
            yield f"tools.{index}.input_schema: Field required"


def _thinking(body: Mapping[str, Any], betas: Collection[str] = ()) -> Violations:
    thinking = body.get("thinking")
    if not isinstance(thinking, Mapping) or thinking.get("type") != "enabled":
        return
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < MIN_THINKING_BUDGET:
        yield f"thinking.enabled.budget_tokens: Input should be greater than or equal to {MIN_THINKING_BUDGET}"
    elif budget >= body["max_tokens"] and INTERLEAVED_THINKING not in betas:
        # With interleaved thinking the budget spans all thinking blocks and may exceed max_tokens
        # (Anthropic, "Extended thinking": interleaved thinking).
        yield "`max_tokens` must be greater than `thinking.budget_tokens`"
    if "temperature" in body and body["temperature"] != 1:
        yield "`temperature` may only be set to 1 when thinking is enabled"
    tool_choice = body.get("tool_choice")
    if isinstance(tool_choice, Mapping) and tool_choice.get("type") in ("any", "tool"):
        yield "Thinking may not be enabled when tool_choice forces tool use."
    yield from _thinking_leads_tool_turn(body["messages"])


def _thinking_leads_tool_turn(messages: list[Any]) -> Violations:
    """With thinking on, the assistant turn that called the tools now answered must start with its thinking."""
    last = messages[-1]
    if len(messages) < 2 or not _blocks_of(last, "tool_result"):
        return
    index = len(messages) - 2
    content = messages[index].get("content") if isinstance(messages[index], Mapping) else None
    first = content[0] if isinstance(content, list) and content else None
    if not _blocks_of(messages[index], "tool_use") or not isinstance(first, Mapping):
        return
    if first.get("type") not in ("thinking", "redacted_thinking"):
        yield (f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, but found "
               f"`{first.get('type')}`. When `thinking` is enabled, a final `assistant` message must start with "
               "a thinking block (preceeding the lastmost set of `tool_use` and `tool_result` blocks).")


def _sampling(body: Mapping[str, Any]) -> Violations:
    for name in ("temperature", "top_p"):
        value = body.get(name)
        if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool) or
                                  not 0 <= value <= 1):
            yield f"{name}: Input should be a number between 0 and 1"
    top_k = body.get("top_k")
    if top_k is not None and (not isinstance(top_k, int) or top_k < 0):
        yield "top_k: Input should be a non-negative integer"
    stops = body.get("stop_sequences")
    if stops is not None and (not isinstance(stops, list) or
                              not all(isinstance(s, str) and s.strip() for s in stops)):
        yield "stop_sequences: each stop sequence must be a string containing non-whitespace"
