"""The model catalog as a pure table: merging a Vertex listing, aliases, variants, hiding, resolving."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import pytest

from vertexchat import catalog
from vertexchat.catalog import CONTEXT_1M, build, builtin_listing, listed_ids
from vertexchat.errors import ModelNotFoundError

LISTED = ["claude-sonnet-4-5@20250929", "claude-haiku-4-5@20251001", "claude-sonnet-4@20250514",
          "claude-opus-4-1@20250805"]


def page(*ids: str, next_token: str | None = None) -> dict[str, object]:
    models = [{"name": f"publishers/anthropic/models/{i.partition('@')[0]}", "versionId": i.partition("@")[2],
               "launchStage": "GA"} for i in ids]
    return {"publisherModels": models, **({"nextPageToken": next_token} if next_token else {})}


def test_callable_ids_are_name_at_version_across_pages() -> None:
    pages = [page("claude-sonnet-4-5@20250929", next_token="t"), page("claude-haiku-4-5@20251001"), {}]
    assert listed_ids(pages) == ["claude-sonnet-4-5@20250929", "claude-haiku-4-5@20251001"]


def test_malformed_listing_entries_are_skipped() -> None:
    pages: list[dict[str, Any]] = [
        {"publisherModels": [{"versionId": "1"}, "junk", {"name": 3}, {"name": "publishers/anthropic/models/x"}]},
        {"publisherModels": "nope"},
    ]
    assert listed_ids(pages) == ["x"]


def test_entries_are_openai_model_objects_with_what_the_table_knows() -> None:
    entries = {e["id"]: e for e in build([*LISTED, "claude-3-5-haiku@20241022"]).entries()}

    sonnet = entries["claude-sonnet-4-5@20250929"]
    assert sonnet == {
        "id": "claude-sonnet-4-5@20250929", "object": "model", "created": 1759104000, "owned_by": "anthropic",
        "context_window": 200_000, "context_length": 200_000, "max_output_tokens": 64_000,
        "capabilities": ["chat", "streaming", "vision", "tools", "thinking", "json_schema"],
        "supports": {"vision": True, "tools": True, "thinking": True, "json_schema": True},
    }
    long = entries["claude-sonnet-4-5@20250929-1m"]
    assert long["context_window"] == long["context_length"] == 1_000_000
    # Text-only Claude 3.5 Haiku: the list names only what it can do.
    assert entries["claude-3-5-haiku@20241022"]["capabilities"] == ["chat", "streaming", "tools", "json_schema"]


def test_entries_are_newest_first() -> None:
    created = [e["created"] for e in build(LISTED).entries()]
    assert created == sorted(created, reverse=True)


def test_a_model_the_table_does_not_know_is_listed_without_guesses() -> None:
    entry = build(["claude-opus-9@20300101"]).resolve("claude-opus-9@20300101").describe()
    assert entry == {"id": "claude-opus-9@20300101", "object": "model", "created": 1893456000,
                     "owned_by": "anthropic"}


def test_retired_models_and_non_chat_entries_are_hidden() -> None:
    cat = build(["claude-3-5-sonnet-v2@20241022", "count-tokens", "gemini-pro@001", *LISTED])
    ids = {e["id"] for e in cat.entries()}
    assert "claude-3-5-sonnet-v2@20241022" not in ids
    assert not any(i.startswith(("count-tokens", "gemini")) for i in ids)
    assert cat.find("claude-3-5-sonnet-v2") is None


def test_the_1m_variant_is_the_base_model_plus_the_beta_header() -> None:
    model = build(LISTED).resolve("claude-sonnet-4-5@20250929-1m")
    assert model.vertex_id == "claude-sonnet-4-5@20250929"
    assert dict(model.headers) == {"anthropic-beta": CONTEXT_1M}
    # Families without the variant do not grow one.
    assert build(LISTED).find("claude-opus-4-1@20250805-1m") is None


@pytest.mark.parametrize(("requested", "vertex_id"), [
    ("claude-sonnet-4", "claude-sonnet-4@20250514"),  # the seed's curl
    ("claude-sonnet-4-5", "claude-sonnet-4-5@20250929"),
    ("claude-sonnet-4-5-20250929", "claude-sonnet-4-5@20250929"),  # the Anthropic API's spelling
    ("claude-sonnet-4-0", "claude-sonnet-4@20250514"),  # a builtin alias
    ("claude-haiku-4-5@20251001", "claude-haiku-4-5@20251001"),
])
def test_requested_ids_resolve_to_vertex_ids(requested: str, vertex_id: str) -> None:
    model = build(LISTED).resolve(requested)
    assert model.vertex_id == vertex_id
    assert dict(model.headers) == {}


def test_an_undated_name_is_the_newest_listed_version() -> None:
    cat = build(["claude-sonnet-4@20250514", "claude-sonnet-4@20260101", "claude-sonnet-4@20240101"])
    assert cat.resolve("claude-sonnet-4").vertex_id == "claude-sonnet-4@20260101"
    undated_1m = cat.resolve("claude-sonnet-4-1m")
    assert undated_1m.vertex_id == "claude-sonnet-4@20260101"
    assert dict(undated_1m.headers) == {"anthropic-beta": CONTEXT_1M}


def test_unknown_model_raises_model_not_found_naming_the_param() -> None:
    with pytest.raises(ModelNotFoundError) as raised:
        build(LISTED).resolve("gpt-4o")
    assert raised.value.status == 404
    assert raised.value.code == "model_not_found"
    assert raised.value.param == "model"
    assert "gpt-4o" in raised.value.message


def test_configured_aliases_resolve_are_listed_and_win_over_undated_names() -> None:
    cat = build([*LISTED, "claude-sonnet-4-5@20260101"],
                aliases=[("fast", "claude-haiku-4-5"), ("claude-sonnet-4-5", "claude-sonnet-4-5@20250929"),
                         ("long", "claude-sonnet-4-5@20250929-1m")])

    assert cat.resolve("fast").vertex_id == "claude-haiku-4-5@20251001"
    assert cat.resolve("claude-sonnet-4-5").vertex_id == "claude-sonnet-4-5@20250929"
    assert dict(cat.resolve("long").headers) == {"anthropic-beta": CONTEXT_1M}
    entries = {e["id"]: e for e in cat.entries()}
    assert entries["fast"]["max_output_tokens"] == 64_000
    assert "claude-sonnet-4-0" not in entries, "builtin aliases resolve but are not listed"


def test_aliases_never_chain_and_dangling_ones_are_dropped() -> None:
    aliases = [("a", "b"), ("b", "claude-haiku-4-5"), ("gone", "claude-opus-9")]
    cat = build(LISTED, aliases=aliases)
    assert cat.find("a") is None
    assert cat.find("b") is not None
    assert catalog.unresolved_aliases(cat, aliases) == ["a", "gone"]


def test_vertex_models_keeps_names_or_exact_ids() -> None:
    cat = build([*LISTED, "claude-sonnet-4-5@20260101"],
                allowed=["claude-sonnet-4-5", "claude-sonnet-4@20250514"])
    ids = {e["id"] for e in cat.entries()}
    assert ids == {"claude-sonnet-4-5@20250929", "claude-sonnet-4-5@20250929-1m", "claude-sonnet-4-5@20260101",
                   "claude-sonnet-4-5@20260101-1m", "claude-sonnet-4@20250514"}
    assert cat.find("claude-haiku-4-5") is None
    # Pinning a version does not offer its pricier 1M-context variant unless named too.
    assert cat.find("claude-sonnet-4@20250514-1m") is None


def test_builtin_catalog_covers_the_frontends_ids() -> None:
    cat = build(builtin_listing())
    for requested in ("claude-sonnet-4-5@20250929", "claude-haiku-4-5@20251001", "claude-sonnet-4-5@20250929-1m",
                      "claude-sonnet-4"):
        assert cat.find(requested) is not None, requested


def test_catalog_is_a_pure_leaf() -> None:
    source = Path(catalog.__file__).read_text(encoding="utf-8")
    imported = {node.module for node in ast.walk(ast.parse(source)) if isinstance(node, ast.ImportFrom)}
    imported |= {alias.name for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Import)
                 for alias in node.names}
    assert imported <= {"__future__", "re", "collections.abc", "dataclasses", "datetime", "typing",
                        "vertexchat.errors"}
