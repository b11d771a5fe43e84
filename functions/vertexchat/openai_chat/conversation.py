"""PURE: OpenAI chat messages -> Claude ``system`` blocks and ``messages``, repaired.

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
  a client reuses an id from an earlier turn).
- The final assistant message (a prefill) is right-stripped, and dropped when nothing but
  thinking is left of it.

What cannot be repaired is a 400: no non-system message with content; a tool message that
answers no tool call of the assistant message just before it; a second result for a call.

Tested in tests/test_translate.py. Tested in tests/test_translate_properties.py.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from vertexchat.errors import InvalidRequestError
from vertexchat.openai_chat.reply import thinking_block
from vertexchat.openai_chat.schema import JSON, image_url_of

OPENING_USER_TEXT = "(conversation start)"
MISSING_RESULT_TEXT = "No result was provided for this tool call."

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


def claude_messages(messages: tuple[JSON, ...], images: Mapping[str, str]) -> list[JSON]:
    """Claude's ``messages`` for an OpenAI conversation."""
    return _conversation(messages, _ToolIds(), images)


def system_blocks(messages: tuple[JSON, ...]) -> list[JSON]:
    """Every ``system`` and ``developer`` message's text, in order, as Claude ``system`` blocks."""
    return _system(messages)


def leading_system_blocks(messages: tuple[JSON, ...]) -> int:
    """How many ``system`` blocks come from the first message, when it is a system message.

    That is the stable system prefix (the system prompt). Only the first message: a client that
    adds a note each turn sends its first note next to the prompt, before the conversation starts,
    and a later note after it; counting the first note in would move the breakpoint every turn.
    """
    if not messages or messages[0]["role"] not in ("system", "developer"):
        return 0
    return len(_text_blocks(messages[0].get("content")))


def remote_image_urls(messages: tuple[JSON, ...]) -> list[tuple[str, str]]:
    """Every non-``data:`` image URL as ``(param, url)``, for fetching before translation."""
    return [(param, url) for param, url in _image_parts(messages) if not url.startswith("data:")]


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
            for block in _cached(_text_blocks(message.get("content")), message)]


def _cached(blocks: list[JSON], carrier: JSON) -> list[JSON]:
    """``blocks`` with the client's ``cache_control`` (on a message or part) on the last cacheable one.

    The convention of LiteLLM and Anthropic's OpenAI-compatibility notes: a message's
    ``cache_control`` marks its last block; a part's marks the block made from it.
    """
    control = carrier.get("cache_control")
    if control is None:
        return blocks
    for block in reversed(blocks):
        if block["type"] not in _FIRST_IN_TURN["assistant"]:
            block["cache_control"] = control
            break
    return blocks


def _text_blocks(content: object) -> list[JSON]:
    """Text blocks for string or text-part content; Claude rejects whitespace-only text."""
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content.strip() else []
    if not isinstance(content, list):
        return []
    blocks: list[JSON] = []
    for part in content:
        text = part.get("text") if part["type"] == "text" else part.get("refusal")
        if isinstance(text, str) and text.strip():
            blocks.extend(_cached([{"type": "text", "text": text}], part))
    return blocks


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

    def assign(self, client_id: str) -> str:
        claude_id = client_id if _TOOL_ID.fullmatch(client_id) else _hashed_id(client_id)
        n = 0
        while claude_id in self.used:  # a reused id (some clients number calls per turn)
            n += 1
            claude_id = _hashed_id(f"{client_id}#{n}")
        self.used.add(claude_id)
        self.seen.add(client_id)
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
            turn = _assistant_turn(message, f"messages[{i}]", ids)
            _cached(turn.blocks, message)
            _append(turns, turn)
            continue
        _append(turns, _Turn("user", _cached(blocks, message)))
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
            image = _image_block(image_url_of(part), f"{param}.content[{j}].image_url.url", images)
            blocks.extend(_cached([image], part))
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
    blocks = [thinking_block(block) for block in message.get("thinking_blocks") or []]
    blocks.extend(_text_blocks(message.get("content")))
    turn = _Turn("assistant", blocks)
    for j, call in enumerate(message.get("tool_calls") or []):
        claude_id = ids.assign(call["id"])
        turn.calls[call["id"]] = claude_id
        turn.call_ids.append(claude_id)
        arguments = _arguments(call["function"].get("arguments"), f"{param}.tool_calls[{j}].function.arguments")
        blocks.append({"type": "tool_use", "id": claude_id, "name": call["function"]["name"], "input": arguments})
    return turn



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
            last.blocks[-1] = {**last.blocks[-1], "text": text}
            return
        last.blocks.pop()
    if all(block["type"] in _FIRST_IN_TURN["assistant"] for block in last.blocks):
        turns.pop()
