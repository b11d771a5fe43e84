"""One benchmark run, phase by phase: sweeps, soak, session sweep, cold starts; then the report.

Arms never run at the same time: each level runs the direct arm (the floor), then vertexchat
(a fresh functions-framework process with THREADS set to the level), then LiteLLM, so that all
three see the same machine in the same minute.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import coldstart, compare, report
from bench.load import Arm, openai_body, run_load
from bench.servers import (
    Pacing,
    Upstreams,
    bench_python,
    largest_rss_mb,
    litellm_version,
    post_json,
    start_litellm,
    start_vertexchat,
    tree_rss_mb,
)
from bench.stats import DASH
from local import procs

ROOT = procs.ROOT


PACED = Pacing(ttft_ms=300, deltas=64, interval_ms=20)
UNPACED = Pacing(ttft_ms=0, deltas=16, interval_ms=0)


@dataclass(frozen=True)
class Config:
    """What a run measures; ``FULL`` is `make bench`, ``SMOKE`` the ten-second CI check."""

    arms: tuple[str, ...] = ("direct", "vertexchat", "vertexchat-responses", "litellm")
    levels: tuple[int, ...] = (1, 16, 64, 256)
    pacing: Pacing = PACED
    single_requests: int = 16
    rounds: int = 3
    ramp_s: float = 1.5
    sessions: bool = True
    soak_arms: tuple[str, ...] = ("vertexchat", "litellm")
    soak_requests: int = 10_000
    # LiteLLM streams about ten times fewer per second: 10,000 would take it a quarter of an hour.
    litellm_soak_requests: int = 3_000
    soak_concurrency: int = 64
    soak_pacing: Pacing = UNPACED
    # The Anthropic Messages API arm (POST /v1/messages): the same streams through each gateway's pass-through.
    messages_arms: tuple[str, ...] = ("direct", "vertexchat", "litellm")
    cold_targets: tuple[str, ...] = ("health", "models", "sessions", "chat_completions", "messages",
                                     "responses")
    cold_reps: int = 3
    smoke: bool = False

    def requests(self, level: int) -> int:
        return self.single_requests if level == 1 else level * self.rounds


FULL = Config()
# The CI check: every phase but the Firestore and LiteLLM ones, each as small as it can be.
SMOKE = Config(arms=("direct", "vertexchat", "vertexchat-responses"), levels=(1, 4),
               pacing=Pacing(ttft_ms=50, deltas=8, interval_ms=5),
               single_requests=3, rounds=2, ramp_s=0.05, sessions=False, soak_arms=("vertexchat",),
               soak_requests=100, litellm_soak_requests=100, soak_concurrency=4,
               soak_pacing=Pacing(ttft_ms=0, deltas=8, interval_ms=0), messages_arms=("direct", "vertexchat"),
               cold_targets=("health",), cold_reps=1, smoke=True)


@dataclass
class Run:
    """The state one run carries between phases."""

    config: Config
    out: Path
    raw: Path
    stack: contextlib.ExitStack
    up: Upstreams
    log: Callable[[str], None]
    up_pacing: Pacing
    results: dict[str, Any] = field(default_factory=dict)
    litellm: Arm | None = None
    litellm_proc: procs.Proc | None = None
    fake_pids: list[int] = field(default_factory=list)

    def load(self, arm: Arm, tag: str, **kwargs: Any) -> dict[str, Any]:
        return run_load(arm, deltas=self.up_pacing.deltas, out=self.raw / f"{tag}.json",
                        fake_pids=[self.up.sim.popen.pid, *self.fake_pids], **kwargs)


def direct_arm(up: Upstreams) -> Arm:
    """The floor: Claude SSE straight from the simulator, which is this arm's server."""
    return Arm("direct", up.sim_url, up.direct_path(), "claude", pid=up.sim.popen.pid,
               headers=["Authorization: Bearer bench-token"])


def warm_up(run: Run, arm: Arm) -> None:
    """Two unpaced streams: imports, clients, catalog and credentials are ready before measuring."""
    pacing = replace(run.config.pacing, ttft_ms=0, interval_ms=0)
    run.up.pace(pacing)
    result = run.load(arm, f"warmup-{arm.name}", concurrency=1, requests=2)
    run.up.pace(run.up_pacing)
    if result["errors"]:
        raise RuntimeError(f"warm-up of {arm.name} failed: {result['error_kinds']}")


