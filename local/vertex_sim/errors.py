"""Error bodies: Google's envelope from the Vertex front end, Claude's from the model service behind it."""

from __future__ import annotations

from typing import Any

from local.vertex_sim.render import random_id

STATUS_NAMES = {
    400: "INVALID_ARGUMENT", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "NOT_FOUND",
    409: "ABORTED", 429: "RESOURCE_EXHAUSTED", 499: "CANCELLED", 500: "INTERNAL", 501: "NOT_IMPLEMENTED",
    503: "UNAVAILABLE", 504: "DEADLINE_EXCEEDED",
}
UNAUTHENTICATED = (
    "Request is missing required authentication credential. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
)
RESOURCE_EXHAUSTED = (
    "Resource exhausted. Please try again later. Please refer to "
    "https://cloud.google.com/vertex-ai/generative-ai/docs/error-code-429 for more details."
)


def vertex_error(status: int, message: str) -> dict[str, Any]:
    """Google's error envelope, as the Vertex front end sends it."""
    return {"error": {"code": status, "message": message, "status": STATUS_NAMES.get(status, "UNKNOWN")}}


def claude_error(kind: str, message: str) -> dict[str, Any]:
    """Claude's error envelope, as the model service behind Vertex sends it (with a `req_vrtx_` request id)."""
    return {"type": "error", "error": {"type": kind, "message": message}, "request_id": random_id("req_vrtx_")}


def default_error_body(status: int) -> dict[str, Any]:
    if status == 529:
        return claude_error("overloaded_error", "Overloaded")
    if status == 429:
        return vertex_error(429, RESOURCE_EXHAUSTED)
    return vertex_error(status, f"Simulated error {status}.")
