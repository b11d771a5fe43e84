"""The processes a benchmark run starts: the fakes, vertexchat as deployed, and the LiteLLM proxy.

Everything is started through ``local.procs`` (one process group each) and registered with the
caller's ExitStack, so a run that fails half-way still stops all it started, and nothing else.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local import procs

ROOT = procs.ROOT
BENCH_VENV = ROOT / "bench" / ".venv-litellm"
PROJECT = "vertexchat-bench"
REGION = "us-east5"
MODEL = "claude-sonnet-4-5"
VERTEX_MODEL = "claude-sonnet-4-5@20250929"


def bench_python() -> Path | None:
    """The bench-only environment's interpreter (LiteLLM, matplotlib, py-spy), if it was installed."""
    candidate = BENCH_VENV / "bin" / "python"
    return candidate if candidate.exists() else None


@dataclass(frozen=True)
class Pacing:
    """How the simulator paces its unscripted replies."""

    ttft_ms: int
    deltas: int
    interval_ms: int

    def as_json(self) -> dict[str, int]:
        return {"ttft_ms": self.ttft_ms, "deltas": self.deltas, "interval_ms": self.interval_ms}


class Upstreams:
    """The Vertex simulator and the fake metadata server, each its own process."""

    def __init__(self, run_dir: Path, stack: contextlib.ExitStack) -> None:
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.sim_port, self.meta_port = procs.free_port(), procs.free_port()
        self.sim = procs.start("vertex simulator", [sys.executable, "-m", "local.vertex_sim", "--port",
                                                    str(self.sim_port)], env=env, log_path=run_dir / "sim.log")
        stack.callback(self.sim.stop)
        self.meta = procs.start("metadata server", [sys.executable, "-m", "local.metadata_server", "--port",
                                                    str(self.meta_port)], env=env, log_path=run_dir / "meta.log")
        stack.callback(self.meta.stop)
        procs.wait_http(self.sim, f"{self.sim_url}/_sim/config", timeout=30)
        procs.wait_http(self.meta, f"http://{self.meta_host_port}/", timeout=30)

    @property
    def sim_url(self) -> str:
        return f"http://127.0.0.1:{self.sim_port}"

    @property
    def meta_host_port(self) -> str:
        return f"127.0.0.1:{self.meta_port}"

    def pace(self, pacing: Pacing) -> None:
        """Forget recorded requests (they hold bodies) and set the pacing of every reply."""
        _post(f"{self.sim_url}/_sim/reset", {})
        _post(f"{self.sim_url}/_sim/config", pacing.as_json())

    def direct_path(self) -> str:
        return (f"/v1/projects/{PROJECT}/locations/{REGION}/publishers/anthropic/models/"
                f"{VERTEX_MODEL}:streamRawPredict")


def function_env(up: Upstreams, home: Path, *, threads: int, firestore: str | None = None) -> dict[str, str]:
    """vertexchat's environment as the tests build it: explicit, nothing from the developer's shell."""
    env = {
        **procs.ambient_env(home, up.meta_host_port),
        **procs.simulated_upstream_env(up.meta_host_port, up.sim_url),
        "GOOGLE_CLOUD_PROJECT": PROJECT,
        "CLOUD_ML_REGION": REGION,
        "THREADS": str(threads),
    }
    if firestore:
        env["FIRESTORE_EMULATOR_HOST"] = firestore
    return env


def start_vertexchat(target: str, up: Upstreams, run_dir: Path, stack: contextlib.ExitStack, *, threads: int,
                     firestore: str | None = None, tag: str = "") -> tuple[procs.Proc, str]:
    """One function served by functions-framework exactly as deployed; returns it and its URL."""
    port = procs.free_port()
    env = function_env(up, run_dir / "home", threads=threads, firestore=firestore)
    proc = procs.start_function(target, port=port, env=env, threads=threads,
                                log_path=run_dir / f"{target}{tag}.log")
    stack.callback(proc.stop)
    return proc, f"http://127.0.0.1:{port}"


LITELLM_CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: vertex_ai/{vertex_model}
      vertex_project: {project}
      vertex_location: {region}
      api_base: {api_base}