def measure(run: Run, arm: Arm, level: int, sweep: str) -> dict[str, Any]:
    cfg = run.config
    idle = tree_rss_mb(arm.pid) if arm.pid else None
    worker_idle = largest_rss_mb(arm.pid) if arm.pid else None
    result = run.load(arm, f"{sweep}-{arm.name}-{level}", concurrency=level, requests=cfg.requests(level),
                      ramp=cfg.ramp_s if level > 1 else 0.0, timeout=120.0)
    raw = result.pop("raw", None)
    if raw is not None:
        (run.raw / f"{sweep}-{arm.name}-{level}.samples.json").write_text(json.dumps(raw))
    result.update(idle_rss_mb=idle, worker_idle_rss_mb=worker_idle)
    run.log(f"  {sweep} c={level:<4} {arm.name:<18} {result['completed']}/{result['requests']} ok, "
            f"TTFT p50 {_ms(result['ttft']['p50'])} p99 {_ms(result['ttft']['p99'])}, "
            f"gap p99 {_ms(result['gap']['p99'])}, server CPU {result['server_cpu_ms_per_stream'] or 0:.1f} ms/stream, "
            f"RSS peak {result.get('rss_peak_mb') or 0:.0f} MB, others {result['others_cores']:.2f} cores")
    return result


def sweep(run: Run, name: str, arms: list[str], *, firestore: str | None = None,
          session_ids: list[str] | None = None) -> list[dict[str, Any]]:
    """Every level, every arm, in turn; vertexchat restarted per level with THREADS = level."""
    run.up.pace(run.config.pacing)
    rows = []
    for level in run.config.levels:
        for arm_name in arms:
            if arm_name == "direct":
                rows.append(measure(run, direct_arm(run.up), level, name))
            elif arm_name == "litellm" and run.litellm is not None:
                warm_up(run, run.litellm)
                rows.append(measure(run, run.litellm, level, name))
            elif arm_name.startswith("vertexchat"):
                function, path, kind = _VERTEXCHAT_ARMS.get(arm_name, _VERTEXCHAT_ARMS["vertexchat"])
                with contextlib.ExitStack() as level_stack:
                    proc, url = start_vertexchat(function, run.up, run.raw, level_stack, threads=level,
                                                 firestore=firestore, tag=f"-{name}-{level}")
                    arm = Arm(arm_name, url, path, kind, pid=proc.popen.pid,
                              session_ids=(session_ids or [])[:level])
                    warm_up(run, arm)
                    rows.append(measure(run, arm, level, name))
    return rows


# vertexchat's arms: the function serving it, the path and how its stream is read.
_VERTEXCHAT_ARMS = {"vertexchat": ("chat_completions", "/v1/chat/completions", "openai"),
                    "vertexchat-responses": ("responses", "/v1/responses", "responses")}


def messages_sweep(run: Run) -> list[dict[str, Any]]:
    """Sweep 3: ``POST /v1/messages`` at every level: direct, vertexchat's ``messages`` function, LiteLLM's route."""
    run.up.pace(run.config.pacing)
    rows = []
    for level in run.config.levels:
        for arm_name in run.config.messages_arms:
            if arm_name == "direct":
                rows.append(measure(run, direct_arm(run.up), level, "messages"))
            elif arm_name == "litellm" and run.litellm is not None:
                arm = replace(run.litellm, path="/v1/messages", kind="claude", messages=True)
                warm_up(run, arm)
                rows.append(measure(run, arm, level, "messages"))
            elif arm_name == "vertexchat":
                with contextlib.ExitStack() as level_stack:
                    proc, url = start_vertexchat("messages", run.up, run.raw, level_stack, threads=level,
                                                 tag=f"-messages-{level}")
                    arm = Arm("vertexchat", url, "/v1/messages", "claude", pid=proc.popen.pid, messages=True)
                    warm_up(run, arm)
                    rows.append(measure(run, arm, level, "messages"))
    return rows


