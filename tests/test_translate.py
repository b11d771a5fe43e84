from __future__ import annotations

import copy
import json
import re
from typing import Any

import pytest

from vertexchat.errors import InvalidRequestError
from vertexchat.openai_chat.conversation import MISSING_RESULT_TEXT, OPENING_USER_TEXT
from vertexchat.openai_chat.reply import finish_reason, to_openai_completion, usage_from_claude
from vertexchat.openai_chat.request import JSON_TOOL, ClaudeRequest, image_urls, to_claude
from vertexchat.openai_chat.schema import parse_chat_request

DEFAULT_MAX = 4096
PNG = "data:image/png;base64,iVBORw0KGgo="
WEATHER = {"type": "function", "function": {"name": "get_weather", "description": "Current weather",
                                            "parameters": {"type": "object",
                                                           "properties": {"city": {"type": "string"}}}}}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any = None, **fields: Any) -> dict[str, Any]:
    return {"role": "assistant", "content": content, **fields}


def call(call_id: str, name: str = "get_weather", arguments: str = '{"city": "Paris"}') -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def tool(call_id: str, content: Any = "18C") -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def translate(messages: list[dict[str, Any]] | None = None, **fields: Any) -> ClaudeRequest:
    raw = {"model": "claude-sonnet-4-5", "messages": messages or [user("Hi")], **fields}
    return to_claude(parse_chat_request(raw), default_max_tokens=DEFAULT_MAX)


def claude(messages: list[dict[str, Any]] | None = None, **fields: Any) -> dict[str, Any]:
    return translate(messages, **fields).body


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def param_of(messages: list[dict[str, Any]] | None = None, **fields: Any) -> str | None:
    with pytest.raises(InvalidRequestError) as info:
        translate(messages, **fields)
    return info.value.param


# --- the request body ----------------------------------------------------------------------

def test_body_carries_model_max_tokens_and_messages() -> None:
    assert claude() == {"model": "claude-sonnet-4-5", "max_tokens": DEFAULT_MAX,
                        "messages": [{"role": "user", "content": [text("Hi")]}]}


def test_system_and_developer_messages_are_hoisted_in_order_and_empty_ones_dropped() -> None:
    body = claude([
        {"role": "system", "content": "You are terse."},
        user("Hi"),
        {"role": "developer", "content": [text("Answer in French."), text(""), text("  ")]},
        {"role": "system", "content": ""},
        assistant("Bonjour"),
        {"role": "system", "content": "Never apologise."},
        user("Why?"),
    ])
    assert body["system"] == [text("You are terse."), text("Answer in French."), text("Never apologise.")]
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


def test_no_system_key_when_every_system_message_is_empty() -> None:
    assert "system" not in claude([{"role": "system", "content": " "}, user("Hi")])


def test_user_strings_and_text_parts_become_text_blocks() -> None:
    body = claude([user([text("one"), text("two")])])
    assert body["messages"] == [{"role": "user", "content": [text("one"), text("two")]}]


