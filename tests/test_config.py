"""Configuration: one frozen object, validated once, with a clear error naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from vertexchat import config


def test_defaults() -> None:
    settings = config.load({})
    assert settings.region == "global"
    assert settings.vertex_endpoint == "https://aiplatform.googleapis.com"
    assert settings.project_id is None
    assert settings.port == 3284
    assert settings.simulator is False


@pytest.mark.parametrize(("region", "endpoint"), [
    ("global", "https://aiplatform.googleapis.com"),
    ("us", "https://aiplatform.us.rep.googleapis.com"),
    ("eu", "https://aiplatform.eu.rep.googleapis.com"),
    ("us-east5", "https://us-east5-aiplatform.googleapis.com"),
    ("europe-west1", "https://europe-west1-aiplatform.googleapis.com"),
])
def test_endpoint_derived_from_region(region: str, endpoint: str) -> None:
    assert config.load({"CLOUD_ML_REGION": region}).vertex_endpoint == endpoint


def test_never_builds_the_nonexistent_global_host() -> None:
    assert "global-aiplatform" not in config.load({"CLOUD_ML_REGION": "global"}).vertex_endpoint


def test_explicit_endpoint_wins_and_is_normalised() -> None:
    settings = config.load({"CLOUD_ML_REGION": "us-east5", "VERTEX_ENDPOINT": "http://127.0.0.1:9999/"})
    assert settings.vertex_endpoint == "http://127.0.0.1:9999"


def test_project_precedence() -> None:
    assert config.load({"GOOGLE_CLOUD_PROJECT": "b"}).project_id == "b"
    assert config.load({"ANTHROPIC_VERTEX_PROJECT_ID": "a", "GOOGLE_CLOUD_PROJECT": "b"}).project_id == "a"


@pytest.mark.parametrize(("name", "value"), [
    ("VERTEX_ENDPOINT", "https://aiplatform.googleapis.com/v1"),
    ("VERTEX_ENDPOINT", "aiplatform.googleapis.com"),
    ("CLOUD_ML_REGION", "US East"),
    ("DEFAULT_MAX_TOKENS", "0"),
    ("DEFAULT_MAX_TOKENS", "many"),
    ("STREAM_HEARTBEAT_SECONDS", "-1"),
    ("VERTEXCHAT_SIMULATOR", "maybe"),
    ("LOG_LEVEL", "LOUD"),
    ("PORT", "70000"),
])
def test_bad_values_name_the_variable(name: str, value: str) -> None:
    with pytest.raises(config.ConfigError, match=name):
        config.load({name: value})


def test_simulator_refused_when_deployed() -> None:
    with pytest.raises(config.ConfigError, match="K_SERVICE"):
        config.load({"VERTEXCHAT_SIMULATOR": "true", "K_SERVICE": "chat"})


def test_settings_are_frozen() -> None:
    settings = config.load({})
    with pytest.raises(AttributeError):
        settings.region = "us"  # type: ignore[misc]


def test_every_documented_variable_is_in_the_readme() -> None:
    readme = Path(config.__file__).resolve().parents[2] / "README.md"
    text = readme.read_text(encoding="utf-8")
    missing = [name for name in config.ENV_VARS if f"`{name}`" not in text]
    assert not missing, f"README configuration table lacks {missing}"


OIDC = {"AUTH_MODE": "oidc", "AUTH_ISSUER": "https://api.workos.com", "AUTH_JWKS_URL": "https://api.workos.com/sso/jwks/c"}


def test_oidc_without_aud_is_an_explicit_setting_that_needs_the_client_id() -> None:
    settings = config.load({**OIDC, "AUTH_ALLOW_NO_AUDIENCE": "true", "AUTH_CLIENT_ID": "client_01"})
    assert (settings.auth_allow_no_audience, settings.auth_client_id, settings.auth_audience) == (
        True, "client_01", "")
    assert config.load({**OIDC, "AUTH_AUDIENCE": "api"}).auth_allow_no_audience is False
    with pytest.raises(config.ConfigError, match="needs AUTH_CLIENT_ID"):
        config.load({**OIDC, "AUTH_ALLOW_NO_AUDIENCE": "true"})
    with pytest.raises(config.ConfigError, match=r"needs AUTH_AUDIENCE \(or.*AUTH_ALLOW_NO_AUDIENCE=true"):
        config.load(OIDC)
    with pytest.raises(config.ConfigError, match="AUTH_ALLOW_NO_AUDIENCE"):
        config.load({**OIDC, "AUTH_AUDIENCE": "api", "AUTH_ALLOW_NO_AUDIENCE": "sometimes"})
    with pytest.raises(config.ConfigError, match="AUTH_MODE=oidc"):
        config.load({"AUTH_MODE": "firebase", "GOOGLE_CLOUD_PROJECT": "p", "AUTH_ALLOW_NO_AUDIENCE": "true"})
