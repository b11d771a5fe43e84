"""Automatic cache breakpoints (vertexchat.caching), checked against the simulator's cache model.

The property tests are the issue's stability proof: a conversation translated, then the same
conversation with more turns, gives the first as an exact prefix (the cache model's prefix
hash, settings included) up to its last breakpoint.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from local.vertex_sim.cache import minimum_tokens
from local.vertex_sim.prompt import (
    block_tokens,
    breakpoints,
    flatten,
    marker_violations,
    markers,
    prefix_hashes,
    strip_cache_control,
)
from vertexchat import caching, config
from vertexchat.caching import CachePolicy, Stable, apply, breakpoint_paths, estimate_tokens
from vertexchat.catalog import FAMILIES, build
from vertexchat.openai_chat.request import to_claude
from vertexchat.openai_chat.schema import parse_chat_request

PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
AUTO = CachePolicy(min_tokens=1024)
LONG = "The valve manual says: check twice, log once, and report every leak. " * 80  # ~1,400 tokens
EPHEMERAL = {"type": "ephemeral"}


def text(value: str, **extra: Any) -> dict[str, Any]:
    return {"type": "text", "text": value, **extra}


def body_of(*messages: dict[str, Any], system: list[dict[str, Any]] | None = None,
            tools: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"model": "m", "max_tokens": 10, "messages": list(messages)}
    if system:
        body["system"] = system
    if tools:
        body["tools"] = tools
    return body


def tool(name: str, description: str = "Looks things up.") -> dict[str, Any]:
    return {"name": name, "description": description, "input_schema": {"type": "object"}}


def test_a_long_conversation_gets_tools_system_previous_and_last() -> None:
    body = body_of({"role": "user", "content": [text("Hello")]},
                   {"role": "assistant", "content": [text("Hi")]},
                   {"role": "user", "content": [text("More")]},
                   system=[text(LONG)], tools=[tool("a", LONG), tool("b")])

    placed = apply(body, AUTO)

    assert breakpoint_paths(placed) == ["tools.1", "system.0", "messages.0.content.0", "messages.2.content.0"]
    assert list(marker_violations(markers(placed))) == []
    assert strip_cache_control(placed) == body


def test_nothing_below_the_minimum_and_nothing_when_off() -> None:
    short = body_of({"role": "user", "content": [text("Hi")]}, system=[text("Be brief.")])
    long = body_of({"role": "user", "content": [text("Hi")]}, system=[text(LONG)])

    assert breakpoint_paths(apply(short, AUTO)) == []
    assert breakpoint_paths(apply(long, CachePolicy(min_tokens=4096))) == []
    assert breakpoint_paths(apply(long, CachePolicy(mode="off"))) == []
    assert breakpoint_paths(apply(long, AUTO)) == ["system.0", "messages.0.content.0"]


def test_never_on_thinking_or_empty_text() -> None:
    body = body_of({"role": "user", "content": [text(LONG)]},
                   {"role": "assistant", "content": [{"type": "thinking", "thinking": "x", "signature": "s"},
                                                     text(" ")]})
    assert breakpoint_paths(apply(body, AUTO)) == ["messages.0.content.0"]


def test_explicit_breakpoints_win_and_count_towards_four() -> None:
    body = body_of({"role": "user", "content": [text(LONG, cache_control=EPHEMERAL), text("a")]},
                   {"role": "assistant", "content": [text("b")]},
                   {"role": "user", "content": [text("c", cache_control=EPHEMERAL)]},
                   system=[text(LONG, cache_control=EPHEMERAL)], tools=[tool("t", LONG)])

    placed = apply(body, AUTO)

    # Three were the client's; the one free slot goes to the previous turn's end, not to the tools.
    assert len(markers(placed)) == 4
    assert breakpoint_paths(placed) == ["system.0", "messages.0.content.0", "messages.0.content.1",
                                        "messages.2.content.0"]


def test_more_than_four_client_breakpoints_keep_the_first_and_the_last_three() -> None:
    turns = [{"role": "user" if i % 2 == 0 else "assistant", "content": [text(f"turn {i}", cache_control=EPHEMERAL)]}
             for i in range(7)]
    placed = apply(body_of(*turns), CachePolicy(mode="off"))

    assert breakpoint_paths(placed) == ["messages.0.content.0", "messages.4.content.0", "messages.5.content.0",
                                        "messages.6.content.0"]


def test_automatic_ttl_never_puts_1h_after_a_clients_5m_nor_5m_before_its_1h() -> None:
    hour = {"type": "ephemeral", "ttl": "1h"}
    before = body_of({"role": "user", "content": [text(LONG, cache_control=hour)]},
                     {"role": "assistant", "content": [text("b")]}, {"role": "user", "content": [text("c")]},
                     system=[text(LONG)])
    after = body_of({"role": "user", "content": [text(LONG)]}, system=[text(LONG, cache_control=EPHEMERAL)])

    assert list(marker_violations(markers(apply(before, AUTO)))) == []
    assert list(marker_violations(markers(apply(after, CachePolicy(ttl="1h"))))) == []
    assert apply(before, AUTO)["system"][0]["cache_control"] == hour


def test_configured_1h_ttl_marks_every_automatic_breakpoint() -> None:
    placed = apply(body_of({"role": "user", "content": [text("Hi")]}, system=[text(LONG)]), CachePolicy(ttl="1h"))
    assert [b.ttl for b in breakpoints(markers(placed))] == ["1h", "1h"]


def test_string_content_becomes_a_block_that_can_carry_the_breakpoint() -> None:
    placed = apply({"model": "m", "system": LONG, "messages": [{"role": "user", "content": "Hi"}]}, AUTO)
    assert placed["system"] == [text(LONG, cache_control=EPHEMERAL)]
    assert placed["messages"][0]["content"] == [text("Hi", cache_control=EPHEMERAL)]


def test_stable_counts_keep_late_system_notes_and_internal_tools_out_of_the_prefix_breakpoints() -> None:
    body = body_of({"role": "user", "content": [text("Hi")]}, system=[text(LONG), text("Note: it is 10:00.")],
                   tools=[tool("client", LONG), tool("json_response")])
    placed = apply(body, AUTO, Stable(tools=1, system=1))
    assert "tools.0" in breakpoint_paths(placed)
    assert "system.0" in breakpoint_paths(placed)


@given(st.text(max_size=300), st.booleans())
@PROPERTY
def test_the_estimate_never_exceeds_the_simulators_count(value: str, image: bool) -> None:
    block: dict[str, Any] = text(value)
    if image:
        block = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": value or "AA"}}
    assert estimate_tokens(block) <= block_tokens(block)


def test_the_catalog_and_the_simulator_agree_on_every_minimum() -> None:
    for name, family in FAMILIES.items():
        assert family.min_cache_tokens == minimum_tokens(name), name


# --- stability: the property test ---------------------------------------------------------

PARAGRAPH = st.sampled_from([LONG[:400], LONG[:1200], "ok", "Short question?", LONG])
SYSTEM = "You are the plant's maintenance assistant. " + LONG
TOOLS = [{"type": "function", "function": {"name": f"lookup_{i}", "description": LONG[:1400],
                                           "parameters": {"type": "object", "properties": {"id": {"type": "string"}}}}}
         for i in range(4)]
IMAGE = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


@st.composite
def turn(draw: st.DrawFn, index: int, thinking: bool, images: bool = True) -> list[dict[str, Any]]:
    """An assistant reply (text, or tool calls and their results), then the next user message.

    The first image of a conversation changes Claude's messages cache by rule (Anthropic: "the
    presence of images anywhere in the prompt"), so appended turns bring none.
    """
    assistant: dict[str, Any] = {"role": "assistant", "content": draw(PARAGRAPH)}
    if thinking:
        assistant["thinking_blocks"] = [{"type": "thinking", "thinking": "Hmm.", "signature": f"sig{index}"}]
    calls = draw(st.integers(0, 3))
    out: list[dict[str, Any]] = [assistant]
    if calls:
        assistant["tool_calls"] = [{"id": f"call {index}.{j}", "type": "function", "function": {
            "name": f"lookup_{j}", "arguments": json.dumps({"id": str(j)})}} for j in range(calls)]
        out += [{"role": "tool", "tool_call_id": f"call {index}.{j}", "content": draw(PARAGRAPH)} for j in range(calls)]
    if not calls or draw(st.booleans()):
        content = draw(PARAGRAPH)
        with_image = images and draw(st.booleans())
        out.append({"role": "user", "content": [{"type": "text", "text": content}, IMAGE] if with_image else content})
    return out


@st.composite
def growing(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Request options, a conversation ending in a user turn, and the turns appended after it."""
    thinking = draw(st.booleans())
    options: dict[str, Any] = {"model": "claude-sonnet-4-5", "tools": TOOLS if draw(st.booleans()) else None,
                               "reasoning_effort": "high" if thinking else None,
                               "response_format": {"type": "json_object"} if draw(st.booleans()) else None}
    first: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": draw(PARAGRAPH)}]
    for i in range(draw(st.integers(0, 4))):
        first += draw(turn(i, thinking))
    more: list[dict[str, Any]] = []
    for i in range(draw(st.integers(1, 3))):
        more += draw(turn(100 + i, thinking, images=False))
    return options, first, more


