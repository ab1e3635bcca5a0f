"""The gateway's own health answer, for a load balancer in front."""

import orjson
import pytest
from tests.unit.gateway.filters.contexts import context, header, request

from reelcloud.gateway.chain import FilterChain
from reelcloud.gateway.filters.endpoint.health import HealthEndpoint
from reelcloud.gateway.filters.inbound.load_shedding import InFlight
from reelcloud.gateway.filters.inbound.routing import RoutingFilter
from reelcloud.gateway.outcome import Outcome
from reelcloud.gateway.routing import RouteTable


@pytest.mark.asyncio
async def test_answers_healthy_here_without_an_origin():
    ctx = context("/healthcheck")
    await HealthEndpoint().apply(ctx)
    assert ctx.response is not None
    assert ctx.response.status == 200
    assert header(ctx.response, b"content-type") == b"application/json"
    assert orjson.loads(ctx.response.body) == {"status": "healthy"}
    assert ctx.outcome is Outcome.SUCCESS_LOCAL
    assert ctx.attempts == []


@pytest.mark.asyncio
async def test_a_route_naming_the_health_endpoint_reaches_it(tmp_path):
    routes = tmp_path / "routes.yaml"
    routes.write_text("routes:\n  - {prefix: /healthcheck, endpoint: health, auth: none}\n")
    chain = FilterChain(
        [RoutingFilter(RouteTable.load(routes))], [HealthEndpoint()], [], InFlight()
    )
    response = await chain.handle(request("/healthcheck"))
    assert response.status == 200
    assert orjson.loads(response.body) == {"status": "healthy"}
