"""Message bodies in Firestore: serialized once, inline when small, else split into chunks.

A Firestore document holds 1 MiB at most and a message with a few images is larger, so a
body over :data:`INLINE_BYTES` is written as numbered ``chunks`` documents of
:data:`CHUNK_BYTES` each, before the commit that adds its message (each chunk batch stays
under :data:`COMMIT_BYTES`). The message keeps a *spec* (blob id, count, byte length,
SHA-256) and reading verifies all of it: a body comes back whole or not at all.

Tested in tests/test_sessions_store.py.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

JSON = dict[str, Any]

# Firestore takes 10 MiB per request, its emulator only 4 MiB per gRPC message.
INLINE_BYTES = 256 * 1024
CHUNK_BYTES = 512 * 1024
COMMIT_BYTES = 3 * 1024 * 1024


def serialize(message: Mapping[str, Any]) -> tuple[str, int]:
    """``(json_text, utf8_size)`` of a message; lone surrogates are kept, escaped."""
    body = json.dumps(message, ensure_ascii=False, separators=(",", ":"))
    try:
        return body, len(body.encode("utf-8"))
    except UnicodeEncodeError:
        body = json.dumps(message, separators=(",", ":"))
        return body, len(body)


def write_chunks(db: Any, opts: dict[str, Any], chunks: Any, body: str, expire_at: datetime | None) -> JSON:
    """Write ``body`` to the ``chunks`` collection; returns the spec its message keeps."""
    raw = body.encode("utf-8")
    blob = uuid.uuid4().hex
    parts = [raw[i:i + CHUNK_BYTES] for i in range(0, len(raw), CHUNK_BYTES)]
    per_batch = max(1, COMMIT_BYTES // CHUNK_BYTES)
    for start in range(0, len(parts), per_batch):
        batch = db.batch()
        for n in range(start, min(start + per_batch, len(parts))):
            batch.set(chunks.document(_chunk_id(blob, n)),
                      {"blob": blob, "n": n, "data": parts[n], "expire_at": expire_at})
        batch.commit(**opts)
    return {"blob": blob, "count": len(parts), "bytes": len(raw), "sha256": hashlib.sha256(raw).hexdigest()}


def read_chunks(db: Any, opts: dict[str, Any], chunks: Any, spec: Mapping[str, Any]) -> str | None:
    """The body ``spec`` describes; None when a chunk is missing or the bytes do not verify."""
    refs = [chunks.document(_chunk_id(str(spec.get("blob")), n)) for n in range(int(spec.get("count") or 0))]
    found = {snap.id: snap.to_dict() or {} for snap in db.get_all(refs, **opts) if snap.exists}
    raw = b"".join(bytes(found.get(ref.id, {}).get("data", b"")) for ref in refs)
    if len(raw) != spec.get("bytes") or hashlib.sha256(raw).hexdigest() != spec.get("sha256"):
        return None
    return raw.decode("utf-8")


def _chunk_id(blob: str, n: int) -> str:
    return f"{blob}-{n:05d}"
