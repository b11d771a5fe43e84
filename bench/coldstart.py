"""Cold start: process start to first good answer for each entry point, and where import time goes.

A Cloud Functions instance starts cold on the first request after a scale-up, so the time from
``exec`` to the first answer is latency a user sees. Each measurement starts functions-framework
exactly as deployed and polls the entry point's route until it answers 200 (for chat: until the
first content token of a streamed completion arrives).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import re
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.load import messages_body, openai_body, responses_body
from bench.servers import Upstreams, function_env
from local import procs

POLL_SECONDS = 0.005
ROUTES = {
    "health": ("GET", "/health?deep=0"),
    "models": ("GET", "/v1/models"),
    "sessions": ("GET", "/v1/sessions"),
    "chat_completions": ("POST", "/v1/chat/completions"),
    "messages": ("POST", "/v1/messages"),
    "responses": ("POST", "/v1/responses"),
}
# What each entry point imports on its first request, beyond main.py (route targets load lazily).
FIRST_REQUEST_MODULES = {
    "health": ["vertexchat.health"],
    "models": ["vertexchat.auth", "vertexchat.model_list"],
    "sessions": ["vertexchat.auth", "vertexchat.sessions.routes", "vertexchat.sessions.store"],
    "chat_completions": ["vertexchat.auth", "vertexchat.openai_chat.route", "vertexchat.upstream.claude"],
    "messages": ["vertexchat.auth", "vertexchat.anthropic_messages.route", "vertexchat.upstream.http"],
    "responses": ["vertexchat.auth", "vertexchat.openai_responses.route", "vertexchat.upstream.claude"],
}
_IMPORT_LINE = re.compile(r"^import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)$")


def functions_framework() -> str:
    candidate = Path(sys.executable).parent / "functions-framework"
    return str(candidate) if candidate.exists() else "functions-framework"


def first_token_s(port: int, started: float, deadline: float, path: str = "/v1/chat/completions") -> float | None:
    """Stream one completion; seconds from ``started`` to its first content token (None: no token)."""
    responses, messages = path == "/v1/responses", path == "/v1/messages"
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=max(1.0, deadline - time.perf_counter()))
    try:
        body = messages_body(8) if messages else responses_body(8) if responses else openai_body(8)
        conn.request("POST", path, body=json.dumps(body),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        if response.status != 200:
            return None
        for raw in response:
            line = raw.strip()
            if line.startswith(b"data:") and line[5:].strip() != b"[DONE]" and _has_text(json.loads(line[5:])):
                return time.perf_counter() - started
        return None
    finally:
        conn.close()


def _has_text(event: dict[str, Any]) -> bool:
    """Whether a chat chunk, a Responses event or a Claude event carries answer text."""
    if event.get("type") == "response.output_text.delta":
        return bool(event.get("delta"))
    if event.get("type") == "content_block_delta":
        return bool((event.get("delta") or {}).get("text"))
    choices = event.get("choices") or [{}]
    return bool((choices[0].get("delta") or {}).get("content"))


def _answered(method: str, port: int, path: str, started: float, deadline: float) -> float | None:
    """One attempt: the elapsed seconds if the route answered as wanted; None to poll again."""
    try:
        if method == "POST":
            return first_token_s(port, started, deadline, path)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        try:
            conn.request(method, path)
            status = conn.getresponse().status
        finally:
            conn.close()
        return time.perf_counter() - started if status == 200 else None
    except (ConnectionError, http.client.HTTPException, OSError):
        return None


def measure_entry(target: str, up: Upstreams, run_dir: Path, *, firestore: str | None,
                  timeout: float = 60.0) -> float | None:
    """Seconds from process start to the entry point's first good answer (None if none in time)."""
    method, path = ROUTES[target]
    port = procs.free_port()
    env = {**function_env(up, run_dir / "home", threads=8, firestore=firestore), "PORT": str(port)}
    cmd = [functions_framework(), "--target", target, "--source", str(procs.FUNCTIONS_DIR / "main.py"),
           "--host", "127.0.0.1", "--port", str(port)]
    started = time.perf_counter()
    proc = procs.start(f"cold {target}", cmd, env=env, cwd=procs.FUNCTIONS_DIR,
                       log_path=run_dir / f"cold-{target}.log")
    try:
        deadline = started + timeout
        while time.perf_counter() < deadline and proc.alive():
            elapsed = _answered(method, port, path, started, deadline)
            if elapsed is not None:
                return elapsed
            time.sleep(POLL_SECONDS)
        return None
    finally:
        proc.stop()


def interpreter_s(code: str, reps: int) -> float:
    """Median wall seconds of ``python -c code`` with the project's interpreter."""
    times = []
    for _ in range(reps):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def coldstarts(targets: list[str], up: Upstreams, run_dir: Path, *, firestore: str | None,
               reps: int) -> dict[str, Any]:
    """Every target's cold start (median of ``reps``), next to the interpreter's own costs."""
    entries: list[dict[str, Any]] = []
    for target in targets:
        if target == "sessions" and firestore is None:
            entries.append({"target": target, "route": ROUTES[target][1], "runs": [], "median_s": None,
                            "note": "skipped: no Firestore emulator"})
            continue
        runs = [measure_entry(target, up, run_dir, firestore=firestore) for _ in range(reps)]
        good = [r for r in runs if r is not None]
        entries.append({"target": target, "route": ROUTES[target][1], "runs": runs,
                        "median_s": statistics.median(good) if good else None})
    chat = "chat_completions" in targets or "messages" in targets or "responses" in targets
    return {
        "entries": entries,
        "anthropic_import_s": interpreter_s("import anthropic", reps) if chat else None,
        "python_startup_s": interpreter_s("pass", reps),
    }


def import_breakdown(target: str, up: Upstreams, run_dir: Path, *, top: int = 8) -> dict[str, Any]:
    """``python -X importtime`` of main.py plus what the target's first request imports, by package."""
    modules = ["main", *FIRST_REQUEST_MODULES[target]]
    env = function_env(up, run_dir / "home", threads=8)
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "; ".join(f"import {m}" for m in modules)],
                          cwd=procs.FUNCTIONS_DIR, env=env, capture_output=True, text=True, check=True)
    by_package: dict[str, float] = defaultdict(float)
    cumulative: dict[str, float] = {}
    for line in done.stderr.splitlines():
        found = _IMPORT_LINE.match(line)
        if found is None:
            continue
        self_us, cumulative_us, _, name = found.groups()
        by_package[name.split(".")[0]] += int(self_us) / 1e6
        if name in modules:
            cumulative[name] = int(cumulative_us) / 1e6
    ranked = sorted(by_package.items(), key=lambda item: item[1], reverse=True)
    return {"modules": modules, "total_s": sum(by_package.values()), "cumulative_s": cumulative,
            "top": ranked[:top]}


def safe_import_breakdown(target: str, up: Upstreams, run_dir: Path) -> dict[str, Any]:
    with contextlib.suppress(subprocess.CalledProcessError):
        return import_breakdown(target, up, run_dir)
    return {"modules": FIRST_REQUEST_MODULES[target], "error": "import failed"}
