"""PURE: Claude prompt-cache breakpoints placed on a Claude Messages request body.

OpenAI clients never mark anything, so a codec hands its Claude body to :func:`apply` and
gets it back with ``cache_control`` breakpoints where the next turn will read from cache.
Claude caches the prefix up to each breakpoint, in the order tools -> system -> messages,
and a later request reads the longest cached prefix it finds within about 20 blocks before
one of its own breakpoints (Anthropic, "Prompt caching"; Google's page for Claude on Vertex
defers to it). Candidates, most valuable first, each placed only while slots remain:

1. ``last``: the last cacheable block of the conversation (the whole prompt, read next turn);
2. ``previous``: where the previous turn's ``last`` was (the last cacheable block before the
   last assistant message), so a long assistant turn (parallel tool calls, thinking) cannot
   push the previous entry out of the lookback;
3. ``system``: the last block of the stable system prefix (the codec's: for Chat, the first
   message when it is a system message; late system notes and internal instructions come after);
4. ``tools``: the last of the client's tools (an internal tool appended after it, such as
   JSON mode's, leaves this entry intact).

Rules Claude enforces or implies: at most 4 breakpoints in all, the client's own
(``cache_control`` already in the body) counted first and never moved; none on thinking
blocks or empty text; none where the prefix is shorter than the model's minimum cacheable
length (Claude would silently cache nothing). A ``1h`` breakpoint may not follow a ``5m`` one,
so an automatic breakpoint takes the configured TTL unless the client's breakpoints around it
force the other.

Tokens are estimated deterministically and conservatively (never above what Claude counts
for English text or code): a quarter of the characters of the block's compact JSON, image
data left out. A prefix estimated just under the minimum therefore loses a breakpoint that
might have worked, never the other way round.

Top-level ``cache_control`` (Anthropic's automatic caching) is not used: Google documents
only explicit breakpoints for Claude on Vertex, and Vertex answers the field with
``cache_control: Extra inputs are not permitted`` (vercel/ai#13986, dust-tt/dust#27109,
langchain-ai/langchain-google#1612).

A codec calls it once, on the Claude body it built, before the turn::

    body = caching.apply(body, caching.policy(svc.settings, turn.target), stable)

``stable`` (optional) says how many tools and system blocks are the same every turn; without
it all are taken to be.

Tested in tests/test_caching.py. Tested in tests/test_prompt_caching.py.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from vertexchat.catalog import Model
from vertexchat.config import Settings

JSON = dict[str, Any]

MAX_BREAKPOINTS = 4
TTLS = ("5m", "1h")
UNCACHEABLE = frozenset({"thinking", "redacted_thinking"})
# Used when the model is not in the catalog's table: the largest minimum any Claude model has.
UNKNOWN_MODEL_MINIMUM = 4096


@dataclass(frozen=True, slots=True)
class CachePolicy:
    """How to place breakpoints: ``mode`` ``auto`` or ``off``, the TTL, the model's minimum prefix."""

    mode: str = "auto"
    ttl: str = "5m"
    min_tokens: int = 1024


@dataclass(frozen=True, slots=True)
class Stable:
    """How much of ``tools`` and ``system`` stays the same from turn to turn (None: all of it)."""

    tools: int | None = None
    system: int | None = None


@dataclass(frozen=True, slots=True)
class _Slot:
    """One block that can carry a breakpoint: where it is, and the tokens up to and including it."""

    position: int
    path: tuple[str | int, ...]
    prefix_tokens: int
    cacheable: bool
    ttl: str | None  # the client's breakpoint on this block, if any


def policy(settings: Settings, model: Model) -> CachePolicy:
    """The configured policy for a model (a model the table does not know gets the largest minimum)."""
    return CachePolicy(mode=settings.prompt_caching, ttl=settings.prompt_cache_ttl,
                       min_tokens=model.min_cache_tokens or UNKNOWN_MODEL_MINIMUM)


def apply(body: Mapping[str, Any], policy: CachePolicy, stable: Stable | None = None) -> JSON:
    """A copy of the Claude request ``body`` with automatic breakpoints added (see the module docstring)."""
    out = copy.deepcopy(dict(body))
    free = MAX_BREAKPOINTS - _trim_markers(out)
    if policy.mode == "off":
        return out
    _blocks_as_lists(out)
    slots = list(_slots(out))
    explicit = [slot for slot in slots if slot.ttl is not None]
    chosen: list[_Slot] = []
    for slot in _candidates(out, slots, stable or Stable()):
        if len(chosen) >= free:
            break
        if (slot.cacheable and slot.ttl is None and slot.prefix_tokens >= policy.min_tokens
                and slot not in chosen):
            chosen.append(slot)
    for slot in chosen:
        _mark(out, slot.path, _ttl_for(slot, explicit, policy.ttl))
    return out