def cached_body(options: dict[str, Any], messages: list[dict[str, Any]], max_tokens: int | None) -> dict[str, Any]:
    request = parse_chat_request({**{k: v for k, v in options.items() if v is not None}, "messages": messages,
                                  "max_completion_tokens": max_tokens})
    claude = to_claude(request, default_max_tokens=4096)
    return caching.apply(claude.body, CachePolicy(min_tokens=1024), claude.stable)


# A client's max_tokens moves within a band (thinking keeps its budget), or it sends none at all.
MAXIMA = st.sampled_from([(2049, 4096), (4097, 8192), (16385, 64000)]).flatmap(
    lambda band: st.tuples(st.integers(*band), st.integers(*band))) | st.just((None, None))


@given(growing(), MAXIMA)
@PROPERTY
def test_appending_turns_keeps_the_first_request_as_an_exact_prefix_up_to_its_last_breakpoint(
        case: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]],
        maxima: tuple[int | None, int | None]) -> None:
    options, first, more = case
    max1, max2 = maxima
    before = cached_body(options, first, max1)
    after = cached_body(options, first + more, max2)

    points = breakpoints(markers(before))
    assert points, "a conversation this long must carry breakpoints"
    last = points[-1].position
    assert prefix_hashes(before, flatten(before))[last] == prefix_hashes(after, flatten(after))[last]
    for body in (before, after):
        assert len(markers(body)) <= 4
        assert list(marker_violations(markers(body))) == []


