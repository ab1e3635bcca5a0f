"""HTTP routes every service gets for its commands: the Hystrix stream, the dashboard page,
and reading or changing command and bulkhead settings at run time (changes take the admin
credential; reads stay open)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from aiohttp import web

from reelcloud.platform.admin import admin_only
from reelcloud.platform.errors import BadRequestError
from reelcloud.platform.resilience.runner import CommandRunner
from reelcloud.platform.resilience.stream import HystrixStream

COMMANDS = web.AppKey("resilience_commands", CommandRunner)

DASHBOARD = Path(__file__).parent / "dashboard.html"


async def _dashboard(request: web.Request) -> web.FileResponse:
    return web.FileResponse(DASHBOARD, headers={"Cache-Control": "no-cache"})


async def _command_status(request: web.Request) -> web.Response:
    commands = request.app[COMMANDS]
    return web.json_response(
        {
            name: {
                "group": metrics.group,
                "circuit": (b.state.value if (b := commands.breaker(name)) else "CLOSED"),
                "config": asdict(commands.config.command(name)),
                "events": {e.value: n for e, n in metrics.cumulative.items()},
            }
            for name, metrics in commands.metrics.items()
        }
    )


async def _read_changes(request: web.Request) -> dict[str, Any]:
    try:
        changes = await request.json()
    except ValueError:
        raise BadRequestError("body must be a JSON object of settings to change") from None
    if not isinstance(changes, dict) or not changes:
        raise BadRequestError("body must be a non-empty JSON object of settings to change")
    return changes


@admin_only
async def _set_command(request: web.Request) -> web.Response:
    """Change a command's settings on the running process (chaos experiments, tuning)."""
    config = request.app[COMMANDS].config
    updated = config.set_command(request.match_info["name"], **await _read_changes(request))
    return web.json_response(asdict(updated))


@admin_only
async def _set_group(request: web.Request) -> web.Response:
    config = request.app[COMMANDS].config
    updated = config.set_group(request.match_info["name"], **await _read_changes(request))
    return web.json_response(asdict(updated))


def add_resilience_routes(app: web.Application, commands: CommandRunner) -> None:
    app[COMMANDS] = commands
    app.router.add_get("/hystrix.stream", HystrixStream(commands).handle)
    app.router.add_get("/hystrix", _dashboard)
    app.router.add_get("/resilience/commands", _command_status)
    app.router.add_put("/resilience/commands/{name}", _set_command)
    app.router.add_put("/resilience/groups/{name}", _set_group)
