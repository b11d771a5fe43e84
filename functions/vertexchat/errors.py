"""The errors a client of vertexchat can see, each with its HTTP status and OpenAI type/code.

Every non-2xx answer, and every in-band stream error, is rendered from one of these
by :func:`error_body`. Foreign exceptions (anthropic SDK, google-auth, Firestore, HTTP
clients) are translated to this tree at the adapter boundary; nothing above the
adapters sees them.

    APIError                          500 api_error
    ├── InvalidRequestError           400 invalid_request_error
    │   └── ContextLengthExceededError 400 invalid_request_error / context_length_exceeded
    ├── AuthenticationError           401 authentication_error
    ├── NotFoundError                 404 invalid_request_error / not_found
    │   └── ModelNotFoundError        404 invalid_request_error / model_not_found
    ├── MethodNotAllowedError         405 invalid_request_error / method_not_allowed (+ Allow)
    ├── ConflictError                 409 conflict_error            (+ Retry-After)
    ├── RequestTooLargeError          413 invalid_request_error / request_too_large
    ├── UnsupportedMediaTypeError     415 invalid_request_error / unsupported_media_type
    ├── UnprocessableEntityError      422 invalid_request_error
    ├── RateLimitError                429 rate_limit_error          (+ Retry-After)
    ├── ClientClosedError             499 client_closed              (only ever logged: nobody is listening)
    ├── UpstreamError                 502 api_error / upstream_error
    ├── ServiceUnavailableError       503 service_unavailable       (+ Retry-After)
    │   ├── OverloadedError           503 overloaded_error / overloaded
    │   └── CredentialsError          503 service_unavailable / credentials_unavailable
    └── GatewayTimeoutError           504 timeout / upstream_timeout

Tested in tests/test_chat_errors.py.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar


class APIError(Exception):
    """Base of every error vertexchat renders to a client."""

    status: ClassVar[int] = 500
    type: ClassVar[str] = "api_error"
    default_code: ClassVar[str | None] = None

    def __init__(
        self,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        upstream_retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code if code is not None else self.default_code
        self.retry_after = retry_after
        # What the upstream itself asked for (None if it said nothing): retries honour this,
        # while ``retry_after`` is what the client is told.
        self.upstream_retry_after = upstream_retry_after

    def headers(self) -> dict[str, str]:
        """Extra response headers this error calls for (Retry-After where it applies)."""
        if self.retry_after is None:
            return {}
        # Retry-After takes whole seconds; never advertise 0, which invites a hot loop.
        return {"Retry-After": str(max(1, round(self.retry_after + 0.499)))}


class InvalidRequestError(APIError):
    status = 400
    type = "invalid_request_error"


class ContextLengthExceededError(InvalidRequestError):
    default_code = "context_length_exceeded"


class AuthenticationError(APIError):
    status = 401
    type = "authentication_error"
    default_code = "invalid_token"

    def headers(self) -> dict[str, str]:
        # RFC 6750: the description is ours (never the token), quotes stripped to keep the header valid.
        description = self.message.replace('"', "'")
        return {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{description}"'}


class NotFoundError(APIError):
    status = 404
    type = "invalid_request_error"
    default_code = "not_found"


class ModelNotFoundError(NotFoundError):
    default_code = "model_not_found"


class MethodNotAllowedError(APIError):
    status = 405
    type = "invalid_request_error"
    default_code = "method_not_allowed"

    def __init__(self, message: str, *, allow: Sequence[str]) -> None:
        super().__init__(message)
        self.allow = tuple(allow)

    def headers(self) -> dict[str, str]:
        # RFC 9110 section 15.5.6: a 405 must say which methods the resource supports.
        return {"Allow": ", ".join(self.allow)}


class ConflictError(APIError):
    status = 409
    type = "conflict_error"
    default_code = "conflict"


class RequestTooLargeError(APIError):
    status = 413
    type = "invalid_request_error"
    default_code = "request_too_large"


class UnsupportedMediaTypeError(APIError):
    status = 415
    type = "invalid_request_error"
    default_code = "unsupported_media_type"


class UnprocessableEntityError(APIError):
    status = 422
    type = "invalid_request_error"
    default_code = "unprocessable_entity"


class RateLimitError(APIError):
    status = 429
    type = "rate_limit_error"
    default_code = "rate_limit_exceeded"


class ClientClosedError(APIError):
    """The client went away before its answer began; the status is nginx's 499, for the log line."""

    status = 499
    type = "client_closed"
    default_code = "client_closed"


class UpstreamError(APIError):
    status = 502
    type = "api_error"
    default_code = "upstream_error"


class ServiceUnavailableError(APIError):
    status = 503
    type = "service_unavailable"
    default_code = "service_unavailable"


class OverloadedError(ServiceUnavailableError):
    type = "overloaded_error"
    default_code = "overloaded"


class CredentialsError(ServiceUnavailableError):
    default_code = "credentials_unavailable"


class GatewayTimeoutError(APIError):
    status = 504
    type = "timeout"
    default_code = "upstream_timeout"


def error_body(error: APIError) -> dict[str, Any]:
    """The OpenAI error object for ``error``: ``{"error": {message, type, param, code}}``."""
    return {
        "error": {
            "message": error.message,
            "type": error.type,
            "param": error.param,
            "code": error.code,
        }
    }


# Anthropic's error types by HTTP status (the Messages API's errors page); 503 is theirs as 529.
_ANTHROPIC_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                    404: "not_found_error", 405: "invalid_request_error", 409: "invalid_request_error",
                    413: "request_too_large", 415: "invalid_request_error", 422: "invalid_request_error",
                    429: "rate_limit_error", 499: "invalid_request_error", 500: "api_error", 502: "api_error",
                    503: "overloaded_error", 504: "api_error"}


