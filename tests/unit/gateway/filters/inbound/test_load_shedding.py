"""Over the in-flight limit the gateway answers 503 at once, before any other work."""

import asyncio

import pytest
from tests.unit.gateway.filters.contexts import context, error, header, request

from reelcloud.gateway.chain import FilterChain
from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.base import EndpointFilter, InboundFilter
from reelcloud.gateway.filters.inbound.load_shedding import InFlight, LoadSheddingFilter
from reelcloud.gateway.filters.inbound.routing import RoutingFilter
from reelcloud.gateway.http.messages import Response
from reelcloud.gateway.outcome import Outcome


def test_at_the_limit_a_request_is_still_served():
    in_flight = InFlight()
    shedding = LoadSheddingFilter(in_flight, limit=3)
    in_flight.count = 3  # the chain counts the request being filtered too
    assert not shedding.should_filter(context())


def test_over_the_limit_the_answer_is_503_with_retry_after():
    in_flight = InFlight()
    shedding = LoadSheddingFilter(in_flight, limit=3)
    in_flight.count = 4
    ctx = context()
    assert shedding.should_filter(ctx)
    shedding.apply(ctx)
    assert ctx.response is not None
    assert ctx.response.status == 503
    assert header(ctx.response, b"retry-after") == b"1"
    assert ctx.outcome is Outcome.FAILURE_LOCAL_LOAD_SHED
    assert error(ctx)["code"] == "overloaded"


def test_sheds_before_routing_so_no_work_is_done_for_a_shed_request():
    assert LoadSheddingFilter.order < RoutingFilter.order


class HeldEndpoint(EndpointFilter):
    """An endpoint whose requests stay in flight until released."""

    name = "held"
    endpoint = "held"

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.entered = 0
        self.all_entered = asyncio.Event()
        self.expected = 0

    async def apply(self, ctx: RequestContext) -> None:
        self.entered += 1
        if self.entered >= self.expected:
            self.all_entered.set()
        await self.release.wait()
        ctx.response = Response(200)


class ToHeld(InboundFilter):
    """Routes everything to the held endpoint (routing's job, without a route table)."""

    order = 50
    name = "to_held"

    def apply(self, ctx: RequestContext) -> None:
        ctx.endpoint = "held"


@pytest.mark.asyncio
async def test_the_chain_sheds_only_what_is_over_the_in_flight_limit():
    in_flight = InFlight()
    held = HeldEndpoint()
    held.expected = 2
    chain = FilterChain([LoadSheddingFilter(in_flight, limit=2), ToHeld()], [held], [], in_flight)

    first = asyncio.create_task(chain.handle(request()))
    second = asyncio.create_task(chain.handle(request()))
    await asyncio.wait_for(held.all_entered.wait(), timeout=10)  # both are in the endpoint
    assert in_flight.count == 2

    shed = await chain.handle(request())  # the third is answered at once, never held
    assert shed.status == 503
    assert held.entered == 2

    held.release.set()
    assert [r.status for r in await asyncio.gather(first, second)] == [200, 200]
    assert in_flight.count == 0
    assert (await chain.handle(request())).status == 200  # room again
