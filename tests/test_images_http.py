"""SSRF end to end: chat requests with http(s) image URLs, through the real function.

Private, loopback, link-local and reserved targets are refused with a 400 naming the part,
before any connection and before any Vertex call; so are redirects into them, oversized
bodies and bodies that are not images. Only with the test-only allowlist
(``IMAGE_FETCH_ALLOW_HOSTS=127.0.0.1``) does a loopback image server get through, and then
Vertex receives the image as base64. Nothing here sends traffic beyond loopback: every
private target is refused before connecting.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from local.vertex_sim import VertexSimulator
from tests.harness import FunctionServer
from tests.route_server import PNG, route_server
from vertexchat import config

PARAM = "messages[0].content[1].image_url.url"
ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/pixel.png": (200, {"Content-Type": "image/png"}, PNG),
    "/hop": (302, {"Location": "/pixel.png"}, b""),
    "/big.png": (200, {"Content-Type": "image/png"}, PNG + b"\0" * 4096),
    "/page.html": (200, {"Content-Type": "text/html"}, b"<html>not an image</html>"),
    "/lying.png": (200, {"Content-Type": "image/png"}, b"GIF? no: plain text"),
    "/to-private": (302, {"Location": "http://10.0.0.1/secret.png"}, b""),
    "/to-metadata": (302, {"Location": "http://169.254.169.254/computeMetadata/v1/"}, b""),
    "/to-localhost": (302, {"Location": "http://localhost/x.png"}, b""),
    "/to-ipv6-loopback": (302, {"Location": "http://[::1]/x.png"}, b""),
    "/gone": (404, {}, b"nope"),
}


@pytest.fixture(scope="module")
def image_server() -> Iterator[tuple[str, list[str]]]:
    """A loopback image server: its base URL and the paths it was asked for."""
    with route_server(ROUTES) as served:
        yield served


@pytest.fixture
def allowlisted(start_function: Callable[..., FunctionServer]) -> FunctionServer:
    """A function that may fetch from 127.0.0.1 (tests only), with a 2 KiB image cap."""
    return start_function(IMAGE_FETCH_ALLOW_HOSTS="127.0.0.1", MAX_IMAGE_BYTES="2048")


def chat_with_image(server: FunctionServer, url: str) -> requests.Response:
    body = {"model": "claude-sonnet-4-5@20250929", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "What is this?"}, {"type": "image_url", "image_url": {"url": url}}]}]}
    return requests.post(f"{server.url}/v1/chat/completions", json=body, timeout=60)


def generate_calls(sim: VertexSimulator) -> list[dict[str, Any]]:
    return [r for r in sim.requests() if r["kind"] in ("rawPredict", "streamRawPredict")]


def assert_refused(response: requests.Response, sim: VertexSimulator, *words: str) -> None:
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["param"]) == ("invalid_request_error", PARAM)
    for word in words:
        assert word in error["message"]
    assert generate_calls(sim) == []


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x.png",
    "http://127.0.0.1:9/x.png",
    "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token",
    "http://10.0.0.1/x.png",
    "https://192.168.1.1/x.png",
    "http://[::1]/x.png",
    "http://[::ffff:169.254.169.254]/x.png",
    "http://0.0.0.0/x.png",
    "http://localhost/x.png",  # a host name that resolves to a private address
])
def test_private_targets_are_refused_before_connecting(api: FunctionServer, sim: VertexSimulator, url: str) -> None:
    assert_refused(chat_with_image(api, url), sim, "private")


def test_even_a_real_loopback_server_is_refused_without_the_allowlist(
        api: FunctionServer, sim: VertexSimulator, image_server: tuple[str, list[str]]) -> None:
    base, hits = image_server
    before = len(hits)

    assert_refused(chat_with_image(api, f"{base}/pixel.png"), sim, "private")
    assert len(hits) == before, "the function connected to a loopback address"


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata", "/to-localhost", "/to-ipv6-loopback"])
def test_a_redirect_into_a_private_address_is_refused(allowlisted: FunctionServer, sim: VertexSimulator,
                                                      image_server: tuple[str, list[str]], path: str) -> None:
    base, _ = image_server
    assert_refused(chat_with_image(allowlisted, f"{base}{path}"), sim, "private")


@pytest.mark.parametrize(("path", "words"), [
    ("/big.png", ("larger than 2048",)),
    ("/page.html", ("text/html", "not a JPEG")),
    ("/lying.png", ("not a JPEG",)),
    ("/gone", ("HTTP 404",)),
])
def test_oversized_and_non_image_bodies_are_refused(allowlisted: FunctionServer, sim: VertexSimulator,
                                                    image_server: tuple[str, list[str]], path: str,
                                                    words: tuple[str, ...]) -> None:
    base, _ = image_server
    assert_refused(chat_with_image(allowlisted, f"{base}{path}"), sim, *words)


@pytest.mark.parametrize("path", ["/pixel.png", "/hop"])
def test_an_allowed_image_reaches_vertex_as_base64(allowlisted: FunctionServer, sim: VertexSimulator,
                                                   image_server: tuple[str, list[str]], path: str) -> None:
    base, _ = image_server
    sim.script({"text": "A pixel."})

    response = chat_with_image(allowlisted, f"{base}{path}")

    assert response.status_code == 200, response.text
    (call,) = generate_calls(sim)
    blocks = call["body"]["messages"][0]["content"]
    assert blocks[1] == {"type": "image", "source": {"type": "base64", "media_type": "image/png",
                                                     "data": base64.b64encode(PNG).decode()}}
    assert "127.0.0.1" not in str(call["body"])


def test_the_allowlist_cannot_be_set_when_deployed() -> None:
    with pytest.raises(config.ConfigError, match="IMAGE_FETCH_ALLOW_HOSTS"):
        config.load({"K_SERVICE": "vertexchat-api", "AUTH_MODE": "oidc", "IMAGE_FETCH_ALLOW_HOSTS": "127.0.0.1"})
