"""The jobs' HTTP API (read-only aggregates, no member data):

GET /jobs/status                    each job this process runs: up, restarts, messages taken
GET /jobs/trending?country=US       the country's top titles over the last hour
GET /jobs/trending                  the countries with counted plays
GET /jobs/popularity?days=1         plays per title and rendition, the newest days summed
GET /jobs/sps?minutes=60            stream starts and refusals per minute
GET /jobs/qoe?minutes=15            QoE per OCA per minute (span=all: over those minutes)
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web
from pydantic import BaseModel

from reelcloud.jobs.models import JobsStatus
from reelcloud.jobs.service import Jobs
from reelcloud.jobs.settings import JobsSettings
from reelcloud.jobs.store import SCHEMA, Results
from reelcloud.platform.app import add_readiness_check, create_service_app
from reelcloud.platform.database import open_database
from reelcloud.platform.errors import BadRequestError, ConfigurationError
from reelcloud.platform.settings import Settings, service_options

JOBS = web.AppKey("jobs", Jobs)
PRUNE_INTERVAL_S = 600.0
MAX_MINUTES = 7 * 24 * 60
MAX_DAYS = 31
_COUNTRY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


def _json(body: BaseModel) -> web.Response:
    return web.json_response(body.model_dump(mode="json"))


def _bounded(request: web.Request, name: str, default: int, most: int) -> int:
    raw = request.query.get(name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestError(f"{name} must be a whole number, not {raw[:40]!r}") from None
    if not 1 <= value <= most:
        raise BadRequestError(f"{name} must be between 1 and {most}")
    return value


async def status(request: web.Request) -> web.Response:
    return _json(JobsStatus(jobs=[runner.status() for runner in request.app[JOBS].runners]))


async def trending(request: web.Request) -> web.Response:
    jobs = request.app[JOBS]
    country = request.query.get("country")
    if country is None:
        return web.json_response({"countries": await jobs.countries()})
    if len(country) != 2 or not set(country) <= _COUNTRY_CHARS:
        raise BadRequestError("country must be an ISO 3166 alpha-2 code, like US")
    return _json(await jobs.trending(country))


async def popularity(request: web.Request) -> web.Response:
    return _json(await request.app[JOBS].popularity(_bounded(request, "days", 1, MAX_DAYS)))


async def sps(request: web.Request) -> web.Response:
    minutes = _bounded(request, "minutes", 60, MAX_MINUTES)
    return _json(await request.app[JOBS].sps(minutes, int(time.time() * 1000)))


async def qoe(request: web.Request) -> web.Response:
    minutes = _bounded(request, "minutes", 15, MAX_MINUTES)
    span = request.query.get("span", "minute")
    if span not in ("minute", "all"):
        raise BadRequestError("span must be minute or all")
    now_ms = int(time.time() * 1000)
    return _json(await request.app[JOBS].qoe(minutes, now_ms, per_minute=span == "minute"))


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    options = service_options(settings, JobsSettings)
    if not settings.kafka_url:
        raise ConfigurationError(
            "the stream jobs read the consumer Kafka: set REELCLOUD_KAFKA_URL "
            "(or enable engines.kafka in the topology)"
        )
    app.router.add_get("/jobs/status", status)
    app.router.add_get("/jobs/trending", trending)
    app.router.add_get("/jobs/popularity", popularity)
    app.router.add_get("/jobs/sps", sps)
    app.router.add_get("/jobs/qoe", qoe)

    async def jobs(app: web.Application) -> AsyncIterator[None]:
        pool = await open_database(settings, "jobs", SCHEMA)
        running = Jobs(Results(pool), options)
        state_dir = Path(options.state_dir)
        if not state_dir.is_absolute():
            state_dir = settings.data_dir / state_dir
        # One instance's state apart from another's on the same machine.
        state_dir = state_dir / (settings.instance_id.replace(":", "-") or "jobs")
        running.start(settings.kafka_url, state_dir, asyncio.get_running_loop())  # type: ignore[arg-type]
        app[JOBS] = running
        add_readiness_check(app, "jobs", running.problems)

        async def prune() -> None:
            while True:
                await running.prune(int(time.time() * 1000))
                await asyncio.sleep(PRUNE_INTERVAL_S)

        pruning = asyncio.create_task(prune(), name="prune job results")
        yield
        pruning.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pruning
        await running.stop()
        await pool.close()

    app.cleanup_ctx.append(jobs)
    return app
