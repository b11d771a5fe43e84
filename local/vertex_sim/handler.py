"""HTTP routing for the simulator: Vertex's Claude routes, the model listing, and the `/_sim/` control API.

Vertex routes behave as Google's front end does (bearer token required, Vertex-shaped errors for
auth and unknown URLs) and then as Claude does behind it (Claude-shaped 400s for rule violations).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, cast

from local._http import JsonHandler, LoopbackServer
from local.vertex_sim.control import CONTROL_ROUTES
from local.vertex_sim.envelope import parse_betas
from local.vertex_sim.errors import vertex_error
from local.vertex_sim.exchange import Exchange
from local.vertex_sim.routes import parse_route
from local.vertex_sim.state import SimState


def parse_json(raw: bytes) -> tuple[Any, str | None]:
    """The decoded body, or (None, the raw text) when it is not JSON."""
    if not raw:
        return None, None
    try:
        return json.loads(raw), None
    except ValueError:
        return None, raw.decode("utf-8", "replace")[:10_000]


class SimHandler(JsonHandler):
    """One connection's requests; per-request state lives in locals, never on the handler."""

    server_version = "ESF"

    @property
    def state(self) -> SimState:
        return cast("LoopbackServer[SimState]", self.server).app

    def do_GET(self) -> None:
        self.dispatch()

    def do_POST(self) -> None:
        self.dispatch()

    def do_PUT(self) -> None:
        self.dispatch()

    def do_DELETE(self) -> None:
        self.dispatch()

    def dispatch(self) -> None:
        raw = self.read_body()
        if self.route.startswith("/_sim/"):
            self.control(raw)
            return
        route = parse_route(self.command, self.route)
        if route is None:
            self.send_json(404, vertex_error(404, f"The requested URL {self.route} was not found on this server."))
            return
        body, raw_text = parse_json(raw)
        entry = self.state.record(
            method=self.command, path=self.path, kind=route.kind, project=route.project, location=route.location,
            model=route.model, stream=route.stream, headers={k.lower(): v for k, v in self.headers.items()},
            body=body, raw_body=raw_text, authorization=self.headers.get("Authorization"), scripted=False,
            betas=parse_betas(self.headers.get("anthropic-beta")),
        )
        if route.kind == "listModels":
            self.state.annotate(entry, project=self.headers.get("x-goog-user-project"))
        elif route.kind == "countTokens" and isinstance(body, Mapping):
            self.state.annotate(entry, model=body.get("model"))
        Exchange(self, route, body, entry).run()

    def control(self, raw: bytes) -> None:
        action = CONTROL_ROUTES.get((self.command, self.route))
        if action is None:
            self.send_json(404, {"error": f"no control route {self.command} {self.route}"})
            return
        try:
            payload, _ = parse_json(raw)
            self.send_json(200, action(self.state, payload))
        except (ValueError, TypeError) as error:
            self.send_json(400, {"error": str(error)})
