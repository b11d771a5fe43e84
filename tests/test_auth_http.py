"""Bearer authentication over HTTP: the real function (AUTH_MODE=oidc) against a local identity provider.

Every refused token answers 401 with ``WWW-Authenticate: Bearer error="invalid_token"`` and an
OpenAI ``authentication_error`` body, costs no upstream call, and never appears in the response
or in the function's log. An unreachable key set is the provider's outage: 503, not 401.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path

import jwt
import openai
import pytest
import requests

from local import procs
from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer
from tests.jwks import AUDIENCE, ISSUER, IdentityProvider, SigningKey

HELLO = {"model": "claude-sonnet-4-5@20250929", "messages": [{"role": "user", "content": "Hello"}]}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def tampered(idp: IdentityProvider) -> str:
    header, payload, signature = idp.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    return f"{header}.{b64(json.dumps({**claims, 'sub': 'user-mallory'}).encode())}.{signature}"


def unsigned(idp: IdentityProvider) -> str:
    now = int(time.time())
    return jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "user-mallory", "iat": now, "exp": now + 600},
                      None, algorithm="none", headers={"kid": idp.keys[0].kid})


def hmac_with_public_key(idp: IdentityProvider) -> str:
    now = int(time.time())
    header = {"alg": "HS256", "typ": "JWT", "kid": idp.keys[0].kid}
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "user-mallory", "iat": now, "exp": now + 600}
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(idp.keys[0].public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


# name -> the Authorization header value it sends (None: no header at all)
BAD_CREDENTIALS: dict[str, Callable[[IdentityProvider], str | None]] = {
    "expired": lambda idp: f"Bearer {idp.token(exp=int(time.time()) - 300)}",
    "not yet valid": lambda idp: f"Bearer {idp.token(nbf=int(time.time()) + 600)}",
    "issued in the future": lambda idp: f"Bearer {idp.token(iat=int(time.time()) + 600)}",
    "wrong issuer": lambda idp: f"Bearer {idp.token(iss='https://evil.example')}",
    "wrong audience": lambda idp: f"Bearer {idp.token(aud='someone-else')}",
    "no subject": lambda idp: f"Bearer {idp.token(sub='')}",
    "tampered signature": lambda idp: f"Bearer {tampered(idp)}",
    "alg none": lambda idp: f"Bearer {unsigned(idp)}",
    "HS256 with the public key": lambda idp: f"Bearer {hmac_with_public_key(idp)}",
    "unknown key": lambda idp: f"Bearer {idp.token(key=SigningKey())}",
    "garbage": lambda idp: "Bearer not.a.jwt",
    "basic scheme": lambda idp: "Basic dXNlcjpwYXNz",
    "missing header": lambda idp: None,
}


def assert_refused(response: requests.Response, secret: str | None) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("authentication_error", "invalid_token")
    assert error["message"]
    if secret:
        assert secret not in response.text
        assert all(secret not in value for value in response.headers.values())


def secret_of(authorization: str | None) -> str | None:
    """The part of a header that must never leak: the token (its signature is the secret bit)."""
    return authorization.split(" ", 1)[1] if authorization and " " in authorization else authorization


def test_a_valid_token_works_with_the_openai_sdk(secured_api: FunctionServer, identity_provider: IdentityProvider,
                                                 sim: VertexSimulator) -> None:
    token = identity_provider.token("user-alice")
    sim.script({"text": "Hi Alice"})
    client = openai.OpenAI(base_url=f"{secured_api.url}/v1", api_key=token, max_retries=0, timeout=30)

    completion = client.chat.completions.with_raw_response.create(**HELLO)  # type: ignore[call-overload]

    assert completion.parse().choices[0].message.content == "Hi Alice"
    logged = secured_api.request_log(completion.headers["X-Request-Id"])
    assert logged["status"] == 200
    assert logged["user"] not in (None, "", "user-alice")  # a hash, never the subject itself
    assert token not in secured_api.proc.output()
    assert token.split(".")[2] not in secured_api.proc.output()


@pytest.mark.parametrize("case", list(BAD_CREDENTIALS))
def test_bad_credentials_are_refused_on_every_protected_route(
        case: str, secured_api: FunctionServer, identity_provider: IdentityProvider, sim: VertexSimulator) -> None:
    authorization = BAD_CREDENTIALS[case](identity_provider)
    headers = {"Authorization": authorization} if authorization is not None else {}
    session = "6f1c0e4e-2a8b-4c55-9a57-0d7c2f2b1e3a"
    calls = [
        ("POST", "/v1/chat/completions", HELLO), ("GET", "/v1/models", None), ("GET", "/v1/models/x", None),
        ("GET", "/v1/sessions", None), ("POST", "/v1/sessions", {}), ("GET", f"/v1/sessions/{session}", None),
        ("PATCH", f"/v1/sessions/{session}", {"title": "x"}), ("DELETE", f"/v1/sessions/{session}", None),
        ("GET", f"/v1/sessions/{session}/messages", None), ("GET", "/atoms/chat/sessions", None),
        ("GET", f"/atoms/chat/sessions/{session}", None),
    ]
    for method, path, body in calls:
        response = requests.request(method, f"{secured_api.url}{path}", json=body, headers=headers, timeout=30)
        assert_refused(response, secret_of(authorization))

    # Refused before anything else ran: no Vertex call, and the secret is in no log line.
    assert sim.requests() == []
    secret = secret_of(authorization)
    if secret:
        assert secret not in secured_api.proc.output()


def test_a_rotated_key_is_accepted_after_one_refetch(start_function: Callable[..., FunctionServer],
                                                     sim: VertexSimulator) -> None:
    idp = IdentityProvider()
    try:
        server = start_function(**idp.env())
        first = requests.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {idp.token()}"},
                             timeout=30)
        fetches = idp.fetches
        rotated = idp.rotate()
        second = requests.get(f"{server.url}/v1/models",
                              headers={"Authorization": f"Bearer {idp.token(key=rotated)}"}, timeout=30)
        stranger = requests.get(f"{server.url}/v1/models",
                                headers={"Authorization": f"Bearer {idp.token(key=SigningKey())}"}, timeout=30)
    finally:
        idp.stop()

    assert first.status_code == 200
    assert second.status_code == 200, second.text
    assert idp.fetches == fetches + 1
    # A key nobody published: refused, and within the cooldown it costs the provider nothing.
    assert_refused(stranger, None)
    assert idp.fetches == fetches + 1


def test_an_unreachable_key_set_is_a_503_not_a_401(start_function: Callable[..., FunctionServer],
                                                   sim: VertexSimulator) -> None:
    idp = IdentityProvider()
    try:
        server = start_function(**idp.env())
        idp.down = True
        response = requests.post(f"{server.url}/v1/chat/completions", json=HELLO,
                                 headers={"Authorization": f"Bearer {idp.token()}"}, timeout=30)
    finally:
        idp.stop()

    assert response.status_code == 503, response.text
    assert "WWW-Authenticate" not in response.headers
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "jwks_unavailable"
    assert sim.requests() == []


@pytest.mark.parametrize("path", ["/health", "/health?deep=0", "/v1", "/openapi.json"])
def test_public_routes_need_no_token(secured_api: FunctionServer, path: str) -> None:
    assert requests.get(f"{secured_api.url}{path}", timeout=60).status_code == 200
    assert requests.head(f"{secured_api.url}/health", timeout=60).status_code == 200


def test_a_preflight_needs_no_token(secured_api: FunctionServer) -> None:
    response = requests.options(f"{secured_api.url}/v1/chat/completions", timeout=10, headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type"})

    assert response.status_code == 204
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"


@pytest.mark.parametrize(("env", "named"), [
    ({"AUTH_MODE": "none"}, "AUTH_MODE=none"),
    ({"AUTH_MODE": ""}, "AUTH_MODE must be set"),
    ({"AUTH_MODE": "oidc", "AUTH_ISSUER": ISSUER}, "AUTH_AUDIENCE"),
    # Tokens without aud only with the client id that then ties them to this application.
    ({"AUTH_MODE": "oidc", "AUTH_ISSUER": ISSUER, "AUTH_JWKS_URL": "https://issuer.test/jwks",
      "AUTH_ALLOW_NO_AUDIENCE": "true"}, "AUTH_CLIENT_ID"),
])
def test_a_deployed_function_refuses_to_start_open(function_env: dict[str, str], tmp_path: Path,
                                                   env: dict[str, str], named: str) -> None:
    deployed = {k: v for k, v in function_env.items() if k not in ("VERTEXCHAT_SIMULATOR", "FIRESTORE_EMULATOR_HOST")}
    with pytest.raises(procs.StartError, match=named):
        procs.start_function("api", port=procs.free_port(), env={**deployed, "K_SERVICE": "vertexchat-api", **env},
                             log_path=tmp_path / "function.log")


def workos_like(idp: IdentityProvider, **claims: object) -> str:
    """An access token shaped like WorkOS AuthKit's: no `aud`, a session and an organization."""
    return idp.token("user_01HBEQKA6K4QJAS93VPE39W1JT", aud=None, sid="session_01HQSXZGF8FHF7A9ZZFCW4387R",
                     org_id="org_01HRDMC6CM357W30QMHMQ96Q0S", role="member", **claims)


