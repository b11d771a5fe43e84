"""PURE: percentiles and the per-level comparisons the report is made of.

No third-party imports, so the load generator (which may run under another interpreter)
can use it too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

# What a table cell shows for an unknown value.
DASH = "\u2013"


def percentile(values: Sequence[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100) with linear interpolation, as numpy's default; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(values: Sequence[float], qs: Sequence[float] = (50, 90, 99)) -> dict[str, float | None]:
    """``{"p50": ..., "p90": ..., "p99": ..., "max": ..., "n": ...}`` of ``values``."""
    summary: dict[str, float | None] = {f"p{q:g}": percentile(values, q) for q in qs}
    summary["max"] = max(values) if values else None
    summary["n"] = float(len(values))
    return summary


def added(arm: Mapping[str, Any], floor: Mapping[str, Any], key: str, stat: str) -> float | None:
    """How much ``arm``'s ``key`` statistic exceeds the direct arm's (both in seconds)."""
    mine = (arm.get(key) or {}).get(stat)
    base = (floor.get(key) or {}).get(stat)
    if mine is None or base is None:
        return None
    return float(mine) - float(base)


def ms(value: float | None, digits: int = 1) -> str:
    """Seconds as milliseconds for a table cell; an en dash when unknown."""
    return DASH if value is None else f"{value * 1000:.{digits}f}"
