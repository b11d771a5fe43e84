"""Which messages of a resent conversation are new: the pure half of exactly-once transcripts."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from vertexchat.sessions.transcript import active_path, fingerprint, new_messages

SYSTEM = {"role": "system", "content": "Be brief."}
U1 = {"role": "user", "content": "What is the weather in Paris?"}
A1 = {"role": "assistant", "content": None, "reasoning_content": "The user wants weather.",
      "tool_calls": [{"id": "toolu_1", "type": "function",
                      "function": {"name": "weather", "arguments": '{"city":"Paris","unit":"c"}'}}]}
T1 = {"role": "tool", "tool_call_id": "toolu_1", "content": "18C, sunny"}
A2 = {"role": "assistant", "content": "It is 18C and sunny in Paris."}
U2 = {"role": "user", "content": "And tomorrow?"}


def test_first_turn_stores_everything() -> None:
    assert new_messages([], [SYSTEM, U1]) == ([SYSTEM, U1], None)


def test_a_continued_conversation_appends_only_the_new_messages() -> None:
    assert new_messages([SYSTEM, U1, A1, T1, A2], [SYSTEM, U1, A1, T1, A2, U2]) == ([U2], None)


def test_an_echoed_assistant_message_matches_its_stored_original() -> None:
    # What an OpenAI SDK client sends back: nulls, no reasoning, reformatted arguments.
    echoed = {"role": "assistant", "content": "", "refusal": None, "annotations": [], "audio": None,
              "function_call": None,
              "tool_calls": [{"id": "toolu_1", "type": "function",
                              "function": {"name": "weather", "arguments": '{"unit": "c", "city": "Paris"}'}}]}
    assert fingerprint(echoed) == fingerprint(A1)
    assert new_messages([U1, A1], [U1, echoed, T1]) == ([T1], None)


def test_text_parts_and_surrounding_whitespace_do_not_matter() -> None:
    parts = {"role": "assistant", "content": [{"type": "text", "text": "It is 18C "},
                                              {"type": "text", "text": "and sunny in Paris.\n"}]}
    assert fingerprint(parts) == fingerprint(A2)


def test_what_a_message_says_does_matter() -> None:
    assert fingerprint(U1) != fingerprint({**U1, "content": "What is the weather in Rome?"})
    assert fingerprint(U1) != fingerprint({**U1, "role": "system"})
    image = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAA"}}]}
    other = {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,AAB"}}]}
    assert fingerprint(image) != fingerprint(other)
    assert fingerprint(T1) != fingerprint({**T1, "tool_call_id": "toolu_2"})


def test_resending_the_same_conversation_appends_nothing() -> None:
    assert new_messages([U1, A2], [U1, A2]) == ([], None)


def test_a_regenerated_reply_diverges_after_the_prompt() -> None:
    # The client drops the last answer and asks again: the new answer is a sibling of A2.
    assert new_messages([U1, A2], [U1]) == ([], 1)


def test_an_edited_message_starts_a_branch_where_it_changed() -> None:
    edited = {"role": "user", "content": "And the day after?"}
    assert new_messages([U1, A2, U2, A2], [U1, A2, edited]) == ([edited], 2)


def test_a_new_first_message_diverges_at_the_root() -> None:
    assert new_messages([U1, A2], [U2]) == ([U2], 0)


def test_active_path_follows_parents_from_the_head() -> None:
    # 0 <- 1 <- 2, and a branch 1 <- 3 <- 4.
    parents: dict[int, int | None] = {0: None, 1: 0, 2: 1, 3: 1, 4: 3}
    assert active_path(parents, 4) == [0, 1, 3, 4]
    assert active_path(parents, 2) == [0, 1, 2]
    assert active_path(parents, None) == []


def test_active_path_survives_a_broken_or_looping_chain() -> None:
    assert active_path({5: 4}, 5) == [5]
    assert active_path({1: 2, 2: 1}, 1) == [2, 1]


messages = st.lists(st.fixed_dictionaries({
    "role": st.sampled_from(["system", "user", "assistant", "tool"]),
    "content": st.one_of(st.none(), st.text(max_size=20)),
}), max_size=6)


@given(messages, messages)
def test_a_conversation_that_extends_the_stored_one_appends_exactly_the_extension(
        stored: list[dict[str, Any]], extra: list[dict[str, Any]]) -> None:
    assert new_messages(stored, stored + extra) == (extra, None)


@given(messages, messages)
def test_stored_prefix_plus_appended_part_is_what_was_sent(stored: list[dict[str, Any]],
                                                           sent: list[dict[str, Any]]) -> None:
    to_append, diverged_at = new_messages(stored, sent)
    kept = len(sent) - len(to_append)
    assert [fingerprint(m) for m in stored[:kept]] == [fingerprint(m) for m in sent[:kept]]
    assert to_append == sent[kept:]
    assert diverged_at == (None if kept == len(stored) else kept)
