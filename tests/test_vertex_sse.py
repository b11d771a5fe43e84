"""The upstream SSE parser: events come out the same however the bytes are split on the wire."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vertexchat.upstream.sse import sse_events as _sse_events

FIXTURE = Path(__file__).parent / "fixtures" / "claude_thinking_tool_use.txt"


def events_of(raw: bytes) -> list[dict[str, Any]]:
    return list(_sse_events(iter([raw])))


def test_a_recorded_stream_parses_to_its_events() -> None:
    raw = FIXTURE.read_bytes()
    events = events_of(raw)
    assert events[0]["type"] == "message_start"
    assert events[-1]["type"] == "message_stop"
    expected = [json.loads(line[5:]) for line in raw.decode().splitlines() if line.startswith("data:")]
    assert events == expected


def test_crlf_line_endings_and_multi_line_data() -> None:
    raw = b'event: ping\r\ndata: {"type":\r\ndata: "ping"}\r\n\r\n: comment\r\n\r\ndata: {"type": "x"}\r\n\r\n'
    assert events_of(raw) == [{"type": "ping"}, {"type": "x"}]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=4000), min_size=0, max_size=30))
def test_any_split_of_the_bytes_gives_the_same_events(cuts: list[int]) -> None:
    raw = FIXTURE.read_bytes().replace(b"\n", b"\r\n")
    points = sorted({c % (len(raw) + 1) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert list(_sse_events(iter(pieces))) == events_of(raw)
