"""A marker for "leave this setting alone" in configure() methods, where None is a meaningful value."""

from __future__ import annotations


class Keep:
    """The type of KEEP; never instantiated elsewhere."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = Keep()