"""


def litellm_env(up: Upstreams, home: Path) -> dict[str, str]:
    """The proxy's environment: the same ambient credentials (metadata server), no internet needed."""
    return {
        **procs.ambient_env(home, up.meta_host_port),
        # The model cost map is fetched from GitHub at start-up otherwise (and retried when offline).
        "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        # vertexchat runs with AUTH_MODE unset (no auth) here; LiteLLM gets the same: no master key.
        "LITELLM_DANGEROUSLY_PERMIT_WEAK_OR_UNSET_MASTER_KEY": "true",
    }


def start_litellm(up: Upstreams, run_dir: Path,
                  stack: contextlib.ExitStack) -> tuple[procs.Proc, str, float, float]:
    """The LiteLLM proxy (one uvicorn worker) for vertex_ai Claude against the simulator.

    Returns the process, its URL, when it was started (``time.perf_counter()``), and the
    seconds from then until it answered its liveness route.
    """
    python = bench_python()
    if python is None:
        raise procs.StartError("LiteLLM is not installed: run `make bench` (it creates bench/.venv-litellm)")
    config = run_dir / "litellm.yaml"
    config.write_text(LITELLM_CONFIG.format(model=MODEL, vertex_model=VERTEX_MODEL, project=PROJECT, region=REGION,
                                            api_base=up.sim_url))
    port = procs.free_port()
    cmd = [str(python.parent / "litellm"), "--config", str(config), "--host", "127.0.0.1", "--port", str(port),
           "--num_workers", "1"]
    started = time.perf_counter()
    proc = procs.start("litellm proxy", cmd, env=litellm_env(up, run_dir / "home-litellm"), cwd=run_dir,
                       log_path=run_dir / "litellm.log")
    stack.callback(proc.stop)
    url = f"http://127.0.0.1:{port}"
    procs.wait_http(proc, f"{url}/health/liveliness", timeout=240, ok=lambda status: status == 200)
    return proc, url, started, time.perf_counter() - started


def litellm_version() -> str | None:
    python = bench_python()
    if python is None:
        return None
    meta = sorted((python.parent.parent / "lib").glob("python*/site-packages/litellm-*.dist-info"))
    return meta[0].name.removeprefix("litellm-").removesuffix(".dist-info") if meta else None


def tree_pids(pid: int) -> list[int]:
    """``pid`` and all its descendants, from /proc's children lists."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            with contextlib.suppress(OSError):
                todo.extend(int(child) for child in task.read_text().split())
    return found


def rss_mb(pid: int) -> float:
    """VmRSS of one process in MB (0 when it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    """User plus system CPU seconds one process has used (0 when it is gone)."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS
    return 0.0


def tree_cpu_s(pid: int) -> float:
    """CPU seconds used by a process tree's live processes."""
    return sum(cpu_s(p) for p in tree_pids(pid))


def host_busy_s() -> float:
    """CPU seconds the whole machine has spent busy (every core, every process) since boot."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9])
    return (user + nice + system + irq + softirq + steal) / _TICKS


def tree_rss_mb(pid: int) -> float:
    """Summed VmRSS of a process tree (gunicorn's arbiter and worker, LiteLLM and any children)."""
    return sum(rss_mb(p) for p in tree_pids(pid))


def largest_rss_mb(pid: int) -> float:
    """VmRSS of the tree's largest process: for functions-framework, the worker serving requests."""
    return max((rss_mb(p) for p in tree_pids(pid)), default=0.0)


@dataclass
class RssSampler:
    """Samples a process tree's RSS on a thread while a load runs; keeps the peak and the series."""

    pid: int
    interval: float = 0.2
    samples: list[tuple[float, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> RssSampler:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        start = time.perf_counter()
        while not self._stop.is_set():
            self.samples.append((time.perf_counter() - start, tree_rss_mb(self.pid)))
            self._stop.wait(self.interval)

    @property
    def peak(self) -> float:
        return max((rss for _, rss in self.samples), default=0.0)


def _post(url: str, payload: Mapping[str, Any]) -> Any:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read() or b"null")


def post_json(url: str, payload: Mapping[str, Any]) -> Any:
    """POST JSON to a loopback URL and decode the answer."""
    return _post(url, payload)
