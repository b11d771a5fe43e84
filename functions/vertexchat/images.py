"""Fetch http(s) ``image_url`` parts for Claude, which on Vertex accepts only base64 images.

The function fetches on the caller's behalf, so this is an SSRF boundary. The rules:
- only ``http`` and ``https``;
- the host is resolved once, every address must be public (no loopback, private,
  link-local such as the metadata server 169.254.169.254, shared, reserved or multicast
  ranges), and the connection is pinned to the checked address, so a DNS answer that
  changes between check and connect (rebinding) cannot redirect it;
- at most 3 redirects, each target checked the same way;
- a size cap (``MAX_IMAGE_BYTES``) enforced while reading, a timeout on every step;
- the body is sniffed: only JPEG, PNG, GIF and WebP are accepted, whatever the server claims.

Why by hand on the standard library: the rules above need the connection pinned to the
address that was checked, which the general-purpose clients (requests, httpx) do not
offer, and the one library built for it (advocate) is unmaintained and pins an old requests.
``allow_hosts`` exists for tests only (a loopback image server); config refuses it when deployed.
"""

from __future__ import annotations

import base64
import contextvars
import http.client
import ipaddress
import socket
import ssl
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import quote, urljoin, urlsplit

from vertexchat.config import Settings
from vertexchat.errors import InvalidRequestError

MAX_REDIRECTS = 3
_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
    (b"WEBP", 8, "image/webp"),
)

Resolver = Callable[[str, int], list[str]]


# Remote images of one request are fetched in parallel, a few at a time.
PARALLEL_FETCHES = 4


@dataclass(frozen=True, slots=True)
class FetchPolicy:
    """Limits for one instance; ``allow_hosts`` is a test-only escape hatch."""

    max_bytes: int = 5 * 1024 * 1024
    timeout: float = 10.0
    allow_hosts: frozenset[str] = frozenset()

    @classmethod
    def of(cls, settings: Settings) -> FetchPolicy:
        """The instance's policy (``MAX_IMAGE_BYTES``, ``IMAGE_FETCH_TIMEOUT_SECONDS``)."""
        return cls(max_bytes=settings.max_image_bytes, timeout=settings.image_fetch_timeout,
                   allow_hosts=settings.image_allow_hosts)


def fetch_all(wanted: list[tuple[str, str]], policy: FetchPolicy) -> dict[str, str]:
    """Every remote image of a request (``(param, url)`` pairs) fetched into a ``data:`` URL, by URL.

    The fetches run in parallel, a few at a time, each in a copy of this request's context so
    its log lines carry the request id.
    """
    if not wanted:
        return {}
    unique = {url: param for param, url in wanted}

    def fetch(item: tuple[str, str]) -> tuple[str, str]:
        return item[0], fetch_as_data_url(item[0], item[1], policy)

    context = contextvars.copy_context()
    with ThreadPoolExecutor(max_workers=min(PARALLEL_FETCHES, len(unique))) as pool:
        return dict(pool.map(lambda item: context.copy().run(fetch, item), unique.items()))


def fetch_as_data_url(url: str, param: str, policy: FetchPolicy, resolve: Resolver | None = None) -> str:
    """Fetch ``url`` and return it as a ``data:`` URL; every refusal is a 400 naming ``param``.

    ``policy.timeout`` bounds the whole fetch, redirects included, not each socket read: a
    server dripping one byte at a time cannot hold a thread for longer.
    """
    resolver = resolve or _resolve
    deadline = time.monotonic() + policy.timeout
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        try:
            status, location, body, declared = _get(current, param, policy, resolver, deadline)
        except ValueError:
            # A malformed port, an unencodable host name or path: the URL itself is bad.
            raise InvalidRequestError("The image URL is malformed.", param=param) from None
        if status in (301, 302, 303, 307, 308):
            if not location:
                raise InvalidRequestError("The image URL redirected without a Location.", param=param)
            current = urljoin(current, location)
            continue
        if status != 200:
            raise InvalidRequestError(f"Fetching the image URL answered HTTP {status}.", param=param)
        media_type = sniff(body)
        if media_type is None:
            raise InvalidRequestError(
                f"The image URL returned {declared or 'content'} that is not a JPEG, PNG, GIF or WebP image.",
                param=param)
        return f"data:{media_type};base64,{base64.b64encode(body).decode()}"
    raise InvalidRequestError(f"The image URL redirected more than {MAX_REDIRECTS} times.", param=param)


