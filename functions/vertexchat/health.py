"""``GET|HEAD /health``: the report Cloud Scheduler pings.

Shallow for now: it proves the function starts and its configuration loads. It must stay
fast and must never import the anthropic SDK.
"""

from __future__ import annotations

import flask

from vertexchat import __version__, web
from vertexchat.handlers import Services


def check(call: web.Call, svc: Services, params: dict[str, str]) -> flask.Response:
    """Answer the health probe; HEAD gets the same status without a body."""
    body = {"status": "ok", "version": __version__, "checks": {}}
    if call.request.method == "HEAD":
        return web.empty_response(call, 200)
    return web.json_response(body, call)