@pytest.mark.parametrize(("media_type", "expected"), [
    ("image/jpeg", "image/jpeg"),
    ("image/jpg", "image/jpeg"),
    ("image/png", "image/png"),
    ("image/gif", "image/gif"),
    ("image/webp", "image/webp"),
    ("IMAGE/PNG", "image/png"),
])
def test_data_url_images_become_base64_blocks(media_type: str, expected: str) -> None:
    image = {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,AAAA"}}
    body = claude([user([text("What is it?"), image])])
    assert body["messages"][0]["content"][1] == {
        "type": "image", "source": {"type": "base64", "media_type": expected, "data": "AAAA"}}


def test_bare_string_image_url_is_accepted() -> None:
    body = claude([user([{"type": "image_url", "image_url": PNG}])])
    assert body["messages"][0]["content"][0]["source"]["data"] == "iVBORw0KGgo="


@pytest.mark.parametrize("url", [
    "data:image/bmp;base64,AAAA",
    "data:application/pdf;base64,AAAA",
    "data:image/png,AAAA",
    "data:image/png;base64",
    "data:image/png;base64,not base64!",
    "data:;base64,AAAA",
    "ftp://example.com/cat.png",
    "cat.png",
])
def test_bad_image_urls_are_a_400_naming_the_url(url: str) -> None:
    messages = [user("look"), assistant("ok"), user([text("this"), {"type": "image_url", "image_url": {"url": url}}])]
    assert param_of(messages) == "messages[2].content[1].image_url.url"


def test_remote_image_urls_are_not_fetched_yet() -> None:
    with pytest.raises(InvalidRequestError, match="not fetched") as info:
        translate([user([{"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}])])
    assert info.value.param == "messages[0].content[0].image_url.url"


def test_image_urls_lists_remote_urls_for_pre_resolution() -> None:
    req = parse_chat_request({"model": "m", "messages": [
        {"role": "system", "content": "s"},
        user([{"type": "image_url", "image_url": PNG}, {"type": "image_url", "image_url": {"url": "https://a/b.png"}}]),
        assistant("ok"),
        user([text("and"), {"type": "image_url", "image_url": "http://c/d.jpg"}]),
    ]})
    assert image_urls(req) == [("messages[1].content[1].image_url.url", "https://a/b.png"),
                               ("messages[3].content[1].image_url.url", "http://c/d.jpg")]


def test_resolved_images_replace_remote_urls() -> None:
    req = parse_chat_request({"model": "m", "messages": [
        user([{"type": "image_url", "image_url": {"url": "https://a/b.png"}}])]})
    body = to_claude(req, default_max_tokens=DEFAULT_MAX, resolved_images={"https://a/b.png": PNG}).body
    assert body["messages"][0]["content"][0]["source"]["media_type"] == "image/png"


# --- tools in the conversation -----------------------------------------------------------------

def test_assistant_tool_calls_become_tool_use_blocks_after_the_text() -> None:
    body = claude([user("Weather?"), assistant("Checking.", tool_calls=[call("call_1"), call("call_2", "time", "")]),
                   tool("call_1"), tool("call_2", "noon")])
    assert body["messages"][1] == {"role": "assistant", "content": [
        text("Checking."),
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_use", "id": "call_2", "name": "time", "input": {}},
    ]}


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]", '"text"', "3"])
def test_tool_call_arguments_must_be_a_json_object(arguments: str) -> None:
    messages = [user("Hi"), assistant(tool_calls=[call("a"), call("b", arguments=arguments)]), tool("a"), tool("b")]
    assert param_of(messages) == "messages[1].tool_calls[1].function.arguments"


def test_tool_messages_become_tool_results() -> None:
    body = claude([user("Weather?"), assistant(tool_calls=[call("call_1"), call("call_2")]),
                   tool("call_1", "18C"), tool("call_2", [text("20C"), text("")])])
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": [text("18C")]},
        {"type": "tool_result", "tool_use_id": "call_2", "content": [text("20C")]},
    ]}


def test_empty_tool_result_has_no_content() -> None:
    body = claude([user("Go"), assistant(tool_calls=[call("c")]), tool("c", "")])
    assert body["messages"][2]["content"] == [{"type": "tool_result", "tool_use_id": "c"}]


def test_following_user_message_merges_after_the_tool_results() -> None:
    body = claude([user("Weather?"), assistant(tool_calls=[call("call_1")]), tool("call_1"), user("Thanks!")])
    assert body["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "call_1", "content": [text("18C")]}, text("Thanks!")]}


def test_tool_results_come_first_even_after_a_user_message() -> None:
    body = claude([user("Weather?"), assistant(tool_calls=[call("a"), call("b")]), tool("a"), user("Hurry"), tool("b")])
    kinds = [block["type"] for block in body["messages"][2]["content"]]
    assert kinds == ["tool_result", "tool_result", "text"]
    assert [b.get("tool_use_id") for b in body["messages"][2]["content"][:2]] == ["a", "b"]


@pytest.mark.parametrize("client_id", ["call.1", "call:1", "", "x" * 65, "функция", "id with space"])
def test_tool_ids_claude_rejects_are_mapped_consistently(client_id: str) -> None:
    request = translate([user("Go"), assistant(tool_calls=[call(client_id)]), tool(client_id)])
    tool_use = request.body["messages"][1]["content"][0]
    result = request.body["messages"][2]["content"][0]
    assert re.fullmatch(r"[a-zA-Z0-9_-]{1,64}", tool_use["id"])
    assert tool_use["id"].startswith("call_")
    assert result["tool_use_id"] == tool_use["id"]
    # Deterministic: the same conversation maps to the same id.
    assert translate([user("Go"), assistant(tool_calls=[call(client_id)]), tool(client_id)]).body == request.body


def test_valid_tool_ids_are_kept() -> None:
    request = translate([user("Go"), assistant(tool_calls=[call("toolu_01-AbC")]), tool("toolu_01-AbC")])
    assert request.body["messages"][1]["content"][0]["id"] == "toolu_01-AbC"


def test_an_id_reused_in_a_later_turn_gets_a_new_unique_id() -> None:
    body = claude([user("Go"), assistant(tool_calls=[call("call_0")]), tool("call_0", "first"),
                   assistant(tool_calls=[call("call_0")]), tool("call_0", "second")])
    first, second = body["messages"][1]["content"][0]["id"], body["messages"][3]["content"][0]["id"]
    assert first == "call_0"
    assert second != first
    assert body["messages"][4]["content"][0]["tool_use_id"] == second


def test_an_id_repeated_within_one_message_gives_each_call_an_answer() -> None:
    body = claude([user("Go"), assistant(tool_calls=[call("dup"), call("dup")]), tool("dup")])
    first, second = (block["id"] for block in body["messages"][1]["content"])
    assert first != second
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": second, "content": [text("18C")]},
        {"type": "tool_result", "tool_use_id": first, "is_error": True, "content": [text(MISSING_RESULT_TEXT)]},
    ]


def test_thinking_blocks_come_first_in_their_assistant_turn() -> None:
    thinking = [{"type": "thinking", "thinking": "Use the tool.", "signature": "sig=="},
                {"type": "redacted_thinking", "data": "opaque"}]
    body = claude([user("Weather?"), assistant("Checking.", tool_calls=[call("c")], thinking_blocks=thinking,
                                               reasoning_content="ignored"), tool("c")])
    assert body["messages"][1]["content"][:2] == [
        {"type": "thinking", "thinking": "Use the tool.", "signature": "sig=="},
        {"type": "redacted_thinking", "data": "opaque"}]
    assert [b["type"] for b in body["messages"][1]["content"][2:]] == ["text", "tool_use"]


def test_thinking_stays_first_when_assistant_messages_merge() -> None:
    thinking = [{"type": "thinking", "thinking": "t", "signature": "s"}]
    body = claude([user("Hi"), assistant("a"), assistant("b", thinking_blocks=thinking), user("ok")])
    assert [b["type"] for b in body["messages"][1]["content"]] == ["thinking", "text", "text"]


def test_unanswered_tool_call_gets_an_error_result() -> None:
    body = claude([user("Go"), assistant(tool_calls=[call("a"), call("b")]), tool("a"), user("Never mind")])
    assert body["messages"][2]["content"] == [
        {"type": "tool_result", "tool_use_id": "a", "content": [text("18C")]},
        {"type": "tool_result", "tool_use_id": "b", "is_error": True, "content": [text(MISSING_RESULT_TEXT)]},
        text("Never mind"),
    ]


def test_final_tool_call_without_results_gets_a_user_turn_of_error_results() -> None:
    body = claude([user("Go"), assistant(tool_calls=[call("a")])])
    assert body["messages"][-1] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "a", "is_error": True, "content": [text(MISSING_RESULT_TEXT)]}]}


