"""PURE: a Responses request (plus the stored history it continues) -> a Claude request, via the chat codec.

The Responses request is restated as a :class:`~vertexchat.openai_chat.schema.ChatRequest`
(``instructions`` first as a system message, then the history, then the input's messages)
and translated by ``openai_chat.request.to_claude``: the same conversation repair, tool,
structured-output, sampling and thinking rules as the chat route (see that module). A 400
raised about ``messages[k]`` names the input item it came from instead
(``input[2].call_id``), or ``previous_response_id`` when it lies in the stored history.

Tested in tests/test_responses_codec.py.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from vertexchat.errors import InvalidRequestError
from vertexchat.openai_chat.request import ClaudeRequest, image_urls, to_claude
from vertexchat.openai_chat.schema import JSON, ChatRequest
from vertexchat.openai_responses.items import Origin, chat_messages
from vertexchat.openai_responses.schema import ResponsesRequest

_MESSAGE_PARAM = re.compile(r"messages\[(\d+)\](.*)")
_TOOL_CALL = re.compile(r"\.tool_calls\[(\d+)\](.*)")
_FIELD_NAMES = {".tool_call_id": ".call_id", ".function.arguments": ".arguments"}


@dataclass(frozen=True, slots=True)
class Conversation:
    """The chat-shaped conversation of one response: stored history + this request's input.

    ``messages`` is what the session records (no instructions: they do not carry over to a
    continuing response, as OpenAI's don't); ``chat`` is what goes to Claude.
    """

    messages: tuple[JSON, ...]
    chat: ChatRequest
    origins: tuple[Origin, ...]  # per message of ``chat.messages``: the request params it came from


def conversation(req: ResponsesRequest, items: tuple[JSON, ...], history: Sequence[JSON],
                 history_param: str) -> Conversation:
    """The conversation for resolved input ``items`` after ``history`` (stored chat messages)."""
    new, origins = chat_messages(items)
    messages = (*history, *new)
    system = ({"role": "system", "content": req.instructions},) if req.instructions else ()
    chat = ChatRequest(
        model=req.model, messages=(*system, *messages), stream=req.stream, max_tokens=req.max_output_tokens,
        max_tokens_param="max_output_tokens", temperature=req.temperature, top_p=req.top_p, tools=req.tools,
        tool_choice=req.tool_choice, parallel_tool_calls=req.parallel_tool_calls,
        response_format=req.response_format, reasoning_effort=req.reasoning_effort, user=req.user,
        metadata=req.metadata)
    before = (*((Origin("instructions"),) if system else ()), *((Origin(history_param),) * len(history)))
    return Conversation(messages=messages, chat=chat, origins=(*before, *origins))


def claude_request(conv: Conversation, *, default_max_tokens: int,
                   resolved_images: Mapping[str, str] | None = None) -> ClaudeRequest:
    """``to_claude`` of the conversation, its 400s naming the Responses params."""
    try:
        return to_claude(conv.chat, default_max_tokens=default_max_tokens, resolved_images=resolved_images)
    except InvalidRequestError as exc:
        exc.param = _responses_param(exc.param, conv.origins)
        raise


def remote_images(conv: Conversation) -> list[tuple[str, str]]:
    """Every http(s) image URL as ``(param, url)``, for fetching before translation."""
    return image_urls(conv.chat)


def _responses_param(param: str | None, origins: tuple[Origin, ...]) -> str | None:
    match = _MESSAGE_PARAM.fullmatch(param or "")
    if match is None:
        return "input" if param == "messages" else param
    index, rest = int(match.group(1)), match.group(2)
    if index >= len(origins):
        return "input"
    origin = origins[index]
    if not origin.param.startswith("input["):
        return origin.param
    call = _TOOL_CALL.match(rest)
    if call is not None and int(call.group(1)) < len(origin.calls):
        return origin.calls[int(call.group(1))] + _FIELD_NAMES.get(call.group(2), call.group(2))
    return origin.param + _FIELD_NAMES.get(rest, rest.replace(".image_url.url", ".image_url"))
