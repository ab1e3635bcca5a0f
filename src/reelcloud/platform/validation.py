"""Request bodies into models, with one clear 400 for anything else."""

from __future__ import annotations

from typing import TypeVar

from pydantic import BaseModel, ValidationError

from reelcloud.platform.errors import BadRequestError

M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], raw: bytes, what: str) -> M:
    """`raw` as a `model`; BadRequestError naming the first field that is wrong."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "body"
        raise BadRequestError(f"{what}: {where}: {first['msg']}") from exc
