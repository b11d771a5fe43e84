"""PURE: validators for request fields; each refusal is a 400 naming the field (``param``).

Shared by the API codecs' parsers (``openai_chat.schema``, ``openai_responses.schema``).
Tested in tests/test_openai_schema.py.
"""

from __future__ import annotations

from typing import Any, NoReturn

from vertexchat.errors import InvalidRequestError

JSON = dict[str, Any]


def fail(message: str, param: str | None) -> NoReturn:
    raise InvalidRequestError(message, param=param)


def is_int(value: object) -> bool:
    # bool is an int subclass; a JSON true is not a count.
    return isinstance(value, int) and not isinstance(value, bool)


def str_or_none(value: object, param: str) -> str | None:
    if value is None or isinstance(value, str):
        return value
    fail(f"{param} must be a string.", param)


def nonempty_str(value: object, param: str) -> str:
    if not isinstance(value, str) or not value:
        fail(f"{param} is required and must be a non-empty string.", param)
    return value


def bool_or_none(value: object, param: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    fail(f"{param} must be a boolean.", param)


def dict_or_none(value: object, param: str) -> JSON | None:
    if value is None or isinstance(value, dict):
        return value
    fail(f"{param} must be an object.", param)


def list_of(value: object, param: str) -> list[Any]:
    if not isinstance(value, list):
        fail(f"{param} must be an array.", param)
    return value
