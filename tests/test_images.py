"""SSRF-safe image fetching: a real HTTP image server on loopback, reachable only via the test allowlist."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator

import pytest

from tests.route_server import PNG, route_server
from vertexchat.errors import InvalidRequestError
from vertexchat.images import FetchPolicy, fetch_as_data_url, sniff

DRIP_SECONDS = 0.3
ROUTES: dict[str, tuple[int, dict[str, str], bytes]] = {
    "/pixel.png": (200, {"Content-Type": "image/png"}, PNG),
    "/lying.jpg": (200, {"Content-Type": "image/jpeg"}, b"<html>not an image</html>"),
    "/big.png": (200, {"Content-Type": "image/png"}, PNG + b"\0" * 2048),
    "/hop": (302, {"Location": "/pixel.png"}, b""),
    "/to-private": (302, {"Location": "http://10.0.0.1/secret"}, b""),
    "/to-metadata": (302, {"Location": "http://169.254.169.254/computeMetadata/v1/"}, b""),
    "/loop": (302, {"Location": "/loop"}, b""),
    "/gone": (404, {}, b"nope"),
}


@pytest.fixture(scope="module")
def image_server() -> Iterator[str]:
    with route_server({**ROUTES, "/drip.png": (200, {}, PNG)}, drip={"/drip.png": DRIP_SECONDS}) as (url, _):
        yield url


TESTING = FetchPolicy(max_bytes=1024, timeout=5, allow_hosts=frozenset({"127.0.0.1"}))
PARAM = "messages[0].content[1].image_url.url"


def test_fetches_and_sniffs_an_allowed_image(image_server: str) -> None:
    assert fetch_as_data_url(f"{image_server}/pixel.png", PARAM, TESTING) == \
        f"data:image/png;base64,{base64.b64encode(PNG).decode()}"


def test_follows_a_redirect(image_server: str) -> None:
    assert fetch_as_data_url(f"{image_server}/hop", PARAM, TESTING).startswith("data:image/png;base64,")


@pytest.mark.parametrize("url", [
    "http://127.0.0.1/x.png",
    "http://169.254.169.254/computeMetadata/v1/instance/service-accounts/default/token",
    "http://10.0.0.1/x.png",
    "http://[::1]/x.png",
    "http://[::ffff:127.0.0.1]/x.png",
    "http://0.0.0.0/x.png",
    "http://100.64.0.1/x.png",
    "http://localhost/x.png",  # a host name that resolves to a private address
    "http://[64:ff9b::a9fe:a9fe]/x.png",  # NAT64 form of 169.254.169.254
    "http://[2002:a9fe:a9fe::1]/x.png",  # 6to4 form of 169.254.169.254
    "http://[::127.0.0.1]/x.png",  # IPv4-compatible form of loopback
])
def test_private_targets_are_refused_without_the_allowlist(url: str) -> None:
    with pytest.raises(InvalidRequestError, match="private") as caught:
        fetch_as_data_url(url, PARAM, FetchPolicy())
    assert caught.value.param == PARAM
    assert caught.value.status == 400


@pytest.mark.parametrize("path", ["/to-private", "/to-metadata"])
def test_redirects_to_private_addresses_are_refused(image_server: str, path: str) -> None:
    with pytest.raises(InvalidRequestError, match="private"):
        fetch_as_data_url(f"{image_server}{path}", PARAM, TESTING)


@pytest.mark.parametrize(("path", "reason"), [
    ("/lying.jpg", "not a JPEG"), ("/big.png", "larger than"), ("/loop", "redirected more than"),
    ("/gone", "HTTP 404"),
])
def test_bad_bodies_are_refused(image_server: str, path: str, reason: str) -> None:
    with pytest.raises(InvalidRequestError, match=reason):
        fetch_as_data_url(f"{image_server}{path}", PARAM, TESTING)


@pytest.mark.parametrize("url", ["ftp://example.com/x.png", "file:///etc/passwd", "gopher://x/"])
def test_other_schemes_are_refused(url: str) -> None:
    with pytest.raises(InvalidRequestError, match="http"):
        fetch_as_data_url(url, PARAM, FetchPolicy())


def test_sniff() -> None:
    assert sniff(PNG) == "image/png"
    assert sniff(b"\xff\xd8\xff\xe0rest") == "image/jpeg"
    assert sniff(b"GIF89a...") == "image/gif"
    assert sniff(b"RIFF\0\0\0\0WEBPVP8 ") == "image/webp"
    assert sniff(b"RIFF\0\0\0\0WAVEfmt ") is None
    assert sniff(b"<svg/>") is None


@pytest.mark.parametrize("url", ["http://127.0.0.1:99999/x.png", "http://a..b/x.png", "http://" + "a" * 64 + ".com/"])
def test_malformed_urls_are_400_not_500(url: str) -> None:
    with pytest.raises(InvalidRequestError) as caught:
        fetch_as_data_url(url, PARAM, TESTING)
    assert caught.value.param == PARAM


def test_a_non_ascii_path_is_quoted(image_server: str) -> None:
    with pytest.raises(InvalidRequestError, match="HTTP 404"):
        fetch_as_data_url(f"{image_server}/café.png", PARAM, TESTING)


def test_the_timeout_bounds_the_whole_fetch_not_each_read(image_server: str) -> None:
    policy = FetchPolicy(max_bytes=1024, timeout=1.0, allow_hosts=frozenset({"127.0.0.1"}))
    started = time.monotonic()
    with pytest.raises(InvalidRequestError):
        fetch_as_data_url(f"{image_server}/drip.png", PARAM, policy)
    assert time.monotonic() - started < 3, "a dripping server must not hold the fetch past its deadline"
