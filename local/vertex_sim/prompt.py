"""PURE: a Claude request as the prompt cache sees it: an ordered list of blocks, their tokens and breakpoints.

The order is Anthropic's: `tools`, then `system`, then `messages` ("Prompt caching references the entire
prompt - tools, system, and messages (in that order) up to and including the block designated with
cache_control", Anthropic prompt-caching docs). Each tool, each system block and each message content
block is one block; a string `system` or a string message `content` is one text block.

Token counts are an estimate, not Claude's tokenizer, chosen to be stable and easy to reason about in
tests: a block costs ceil(len(canonical JSON of the block without `cache_control`) / 4) tokens (at
least 1), where the canonical JSON has sorted keys, no spaces and unescaped Unicode. A request's input
is the sum over its blocks, so `count-tokens:rawPredict` and the billed usage of the same body agree.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

MAX_BREAKPOINTS = 4
TTL_SECONDS = {"5m": 300, "1h": 3600}
UNCACHEABLE_TYPES = frozenset({"thinking", "redacted_thinking"})


@dataclass(frozen=True)
class Block:
    """One block of the prompt, in cache order."""

    position: int
    path: str
    segment: str
    role: str | None
    opens_message: bool
    payload: Mapping[str, Any]
    tokens: int


@dataclass(frozen=True)
class Marker:
    """A `cache_control` found in the request, where it was and the block it marks."""

    path: str
    position: int
    block_type: str
    control: Any
    empty_text: bool


@dataclass(frozen=True)
class Breakpoint:
    position: int
    path: str
    ttl: str


def canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def strip_cache_control(value: Any) -> Any:
    """A copy without any `cache_control` key, at any depth (breakpoints do not change what is cached)."""
    if isinstance(value, Mapping):
        return {key: strip_cache_control(item) for key, item in value.items() if key != "cache_control"}
    if isinstance(value, list):
        return [strip_cache_control(item) for item in value]
    return value


def block_tokens(payload: Any) -> int:
    return max(1, -(-len(canonical(payload)) // 4))


def _raw_blocks(body: Mapping[str, Any]) -> Iterator[tuple[str, str, str | None, bool, Any]]:
    """(path, segment, role, opens_message, raw block) in cache order."""
    for index, tool in enumerate(body.get("tools") or []):
        yield f"tools.{index}", "tools", None, False, tool
    system = body.get("system")
    if isinstance(system, str):
        yield "system", "system", None, False, {"type": "text", "text": system}
    elif isinstance(system, list):
        for index, block in enumerate(system):
            yield f"system.{index}", "system", None, False, block
    for index, message in enumerate(body.get("messages") or []):
        if not isinstance(message, Mapping):
            continue
        role, content = message.get("role"), message.get("content")
        if isinstance(content, str):
            yield f"messages.{index}", "messages", role, True, {"type": "text", "text": content}
        elif isinstance(content, list):
            for inner, block in enumerate(content):
                yield f"messages.{index}.content.{inner}", "messages", role, inner == 0, block


def flatten(body: Mapping[str, Any]) -> list[Block]:
    """The prompt's blocks in cache order, each with its token estimate."""
    blocks = []
    for position, (path, segment, role, opens, raw) in enumerate(_raw_blocks(body)):
        payload = strip_cache_control(raw)
        blocks.append(Block(position, path, segment, role, opens, payload, block_tokens(payload)))
    return blocks


def count_tokens(body: Mapping[str, Any]) -> int:
    """The request's input tokens under the simulator's estimate (see the module docstring)."""
    return max(1, sum(block.tokens for block in flatten(body)))


def markers(body: Mapping[str, Any]) -> list[Marker]:
    """Every `cache_control` in the request, including those inside tool_result content blocks.

    A marker inside a tool_result marks the tool_result block (its position in the prompt).
    """
    found = []
    for position, (path, _segment, _role, _opens, raw) in enumerate(_raw_blocks(body)):
        if not isinstance(raw, Mapping):
            continue
        nested = raw.get("content") if raw.get("type") == "tool_result" else None
        candidates = [(path, raw)]
        if isinstance(nested, list):
            candidates += [(f"{path}.content.{i}", b) for i, b in enumerate(nested) if isinstance(b, Mapping)]
        for where, block in candidates:
            if "cache_control" in block:
                empty = block.get("type") == "text" and not block.get("text")
                found.append(Marker(where, position, str(block.get("type")), block["cache_control"], empty))
    return found


