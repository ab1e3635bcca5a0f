"""The launcher's control socket: `status`, `scale` and `down` from other CLI invocations.

An HTTP API on a Unix socket inside the data directory, so only local users with access to
the directory can drive the platform, and two data directories never mix.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson
from aiohttp import web

from reelcloud.launcher.datadir import DataDir
from reelcloud.launcher.supervisor import Supervisor
from reelcloud.platform.errors import BadRequestError, LauncherError, ReelcloudError

SUPERVISOR = web.AppKey("supervisor", Supervisor)


async def _status(request: web.Request) -> web.Response:
    return web.json_response(await request.app[SUPERVISOR].status())


async def _scale(request: web.Request) -> web.Response:
    try:
        body = orjson.loads(await request.read())
        service, count = str(body["service"]), int(body["instances"])
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise BadRequestError('body must be {"service": NAME, "instances": N}') from None
    ids = await request.app[SUPERVISOR].scale(service, count)
    return web.json_response({"service": service, "instances": ids})


async def _shutdown(request: web.Request) -> web.Response:
    request.app[SUPERVISOR].stop_requested.set()
    return web.json_response({"status": "stopping"}, status=202)


@web.middleware
async def _errors(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        response: web.StreamResponse = await handler(request)
        return response
    except ReelcloudError as exc:
        return web.json_response(exc.to_dict(), status=exc.status)


class ControlServer:
    def __init__(self, supervisor: Supervisor) -> None:
        self.app = web.Application(middlewares=[_errors])
        self.app[SUPERVISOR] = supervisor
        self.app.router.add_get("/status", _status)
        self.app.router.add_post("/scale", _scale)
        self.app.router.add_post("/shutdown", _shutdown)
        self._path = supervisor.datadir.control_socket
        self._runner = web.AppRunner(self.app, handle_signals=False, access_log=None)

    async def start(self) -> None:
        self._path.unlink(missing_ok=True)
        await self._runner.setup()
        await web.UnixSite(self._runner, str(self._path)).start()

    async def aclose(self) -> None:
        await self._runner.cleanup()
        self._path.unlink(missing_ok=True)


class ControlClient:
    """Talks to the launcher of one data directory."""

    def __init__(self, datadir: DataDir, timeout_s: float = 90.0) -> None:
        self.datadir = datadir
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    async def _call(self, method: str, path: str, body: Any = None) -> Any:
        socket = self.datadir.control_socket
        if not socket.exists():
            raise LauncherError(f"no platform is running with data dir {self.datadir.root}")
        connector = aiohttp.UnixConnector(path=str(socket))
        try:
            async with (
                aiohttp.ClientSession(connector=connector, timeout=self._timeout) as session,
                session.request(
                    method, f"http://launcher{path}", data=orjson.dumps(body) if body else None
                ) as response,
            ):
                doc = await response.json(content_type=None)
                if response.status >= 400:
                    raise LauncherError(doc.get("error", {}).get("message", str(response.status)))
                return doc
        except aiohttp.ClientConnectionError as exc:
            raise LauncherError(
                f"no platform is running with data dir {self.datadir.root} ({exc})"
            ) from exc

    async def status(self) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", "/status")
        return result

    async def scale(self, service: str, instances: int) -> dict[str, Any]:
        result: dict[str, Any] = await self._call(
            "POST", "/scale", {"service": service, "instances": instances}
        )
        return result

    async def shutdown(self) -> None:
        await self._call("POST", "/shutdown")