def test_tool_result_for_an_unknown_call_is_a_400() -> None:
    messages = [user("Go"), assistant(tool_calls=[call("a")]), tool("a"), tool("zzz")]
    assert param_of(messages) == "messages[3].tool_call_id"
    assert param_of([user("Go"), tool("a")]) == "messages[1].tool_call_id"


def test_tool_result_for_an_older_turn_is_a_400() -> None:
    with pytest.raises(InvalidRequestError, match="earlier assistant message") as info:
        translate([user("Go"), assistant(tool_calls=[call("a")]), tool("a"), assistant("Done."), tool("a")])
    assert info.value.param == "messages[4].tool_call_id"


def test_second_result_for_a_call_is_a_400() -> None:
    assert param_of([user("Go"), assistant(tool_calls=[call("a")]), tool("a"), tool("a")]) == "messages[3].tool_call_id"


# --- repairs Claude needs ------------------------------------------------------------------------

def test_empty_parts_and_empty_messages_are_dropped_and_same_roles_merged() -> None:
    body = claude([user([text(""), text("one")]), assistant(""), user("  "), user([text("two")]),
                   assistant([text("")]), assistant("three"), assistant(None), user("four")])
    assert body["messages"] == [
        {"role": "user", "content": [text("one"), text("two")]},
        {"role": "assistant", "content": [text("three")]},
        {"role": "user", "content": [text("four")]},
    ]


