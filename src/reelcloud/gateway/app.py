"""The gateway process: the public listener (filters, proxy) beside the platform's admin app
(/healthz, /readyz, /metrics, /info on the instance's own port)."""

from __future__ import annotations

import asyncio
import gc
import logging
from typing import Any

from aiohttp import web

from reelcloud.gateway.chain import FilterChain, rejected
from reelcloud.gateway.filters.endpoint.health import HealthEndpoint
from reelcloud.gateway.filters.endpoint.openapi import OpenApiEndpoint
from reelcloud.gateway.filters.endpoint.proxy import ProxyEndpoint
from reelcloud.gateway.filters.endpoint.static import StaticEndpoint
from reelcloud.gateway.filters.inbound.authentication import AuthenticationFilter
from reelcloud.gateway.filters.inbound.client_address import ClientAddressFilter
from reelcloud.gateway.filters.inbound.cors_preflight import CorsPreflightFilter
from reelcloud.gateway.filters.inbound.fault_injection import FaultInjectionFilter
from reelcloud.gateway.filters.inbound.load_shedding import InFlight, LoadSheddingFilter
from reelcloud.gateway.filters.inbound.method_guard import MethodGuardFilter
from reelcloud.gateway.filters.inbound.rate_limit import RateLimitFilter
from reelcloud.gateway.filters.inbound.request_id import RequestIdFilter
from reelcloud.gateway.filters.inbound.routing import RoutingFilter
from reelcloud.gateway.filters.outbound.access_log import AccessLogFilter
from reelcloud.gateway.filters.outbound.cors import CorsFilter
from reelcloud.gateway.filters.outbound.metrics import MetricsFilter
from reelcloud.gateway.filters.outbound.request_id import ResponseIdFilter
from reelcloud.gateway.filters.outbound.security_headers import SecurityHeadersFilter
from reelcloud.gateway.http.origin import OriginPool
from reelcloud.gateway.http.server import start_server
from reelcloud.gateway.ratelimit import TokenBuckets
from reelcloud.gateway.routing import RouteTable
from reelcloud.gateway.settings import GatewaySettings
from reelcloud.platform.app import STATE, ServiceState, create_service_app
from reelcloud.platform.clock import SystemClock
from reelcloud.platform.revocations import Revocations
from reelcloud.platform.settings import Settings

log = logging.getLogger(__name__)


def build_chain(
    options: GatewaySettings, state: ServiceState, routes: RouteTable, revocations: Revocations
) -> FilterChain:
    trusted = frozenset(options.trusted_proxies)
    clock = SystemClock()
    in_flight = InFlight()
    pool = OriginPool(
        connect_timeout_s=options.connect_timeout_ms / 1000,
        # As many idle connections per instance as requests may be in flight to its origin:
        # a smaller pool closes and reopens connections all the time under steady load.
        max_idle_per_origin=options.origin_max_concurrency,
    )
    inbound = [
        MethodGuardFilter(),
        RequestIdFilter(trusted),
        ClientAddressFilter(trusted),
        LoadSheddingFilter(in_flight, options.max_in_flight),
        CorsPreflightFilter(),
        FaultInjectionFilter(state.settings.fault_injection),
        RoutingFilter(routes),
        AuthenticationFilter(
            state.settings.required_secret("session_secret"), revocations.session_revoked
        ),
        RateLimitFilter(
            TokenBuckets(options.rate_per_client_per_s, options.burst_per_client, clock),
            TokenBuckets(options.rate_per_member_per_s, options.burst_per_member, clock),
        ),
    ]
    endpoints = [
        ProxyEndpoint(
            state.discovery,
            pool,
            zone=state.settings.effective_zone,
            max_concurrency=options.origin_max_concurrency,
            read_timeout_s=options.read_timeout_ms / 1000,
            max_retries=options.max_retries,
            forward_faults=state.settings.fault_injection,
        ),
        StaticEndpoint(options.web_dir),
        HealthEndpoint(),
        OpenApiEndpoint(state.discovery, routes),
    ]
    outbound = [
        CorsFilter(options.cors_origins),
        SecurityHeadersFilter(),
        ResponseIdFilter(),
        MetricsFilter(state.metrics.registry),
    ]
    if options.access_log:
        outbound.append(AccessLogFilter(state.settings.service, state.settings.instance_id))
    return FilterChain(inbound, endpoints, outbound, in_flight)


def create_app(settings: Settings) -> web.Application:
    options = GatewaySettings.of(settings)
    app = create_service_app(settings)
    state = app[STATE]
    routes = RouteTable.load(options.routes_file)
    # Signed-out sessions are refused at the edge, on every route, within a second.
    revocations = Revocations(settings.nats_url)
    chain = build_chain(options, state, routes, revocations)
    limits = options.limits()
    listening = asyncio.Event()

    async def public_listener(app: web.Application) -> Any:
        await revocations.start()
        server = await start_server(
            chain.handle,
            rejected,
            host=options.listen_host,
            port=options.listen_port,
            limits=limits,
            reuse_port=True,  # several gateway processes share the port; the kernel balances
        )
        watcher = asyncio.create_task(routes.watch(options.routes_poll_interval_s))
        # What start-up made (modules, settings, the chain) lives as long as the process: keep
        # it out of the collector's scans, so a full collection under load walks only what
        # requests made, not the ~10^5 objects of the imports (a pause of tens of ms).
        gc.freeze()
        listening.set()
        log.info("gateway listening on %s:%d", options.listen_host, options.listen_port)
        yield
        watcher.cancel()
        server.close()
        # Let requests in flight finish (the platform's grace period bounds the wait).
        for _ in range(int(settings.shutdown_grace_s * 10)):
            if chain.in_flight.count == 0:
                break
            await asyncio.sleep(0.1)
        chain.close()
        await revocations.aclose()

    async def listening_ready() -> bool:
        return listening.is_set()

    state.readiness_checks.append(listening_ready)
    app.cleanup_ctx.append(public_listener)
    return app
