"""The service app factory: every service process is an aiohttp app made here.

It serves `/healthz` (the process is alive), `/readyz` (it is started, registered, not
draining, and every readiness check the service added passes), `/metrics` (Prometheus text)
and `/info`; it gives each request an id that logs carry; it renders every error as
`{"error": {"code", "message"}}` with the right status and never a stack trace. A service
adds its own routes to the app this returns, and its readiness checks with
`add_readiness_check` (a consumer it depends on, say: `/readyz` is 503 naming it while it is
down, `/healthz` stays 200, since the process is alive and restarting it would not help).
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from reelcloud import __version__
from reelcloud.platform import faults
from reelcloud.platform.admin import ADMIN_PASSWORD
from reelcloud.platform.database import database_unavailable
from reelcloud.platform.discovery import DiscoveryClient, registry_authorization
from reelcloud.platform.discovery.client import order_by_zone
from reelcloud.platform.errors import ReelcloudError
from reelcloud.platform.logging import request_id_var
from reelcloud.platform.metrics import Metrics
from reelcloud.platform.resilience import CommandRunner, ResilienceConfig, request_scope
from reelcloud.platform.resilience.routes import add_resilience_routes
from reelcloud.platform.rpc import RpcServer
from reelcloud.platform.rpc.context import fault_header
from reelcloud.platform.settings import Settings

log = logging.getLogger(__name__)

REQUEST_ID_HEADER = "X-Request-Id"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")

ReadinessCheck = Callable[[], Awaitable[bool]]
# A named check: None while ready, else why not (sync or async).
ReadinessProblem = Callable[[], str | Awaitable[str | None] | None]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class ServiceState:
    """What the platform knows about this process; one per app."""

    settings: Settings
    metrics: Metrics
    discovery: DiscoveryClient
    commands: CommandRunner
    rpc: RpcServer  # gRPC servicers the service adds; started beside the HTTP app if any
    started_at: float = field(default_factory=time.time)
    address: str = ""
    ready: bool = False
    draining: bool = False
    readiness_checks: list[ReadinessCheck] = field(default_factory=list)
    named_checks: dict[str, ReadinessProblem] = field(default_factory=dict)


STATE = web.AppKey("reelcloud_state", ServiceState)


def error_response(status: int, code: str, message: str) -> web.Response:
    return web.json_response({"error": {"code": code, "message": message}}, status=status)


_HTTP_CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


@web.middleware
async def _request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    incoming = request.headers.get(REQUEST_ID_HEADER, "")
    request_id = incoming if _REQUEST_ID.match(incoming) else uuid.uuid4().hex
    token = request_id_var.set(request_id)
    try:
        response = await handler(request)
        response.headers[REQUEST_ID_HEADER] = request_id
        return response
    finally:
        request_id_var.reset(token)


@web.middleware
async def _request_scope_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Commands with a cache key run once per incoming request; the request's fault header
    goes on with the calls it makes, and what it asks of this service is done here."""
    header = request.headers.get(faults.HEADER)
    settings = request.app[STATE].settings
    token = fault_header.set(header if settings.fault_injection else None)
    try:
        with request_scope():
            if settings.fault_injection:
                await faults.inject(settings.service, header)
            return await handler(request)
    finally:
        fault_header.reset(token)


@web.middleware
async def _error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ReelcloudError as exc:
        return error_response(exc.status, exc.code, exc.message)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, "http_error")
        message = exc.reason if exc.status != 413 else "request body is larger than allowed"
        return error_response(exc.status, code, message)
    except Exception as exc:
        unavailable = database_unavailable(exc, request.app[STATE].settings.service)
        if unavailable is not None:  # a 503 to try again, not a 500 (platform.database)
            log.warning("%s %s: %s: %r", request.method, request.path, unavailable.message, exc)
            return error_response(503, unavailable.code, unavailable.message)
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error")


def _metrics_middleware(metrics: Metrics) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        metrics.in_flight.labels(metrics.service).inc()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        finally:
            metrics.in_flight.labels(metrics.service).dec()
            resource = request.match_info.route.resource
            route = resource.canonical if resource is not None else "unmatched"
            metrics.requests.labels(metrics.service, request.method, route, str(status)).inc()
            metrics.latency.labels(metrics.service, route).observe(time.perf_counter() - start)

    return middleware


