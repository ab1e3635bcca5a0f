"""X-Reelcloud-Fault at the edge: delays and aborts asked for, only when the platform allows."""

from types import SimpleNamespace

import pytest
from tests.unit.gateway.filters.contexts import context, error

from reelcloud.gateway.context import RequestContext
from reelcloud.gateway.filters.inbound import fault_injection
from reelcloud.gateway.filters.inbound.fault_injection import FaultInjectionFilter
from reelcloud.gateway.outcome import Outcome

pytestmark = pytest.mark.asyncio


@pytest.fixture
def slept(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the filter asks for, recorded instead of waited for."""
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(fault_injection, "asyncio", SimpleNamespace(sleep=sleep))
    return delays


def faulted(header: str) -> RequestContext:
    return context("/api/catalog/titles", headers=[("X-Reelcloud-Fault", header)])


async def run(ctx: RequestContext, enabled: bool = True) -> bool:
    """Runs the filter as the chain does; whether it was asked to."""
    injection = FaultInjectionFilter(enabled)
    if not injection.should_filter(ctx):
        return False
    await injection.apply(ctx)
    return True


async def test_does_nothing_when_the_platform_runs_without_fault_injection(slept):
    ctx = faulted("gateway.abort=500,gateway.delay_ms=100")
    assert not await run(ctx, enabled=False)
    assert ctx.response is None
    assert ctx.fault == ""  # nor does the header travel downstream
    assert slept == []


async def test_a_request_without_the_header_is_left_alone(slept):
    assert not await run(context("/"))


async def test_an_abort_answers_here_with_the_status_asked_for(slept):
    ctx = faulted("gateway.abort=503")
    assert await run(ctx)
    assert ctx.response is not None
    assert ctx.response.status == 503
    assert ctx.outcome is Outcome.FAILURE_LOCAL_INJECTED
    assert error(ctx) == {
        "code": "injected",
        "message": "failure injected: gateway.abort=503",
        "request_id": "",
    }


async def test_a_delay_is_asked_of_the_event_loop_in_seconds(slept):
    ctx = faulted("gateway.delay_ms=250")
    await run(ctx)
    assert slept == [0.25]
    assert ctx.response is None


async def test_a_delay_is_capped_at_thirty_seconds(slept):
    await run(faulted("gateway.delay_ms=999999999"))
    assert slept == [30.0]


async def test_a_delay_then_an_abort_both_happen_in_order(slept):
    ctx = faulted("gateway.delay_ms=10, gateway.abort=500")
    await run(ctx)
    assert slept == [0.01]
    assert ctx.response is not None
    assert ctx.response.status == 500


@pytest.mark.parametrize("status", ["200", "302", "399", "600", "abc", "", "-500", "5e2"])
async def test_an_abort_status_outside_the_error_range_is_ignored(slept, status):
    ctx = faulted(f"gateway.abort={status}")
    await run(ctx)
    assert ctx.response is None


@pytest.mark.parametrize(
    "header", ["gateway.delay_ms=²", "gateway.abort=5²3", "gateway.delay_ms=¹0"]
)
async def test_a_value_of_non_ascii_digits_is_ignored_not_a_500(slept, header):
    ctx = faulted(header)
    await run(ctx)  # int("²") raises: the filter must not try it
    assert ctx.response is None
    assert slept == []


async def test_faults_for_services_travel_downstream_untouched(slept):
    ctx = faulted("catalog.abort=500,playback.delay_ms=100")
    await run(ctx)
    assert ctx.response is None
    assert slept == []
    assert ctx.fault == "catalog.abort=500,playback.delay_ms=100"  # the proxy forwards it


async def test_the_header_kept_is_cut_at_512_characters(slept):
    ctx = faulted("catalog.delay_ms=1," + "x" * 1000)
    await run(ctx)
    assert len(ctx.fault) == 512