def test_final_assistant_prefill_is_right_stripped() -> None:
    body = claude([user("Write JSON"), assistant([text("{\n"), text('"a": '), text("  \n")])])
    assert body["messages"][-1] == {"role": "assistant", "content": [text("{\n"), text('"a":')]}


def test_whitespace_only_final_assistant_is_dropped() -> None:
    body = claude([user("Hi"), assistant(" \n ")])
    assert body["messages"] == [{"role": "user", "content": [text("Hi")]}]


def test_final_assistant_with_only_thinking_is_dropped() -> None:
    thinking = [{"type": "thinking", "thinking": "t", "signature": "s"}]
    body = claude([user("Hi"), assistant("", thinking_blocks=thinking)])
    assert body["messages"] == [{"role": "user", "content": [text("Hi")]}]


def test_final_assistant_is_stripped_after_thinking_moves_first() -> None:
    thinking = [{"type": "thinking", "thinking": "t", "signature": "s"}]
    body = claude([user("Hi"), assistant("Sure "), assistant(None, thinking_blocks=thinking)])
    assert body["messages"][-1] == {"role": "assistant", "content": [thinking[0], text("Sure")]}


def test_non_final_assistant_text_keeps_its_whitespace() -> None:
    body = claude([user("Hi"), assistant("Hello \n"), user("Bye")])
    assert body["messages"][1]["content"] == [text("Hello \n")]


def test_conversation_opening_with_assistant_gets_a_user_turn_first() -> None:
    body = claude([{"role": "system", "content": "s"}, assistant("How can I help?"), user("Weather?")])
    assert body["messages"][0] == {"role": "user", "content": [text(OPENING_USER_TEXT)]}
    assert [m["role"] for m in body["messages"]] == ["user", "assistant", "user"]


@pytest.mark.parametrize("messages", [
    [{"role": "system", "content": "Only a system prompt."}],
    [{"role": "developer", "content": "x"}, user(""), assistant(" ")],
    [user([text(" ")])],
    [assistant(" ", thinking_blocks=[{"type": "thinking", "thinking": "t", "signature": "s"}])],
])
def test_nothing_to_send_is_a_400_on_messages(messages: list[dict[str, Any]]) -> None:
    assert param_of(messages) == "messages"


# --- tools, tool_choice, structured output -----------------------------------------------------

def test_tools_become_claude_tools() -> None:
    body = claude(tools=[WEATHER, {"type": "function", "function": {"name": "now"}},
                         {"type": "function", "function": {"name": "loose", "parameters": {"properties": {}}}}])
    assert body["tools"] == [
        {"name": "get_weather", "description": "Current weather",
         "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}},
        {"name": "now", "input_schema": {"type": "object", "properties": {}}},
        {"name": "loose", "input_schema": {"type": "object", "properties": {}}},
    ]
    assert body["tool_choice"] == {"type": "auto"}


@pytest.mark.parametrize(("choice", "expected"), [
    ("auto", {"type": "auto"}),
    ("none", {"type": "none"}),
    ("required", {"type": "any"}),
    ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
])
def test_tool_choice_maps(choice: Any, expected: dict[str, Any]) -> None:
    assert claude(tools=[WEATHER], tool_choice=choice)["tool_choice"] == expected


def test_named_tool_choice_must_exist() -> None:
    assert param_of(tools=[WEATHER], tool_choice={"type": "function", "function": {"name": "nope"}}) == "tool_choice"


def test_required_tool_choice_needs_tools() -> None:
    assert param_of(tool_choice="required") == "tool_choice"


@pytest.mark.parametrize("choice", ["auto", "none"])
def test_tool_choice_without_tools_is_dropped(choice: str) -> None:
    body = claude(tool_choice=choice)
    assert "tool_choice" not in body
    assert "tools" not in body


@pytest.mark.parametrize(("choice", "expected"), [
    (None, {"type": "auto", "disable_parallel_tool_use": True}),
    ("auto", {"type": "auto", "disable_parallel_tool_use": True}),
    ("required", {"type": "any", "disable_parallel_tool_use": True}),
    ({"type": "function", "function": {"name": "get_weather"}},
     {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True}),
    ("none", {"type": "none"}),
])
def test_parallel_tool_calls_false_disables_parallel_tool_use(choice: Any, expected: dict[str, Any]) -> None:
    assert claude(tools=[WEATHER], tool_choice=choice, parallel_tool_calls=False)["tool_choice"] == expected


def test_json_object_uses_a_forced_internal_tool() -> None:
    request = translate(response_format={"type": "json_object"})
    assert request.json_mode
    assert request.json_tool == JSON_TOOL
    assert request.body["tools"] == [{"name": JSON_TOOL, "description": request.body["tools"][0]["description"],
                                      "input_schema": {"type": "object"}}]
    assert request.body["tool_choice"] == {"type": "tool", "name": JSON_TOOL}


def test_json_schema_becomes_the_internal_tool_schema() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]}
    request = translate(response_format={"type": "json_schema",
                                         "json_schema": {"name": "result", "schema": schema, "strict": True}})
    assert request.body["tools"][0]["input_schema"] == schema


