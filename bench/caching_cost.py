"""What prompt caching saves: a 10-turn conversation billed with ``PROMPT_CACHING=off`` and ``auto``.

``python -m bench.caching_cost`` (also run by ``make bench``; ``tests/test_bench_smoke.py`` runs it
too). The conversation is what an OpenAI client sends that marks nothing: a ~6,000-token system
prompt, 12 tools, ten user questions, the whole history resent every turn. It goes through
vertexchat (functions-framework, exactly as deployed) to the Vertex simulator, whose prompt
cache model bills each request; the cost is in input-token equivalents at list-price weights:
uncached input 1x, cache writes 1.25x (5-minute TTL), cache reads 0.1x.
"""

from __future__ import annotations

import contextlib
import json
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any

from bench.servers import VERTEX_MODEL, Upstreams, function_env
from local import procs

WEIGHTS = {"input_tokens": 1.0, "cache_creation_input_tokens": 1.25, "cache_read_input_tokens": 0.1}
SYSTEM = " ".join(f"Rule {i}: answer precisely, cite the handbook section {i}, and never guess." for i in range(330))
TOOLS = [{"type": "function", "function": {
    "name": f"tool_{i}", "description": f"Looks up records of kind {i} in the warehouse database.",
    "parameters": {"type": "object", "properties": {"id": {"type": "string"}}, "required": ["id"]}}}
    for i in range(12)]
TURNS = 10


def _post(url: str, payload: Any) -> Any:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read() or b"null")


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.loads(response.read())


def conversation(api: str) -> None:
    """Ten turns, the whole history resent each time, as an OpenAI client does."""
    messages: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}]
    for turn in range(TURNS):
        messages.append({"role": "user", "content": f"Question {turn}: what does rule {turn} mean for bay {turn}?"})
        completion = _post(f"{api}/v1/chat/completions", {"model": VERTEX_MODEL, "messages": messages,
                                                          "tools": TOOLS, "max_tokens": 256})
        messages.append({"role": "assistant", "content": completion["choices"][0]["message"]["content"]})


def measure(up: Upstreams, run_dir: Path, stack: contextlib.ExitStack, mode: str) -> dict[str, int]:
    """The summed billed usage of the conversation under ``PROMPT_CACHING=mode``."""
    port = procs.free_port()
    env = {**function_env(up, run_dir / "home", threads=1), "PROMPT_CACHING": mode}
    proc = procs.start_function("api", port=port, env=env, threads=1, log_path=run_dir / f"api-{mode}.log")
    stack.callback(proc.stop)
    _post(f"{up.sim_url}/_sim/reset", {})
    _post(f"{up.sim_url}/_sim/config", {"ttft_ms": 0, "deltas": 4, "interval_ms": 0})
    conversation(f"http://127.0.0.1:{port}")
    billed = [r["usage"] for r in _get(f"{up.sim_url}/_sim/requests") if r.get("usage")]
    assert len(billed) == TURNS, billed
    return {key: sum(int(u.get(key) or 0) for u in billed) for key in WEIGHTS}


def cost(usage: dict[str, int]) -> float:
    return sum(usage[key] * weight for key, weight in WEIGHTS.items())


def report(results: dict[str, dict[str, int]]) -> str:
    """The markdown table the README shows."""
    lines = [f"10-turn conversation, ~6,000-token system prompt, 12 tools, {VERTEX_MODEL} (simulator's cache model)",
             "",
             "| PROMPT_CACHING | prompt tokens | uncached input | cache writes | cache reads | cost (input-token "
             "equivalents) |",
             "|---|---:|---:|---:|---:|---:|"]
    for mode, usage in results.items():
        prompt = sum(usage.values())
        lines.append(f"| `{mode}` | {prompt:,} | {usage['input_tokens']:,} | {usage['cache_creation_input_tokens']:,} "
                     f"| {usage['cache_read_input_tokens']:,} | {cost(usage):,.0f} |")
    off, on = cost(results["off"]), cost(results["auto"])
    lines += ["", f"Caching on costs {on / off:.0%} of caching off ({off / on:.1f}x cheaper)."]
    return "\n".join(lines)


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        run_dir = Path(tmp)
        up = Upstreams(run_dir, stack)
        results = {mode: measure(up, run_dir, stack, mode) for mode in ("off", "auto")}
    print(report(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
