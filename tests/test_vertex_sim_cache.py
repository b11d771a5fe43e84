"""The simulator's prompt cache, driven over HTTP with the anthropic SDK's AnthropicVertex client and raw requests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import anthropic
import pytest
from anthropic import AnthropicVertex

from local.vertex_sim import VertexSimulator
from local.vertex_sim.prompt import count_tokens, flatten, markers, prefix_hashes

SONNET = "claude-sonnet-4-5@20250929"
HAIKU = "claude-haiku-4-5@20251001"
EPHEMERAL = {"type": "ephemeral"}
LONG_TEXT = "The operating manual says to check every valve twice. " * 200  # about 2,700 tokens


@pytest.fixture
def sim() -> Iterator[VertexSimulator]:
    with VertexSimulator() as simulator:
        yield simulator


def client(sim: VertexSimulator, project: str = "proj-a") -> AnthropicVertex:
    return AnthropicVertex(region="us-east5", project_id=project, base_url=sim.base_url, access_token="t",
                           max_retries=0)


def text(value: str, **cache: Any) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "text", "text": value}
    if cache:
        block["cache_control"] = cache
    return block


def user(*blocks: dict[str, Any]) -> dict[str, Any]:
    return {"role": "user", "content": list(blocks)}


def assistant(value: str) -> dict[str, Any]:
    return {"role": "assistant", "content": [text(value)]}


def create(sim: VertexSimulator, *, model: str = SONNET, project: str = "proj-a", **body: Any) -> Any:
    with client(sim, project) as claude:
        return claude.messages.create(model=model, max_tokens=64, **body).usage


SYSTEM = [text(LONG_TEXT, **EPHEMERAL)]


def test_second_request_reads_what_the_first_wrote_and_input_excludes_both(sim: VertexSimulator) -> None:
    body = {"system": SYSTEM, "messages": [user(text("What should I check?"))]}
    total = count_tokens(body)

    first = create(sim, **body)
    second = create(sim, **body)

    assert first.cache_read_input_tokens == 0
    assert first.cache_creation_input_tokens > 1024
    assert first.cache_creation.ephemeral_5m_input_tokens == first.cache_creation_input_tokens
    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == 0
    for usage in (first, second):
        assert usage.input_tokens + usage.cache_read_input_tokens + usage.cache_creation_input_tokens == total
    billed = [usage["cache_read_input_tokens"] for usage in sim.billed() if usage]
    assert billed == [0, second.cache_read_input_tokens]


def test_count_tokens_is_the_whole_prompt_whatever_the_cache_holds(sim: VertexSimulator) -> None:
    body = {"system": SYSTEM, "messages": [user(text("Count me"))]}
    with client(sim) as claude:
        before = claude.messages.count_tokens(model=SONNET, **body)
        create(sim, **body)
        after = claude.messages.count_tokens(model=SONNET, **body)

    assert before.input_tokens == after.input_tokens == count_tokens(body)
    assert after.model_dump(exclude_none=True) == {"input_tokens": count_tokens(body)}


def test_below_the_model_minimum_nothing_is_cached_and_nothing_fails(sim: VertexSimulator) -> None:
    body = {"system": SYSTEM, "messages": [user(text("Short question"))]}  # ~2,700 tokens: < 4096, > 1024

    haiku = [create(sim, model=HAIKU, **body) for _ in range(2)]
    sonnet = [create(sim, model=SONNET, **body) for _ in range(2)]

    assert all(u.cache_creation_input_tokens == 0 and u.cache_read_input_tokens == 0 for u in haiku)
    assert haiku[1].input_tokens == count_tokens(body)
    assert sonnet[1].cache_read_input_tokens > 0
    assert sim.requests()[0]["cache"]["minimum_tokens"] == 4096


def test_entries_expire_after_five_minutes_unless_a_hit_refreshes_them(sim: VertexSimulator) -> None:
    body = {"system": SYSTEM, "messages": [user(text("Again"))]}
    create(sim, **body)

    sim.advance_clock(200)
    assert create(sim, **body).cache_read_input_tokens > 0
    sim.advance_clock(200)  # 400 s after the write, 200 s after the refreshing hit
    assert create(sim, **body).cache_read_input_tokens > 0
    sim.advance_clock(301)
    expired = create(sim, **body)

    assert expired.cache_read_input_tokens == 0
    assert expired.cache_creation_input_tokens > 0


def test_one_hour_entries_outlive_five_minutes_and_bill_as_1h_writes(sim: VertexSimulator) -> None:
    body = {"system": [text(LONG_TEXT, type="ephemeral", ttl="1h")], "messages": [user(text("Hour"))]}
    first = create(sim, **body)
    sim.advance_clock(3000)
    later = create(sim, **body)

    assert first.cache_creation.ephemeral_1h_input_tokens == first.cache_creation_input_tokens > 0
    assert first.cache_creation.ephemeral_5m_input_tokens == 0
    assert later.cache_read_input_tokens == first.cache_creation_input_tokens
    assert [e["ttl"] for e in sim.cache_entries()] == ["1h"]


def test_mixed_ttls_bill_1h_up_to_the_last_1h_breakpoint_and_5m_after_it(sim: VertexSimulator) -> None:
    tools = [{"name": "lookup", "description": LONG_TEXT, "input_schema": {"type": "object"},
              "cache_control": {"type": "ephemeral", "ttl": "1h"}}]
    body = {"tools": tools, "system": [text("Be brief.")],
            "messages": [user(text(LONG_TEXT), text("Now answer.", **EPHEMERAL))]}
    blocks = flatten(body)

    usage = create(sim, **body)

    assert usage.cache_creation.ephemeral_1h_input_tokens == blocks[0].tokens
    assert usage.cache_creation.ephemeral_5m_input_tokens == sum(b.tokens for b in blocks[1:])
    assert usage.input_tokens == 0


def test_a_moved_breakpoint_reads_the_previous_one_within_the_lookback(sim: VertexSimulator) -> None:
    history = [user(text(LONG_TEXT)), assistant("Noted."), user(text("First question", **EPHEMERAL))]
    first = create(sim, messages=history)
    grown = [*history[:2], user(text("First question")), assistant("Answer one."), user(text("Next", **EPHEMERAL))]

    second = create(sim, messages=grown)

    assert second.cache_read_input_tokens == first.cache_creation_input_tokens
    assert second.cache_creation_input_tokens == count_tokens({"messages": grown}) - count_tokens(
        {"messages": history})


def test_lookback_stops_after_20_blocks_unless_an_earlier_breakpoint_remains(sim: VertexSimulator) -> None:
    history = [user(text(LONG_TEXT, **EPHEMERAL))]
    create(sim, messages=history)
    filler = [text(f"note {i}") for i in range(20)]
    far = [user(text(LONG_TEXT), *filler[:-1], text("note 19", **EPHEMERAL))]  # marked block 21st from the write
    near = [user(text(LONG_TEXT), *filler[:18], text("note 18", **EPHEMERAL))]  # 20th: still in the window
    anchored = [user(text(LONG_TEXT, **EPHEMERAL), *filler[:-1], text("note 19", **EPHEMERAL))]

    assert create(sim, messages=far).cache_read_input_tokens == 0
    sim.reset()
    create(sim, messages=history)
    assert create(sim, messages=near).cache_read_input_tokens > 0
    sim.reset()
    create(sim, messages=history)
    assert create(sim, messages=anchored).cache_read_input_tokens > 0


def test_caches_are_per_project_and_per_model(sim: VertexSimulator) -> None:
    body = {"system": SYSTEM, "messages": [user(text("Shared?"))]}
    create(sim, project="proj-a", **body)

    assert create(sim, project="proj-b", **body).cache_read_input_tokens == 0
    assert create(sim, project="proj-a", model="claude-opus-4-1@20250805", **body).cache_read_input_tokens == 0
    assert create(sim, project="proj-a", **body).cache_read_input_tokens > 0


def test_tool_choice_change_keeps_tools_and_system_but_not_messages(sim: VertexSimulator) -> None:
    tools = [{"name": "lookup", "description": "Look things up", "input_schema": {"type": "object"}}]
    messages = [user(text(LONG_TEXT)), assistant("Ready."), user(text("Go", **EPHEMERAL))]
    body = {"tools": tools, "system": SYSTEM, "messages": messages}
    system_prefix = sum(block.tokens for block in flatten(body)[:2])
    create(sim, tool_choice={"type": "auto"}, **body)

    changed = create(sim, tool_choice={"type": "any"}, **body)
    same = create(sim, tool_choice={"type": "any"}, **body)

    assert changed.cache_read_input_tokens == system_prefix
    assert same.cache_read_input_tokens == count_tokens(body)


def test_streamed_message_start_carries_the_same_billing(sim: VertexSimulator) -> None:
    body = {"system": SYSTEM, "messages": [user(text("Stream it"))]}
    create(sim, **body)
    with client(sim) as claude, claude.messages.stream(model=SONNET, max_tokens=64, **body) as stream:
        starts = [event.message.usage for event in stream if event.type == "message_start"]

    assert starts[0].cache_read_input_tokens > 0
    assert starts[0].input_tokens == count_tokens(body) - starts[0].cache_read_input_tokens
    assert sim.requests()[-1]["usage"]["cache_read_input_tokens"] == starts[0].cache_read_input_tokens
    assert sim.requests()[-1]["kind"] == "streamRawPredict"


def test_scripted_usage_still_overrides_the_cache_model(sim: VertexSimulator) -> None:
    sim.script({"text": "ok", "usage": {"input_tokens": 7, "cache_read_input_tokens": 3}})
    usage = create(sim, system=SYSTEM, messages=[user(text("Scripted"))])

    assert (usage.input_tokens, usage.cache_read_input_tokens) == (7, 3)
    assert sim.billed()[0]["cache_read_input_tokens"] == 3  # type: ignore[index]
    assert sim.cache_entries(), "the request still reached the cache"


@pytest.mark.parametrize(("messages", "message"), [
    ([user(*(text(f"part {i}", **EPHEMERAL) for i in range(5)))],
     "A maximum of 4 blocks with cache_control may be provided. Found 5."),
    ([user(text("a", type="ephemeral", ttl="5m"), text("b", type="ephemeral", ttl="1h"))],
     "messages.0.content.1.cache_control.ttl: a ttl='1h' cache_control block must not come after a ttl='5m'"),
    ([user(text("", **EPHEMERAL), text("x"))], "messages.0.content.0.text: cache_control cannot be set for empty"),
    ([user(text("q")), {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "hmm", "signature": "sig", "cache_control": EPHEMERAL}, text("a")]},
      user(text("r"))], "messages.1.content.0.thinking.cache_control: Extra inputs are not permitted"),
    ([user(text("x", type="ephemeral", ttl="10m"))], "messages.0.content.0.cache_control.ephemeral.ttl"),
])
def test_breakpoint_rules_are_claude_shaped_400s(sim: VertexSimulator, messages: list[Any], message: str) -> None:
    with pytest.raises(anthropic.BadRequestError) as caught:
        create(sim, messages=messages)

    body = caught.value.body
    assert isinstance(body, dict)
    assert body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"].startswith(message)
    assert body["request_id"].startswith("req_vrtx_")
    assert sim.cache_entries() == []


def test_tools_and_system_breakpoints_over_the_limit_count_too(sim: VertexSimulator) -> None:
    tools = [{"name": f"t{i}", "input_schema": {"type": "object"}, "cache_control": EPHEMERAL} for i in range(3)]
    with pytest.raises(anthropic.BadRequestError, match="Found 5"):
        create(sim, tools=tools, system=SYSTEM, messages=[user(text("hi", **EPHEMERAL))])


def test_breakpoints_do_not_change_the_prefix_they_mark() -> None:
    marked = {"system": SYSTEM, "messages": [user(text("one", **EPHEMERAL)), assistant("two"), user(text("three"))]}
    moved = {"system": [text(LONG_TEXT)], "messages": [user(text("one")), assistant("two"),
                                                        user(text("three", **EPHEMERAL))]}

    assert prefix_hashes(marked, flatten(marked)) == prefix_hashes(moved, flatten(moved))
    assert [m.path for m in markers(moved)] == ["messages.2.content.0"]
    assert count_tokens(marked) == count_tokens(moved) == sum(b.tokens for b in flatten(moved))


def test_clock_and_cache_over_the_control_api(sim: VertexSimulator) -> None:
    create(sim, system=SYSTEM, messages=[user(text("HTTP"))])

    entries = control(sim, "GET", "/_sim/cache")["entries"]
    assert [(e["project"], e["model"], e["ttl"]) for e in entries] == [("proj-a", SONNET, "5m")]
    assert control(sim, "POST", "/_sim/clock", {"advance_s": 301}) == {"offset_s": 301.0}
    assert control(sim, "GET", "/_sim/cache") == {"entries": []}
    with pytest.raises(urllib.error.HTTPError):
        control(sim, "POST", "/_sim/clock", {"advance_s": -1})
    control(sim, "POST", "/_sim/reset", {})
    assert sim.state.cache.advance(0) == 0.0


def control(sim: VertexSimulator, method: str, path: str, payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(sim.url + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())
