"""The Vertex URLs the simulator serves, reduced to the facts steps match on."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

GENERATE_PATH = re.compile(
    r"^/(?:v1|v1beta1)/projects/(?P<project>[^/]+)/locations/(?P<location>[^/]+)"
    r"/publishers/anthropic/models/(?P<model>[^/:]+):(?P<method>rawPredict|streamRawPredict)$"
)
LIST_PATH = "/v1beta1/publishers/anthropic/models"


@dataclass(frozen=True)
class Route:
    """A Vertex request reduced to the facts steps match on."""

    kind: str
    project: str | None = None
    location: str | None = None
    model: str | None = None

    @property
    def stream(self) -> bool:
        return self.kind == "streamRawPredict"


def parse_route(method: str, path: str) -> Route | None:
    """Map a method and path to a Vertex route, or None (404) for anything Vertex would not serve."""
    path = unquote(path)
    if method == "GET" and path == LIST_PATH:
        return Route("listModels")
    found = GENERATE_PATH.match(path)
    if method != "POST" or found is None:
        return None
    if found["model"] == "count-tokens":
        return Route("countTokens", found["project"], found["location"]) if found["method"] == "rawPredict" else None
    return Route(found["method"], found["project"], found["location"], found["model"])