def test_response_format_text_is_plain() -> None:
    request = translate(response_format={"type": "text"})
    assert not request.json_mode
    assert "tools" not in request.body


def test_internal_tool_name_never_collides_with_a_client_tool() -> None:
    clash = {"type": "function", "function": {"name": JSON_TOOL}}
    request = translate(tools=[clash], tool_choice="none", response_format={"type": "json_object"})
    assert request.json_tool == f"{JSON_TOOL}_1"
    assert [t["name"] for t in request.body["tools"]] == [JSON_TOOL, f"{JSON_TOOL}_1"]
    assert request.body["tool_choice"] == {"type": "tool", "name": f"{JSON_TOOL}_1"}


def test_json_mode_with_callable_client_tools_requires_some_tool() -> None:
    request = translate(tools=[WEATHER], response_format={"type": "json_object"})
    assert request.body["tool_choice"] == {"type": "any"}
    assert [t["name"] for t in request.body["tools"]] == ["get_weather", JSON_TOOL]


def test_json_mode_with_thinking_asks_in_the_system_prompt_instead_of_forcing() -> None:
    request = translate([{"role": "system", "content": "Be exact."}, user("Hi")],
                        response_format={"type": "json_object"}, reasoning_effort="low")
    assert request.body["tool_choice"] == {"type": "auto"}
    assert request.body["system"][0] == text("Be exact.")
    assert JSON_TOOL in request.body["system"][-1]["text"]


def test_forced_client_tool_choice_overrides_response_format() -> None:
    request = translate(tools=[WEATHER], tool_choice="required", response_format={"type": "json_object"})
    assert not request.json_mode
    assert [t["name"] for t in request.body["tools"]] == ["get_weather"]


# --- sampling and limits ----------------------------------------------------------------------------

@pytest.mark.parametrize(("fields", "expected"), [
    ({}, DEFAULT_MAX),
    ({"max_tokens": 100}, 100),
    ({"max_completion_tokens": 200, "max_tokens": 100}, 200),
])
def test_max_tokens(fields: dict[str, Any], expected: int) -> None:
    assert claude(**fields)["max_tokens"] == expected


@pytest.mark.parametrize(("temperature", "expected"), [(0, 0.0), (0.7, 0.7), (1, 1.0), (1.5, 1.0), (2, 1.0)])
def test_temperature_above_claude_max_is_clamped(temperature: float, expected: float) -> None:
    assert claude(temperature=temperature)["temperature"] == expected


def test_top_p_is_passed() -> None:
    assert claude(top_p=0.9)["top_p"] == 0.9


def test_top_p_is_dropped_when_temperature_is_given() -> None:
    body = claude(temperature=0.5, top_p=0.9)
    assert body["temperature"] == 0.5
    assert "top_p" not in body


def test_stop_becomes_stop_sequences_without_whitespace_only_ones() -> None:
    assert claude(stop=["END", " ", "\n", "\n\nHuman:"])["stop_sequences"] == ["END", "\n\nHuman:"]
    assert "stop_sequences" not in claude(stop=["  "])


def test_user_becomes_metadata_user_id() -> None:
    assert claude(user="user-42")["metadata"] == {"user_id": "user-42"}
    long_id = claude(user="u" * 300)["metadata"]["user_id"]
    assert len(long_id) == 64
    assert "metadata" not in claude(metadata={"k": "v"})


