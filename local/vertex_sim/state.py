"""The simulator's shared state: config, the scripted-step FIFO, the prompt cache and the request records.

One object serves both the Python API and the `/_sim/` HTTP routes, so a test in-process and a test
driving a subprocess see identical behaviour. Many handler threads touch it at once, hence the lock;
records are bounded so a long benchmark cannot grow memory without limit.
"""

from __future__ import annotations

import copy
import itertools
import threading
import time
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from local.vertex_sim.cache import PromptCache
from local.vertex_sim.catalog import DEFAULT_MODELS, DEFAULT_PAGE_SIZE
from local.vertex_sim.envelope import REFUSED_BETAS
from local.vertex_sim.steps import Step, StepError, parse_step

MAX_RECORDS = 10_000


@dataclass(frozen=True)
class SimConfig:
    """Pacing of the unscripted reply, the model listing, and the `anthropic-beta` values Vertex refuses."""

    ttft_ms: int = 0
    deltas: int | None = None
    interval_ms: int = 0
    models: tuple[str, ...] = DEFAULT_MODELS
    page_size: int = DEFAULT_PAGE_SIZE
    refused_betas: tuple[str, ...] = tuple(REFUSED_BETAS)

    def updated(self, changes: Mapping[str, Any]) -> SimConfig:
        """A copy with `changes` applied; raises StepError (a ValueError) on unknown keys or bad values."""
        unknown = set(changes) - {f.name for f in fields(self)}
        if unknown:
            raise StepError(f"unknown config keys: {sorted(unknown)}")
        values = dict(changes)
        for name, example in (("models", "'claude-sonnet-4-5@20250929'"), ("refused_betas", "'effort-2025-11-24'")):
            if name in values:
                items = values[name]
                if not isinstance(items, list) or not all(isinstance(item, str) and item for item in items):
                    raise StepError(f"{name} must be a list of non-empty strings such as {example}")
                values[name] = tuple(items)
        config = replace(self, **values)
        config.check()
        return config

    def check(self) -> None:
        for name, minimum in (("ttft_ms", 0), ("interval_ms", 0), ("page_size", 1)):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
                raise StepError(f"{name} must be an integer >= {minimum}")
        if self.deltas is not None and (not isinstance(self.deltas, int) or self.deltas < 1):
            raise StepError("deltas must be null or an integer >= 1")

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "models": list(self.models), "refused_betas": list(self.refused_betas)}


class SimState:
    """Config, pending steps and request records behind one lock; the prompt cache has its own."""

    def __init__(self, defaults: SimConfig, max_records: int = MAX_RECORDS) -> None:
        defaults.check()
        self.defaults = defaults
        self.config = defaults
        self._lock = threading.Lock()
        self._steps: list[list[Any]] = []  # [Step, uses left], oldest first
        self._records: deque[dict[str, Any]] = deque(maxlen=max_records)
        self._ids = itertools.count(1)
        self.cache = PromptCache()

    def script(self, raw_steps: Sequence[Any]) -> int:
        """Append steps (all or none, if one is malformed); returns how many steps are pending."""
        parsed = [parse_step(raw) for raw in raw_steps]
        with self._lock:
            self._steps.extend([step, step.times] for step in parsed)
            return len(self._steps)

    def pop_step(self, facts: Mapping[str, Any]) -> Step | None:
        """Take the oldest step that fits this request, or None for the default behaviour."""
        with self._lock:
            for entry in self._steps:
                step: Step = entry[0]
                if step.fits(facts):
                    entry[1] -= 1
                    if entry[1] == 0:
                        self._steps.remove(entry)
                    return step
        return None

    def pending(self) -> int:
        with self._lock:
            return len(self._steps)

    def record(self, **fields: Any) -> dict[str, Any]:
        """Start a request record; the handler completes it with finish()."""
        entry = {"id": 0, "time": time.time(), "outcome": None, "status": None, "closed_early": False,
                 "finished_at": None, "usage": None, "cache": None, **fields}
        with self._lock:
            entry["id"] = next(self._ids)
            self._records.append(entry)
        return entry

    def annotate(self, entry: dict[str, Any], **fields: Any) -> None:
        """Update fields of a record under the lock (readers may be copying it right now)."""
        with self._lock:
            entry.update(fields)

    def finish(self, entry: dict[str, Any], outcome: str, status: int, *, closed_early: bool = False) -> None:
        with self._lock:
            entry.update(outcome=outcome, status=status, closed_early=closed_early, finished_at=time.time())

    def requests(self) -> list[dict[str, Any]]:
        """Copies of the records, oldest first."""
        with self._lock:
            return copy.deepcopy(list(self._records))

    def configure(self, changes: Mapping[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.config = self.config.updated(changes)
            return self.config.as_json()

    def reset(self) -> None:
        """Drop pending steps, records and cache entries, and return to the starting config and clock."""
        with self._lock:
            self._steps.clear()
            self._records.clear()
            self.config = self.defaults
        self.cache.clear()
