"""A small service used to exercise the platform machinery (launcher, app factory, shutdown)
before the real services exist. Tests run it through the launcher as `echo`."""

from __future__ import annotations

import asyncio

from aiohttp import web

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.errors import NotFoundError
from reelcloud.platform.logging import request_id_var
from reelcloud.platform.settings import Settings

SETTINGS = web.AppKey("settings", Settings)


async def echo(request: web.Request) -> web.Response:
    body = await request.read()
    return web.json_response(
        {
            "bytes": len(body),
            "request_id": request_id_var.get(),
            "instance_id": request.app[SETTINGS].instance_id,
            "database_url_set": request.app[SETTINGS].database_url is not None,
            "memcached": request.app[SETTINGS].memcached,
        }
    )


async def slow(request: web.Request) -> web.Response:
    await asyncio.sleep(float(request.query.get("s", "1")))
    return web.json_response({"slept_s": float(request.query.get("s", "1"))})


async def call(request: web.Request) -> web.Response:
    """Calls a pretend dependency through a command; ?fail=1 makes it fail, ?ms= slow."""
    fail = request.query.get("fail") == "1"
    delay_s = float(request.query.get("ms", "0")) / 1000

    async def dependency() -> str:
        await asyncio.sleep(delay_s)
        if fail:
            raise ConnectionError("dependency down")
        return "fresh"

    result = await request.app[STATE].commands.execute(
        "echo.dependency", dependency, group="dependency", fallbacks=[lambda: "fallback"]
    )
    return web.json_response({"result": result})


async def headers(request: web.Request) -> web.Response:
    return web.json_response({k.lower(): v for k, v in request.headers.items()})


async def missing(request: web.Request) -> web.Response:
    raise NotFoundError("there is no such thing")


async def boom(request: web.Request) -> web.Response:
    raise RuntimeError("a bug with a secret stack trace")


def create_app(settings: Settings) -> web.Application:
    app = create_service_app(settings)
    app[SETTINGS] = settings
    app.router.add_post("/echo", echo)
    app.router.add_get("/slow", slow)
    app.router.add_post("/slow", slow)
    app.router.add_get("/headers", headers)
    app.router.add_get("/call", call)
    app.router.add_get("/missing", missing)
    app.router.add_get("/boom", boom)
    return app
