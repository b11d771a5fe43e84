"""Session ids: server-made UUIDs, and legacy ids mapped the way the old frontend maps them."""

from __future__ import annotations

import hashlib
import uuid

import pytest

from vertexchat.errors import InvalidRequestError
from vertexchat.sessions.ids import canonical_session_id, legacy_uuid, new_session_id, strict_session_id

SEED_ID = "session-1762333076184-ez9oxt7qt5r"


def test_new_ids_are_random_uuid4() -> None:
    ids = {new_session_id() for _ in range(100)}
    assert len(ids) == 100
    assert all(uuid.UUID(i).version == 4 and str(uuid.UUID(i)) == i for i in ids)


def test_the_seed_id_maps_to_the_md5_uuid_every_time() -> None:
    expected = str(uuid.UUID(bytes=hashlib.md5(SEED_ID.encode()).digest()))
    assert canonical_session_id(SEED_ID, "session_id") == (expected, SEED_ID)
    assert canonical_session_id(SEED_ID, "session_id") == (expected, SEED_ID)
    assert legacy_uuid(SEED_ID) == expected


def test_other_legacy_shapes_map_too() -> None:
    legacy = "atoms_session_9f86d081884c7d65"
    mapped, kept = canonical_session_id(legacy, "session_id")
    assert uuid.UUID(mapped)
    assert kept == legacy
    assert mapped != canonical_session_id("atoms_session_9f86d081884c7d66", "session_id")[0]


def test_a_uuid_is_used_as_is_in_lowercase() -> None:
    value = "6F1C0E4E-2A8B-4C55-9A57-0D7C2F2B1E3A"
    assert canonical_session_id(value, "session_id") == (value.lower(), None)
    assert strict_session_id(value, "session_id") == value.lower()


def test_other_uuid_spellings_are_legacy_ids_so_a_session_has_one_key() -> None:
    value = "6f1c0e4e2a8b4c559a570d7c2f2b1e3a"
    assert canonical_session_id(value, "session_id") == (legacy_uuid(value), value)


@pytest.mark.parametrize("raw", ["", "x" * 129, "session-1\n", "tab\there", "nul\x00", "lone\ud800"])
def test_unusable_ids_are_a_400_naming_the_param(raw: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        canonical_session_id(raw, "session_id")
    assert caught.value.param == "session_id"


def test_128_characters_are_fine() -> None:
    assert canonical_session_id("x" * 128, "session_id")[1] == "x" * 128


def test_strict_ids_refuse_legacy_ids() -> None:
    with pytest.raises(InvalidRequestError) as caught:
        strict_session_id(SEED_ID, "session_id")
    assert caught.value.param == "session_id"
