"""PURE: a Messages API request read just enough to route it, and the exact bodies Vertex AI is sent.

Nothing else of the body is interpreted: system blocks, tools, ``cache_control`` breakpoints,
thinking, ``context_management``, ``metadata``, images and documents pass through unchanged and
in order, and Vertex (which validates Claude requests itself) answers any mistake in them with
Claude's own 400. What Vertex needs differently from Anthropic's API (Anthropic, "Claude on
Vertex AI"; the anthropic SDK's ``AnthropicVertex`` does the same):

- generation (``:rawPredict`` / ``:streamRawPredict``): ``model`` is not in the body but in the
  URL, and ``anthropic_version`` is in the body: ``vertex-2023-10-16``;
- count-tokens (``count-tokens:rawPredict``): ``model`` stays in the body (the Vertex id).

Tested in tests/test_anthropic_messages_codec.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vertexchat.errors import InvalidRequestError

VERTEX_VERSION = "vertex-2023-10-16"

# Compact, and non-ASCII text kept as UTF-8 (as the clients send it): one encoder, built once.
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    """What routing a Messages API request needs: the model asked for and whether to stream."""

    body: Mapping[str, Any]
    model: str
    stream: bool


def parse(body: object) -> MessagesRequest:
    """The body's ``model`` and ``stream``; a 400 naming the field when they are missing or malformed."""
    if not isinstance(body, dict):
        raise InvalidRequestError("The request body must be a JSON object.", param="body")
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidRequestError("model: Field required (a model id such as claude-sonnet-4-5).", param="model")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequestError("stream: Input should be a valid boolean.", param="stream")
    return MessagesRequest(body, model, stream)


def generate_body(body: Mapping[str, Any]) -> dict[str, Any]:
    """The ``:rawPredict`` body: the client's, in order, without ``model``, with Vertex's ``anthropic_version``."""
    sent = {key: value for key, value in body.items() if key not in ("model", "anthropic_version")}
    sent["anthropic_version"] = VERTEX_VERSION
    return sent


def count_tokens_body(body: Mapping[str, Any], vertex_model: str) -> dict[str, Any]:
    """The ``count-tokens:rawPredict`` body: the client's, with the Vertex model id and ``anthropic_version``."""
    sent = {key: (vertex_model if key == "model" else value) for key, value in body.items()
            if key != "anthropic_version"}
    sent["anthropic_version"] = VERTEX_VERSION
    return sent


def encode(body: Mapping[str, Any]) -> bytes:
    """The JSON bytes sent to Vertex."""
    return _encode(body).encode("utf-8")
