"""Running a service process: bind, register, announce, then drain and leave on SIGTERM.

Shutdown order matters: first `/readyz` turns 503 and the instance is cancelled in the registry
(so no new traffic is sent here), then the listener closes and in-flight requests get the rest
of the grace period; the process is gone within `shutdown_grace_s` (5 s).
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
from collections.abc import Callable
from pathlib import Path

import orjson
from aiohttp import web

from reelcloud.platform.app import STATE
from reelcloud.platform.discovery import build_instance_info
from reelcloud.platform.errors import ConfigurationError
from reelcloud.platform.rpc.client import GRPC_PORT_KEY
from reelcloud.platform.settings import Settings

log = logging.getLogger(__name__)

AppFactory = Callable[[Settings], web.Application]

REGISTRY_ENTRYPOINT = "reelcloud.registry.api:create_app"
OCA_ENTRYPOINT = "reelcloud.openconnect.app:create_app"  # every OCA of the topology runs this


def resolve_entrypoint(settings: Settings) -> AppFactory:
    """The app factory of `settings.service`: the registry's, or the one the topology names."""
    if settings.service == "registry":
        spec = REGISTRY_ENTRYPOINT
    elif settings.service == "oca":
        spec = OCA_ENTRYPOINT
    else:
        spec = settings.topology.service(settings.service).entrypoint
    module_name, _, attr = spec.partition(":")
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"entrypoint {spec!r} cannot be loaded: {exc}") from exc
    if not callable(factory):
        raise ConfigurationError(f"entrypoint {spec!r} is not callable")
    return factory  # type: ignore[no-any-return]


def announce_path(settings: Settings) -> Path:
    """Where a process tells the launcher its address once it listens."""
    return settings.data_dir / "run" / f"{settings.instance_id}.json"


def _announce(settings: Settings, address: str) -> None:
    path = announce_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps({"pid": os.getpid(), "address": address}))
    tmp.replace(path)


async def serve(settings: Settings, app: web.Application, stop: asyncio.Event) -> None:
    state = app[STATE]
    grace_s = settings.shutdown_grace_s
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=max(0.5, grace_s - 1.5)
    )
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port, reuse_port=settings.reuse_port)
    await site.start()
    port = int(runner.addresses[0][1])
    state.address = f"{settings.host}:{port}"
    metadata = {}
    if state.rpc:
        metadata[GRPC_PORT_KEY] = str(await state.rpc.start())
    registry = settings.topology.registry
    state.discovery.instance = build_instance_info(
        service=settings.service,
        instance_id=settings.instance_id or f"{settings.hostname}:{settings.service}:{port}",
        host=settings.host,
        port=port,
        zone=settings.effective_zone,
        renewal_interval_s=registry.lease_renewal_interval_s,
        lease_duration_s=registry.lease_duration_s,
        metadata=metadata,
    )
    await state.discovery.start()
    state.ready = True
    if settings.instance_id:
        _announce(settings, state.address)
    log.info("serving %s on %s", settings.service, state.address)

    await stop.wait()
    log.info("shutting down: deregistering, then draining in-flight requests")
    state.draining = True
    await state.discovery.aclose(cancel_timeout_s=1.0)
    await asyncio.gather(state.rpc.stop(grace_s=max(0.5, grace_s - 1.5)), runner.cleanup())
    if settings.instance_id:
        announce_path(settings).unlink(missing_ok=True)
    log.info("stopped")


async def _main(settings: Settings, factory: AppFactory) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await serve(settings, factory(settings), stop)


def run_service(settings: Settings) -> None:
    factory = resolve_entrypoint(settings)
    if settings.event_loop == "uvloop":
        import uvloop

        uvloop.run(_main(settings, factory))
    else:
        asyncio.run(_main(settings, factory))
