"""PURE: Claude's stream events -> the Responses API's semantic SSE events, the codec's stream encoder.

Every event is ``event: <type>`` + ``data: <json>`` with a ``sequence_number`` counting from 0.
Order: ``response.created`` and ``response.in_progress`` at ``message_start``; per content
block ``response.output_item.added``, then for text ``response.content_part.added``,
``response.output_text.delta``..., ``response.output_text.done``, ``response.content_part.done``;
for a tool call ``response.function_call_arguments.delta``... and ``.done``; for thinking
``response.reasoning_summary_part.added``, ``response.reasoning_summary_text.delta``...,
``.done`` and ``response.reasoning_summary_part.done``; then ``response.output_item.done``.
The end is ``response.completed`` (or ``response.incomplete``) carrying the whole response;
an error after the stream began is an ``error`` event followed by ``response.failed``.

Output indexes count the items as they are added (blocks without a Responses form, such as
server tools, are skipped), as the SDKs index their snapshot by them.

Tested in tests/test_responses_codec.py. Tested in tests/test_responses.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from vertexchat.errors import APIError
from vertexchat.fold import REDACTED, TEXT, THINKING, TOOL, Block, Event, MessageFold
from vertexchat.openai_responses.reply import ResponseBuilder

JSON = dict[str, Any]

HEARTBEAT = b": keep-alive\n\n"

_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


def encode_event(event: JSON, sequence_number: int) -> bytes:
    """One SSE event: ``event: <type>`` and ``data: <compact json>`` carrying its ``sequence_number``."""
    event["sequence_number"] = sequence_number
    return f"event: {event['type']}\ndata: {_encode(event)}\n\n".encode()


class ResponsesStream:
    """The semantic events of one streamed response."""

    heartbeat = HEARTBEAT

    def __init__(self, builder: ResponseBuilder) -> None:
        self.builder = builder
        self._seq = 0
        self._opened = False
        self._outputs: dict[int, int] = {}  # Claude block index -> output_index
        self._fold: MessageFold | None = None

    # The relay's side: SSE bytes.

    def event(self, event: Event, block: Block | None, fold: MessageFold) -> bytes:
        self._fold = fold
        return b"".join(self._sse(e) for e in self.events(event, block))

    def end(self, fold: MessageFold) -> bytes:
        body = self.builder.response(fold.message)
        kind = "response.incomplete" if body["status"] == "incomplete" else "response.completed"
        return self._sse({"type": kind, "response": body})

    def error(self, error: APIError) -> bytes:
        """In-band failure: an ``error`` event, then ``response.failed`` with what was produced."""
        opening = self._opening() if not self._opened else []
        message = self._fold.message if self._fold is not None else {}
        failed = self.builder.frame("failed", output=self.builder.output(message.get("content") or []),
                                    claude_usage=message.get("usage"),
                                    error={"code": error.code or error.type, "message": error.message})
        self.builder.last = failed
        events = [*opening, {"type": "error", "code": error.code or error.type, "message": error.message,
                             "param": error.param}, {"type": "response.failed", "response": failed}]
        return b"".join(self._sse(e) for e in events)

    # The pure encoding, event dicts.

    def events(self, event: Event, block: Block | None) -> list[JSON]:
        kind = event.get("type")
        if kind == "message_start" and not self._opened:
            return self._opening()
        if block is None:
            return []
        if kind == "content_block_start":
            return self._block_start(block)
        if block.index not in self._outputs:
            return []
        if kind == "content_block_delta":
            return self._delta(block, event.get("delta") or {})
        if kind == "content_block_stop":
            return self._block_stop(block)
        return []

    def _opening(self) -> list[JSON]:
        self._opened = True
        response = self.builder.frame("in_progress")
        return [{"type": "response.created", "response": response},
                {"type": "response.in_progress", "response": response}]

    def _sse(self, event: JSON) -> bytes:
        self._seq += 1
        return encode_event(event, self._seq - 1)

    def _where(self, block: Block) -> JSON:
        return {"item_id": self.builder.item_id(block.index, _ITEM_KINDS[self._kind(block)]),
                "output_index": self._outputs[block.index]}

    def _kind(self, block: Block) -> str:
        if block.kind == TOOL and block.block.get("name") == self.builder.json_tool:
            return "json"
        return block.kind

    def _block_start(self, block: Block) -> list[JSON]:
        kind = self._kind(block)
        if kind not in _ITEM_KINDS:
            return []
        self._outputs[block.index] = len(self._outputs)
        b = self.builder
        if kind in (TEXT, "json"):
            item = b.message_item(block.index, None, "in_progress")
        elif kind == TOOL:
            item = {**(b.item(block.index, block.block, "in_progress") or {}), "arguments": ""}
        else:
            item = b.reasoning_item(block.index, block.block, final=False)
        where = self._where(block)
        events: list[JSON] = [{"type": "response.output_item.added", "output_index": where["output_index"],
                               "item": item}]
        if kind in (TEXT, "json"):
            events.append({"type": "response.content_part.added", **where, "content_index": 0,
                           "part": _text_part("")})
        elif kind == THINKING:
            events.append({"type": "response.reasoning_summary_part.added", **where, "summary_index": 0,
                           "part": {"type": "summary_text", "text": ""}})
        if block.parts:  # text arriving with the block's start
            events.extend(self._delta_events(block, block.parts[0]))
        return events

    def _delta(self, block: Block, delta: Mapping[str, Any]) -> list[JSON]:
        piece = delta.get({"text_delta": "text", "thinking_delta": "thinking",
                           "input_json_delta": "partial_json"}.get(str(delta.get("type")), "")) or ""
        return self._delta_events(block, piece) if isinstance(piece, str) and piece else []

    def _delta_events(self, block: Block, piece: str) -> list[JSON]:
        kind, where = self._kind(block), self._where(block)
        if kind in (TEXT, "json"):
            return [{"type": "response.output_text.delta", **where, "content_index": 0, "delta": piece,
                     "logprobs": []}]
        if kind == TOOL:
            return [{"type": "response.function_call_arguments.delta", **where, "delta": piece}]
        if kind == THINKING:
            return [{"type": "response.reasoning_summary_text.delta", **where, "summary_index": 0, "delta": piece}]
        return []

    def _block_stop(self, block: Block) -> list[JSON]:
        kind, where = self._kind(block), self._where(block)
        item = self.builder.item(block.index, block.block) or {}
        events: list[JSON] = []
        if kind in (TEXT, "json"):
            text = block.text if kind == "json" and block.parts else item["content"][0]["text"]
            if kind == "json" and not block.parts:
                events.extend(self._delta_events(block, text))
            events += [{"type": "response.output_text.done", **where, "content_index": 0, "text": text,
                        "logprobs": []},
                       {"type": "response.content_part.done", **where, "content_index": 0, "part": _text_part(text)}]
        elif kind == TOOL:
            if not block.parts:  # Claude streams no fragment for an empty input
                events.extend(self._delta_events(block, item["arguments"]))
            events.append({"type": "response.function_call_arguments.done", **where, "name": item["name"],
                           "arguments": block.text or item["arguments"]})
        elif kind == THINKING:
            text = block.text
            events += [{"type": "response.reasoning_summary_text.done", **where, "summary_index": 0, "text": text},
                       {"type": "response.reasoning_summary_part.done", **where, "summary_index": 0,
                        "part": {"type": "summary_text", "text": text}}]
        events.append({"type": "response.output_item.done", "output_index": where["output_index"], "item": item})
        return events


_ITEM_KINDS = {TEXT: "message", "json": "message", TOOL: "function_call", THINKING: "reasoning",
               REDACTED: "reasoning"}


def _text_part(text: str) -> JSON:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def replay_events(response: Mapping[str, Any]) -> list[bytes]:
    """A stored response as a stream (an ``Idempotency-Key`` replay): each item added whole, then the end."""
    opening = {**response, "status": "in_progress", "output": [], "usage": None}
    events: list[JSON] = [{"type": "response.created", "response": opening},
                          {"type": "response.in_progress", "response": opening}]
    for index, item in enumerate(response.get("output") or []):
        events.append({"type": "response.output_item.added", "output_index": index,
                       "item": {**item, "content": []} if item.get("type") == "message" else item})
        for part_index, part in enumerate(item.get("content") or [] if item.get("type") == "message" else []):
            where = {"item_id": item["id"], "output_index": index, "content_index": part_index}
            events += [{"type": "response.content_part.added", **where, "part": _text_part("")},
                       {"type": "response.output_text.delta", **where, "delta": part.get("text", ""), "logprobs": []},
                       {"type": "response.output_text.done", **where, "text": part.get("text", ""), "logprobs": []},
                       {"type": "response.content_part.done", **where, "part": part}]
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    end = "response.incomplete" if response.get("status") == "incomplete" else "response.completed"
    events.append({"type": end, "response": dict(response)})
    return [encode_event(event, seq) for seq, event in enumerate(events)]
