"""The OpenAPI document: every route of route_table.ROUTES in it, valid OpenAPI 3.1, served without a token."""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
import requests
import schemathesis

from tests.harness import FunctionServer
from tests.jwks import IdentityProvider
from vertexchat import openapi
from vertexchat.route_table import FUNCTIONS, ROUTES, Route

DOC = openapi.document()
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def operations() -> list[tuple[str, str, dict[str, object]]]:
    return [(path, method, op) for path, item in DOC["paths"].items() for method, op in item.items()
            if method in METHODS]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.name)
def test_every_route_and_method_is_documented(route: Route) -> None:
    path, names = openapi.path_template(route.pattern)
    item = DOC["paths"][path]

    assert re.fullmatch(route.pattern, re.sub(r"\{\w+\}", "x", path))
    assert [p["name"] for p in item.get("parameters", [])] == names
    for method in (*route.methods, "OPTIONS"):
        operation = item[method.lower()]
        assert operation["x-vertexchat-route"] == route.name
        assert set(operation["x-vertexchat-functions"]) == set(route.functions)


def test_nothing_is_documented_that_is_not_routed() -> None:
    routed = {(openapi.path_template(r.pattern)[0], m.lower()) for r in ROUTES for m in (*r.methods, "OPTIONS")}
    assert {(path, method) for path, method, _ in operations()} == routed


def test_the_document_is_valid_openapi_3_1() -> None:
    assert DOC["openapi"].startswith("3.1")
    schemathesis.openapi.from_dict(DOC).validate()
    ids = [op["operationId"] for _, _, op in operations()]
    assert len(ids) == len(set(ids))


def test_security_and_errors_are_documented_everywhere() -> None:
    public = {r.name for r in ROUTES if r.public}
    anthropic = {r.name for r in ROUTES if r.errors == "anthropic"}
    bearer = DOC["components"]["securitySchemes"]["bearer"]
    assert (bearer["type"], bearer["scheme"]) == ("http", "bearer")
    assert DOC["components"]["securitySchemes"]["apiKey"]["name"] == "x-api-key"
    for path, method, op in operations():
        responses: dict[str, dict[str, str]] = op["responses"]  # type: ignore[assignment]
        # The Anthropic routes answer Anthropic's error bodies (A<status>; 529 for unavailable) and take x-api-key.
        prefix, unavailable = ("A", "529") if op["x-vertexchat-route"] in anthropic else ("E", "503")
        if method == "options" or op["x-vertexchat-route"] in public:
            assert op["security"] == [], (path, method)
        else:
            if prefix == "A":
                assert op["security"] == [{"bearer": []}, {"apiKey": []}]
            else:
                assert "security" not in op  # the document's default: bearer
            assert responses["401"] == {"$ref": f"#/components/responses/{prefix}401"}
            assert unavailable in responses
        assert "500" in responses
        for status, response in responses.items():
            if status.startswith(("4", "5")) and path != "/health" and method != "options":
                assert response == {"$ref": f"#/components/responses/{prefix}{status}"}, (path, method, status)
    assert "WWW-Authenticate" in DOC["components"]["responses"]["E401"]["headers"]
    assert "Retry-After" in DOC["components"]["responses"]["E429"]["headers"]
    assert "Retry-After" in DOC["components"]["responses"]["E503"]["headers"]
    assert "Retry-After" in DOC["components"]["responses"]["A529"]["headers"]
    error = DOC["components"]["schemas"]["AnthropicError"]
    assert error["properties"]["type"] == {"const": "error"}


def test_the_messages_operation_documents_json_and_the_event_stream() -> None:
    ok = DOC["paths"]["/v1/messages"]["post"]["responses"]["200"]["content"]
    assert set(ok) == {"application/json", "text/event-stream"}


def test_the_chat_operation_documents_json_and_the_event_stream() -> None:
    ok = DOC["paths"]["/v1/chat/completions"]["post"]["responses"]["200"]["content"]
    assert set(ok) == {"application/json", "text/event-stream"}


@pytest.mark.parametrize("function", FUNCTIONS)
def test_every_function_serves_the_document_without_a_token(start_function: Callable[..., FunctionServer],
                                                            identity_provider: IdentityProvider,
                                                            function: str) -> None:
    server = start_function(function, **identity_provider.env(), CORS_ALLOWED_ORIGINS="https://app.example.com")

    response = requests.get(f"{server.url}/openapi.json", headers={"Origin": "https://app.example.com"}, timeout=30)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/json")
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert response.json() == json.loads(json.dumps(DOC))


def test_the_index_lists_the_document(api: FunctionServer) -> None:
    routes = requests.get(f"{api.url}/v1", timeout=10).json()["routes"]
    assert {"path": r"/openapi\.json", "methods": ["GET"]} in routes