# --- thinking ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(("effort", "budget"), [("minimal", 1024), ("low", 1024), ("medium", 4096), ("high", 16384)])
def test_reasoning_effort_sets_a_thinking_budget(effort: str, budget: int) -> None:
    request = translate(reasoning_effort=effort)
    assert request.thinking
    assert request.body["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert request.body["max_tokens"] == budget + DEFAULT_MAX


def test_reasoning_effort_none_means_no_thinking() -> None:
    request = translate(reasoning_effort="none")
    assert not request.thinking
    assert "thinking" not in request.body


def test_thinking_object_sets_the_budget_and_wins_over_effort() -> None:
    assert claude(thinking={"type": "enabled", "budget_tokens": 3000}, reasoning_effort="high")["thinking"] == {
        "type": "enabled", "budget_tokens": 3000}
    assert "thinking" not in claude(thinking={"type": "disabled"}, reasoning_effort="high")


def test_thinking_budget_below_claude_minimum_is_a_400() -> None:
    assert param_of(thinking={"type": "enabled", "budget_tokens": 1023}) == "thinking.budget_tokens"


def test_thinking_budget_that_does_not_fit_the_client_max_steps_down_to_a_power_of_two() -> None:
    body = claude(reasoning_effort="high", max_completion_tokens=5000)
    assert body["max_tokens"] == 5000
    assert body["thinking"]["budget_tokens"] == 4096


@pytest.mark.parametrize("maxima", [(4200, 5000, 8192), (2100, 3000, 4096), (1025, 1500, 2048)])
def test_thinking_budget_stays_put_while_the_client_max_moves(maxima: tuple[int, ...]) -> None:
    # The thinking settings are part of Claude's cached prefix (issue 14 (d)).
    budgets = {claude(reasoning_effort="high", max_completion_tokens=m)["thinking"]["budget_tokens"] for m in maxima}
    assert len(budgets) == 1
    assert claude(reasoning_effort="low", max_completion_tokens=3000)["thinking"]["budget_tokens"] == 1024


@pytest.mark.parametrize("field", ["max_completion_tokens", "max_tokens"])
def test_client_max_too_small_for_thinking_is_a_400_naming_the_field(field: str) -> None:
    assert param_of(reasoning_effort="low", **{field: 1024}) == field


def test_thinking_forces_temperature_one_and_drops_top_p() -> None:
    body = claude(reasoning_effort="medium", temperature=0.2, top_p=0.5)
    assert body["temperature"] == 1.0
    assert "top_p" not in body
    assert "temperature" not in claude(reasoning_effort="medium", top_p=0.5)


@pytest.mark.parametrize("choice", ["required", {"type": "function", "function": {"name": "get_weather"}}])
def test_forced_tool_choice_with_thinking_is_a_400(choice: Any) -> None:
    with pytest.raises(InvalidRequestError, match="thinking") as info:
        translate(tools=[WEATHER], tool_choice=choice, reasoning_effort="low")
    assert info.value.param == "tool_choice"


def test_translation_is_deterministic_and_leaves_the_request_alone() -> None:
    raw = {"model": "m", "messages": [{"role": "system", "content": "s"}, user("Hi  "), assistant("Yo  ", tool_calls=[
        call("bad.id")]), tool("bad.id"), assistant("Bye  ")], "tools": [WEATHER], "parallel_tool_calls": False}
    before = copy.deepcopy(raw)
    req = parse_chat_request(raw)
    first = to_claude(req, default_max_tokens=DEFAULT_MAX)
    assert to_claude(req, default_max_tokens=DEFAULT_MAX) == first
    assert raw == before


# --- replies ---------------------------------------------------------------------------------------------

def reply(content: list[dict[str, Any]], stop_reason: str | None = "end_turn", request: ClaudeRequest | None = None,
          usage: dict[str, Any] | None = None) -> dict[str, Any]:
    message = {"id": "msg_1", "type": "message", "role": "assistant", "content": content, "stop_reason": stop_reason,
               "usage": usage or {"input_tokens": 10, "output_tokens": 5}}
    return to_openai_completion(message, json_tool=(request or translate()).json_tool, completion_id="chatcmpl-1",
                                created=1700000000, model="claude-sonnet-4-5")


def test_completion_envelope() -> None:
    completion = reply([text("Hello!")])
    assert completion == {
        "id": "chatcmpl-1", "object": "chat.completion", "created": 1700000000, "model": "claude-sonnet-4-5",
        "system_fingerprint": None,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello!"}, "logprobs": None,
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
                  "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0},
    }


def test_text_blocks_are_joined() -> None:
    assert reply([text("Hello, "), text("world")])["choices"][0]["message"]["content"] == "Hello, world"


def test_tool_use_becomes_tool_calls_and_content_is_none_without_text() -> None:
    choice = reply([{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}}],
                   "tool_use")["choices"][0]
    assert choice["message"] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "toolu_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}]}
    assert choice["finish_reason"] == "tool_calls"