def anthropic_error(error: APIError) -> tuple[int, dict[str, Any]]:
    """The status and Anthropic error body (``{"type": "error", "error": {type, message}}``) for ``error``.

    An overloaded or unavailable upstream is Anthropic's 529 ``overloaded_error``, so the
    Anthropic SDKs and Claude Code back off and retry as they do against Anthropic's API.
    """
    status = 529 if error.status == 503 else error.status
    kind = _ANTHROPIC_TYPES.get(error.status, "api_error")
    return status, {"type": "error", "error": {"type": kind, "message": error.message}}


def openai_error(error: APIError) -> tuple[int, dict[str, Any]]:
    """The status and OpenAI error body for ``error``."""
    return error.status, error_body(error)


# Each route renders its errors in its API's shape (``route_table.Route.errors``).
ERROR_DIALECTS = {"openai": openai_error, "anthropic": anthropic_error}


def internal_error(request_id: str) -> APIError:
    """What a client sees for a bug of ours: no internals, but an id to find the log line."""
    return APIError(f"Internal error; the server logged it under request id {request_id}.", code="internal_error")


# Claude's error types (``{"type": "error", "error": {"type": ...}}``) and Vertex's
# google.rpc statuses (``{"error": {"status": ...}}``) -> our error class. Classification
# goes by the body first because the Vertex client reports some errors with odd HTTP
# statuses (an overloaded Claude behind Vertex can arrive as 500 or 529).
_BY_TYPE: dict[str, type[APIError]] = {
    "invalid_request_error": InvalidRequestError,
    "INVALID_ARGUMENT": InvalidRequestError,
    "FAILED_PRECONDITION": InvalidRequestError,
    "OUT_OF_RANGE": InvalidRequestError,
    "not_found_error": ModelNotFoundError,
    "NOT_FOUND": ModelNotFoundError,
    "rate_limit_error": RateLimitError,
    "RESOURCE_EXHAUSTED": RateLimitError,
    "overloaded_error": OverloadedError,
    "UNAVAILABLE": OverloadedError,
    "timeout_error": GatewayTimeoutError,
    "DEADLINE_EXCEEDED": GatewayTimeoutError,
    # Vertex refusing *our* token or project is our configuration problem, not the caller's:
    # never a 401/403 to the client.
    "authentication_error": CredentialsError,
    "UNAUTHENTICATED": CredentialsError,
    "permission_error": CredentialsError,
    "PERMISSION_DENIED": CredentialsError,
    "api_error": UpstreamError,
    "INTERNAL": UpstreamError,
}

_BY_STATUS: dict[int, type[APIError]] = {
    400: InvalidRequestError,
    401: CredentialsError,
    403: CredentialsError,
    404: ModelNotFoundError,
    408: GatewayTimeoutError,
    413: RequestTooLargeError,
    429: RateLimitError,
    503: OverloadedError,
    504: GatewayTimeoutError,
    529: OverloadedError,
}

_PROMPT_TOO_LONG = ("prompt is too long", "too many tokens", "context length", "context window",
                    "exceeds the maximum")

_CREDENTIALS_HINT = (
    " Vertex AI refused vertexchat's credentials: give the runtime service account roles/aiplatform.user "
    "and enable the model in Model Garden (locally: gcloud auth application-default login)."
)


def classify_upstream(status: int | None, error_type: str | None, message: str,
                      retry_after: float | None = None) -> APIError:
    """Map an upstream error (HTTP status and/or body type) to the error the client sees."""
    cls = _BY_TYPE.get(error_type or "") or _BY_STATUS.get(status or 0)
    if cls is None:
        cls = UpstreamError if status is None or status >= 500 else InvalidRequestError
    if cls is InvalidRequestError and any(p in message.lower() for p in _PROMPT_TOO_LONG):
        cls = ContextLengthExceededError
    text = f"Vertex AI: {message}" if message else "Vertex AI returned an error."
    if cls is CredentialsError:
        text += _CREDENTIALS_HINT
    advertised = retry_after
    if cls in (RateLimitError, OverloadedError) and advertised is None:
        advertised = 1.0 if cls is OverloadedError else 5.0
    return cls(text, param="model" if cls is ModelNotFoundError else None,
               retry_after=advertised if cls in (RateLimitError, OverloadedError) else None,
               upstream_retry_after=retry_after)


def upstream_error(status: int, body: object, headers: Mapping[str, str] | None = None) -> APIError:
    """:func:`classify_upstream` for a raw upstream answer: its status, parsed body and headers.

    The one reader of upstream error bodies, for every caller of Vertex (the SDK path, the
    model listing, the health probe).
    """
    error_type, message = error_fields(body)
    return classify_upstream(status, error_type, message, retry_after(headers or {}))


def error_fields(body: object) -> tuple[str | None, str]:
    """(type, message) from a Claude-shaped, Vertex-shaped or list-wrapped error body."""
    if isinstance(body, list) and body:
        body = body[0]
    if not isinstance(body, dict):
        return None, str(body or "")[:500]
    error = body.get("error")
    if not isinstance(error, dict):
        return None, ""
    error_type = error.get("type") or error.get("status")
    message = error.get("message")
    return (str(error_type) if error_type else None), (str(message) if message else "")


def retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait, from ``retry-after-ms`` or ``retry-after`` (seconds only)."""
    for name, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(name)
        if value:
            try:
                return max(0.0, float(value) / scale)
            except ValueError:
                continue
    return None
