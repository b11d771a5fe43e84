"""PURE: the Claude models vertexchat offers, as a table, and how a requested id resolves.

Vertex AI's Model Garden says which models exist (``name@versionId``); this module knows
what they can do: limits and capabilities per model family, the variants (an id suffix
such as ``-1m`` that means "the base model plus a beta header"), aliases, and the ids to
hide. :func:`build` merges a listing with the table into a :class:`Catalog`, which
answers ``/v1/models`` and resolves what a client sends to what Vertex is called with.

A requested id resolves, first match wins:

1. a callable id: ``claude-sonnet-4-5@20250929``, or a variant ``claude-sonnet-4-5@20250929-1m``;
2. an alias: ``MODEL_ALIASES`` first, then :data:`BUILTIN_ALIASES` (targets resolve by 3, never
   through another alias, so aliases cannot loop);
3. an undated name: ``claude-sonnet-4`` is the newest listed ``claude-sonnet-4@...``; a variant
   of it (``claude-sonnet-4-5-1m``); or the Anthropic API's spelling ``claude-sonnet-4-5-20250929``.

No I/O, no Flask, no logging: ``model_list.py`` fetches the listing (through ``upstream.rest``)
and keeps the cache.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from vertexchat.errors import ModelNotFoundError

CONTEXT_1M = "context-1m-2025-08-07"

_DATED = re.compile(r"^(?P<name>.+)-(?P<date>\d{8})$")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What a family supports through vertexchat's translation."""

    vision: bool
    tools: bool
    thinking: bool
    # response_format json_schema is translated to a forced tool call, so it needs tools.
    json_schema: bool

    def as_json(self) -> dict[str, bool]:
        return {"vision": self.vision, "tools": self.tools, "thinking": self.thinking,
                "json_schema": self.json_schema}

    def names(self) -> list[str]:
        """The capabilities as a list of names, the shape OpenAI-compatible frontends read.

        Every model offered chats and streams; the rest are the flags that are true.
        """
        return ["chat", "streaming", *(name for name, on in self.as_json().items() if on)]


@dataclass(frozen=True, slots=True)
class Variant:
    """An id suffix meaning "call the base model with these headers" (and maybe a larger window)."""

    suffix: str
    headers: tuple[tuple[str, str], ...]
    context_window: int | None = None


@dataclass(frozen=True, slots=True)
class Family:
    """Limits and capabilities shared by every version of one Model Garden model name."""

    context_window: int
    max_output_tokens: int
    capabilities: Capabilities
    # Versions the builtin catalog offers when Vertex cannot be listed.
    versions: tuple[str, ...]
    variants: tuple[Variant, ...] = ()
    # The shortest prompt prefix Claude caches; a breakpoint before it caches nothing (caching.py).
    min_cache_tokens: int = 1024


_FULL = Capabilities(vision=True, tools=True, thinking=True, json_schema=True)
_NO_THINKING = Capabilities(vision=True, tools=True, thinking=False, json_schema=True)
# Claude 3.5 Haiku on Vertex takes text only.
_TEXT_ONLY = Capabilities(vision=False, tools=True, thinking=False, json_schema=True)
_ONE_MILLION = Variant("-1m", (("anthropic-beta", CONTEXT_1M),), context_window=1_000_000)

# min_cache_tokens: Anthropic's "Prompt caching" page, "Cache limitations" (4096 for Opus 4.5 and
# Haiku 4.5, 2048 for the Haiku 3 generation, 1024 for the rest), which Google's Vertex page defers to.
FAMILIES: dict[str, Family] = {
    "claude-opus-4-5": Family(200_000, 64_000, _FULL, ("20251101",), min_cache_tokens=4096),
    "claude-haiku-4-5": Family(200_000, 64_000, _FULL, ("20251001",), min_cache_tokens=4096),
    "claude-sonnet-4-5": Family(200_000, 64_000, _FULL, ("20250929",), (_ONE_MILLION,)),
    "claude-opus-4-1": Family(200_000, 32_000, _FULL, ("20250805",)),
    "claude-opus-4": Family(200_000, 32_000, _FULL, ("20250514",)),
    "claude-sonnet-4": Family(200_000, 64_000, _FULL, ("20250514",), (_ONE_MILLION,)),
    "claude-3-7-sonnet": Family(200_000, 64_000, _FULL, ("20250219",)),
    "claude-3-5-haiku": Family(200_000, 8_192, _TEXT_ONLY, ("20241022",), min_cache_tokens=2048),
    "claude-3-haiku": Family(200_000, 4_096, _NO_THINKING, ("20240307",), min_cache_tokens=2048),
}