def soak(run: Run, arm_name: str) -> dict[str, Any]:
    """Many unpaced streams at one concurrency; the server's RSS at every tenth of the way."""
    cfg = run.config
    run.up_pacing = cfg.soak_pacing
    run.up.pace(cfg.soak_pacing)
    with contextlib.ExitStack() as soak_stack:
        if arm_name == "litellm":
            if run.litellm is None:
                return {"arm": arm_name, "skipped": "LiteLLM not running"}
            arm = run.litellm
        else:
            proc, url = start_vertexchat("chat_completions", run.up, run.raw, soak_stack,
                                         threads=cfg.soak_concurrency, tag="-soak")
            arm = Arm("vertexchat", url, "/v1/chat/completions", "openai", pid=proc.popen.pid)
        warm_up(run, arm)
        assert arm.pid is not None
        pid = arm.pid
        series: list[tuple[int, float]] = [(0, tree_rss_mb(pid))]
        requests = cfg.litellm_soak_requests if arm_name == "litellm" else cfg.soak_requests
        result = run.load(arm, f"soak-{arm_name}", concurrency=cfg.soak_concurrency, requests=requests,
                          progress_every=max(1, requests // 10), timeout=120.0,
                          on_progress=lambda done: series.append((done, tree_rss_mb(pid))))
        result.pop("raw", None)
        time.sleep(1.0)
        result.update(arm=arm_name, series=series, rss_idle_after_mb=tree_rss_mb(pid))
    run.up_pacing = cfg.pacing
    middle = min(series, key=lambda point: abs(point[0] - requests / 2))
    result.update(start_mb=series[0][1], middle_mb=middle[1], end_mb=series[-1][1])
    run.log(f"  soak {arm_name}: {result['completed']}/{result['requests']} ok in {result['wall_s']:.0f}s "
            f"({result['streams_per_s']:.0f} streams/s); RSS {series[0][1]:.0f} -> {middle[1]:.0f} -> "
            f"{series[-1][1]:.0f} MB")
    return result


def session_sweep(run: Run) -> dict[str, Any]:
    """The vertexchat arm again, every request carrying its worker's own session_id."""
    port = procs.free_port()
    try:
        fs = procs.start_firestore(port=port, log_path=run.raw / "firestore.log")
    except procs.StartError as exc:
        return {"skipped": f"Firestore emulator unavailable: {str(exc).splitlines()[0]}"}
    run.stack.callback(fs.stop)
    run.fake_pids.append(fs.popen.pid)
    firestore = f"127.0.0.1:{port}"
    _, sessions_url = start_vertexchat("sessions", run.up, run.raw, run.stack, threads=8, firestore=firestore)
    ids = [post_json(f"{sessions_url}/v1/sessions", {"title": f"bench {i}"})["id"]
           for i in range(max(run.config.levels))]
    rows = sweep(run, "sessions", ["vertexchat+session"], firestore=firestore, session_ids=ids)
    with urllib.request.urlopen(f"{sessions_url}/v1/sessions/{ids[0]}/messages", timeout=30) as response:
        stored = len(json.loads(response.read())["data"])
    note = ("chat persisted the exchanges (user and assistant messages) in Firestore" if stored else
            "chat accepted session_id but stored nothing: session persistence was not wired into chat yet "
            "at the time of this run, so these rows show the cost of carrying the field only")
    run.log(f"  sessions: {stored} messages stored in the first session")
    return {"rows": rows, "messages_in_first_session": stored, "persisted": bool(stored), "note": note,
            "firestore": firestore}


def litellm_cold(run: Run) -> dict[str, Any] | None:
    """Start LiteLLM (kept for the sweeps) and time its start-up and its first token."""
    if "litellm" not in run.config.arms:
        return None
    run.up.pace(replace(run.config.pacing, ttft_ms=0, interval_ms=0))
    proc, url, started, ready_s = start_litellm(run.up, run.raw, run.stack)
    first = coldstart.first_token_s(int(url.rsplit(":", 1)[1]), started, started + 300)
    run.up.pace(run.config.pacing)
    run.litellm = Arm("litellm", url, "/v1/chat/completions", "openai", pid=proc.popen.pid)
    run.litellm_proc = proc
    run.log(f"  litellm ready after {ready_s:.1f}s, first token after {first or 0:.1f}s")
    return {"ready_s": ready_s, "first_token_s": first, "idle_rss_mb": tree_rss_mb(proc.popen.pid)}


def machine() -> dict[str, Any]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {"cores": os.cpu_count(), "cpu": cpu, "memory_gib": round(mem_kb / 2**20),
            "kernel": platform.release(), "python": platform.python_version()}


def versions() -> dict[str, Any]:
    sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True,
                         check=False).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "functions"], cwd=ROOT, capture_output=True, text=True,
                           check=False).stdout.strip()
    from importlib.metadata import version  # noqa: PLC0415

    return {"vertexchat": f"{sha}{'+dirty' if dirty else ''}", "litellm": litellm_version(),
            "anthropic": version("anthropic")}


