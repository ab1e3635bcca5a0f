"""/api/openapi.json: the fragments of the routed services, merged as the gateway routes them.

The services are real aiohttp apps on 127.0.0.1 (port 0) serving fragments built by
`platform.openapi` from small models; discovery is a fake that knows which of them run.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from openapi_spec_validator import validate
from pydantic import BaseModel
from tests.unit.gateway.filters.contexts import context, header

from reelcloud.gateway.filters.endpoint.openapi import OpenApiEndpoint
from reelcloud.gateway.outcome import Outcome
from reelcloud.gateway.routing import RouteTable
from reelcloud.platform.errors import NoInstancesError
from reelcloud.platform.eureka.model import InstanceInfo, InstanceStatus
from reelcloud.platform.openapi import FRAGMENT_PATH, Operation, Parameter, fragment

pytestmark = pytest.mark.asyncio

ROUTES = """
routes:
  - {prefix: /api/openapi.json, endpoint: openapi, auth: none}
  - {prefix: /api/catalog, origin: catalog}
  - {prefix: /api/play, origin: play-api, auth: required}
  - {prefix: /api/accounts, origin: accounts}
  - {prefix: /api/license, origin: license, auth: none}
  - {prefix: /api/discovery, origin: discovery-api}
  - {prefix: /api/signup, origin: signup-api, auth: none}
  - {prefix: /, endpoint: static, auth: none}
