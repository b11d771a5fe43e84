"""The fake metadata server, proven against unpatched google-auth running in a separate process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from local._http import CloudRunRefusal
from local.metadata_server import DEFAULT_EMAIL, MetadataServer

ROOT = Path(__file__).resolve().parent.parent
FLAVOR = {"Metadata-Flavor": "Google"}

# Runs in a fresh interpreter, because google-auth reads GCE_METADATA_HOST/IP when it is imported.
GOOGLE_AUTH_PROBE = """
import json, google.auth, google.auth.exceptions
from google.auth.transport.requests import Request
credentials, project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
result = {"type": type(credentials).__module__ + "." + type(credentials).__name__, "project": project}
try:
    credentials.refresh(Request())
    result.update(token=credentials.token, email=credentials.service_account_email)
except google.auth.exceptions.RefreshError as error:
    result["refresh_error"] = str(error)
print(json.dumps(result))
"""


@pytest.fixture
def metadata() -> Iterator[MetadataServer]:
    with MetadataServer() as server:
        yield server


def google_auth_in_subprocess(server: MetadataServer, tmp_path: Path) -> dict[str, Any]:
    """Run google.auth.default() + refresh() where only the fake metadata server can supply credentials."""
    leaks = {"GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT", "GCLOUD_PROJECT", "K_SERVICE"}
    env = {key: value for key, value in os.environ.items() if key not in leaks}
    env.update(server.environ, HOME=str(tmp_path), CLOUDSDK_CONFIG=str(tmp_path / "gcloud"))
    done = subprocess.run([sys.executable, "-c", GOOGLE_AUTH_PROBE], env=env, capture_output=True, text=True,
                          timeout=60, check=True)
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read().decode()


def post(url: str, payload: object) -> Any:
    request = urllib.request.Request(url, data=json.dumps(payload).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_google_auth_default_finds_compute_credentials_and_a_token_we_issued(
    metadata: MetadataServer, tmp_path: Path
) -> None:
    result = google_auth_in_subprocess(metadata, tmp_path)

    assert result["type"] == "google.auth.compute_engine.credentials.Credentials"
    assert result["project"] == "vertexchat-local"
    assert result["email"] == DEFAULT_EMAIL
    assert result["token"] in metadata.issued_tokens
    paths = [entry["path"] for entry in metadata.snapshot()["requests"]]
    assert "/computeMetadata/v1/instance/service-accounts/default/?recursive=true" in paths


def test_refresh_fails_when_the_token_endpoint_is_configured_to_fail(metadata: MetadataServer, tmp_path: Path) -> None:
    # 404 rather than 500: google-auth retries 5xx with seconds of backoff, which would only slow the test.
    post(f"{metadata.url}/_meta/config", {"token_status": 404})

    result = google_auth_in_subprocess(metadata, tmp_path)

    assert "refresh_error" in result
    assert metadata.issued_tokens == []
    assert metadata.snapshot()["token_requests"] == 1


def test_metadata_paths_require_the_flavor_header_and_every_response_carries_it(metadata: MetadataServer) -> None:
    status, headers, _ = get(f"{metadata.url}/computeMetadata/v1/project/project-id")
    assert (status, headers["Metadata-Flavor"]) == (403, "Google")

    status, headers, body = get(f"{metadata.url}/computeMetadata/v1/project/project-id", FLAVOR)
    assert (status, headers["Metadata-Flavor"], body) == (200, "Google", "vertexchat-local")

    status, headers, _ = get(f"{metadata.url}/")
    assert (status, headers["Metadata-Flavor"]) == (200, "Google")


def test_token_endpoint_mints_distinct_tokens_with_the_configured_lifetime(metadata: MetadataServer) -> None:
    metadata.configure(expires_in=120)
    url = f"{metadata.url}/computeMetadata/v1/instance/service-accounts/default/token?scopes=x"

    first = json.loads(get(url, FLAVOR)[2])
    second = json.loads(get(url, FLAVOR)[2])

    assert first["access_token"].startswith("fake-token-1-")
    assert second["access_token"].startswith("fake-token-2-")
    assert (first["expires_in"], first["token_type"]) == (120, "Bearer")
    assert metadata.issued_tokens == [first["access_token"], second["access_token"]]


def test_service_account_email_universe_domain_and_identity_token(metadata: MetadataServer) -> None:
    account = f"{metadata.url}/computeMetadata/v1/instance/service-accounts/default"

    assert get(f"{account}/email", FLAVOR)[2] == DEFAULT_EMAIL
    assert get(f"{metadata.url}/computeMetadata/v1/universe/universe-domain", FLAVOR)[2] == "googleapis.com"
    info = json.loads(get(f"{account}?recursive=true", FLAVOR)[2])
    assert info["aliases"] == ["default"]
    jwt = get(f"{account}/identity?audience=https://example.test&format=full", FLAVOR)[2]
    assert len(jwt.split(".")) == 3


def test_control_api_configures_reports_and_resets(metadata: MetadataServer) -> None:
    assert post(f"{metadata.url}/_meta/config", {"project_id": "other"})["project_id"] == "other"
    assert get(f"{metadata.url}/computeMetadata/v1/project/project-id", FLAVOR)[2] == "other"

    state = json.loads(get(f"{metadata.url}/_meta/state")[2])
    assert state["requests"][-1]["path"] == "/computeMetadata/v1/project/project-id"

    post(f"{metadata.url}/_meta/reset", {})
    state = json.loads(get(f"{metadata.url}/_meta/state")[2])
    assert (state["requests"], state["config"]["project_id"]) == ([], "vertexchat-local")


def test_bad_config_is_rejected(metadata: MetadataServer) -> None:
    with pytest.raises(ValueError, match="unknown config keys"):
        metadata.state.configure({"colour": "blue"})
    with pytest.raises(urllib.error.HTTPError):
        post(f"{metadata.url}/_meta/config", {"token_status": "broken"})


def test_cli_announces_its_address_and_serves(tmp_path: Path) -> None:
    with subprocess.Popen([sys.executable, "-m", "local.metadata_server", "--port", "0", "--project-id", "cli-p"],
                          cwd=ROOT, stdout=subprocess.PIPE, text=True, env={**os.environ, "K_SERVICE": ""}) as proc:
        try:
            assert proc.stdout is not None
            banner = proc.stdout.readline().strip()
            assert banner.startswith("metadata server listening on 127.0.0.1:")
            host_port = banner.rsplit(" ", 1)[1]
            assert get(f"http://{host_port}/computeMetadata/v1/project/project-id", FLAVOR)[2] == "cli-p"
        finally:
            proc.terminate()
            assert proc.wait(timeout=10) == 0


def test_refuses_to_start_on_cloud_run(monkeypatch: pytest.MonkeyPatch) -> None:
    done = subprocess.run([sys.executable, "-m", "local.metadata_server", "--port", "0"], check=False, cwd=ROOT,
                          env={**os.environ, "K_SERVICE": "vertexchat-api"}, capture_output=True, text=True,
                          timeout=30)
    assert done.returncode != 0
    assert "K_SERVICE" in done.stderr
    assert "Cloud Run" in done.stderr

    monkeypatch.setenv("K_SERVICE", "vertexchat-api")
    with pytest.raises(CloudRunRefusal):
        MetadataServer().start()
