"""The benchmark's comparison with the previous run: bootstrap noise and the verdicts."""

from __future__ import annotations

from typing import Any

from bench.compare import noise, section, summary_for_next_run, watched


def row(arm: str, level: int, p50: float, p99: float, error: float = 0.001) -> dict[str, Any]:
    return {"arm": arm, "concurrency": level,
            "ttft": {"p50": p50, "p99": p99, "p50_noise": error, "p99_noise": error}}


def results(added: float) -> dict[str, Any]:
    return {"meta": {"date": "2026-12-01", "versions": {"vertexchat": "abc1234"}},
            "sweep": [row("direct", 1, 0.300, 0.302), row("vertexchat", 1, 0.300 + added, 0.303),
                      row("direct", 64, 0.300, 0.310), row("vertexchat", 64, 0.305, 0.310 + added)]}


def test_noise_is_zero_for_identical_samples_and_grows_with_spread() -> None:
    assert noise([0.3] * 50, 50) == 0.0
    assert (noise([0.3, 0.31] * 25, 50) or 0) > 0
    assert noise([0.3], 50) is None


def test_watched_figures_are_added_ttft_with_combined_noise() -> None:
    figures = watched(results(0.003))
    assert round(figures["vertexchat p50@1"]["value"], 6) == 0.003
    assert round(figures["vertexchat p50@1"]["noise"], 6) == round((2 * 0.001 ** 2) ** 0.5, 6)
    assert set(figures) == {"vertexchat p50@1", "vertexchat p99@64"}


def test_a_change_inside_the_noise_is_no_change_and_outside_it_is_named() -> None:
    previous = summary_for_next_run(results(0.003))
    assert "within noise" in section(results(0.0032), previous)
    assert "slower" in section(results(0.010), previous)
    assert "faster" in section(results(-0.004), previous)
    assert section(results(0.003), None) == ""