# Model names (every version) or callable ids never offered: retired models, which Vertex
# may still list but no longer serves, and listing entries that are not chat models.
HIDDEN: frozenset[str] = frozenset({
    "count-tokens",
    "claude-3-opus",
    "claude-3-sonnet",
    "claude-3-5-sonnet",
    "claude-3-5-sonnet-v2",
    "claude-2",
    "claude-2p0",
    "claude-2p1",
    "claude-instant-1p2",
})

# The Anthropic API's moving aliases, for clients configured with Anthropic's ids.
BUILTIN_ALIASES: dict[str, str] = {
    "claude-opus-4-0": "claude-opus-4",
    "claude-sonnet-4-0": "claude-sonnet-4",
    "claude-3-7-sonnet-latest": "claude-3-7-sonnet",
    "claude-3-5-haiku-latest": "claude-3-5-haiku",
}


@dataclass(frozen=True, slots=True)
class Model:
    """One callable model: the id a client sends and what Vertex is called with."""

    id: str
    vertex_id: str
    name: str
    created: int
    family: Family | None
    headers: Mapping[str, str] = field(default_factory=dict)
    context_window: int | None = None

    @property
    def min_cache_tokens(self) -> int | None:
        """The shortest prefix Claude caches for this model; None when the table does not know it."""
        return self.family.min_cache_tokens if self.family is not None else None

    def describe(self, as_id: str | None = None) -> dict[str, Any]:
        """The OpenAI model object, under ``as_id`` when the client asked by another name."""
        entry: dict[str, Any] = {"id": as_id or self.id, "object": "model", "created": self.created,
                                 "owned_by": "anthropic"}
        if self.family is not None:
            window = self.context_window or self.family.context_window
            # Two spellings of one number: ours, and OpenRouter's, which OpenAI-compatible pickers read.
            entry["context_window"] = entry["context_length"] = window
            entry["max_output_tokens"] = self.family.max_output_tokens
            # A list of names (what such pickers read), and the same facts as flags under `supports`.
            entry["capabilities"] = self.family.capabilities.names()
            entry["supports"] = self.family.capabilities.as_json()
        return entry


@dataclass(frozen=True)
class Catalog:
    """The models one instance offers; immutable, so threads share it without locks."""

    models: Mapping[str, Model]
    newest: Mapping[str, Model]  # undated model name -> its newest listed version
    aliases: Mapping[str, Model]
    listed_aliases: tuple[str, ...] = ()  # configured aliases, which /v1/models shows too

    def entries(self) -> list[dict[str, Any]]:
        """The ``data`` of ``GET /v1/models``: newest first."""
        described = [m.describe() for m in self.models.values()]
        described += [self.aliases[a].describe(a) for a in self.listed_aliases]
        return sorted(described, key=lambda e: (-e["created"], e["id"]))

    def find(self, requested: str) -> Model | None:
        """The model ``requested`` stands for, or None."""
        return self.models.get(requested) or self.aliases.get(requested) or self._implicit(requested)

    def resolve(self, requested: str) -> Model:
        """Like :meth:`find`, but an unknown id raises the 404 a client sees."""
        model = self.find(requested)
        if model is None:
            raise ModelNotFoundError(
                f"The model `{requested}` does not exist or is not available here; "
                "GET /v1/models lists the models you can use.", param="model")
        return model

    def _direct(self, requested: str) -> Model | None:
        return self.models.get(requested) or self._implicit(requested)

    def _implicit(self, requested: str) -> Model | None:
        newest = self.newest.get(requested)
        if newest is not None:
            return newest
        for suffix in _SUFFIXES:
            if requested.endswith(suffix) and len(requested) > len(suffix):
                base = self._direct(requested[: -len(suffix)])
                if base is not None:
                    return self.models.get(base.id + suffix)
        dated = _DATED.match(requested)
        return self.models.get(f"{dated['name']}@{dated['date']}") if dated else None


