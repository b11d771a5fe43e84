"""`make run`: the whole stack on http://127.0.0.1:3284 (or $PORT).

Starts the official Firestore emulator, then serves the ``api`` function with
functions-framework. With ambient Google credentials (GOOGLE_APPLICATION_CREDENTIALS or a
gcloud application-default login) the function talks to Vertex AI for real; without them
it starts the Vertex simulator and a fake metadata server, says so in the banner, and every
response carries ``X-Upstream: simulator``.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import tempfile
import threading
from pathlib import Path

from local import procs

DEFAULT_PORT = 3284


def ambient_credentials_file() -> Path | None:
    """The credentials file google.auth.default() would use on a workstation, if any."""
    explicit = os.environ.get("GOOGLE_APPLICATION_CREDENTIALS")
    if explicit and Path(explicit).is_file():
        return Path(explicit)
    config_dir = Path(os.environ.get("CLOUDSDK_CONFIG") or Path.home() / ".config" / "gcloud")
    adc = config_dir / "application_default_credentials.json"
    return adc if adc.is_file() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", DEFAULT_PORT)))
    parser.add_argument("--simulator", action="store_true", help="use the Vertex simulator even with credentials")
    args = parser.parse_args(argv)
    if os.environ.get("K_SERVICE"):
        print("local.stack is for local emulation only and K_SERVICE is set; refusing to start.", file=sys.stderr)
        return 2

    state = Path(tempfile.mkdtemp(prefix="vertexchat-run-"))
    started: list[procs.Proc] = []
    servers: list[object] = []
    env = dict(os.environ)
    try:
        firestore_port = procs.free_port()
        started.append(procs.start_firestore(port=firestore_port, log_path=state / "firestore.log"))
        env["FIRESTORE_EMULATOR_HOST"] = f"127.0.0.1:{firestore_port}"
        env.setdefault("GOOGLE_CLOUD_PROJECT", "vertexchat-local")

        credentials = None if args.simulator else ambient_credentials_file()
        if credentials is None:
            env.update(_start_simulated_upstream(servers))
        function = procs.start_function("api", port=args.port, env=env, log_path=None)
        started.append(function)
        _banner(args.port, credentials, env, state)
        _wait_for_signal(function)
        return 0
    except procs.StartError as exc:
        print(f"make run: {exc}", file=sys.stderr)
        return 1
    finally:
        for proc in reversed(started):
            proc.stop()
        for server in servers:
            server.stop()  # type: ignore[attr-defined]


def _start_simulated_upstream(servers: list[object]) -> dict[str, str]:
    from local.metadata_server import MetadataServer  # noqa: PLC0415
    from local.vertex_sim import VertexSimulator  # noqa: PLC0415

    metadata = MetadataServer()
    metadata.start()
    servers.append(metadata)
    simulator = VertexSimulator()
    simulator.start()
    servers.append(simulator)
    return {
        **procs.simulated_upstream_env(metadata.host_port, simulator.url),
        # Make sure google.auth.default() finds the fake metadata server, not a stray login.
        "CLOUDSDK_CONFIG": tempfile.mkdtemp(prefix="vertexchat-gcloud-"),
    }


def _banner(port: int, credentials: Path | None, env: dict[str, str], state: Path) -> None:
    upstream = (f"Vertex AI ({env.get('CLOUD_ML_REGION', 'global')}) with credentials from {credentials}"
                if credentials else
                f"the Vertex SIMULATOR at {env['VERTEX_ENDPOINT']} (no Google credentials found; "
                "responses carry X-Upstream: simulator)")
    print(
        "\n".join([
            "",
            f"vertexchat is serving on http://127.0.0.1:{port}",
            f"  upstream:  {upstream}",
            f"  firestore: emulator at {env['FIRESTORE_EMULATOR_HOST']}",
            f"  auth:      {_auth_line(env)}",
            f"  logs:      {state}",
            "",
            f"  curl -X POST http://127.0.0.1:{port}/v1/chat/completions -H 'Content-Type: application/json' \\",
            "    -d '{\"model\": \"claude-sonnet-4\", \"messages\": [{\"role\": \"user\", \"content\": \"Hello\"}]}'",
            "",
            "Press Ctrl-C to stop.",
        ]),
        flush=True,
    )


def _auth_line(env: dict[str, str]) -> str:
    mode = env.get("AUTH_MODE", "").strip().lower() or "none"
    if mode == "none":
        return ("NONE: every request is the fixed local identity 'local-user' "
                "(local emulation only; a deployment refuses AUTH_MODE=none)")
    return f"{mode} (bearer tokens verified)"


def _wait_for_signal(function: procs.Proc) -> None:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    while not stop.is_set() and function.alive():
        stop.wait(0.5)


if __name__ == "__main__":
    sys.exit(main())
