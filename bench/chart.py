"""Added time to first token versus concurrency, per arm: `python bench/chart.py latest.json latest.png`.

Runs under the bench-only environment (bench/.venv-litellm), which has matplotlib; the project's
own environment does not need it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

STYLE = {"vertexchat": ("tab:blue", "o"), "vertexchat+session": ("tab:green", "s"), "litellm": ("tab:red", "^")}


def added_series(rows: list[dict[str, Any]], floors: list[dict[str, Any]], arm: str,
                 stat: str) -> tuple[list[int], list[float]]:
    direct = {r["concurrency"]: r["ttft"][stat] for r in floors if r["arm"] == "direct"}
    points = sorted((r["concurrency"], (r["ttft"][stat] - direct[r["concurrency"]]) * 1000)
                    for r in rows if r["arm"] == arm and r["concurrency"] in direct and r["ttft"][stat] is not None)
    return [p[0] for p in points], [p[1] for p in points]


def main(source: Path, target: Path) -> None:
    results = json.loads(source.read_text())
    floors = results.get("sweep", [])
    rows = [*floors, *(results.get("sessions") or {}).get("rows", [])]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for ax, stat in zip(axes, ("p50", "p99"), strict=True):
        for arm, (color, marker) in STYLE.items():
            xs, ys = added_series(rows, floors, arm, stat)
            if xs:
                ax.plot(xs, ys, marker=marker, color=color, label=arm)
                for x, y in zip(xs, ys, strict=True):
                    ax.annotate(f"{y:.1f}", (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7)
        ax.set_xscale("log", base=2)
        ax.set_yscale("symlog", linthresh=1.0)
        levels = sorted({r["concurrency"] for r in floors})
        ax.set_xticks(levels, [str(level) for level in levels])
        ax.set_xlabel("concurrent streams")
        ax.set_title(f"added time to first token, {stat}")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms over direct (symlog)")
    axes[0].legend()
    meta = results["meta"]
    fig.suptitle(f"vertexchat vs LiteLLM {meta['versions'].get('litellm') or ''}, {meta['machine']['cores']} cores, "
                 f"{meta['date']}", fontsize=10)
    fig.tight_layout()
    fig.savefig(target, dpi=110)


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
