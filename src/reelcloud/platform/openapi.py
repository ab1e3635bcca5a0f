"""The public HTTP API described as OpenAPI 3.1, from the services' own models.

Each service lists its public routes as `Operation`s next to the handlers (its `api.py`), with
the pydantic models it parses bodies into and renders answers from, and serves the fragment at
`GET /openapi.json`. The gateway merges the fragments of the services its routes name into one
document at `/api/openapi.json`. The document is built from the models the code uses, so it
cannot drift from them.

Every operation answers errors in the platform's one error body (`ErrorBody`); the statuses
every route can give at the edge (bad request, rate limited) are added to each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict

OPENAPI_VERSION = "3.1.0"
SCHEMA_REF = "#/components/schemas/{model}"
FRAGMENT_PATH = "/openapi.json"

ERROR_DESCRIPTIONS = {
    400: "The request is malformed or a field is invalid.",
    401: "No valid session: sign in first.",
    403: "Not allowed (a denied play says why in `code`).",
    404: "No such resource.",
    409: "The request conflicts with the current state (e.g. a title not yet available).",
    413: "The body is over the limit.",
    429: "Rate limited at the edge: try again later.",
    503: "A dependency cannot answer now: try again shortly.",
}
# What any route can answer at the edge, whatever the service behind it.
EDGE_ERRORS = (400, 429)


class ErrorDetail(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str
    message: str
    request_id: str | None = None  # the gateway adds it to the errors it answers itself


class ErrorBody(BaseModel):
    """The platform's one error body: `{"error": {"code", "message"}}`."""

    model_config = ConfigDict(extra="forbid")
    error: ErrorDetail


@dataclass(frozen=True)
class Raw:
    """A body that is not JSON (a playlist, an image, a key)."""

    media_type: str
    binary: bool = False


Body = type[BaseModel] | Raw | None


@dataclass(frozen=True)
class Parameter:
    name: str
    where: Literal["path", "query", "header"]
    schema: Mapping[str, Any]
    required: bool = True
    description: str = ""


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # an OpenAPI template: /api/catalog/titles/{title_id}
    summary: str
    responses: Mapping[int, Body]  # the successful answers
    body: Body = None
    parameters: Sequence[Parameter] = ()
    errors: Sequence[int] = ()  # error statuses this route gives beyond EDGE_ERRORS
    auth: Literal["required", "none"] = "none"
    tags: Sequence[str] = field(default_factory=tuple)


def fragment(service: str, operations: Iterable[Operation]) -> dict[str, Any]:
    """One service's paths and the schemas they use."""
    paths: dict[str, dict[str, Any]] = {}
    models: dict[str, type[BaseModel]] = {"ErrorBody": ErrorBody}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(service, op, models)
    return {"paths": paths, "components": {"schemas": _schemas(models)}}


def document(
    title: str, version: str, fragments: Iterable[Mapping[str, Any]], **info: Any
) -> dict[str, Any]:
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for part in fragments:
        for path, operations in part.get("paths", {}).items():
            paths.setdefault(path, {}).update(operations)
        schemas.update(part.get("components", {}).get("schemas", {}))
    return {
        "openapi": OPENAPI_VERSION,
        "info": {"title": title, "version": version, **info},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": dict(sorted(schemas.items())),
            "securitySchemes": {
                "session": {"type": "http", "scheme": "bearer", "bearerFormat": "session token"}
            },
        },
    }


def serve_fragment(app: web.Application, service: str, operations: Sequence[Operation]) -> None:
    """`GET /openapi.json` on the service's own port (the gateway reads it)."""
    body = fragment(service, operations)

    async def handler(request: web.Request) -> web.Response:
        return web.json_response(body)

    app.router.add_get(FRAGMENT_PATH, handler)


# ---- building ------------------------------------------------------------------------------


def _operation(service: str, op: Operation, models: dict[str, type[BaseModel]]) -> dict[str, Any]:
    responses: dict[str, Any] = {}
    for status, body in op.responses.items():
        responses[str(status)] = {"description": "OK", **_content(body, models)}
    errors = sorted({*EDGE_ERRORS, *op.errors, *((401,) if op.auth == "required" else ())})
    for status in errors:
        responses[str(status)] = {
            "description": ERROR_DESCRIPTIONS.get(status, "An error."),
            **_content(ErrorBody, models),
        }
    described: dict[str, Any] = {
        "operationId": f"{service}.{op.method.lower()}.{op.path}",
        "summary": op.summary,
        "tags": list(op.tags or (service,)),
        "responses": responses,
    }
    if op.parameters:
        described["parameters"] = [
            {
                "name": p.name,
                "in": p.where,
                "required": p.required or p.where == "path",
                "schema": dict(p.schema),
                **({"description": p.description} if p.description else {}),
            }
            for p in op.parameters
        ]
    if op.body is not None:
        described["requestBody"] = {"required": True, **_content(op.body, models)}
    described["security"] = [{"session": []}] if op.auth == "required" else []
    return described


def _content(body: Body, models: dict[str, type[BaseModel]]) -> dict[str, Any]:
    if body is None:
        return {}
    if isinstance(body, Raw):
        schema: dict[str, Any] = {"type": "string"}
        if body.binary:
            schema["format"] = "binary"
        return {"content": {body.media_type: {"schema": schema}}}
    models[body.__name__] = body
    return {
        "content": {
            "application/json": {"schema": {"$ref": SCHEMA_REF.format(model=body.__name__)}}
        }
    }


def _schemas(models: Mapping[str, type[BaseModel]]) -> dict[str, Any]:
    """JSON Schemas of the models and of the models they use, all under components."""
    schemas: dict[str, Any] = {}
    for model in models.values():
        schema = model.model_json_schema(ref_template=SCHEMA_REF, mode="validation")
        for name, nested in schema.pop("$defs", {}).items():
            schemas[name] = nested
        schemas[model.__name__] = schema
    return schemas
