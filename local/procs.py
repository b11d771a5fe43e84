"""Start and stop the local stack's processes: used by `make run`, the tests and the benchmark.

Every process is started in its own process group and stopped by that group's id, so
children (the Firestore emulator's Java process, gunicorn's worker) go with it and
nothing else on the machine is touched.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FUNCTIONS_DIR = ROOT / "functions"
# What start_function() asks a function before calling it ready.
READINESS_PATH = "/openapi.json"


class StartError(RuntimeError):
    """A local process did not come up."""


def ambient_env(home: Path, metadata_host_port: str) -> dict[str, str]:
    """An explicit environment whose only Google credentials are the fake metadata server's.

    Nothing comes from the developer's shell: no key file, no gcloud login (``CLOUDSDK_CONFIG``
    points at an empty folder), so ``google.auth.default()`` takes the metadata-server path.
    """
    (home / "gcloud").mkdir(parents=True, exist_ok=True)
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "HOME": str(home),
        "CLOUDSDK_CONFIG": str(home / "gcloud"),
        "GCE_METADATA_HOST": metadata_host_port,
        "GCE_METADATA_IP": metadata_host_port,
    }


def simulated_upstream_env(metadata_host_port: str, simulator_url: str) -> dict[str, str]:
    """What points a function at the Vertex simulator with the fake metadata server's credentials."""
    return {
        "VERTEXCHAT_SIMULATOR": "true",
        "VERTEX_ENDPOINT": simulator_url,
        "GCE_METADATA_HOST": metadata_host_port,
        "GCE_METADATA_IP": metadata_host_port,
    }


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Proc:
    """A started process group and where its output goes."""

    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path | None

    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the whole process group: SIGTERM, then SIGKILL after ``timeout``."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(5)


def start(name: str, cmd: list[str], *, env: Mapping[str, str], cwd: Path = ROOT,
          log_path: Path | None = None) -> Proc:
    """Start ``cmd`` in a new process group, output to ``log_path`` (or inherited)."""
    out = log_path.open("wb") if log_path else None
    popen = subprocess.Popen(  # noqa: S603 - commands are built by this package, not from input
        cmd, env=dict(env), cwd=cwd, stdout=out, stderr=subprocess.STDOUT if out else None,
        start_new_session=True,
    )
    if out:
        out.close()
    return Proc(name, popen, log_path)


def wait_http(proc: Proc, url: str, *, timeout: float = 60.0,
              ok: Callable[[int], bool] = lambda status: status < 500) -> None:
    """Wait until ``url`` answers; raise StartError with the process output if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise StartError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.output()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - loopback only
                if ok(response.status):
                    return
        except urllib.error.HTTPError as exc:
            if ok(exc.code):
                return
        except OSError:
            pass
        time.sleep(0.1)
    proc.stop()
    raise StartError(f"{proc.name} did not answer {url} within {timeout:.0f}s:\n{proc.output()[-4000:]}")


def start_function(target: str, *, port: int, env: Mapping[str, str], log_path: Path | None = None,
                   threads: int | None = None) -> Proc:
    """Serve ``functions/main.py``'s ``target`` with functions-framework, as Cloud Functions does.

    Through ``local.serve_function``: functions-framework's own app and gunicorn server, with
    idle connections kept for ``KEEPALIVE_SECONDS`` instead of gunicorn's 2 s.
    """
    full_env = {**env, "PORT": str(port)}
    if threads:
        full_env["THREADS"] = str(threads)
    # -P: the launcher's folder (local/) stays off sys.path; the function sees what the CLI gives it.
    cmd = [sys.executable, "-P", str(ROOT / "local" / "serve_function.py"), "--target", target,
           "--source", str(FUNCTIONS_DIR / "main.py"), "--host", "127.0.0.1", "--port", str(port)]
    proc = start(f"function {target}", cmd, env=full_env, cwd=FUNCTIONS_DIR, log_path=log_path)
    # Ready means routed and answering: every function serves its OpenAPI document, publicly,
    # with 200 and without touching Vertex or Firestore. (A made-up path would answer 404 and
    # put a WARNING line at the top of every `make run`.)
    wait_http(proc, f"http://127.0.0.1:{port}{READINESS_PATH}", ok=lambda status: status == 200)
    return proc


def start_firestore(*, port: int, log_path: Path | None = None, env: Mapping[str, str] | None = None) -> Proc:
    """The official Firestore emulator from the Google Cloud CLI."""
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise StartError(
            "The Firestore emulator needs the Google Cloud CLI (`gcloud`) with the cloud-firestore-emulator "
            "component: see https://cloud.google.com/sdk/docs/install, then "
            "`gcloud components install cloud-firestore-emulator`."
        )
    cmd = [gcloud, "emulators", "firestore", "start", f"--host-port=127.0.0.1:{port}", "--quiet"]
    proc = start("firestore emulator", cmd, env=env or os.environ, log_path=log_path)
    wait_http(proc, f"http://127.0.0.1:{port}/", timeout=90, ok=lambda status: status == 200)
    return proc
