"""Input at the edge, parsed strictly, with one clear 400 for anything else.

- Bodies and queries into models (`parse_body`, `parse_query`): BadRequestError naming the
  first field that is wrong.
- Numbers from paths, queries and headers (`ascii_int`, `parse_int`): ASCII digits only, at
  most 18 of them. Python's `int()` also takes "+1", "1_0", " 1", "٣" (Arabic-Indic three) and
  ten-thousand-digit strings (seconds of CPU to convert): none of those is a number on the wire.
- Byte ranges (`parse_byte_range`): only `bytes=N-M`, `bytes=N-` and `bytes=-N`; anything else
  is ignored, as RFC 9110 lets a server do, and the whole file is sent.
- Text that reaches a database (`Text`): no control characters and no lone surrogates.
  PostgreSQL refuses NUL in text and UTF-8 cannot encode a surrogate: either would surface as a
  500 from the driver, so the model refuses them first, naming the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, TypeVar

from pydantic import BaseModel, BeforeValidator, ValidationError

from reelcloud.platform.errors import BadRequestError

M = TypeVar("M", bound=BaseModel)

# 10**18 - 1 fits a signed 64-bit integer: a file offset, a count or an index never needs more.
MAX_DIGITS = 18
MAX_INT = 10**MAX_DIGITS - 1


def _first_error(exc: ValidationError, what: str) -> BadRequestError:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "body"
    return BadRequestError(f"{what}: {where}: {first['msg']}")


def parse_body(model: type[M], raw: bytes, what: str) -> M:
    """`raw` as a `model`; BadRequestError naming the first field that is wrong."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise _first_error(exc, what) from exc


def parse_query(model: type[M], query: Mapping[str, str], what: str) -> M:
    """A query string's parameters as a `model`; BadRequestError naming the first wrong one."""
    try:
        return model.model_validate(dict(query))
    except ValidationError as exc:
        raise _first_error(exc, what) from exc


# ---- numbers -------------------------------------------------------------------------------


def ascii_int(text: str | bytes, max_digits: int = MAX_DIGITS) -> int | None:
    """The value of 1 to `max_digits` ASCII digits, None for anything else (a sign, a space,
    an underscore, a non-ASCII digit, too many digits)."""
    # isdigit() on ASCII-only text is exactly 0-9 (for bytes it is ASCII-only anyway).
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


def parse_int(text: str | bytes, what: str, *, minimum: int = 0, maximum: int = MAX_INT) -> int:
    """`text` as a whole number in [minimum, maximum]; BadRequestError naming `what` else."""
    value = ascii_int(text)
    if value is None or not minimum <= value <= maximum:
        raise BadRequestError(f"{what} must be a whole number from {minimum} to {maximum}")
    return value


# ---- byte ranges ---------------------------------------------------------------------------

# re.ASCII: under Unicode rules IGNORECASE lets U+017F (long s) match "s" and U+212A (Kelvin)
# match "k".
_BYTE_RANGE = re.compile(
    rf"bytes=(?:([0-9]{{1,{MAX_DIGITS}}})-([0-9]{{0,{MAX_DIGITS}}})|-([0-9]{{1,{MAX_DIGITS}}}))",
    re.IGNORECASE | re.ASCII,
)


def parse_byte_range(value: str, size: int) -> tuple[int, int] | bool | None:
    """A single byte range of a `size`-byte file as (first, last) inclusive; None when the
    header is to be ignored (not one plain range: RFC 9110 lets a server send the whole file);
    False when it cannot be satisfied (416)."""
    match = _BYTE_RANGE.fullmatch(value.strip(" \t"))
    if match is None:
        return None
    first_text, last_text, suffix_text = match.groups()
    if suffix_text is not None:  # the last N bytes
        length = int(suffix_text)
        if length == 0 or size == 0:
            return False
        return (max(0, size - length), size - 1)
    first = int(first_text)
    last = int(last_text) if last_text else None
    if last is not None and last < first:
        return None  # an invalid range: ignored, not refused
    if first >= size:
        return False
    return (first, size - 1 if last is None else min(last, size - 1))


# ---- text ----------------------------------------------------------------------------------

# C0 and C1 controls, DEL, and lone surrogates (JSON's "\ud800" escapes decode to one).
_UNSTORABLE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def refuse_control_characters(value: object) -> object:
    """A pydantic before-validator: text with a control character or a lone surrogate is
    refused (the field's own checks come after, so the message names the character)."""
    if isinstance(value, str):
        found = _UNSTORABLE.search(value)
        if found is not None:
            if found.group() == "\x00":
                raise ValueError("must not contain a NUL character")
            point = ord(found.group())
            kind = "a lone surrogate" if 0xD800 <= point <= 0xDFFF else "a control character"
            raise ValueError(f"must not contain U+{point:04X} ({kind})")
    return value


Text = Annotated[str, BeforeValidator(refuse_control_characters)]