"""


class Title(BaseModel):
    id: str
    name: str


class TitleList(BaseModel):
    titles: list[Title]


class PlayRequest(BaseModel):
    title_id: str


class PlayResponse(BaseModel):
    play_id: str


TITLE_ID = Parameter("title_id", "path", {"type": "string"})
CATALOG = fragment(
    "catalog",
    [
        Operation("GET", "/api/catalog/titles", "List titles", {200: TitleList}),
        Operation("GET", "/api/catalog/titles/{title_id}", "One title", {200: Title},
                  parameters=(TITLE_ID,), errors=(404,)),
        # Described by catalog but routed elsewhere, or not routed to any service:
        Operation("GET", "/api/play/stolen", "Not catalog's to publish", {200: Title}),
        Operation("GET", "/internal/stats", "Behind the gateway only", {200: Title}),
    ],
)  # fmt: skip
PLAY = fragment(
    "play-api",
    [
        # The fragment does not say auth is needed; the route does (auth: required).
        Operation("POST", "/api/play", "Start a play", {200: PlayResponse}, body=PlayRequest),
        Operation("GET", "/api/play/{play_id}/master.m3u8", "The playlist", {200: Title},
                  parameters=(Parameter("play_id", "path", {"type": "string"}),)),
    ],
)  # fmt: skip


class FakeDiscovery:
    """What the endpoint asks of discovery: who is registered, and one instance to ask."""

    def __init__(self) -> None:
        self.registered: dict[str, list[InstanceInfo]] = {}

    def add(self, service: str, port: int, status: InstanceStatus = InstanceStatus.UP) -> None:
        self.registered.setdefault(service, []).append(
            InstanceInfo(
                instance_id=f"127.0.0.1:{service}:{port}",
                app=service.upper(),
                host_name="127.0.0.1",
                ip_addr="127.0.0.1",
                port=port,
                status=status,
            )
        )

    def instances(self, service: str, *, usable_only: bool = True) -> list[InstanceInfo]:
        found = self.registered.get(service, [])
        return [i for i in found if i.status is InstanceStatus.UP] if usable_only else found

    def choose(self, service: str) -> InstanceInfo:
        usable = self.instances(service)
        if not usable:
            raise NoInstancesError(f"no usable instance of {service}")
        return usable[0]


class Services:
    """Small aiohttp apps on loopback, each answering GET /openapi.json its own way."""

    def __init__(self) -> None:
        self.runners: list[web.AppRunner] = []
        self.hits: Counter[str] = Counter()
        self.discovery = FakeDiscovery()

    async def start(self, service: str, answer: Callable[[], web.Response]) -> None:
        async def handler(request: web.Request) -> web.Response:
            self.hits[service] += 1
            return answer()

        app = web.Application()
        app.router.add_get(FRAGMENT_PATH, handler)
        runner = web.AppRunner(app)
        await runner.setup()
        self.runners.append(runner)
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self.discovery.add(service, runner.addresses[0][1])

    async def describing(self, service: str, body: dict[str, Any]) -> None:
        await self.start(service, lambda: web.json_response(body))

    async def close(self) -> None:
        for runner in self.runners:
            await runner.cleanup()


@pytest_asyncio.fixture
async def services() -> AsyncIterator[Services]:
    running = Services()
    try:
        yield running
    finally:
        await running.close()


def endpoint(services: Services, tmp_path: Path, cache_s: float = 3600.0) -> OpenApiEndpoint:
    routes_file = tmp_path / "routes.yaml"
    routes_file.write_text(ROUTES)
    discovery: Any = services.discovery  # duck-typed: instances() and choose()
    return OpenApiEndpoint(discovery, RouteTable.load(routes_file), cache_s=cache_s)


async def published(openapi: OpenApiEndpoint) -> dict[str, Any]:
    ctx = context("/api/openapi.json")
    await openapi.apply(ctx)
    assert ctx.response is not None
    assert ctx.response.status == 200
    assert header(ctx.response, b"content-type") == b"application/json"
    assert ctx.outcome is Outcome.SUCCESS_LOCAL
    document: dict[str, Any] = orjson.loads(ctx.response.body)
    return document


async def test_only_paths_routed_to_the_describing_service_are_published(services, tmp_path):
    await services.describing("catalog", CATALOG)
    await services.describing("play-api", PLAY)
    document = await published(endpoint(services, tmp_path))
    assert sorted(document["paths"]) == [
        "/api/catalog/titles",
        "/api/catalog/titles/{title_id}",
        "/api/play",
        "/api/play/{play_id}/master.m3u8",
    ]  # not /api/play/stolen (play-api's prefix) nor /internal/stats (not proxied)
    assert "x-reelcloud-missing" not in document
    validate(document)  # a valid OpenAPI 3.1 document, $refs included


async def test_routes_that_require_a_session_say_so_with_a_401(services, tmp_path):
    await services.describing("catalog", CATALOG)
    await services.describing("play-api", PLAY)
    document = await published(endpoint(services, tmp_path))
    start = document["paths"]["/api/play"]["post"]
    assert start["security"] == [{"session": []}]
    assert start["responses"]["401"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ErrorBody"
    }
    assert document["paths"]["/api/play/{play_id}/master.m3u8"]["get"]["security"] == [
        {"session": []}
    ]
    titles = document["paths"]["/api/catalog/titles"]["get"]
    assert titles["security"] == []  # an optional route: no session needed
    assert "401" not in titles["responses"]
    assert document["components"]["securitySchemes"]["session"]["scheme"] == "bearer"


async def test_a_service_that_does_not_answer_is_listed_as_missing(services, tmp_path):
    await services.describing("catalog", CATALOG)
    await services.start("accounts", lambda: web.json_response({"error": {}}, status=500))
    await services.start("discovery-api", lambda: web.Response(text="not json"))
    services.discovery.add("license", 9, status=InstanceStatus.DOWN)  # registered, none usable
    document = await published(endpoint(services, tmp_path))
    assert document["x-reelcloud-missing"] == ["accounts", "discovery-api", "license"]
    assert "/api/catalog/titles" in document["paths"]  # what did answer is still published
    validate(document)


async def test_a_routed_service_that_is_not_registered_is_skipped(services, tmp_path):
    await services.describing("catalog", CATALOG)  # signup-api and the others never register
    document = await published(endpoint(services, tmp_path))
    assert "x-reelcloud-missing" not in document
    assert all(path.startswith("/api/catalog/") for path in document["paths"])


async def test_a_whole_document_is_served_from_cache(services, tmp_path):
    await services.describing("catalog", CATALOG)
    openapi = endpoint(services, tmp_path)
    first = await published(openapi)
    assert await published(openapi) == first
    assert services.hits["catalog"] == 1


async def test_a_partial_document_is_rebuilt_at_the_next_request(services, tmp_path):
    await services.describing("catalog", CATALOG)
    await services.start("accounts", lambda: web.Response(status=503))
    openapi = endpoint(services, tmp_path)
    await published(openapi)
    await published(openapi)
    assert services.hits["catalog"] == 2
    assert services.hits["accounts"] == 2
