"""Scripted steps: what the simulator does for the next matching request, parsed from JSON once.

Steps are written by tests as plain dicts (over HTTP or through `VertexSimulator.script`). Parsing
them up front turns a typo in a test into an immediate 400 instead of a silently ignored key.

A step is a reply or an HTTP error, plus optional timing and (streams only) one fault:
  reply      {"text": str} | {"content": [block, ...]} | {"events": [{"type": ...}, ...]}  (streams only)
             with optional "stop_reason", "stop_sequence", "usage", "model", "id", "omit_message_stop"
  block      {"type": "text", "text", "chunks"?} | {"type": "tool_use", "id"?, "name", "input", "chunks"?}
             | {"type": "thinking", "thinking", "signature"?, "chunks"?} | {"type": "redacted_thinking", "data"}
  error      {"status": 400-599, "body"?: JSON (str: sent as text/html; absent: a default body), "headers"?}
  timing     "stall_before_headers_ms", "stall_before_first_event_ms", "stall_after" + "stall_ms", "interval_ms"
  fault      "error_after": k (+ "error": {...}) | "reset_after": k (+ "reset_hard") | "malformed_after": k
  selection  "match": {"kind", "project", "location", "model", "stream"}, "times": n (default 1)
Without "match.kind" a step only answers rawPredict/streamRawPredict; countTokens and listModels
requests take a step only when it names their kind.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

MATCH_KEYS = frozenset({"location", "model", "stream", "project", "kind"})
GENERATE_KINDS = frozenset({"rawPredict", "streamRawPredict"})
BLOCK_TYPES = frozenset({"text", "tool_use", "thinking", "redacted_thinking"})
USAGE_KEYS = ("input_tokens", "output_tokens", "cache_creation_input_tokens", "cache_read_input_tokens")

REPLY_KEYS = frozenset({"content", "text", "stop_reason", "stop_sequence", "usage", "model", "id", "events"})
ERROR_KEYS = frozenset({"status", "body", "headers"})
TIMING_KEYS = frozenset(
    {"stall_before_headers_ms", "stall_before_first_event_ms", "stall_after", "stall_ms", "interval_ms"}
)
FAULT_KEYS = frozenset({"error_after", "error", "reset_after", "reset_hard", "malformed_after", "omit_message_stop"})
STEP_KEYS = REPLY_KEYS | ERROR_KEYS | TIMING_KEYS | FAULT_KEYS | {"match", "times"}

FAULT_KINDS: dict[str, Literal["error", "reset", "malformed"]] = {
    "error_after": "error",
    "reset_after": "reset",
    "malformed_after": "malformed",
}
OVERLOADED = {"type": "overloaded_error", "message": "Overloaded"}


class StepError(ValueError):
    """A scripted step is malformed; the message names the offending key."""


@dataclass(frozen=True)
class Timing:
    """Delays, in milliseconds. `delta_interval_ms` paces only content deltas (the default reply's pacing)."""

    stall_before_headers_ms: int = 0
    stall_before_first_event_ms: int = 0
    stall_after: int | None = None
    stall_ms: int = 0
    interval_ms: int = 0
    delta_interval_ms: int = 0


@dataclass(frozen=True)
class Fault:
    """How a stream ends early, once `after` content deltas have been sent."""

    kind: Literal["error", "reset", "malformed"]
    after: int
    error: Mapping[str, Any] = field(default_factory=lambda: OVERLOADED)
    hard: bool = False


@dataclass(frozen=True)
class HttpError:
    """Answer with this status; a str body is sent as text, anything else as JSON (None: a default body)."""

    status: int
    body: Any = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A Claude message to return; `content` blocks may carry `chunks` to fix how they stream."""

    content: tuple[Mapping[str, Any], ...] = ()
    stop_reason: str | None = None
    stop_sequence: str | None = None
    usage: Mapping[str, int] = field(default_factory=dict)
    model: str | None = None
    id: str | None = None
    events: tuple[Mapping[str, Any], ...] | None = None
    omit_message_stop: bool = False


@dataclass(frozen=True)
class Step:
    outcome: Reply | HttpError
    match: Mapping[str, Any] = field(default_factory=dict)
    times: int = 1
    timing: Timing = Timing()
    fault: Fault | None = None

    def fits(self, facts: Mapping[str, Any]) -> bool:
        """Whether this step may answer a request with these facts (kind, project, location, model, stream)."""
        if "kind" not in self.match and facts.get("kind") not in GENERATE_KINDS:
            return False
        return all(_fits(key, wanted, facts.get(key)) for key, wanted in self.match.items())


def _fits(key: str, wanted: Any, actual: Any) -> bool:
    # A model without "@version" matches every version of that model.
    if key == "model" and isinstance(wanted, str) and isinstance(actual, str) and "@" not in wanted:
        return actual.split("@", 1)[0] == wanted
    return bool(wanted == actual)


def parse_step(raw: Any) -> Step:
    """Turn one JSON step into a Step, or raise StepError naming what is wrong."""
    if not isinstance(raw, Mapping):
        raise StepError("a step must be a JSON object")
    unknown = set(raw) - STEP_KEYS
    if unknown:
        raise StepError(f"unknown step keys: {sorted(unknown)}")
    outcome: Reply | HttpError = _parse_error(raw) if "status" in raw else _parse_reply(raw)
    return Step(outcome=outcome, match=_parse_match(raw), times=_int(raw, "times", 1, minimum=1),
                timing=_parse_timing(raw), fault=_parse_fault(raw))


def _parse_match(raw: Mapping[str, Any]) -> Mapping[str, Any]:
    match = raw.get("match", {})
    if not isinstance(match, Mapping) or set(match) - MATCH_KEYS:
        raise StepError(f"match must be an object with keys among {sorted(MATCH_KEYS)}")
    return dict(match)


def _parse_error(raw: Mapping[str, Any]) -> HttpError:
    status = raw["status"]
    if not isinstance(status, int) or not 400 <= status <= 599:
        raise StepError("status must be an HTTP error status (400-599)")
    if set(raw) & REPLY_KEYS:
        raise StepError("a step is either an HTTP error (status) or a reply (content/text/events), not both")
    headers = raw.get("headers", {})
    if not isinstance(headers, Mapping) or not all(isinstance(v, str) for v in headers.values()):
        raise StepError("headers must map names to strings")
    return HttpError(status=status, body=raw.get("body"), headers=dict(headers))


def _parse_reply(raw: Mapping[str, Any]) -> Reply:
    if "text" in raw and "content" in raw:
        raise StepError("give either text or content, not both")
    content = [{"type": "text", "text": raw["text"]}] if "text" in raw else raw.get("content", [])
    events = raw.get("events")
    if not isinstance(content, list) or not all(_valid_block(block) for block in content):
        raise StepError(f"content must be a list of blocks of types {sorted(BLOCK_TYPES)}")
    if events is not None and not (isinstance(events, list) and all(_is_event(e) for e in events)):
        raise StepError("events must be a list of objects that each have a string 'type'")
    if not content and events is None:
        raise StepError("a reply step needs text, content or events")
    usage = raw.get("usage", {})
    if not isinstance(usage, Mapping) or not all(k in USAGE_KEYS and isinstance(v, int) for k, v in usage.items()):
        raise StepError(f"usage must map some of {list(USAGE_KEYS)} to integers")
    return Reply(
        content=tuple(content),
        stop_reason=_optional_str(raw, "stop_reason"),
        stop_sequence=_optional_str(raw, "stop_sequence"),
        usage=dict(usage),
        model=_optional_str(raw, "model"),
        id=_optional_str(raw, "id"),
        events=None if events is None else tuple(events),
        omit_message_stop=bool(raw.get("omit_message_stop", False)),
    )


def _valid_block(block: Any) -> bool:
    if not isinstance(block, Mapping) or block.get("type") not in BLOCK_TYPES:
        return False
    chunks = block.get("chunks")
    return chunks is None or (isinstance(chunks, list) and all(isinstance(c, str) for c in chunks))


def _is_event(event: Any) -> bool:
    return isinstance(event, Mapping) and isinstance(event.get("type"), str)


def _parse_timing(raw: Mapping[str, Any]) -> Timing:
    stall_after = raw.get("stall_after")
    if stall_after is not None and (not isinstance(stall_after, int) or stall_after < 0):
        raise StepError("stall_after must be a non-negative integer")
    return Timing(
        stall_before_headers_ms=_int(raw, "stall_before_headers_ms", 0),
        stall_before_first_event_ms=_int(raw, "stall_before_first_event_ms", 0),
        stall_after=stall_after,
        stall_ms=_int(raw, "stall_ms", 0),
        interval_ms=_int(raw, "interval_ms", 0),
    )


def _parse_fault(raw: Mapping[str, Any]) -> Fault | None:
    given = [key for key in FAULT_KINDS if key in raw]
    if len(given) > 1:
        raise StepError(f"choose one of error_after, reset_after, malformed_after (got {given})")
    if not given:
        return None
    error = raw.get("error", OVERLOADED)
    if not isinstance(error, Mapping):
        raise StepError("error must be a Claude error object such as {'type': 'overloaded_error', 'message': ...}")
    after = _int(raw, given[0], 0)
    return Fault(kind=FAULT_KINDS[given[0]], after=after, error=dict(error), hard=bool(raw.get("reset_hard")))


def _int(raw: Mapping[str, Any], key: str, default: int, minimum: int = 0) -> int:
    value = raw.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise StepError(f"{key} must be an integer >= {minimum}")
    return value


def _optional_str(raw: Mapping[str, Any], key: str) -> str | None:
    value = raw.get(key)
    if value is not None and not isinstance(value, str):
        raise StepError(f"{key} must be a string or null")
    return value