def breakpoint_paths(body: Mapping[str, Any]) -> list[str]:
    """Where a body carries ``cache_control``, as dotted paths (``system.0``, ``messages.3.content.1``)."""
    return [".".join(str(p) for p in slot.path) for slot in _slots(body) if slot.ttl is not None]


def estimate_tokens(block: Any) -> int:
    """A conservative token estimate of one block (see the module docstring)."""
    return len(json.dumps(_without_data(block), separators=(",", ":"), sort_keys=True, ensure_ascii=False)) // 4


def _without_data(value: Any) -> Any:
    if isinstance(value, Mapping):
        if value.get("type") == "base64":  # image/document source: what it costs is not its length
            return {"type": "base64"}
        return {k: _without_data(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_without_data(item) for item in value]
    return value


def _blocks_as_lists(body: JSON) -> None:
    """String ``system`` / message ``content`` as one text block, so a breakpoint can be attached."""
    if isinstance(body.get("system"), str):
        body["system"] = [{"type": "text", "text": body["system"]}] if body["system"] else []
    for message in body.get("messages") or []:
        if isinstance(message.get("content"), str):
            message["content"] = [{"type": "text", "text": message["content"]}]


def _raw(body: Mapping[str, Any]) -> Iterator[tuple[tuple[str | int, ...], Any]]:
    for i, tool in enumerate(body.get("tools") or []):
        yield ("tools", i), tool
    system = body.get("system")
    for i, block in enumerate(system if isinstance(system, list) else []):
        yield ("system", i), block
    for i, message in enumerate(body.get("messages") or []):
        content = message.get("content") if isinstance(message, Mapping) else None
        for j, block in enumerate(content if isinstance(content, list) else []):
            yield ("messages", i, "content", j), block


def _slots(body: Mapping[str, Any]) -> Iterator[_Slot]:
    total = 0
    for position, (path, raw) in enumerate(_raw(body)):
        total += estimate_tokens(raw)
        block: Mapping[str, Any] = raw if isinstance(raw, Mapping) else {}
        control = block.get("cache_control")
        ttl = str(control.get("ttl", "5m")) if isinstance(control, Mapping) else None
        cacheable = block.get("type") not in UNCACHEABLE and not (block.get("type") == "text"
                                                                  and not str(block.get("text") or "").strip())
        yield _Slot(position, path, total, cacheable, ttl)


def _markers(body: Mapping[str, Any]) -> list[JSON]:
    """The blocks carrying the client's breakpoints, as Claude counts them (tool_result content included)."""
    found: list[JSON] = []
    for _, block in _raw(body):
        if not isinstance(block, dict):
            continue
        nested = block.get("content") if block.get("type") == "tool_result" else None
        inner = [b for b in nested if isinstance(b, dict)] if isinstance(nested, list) else []
        found += [b for b in (block, *inner) if "cache_control" in b]
    return found


def _trim_markers(body: JSON) -> int:
    """Keep at most 4 client breakpoints (the first, usually the stable prefix, and the last three).

    More would be Claude's 400; they accumulate when a client marks every turn and its history
    is held server-side. Returns how many remain.
    """
    found = _markers(body)
    for block in found[1:-(MAX_BREAKPOINTS - 1)] if len(found) > MAX_BREAKPOINTS else []:
        del block["cache_control"]
    return min(len(found), MAX_BREAKPOINTS)


def _candidates(body: Mapping[str, Any], slots: list[_Slot], stable: Stable) -> Iterator[_Slot]:
    """The candidate blocks in priority order (see the module docstring)."""
    messages = [s for s in slots if s.path[0] == "messages"]
    cacheable = [s for s in messages if s.cacheable]
    if cacheable:
        yield cacheable[-1]
    roles = [m.get("role") if isinstance(m, Mapping) else None for m in body.get("messages") or []]
    assistants = [i for i, role in enumerate(roles) if role == "assistant"]
    if assistants:
        before = [s for s in cacheable if int(s.path[1]) < assistants[-1]]
        if before:
            yield before[-1]
    for segment, count in (("system", stable.system), ("tools", stable.tools)):
        part = [s for s in slots if s.path[0] == segment]
        part = part if count is None else part[:count]
        if part and part[-1].cacheable:
            yield part[-1]


def _ttl_for(slot: _Slot, explicit: list[_Slot], configured: str) -> str:
    """The configured TTL, unless the client's breakpoints force another (1h never after 5m)."""
    if any(e.position > slot.position and e.ttl == "1h" for e in explicit):
        return "1h"
    if any(e.position < slot.position and e.ttl == "5m" for e in explicit):
        return "5m"
    return configured


def _mark(body: JSON, path: tuple[str | int, ...], ttl: str) -> None:
    target: Any = body
    for key in path:
        target = target[key]
    # 5m is Claude's default: the short form keeps the body what a client writing it by hand would send.
    target["cache_control"] = {"type": "ephemeral"} if ttl == "5m" else {"type": "ephemeral", "ttl": "1h"}