def hash_at(before: dict[str, Any], after: dict[str, Any], segment: str) -> tuple[str, str]:
    """The two requests' prefix hashes at ``before``'s breakpoint in ``segment``."""
    points = [p for p in breakpoints(markers(before)) if p.path.startswith(segment)]
    assert points, f"no breakpoint in {segment}"
    position = points[0].position
    return prefix_hashes(before, flatten(before))[position], prefix_hashes(after, flatten(after))[position]


@given(growing())
@PROPERTY
def test_a_late_system_note_keeps_tools_and_the_stable_system_prefix(
        case: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    options, first, more = case
    before = cached_body(options, first, None)
    after = cached_body(options, [*first, *more[:-1], {"role": "system", "content": "Note: it is now 10:05."},
                                  more[-1]], None)

    old, new = hash_at(before, after, "system")
    assert old == new


@given(growing())
@PROPERTY
def test_toggling_json_mode_keeps_the_clients_tools_cached(
        case: tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]) -> None:
    options, first, more = case
    options = {**options, "tools": TOOLS}
    toggled = {**options, "response_format": None if options["response_format"] else {"type": "json_object"}}
    before = cached_body(options, first, None)
    after = cached_body(toggled, first + more, None)

    old, new = hash_at(before, after, "tools")
    assert old == new
    assert [t["name"] for t in after["tools"]][:len(TOOLS)] == [t["function"]["name"] for t in TOOLS]


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_policy_reads_the_settings_and_the_models_minimum(mode: str) -> None:
    settings_ = config.load({"PROMPT_CACHING": mode, "PROMPT_CACHE_TTL": "1h"})
    haiku = build(["claude-haiku-4-5@20251001"]).resolve("claude-haiku-4-5")
    assert caching.policy(settings_, haiku) == CachePolicy(mode=mode, ttl="1h", min_tokens=4096)
    with pytest.raises(config.ConfigError):
        config.load({"PROMPT_CACHE_TTL": "2h"})


def test_explicit_cache_control_reaches_the_claude_block_it_was_put_on() -> None:
    hour = {"type": "ephemeral", "ttl": "1h"}
    request = parse_chat_request({"model": "m", "tools": [
        {"type": "function", "function": {"name": "look", "cache_control": hour}}], "messages": [
        {"role": "developer", "content": [{"type": "text", "text": "rules"}, {"type": "text", "text": "more"}],
         "cache_control": EPHEMERAL},
        {"role": "user", "content": [{"type": "image_url", "image_url": "data:image/png;base64,iVBORw0KGgo=",
                                      "cache_control": hour}, {"type": "text", "text": "What is this?"}]},
        {"role": "assistant", "content": "Let me look.", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "look", "arguments": "{}"}}],
         "thinking_blocks": [{"type": "thinking", "thinking": "Hmm", "signature": "sig"}],
         "cache_control": EPHEMERAL},
        {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "a cat", "cache_control": hour}]},
        {"role": "user", "content": "Thanks", "cache_control": EPHEMERAL},
    ]})
    body = to_claude(request, default_max_tokens=100).body

    assert body["tools"][0]["cache_control"] == hour
    assert body["system"] == [text("rules"), text("more", cache_control=EPHEMERAL)]
    assert body["messages"][0]["content"][0]["cache_control"] == hour
    assistant = body["messages"][1]["content"]
    assert "cache_control" not in assistant[0]  # the thinking block: Claude refuses a breakpoint there
    assert assistant[-1] == {"type": "tool_use", "id": "c1", "name": "look", "input": {},
                             "cache_control": EPHEMERAL}
    result, thanks = body["messages"][2]["content"]
    assert result["content"] == [text("a cat", cache_control=hour)]
    assert thanks == text("Thanks", cache_control=EPHEMERAL)
    # Six marks are more than Claude takes: the first and the last three go upstream.
    trimmed = apply(body, AUTO)
    assert [m.path for m in markers(trimmed)] == ["tools.0", "messages.1.content.2", "messages.2.content.0.content.0",
                                                  "messages.2.content.1"]
