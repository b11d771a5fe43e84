"""PURE: the ``anthropic-beta`` values forwarded to Vertex AI, and the ones it refused.

Clients advertise betas in a comma-separated ``anthropic-beta`` header (possibly repeated).
Values Vertex is known to refuse (``catalog.REFUSED_BETAS``) are dropped before the call; when
Vertex still refuses one, its 400 names them (``Unexpected value(s) `a`, `b` for the
`anthropic-beta` header``) and the call is made once more without them.

Tested in tests/test_anthropic_messages_codec.py.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

HEADER = "anthropic-beta"
_NAMED = re.compile(r"`([^`]+)`")


def parse(values: Iterable[str]) -> list[str]:
    """The beta values of one or more ``anthropic-beta`` header values, in order, without repeats."""
    found = (part.strip() for value in values for part in value.split(","))
    return list(dict.fromkeys(part for part in found if part))


def split(betas: Iterable[str], refused: Collection[str]) -> tuple[list[str], list[str]]:
    """(kept, dropped): the values to forward and the known-refused ones."""
    kept: list[str] = []
    dropped: list[str] = []
    for beta in betas:
        (dropped if beta in refused else kept).append(beta)
    return kept, dropped


def headers(betas: Iterable[str], base: Mapping[str, str]) -> dict[str, str]:
    """``base`` (a model variant's headers) with ``betas`` added to its ``anthropic-beta`` values."""
    sent = {name: value for name, value in base.items() if name.lower() != HEADER}
    values = parse([*(v for n, v in base.items() if n.lower() == HEADER), *betas])
    if values:
        sent[HEADER] = ",".join(values)
    return sent


def refused_in(message: str, sent: Mapping[str, str]) -> list[str]:
    """The values of ``sent``'s ``anthropic-beta`` header that Vertex's 400 ``message`` names as refused."""
    if HEADER not in message:
        return []
    values = parse([sent.get(HEADER, "")])
    return [value for value in _NAMED.findall(message) if value in values]


def without(sent: Mapping[str, str], refused: Collection[str]) -> dict[str, str]:
    """``sent`` with the ``refused`` beta values taken out (and the header, if none is left)."""
    rest = [value for value in parse([sent.get(HEADER, "")]) if value not in refused]
    return headers(rest, {name: value for name, value in sent.items() if name != HEADER})
