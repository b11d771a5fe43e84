"""PURE: schedule a stream as a list of actions (sleep, emit, break) from its events, timing and fault.

Keeping the schedule separate from the socket code makes the fault semantics easy to read and test:
a fault or a stall "after k deltas" fires just before the (k+1)-th content_block_delta, or before
message_delta when the reply has fewer deltas than that.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from local.vertex_sim.steps import Fault, Timing

MALFORMED = b"event: content_block_delta\ndata: {not json\n\n"
CHECKPOINTS = frozenset({"content_block_delta", "message_delta", "message_stop"})


@dataclass(frozen=True)
class Sleep:
    ms: int


@dataclass(frozen=True)
class Emit:
    """Bytes to write as one flushed chunk: a whole SSE event (or a deliberately broken one)."""

    data: bytes


@dataclass(frozen=True)
class Break:
    """Stop the stream: `error` and `malformed` end the body properly, `reset` drops the connection."""

    kind: Literal["error", "reset", "malformed"]
    hard: bool = False


Action = Sleep | Emit | Break


def sse(event: Mapping[str, Any]) -> bytes:
    """Encode one event the way Claude does: `event: <type>` then `data: <json>` and a blank line."""
    return f"event: {event['type']}\ndata: {json.dumps(event)}\n\n".encode()


def plan_stream(events: Sequence[Mapping[str, Any]], timing: Timing, fault: Fault | None) -> list[Action]:
    """The full schedule for one stream, ending with a Break when a fault is scripted."""
    actions: list[Action] = [Sleep(timing.stall_before_first_event_ms)] if timing.stall_before_first_event_ms else []
    sent = 0
    stall_pending = timing.stall_after is not None
    for index, event in enumerate(events):
        kind = event["type"]
        actions.extend(_pacing(timing, index, kind, sent))
        at_checkpoint = kind in CHECKPOINTS
        if stall_pending and at_checkpoint and _due(timing.stall_after or 0, sent, kind):
            actions.append(Sleep(timing.stall_ms))
            stall_pending = False
        if fault is not None and at_checkpoint and _due(fault.after, sent, kind):
            return [*actions, *_fault_actions(fault)]
        actions.append(Emit(sse(event)))
        sent += kind == "content_block_delta"
    return actions if fault is None else [*actions, *_fault_actions(fault)]


def _due(after: int, sent: int, kind: str) -> bool:
    # Past the last delta nothing more will be counted, so a pending checkpoint fires now.
    return sent >= after or kind != "content_block_delta"


def _pacing(timing: Timing, index: int, kind: str, sent: int) -> list[Action]:
    pauses: list[Action] = []
    if index and timing.interval_ms:
        pauses.append(Sleep(timing.interval_ms))
    if kind == "content_block_delta" and sent and timing.delta_interval_ms:
        pauses.append(Sleep(timing.delta_interval_ms))
    return pauses


def _fault_actions(fault: Fault) -> list[Action]:
    if fault.kind == "error":
        return [Emit(sse({"type": "error", "error": dict(fault.error)})), Break("error")]
    if fault.kind == "malformed":
        return [Emit(MALFORMED), Break("malformed")]
    return [Break("reset", hard=fault.hard)]


def total_sleep_ms(actions: Sequence[Action]) -> int:
    """How long a schedule sleeps in all; a non-streaming reply waits this long before answering."""
    return sum(action.ms for action in actions if isinstance(action, Sleep))
