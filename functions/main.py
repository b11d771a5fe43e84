"""Cloud Functions entry points. Each hands its Flask request to the shared router.

Deploy one function per entry point (``--entry-point chat_completions`` ...), or ``api``
alone for local emulation and single-service deploys.

Tested in tests/test_functions.py.
"""

from __future__ import annotations

import flask
import functions_framework
import werkzeug.exceptions

from vertexchat import body_guard, lifecycle, routing
from vertexchat.route_table import FUNCTIONS
from vertexchat.services import services

# Load and validate the configuration now: a bad setting fails the deployment at start-up.
services()
# SIGTERM ends streams in flight cleanly instead of cutting them at the kill.
lifecycle.install()

# functions-framework loads this module inside its Flask app's context. It reads every request
# body before answering; the guard keeps an unread body from holding an early answer.
if flask.has_app_context():
    _app = flask.current_app._get_current_object()  # type: ignore[attr-defined]  # the app, not the proxy
    _app.wsgi_app = body_guard.BodyGuard(_app.wsgi_app)


@functions_framework.http
def chat_completions(request: flask.Request) -> flask.Response:
    """POST /v1/chat/completions (and POST /)."""
    return routing.serve("chat_completions", request)


@functions_framework.http
def responses(request: flask.Request) -> flask.Response:
    """POST /v1/responses, GET|DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items (and POST /)."""
    return routing.serve("responses", request)


@functions_framework.http
def models(request: flask.Request) -> flask.Response:
    """GET /v1/models and GET /v1/models/{id} (and GET /)."""
    return routing.serve("models", request)


@functions_framework.http
def sessions(request: flask.Request) -> flask.Response:
    """/v1/sessions... and the old frontend's /atoms/chat/sessions... (GET / lists, POST / creates)."""
    return routing.serve("sessions", request)


@functions_framework.http
def health(request: flask.Request) -> flask.Response:
    """GET|HEAD /health (and /)."""
    return routing.serve("health", request)


@functions_framework.http
def messages(request: flask.Request) -> flask.Response:
    """POST /v1/messages and /v1/messages/count_tokens: the Anthropic Messages API (and POST /)."""
    return routing.serve("messages", request)


@functions_framework.http
def api(request: flask.Request) -> flask.Response:
    """Every route in one function."""
    return routing.serve("api", request)


def unrouted(error: werkzeug.exceptions.HTTPException) -> flask.Response:
    """What functions-framework's own URL map refuses (a path holding a newline, ``//`` that it
    would redirect) goes to our router too, for an OpenAI-shaped answer instead of Flask's HTML."""
    # functions-framework names its Flask app after the target function.
    function = flask.current_app.name
    return routing.serve(function if function in FUNCTIONS else "api", flask.request)


# functions-framework's documented hook for error handlers (a no-op outside its server).
functions_framework.errorhandler(werkzeug.exceptions.HTTPException)(unrouted)
