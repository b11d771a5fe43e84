"""Claude's prompt cache as Vertex AI serves it: entries per Google Cloud project and model, on a movable clock.

The rules and where each comes from (Anthropic's "Prompt caching" page unless said otherwise; Google's
"Prompt caching" page for Claude on Vertex says the Vertex offering "behaves as described in the
Anthropic documentation"):
- An entry is written for the prefix up to each breakpoint (`cache_control`), once the response starts.
- A request reads the longest cached prefix it can find: from each breakpoint the system checks that
  block and the blocks before it, 20 checks in all ("20-block lookback window"), and stops there.
- Below the model's minimum cacheable length a breakpoint caches nothing, silently ("Requests to
  cache fewer than this number of tokens will be processed without caching"); the table is
  Anthropic's, as quoted in anthropics/anthropic-sdk-python#1194.
- Entries live 5 minutes (or 1 hour with `"ttl": "1h"`) and each hit refreshes them at no cost
  (Google: "The cache lifetime is refreshed each time the cached content is accessed").
- Caches are per Google Cloud project (Google: "Caches are unique to your Google Cloud project") and,
  as the cached state is the model's, per model.
- Billing with mixed TTLs: A = tokens at the highest hit, B = tokens at the last 1h breakpoint after A
  (or A), C = tokens at the last breakpoint; reads A, 1h writes B - A, 5m writes C - B. Usage reports
  `cache_read_input_tokens`, `cache_creation_input_tokens` and `cache_creation.ephemeral_{5m,1h}_input_tokens`,
  and `input_tokens` counts only what is neither read nor written.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from local.vertex_sim.prompt import TTL_SECONDS, Breakpoint, breakpoints, flatten, markers, prefix_hashes

LOOKBACK = 20
DEFAULT_MINIMUM = 1024
MIN_CACHEABLE_TOKENS = {
    "claude-opus-4-6": 4096, "claude-opus-4-5": 4096, "claude-haiku-4-5": 4096,
    "claude-sonnet-4-6": 1024, "claude-sonnet-4-5": 1024, "claude-sonnet-4": 1024, "claude-opus-4-1": 1024,
    "claude-opus-4": 1024, "claude-3-7-sonnet": 1024, "claude-3-5-haiku": 2048, "claude-3-haiku": 2048,
}


def minimum_tokens(model: str) -> int:
    """The minimum cacheable prefix for a Vertex model id such as `claude-haiku-4-5@20251001`."""
    return MIN_CACHEABLE_TOKENS.get(model.partition("@")[0], DEFAULT_MINIMUM)


@dataclass
class Entry:
    position: int
    tokens: int
    ttl: str
    expires_at: float


@dataclass(frozen=True)
class Billing:
    """What one request was billed, and why."""

    input_tokens: int
    cache_read_input_tokens: int
    ephemeral_5m_input_tokens: int
    ephemeral_1h_input_tokens: int
    hit_position: int | None
    written: tuple[int, ...]
    breakpoints: tuple[Breakpoint, ...]
    minimum: int

    @property
    def cache_creation_input_tokens(self) -> int:
        return self.ephemeral_5m_input_tokens + self.ephemeral_1h_input_tokens

    def usage(self) -> dict[str, Any]:
        """The input side of Claude's `usage` object."""
        return {
            "input_tokens": self.input_tokens,
            "cache_creation_input_tokens": self.cache_creation_input_tokens,
            "cache_read_input_tokens": self.cache_read_input_tokens,
            "cache_creation": {"ephemeral_5m_input_tokens": self.ephemeral_5m_input_tokens,
                               "ephemeral_1h_input_tokens": self.ephemeral_1h_input_tokens},
        }

    def details(self) -> dict[str, Any]:
        """The cache model's reasoning, for request records."""
        return {
            "breakpoints": [{"position": p.position, "path": p.path, "ttl": p.ttl} for p in self.breakpoints],
            "hit_position": self.hit_position,
            "written_positions": list(self.written),
            "minimum_tokens": self.minimum,
        }


class PromptCache:
    """Entries keyed by (project, model, prefix hash), behind a lock; time is monotonic plus an offset."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str, str], Entry] = {}
        self._offset = 0.0

    def now(self) -> float:
        return time.monotonic() + self._offset

    def advance(self, seconds: float) -> float:
        """Move the cache's clock forward (tests use it to expire entries); returns the total offset."""
        if seconds < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += seconds
            return self._offset

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._offset = 0.0

    def entries(self) -> list[dict[str, Any]]:
        """Live entries, for tests: where they end, how many tokens they hold, and for how long."""
        with self._lock:
            now = self.now()
            return [{"project": project, "model": model, "position": e.position, "tokens": e.tokens, "ttl": e.ttl,
                     "expires_in_s": round(e.expires_at - now, 3)}
                    for (project, model, _), e in self._entries.items() if e.expires_at > now]

    def bill(self, project: str, model: str, body: Mapping[str, Any]) -> Billing:
        """Look the request's prefixes up, write its breakpoints, and return what it costs."""
        blocks = flatten(body)
        points = breakpoints(markers(body))
        prefix = list(itertools.accumulate(block.tokens for block in blocks))
        total = max(1, prefix[-1] if prefix else 0)
        hashes = prefix_hashes(body, blocks) if points else []
        minimum = minimum_tokens(model)
        with self._lock:
            now = self.now()
            self._entries = {key: e for key, e in self._entries.items() if e.expires_at > now}
            hit = self._lookup(project, model, hashes, points, now)
            read = prefix[hit] if hit is not None else 0
            writes = [p for p in points if (hit is None or p.position > hit) and prefix[p.position] >= minimum]
            long_end = max((prefix[p.position] for p in writes if p.ttl == "1h"), default=read)
            end = max((prefix[p.position] for p in writes), default=read)
            for point in writes:
                self._entries[(project, model, hashes[point.position])] = Entry(
                    point.position, prefix[point.position], point.ttl, now + TTL_SECONDS[point.ttl])
        return Billing(input_tokens=total - end, cache_read_input_tokens=read,
                       ephemeral_5m_input_tokens=end - long_end, ephemeral_1h_input_tokens=long_end - read,
                       hit_position=hit, written=tuple(p.position for p in writes), breakpoints=tuple(points),
                       minimum=minimum)

    def _lookup(self, project: str, model: str, hashes: list[str], points: list[Breakpoint],
                now: float) -> int | None:
        """The furthest position with a live entry within any breakpoint's lookback; refreshes that entry."""
        best: Entry | None = None
        for point in points:
            for position in range(point.position, max(-1, point.position - LOOKBACK), -1):
                entry = self._entries.get((project, model, hashes[position]))
                if entry is not None:
                    if best is None or entry.position > best.position:
                        best = entry
                    break
        if best is None:
            return None
        best.expires_at = now + TTL_SECONDS[best.ttl]
        return best.position
