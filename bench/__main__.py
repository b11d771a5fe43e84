"""CLI: `python -m bench` (the full run, `make bench`) or `python -m bench --smoke` (CI, ~10 s)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench.run import FULL, SMOKE, execute, publish

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="vertexchat vs direct vs LiteLLM.")
    parser.add_argument("--smoke", action="store_true", help="direct and both vertexchat arms, tiny loads")
    parser.add_argument("--out", type=Path, help="where latest.{md,json,png} go (default bench/results; "
                        "a temporary directory with --smoke, so a smoke run never replaces the published results)")
    parser.add_argument("--arms", help="comma-separated subset of direct,vertexchat,vertexchat-responses,litellm")
    parser.add_argument("--levels", help="comma-separated concurrency levels")
    parser.add_argument("--soak-requests", type=int, help="streams in each soak")
    parser.add_argument("--soak-arms", help="comma-separated subset of vertexchat,litellm ('' for none)")
    parser.add_argument("--no-sessions", action="store_true", help="skip the session_id sweep")
    parser.add_argument("--render", action="store_true",
                        help="measure nothing: rebuild latest.md and latest.png from latest.json")
    args = parser.parse_args(argv)

    config = SMOKE if args.smoke else FULL
    if args.arms:
        config = replace(config, arms=tuple(args.arms.split(",")))
    if args.levels:
        config = replace(config, levels=tuple(int(level) for level in args.levels.split(",")))
    if args.soak_requests:
        config = replace(config, soak_requests=args.soak_requests)
    if args.soak_arms is not None:
        config = replace(config, soak_arms=tuple(a for a in args.soak_arms.split(",") if a))
    if args.no_sessions:
        config = replace(config, sessions=False)
    out = args.out or (Path(tempfile.mkdtemp(prefix="vertexchat-bench-smoke-")) if args.smoke else RESULTS)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()

    def log(message: str) -> None:
        print(f"[bench {time.monotonic() - started:6.1f}s] {message}", flush=True)

    if args.render:
        publish(json.loads((out / "latest.json").read_text()), out, log)
    else:
        execute(config, out, log)
    return 0


if __name__ == "__main__":
    sys.exit(main())
