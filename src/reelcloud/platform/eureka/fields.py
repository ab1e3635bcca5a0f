"""Reading untrusted field values: every bad value becomes a BadRequestError naming the field."""

from __future__ import annotations

import re

from reelcloud.platform.errors import BadRequestError

# Metadata keys become XML element names in the XML encoding, so they must be valid names.
XML_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,127}$")
MAX_TEXT = 4096


def text(value: object, name: str) -> str:
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise BadRequestError(f"{name} must be a string")
    result = str(value)
    if len(result) > MAX_TEXT:
        raise BadRequestError(f"{name} is longer than {MAX_TEXT} characters")
    return result


def integer(value: object, name: str, default: int = 0) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool):
        raise BadRequestError(f"{name} must be an integer")
    if not isinstance(value, str | int | float):
        raise BadRequestError(f"{name} must be an integer")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise BadRequestError(f"{name} must be an integer, got {str(value)[:40]!r}") from None


def boolean(value: object, default: bool = False) -> bool:
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() == "true"


def metadata(pairs: dict[str, object], name: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for key, value in pairs.items():
        if key == "@class":  # Jackson's marker for an empty map
            continue
        if not XML_NAME.match(key):
            raise BadRequestError(f"{name} key {key[:40]!r} is not a valid name")
        result[key] = text(value, f"{name}.{key}")
    return result


def require(value: str, message: str) -> str:
    if not value.strip():
        raise BadRequestError(message)
    return value
