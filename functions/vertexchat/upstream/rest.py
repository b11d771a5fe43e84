"""The light JSON client for Vertex AI: the model listing and count-tokens, with ``requests``.

Used by the models and health functions, which must start fast, so it never loads the
anthropic SDK. Every ``requests`` failure and every upstream error body is mapped to
``vertexchat.errors`` here (``errors.upstream_error`` reads the bodies).

Tested in tests/test_models.py. Tested in tests/test_health.py.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import requests

from vertexchat.catalog import listed_ids
from vertexchat.config import Settings
from vertexchat.errors import APIError, GatewayTimeoutError, UpstreamError, upstream_error
from vertexchat.upstream.credentials import AmbientCredentials
from vertexchat.upstream.endpoints import count_tokens_url, listing_url

# A listing that never ends is a bug upstream; a few hundred models would be 100 pages at worst.
_MAX_PAGES = 100
# Listing and counting are small requests: never let them hold a request as long as a generation may.
_MAX_READ_SECONDS = 30.0
_COUNT_TIMEOUT = (5.0, 10.0)
# Vertex's original version string; count-tokens accepts it and the SDK is not loaded here.
ANTHROPIC_VERSION = "vertex-2023-10-16"


class VertexRest:
    """Small JSON calls to Vertex AI with the instance's ambient credentials."""

    def __init__(self, settings: Settings, credentials: AmbientCredentials) -> None:
        self._settings = settings
        self._credentials = credentials
        self._listing_timeout = (settings.connect_timeout, min(settings.first_byte_timeout, _MAX_READ_SECONDS))
        self._session = requests.Session()

    def list_models(self) -> list[str]:
        """Every page of Model Garden's Anthropic listing, as callable ids (``name@version``)."""
        headers = {"Authorization": f"Bearer {self._credentials.token()}",
                   "x-goog-user-project": self._credentials.project_id()}
        pages: list[Mapping[str, Any]] = []
        params: dict[str, str] = {}
        for _ in range(_MAX_PAGES):
            page = self._get_json(listing_url(self._settings), params, headers)
            pages.append(page)
            next_token = page.get("nextPageToken")
            if not isinstance(next_token, str) or not next_token:
                return listed_ids(pages)
            params = {"pageToken": next_token}
        raise UpstreamError(f"Vertex AI's model listing did not end after {_MAX_PAGES} pages.")

    def count_tokens(self, model: str, *, location: str | None = None) -> int:
        """``count-tokens:rawPredict`` for a one-word prompt: proves reachability, generates nothing."""
        location = location or self._settings.region
        url = count_tokens_url(self._settings, self._credentials.project_id(), location)
        body = {"anthropic_version": ANTHROPIC_VERSION, "model": model,
                "messages": [{"role": "user", "content": "ping"}]}
        answer = self._call("POST", url, headers={"Authorization": f"Bearer {self._credentials.token()}"},
                            json=body, timeout=_COUNT_TIMEOUT)
        return int(answer.get("input_tokens") or 0)

    def count_tokens_raw(self, content: bytes, *, headers: Mapping[str, str] | None = None,
                         location: str | None = None) -> dict[str, Any]:
        """``count-tokens:rawPredict`` with ``content``, a client's exact JSON body (``model`` and
        ``anthropic_version`` in it, as Vertex wants): Vertex's answer, e.g. ``{"input_tokens": 12}``."""
        location = location or self._settings.region
        url = count_tokens_url(self._settings, self._credentials.project_id(), location)
        sent = {**(headers or {}), "Authorization": f"Bearer {self._credentials.token()}",
                "Content-Type": "application/json"}
        return dict(self._call("POST", url, headers=sent, data=content, timeout=_COUNT_TIMEOUT))

    def _get_json(self, url: str, params: Mapping[str, str], headers: Mapping[str, str]) -> Mapping[str, Any]:
        return self._call("GET", url, params=params, headers=headers, timeout=self._listing_timeout)

    def _call(self, method: str, url: str, **kwargs: Any) -> Mapping[str, Any]:
        try:
            response = self._session.request(method, url, **kwargs)
        except requests.Timeout:
            raise GatewayTimeoutError("Vertex AI did not answer in time.") from None
        except requests.RequestException:
            raise UpstreamError("Could not connect to Vertex AI.", code="upstream_unreachable") from None
        with contextlib.closing(response):
            return _json_of(response)


def _json_of(response: requests.Response) -> Mapping[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code >= 400:
        error: APIError = upstream_error(response.status_code, body if body is not None else response.reason,
                                         response.headers)
        raise error
    if not isinstance(body, dict):
        raise UpstreamError("Vertex AI answered with something that is not a JSON object.")
    return body
