"""PURE: one run's results as Markdown (bench/results/latest.md)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bench import compare
from bench.stats import DASH, added, ms
from bench.targets import find, verdicts

ANALYSIS = Path(__file__).resolve().parent / "results" / "analysis.md"
MARK = {True: "met", False: "**missed**", None: DASH}


def markdown(results: Mapping[str, Any], chart: str | None = None, analysis: Path = ANALYSIS) -> str:
    meta = results["meta"]
    parts = [_header(meta), _sharing(results), _sweep_section(results)]
    if results.get("previous"):
        parts.append(compare.section(results, results["previous"]))
    if results.get("messages"):
        parts.append(_messages_section(results))
    if results.get("sessions"):
        parts.append(_sessions_section(results))
    parts.append(_targets_section(results))
    if results.get("coldstart"):
        parts.append(_cold_section(results["coldstart"]))
    if results.get("soak"):
        parts.append(_soak_section(results["soak"], meta["config"].get("soak", {})))
    if chart:
        parts.append(f"## Chart\n\n![added TTFT versus concurrency]({chart})\n")
    if not meta.get("smoke") and analysis.exists():
        parts.append(analysis.read_text())
    parts.append(_method(meta))
    return "\n".join(parts)


def _sharing(results: Mapping[str, Any]) -> str:
    rows = [*results.get("sweep", []), *(results.get("sessions") or {}).get("rows", [])]
    others = [r["others_cores"] for r in rows if r.get("others_cores") is not None]
    if not others:
        return ""
    mean = sum(others) / len(others)
    if mean < 0.15:
        return f"The machine was otherwise quiet (other processes: {mean:.2f} cores on average).\n"
    return (f"**The machine was shared**: other processes kept {mean:.2f} of its {results['meta']['machine']['cores']} "
            f"cores busy on average during the sweeps (up to {max(others):.2f}); latencies are noisier than on a "
            "quiet machine, ratios within a level less so.\n")


def _header(meta: Mapping[str, Any]) -> str:
    m, v, c = meta["machine"], meta["versions"], meta["config"]
    pacing = c["pacing"]
    title = "# vertexchat benchmark" + (" (smoke mode: checks the bench works; no timing is meaningful)"
                                         if meta.get("smoke") else "")
    return (f"{title}\n\n"
            f"Run {meta['date']} on {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB, Linux {m['kernel']}, "
            f"Python {m['python']}; took {meta.get('duration_s', 0) / 60:.1f} min.\n"
            f"vertexchat {v['vertexchat']} (anthropic SDK {v['anthropic']}); LiteLLM {v['litellm'] or 'not run'}.\n\n"
            f"Simulated Claude: first token after {pacing['ttft_ms']} ms, then {pacing['deltas']} text deltas "
            f"{pacing['interval_ms']} ms apart. Streams per level: "
            + ", ".join(f"c={level}: {n}" for level, n in c["requests"].items())
            + f"; workers start over {c['ramp_s']} s.\n")


SWEEP_HEAD = ("| concurrency | arm | complete | errors | TTFT p50 | TTFT p99 | added TTFT p50 | added TTFT p99 "
              "| gap p50 | gap p99 | added gap p99 | server CPU ms / stream | RSS idle → peak (MB) | MB / stream "
              "| others (cores) |\n"
              "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")


def sweep_rows(rows: list[Mapping[str, Any]], floors: list[Mapping[str, Any]]) -> list[str]:
    """Table rows, times in ms; added values are relative to the direct arm at the same level."""
    lines = []
    for row in rows:
        level = row["concurrency"]
        floor = find(list(floors), "direct", level)
        is_floor = row["arm"] == "direct"

        def plus(key: str, stat: str, row: Mapping[str, Any] = row, floor: Any = floor,
                 is_floor: bool = is_floor) -> str:
            return DASH if is_floor or floor is None else ms(added(row, floor, key, stat))

        rss = per_stream = DASH
        if not is_floor and row.get("rss_peak_mb") and row.get("idle_rss_mb"):
            rss = f"{row['idle_rss_mb']:.0f} → {row['rss_peak_mb']:.0f}"
            per_stream = f"{(row['rss_peak_mb'] - row['idle_rss_mb']) / level:.2f}"
        lines.append(f"| {level} | {row['arm']} | {row['completed']}/{row['requests']} | {row['errors']} "
                     f"| {ms(row['ttft']['p50'])} | {ms(row['ttft']['p99'])} | {plus('ttft', 'p50')} "
                     f"| {plus('ttft', 'p99')} | {ms(row['gap']['p50'])} | {ms(row['gap']['p99'])} "
                     f"| {plus('gap', 'p99')} | {_num(row.get('server_cpu_ms_per_stream'))} | {rss} | {per_stream} "
                     f"| {_num(row.get('others_cores'), 2)} |")
    return lines


def _num(value: float | None, digits: int = 1) -> str:
    return DASH if value is None else f"{value:.{digits}f}"


def _sweep_section(results: Mapping[str, Any]) -> str:
    rows = results.get("sweep", [])
    errors = [f"- {r['arm']} at {r['concurrency']}: {r['error_kinds']}" for r in rows if r["errors"]]
    return "\n".join([
        "## Sweep 1: streamed completions, paced like Claude\n",
        "Times in ms. *Added* = this arm's percentile minus the direct arm's at the same level "
        "(the simulator's own time is the floor). Server CPU: CPU time of the arm's server process tree "
        "per completed stream (for direct, the simulator's). RSS: the server's process tree, after warm-up and "
        "at the peak of the level (vertexchat is started afresh per level with THREADS = concurrency, so at "
        "concurrency 1 gunicorn runs its sync worker; LiteLLM runs all levels in one process). Others: cores "
        "busy with processes outside the benchmark during the level (a shared machine adds noise).\n",
        SWEEP_HEAD, *sweep_rows(rows, rows), "", *(["Errors:", *errors, ""] if errors else []),
    ])


def _messages_section(results: Mapping[str, Any]) -> str:
    rows = results["messages"]
    errors = [f"- {r['arm']} at {r['concurrency']}: {r['error_kinds']}" for r in rows if r["errors"]]
    return "\n".join([
        "## Sweep 3: the Anthropic Messages API (`POST /v1/messages`)\n",
        "The same paced streams asked as Anthropic Messages requests: vertexchat's `messages` function (a "
        "pass-through: the body to Vertex as sent, Claude's events back byte for byte) and LiteLLM's `/v1/messages` "
        "route, each against the direct stream at the same level. Columns as in sweep 1.\n",
        SWEEP_HEAD, *sweep_rows(rows, rows), "", *(["Errors:", *errors, ""] if errors else []),
    ])


def _sessions_section(results: Mapping[str, Any]) -> str:
    sessions = results["sessions"]
    if "skipped" in sessions:
        return f"## Sweep 2: with session_id\n\nSkipped: {sessions['skipped']}\n"
    floors = results.get("sweep", [])
    plain = [r for r in floors if r["arm"] in ("direct", "vertexchat")]
    merged = sorted([*plain, *sessions["rows"]], key=lambda r: (r["concurrency"], r["arm"] != "direct", r["arm"]))
    return "\n".join([
        "## Sweep 2: every request with a session_id (Firestore emulator)\n",
        f"Each worker has its own session. {sessions['note'][0].upper()}{sessions['note'][1:]} "
        f"({sessions['messages_in_first_session']} messages in the first session afterwards). "
        "The direct and plain vertexchat rows are repeated from sweep 1 for comparison.\n",
        SWEEP_HEAD, *sweep_rows(merged, floors), "",
    ])


def _targets_section(results: Mapping[str, Any]) -> str:
    lines = ["## Targets\n", "| target | measured | verdict | by how much |", "|---|---|---|---|"]
    lines += [f"| {v.target} | {v.measured} | {MARK[v.met]} | {v.miss} |" for v in verdicts(results)]
    return "\n".join([*lines, ""])


def _cold_section(cold: Mapping[str, Any]) -> str:
    lines = ["## Cold start\n",
             "Process start (functions-framework, as deployed) to the first good answer; median of the runs. "
             f"For scale: `python -c pass` takes {cold['python_startup_s']:.2f} s"
             + (f" and `python -c \"import anthropic\"` {cold['anthropic_import_s']:.2f} s"
                if cold.get("anthropic_import_s") else "") + " on this machine.\n",
             "| entry point | route | median | runs |", "|---|---|---:|---|"]
    for entry in cold["entries"]:
        runs = ", ".join(DASH if r is None else f"{r:.2f}" for r in entry["runs"]) or entry.get("note", "")
        median = DASH if entry["median_s"] is None else f"{entry['median_s']:.2f} s"
        lines.append(f"| {entry['target']} | `{entry['route']}` | {median} | {runs} |")
    litellm = cold.get("litellm")
    if litellm:
        first = litellm["first_token_s"]
        lines.append(f"| LiteLLM proxy | `/health/liveliness`, then first token | {litellm['ready_s']:.2f} s "
                     f"(first token {first:.2f} s) | |" if first else
                     f"| LiteLLM proxy | `/health/liveliness` | {litellm['ready_s']:.2f} s | |")
    lines += ["", "Import time (`python -X importtime`) of `main.py` plus what each entry point's first request "
                  "imports, summed by top-level package (self time):\n",
              "| entry point | modules | total | top packages |", "|---|---|---:|---|"]
    for target, info in cold.get("imports", {}).items():
        if "error" in info:
            lines.append(f"| {target} | {', '.join(info['modules'])} | {DASH} | {info['error']} |")
            continue
        top = ", ".join(f"{name} {seconds * 1000:.0f}" for name, seconds in info["top"])
        lines.append(f"| {target} | {', '.join(info['modules'])} | {info['total_s'] * 1000:.0f} ms | {top} (ms) |")
    return "\n".join([*lines, ""])


def _soak_section(soaks: list[Mapping[str, Any]], config: Mapping[str, Any]) -> str:
    deltas = (config.get("pacing") or {}).get("deltas")
    lines = ["## Soak\n",
             f"Unpaced streams of {deltas} text deltas (the simulator answers at once, so this is also the "
             "throughput test) at one concurrency, one server process throughout. RSS of the server's process "
             "tree at the start, half-way and at the end.\n",
             "| arm | streams | concurrency | complete | errors | streams/s | TTFT p50 | TTFT p99 "
             "| RSS start → middle → end (MB) | middle → end | RSS every tenth (MB) |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for soak in soaks:
        if "series" not in soak:
            lines.append(f"| {soak['arm']} | skipped: {soak.get('skipped', '')} |||||||||")
            continue
        growth = (soak["end_mb"] - soak["middle_mb"]) / soak["middle_mb"] * 100
        series = " ".join(f"{mb:.0f}" for _, mb in soak["series"])
        lines.append(f"| {soak['arm']} | {soak['requests']} | {soak['concurrency']} | {soak['completed']} "
                     f"| {soak['errors']} | {soak['streams_per_s']:.0f} | {ms(soak['ttft']['p50'])} "
                     f"| {ms(soak['ttft']['p99'])} | {soak['start_mb']:.0f} → {soak['middle_mb']:.0f} → "
                     f"{soak['end_mb']:.0f} | {growth:+.1f} % | {series} |")
    return "\n".join([*lines, ""])


def _method(meta: Mapping[str, Any]) -> str:
    return (
        "## How this was measured\n\n"
        "`make bench` (`python -m bench`). The Vertex simulator (`local/vertex_sim`) and the fake metadata server "
        "run as their own processes; every arm streams the same completion through a separate load-generator "
        "process (`bench/loadgen.py`: asyncio, raw HTTP/1.1 with keep-alive, each SSE event timed as its bytes are "
        "read). Arms: **direct** streams Claude SSE from the simulator's `:streamRawPredict` (the floor); "
        "**vertexchat** is the `chat_completions` function served by functions-framework exactly as deployed "
        "(gunicorn gthread, THREADS = concurrency, AUTH_MODE unset, VERTEXCHAT_SIMULATOR=true); "
        "**vertexchat-responses** is the `responses` function served the same way, streaming `POST /v1/responses` "
        "with `store: false` (its first text is the first `response.output_text.delta`); **LiteLLM** is the "
        "PyPI proxy (`litellm --num_workers 1`, bench/.venv-litellm) with `vertex_ai/` Claude, `api_base` at the "
        "simulator and the same ambient credentials from the metadata server, no master key (as vertexchat has no "
        "auth here) and its local model-cost map (no internet). TTFT is from just before the request is written "
        "to the first chunk carrying text. Gaps are between consecutive text chunks of one stream. Each level "
        "starts with two unpaced warm-up streams per arm.\n"
    )
