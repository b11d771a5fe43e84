"""PURE: this run against the previous published one, with the run-to-run noise of each figure.

The noise of a percentile is estimated by bootstrap: the level's time-to-first-token samples
are resampled with replacement (seeded, so a report is reproducible) and the percentile taken
again; half the width of the central 95 % of those percentiles is the noise, for the arm and for
the direct arm alike, combined as independent errors for the *added* figure. A change smaller
than the noise of both runs is no change.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from bench.stats import DASH, percentile

RESAMPLES = 400
# The two figures issue 11 holds the refactor to: added TTFT p50 at 1 stream and p99 at 64.
WATCHED = (("p50", 1), ("p99", 64))


def noise(samples: Sequence[float], q: float, *, seed: int = 7) -> float | None:
    """Half-width of the bootstrap 95 % interval of the ``q``-th percentile of ``samples``."""
    if len(samples) < 2:
        return None
    rng = random.Random(seed)
    estimates = sorted(percentile([rng.choice(samples) for _ in samples], q) or 0.0 for _ in range(RESAMPLES))
    low, high = estimates[int(0.025 * RESAMPLES)], estimates[int(0.975 * RESAMPLES) - 1]
    return (high - low) / 2


def added_with_noise(rows: Sequence[Mapping[str, Any]], arm: str, level: int,
                     stat: str) -> tuple[float | None, float | None]:
    """(added TTFT ``stat`` of ``arm`` at ``level`` over the direct arm, its noise), in seconds."""
    mine, floor = _row(rows, arm, level), _row(rows, "direct", level)
    if mine is None or floor is None:
        return None, None
    value = float(mine["ttft"][stat]) - float(floor["ttft"][stat])
    errors = [(row.get("ttft") or {}).get(f"{stat}_noise") for row in (mine, floor)]
    if any(e is None for e in errors):
        return value, None
    return value, math.sqrt(sum(float(e) ** 2 for e in errors))


def watched(results: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The watched figures of every non-direct arm: ``{"vertexchat p50@1": {"value", "noise"}, ...}``."""
    rows = results.get("sweep") or []
    arms = sorted({row["arm"] for row in rows} - {"direct"})
    out: dict[str, dict[str, Any]] = {}
    for arm in arms:
        for stat, level in WATCHED:
            value, error = added_with_noise(rows, arm, level, stat)
            if value is not None:
                out[f"{arm} {stat}@{level}"] = {"value": value, "noise": error}
    return out


def section(current: Mapping[str, Any], previous: Mapping[str, Any] | None) -> str:
    """The report's comparison with the previous run (added TTFT, ms, with noise)."""
    if not previous:
        return ""
    now, before = watched(current), previous.get("watched") or {}
    lines = ["## Compared with the previous run\n",
             f"Previous: {previous.get('date', '?')} (vertexchat {previous.get('version', '?')}). Added time to "
             "first token in ms, ± the run-to-run noise (bootstrap 95 %, see `bench/compare.py`); a change "
             "inside the noise is no change.\n",
             "| figure | previous | now | change | verdict |", "|---|---:|---:|---:|---|"]
    for name, figure in now.items():
        old = before.get(name)
        lines.append(f"| {name} | {_fmt(old)} | {_fmt(figure)} | {_delta(old, figure)} | {_verdict(old, figure)} |")
    return "\n".join(lines) + "\n"


def summary_for_next_run(results: Mapping[str, Any]) -> dict[str, Any]:
    meta = results.get("meta") or {}
    return {"date": meta.get("date"), "version": (meta.get("versions") or {}).get("vertexchat"),
            "watched": watched(results)}


def _row(rows: Sequence[Mapping[str, Any]], arm: str, level: int) -> Mapping[str, Any] | None:
    return next((r for r in rows if r.get("arm") == arm and r.get("concurrency") == level), None)


def _fmt(figure: Mapping[str, Any] | None) -> str:
    if not figure or figure.get("value") is None:
        return DASH
    text = f"{figure['value'] * 1000:.1f}"
    return text if figure.get("noise") is None else f"{text} ± {figure['noise'] * 1000:.1f}"


def _delta(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    if not old or old.get("value") is None:
        return DASH
    return f"{(new['value'] - old['value']) * 1000:+.1f}"


def _verdict(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> str:
    if not old or old.get("value") is None:
        return "new"
    allowed = math.hypot(float(old.get("noise") or 0.0), float(new.get("noise") or 0.0))
    change = new["value"] - old["value"]
    if abs(change) <= allowed:
        return "within noise"
    return "slower" if change > 0 else "faster"
