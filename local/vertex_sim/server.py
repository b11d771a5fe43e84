"""`VertexSimulator`: the simulator as a Python object that tests start, script, inspect and stop.

Its methods call the same SimState the `/_sim/` routes use, so scripting in-process and over HTTP
behave identically.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from local._http import LocalService, LoopbackServer, refuse_on_cloud_run
from local._keep import KEEP, Keep
from local.vertex_sim.catalog import DEFAULT_MODELS, DEFAULT_PAGE_SIZE
from local.vertex_sim.handler import SimHandler
from local.vertex_sim.state import MAX_RECORDS, SimConfig, SimState


def make_server(host: str, port: int, state: SimState) -> LoopbackServer[SimState]:
    """Bind a simulator server (not yet serving); refuses on Cloud Run."""
    refuse_on_cloud_run("Vertex AI simulator")
    return LoopbackServer((host, port), SimHandler, state)


class VertexSimulator(LocalService[SimState]):
    """A loopback Vertex AI endpoint for Claude; point AnthropicVertex at `base_url`."""

    name = "Vertex AI simulator"

    def __init__(
        self,
        *,
        ttft_ms: int = 0,
        deltas: int | None = None,
        interval_ms: int = 0,
        models: Sequence[str] = DEFAULT_MODELS,
        page_size: int = DEFAULT_PAGE_SIZE,
        max_records: int = MAX_RECORDS,
    ) -> None:
        super().__init__()
        config = SimConfig(ttft_ms=ttft_ms, deltas=deltas, interval_ms=interval_ms, models=tuple(models),
                           page_size=page_size)
        self.state = SimState(config, max_records=max_records)

    def bind(self, host: str, port: int) -> LoopbackServer[SimState]:
        return make_server(host, port, self.state)

    @property
    def base_url(self) -> str:
        """What `AnthropicVertex(base_url=...)` expects: the root plus `/v1`."""
        return f"{self.url}/v1"

    def script(self, *steps: Mapping[str, Any]) -> int:
        """Queue steps (same JSON shapes as `POST /_sim/script`); returns how many are pending."""
        return self.state.script(steps)

    def pending_steps(self) -> int:
        return self.state.pending()

    def requests(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Recorded Vertex requests, oldest first, optionally only one kind (e.g. "streamRawPredict")."""
        records = self.state.requests()
        return records if kind is None else [r for r in records if r["kind"] == kind]

    def configure(
        self,
        *,
        ttft_ms: int | Keep = KEEP,
        deltas: int | Keep | None = KEEP,
        interval_ms: int | Keep = KEEP,
        models: Sequence[str] | Keep = KEEP,
        page_size: int | Keep = KEEP,
        refused_betas: Sequence[str] | Keep = KEEP,
    ) -> dict[str, Any]:
        """Change pacing, the model list or the refused beta values, like `POST /_sim/config`; returns the config.

        One keyword-only parameter per SimConfig field (hence more than six), each left alone unless given.
        """
        given: dict[str, Any] = {"ttft_ms": ttft_ms, "deltas": deltas, "interval_ms": interval_ms,
                                 "page_size": page_size, "models": models, "refused_betas": refused_betas}
        return self.state.configure({key: list(value) if isinstance(value, (list, tuple)) else value
                                     for key, value in given.items() if value is not KEEP})

    def billed(self) -> list[dict[str, Any] | None]:
        """The `usage` each generate request was answered with (message or message_start), oldest first.

        Input side from the prompt cache model: `input_tokens`, `cache_read_input_tokens`,
        `cache_creation_input_tokens` and `cache_creation.ephemeral_{5m,1h}_input_tokens`. None for a
        request refused before billing (a 400, a scripted HTTP error).
        """
        return [record["usage"] for record in self.requests() if record["kind"] in ("rawPredict", "streamRawPredict")]

    def advance_clock(self, seconds: float) -> float:
        """Move the prompt cache's clock forward, like `POST /_sim/clock`; returns the total offset in seconds."""
        return self.state.cache.advance(seconds)

    def cache_entries(self) -> list[dict[str, Any]]:
        """Live prompt-cache entries, like `GET /_sim/cache`."""
        return self.state.cache.entries()

    def reset(self) -> None:
        """Drop pending steps and records and restore the constructor's config."""
        self.state.reset()
