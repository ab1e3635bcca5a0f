"""OpenAPI fragments and documents built from the models the handlers use."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import jsonschema
import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel

from reelcloud.platform.openapi import (
    EDGE_ERRORS,
    ERROR_DESCRIPTIONS,
    OPENAPI_VERSION,
    Operation,
    Parameter,
    Raw,
    document,
    fragment,
)


class Rating(BaseModel):
    system: Literal["MPAA", "BBFC"]
    value: str


class Title(BaseModel):
    id: str
    name: str
    rating: Rating  # a nested model: its schema must land under components too
    genres: list[str] = []


class TitleList(BaseModel):
    titles: list[Title]


class NewTitle(BaseModel):
    name: str


class Member(BaseModel):
    id: str


TITLE_ID = Parameter("title_id", "path", {"type": "string"}, required=False)
CATALOG = [
    Operation("GET", "/api/catalog/titles", "List titles", {200: TitleList},
              parameters=(Parameter("genre", "query", {"type": "string"}, required=False,
                                    description="only this genre"),)),
    Operation("GET", "/api/catalog/titles/{title_id}", "One title", {200: Title},
              parameters=(TITLE_ID,), errors=(404,)),
    Operation("POST", "/api/catalog/titles", "Add a title", {201: Title}, body=NewTitle,
              errors=(409,), auth="required", tags=("admin",)),
    Operation("GET", "/api/catalog/titles/{title_id}/poster", "The poster",
              {200: Raw("image/jpeg", binary=True)}, parameters=(TITLE_ID,)),
]  # fmt: skip
ACCOUNTS = [
    Operation("GET", "/api/accounts/me", "Who am I", {200: Member}, auth="required"),
]
ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}


def published() -> dict[str, Any]:
    return document(
        "test API",
        "1",
        [fragment("catalog", CATALOG), fragment("accounts", ACCOUNTS)],
        description="for tests",
    )


def refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref":
                yield value
            else:
                yield from refs(value)
    elif isinstance(node, list):
        for item in node:
            yield from refs(item)


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, methods in doc["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_the_document_is_valid_openapi_3_1():
    doc = published()
    assert doc["openapi"] == OPENAPI_VERSION == "3.1.0"
    assert doc["info"] == {"title": "test API", "version": "1", "description": "for tests"}
    validate(doc)  # openapi-spec-validator: structure and $refs


def test_every_ref_resolves_to_a_component_schema():
    doc = published()
    schemas = doc["components"]["schemas"]
    found = set(refs(doc))
    assert found  # the models are referenced, not inlined
    for ref in found:
        assert ref.startswith("#/components/schemas/"), ref
        assert ref.removeprefix("#/components/schemas/") in schemas, ref
    assert {
        "Title",
        "TitleList",
        "Rating",
        "NewTitle",
        "Member",
        "ErrorBody",
        "ErrorDetail",
    } <= set(schemas)
    assert "$defs" not in str(doc)  # nested models were lifted out of the models' own schemas


def test_a_body_and_an_answer_refer_to_their_models():
    post = published()["paths"]["/api/catalog/titles"]["post"]
    assert post["requestBody"] == {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewTitle"}}},
    }
    assert post["responses"]["201"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Title"
    }


def test_every_error_response_carries_the_error_body():
    for path, method, operation in operations(published()):
        errors = {status for status in operation["responses"] if int(status) >= 400}
        assert {str(s) for s in EDGE_ERRORS} <= errors, (method, path)
        for status in errors:
            response = operation["responses"][status]
            assert response["content"]["application/json"]["schema"] == ERROR_REF
            assert response["description"] == ERROR_DESCRIPTIONS[int(status)]


def test_each_operation_lists_its_own_errors_and_401_only_when_it_needs_a_session():
    paths = published()["paths"]

    def statuses(path: str, method: str) -> list[str]:
        return sorted(paths[path][method]["responses"])

    assert statuses("/api/catalog/titles", "get") == ["200", "400", "429"]
    assert statuses("/api/catalog/titles/{title_id}", "get") == ["200", "400", "404", "429"]
    assert statuses("/api/catalog/titles", "post") == ["201", "400", "401", "409", "429"]
    assert paths["/api/catalog/titles"]["post"]["security"] == [{"session": []}]
    assert paths["/api/catalog/titles"]["get"]["security"] == []


def test_path_parameters_are_always_required_and_query_parameters_as_declared():
    paths = published()["paths"]
    (title_id,) = paths["/api/catalog/titles/{title_id}"]["get"]["parameters"]
    assert title_id == {"name": "title_id", "in": "path", "required": True,
                        "schema": {"type": "string"}}  # fmt: skip
    (genre,) = paths["/api/catalog/titles"]["get"]["parameters"]
    assert genre["in"] == "query"
    assert genre["required"] is False
    assert genre["description"] == "only this genre"


def test_a_raw_body_is_a_string_of_its_media_type():
    poster = published()["paths"]["/api/catalog/titles/{title_id}/poster"]["get"]
    assert poster["responses"]["200"]["content"] == {
        "image/jpeg": {"schema": {"type": "string", "format": "binary"}}
    }


def test_operations_are_named_and_tagged_by_their_service():
    doc = published()
    ids = [operation["operationId"] for _, _, operation in operations(doc)]
    assert len(ids) == len(set(ids))
    me = doc["paths"]["/api/accounts/me"]["get"]
    assert me["operationId"] == "accounts.get./api/accounts/me"
    assert me["tags"] == ["accounts"]
    assert doc["paths"]["/api/catalog/titles"]["post"]["tags"] == ["admin"]


def test_fragments_merge_into_one_document_with_sorted_paths():
    doc = published()
    assert list(doc["paths"]) == sorted(doc["paths"])
    assert set(doc["paths"]["/api/catalog/titles"]) == {"get", "post"}  # one path, two methods
    assert "/api/accounts/me" in doc["paths"]
    assert doc["components"]["securitySchemes"] == {
        "session": {"type": "http", "scheme": "bearer", "bearerFormat": "session token"}
    }


def test_a_fragment_names_only_the_schemas_it_uses():
    schemas = fragment("accounts", ACCOUNTS)["components"]["schemas"]
    assert set(schemas) == {"Member", "ErrorBody", "ErrorDetail"}


def conforms(doc: dict[str, Any], model: str, instance: Any) -> bool:
    schema = {"$ref": f"#/components/schemas/{model}", "components": doc["components"]}
    return jsonschema.Draft202012Validator(schema).is_valid(instance)


@pytest.mark.parametrize(
    ("body", "valid"),
    [
        ({"error": {"code": "not_found", "message": "no such title"}}, True),
        ({"error": {"code": "not_found"}}, False),
        ({"error": "not_found"}, False),
        ({"code": "not_found", "message": "no such title"}, False),
    ],
)
def test_the_error_body_schema_is_the_platforms_error_shape(body, valid):
    assert conforms(published(), "ErrorBody", body) is valid


def test_a_models_schema_holds_what_the_model_accepts():
    doc = published()
    title = {"id": "t-1", "name": "Dune", "rating": {"system": "MPAA", "value": "PG-13"}}
    assert conforms(doc, "Title", Title.model_validate(title).model_dump(mode="json"))
    assert not conforms(doc, "Title", {**title, "rating": {"system": "none", "value": "x"}})