async def _healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


def add_readiness_check(app: web.Application, name: str, problem: ReadinessProblem) -> None:
    """`/readyz` answers 503 while `problem()` says why (a string), naming `name`."""
    app[STATE].named_checks[name] = problem


async def readiness_checks(app: web.Application) -> dict[str, str | None]:
    """Each named check's problem (None: it passes)."""
    found: dict[str, str | None] = {}
    for name, problem in app[STATE].named_checks.items():
        answer = problem()
        found[name] = await answer if inspect.isawaitable(answer) else answer
    return found


async def readiness(app: web.Application) -> str | None:
    """None when the process is ready for traffic, else why not."""
    state = app[STATE]
    if state.draining:
        return "draining"
    if not state.ready:
        return "starting"
    for check in state.readiness_checks:
        if not await check():
            return f"waiting for {check.__name__}"
    problems = [p for p in (await readiness_checks(app)).values() if p is not None]
    return "; ".join(problems) if problems else None


async def _readyz(request: web.Request) -> web.Response:
    reason = await readiness(request.app)
    checks = {
        name: "ok" if problem is None else problem
        for name, problem in (await readiness_checks(request.app)).items()
    }
    extra = {"checks": checks} if checks else {}  # which check, for people and `status`
    if reason is not None:
        body = {"error": {"code": "not_ready", "message": reason}, **extra}
        return web.json_response(body, status=503)
    return web.json_response({"status": "ready", **extra})


async def _metrics(request: web.Request) -> web.Response:
    metrics = request.app[STATE].metrics
    return web.Response(body=metrics.render(), headers={"Content-Type": metrics.content_type})


async def _info(request: web.Request) -> web.Response:
    state = request.app[STATE]
    settings = state.settings
    return web.json_response(
        {
            "service": settings.service,
            "instance_id": settings.instance_id,
            "zone": settings.effective_zone,
            "address": state.address,
            "version": __version__,
            "python": sys.version.split()[0],
            "pid": os.getpid(),
            "started_at": state.started_at,
            "uptime_s": round(time.time() - state.started_at, 3),
            "registered": state.discovery.registered,
            "ready": state.ready and not state.draining,
        }
    )


def create_service_app(settings: Settings, *, fetch_registry: bool = True) -> web.Application:
    """An app with the platform's routes and middleware; the service adds its own routes."""
    if not settings.service:
        raise ReelcloudError("settings.service is empty: which service is this?")
    metrics = Metrics(settings.service)
    topology = settings.topology
    registry = topology.registry
    if settings.registry_urls:
        urls = settings.registry_url_list
    else:
        urls = order_by_zone([(p.url, p.zone) for p in registry.peers], settings.effective_zone)
    discovery = DiscoveryClient(
        urls,
        zone=settings.effective_zone,
        fetch_registry=fetch_registry,
        renewal_interval_s=registry.lease_renewal_interval_s,
        fetch_interval_s=registry.registry_fetch_interval_s,
        connect_timeout_s=registry.connect_timeout_s,
        read_timeout_s=registry.read_timeout_s,
        quarantine_s=registry.lease_duration_s,
        authorization=registry_authorization(
            settings.registry_user, settings.registry_password.get_secret_value()
        ),
    )
    app = web.Application(
        middlewares=[
            _request_id_middleware,
            _metrics_middleware(metrics),
            _error_middleware,
            _request_scope_middleware,
        ],
        client_max_size=settings.max_body_bytes,
    )
    app[ADMIN_PASSWORD] = settings.admin_password.get_secret_value()
    commands = CommandRunner(ResilienceConfig())
    app[STATE] = ServiceState(
        settings=settings,
        metrics=metrics,
        discovery=discovery,
        commands=commands,
        rpc=RpcServer(
            settings.host, service=settings.service, fault_injection=settings.fault_injection
        ),
    )
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_get("/info", _info)
    add_resilience_routes(app, commands)
    app.on_cleanup.append(lambda _: _close(commands))
    return app


async def _close(commands: CommandRunner) -> None:
    commands.close()
