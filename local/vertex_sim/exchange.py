"""One Vertex request from checks to the last byte: rules, scripted steps, the reply or stream, the record."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from local.vertex_sim import rules
from local.vertex_sim.catalog import PageTokenError, list_page
from local.vertex_sim.envelope import beta_refusal
from local.vertex_sim.errors import UNAUTHENTICATED, claude_error, default_error_body, vertex_error
from local.vertex_sim.plan import Action, Break, Emit, Sleep, plan_stream, total_sleep_ms
from local.vertex_sim.prompt import count_tokens
from local.vertex_sim.render import Rendered, echo_reply, render
from local.vertex_sim.routes import Route
from local.vertex_sim.steps import Fault, HttpError, Reply, Step, Timing
from local.vertex_sim.wire import Wire

if TYPE_CHECKING:
    from local.vertex_sim.handler import SimHandler

ENDINGS = {"reset": "reset", "error": "error", "malformed": "error"}
SSE_HEADERS = {"Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache"}


class Exchange:
    """One Vertex request from checks to the last byte, recording how it ended."""

    def __init__(self, handler: SimHandler, route: Route, body: Any, entry: dict[str, Any]) -> None:
        self.handler = handler
        self.state = handler.state
        self.route = route
        self.body = body
        self.entry = entry
        self.wire = Wire(handler)

    def finish(self, outcome: str, status: int, *, closed_early: bool = False) -> None:
        self.state.finish(self.entry, outcome, status, closed_early=closed_early)

    def reply(self, status: int, body: bytes, content_type: str, headers: Mapping[str, str] | None = None) -> None:
        # Recorded before the last byte goes out, so a client that has its answer also sees the record.
        self.finish("ok" if status < 400 else "error", status)
        try:
            self.handler.send_bytes(status, body, content_type, headers)
        except OSError:
            self.finish("client_closed", status, closed_early=True)

    def reply_json(self, status: int, payload: Any, headers: Mapping[str, str] | None = None) -> None:
        self.reply(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)

    def run(self) -> None:
        authorization = self.handler.headers.get("Authorization", "")
        if not authorization.startswith("Bearer ") or not authorization.removeprefix("Bearer ").strip():
            self.reply_json(401, vertex_error(401, UNAUTHENTICATED), {"WWW-Authenticate": "Bearer"})
            return
        violation = self.beta_violation() or self.violation()
        if violation is not None:
            self.reply_json(400, claude_error("invalid_request_error", violation))
            return
        facts = {"kind": self.route.kind, "project": self.entry["project"], "location": self.route.location,
                 "model": self.entry["model"], "stream": self.route.stream}
        step = self.state.pop_step(facts)
        self.state.annotate(self.entry, scripted=step is not None)
        self.answer(step)

    def beta_violation(self) -> str | None:
        """Vertex refuses some `anthropic-beta` values outright, whatever the body (see envelope.py)."""
        if self.route.kind == "listModels":
            return None
        return beta_refusal(self.entry["betas"], self.state.config.refused_betas)

    def violation(self) -> str | None:
        if self.route.kind == "listModels":
            return None
        if self.body is None:
            return "request body is not valid JSON"
        model = self.entry["model"] if isinstance(self.entry["model"], str) else None
        return rules.first_violation(self.body, count_tokens=self.route.kind == "countTokens",
                                     betas=self.entry["betas"], model=model)

    def answer(self, step: Step | None) -> None:
        timing = step.timing if step else self.default_timing()
        if timing.stall_before_headers_ms and not self.wire.wait(timing.stall_before_headers_ms):
            self.finish("client_closed", 0, closed_early=True)
            return
        if step is not None and isinstance(step.outcome, HttpError):
            self.http_error(step.outcome)
        elif self.route.kind == "listModels":
            self.list_models(timing)
        elif self.route.kind == "countTokens":
            self.count_tokens(step, timing)
        else:
            reply = step.outcome if step and isinstance(step.outcome, Reply) else self.default_reply()
            self.generate(reply, timing, step.fault if step else None)

    def default_timing(self) -> Timing:
        config = self.state.config
        return Timing(stall_before_first_event_ms=config.ttft_ms, delta_interval_ms=config.interval_ms)

    def default_reply(self) -> Reply:
        return echo_reply(self.body, self.state.config.deltas)

    def http_error(self, error: HttpError) -> None:
        body = default_error_body(error.status) if error.body is None else error.body
        if isinstance(body, str):
            self.reply(error.status, body.encode(), "text/html; charset=utf-8", error.headers)
        else:
            self.reply_json(error.status, body, error.headers)

    def delay(self, timing: Timing) -> bool:
        """Non-streamed answers wait out the whole schedule first; False if the client left meanwhile."""
        wait_ms = timing.stall_before_first_event_ms + (timing.stall_ms if timing.stall_after is not None else 0)
        if not wait_ms or self.wire.wait(wait_ms):
            return True
        self.finish("client_closed", 0, closed_early=True)
        return False

    def list_models(self, timing: Timing) -> None:
        if not self.delay(timing):
            return
        config = self.state.config
        query = self.handler.query
        asked = query.get("pageSize", "")
        size = int(asked) if asked.isdigit() and int(asked) > 0 else config.page_size
        try:
            page = list_page(config.models, size, query.get("pageToken") or None)
        except PageTokenError as error:
            self.reply_json(400, vertex_error(400, str(error)))
            return
        self.reply_json(200, page)

    def count_tokens(self, step: Step | None, timing: Timing) -> None:
        if not self.delay(timing):
            return
        scripted = step.outcome.usage.get("input_tokens") if step and isinstance(step.outcome, Reply) else None
        self.reply_json(200, {"input_tokens": scripted or count_tokens(self.body)})

    def bill(self, reply: Reply) -> Rendered:
        """Run the request through the prompt cache and render the reply with what it was billed."""
        model = self.route.model or ""
        billing = self.state.cache.bill(self.entry["project"] or "", model, self.body)
        rendered = render(reply, model=model, billed=billing.usage())
        sent = rendered.message["usage"]
        if reply.events is not None:
            starts = [e for e in rendered.events if e.get("type") == "message_start"]
            sent = starts[0].get("message", {}).get("usage") if starts else None
        self.state.annotate(self.entry, usage=sent, cache=billing.details())
        return rendered

    def generate(self, reply: Reply, timing: Timing, fault: Fault | None) -> None:
        rendered = self.bill(reply)
        if self.route.stream:
            self.stream(rendered.events, timing, fault)
            return
        if reply.events is not None and not reply.content:
            self.reply_json(500, vertex_error(500, "vertex simulator: an 'events' step can only answer a stream"))
            return
        pause = total_sleep_ms(plan_stream(rendered.events, timing, None))
        if pause and not self.wire.wait(pause):
            self.finish("client_closed", 0, closed_early=True)
        elif fault is not None and fault.kind == "reset":
            self.finish("reset", 0)
            self.wire.drop(hard=fault.hard)
        else:
            self.reply_json(200, rendered.message)

    def stream(self, events: list[dict[str, Any]], timing: Timing, fault: Fault | None) -> None:
        actions = plan_stream(events, timing, fault)
        ending = actions[-1] if actions and isinstance(actions[-1], Break) else None
        outcome = "ok" if ending is None else ENDINGS[ending.kind]
        # Recorded just before the last event goes out, so a client that has seen the end sees the record.
        last_emit = max((index for index, action in enumerate(actions) if isinstance(action, Emit)), default=-1)
        if not self.wire.start(200, SSE_HEADERS):
            self.finish("client_closed", 200, closed_early=True)
            return
        for index, action in enumerate(actions):
            if index == max(last_emit, 0):
                self.finish(outcome, 200)
            if not self.perform(action):
                self.handler.close_connection = True
                self.finish("client_closed", 200, closed_early=True)
                return
        if ending is None and not self.wire.end():
            self.finish("client_closed", 200, closed_early=True)

    def perform(self, action: Action) -> bool:
        """Carry out one scheduled action; False when the client has gone."""
        if isinstance(action, Sleep):
            return self.wire.wait(action.ms)
        if isinstance(action, Emit):
            return self.wire.chunk(action.data)
        if action.kind == "reset":
            self.wire.drop(hard=action.hard)
        else:
            self.wire.end()
        return True
