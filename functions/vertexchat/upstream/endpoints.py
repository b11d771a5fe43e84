"""PURE: where each Vertex AI call goes, for a location, in one place.

Hosts (Google's "Vertex AI locations" page): ``global`` -> ``aiplatform.googleapis.com``;
the multi-regions ``us`` / ``eu`` -> ``aiplatform.{us,eu}.rep.googleapis.com``; any other
location R -> ``R-aiplatform.googleapis.com`` (see ``config.default_endpoint``). An explicit
``VERTEX_ENDPOINT`` (a private endpoint, the simulator) serves every location.

Tested in tests/test_models.py.
"""

from __future__ import annotations

from vertexchat.config import Settings, default_endpoint

LIST_PATH = "/v1beta1/publishers/anthropic/models"


def endpoint(settings: Settings, location: str) -> str:
    """``scheme://host[:port]`` of Vertex AI for ``location``."""
    return settings.endpoint_override or default_endpoint(location)


def api_base(settings: Settings, location: str) -> str:
    """The ``/v1`` base the anthropic SDK's Vertex client builds its model URLs on."""
    return f"{endpoint(settings, location)}/v1"


def count_tokens_url(settings: Settings, project: str, location: str) -> str:
    """``count-tokens:rawPredict`` for ``location`` (the model goes in the body)."""
    return (f"{api_base(settings, location)}/projects/{project}/locations/{location}"
            "/publishers/anthropic/models/count-tokens:rawPredict")


def model_url(settings: Settings, project: str, location: str, model: str, method: str) -> str:
    """A publisher model's ``:rawPredict`` / ``:streamRawPredict`` URL, as the SDK's Vertex client builds it."""
    return (f"{api_base(settings, location)}/projects/{project}/locations/{location}"
            f"/publishers/anthropic/models/{model}:{method}")


def listing_url(settings: Settings) -> str:
    """Model Garden's Anthropic listing (``v1beta1`` only), on the primary location's host."""
    return f"{settings.vertex_endpoint}{LIST_PATH}"