def sniff(body: bytes) -> str | None:
    """The image media type from the first bytes, or None."""
    for magic, offset, media_type in _SIGNATURES:
        if body[offset:offset + len(magic)] == magic and (media_type != "image/webp" or body[:4] == b"RIFF"):
            return media_type
    return None


def _get(url: str, param: str, policy: FetchPolicy, resolve: Resolver,
         deadline: float) -> tuple[int, str | None, bytes, str]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidRequestError("Image URLs must be http(s) or data: URLs.", param=param)
    host = parts.hostname
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _checked_address(host, port, param, policy, resolve)
    path = quote((parts.path or "/") + (f"?{parts.query}" if parts.query else ""), safe="/?=&%:@!$'()*+,;~-._")
    conn = _connection(parts.scheme, host, address, port, _remaining(deadline, param))
    try:
        conn.request("GET", path, headers={"Host": parts.netloc.rsplit("@", 1)[-1], "Accept": "image/*",
                                           "User-Agent": "vertexchat-image-fetch"})
        sock = conn.sock  # kept: http.client drops it from conn when the server will close
        response = conn.getresponse()
        declared = response.getheader("Content-Type", "") or ""
        length = response.getheader("Content-Length")
        if length and length.isdigit() and int(length) > policy.max_bytes:
            raise InvalidRequestError(f"The image is larger than {policy.max_bytes} bytes.", param=param)
        body = _read(sock, response, policy.max_bytes + 1, deadline, param) if response.status == 200 else b""
        if len(body) > policy.max_bytes:
            raise InvalidRequestError(f"The image is larger than {policy.max_bytes} bytes.", param=param)
        return response.status, response.getheader("Location"), body, declared.split(";")[0]
    except (OSError, http.client.HTTPException) as exc:
        raise InvalidRequestError(f"The image URL could not be fetched ({type(exc).__name__}).", param=param) from None
    finally:
        conn.close()


def _remaining(deadline: float, param: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise InvalidRequestError("Fetching the image URL took too long.", param=param)
    return left


def _read(sock: socket.socket | None, response: http.client.HTTPResponse, limit: int, deadline: float,
          param: str) -> bytes:
    """Up to ``limit`` bytes, in pieces, each socket wait bounded by what is left of the deadline."""
    parts: list[bytes] = []
    size = 0
    while size < limit:
        left = _remaining(deadline, param)
        if sock is not None:
            sock.settimeout(left)
        piece = response.read1(min(65536, limit - size))  # one socket read at most
        if not piece:
            break
        parts.append(piece)
        size += len(piece)
    return b"".join(parts)


def _checked_address(host: str, port: int, param: str, policy: FetchPolicy, resolve: Resolver) -> str:
    try:
        addresses = resolve(host, port)
    except OSError:
        raise InvalidRequestError(f"The image host {host!r} does not resolve.", param=param) from None
    if not addresses:
        raise InvalidRequestError(f"The image host {host!r} does not resolve.", param=param)
    if host not in policy.allow_hosts:
        for address in addresses:
            if not _public(address):
                raise InvalidRequestError(
                    "The image URL points to a private, loopback, link-local or reserved address.", param=param)
    return addresses[0]


# IPv6 ranges that carry an IPv4 address inside (NAT64, 6to4, Teredo, IPv4-compatible):
# is_global says yes to them, yet they can lead to 169.254.169.254 or 10.0.0.1.
_EMBEDS_IPV4 = tuple(ipaddress.ip_network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32",
                                                       "::/96"))


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif any(ip in network for network in _EMBEDS_IPV4):
            return False
    return ip.is_global and not ip.is_multicast


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _connection(scheme: str, host: str, address: str, port: int, timeout: float) -> http.client.HTTPConnection:
    if scheme == "https":
        return _PinnedHTTPS(host, address, port, timeout)
    return _PinnedHTTP(address, port, timeout)


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, address: str, port: int, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout)


class _PinnedHTTPS(http.client.HTTPConnection):
    """TLS to the checked address, with SNI and certificate checks for the original host name."""

    default_port = 443

    def __init__(self, host: str, address: str, port: int, timeout: float) -> None:
        super().__init__(address, port, timeout=timeout)
        self._server_name = host
        self._context = ssl.create_default_context()

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self._server_name)
