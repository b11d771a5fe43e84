"""Where vertexchat's CPU goes while it streams: py-spy on the chat worker, frames ranked.

    python -m bench.profile --concurrency 8 --requests 1500 --unpaced   # per-stream CPU, no waiting
    python -m bench.profile --concurrency 64 --requests 192             # paced like the sweep

Starts the simulator, the metadata server and ``chat_completions`` (as the sweep does), warms
it up, then records the gunicorn worker with ``py-spy record --gil`` (only the thread holding
the GIL is sampled, so the counts are CPU, not waiting) while the load generator runs. Prints
the frames that hold the most samples, inclusive and self. py-spy comes from the bench
environment (`make bench` installs it).
"""

from __future__ import annotations

import argparse
import contextlib
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.load import Arm, run_load
from bench.servers import BENCH_VENV, Pacing, Upstreams, start_vertexchat, tree_pids

_LINE = re.compile(r":\d+\)")


def rank(collapsed: str, top: int) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]]]:
    """(samples, inclusive top, self top) from py-spy's raw (collapsed) output."""
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = [_LINE.sub(")", frame) for frame in stack.split(";")[1:]]  # the first is the thread
        total += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)
        if frames:
            own[frames[-1]] += int(count)
    return total, inclusive.most_common(top), own.most_common(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__.splitlines()[0])
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--unpaced", action="store_true", help="simulator answers at once (CPU per stream)")
    parser.add_argument("--rate", type=int, default=250, help="py-spy samples per second")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args(argv)
    py_spy = BENCH_VENV / "bin" / "py-spy"
    if not py_spy.exists():
        print("py-spy is missing: run `make bench` once (it creates bench/.venv-litellm)", file=sys.stderr)
        return 2
    pacing = Pacing(0, 64, 0) if args.unpaced else Pacing(300, 64, 20)
    work = Path(tempfile.mkdtemp(prefix="vertexchat-profile-"))
    with contextlib.ExitStack() as stack:
        up = Upstreams(work, stack)
        up.pace(Pacing(0, pacing.deltas, 0))
        proc, url = start_vertexchat("chat_completions", up, work, stack, threads=args.concurrency)
        arm = Arm("vertexchat", url, "/v1/chat/completions", "openai", pid=proc.popen.pid)
        run_load(arm, concurrency=1, requests=2, deltas=pacing.deltas, out=work / "warmup.json")
        up.pace(pacing)
        worker = max(tree_pids(proc.popen.pid))
        out = work / "profile.txt"
        spy = subprocess.Popen([str(py_spy), "record", "--gil", "--threads", "--nonblocking", "--format", "raw",
                                "-r", str(args.rate), "-o", str(out), "--pid", str(worker)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(1.0)
        result = run_load(arm, concurrency=args.concurrency, requests=args.requests, deltas=pacing.deltas,
                          out=work / "load.json", ramp=1.5 if args.concurrency > 1 and not args.unpaced else 0.0)
        spy.send_signal(2)
        spy.wait(30)
    total, inclusive, own = rank(out.read_text(), args.top)
    print(f"{result['completed']}/{result['requests']} streams, {result['errors']} errors, "
          f"{result['streams_per_s']:.0f} streams/s, "
          f"server CPU {result['server_cpu_ms_per_stream'] or 0:.2f} ms/stream; "
          f"{total} samples holding the GIL ({out})")
    for title, frames in (("inclusive", inclusive), ("self", own)):
        print(f"--- {title}")
        for frame, count in frames:
            print(f"{100 * count / max(total, 1):5.1f}%  {frame}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