_SUFFIXES: tuple[str, ...] = tuple(sorted({v.suffix for f in FAMILIES.values() for v in f.variants}))


def builtin_listing() -> tuple[str, ...]:
    """The callable ids offered when Vertex has never been listed by this instance."""
    return tuple(f"{name}@{version}" for name, family in FAMILIES.items() for version in family.versions)


def listed_ids(pages: Iterable[Mapping[str, Any]]) -> list[str]:
    """Callable ids (``name@versionId``) from Model Garden listing pages; malformed entries skipped."""
    ids: list[str] = []
    for page in pages:
        entries = page.get("publisherModels")
        for entry in entries if isinstance(entries, list) else ():
            name = entry.get("name") if isinstance(entry, Mapping) else None
            if not isinstance(name, str) or not name.strip("/"):
                continue
            short = name.rstrip("/").rsplit("/", 1)[-1]
            version = entry.get("versionId")
            ids.append(f"{short}@{version}" if isinstance(version, str) and version else short)
    return ids


def build(listing: Iterable[str], *, allowed: Iterable[str] = (),
          aliases: Iterable[tuple[str, str]] = ()) -> Catalog:
    """Merge callable ids with the table.

    ``allowed`` (``VERTEX_MODELS``) keeps only ids or model names it contains (a variant is
    kept by its own id or its model name, so pinning ``x@v`` does not offer ``x@v-1m``).
    ``aliases`` (``MODEL_ALIASES``) whose target does not resolve are dropped.
    """
    allow = frozenset(allowed)
    models: dict[str, Model] = {}
    for callable_id in dict.fromkeys(listing):
        for model in _expand(callable_id):
            if model.name not in HIDDEN and model.id not in HIDDEN and _allowed(model, allow):
                models[model.id] = model
    newest: dict[str, Model] = {}
    for model in models.values():
        if not model.headers and model.id == model.vertex_id:
            current = newest.get(model.name)
            if current is None or model.vertex_id > current.vertex_id:
                newest[model.name] = model
    partial = Catalog(models, newest, {})
    configured = dict(aliases)
    resolved: dict[str, Model] = {}
    for alias, target in {**BUILTIN_ALIASES, **configured}.items():
        found = partial._direct(target)
        if found is not None and alias not in models:
            resolved[alias] = found
    listed = tuple(a for a in configured if a in resolved)
    return Catalog(models, newest, resolved, listed)


def unresolved_aliases(catalog: Catalog, aliases: Iterable[tuple[str, str]]) -> list[str]:
    """The configured aliases the catalog had to drop (their target is not offered)."""
    return [alias for alias, _ in aliases if alias not in catalog.aliases and alias not in catalog.models]


def _expand(callable_id: str) -> list[Model]:
    """A listed id and its variants, with what the table knows about them."""
    if not callable_id.startswith("claude-"):
        return []
    name, _, version = callable_id.partition("@")
    family = FAMILIES.get(name)
    created = _created(version)
    base = Model(callable_id, callable_id, name, created, family)
    variants = [
        Model(f"{callable_id}{v.suffix}", callable_id, name, created, family, dict(v.headers), v.context_window)
        for v in (family.variants if family and version else ())
    ]
    return [base, *variants]


def _allowed(model: Model, allow: frozenset[str]) -> bool:
    return not allow or model.id in allow or model.name in allow


def _created(version: str) -> int:
    """Unix time of a dated version (``20250929``), else 0: Vertex gives no creation time."""
    try:
        return int(datetime.strptime(version, "%Y%m%d").replace(tzinfo=UTC).timestamp())
    except ValueError:
        return 0
