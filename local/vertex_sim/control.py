"""The `/_sim/` control API: each route is a function of the shared state and the decoded JSON payload."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from local.vertex_sim.state import SimState
from local.vertex_sim.steps import StepError


def _script(state: SimState, payload: Any) -> dict[str, Any]:
    steps = payload.get("steps") if isinstance(payload, Mapping) else payload
    if not isinstance(steps, list):
        raise StepError('expected {"steps": [step, ...]}')
    return {"pending": state.script(steps)}


def _configure(state: SimState, payload: Any) -> dict[str, Any]:
    if not isinstance(payload, Mapping):
        raise StepError("expected a JSON object of config changes")
    return state.configure(payload)


def _reset(state: SimState, payload: Any) -> dict[str, Any]:
    state.reset()
    return {"ok": True}


def _advance_clock(state: SimState, payload: Any) -> dict[str, Any]:
    seconds = payload.get("advance_s") if isinstance(payload, Mapping) else None
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool) or seconds < 0:
        raise StepError('expected {"advance_s": seconds >= 0}')
    return {"offset_s": state.cache.advance(float(seconds))}


CONTROL_ROUTES: dict[tuple[str, str], Callable[[SimState, Any], Any]] = {
    ("POST", "/_sim/script"): _script,
    ("GET", "/_sim/requests"): lambda state, _: state.requests(),
    ("POST", "/_sim/reset"): _reset,
    ("POST", "/_sim/config"): _configure,
    ("GET", "/_sim/config"): lambda state, _: state.config.as_json(),
    ("GET", "/_sim/steps"): lambda state, _: {"pending": state.pending()},
    ("POST", "/_sim/clock"): _advance_clock,
    ("GET", "/_sim/cache"): lambda state, _: {"entries": state.cache.entries()},
}
