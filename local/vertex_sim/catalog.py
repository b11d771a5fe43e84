"""The Model Garden listing: which Claude models the simulator advertises, served in pages.

The page size defaults to 2 so that clients must follow nextPageToken to see every model, as they
must against the real v1beta1 API.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

DEFAULT_MODELS = (
    "claude-sonnet-4-5@20250929",
    "claude-haiku-4-5@20251001",
    "claude-opus-4-1@20250805",
    "claude-sonnet-4@20250514",
    "claude-3-5-haiku@20241022",
    "claude-opus-4-5@20251101",
)
DEFAULT_PAGE_SIZE = 2


class PageTokenError(ValueError):
    """The client sent a pageToken this listing never issued."""


def publisher_model(model_id: str) -> dict[str, Any]:
    """One `publisherModels` entry for a callable id like `claude-sonnet-4-5@20250929`."""
    name, _, version = model_id.partition("@")
    return {
        "name": f"publishers/anthropic/models/{name}",
        "versionId": version or "001",
        "launchStage": "GA",
        "openSourceCategory": "PROPRIETARY",
        "publisherModelTemplate": f"projects/{{project}}/locations/{{location}}/publishers/anthropic/models/{model_id}",
    }


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(f"offset={offset}".encode()).decode()


def _offset(token: str) -> int:
    try:
        key, _, value = base64.urlsafe_b64decode(token.encode()).decode().partition("=")
        if key == "offset" and value.isdigit():
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise PageTokenError(f"Invalid page token: {token!r}")


def list_page(models: Sequence[str], page_size: int, page_token: str | None) -> dict[str, Any]:
    """One page of the listing; `nextPageToken` is present only when more models follow."""
    start = _offset(page_token) if page_token else 0
    end = start + page_size
    page: dict[str, Any] = {"publisherModels": [publisher_model(m) for m in models[start:end]]}
    if end < len(models):
        page["nextPageToken"] = _token(end)
    return page