def test_a_token_without_aud_works_only_where_configured(start_function: Callable[..., FunctionServer],
                                                         sim: VertexSimulator) -> None:
    idp = IdentityProvider()
    try:
        no_aud = {**idp.env(), "AUTH_AUDIENCE": "", "AUTH_ALLOW_NO_AUDIENCE": "true", "AUTH_CLIENT_ID": "client_01"}
        accepting = start_function(**no_aud)
        strict = start_function(**idp.env())
        other_issuer = start_function(**{**no_aud, "AUTH_ISSUER": "https://another.issuer.example"})
        token = workos_like(idp)
        sim.script({"text": "Hi from WorkOS"})

        client = openai.OpenAI(base_url=f"{accepting.url}/v1", api_key=token, max_retries=0, timeout=30)
        reply = client.chat.completions.create(**HELLO)  # type: ignore[call-overload]
        listed = requests.get(f"{accepting.url}/v1/models", headers={"Authorization": f"Bearer {token}"}, timeout=30)
        refused_off = requests.get(f"{strict.url}/v1/models", headers={"Authorization": f"Bearer {token}"},
                                   timeout=30)
        refused_iss = requests.get(f"{other_issuer.url}/v1/models", headers={"Authorization": f"Bearer {token}"},
                                   timeout=30)
        foreign_aud = requests.get(f"{accepting.url}/v1/models", timeout=30, headers={
            "Authorization": f"Bearer {idp.token(aud='someone-else')}"})
        foreign_client = requests.get(f"{accepting.url}/v1/models", timeout=30, headers={
            "Authorization": f"Bearer {workos_like(idp, client_id='client_someone_else')}"})
    finally:
        idp.stop()

    assert reply.choices[0].message.content == "Hi from WorkOS"
    assert listed.status_code == 200
    for refused, reason in ((refused_off, "required claim"), (refused_iss, "wrong issuer"),
                            (foreign_aud, "wrong audience"), (foreign_client, "another client")):
        assert_refused(refused, token)
        assert reason in refused.json()["error"]["message"]
