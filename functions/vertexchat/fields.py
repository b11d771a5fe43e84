"""PURE: validators for request fields; each refusal is a 400 naming the field (``param``).

Shared by the API codecs' parsers (``openai_chat.schema``, ``openai_responses.schema``).
Tested in tests/test_openai_schema.py.
"""

from __future__ import annotations

from typing import Any, NoReturn

from vertexchat.errors import InvalidRequestError

JSON = dict[str, Any]

MAX_MODEL_CHARS = 256
MAX_METADATA_KEYS = 16
MAX_METADATA_KEY_CHARS = 64
MAX_METADATA_VALUE_CHARS = 512


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


def model_name(value: object) -> str:
    model = nonempty_str(value, "model")
    if len(model) > MAX_MODEL_CHARS:
        fail(f"model is longer than {MAX_MODEL_CHARS} characters.", "model")
    return model


def metadata(value: object) -> dict[str, str] | None:
    metadata = dict_or_none(value, "metadata")
    if metadata is None:
        return None
    if len(metadata) > MAX_METADATA_KEYS:
        fail(f"metadata has more than {MAX_METADATA_KEYS} keys.", "metadata")
    for key, item in metadata.items():
        if not 1 <= len(key) <= MAX_METADATA_KEY_CHARS:
            fail(f"metadata keys must be 1 to {MAX_METADATA_KEY_CHARS} characters.", "metadata")
        if not isinstance(item, str) or len(item) > MAX_METADATA_VALUE_CHARS:
            fail(f"metadata values must be strings of at most {MAX_METADATA_VALUE_CHARS} characters.", "metadata")
    return metadata
