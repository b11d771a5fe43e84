"""PURE: the route table: every HTTP route, its methods, its target and the functions that serve it.

A function's root path ``/`` is its primary route (``ROOT_ROUTE``), so a bare function URL
and a front door that keeps the path both work. Targets are ``"module:function"`` strings,
imported on first use by ``routing``, which keeps each function's cold start to what it
needs (the chat route alone loads the anthropic SDK).

Tested in tests/test_functions.py. Tested in tests/test_openapi.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Route:
    """One HTTP route: a full-match path pattern, its methods, its target and its functions."""

    name: str
    pattern: str
    methods: tuple[str, ...]
    target: str  # "module:function", imported on first use
    functions: frozenset[str]
    # Public routes answer without a bearer token (health for the scheduler, the API description).
    public: bool = False
    # The shape of its error bodies: the API's own (see ``errors.ERROR_DIALECTS``).
    errors: str = "openai"
    # The token may also come as ``x-api-key`` (the Anthropic clients' header), not only as a bearer token.
    x_api_key: bool = False

    def match(self, path: str) -> dict[str, str] | None:
        found = re.fullmatch(self.pattern, path)
        return found.groupdict() if found else None


def _route(name: str, pattern: str, methods: tuple[str, ...], target: str, *functions: str,
           public: bool = False, errors: str = "openai") -> Route:
    # Anthropic's API takes its key as x-api-key (Claude Code's ANTHROPIC_API_KEY, apiKeyHelper).
    return Route(name, pattern, methods, target, frozenset((*functions, "api")), public, errors,
                 x_api_key=errors == "anthropic")


ROUTES: tuple[Route, ...] = (
    _route("chat.completions", r"/v1/chat/completions", ("POST",), "vertexchat.openai_chat.route:create_completion",
           "chat_completions"),
    # The Anthropic Messages API, passed through to Claude on Vertex. Claude Code adds ?beta=true (the
    # query string is not part of the path matched here).
    _route("messages", r"/v1/messages", ("POST",), "vertexchat.anthropic_messages.route:create_message", "messages",
           errors="anthropic"),
    _route("messages.count_tokens", r"/v1/messages/count_tokens", ("POST",),
           "vertexchat.anthropic_messages.route:count_tokens", "messages", errors="anthropic"),
    _route("responses.create", r"/v1/responses", ("POST",), "vertexchat.openai_responses.route:create_response",
           "responses"),
    _route("responses.item", r"/v1/responses/(?P<response_id>[^/]+)", ("GET", "DELETE"),
           "vertexchat.openai_responses.route:response_item", "responses"),
    _route("responses.input_items", r"/v1/responses/(?P<response_id>[^/]+)/input_items", ("GET",),
           "vertexchat.openai_responses.route:list_input_items", "responses"),
    _route("models.list", r"/v1/models", ("GET",), "vertexchat.model_list:list_models", "models"),
    # Model ids contain "@" and "."; Flask hands over the path already percent-decoded.
    _route("models.get", r"/v1/models/(?P<model_id>[^/]+)", ("GET",), "vertexchat.model_list:get_model", "models"),
    _route("sessions.collection", r"/v1/sessions", ("GET", "POST"), "vertexchat.sessions.routes:collection",
           "sessions"),
    _route("sessions.item", r"/v1/sessions/(?P<session_id>[^/]+)", ("GET", "PATCH", "DELETE"),
           "vertexchat.sessions.routes:item", "sessions"),
    _route("sessions.messages", r"/v1/sessions/(?P<session_id>[^/]+)/messages", ("GET",),
           "vertexchat.sessions.routes:messages", "sessions"),
    # The old frontend's routes, answered in its shapes; they also accept its legacy ids.
    _route("compat.sessions", r"/atoms/chat/sessions", ("GET",), "vertexchat.sessions.routes:compat_list",
           "sessions"),
    _route("compat.session", r"/atoms/chat/sessions/(?P<session_id>[^/]+)", ("GET",),
           "vertexchat.sessions.routes:compat_get", "sessions"),
    _route("health", r"/health", ("GET", "HEAD"), "vertexchat.health:check", "health", public=True),
    _route("index", r"/v1", ("GET",), "vertexchat.routing:index", public=True),
    # Every function describes the whole API (the front door sends this path to `models`).
    _route("openapi", r"/openapi\.json", ("GET",), "vertexchat.openapi:serve", "chat_completions", "models",
           "sessions", "health", "messages", "responses", public=True),
)

# The route a function's root path "/" stands for.
ROOT_ROUTE = {"chat_completions": "chat.completions", "responses": "responses.create", "models": "models.list",
              "sessions": "sessions.collection", "health": "health", "messages": "messages", "api": "index"}
FUNCTIONS = tuple(ROOT_ROUTE)
