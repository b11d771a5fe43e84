"""Runs the load generator as its own process against one arm, sampling the server's memory meanwhile."""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.servers import MODEL, RssSampler, bench_python, host_busy_s, tree_cpu_s, tree_rss_mb

ROOT = Path(__file__).resolve().parent.parent
PROMPT = "Benchmark prompt: tell me a story."


def openai_body(deltas: int) -> dict[str, Any]:
    """The Chat Completions request every OpenAI-speaking arm gets."""
    return {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "stream": True,
            "max_tokens": max(256, deltas * 8), "stream_options": {"include_usage": True}}


def claude_body(deltas: int) -> dict[str, Any]:
    """The same completion as Claude's Messages request, for the direct arm."""
    return {"anthropic_version": "vertex-2023-10-16", "messages": [{"role": "user", "content": PROMPT}],
            "max_tokens": max(256, deltas * 8), "stream": True}


def messages_body(deltas: int) -> dict[str, Any]:
    """The same completion as an Anthropic Messages API request (``POST /v1/messages``), for the messages arms."""
    return {"model": MODEL, "messages": [{"role": "user", "content": PROMPT}], "max_tokens": max(256, deltas * 8),
            "stream": True}


def responses_body(deltas: int) -> dict[str, Any]:
    """The same completion as a Responses request (``store: false``: the sweep measures the stream, not Firestore)."""
    return {"model": MODEL, "input": PROMPT, "stream": True, "max_output_tokens": max(256, deltas * 8),
            "store": False}


@dataclass
class Arm:
    """Where one arm's streams go and how to read them; ``pid`` is the server whose RSS we watch."""

    name: str
    url: str
    path: str
    kind: str  # "openai" | "claude" | "responses": how its stream is read
    pid: int | None = None
    headers: list[str] = field(default_factory=list)
    session_ids: list[str] = field(default_factory=list)
    # A gateway's Anthropic Messages API (read as Claude's stream, asked with a model name).
    messages: bool = False

    def body(self, deltas: int) -> dict[str, Any]:
        if self.messages:
            return messages_body(deltas)
        if self.kind == "responses":
            return responses_body(deltas)
        return claude_body(deltas) if self.kind == "claude" else openai_body(deltas)


def loadgen_python() -> str:
    """uvloop (in the bench environment) keeps the client cheap at 256 streams; plain asyncio otherwise."""
    python = bench_python()
    return str(python) if python is not None else sys.executable


@dataclass
class CpuMeter:
    """CPU used during one load: by the server, the fakes, the load generator, and everything else.

    The fakes are the simulator and (in the session sweep) the Firestore emulator. "Others" is the
    machine's busy time minus all of these: other people's work on a shared machine, which makes
    latencies noisier, so the report shows it.
    """

    server: int | None
    fakes: list[int]
    start: dict[str, float] = field(default_factory=dict)
    used: dict[str, float] = field(default_factory=dict)

    def _now(self) -> dict[str, float]:
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return {"host": host_busy_s(), "server": tree_cpu_s(self.server) if self.server else 0.0,
                "fakes": sum(tree_cpu_s(pid) for pid in self.fakes if pid != self.server),
                "loadgen": children.ru_utime + children.ru_stime, "wall": time.perf_counter()}

    def __enter__(self) -> CpuMeter:
        self.start = self._now()
        return self

    def __exit__(self, *exc: object) -> None:
        end = self._now()
        self.used = {key: end[key] - self.start[key] for key in end}

    def summary(self, streams: int) -> dict[str, float | None]:
        u = self.used
        others = u["host"] - u["server"] - u["fakes"] - u["loadgen"]
        return {"server_cpu_ms_per_stream": u["server"] * 1000 / streams if streams and self.server else None,
                "server_cores": u["server"] / u["wall"], "fakes_cores": u["fakes"] / u["wall"],
                "loadgen_cores": u["loadgen"] / u["wall"], "others_cores": max(0.0, others) / u["wall"]}


def run_load(arm: Arm, *, concurrency: int, requests: int, deltas: int, out: Path, ramp: float = 0.0,
             timeout: float = 120.0, progress_every: int = 0, fake_pids: list[int] | None = None,
             on_progress: Callable[[int], None] | None = None) -> dict[str, Any]:
    """Run one load against ``arm``: the loadgen's summary, the server's RSS and everyone's CPU."""
    cmd = [loadgen_python(), "-m", "bench.loadgen", "--url", arm.url, "--path", arm.path, "--kind", arm.kind,
           "--body", json.dumps(arm.body(deltas)), "--concurrency", str(concurrency), "--requests", str(requests),
           "--ramp", str(ramp), "--timeout", str(timeout), "--json", str(out), "--raw",
           "--progress-every", str(progress_every)]
    for header in arm.headers:
        cmd += ["--header", header]
    if arm.session_ids:
        ids = out.with_suffix(".sessions.json")
        ids.write_text(json.dumps(arm.session_ids))
        cmd += ["--session-ids", str(ids)]
    before = tree_rss_mb(arm.pid) if arm.pid else None
    sampler = RssSampler(arm.pid) if arm.pid else contextlib.nullcontext()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    meter = CpuMeter(arm.pid, fake_pids or [])
    with sampler, meter:
        popen = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True,
                                 start_new_session=True)
        try:
            assert popen.stdout is not None
            for line in popen.stdout:
                if on_progress and line.startswith("{"):
                    on_progress(int(json.loads(line)["done"]))
            if popen.wait(timeout + 600) != 0:
                raise RuntimeError(f"load generator failed with {popen.returncode}")
        finally:
            if popen.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(popen.pid, signal.SIGKILL)
                popen.wait()
    result: dict[str, Any] = json.loads(out.read_text())
    result.update(concurrency=concurrency, arm=arm.name, at=time.time(), **meter.summary(result["completed"]))
    if isinstance(sampler, RssSampler):
        result["rss_before_mb"] = before
        result["rss_peak_mb"] = sampler.peak
        result["rss_after_mb"] = tree_rss_mb(arm.pid) if arm.pid else None
    return result