def test_thinking_becomes_reasoning_content_and_thinking_blocks() -> None:
    message = reply([{"type": "thinking", "thinking": "Hmm. ", "signature": "sig1"},
                     {"type": "redacted_thinking", "data": "opaque"},
                     {"type": "thinking", "thinking": "Yes.", "signature": "sig2"},
                     text("42")])["choices"][0]["message"]
    assert message["content"] == "42"
    assert message["reasoning_content"] == "Hmm. Yes."
    assert message["thinking_blocks"] == [{"type": "thinking", "thinking": "Hmm. ", "signature": "sig1"},
                                          {"type": "redacted_thinking", "data": "opaque"},
                                          {"type": "thinking", "thinking": "Yes.", "signature": "sig2"}]


def test_json_mode_reply_is_content_not_a_tool_call() -> None:
    request = translate(tools=[WEATHER], response_format={"type": "json_object"})
    choice = reply([{"type": "tool_use", "id": "toolu_9", "name": JSON_TOOL, "input": {"answer": 42, "é": "ü"}}],
                   "tool_use", request)["choices"][0]
    assert "tool_calls" not in choice["message"]
    assert json.loads(choice["message"]["content"]) == {"answer": 42, "é": "ü"}
    assert choice["finish_reason"] == "stop"


def test_json_mode_reply_that_calls_a_client_tool_is_a_tool_call() -> None:
    request = translate(tools=[WEATHER], response_format={"type": "json_object"})
    choice = reply([{"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}],
                   "tool_use", request)["choices"][0]
    assert choice["message"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert choice["finish_reason"] == "tool_calls"


def test_unknown_block_types_are_skipped() -> None:
    message = reply([{"type": "server_tool_use", "id": "s", "name": "web_search", "input": {}}, text("ok")])
    assert message["choices"][0]["message"] == {"role": "assistant", "content": "ok"}


@pytest.mark.parametrize(("stop_reason", "json_mode", "expected"), [
    ("end_turn", False, "stop"),
    ("stop_sequence", False, "stop"),
    ("max_tokens", False, "length"),
    ("max_tokens", True, "length"),
    ("tool_use", False, "tool_calls"),
    ("tool_use", True, "stop"),
    ("refusal", False, "content_filter"),
    ("pause_turn", False, "stop"),
    ("model_context_window_exceeded", False, "length"),
    ("something_new", False, "stop"),
    (None, False, "stop"),
])
def test_finish_reason(stop_reason: str | None, json_mode: bool, expected: str) -> None:
    assert finish_reason(stop_reason, json_mode=json_mode) == expected


def test_usage_counts_cached_prompt_tokens() -> None:
    assert usage_from_claude({"input_tokens": 12, "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200,
                              "output_tokens": 30}) == {
        "prompt_tokens": 1212, "completion_tokens": 30, "total_tokens": 1242,
        "prompt_tokens_details": {"cached_tokens": 1000, "cache_write_tokens": 200},
        "cache_read_input_tokens": 1000, "cache_creation_input_tokens": 200}


def test_usage_tolerates_missing_and_null_counters() -> None:
    assert usage_from_claude({"input_tokens": 3, "cache_read_input_tokens": None}) == {
        "prompt_tokens": 3, "completion_tokens": 0, "total_tokens": 3,
        "prompt_tokens_details": {"cached_tokens": 0, "cache_write_tokens": 0},
        "cache_read_input_tokens": 0, "cache_creation_input_tokens": 0}
    assert usage_from_claude(None)["total_tokens"] == 0


# --- purity ---------------------------------------------------------------------------------------------
