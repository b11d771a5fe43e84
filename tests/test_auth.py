"""Bearer JWT verification with real tokens, a real JWKS endpoint and PyJWT underneath."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator

import jwt
import pytest

from tests.jwks import AUDIENCE, ISSUER, IdentityProvider, SigningKey
from vertexchat.auth import TokenVerifier
from vertexchat.errors import AuthenticationError, ServiceUnavailableError


@pytest.fixture
def idp() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    yield provider
    provider.stop()


@pytest.fixture
def verifier(idp: IdentityProvider) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience=AUDIENCE, jwks_url=idp.jwks_url)


def bearer(token: str) -> str:
    return f"Bearer {token}"


def test_valid_token_gives_the_subject(idp: IdentityProvider, verifier: TokenVerifier) -> None:
    assert verifier.verify(bearer(idp.token("user-42"))).subject == "user-42"


@pytest.mark.parametrize(("claims", "reason"), [
    ({"exp": int(time.time()) - 120}, "expired"),
    ({"nbf": int(time.time()) + 600}, "not valid yet"),
    ({"iat": int(time.time()) + 600}, "not valid yet"),
    ({"iss": "https://evil.example"}, "wrong issuer"),
    ({"aud": "someone-else"}, "wrong audience"),
    ({"sub": ""}, "subject"),
    ({"exp": None}, "required claim"),
])
def test_bad_claims_are_refused_with_a_reason(idp: IdentityProvider, verifier: TokenVerifier,
                                              claims: dict[str, object], reason: str) -> None:
    token = idp.token(**claims)  # type: ignore[arg-type]
    with pytest.raises(AuthenticationError, match=reason) as caught:
        verifier.verify(bearer(token))
    assert token not in caught.value.message


def test_clock_skew_within_sixty_seconds_is_tolerated(idp: IdentityProvider, verifier: TokenVerifier) -> None:
    assert verifier.verify(bearer(idp.token(exp=int(time.time()) - 30))).subject == "user-alice"


def test_tampered_signature(idp: IdentityProvider, verifier: TokenVerifier) -> None:
    header, payload, signature = idp.token().split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["sub"] = "user-mallory"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    with pytest.raises(AuthenticationError, match="signature"):
        verifier.verify(bearer(f"{header}.{forged}.{signature}"))


def test_alg_none_is_refused(idp: IdentityProvider, verifier: TokenVerifier) -> None:
    token = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "iat": int(time.time()),
                        "exp": int(time.time()) + 60}, None, algorithm="none",
                       headers={"kid": idp.keys[0].kid})
    with pytest.raises(AuthenticationError, match="algorithm"):
        verifier.verify(bearer(token))


def test_hs256_signed_with_the_public_key_is_refused(idp: IdentityProvider, verifier: TokenVerifier) -> None:
    # The classic confusion: use the published public key as an HMAC secret.
    now = int(time.time())
    payload = {"iss": ISSUER, "aud": AUDIENCE, "sub": "x", "iat": now, "exp": now + 60}
    header = {"alg": "HS256", "typ": "JWT", "kid": idp.keys[0].kid}

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415
    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(payload).encode())}"
    mac = hmac.new(idp.keys[0].public_pem, signing_input.encode(), hashlib.sha256).digest()
    with pytest.raises(AuthenticationError, match="algorithm"):
        verifier.verify(bearer(f"{signing_input}.{b64(mac)}"))


def test_unknown_kid_refetches_once_then_accepts_a_rotated_key(idp: IdentityProvider,
                                                               verifier: TokenVerifier) -> None:
    verifier.verify(bearer(idp.token()))
    fetches = idp.fetches
    rotated = idp.rotate()

    assert verifier.verify(bearer(idp.token("user-rotated", key=rotated))).subject == "user-rotated"
    assert idp.fetches == fetches + 1

    # A key nobody published: refused, and within the cooldown it costs no further fetch.
    stranger = SigningKey()
    for _ in range(5):
        with pytest.raises(AuthenticationError, match="unknown key"):
            verifier.verify(bearer(idp.token(key=stranger)))
    assert idp.fetches == fetches + 1


@pytest.mark.parametrize("header", [None, "", "Basic abc", "Bearer", "Bearer   "])
def test_missing_or_malformed_header(verifier: TokenVerifier, header: str | None) -> None:
    with pytest.raises(AuthenticationError):
        verifier.verify(header)


def test_garbage_token(verifier: TokenVerifier) -> None:
    with pytest.raises(AuthenticationError, match="malformed"):
        verifier.verify("Bearer not.a.jwt")


def test_jwks_down_is_503_not_401(idp: IdentityProvider, verifier: TokenVerifier) -> None:
    idp.down = True
    with pytest.raises(ServiceUnavailableError):
        verifier.verify(bearer(idp.token()))


# Issuers whose tokens carry no `aud` (WorkOS AuthKit's access tokens): the explicit opt-in.
CLIENT_ID = "client_01HXYZ"


@pytest.fixture
def no_aud_verifier(idp: IdentityProvider) -> TokenVerifier:
    return TokenVerifier(issuer=ISSUER, audience="", jwks_url=idp.jwks_url, allow_no_audience=True,
                         client_id=CLIENT_ID)


def test_a_token_without_aud_is_accepted_only_where_that_is_configured(
        idp: IdentityProvider, verifier: TokenVerifier, no_aud_verifier: TokenVerifier) -> None:
    token = bearer(idp.token("user_01HBEQ", aud=None, sid="session_01HQ", org_id="org_01HR"))

    assert no_aud_verifier.verify(token).subject == "user_01HBEQ"
    with pytest.raises(AuthenticationError, match="required claim"):
        verifier.verify(token)  # the setting off: aud is required


def test_without_aud_the_issuer_is_still_pinned(idp: IdentityProvider, no_aud_verifier: TokenVerifier) -> None:
    with pytest.raises(AuthenticationError, match="wrong issuer"):
        no_aud_verifier.verify(bearer(idp.token(aud=None, iss="https://api.workos.example/other")))
    with pytest.raises(AuthenticationError, match="required claim"):
        no_aud_verifier.verify(bearer(idp.token(aud=None, iss=None)))


@pytest.mark.parametrize("audience", ["", AUDIENCE])
def test_an_aud_the_deployment_does_not_expect_is_never_waved_through(idp: IdentityProvider, audience: str) -> None:
    verifier = TokenVerifier(issuer=ISSUER, audience=audience, jwks_url=idp.jwks_url, allow_no_audience=True,
                             client_id=CLIENT_ID)
    with pytest.raises(AuthenticationError, match="wrong audience"):
        verifier.verify(bearer(idp.token(aud="someone-else")))
    if audience:
        assert verifier.verify(bearer(idp.token("user-aud", aud=audience))).subject == "user-aud"


@pytest.mark.parametrize("claim", ["client_id", "azp"])
def test_a_client_id_claim_must_name_our_client(idp: IdentityProvider, no_aud_verifier: TokenVerifier,
                                                claim: str) -> None:
    ours = idp.token("user-ours", aud=None, **{claim: CLIENT_ID})
    theirs = idp.token("user-theirs", aud=None, **{claim: "client_someone_else"})

    assert no_aud_verifier.verify(bearer(ours)).subject == "user-ours"
    with pytest.raises(AuthenticationError, match="another client"):
        no_aud_verifier.verify(bearer(theirs))