def marker_violations(found: list[Marker]) -> Iterator[str]:
    """Claude's 400s for misplaced or malformed breakpoints, worded as the API words them.

    Sources: thinking blocks take no cache_control (Anthropic prompt-caching docs, "Thinking blocks
    cannot be explicitly marked"; Vertex answers `messages.21.content.0.thinking.cache_control: Extra
    inputs are not permitted`, lbjlaq/Antigravity-Manager#96, a req_vrtx_ request id); empty text
    (`cache_control cannot be set for empty text blocks`, as reported by Claude Code users); at most 4
    (`A maximum of 4 blocks with cache_control may be provided. Found 5.`, openclaw/openclaw#92480 on
    Vertex); a 1h breakpoint after a 5m one (Anthropic docs "Mixing different TTLs"; wording from
    cnighswonger/claude-code-cache-fix#44).
    """
    for marker in found:
        if marker.block_type in UNCACHEABLE_TYPES:
            yield f"{marker.path}.{marker.block_type}.cache_control: Extra inputs are not permitted"
        elif marker.empty_text:
            yield f"{marker.path}.text: cache_control cannot be set for empty text blocks"
        elif not isinstance(marker.control, Mapping) or marker.control.get("type") != "ephemeral":
            yield f"{marker.path}.cache_control.type: Input should be 'ephemeral'"
        elif set(marker.control) - {"type", "ttl"}:
            extra = sorted(set(marker.control) - {"type", "ttl"})[0]
            yield f"{marker.path}.cache_control.ephemeral.{extra}: Extra inputs are not permitted"
        elif marker.control.get("ttl", "5m") not in TTL_SECONDS:
            yield f"{marker.path}.cache_control.ephemeral.ttl: Input should be '5m' or '1h'"
    if len(found) > MAX_BREAKPOINTS:
        yield f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {len(found)}."
    seen_short = False
    for marker in found:
        ttl = marker.control.get("ttl", "5m") if isinstance(marker.control, Mapping) else "5m"
        if ttl == "1h" and seen_short:
            yield (f"{marker.path}.cache_control.ttl: a ttl='1h' cache_control block must not come after a "
                   "ttl='5m' cache_control block. Note that blocks are processed in the following order: "
                   "`tools`, `system`, `messages`.")
        seen_short = seen_short or ttl == "5m"


def breakpoints(found: list[Marker]) -> list[Breakpoint]:
    """The valid request's breakpoints, one per marked block position, in cache order."""
    by_position: dict[int, Breakpoint] = {}
    for marker in found:
        ttl = str(marker.control.get("ttl", "5m"))
        by_position[marker.position] = Breakpoint(marker.position, marker.path, ttl)
    return [by_position[position] for position in sorted(by_position)]


def prefix_hashes(body: Mapping[str, Any], blocks: list[Block]) -> list[str]:
    """hashes[i] identifies the prompt prefix up to and including block i.

    Per Anthropic's "What invalidates the cache" table, changing `tool_choice`, the thinking parameters,
    or whether images appear anywhere in the prompt keeps the tools and system caches but invalidates
    the messages cache: those settings are folded into the hash where the messages begin.
    """
    settings = canonical({"tool_choice": body.get("tool_choice"), "thinking": body.get("thinking"),
                          "images": _has_images(blocks)})
    digest = b""
    hashes = []
    first_message = True
    for block in blocks:
        material = canonical([block.segment, block.role, block.opens_message, block.payload])
        if block.segment == "messages" and first_message:
            material, first_message = settings + material, False
        digest = hashlib.sha256(digest + material.encode()).digest()
        hashes.append(digest.hex())
    return hashes


def _has_images(blocks: list[Block]) -> bool:
    return any(_contains_image(block.payload) for block in blocks)


def _contains_image(value: Any) -> bool:
    if isinstance(value, Mapping):
        return value.get("type") == "image" or any(_contains_image(item) for item in value.values())
    return isinstance(value, list) and any(_contains_image(item) for item in value)
