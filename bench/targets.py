"""PURE: the issue's targets, checked against one run's results.

Each check answers ``Verdict(target, measured, met, miss)``; ``met`` is None when the run did not
measure it (smoke mode, a skipped arm), and ``miss`` says by how much a missed target was missed.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from bench.stats import DASH, added

VERTEXCHAT = "vertexchat"
Row = Mapping[str, Any]


@dataclass(frozen=True)
class Verdict:
    target: str
    measured: str
    met: bool | None
    miss: str = ""


def find(rows: list[Row], arm: str, level: int) -> Row | None:
    return next((r for r in rows if r["arm"] == arm and r["concurrency"] == level), None)


def _ms(seconds: float | None) -> str:
    return DASH if seconds is None else f"{seconds * 1000:.1f} ms"


def _limit(target: str, value: float | None, limit: float, unit: str, digits: int = 1) -> Verdict:
    """``value`` and ``limit`` in the unit shown."""
    if value is None:
        return Verdict(target, "not measured", None)
    met = value <= limit
    miss = "" if met else f"over by {value - limit:.{digits}f} {unit}"
    return Verdict(target, f"{value:.{digits}f} {unit}", met, miss)


def _to_ms(seconds: float | None) -> float | None:
    return None if seconds is None else seconds * 1000


def added_ttft(rows: list[Row], level: int, stat: str) -> Verdict:
    target = f"added TTFT {stat} at concurrency {level} <= {3 if stat == 'p50' else 10} ms"
    mine, floor = find(rows, VERTEXCHAT, level), find(rows, "direct", level)
    value = added(mine, floor, "ttft", stat) if mine and floor else None
    return _limit(target, _to_ms(value), 3.0 if stat == "p50" else 10.0, "ms")


def fifth_of_litellm(rows: list[Row], levels: list[int]) -> Verdict:
    target = "added TTFT (p50 and p99) <= 1/5 of LiteLLM's at every level"
    parts, met = [], True
    for level in levels:
        floor, mine, theirs = find(rows, "direct", level), find(rows, VERTEXCHAT, level), find(rows, "litellm", level)
        if not (floor and mine and theirs):
            return Verdict(target, "not measured (no LiteLLM arm)", None)
        for stat in ("p50", "p99"):
            ours, lite = added(mine, floor, "ttft", stat), added(theirs, floor, "ttft", stat)
            if ours is None or lite is None:
                continue
            ok = ours <= max(lite, 0.0) / 5
            met = met and ok
            parts.append(f"c={level} {stat}: {_ms(ours)} vs {_ms(lite)}{'' if ok else ' (MISSED)'}")
    return Verdict(target, "; ".join(parts), met, "" if met else "see the levels marked MISSED")


def added_gap(rows: list[Row], level: int) -> Verdict:
    mine, floor = find(rows, VERTEXCHAT, level), find(rows, "direct", level)
    value = added(mine, floor, "gap", "p99") if mine and floor else None
    return _limit(f"added gap between chunks p99 at {level} streams <= 2 ms", _to_ms(value), 2.0, "ms")


def no_buffering(rows: list[Row], deltas: int, interval_ms: int) -> Verdict:
    """Every delta arrived as its own chunk, with the same text as direct, paced like the upstream."""
    target = "no buffering: every delta its own chunk, same text as direct, median gap = upstream interval"
    problems, seen = [], 0
    for row in rows:
        if row["arm"] != VERTEXCHAT:
            continue
        seen += 1
        floor = find(rows, "direct", row["concurrency"])
        if row["content_events"] and row["content_events"] != [deltas]:
            problems.append(f"c={row['concurrency']}: {row['content_events']} chunks per stream")
        if floor and row["content_chars"] != floor["content_chars"]:
            problems.append(f"c={row['concurrency']}: text differs from direct")
        p50 = row["gap"]["p50"]
        if interval_ms and p50 is not None and abs(p50 * 1000 - interval_ms) > max(2.0, interval_ms * 0.25):
            problems.append(f"c={row['concurrency']}: median gap {_ms(p50)}")
    if not seen:
        return Verdict(target, "not measured", None)
    return Verdict(target, "; ".join(problems) or f"{deltas} chunks per stream at every level", not problems,
                   "; ".join(problems))


def full_load(rows: list[Row], level: int) -> Verdict:
    target = f"{level} concurrent streams on one instance: zero errors, every stream complete"
    row = find(rows, VERTEXCHAT, level)
    if row is None:
        return Verdict(target, "not measured", None)
    met = row["errors"] == 0 and row["completed"] == row["requests"]
    return Verdict(target, f"{row['completed']}/{row['requests']} complete, {row['errors']} errors", met,
                   "" if met else f"{row['errors']} errors: {row['error_kinds']}")


def idle_rss(rows: list[Row]) -> Verdict:
    values = [r["worker_idle_rss_mb"] for r in rows if r["arm"] == VERTEXCHAT and r.get("worker_idle_rss_mb")]
    return _limit("chat worker idle RSS <= 150 MB", max(values) if values else None, 150.0, "MB")


def growth_per_stream(rows: list[Row], level: int) -> Verdict:
    target = f"RSS growth <= 0.5 MB per concurrent stream at {level}"
    row = find(rows, VERTEXCHAT, level)
    if row is None or not row.get("rss_peak_mb") or not row.get("idle_rss_mb"):
        return Verdict(target, "not measured", None)
    per_stream = (row["rss_peak_mb"] - row["idle_rss_mb"]) / level
    return _limit(target, per_stream, 0.5, "MB", digits=2)


def soak_growth(soaks: list[Row]) -> Verdict:
    target = "soak: RSS growth <= 10 % from middle to end"
    soak = next((s for s in soaks if s.get("arm") == VERTEXCHAT and "series" in s), None)
    if soak is None:
        return Verdict(target, "not measured", None)
    growth = (soak["end_mb"] - soak["middle_mb"]) / soak["middle_mb"]
    measured = f"{soak['middle_mb']:.1f} -> {soak['end_mb']:.1f} MB ({growth * 100:+.1f} %)"
    met = growth <= 0.10
    return Verdict(target, measured, met, "" if met else f"over by {(growth - 0.10) * 100:.1f} points")


# The entry points that generate load the anthropic SDK on their first request: judged against its import.
GENERATING = ("chat_completions", "messages", "responses")


def cold_light(cold: Row) -> Iterator[Verdict]:
    for entry in cold.get("entries", []):
        if entry["target"] in GENERATING:
            continue
        yield _limit(f"cold start: {entry['target']} answers {entry['route']} within 0.8 s", entry["median_s"],
                     0.8, "s", digits=2)


def cold_generating(cold: Row) -> Iterator[Verdict]:
    """Each generating entry point's first token, within ``import anthropic`` + 0.5 s."""
    for name in GENERATING:
        if any(e["target"] == name for e in cold.get("entries", [])) or name == "chat_completions":
            yield cold_chat(cold, name)


