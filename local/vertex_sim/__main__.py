"""CLI: `python -m local.vertex_sim --port N [--ttft-ms MS --deltas N --interval-ms MS]`."""

from __future__ import annotations

import argparse

from local._http import run_guarded, serve_cli
from local.vertex_sim.catalog import DEFAULT_PAGE_SIZE
from local.vertex_sim.server import make_server
from local.vertex_sim.state import SimConfig, SimState


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGTERM/SIGINT, announcing the URL on one stdout line."""
    parser = argparse.ArgumentParser(prog="python -m local.vertex_sim", description="Vertex AI simulator for Claude.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ttft-ms", type=int, default=0, help="delay before message_start")
    parser.add_argument("--deltas", type=int, default=None, help="text deltas per unscripted reply")
    parser.add_argument("--interval-ms", type=int, default=0, help="delay between text deltas")
    parser.add_argument("--page-size", type=int, default=DEFAULT_PAGE_SIZE, help="model listing page size")
    args = parser.parse_args(argv)

    def serve() -> int:
        config = SimConfig(ttft_ms=args.ttft_ms, deltas=args.deltas, interval_ms=args.interval_ms,
                           page_size=args.page_size)
        server = make_server(args.host, args.port, SimState(config))
        return serve_cli(server, f"vertex simulator listening on http://{server.server_name}:{server.server_port}")

    return run_guarded("Vertex AI simulator", serve)


if __name__ == "__main__":
    raise SystemExit(main())
