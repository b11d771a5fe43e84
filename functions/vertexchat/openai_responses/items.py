"""PURE: Responses input items <-> the chat-shaped messages that the chat codec and the sessions speak.

A Responses conversation is a list of items; vertexchat's sessions and the chat codec's
conversation repair work on OpenAI chat messages. Each item becomes one chat message, so
Claude sees the same conversation either way and a response chain reads back through
``GET /v1/sessions/{id}/messages``:

- ``message`` (``input_text``, ``input_image``, ``output_text``, ``refusal`` parts) -> a chat
  message of the same role (``image_url`` parts for images);
- ``function_call`` -> an assistant message with one ``tool_calls`` entry (``call_id`` is the id);
- ``function_call_output`` -> a ``tool`` message answering ``call_id``;
- ``reasoning`` with ``encrypted_content`` -> an assistant message carrying the signed thinking
  block it encodes (without it, the item holds nothing Claude can take back and is skipped);
- ``item_reference`` -> the stored item it names (resolved by the route beforehand).

Consecutive assistant messages merge into one Claude turn in ``openai_chat.conversation``.

``encrypted_content`` is Claude's signed thinking, base64 JSON: not secret (the summary shows
the text), but Claude verifies the signature, so a client cannot alter it.

Tested in tests/test_responses_codec.py.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from vertexchat.errors import InvalidRequestError, NotFoundError

JSON = dict[str, Any]

ROLES = ("user", "system", "developer", "assistant")
_TEXT_PARTS = ("input_text", "output_text")
_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco", "reasoning": "rs"}
_ENCRYPTED_PREFIX = "vxc1."
_UNSUPPORTED_PARTS = {"input_file": "file inputs", "input_audio": "audio inputs"}


def new_item_id(kind: str) -> str:
    """A fresh id for an item of this type (``msg_...``, ``fc_...``)."""
    return f"{_PREFIX.get(kind, 'item')}_{uuid.uuid4().hex}"


def item_type(item: Mapping[str, Any]) -> str:
    """An item's type; the SDKs send messages as ``{"role", "content"}`` without one."""
    kind = item.get("type")
    return "message" if kind is None and "role" in item else str(kind)


def references(items: tuple[JSON, ...]) -> list[tuple[str, str]]:
    """Every ``item_reference`` as ``(param, id)``, for resolving from the store."""
    found = []
    for i, item in enumerate(items):
        if item_type(item) == "item_reference":
            ref = item.get("id")
            if not isinstance(ref, str) or not ref:
                _fail("item_reference needs the id of a stored item.", f"input[{i}].id")
            found.append((f"input[{i}].id", ref))
    return found


def resolved(items: tuple[JSON, ...], stored: Mapping[str, JSON]) -> tuple[JSON, ...]:
    """The input with each ``item_reference`` replaced by the stored item (404 when there is none)."""
    out = []
    for i, item in enumerate(items):
        if item_type(item) == "item_reference":
            ref = item["id"]
            if ref not in stored:
                raise NotFoundError(f"Item with id {ref!r} not found.", param=f"input[{i}].id")
            out.append(dict(stored[ref]))
        else:
            out.append(item)
    return tuple(out)


def with_ids(items: tuple[JSON, ...]) -> tuple[tuple[JSON, ...], set[str]]:
    """The items, each with an ``id`` (new ones assigned), and the ids assigned here."""
    assigned: set[str] = set()
    out = []
    for item in items:
        if isinstance(item.get("id"), str) and item["id"]:
            out.append(item)
            continue
        kind = item_type(item)
        item_id = new_item_id(kind)
        assigned.add(item_id)
        out.append({"id": item_id, "type": kind, **{k: v for k, v in item.items() if k not in ("id", "type")}})
    return tuple(out), assigned


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a chat message came from: the item's param, and per tool call the param of its item."""

    param: str
    calls: tuple[str, ...] = ()


def chat_messages(items: tuple[JSON, ...]) -> tuple[list[JSON], list[Origin]]:
    """Chat messages for resolved input items, and for each where it came from.

    Consecutive assistant items (text, function calls, reasoning) make one assistant message,
    as vertexchat stores a reply: a client resending its output (in full or by reference)
    continues the stored transcript instead of branching it.
    """
    messages: list[JSON] = []
    origins: list[Origin] = []
    for i, item in enumerate(items):
        param = f"input[{i}]"
        for message in _convert(item, param):
            calls = tuple(param for _ in message.get("tool_calls") or ())
            if message["role"] == "assistant" and messages and messages[-1]["role"] == "assistant" \
                    and origins[-1].param.startswith("input["):
                messages[-1] = _merged(messages[-1], message)
                origins[-1] = Origin(origins[-1].param, origins[-1].calls + calls)
            else:
                messages.append(message)
                origins.append(Origin(param, calls))
    return messages, origins


def _merged(first: JSON, second: JSON) -> JSON:
    merged: JSON = {"role": "assistant", "content": _text_parts(first) + _text_parts(second) or None}
    for key in ("tool_calls", "thinking_blocks"):
        joined = [*(first.get(key) or ()), *(second.get(key) or ())]
        if joined:
            merged[key] = joined
    return merged