def cold_chat(cold: Row, name: str = "chat_completions") -> Verdict:
    entry = next((e for e in cold.get("entries", []) if e["target"] == name), None)
    anthropic = cold.get("anthropic_import_s")
    label = "chat" if name == "chat_completions" else name
    target = f"cold start: {label} first token within `import anthropic` + 0.5 s"
    if entry is None or entry["median_s"] is None or anthropic is None:
        return Verdict(target, "not measured", None)
    limit = anthropic + 0.5
    measured = f"{entry['median_s']:.2f} s (limit {anthropic:.2f} + 0.5 = {limit:.2f} s)"
    met = entry["median_s"] <= limit
    return Verdict(target, measured, met, "" if met else f"over by {entry['median_s'] - limit:.2f} s")


def messages_ttft(rows: list[Row], level: int, stat: str, limit_ms: float) -> Verdict:
    """Issue 12's pass-through targets, on the /v1/messages sweep (same floor: the direct stream)."""
    target = f"/v1/messages: added TTFT {stat} at concurrency {level} <= {limit_ms:g} ms"
    mine, floor = find(rows, VERTEXCHAT, level), find(rows, "direct", level)
    value = added(mine, floor, "ttft", stat) if mine and floor else None
    return _limit(target, _to_ms(value), limit_ms, "ms")


def messages_verdicts(results: Mapping[str, Any]) -> list[Verdict]:
    """The /v1/messages arm's targets: p50 <= 2 ms at 1 stream, p99 <= 10 ms at 64, a fifth of LiteLLM's."""
    rows = results.get("messages") or []
    if not rows:
        return []
    levels = results["meta"]["config"]["levels"]
    middle = 64 if 64 in levels else max(levels)
    fifth = fifth_of_litellm(rows, levels)
    return [messages_ttft(rows, min(levels), "p50", 2.0), messages_ttft(rows, middle, "p99", 10.0),
            replace(fifth, target=f"/v1/messages: {fifth.target}")]


def verdicts(results: Mapping[str, Any]) -> list[Verdict]:
    """Every target, in the issue's order."""
    rows = results.get("sweep", [])
    config = results["meta"]["config"]
    levels = config["levels"]
    top, middle = max(levels), 64 if 64 in levels else max(levels)
    pacing = config["pacing"]
    return [
        added_ttft(rows, min(levels), "p50"),
        added_ttft(rows, middle, "p99"),
        fifth_of_litellm(rows, levels),
        added_gap(rows, middle),
        no_buffering(rows, pacing["deltas"], pacing["interval_ms"]),
        full_load(rows, top),
        idle_rss(rows),
        growth_per_stream(rows, top),
        soak_growth(results.get("soak", [])),
        *cold_light(results.get("coldstart", {})),
        *cold_generating(results.get("coldstart", {})),
        *messages_verdicts(results),
    ]