def execute(config: Config, out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    """Run every phase; returns the results (also written as JSON, Markdown and PNG under ``out``)."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = out / "raw" / stamp
    raw.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        up = Upstreams(raw, stack)
        run = Run(config, out, raw, stack, up, log, config.pacing)
        run.results["meta"] = {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "machine": machine(),
                               "loadavg_at_start": Path("/proc/loadavg").read_text().split()[:3],
                               "versions": versions(), "config": _config_json(config), "smoke": config.smoke}
        log("LiteLLM start-up" if "litellm" in config.arms else "no LiteLLM arm")
        litellm = litellm_cold(run)
        log("sweep 1: paced streams")
        run.results["sweep"] = sweep(run, "sweep", list(config.arms))
        log("sweep 3: the Anthropic Messages API (/v1/messages)")
        run.results["messages"] = messages_sweep(run)
        log("soak")
        run.results["soak"] = [soak(run, name) for name in config.soak_arms
                               if name != "litellm" or run.litellm is not None]
        if run.litellm_proc is not None:
            # Stopped now, so its background tasks cannot disturb the phases that follow.
            run.results["litellm_rss_after_mb"] = tree_rss_mb(run.litellm_proc.popen.pid)
            run.litellm_proc.stop()
        firestore = None
        if config.sessions:
            log("sweep 2: with session_id")
            run.results["sessions"] = session_sweep(run)
            firestore = run.results["sessions"].get("firestore")
        log("cold starts")
        run.up.pace(replace(config.pacing, ttft_ms=0, interval_ms=0))
        cold = coldstart.coldstarts(list(config.cold_targets), up, raw, firestore=firestore, reps=config.cold_reps)
        cold["litellm"] = litellm
        cold["imports"] = {t: coldstart.safe_import_breakdown(t, up, raw) for t in config.cold_targets}
        run.results["coldstart"] = cold
    run.results["meta"]["duration_s"] = time.perf_counter() - started
    publish(run.results, out, log)
    return run.results


def publish(results: dict[str, Any], out: Path, log: Callable[[str], None]) -> None:
    """latest.json, latest.md and (when matplotlib is available) latest.png.

    The figures of the run being replaced are kept in ``results["previous"]``, so the report
    compares the two runs (``bench/compare.py``).
    """
    previous = out / "latest.json"
    if previous.exists() and "previous" not in results:
        with contextlib.suppress(ValueError, KeyError):
            results["previous"] = compare.summary_for_next_run(json.loads(previous.read_text()))
    (out / "latest.json").write_text(json.dumps(results, indent=1))
    png = out / "latest.png"
    python = bench_python()
    chart_ok = False
    if python is not None:
        done = subprocess.run([str(python), str(ROOT / "bench" / "chart.py"), str(out / "latest.json"), str(png)],
                              capture_output=True, text=True, check=False)
        chart_ok = done.returncode == 0
        if not chart_ok:
            log(f"chart failed: {done.stderr.strip()[-500:]}")
    (out / "latest.md").write_text(report.markdown(results, chart="latest.png" if chart_ok else None))
    log(f"wrote {out / 'latest.md'}")


def _config_json(config: Config) -> dict[str, Any]:
    return {"arms": list(config.arms), "levels": list(config.levels), "pacing": config.pacing.as_json(),
            "requests": {str(level): config.requests(level) for level in config.levels}, "ramp_s": config.ramp_s,
            "messages_arms": list(config.messages_arms),
            "soak": {"requests": config.soak_requests, "litellm_requests": config.litellm_soak_requests,
                     "concurrency": config.soak_concurrency,
                     "pacing": config.soak_pacing.as_json()},
            "body": openai_body(config.pacing.deltas)}


def _ms(value: float | None) -> str:
    return DASH if value is None else f"{value * 1000:.1f} ms"
