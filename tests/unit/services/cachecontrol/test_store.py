"""The jobs' popularity as cache control reads it over HTTP: found in the registry by service
name, asked for the newest days, every way it can fail one `UnavailableError`."""

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from tests.support.factories import instance

from reelcloud.platform.discovery import ServiceHttpClient
from reelcloud.platform.errors import NoInstancesError, UnavailableError
from reelcloud.services.cachecontrol.store import JobsPopularity

pytestmark = pytest.mark.asyncio


class FakeDiscovery:
    """The registry's copy: `jobs` at one port, or no instance at all."""

    def __init__(self) -> None:
        self.port: int | None = None
        self.unreachable: list[Any] = []

    def choose(self, service: str) -> Any:
        if service != "jobs" or self.port is None:
            raise NoInstancesError(f"no usable instance of {service}")
        return instance("JOBS", port=self.port)

    def mark_unreachable(self, chosen: Any) -> None:
        self.unreachable.append(chosen)


class StandIn:
    """A small aiohttp app on loopback answering GET /jobs/popularity as `answer` says."""

    def __init__(self) -> None:
        self.answer: Callable[[], web.Response] = lambda: web.json_response({})
        self.asked: list[dict[str, str]] = []
        self.discovery = FakeDiscovery()
        discovery: Any = self.discovery  # duck-typed: choose() and mark_unreachable()
        self.popularity = JobsPopularity(ServiceHttpClient(discovery, "jobs", timeout_s=2))
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        async def handler(request: web.Request) -> web.Response:
            self.asked.append(dict(request.query))
            return self.answer()

        app = web.Application()
        app.router.add_get("/jobs/popularity", handler)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.discovery.port = self._runner.addresses[0][1]

    async def close(self) -> None:
        await self.popularity.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


@pytest_asyncio.fixture
async def jobs() -> AsyncIterator[StandIn]:
    stand_in = StandIn()
    try:
        await stand_in.start()
        yield stand_in
    finally:
        await stand_in.close()


async def test_reads_plays_per_title_and_height_over_the_days_asked(jobs):
    body = {
        "days": [1_700_006_400_000, 1_699_920_000_000],
        "counts": [{"title_id": "t-a", "height": 1080, "plays": 7, "extra": "ignored"}],
    }
    jobs.answer = lambda: web.json_response(body)
    counts = await jobs.popularity.popularity(2)
    assert jobs.asked == [{"days": "2"}]
    assert counts.days == body["days"]
    assert [(c.title_id, c.height, c.plays) for c in counts.counts] == [("t-a", 1080, 7)]


@pytest.mark.parametrize(
    "answer",
    [
        lambda: web.json_response({"error": {"code": "jobs_unavailable"}}, status=503),
        lambda: web.json_response({"days": [], "counts": [{"title_id": "t-a", "height": 0}]}),
        lambda: web.json_response(["not", "an", "answer"]),
        lambda: web.Response(body=b"<html>", content_type="text/html"),
    ],
    ids=["error status", "a count without plays", "not an object", "not JSON"],
)
async def test_a_failed_or_malformed_answer_is_unavailable(jobs, answer):
    jobs.answer = answer
    with pytest.raises(UnavailableError):
        await jobs.popularity.popularity(2)


async def test_an_absent_or_unreachable_jobs_service_is_unavailable(jobs):
    port = jobs.discovery.port
    jobs.discovery.port = None
    with pytest.raises(NoInstancesError):  # an UnavailableError: a topology without Kafka
        await jobs.popularity.popularity(2)
    await jobs.close()  # nothing listens on its port any more
    jobs.discovery.port = port
    with pytest.raises(UnavailableError):
        await jobs.popularity.popularity(2)
    assert len(jobs.discovery.unreachable) == 1  # dropped until it registers again