def _text_parts(message: JSON) -> list[JSON]:
    content = message.get("content")
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content or [])


def encrypt_thinking(block: Mapping[str, Any]) -> str:
    """``encrypted_content`` for a signed thinking or redacted thinking block."""
    if block.get("type") == "redacted_thinking":
        kept = {"type": "redacted_thinking", "data": block.get("data")}
    else:
        kept = {"type": "thinking", "thinking": block.get("thinking") or "", "signature": block.get("signature")}
    return _ENCRYPTED_PREFIX + base64.b64encode(json.dumps(kept, separators=(",", ":")).encode()).decode()


def _fail(message: str, param: str) -> NoReturn:
    raise InvalidRequestError(message, param=param)


def _convert(item: JSON, param: str) -> Iterator[JSON]:
    kind = item_type(item)
    if kind == "message":
        yield _message(item, param)
    elif kind == "function_call":
        yield _function_call(item, param)
    elif kind == "function_call_output":
        yield _function_output(item, param)
    elif kind == "reasoning":
        encrypted = item.get("encrypted_content")
        if encrypted is not None:
            yield {"role": "assistant", "content": None,
                   "thinking_blocks": [_decrypt(encrypted, f"{param}.encrypted_content")]}
    else:
        _fail(f"{param}.type {kind!r} is not supported: input items are message, function_call, "
              "function_call_output, reasoning and item_reference.", f"{param}.type")


def _message(item: JSON, param: str) -> JSON:
    role = item.get("role")
    if role not in ROLES:
        _fail(f"{param}.role must be one of: {', '.join(ROLES)}.", f"{param}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        _fail(f"{param}.content must be a string or an array of content parts.", f"{param}.content")
    return {"role": role, "content": [_part(part, f"{param}.content[{j}]", str(role))
                                      for j, part in enumerate(content)]}


def _part(part: object, param: str, role: str) -> JSON:
    if not isinstance(part, dict):
        _fail(f"{param} must be an object.", param)
    kind = part.get("type")
    if kind in _TEXT_PARTS or (kind == "refusal" and role == "assistant"):
        text = part.get("refusal" if kind == "refusal" else "text")
        if not isinstance(text, str):
            _fail(f"{param}.text must be a string.", f"{param}.text")
        return {"type": "text", "text": text}
    if kind == "input_image" and role == "user":
        url = part.get("image_url")
        if part.get("file_id") is not None or not isinstance(url, str) or not url:
            _fail("input_image needs an image_url (a data: URL or http(s) URL); file ids are not supported.",
                  f"{param}.image_url")
        return {"type": "image_url", "image_url": {"url": url}}
    what = _UNSUPPORTED_PARTS.get(str(kind), f"{kind!r} parts in {role} messages")
    _fail(f"{param}.type: {what} are not supported.", f"{param}.type")


def _function_call(item: JSON, param: str) -> JSON:
    call_id, name, arguments = item.get("call_id"), item.get("name"), item.get("arguments")
    if not isinstance(call_id, str) or not call_id:
        _fail(f"{param}.call_id must be a non-empty string.", f"{param}.call_id")
    if not isinstance(name, str) or not name:
        _fail(f"{param}.name must be a non-empty string.", f"{param}.name")
    if arguments is not None and not isinstance(arguments, str):
        _fail(f"{param}.arguments must be a JSON string.", f"{param}.arguments")
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": call_id, "type": "function", "function": {"name": name,
                                                                            "arguments": arguments or "{}"}}]}


def _function_output(item: JSON, param: str) -> JSON:
    call_id, output = item.get("call_id"), item.get("output")
    if not isinstance(call_id, str) or not call_id:
        _fail(f"{param}.call_id must be a non-empty string.", f"{param}.call_id")
    if isinstance(output, str):
        return {"role": "tool", "tool_call_id": call_id, "content": output}
    if not isinstance(output, list):
        _fail(f"{param}.output must be a string or an array of input_text parts.", f"{param}.output")
    parts = []
    for j, part in enumerate(output):
        if not isinstance(part, dict) or part.get("type") != "input_text" or not isinstance(part.get("text"), str):
            _fail("Function call outputs may hold text only (input_text parts).", f"{param}.output[{j}]")
        parts.append({"type": "text", "text": part["text"]})
    return {"role": "tool", "tool_call_id": call_id, "content": parts}


def _decrypt(value: object, param: str) -> JSON:
    try:
        if not isinstance(value, str) or not value.startswith(_ENCRYPTED_PREFIX):
            raise ValueError
        block = json.loads(base64.b64decode(value[len(_ENCRYPTED_PREFIX):], validate=True))
    except (ValueError, binascii.Error):
        _fail("encrypted_content is not one this service produced; send it back unchanged.", param)
    if not isinstance(block, dict):
        _fail("encrypted_content is not one this service produced; send it back unchanged.", param)
    if block.get("type") == "redacted_thinking" and isinstance(block.get("data"), str) and block["data"]:
        return block
    if block.get("type") == "thinking" and isinstance(block.get("signature"), str) and block["signature"] \
            and isinstance(block.get("thinking"), str):
        return block
    _fail("encrypted_content is not one this service produced; send it back unchanged.", param)
