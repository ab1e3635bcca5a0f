"""The SDK asks again when a service sheds load with 503 + Retry-After, and only then."""

import pytest
from aiohttp import web

from reelcloud.client import PlatformClient
from reelcloud.platform.errors import UnavailableError

pytestmark = pytest.mark.asyncio

ANSWER = {"token": "t", "member": {"id": "m"}, "profiles": [], "devices": []}


async def serve(handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_post("/api/accounts/login", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    return runner, f"http://127.0.0.1:{port}"


def busy() -> web.Response:
    body = b'{"error":{"code":"busy","message":"hashing queue full"}}'
    return web.Response(
        status=503, body=body, headers={"Retry-After": "0"}, content_type="application/json"
    )


async def test_a_shed_sign_in_is_asked_again_until_it_is_taken():
    calls = []

    async def handler(request):
        calls.append(1)
        return busy() if len(calls) < 3 else web.json_response(ANSWER)

    runner, url = await serve(handler)
    try:
        async with PlatformClient(url) as client:
            await client.sign_in("a@b.test", "pw")
            assert client.token == "t"
    finally:
        await runner.cleanup()
    assert len(calls) == 3


async def test_a_503_without_retry_after_is_not_retried():
    calls = []

    async def handler(request):
        calls.append(1)
        return web.json_response(
            {"error": {"code": "accounts_unavailable", "message": "x"}}, status=503
        )

    runner, url = await serve(handler)
    try:
        async with PlatformClient(url) as client:
            with pytest.raises(UnavailableError):
                await client.sign_in("a@b.test", "pw")
    finally:
        await runner.cleanup()
    assert len(calls) == 1


async def test_gives_up_after_the_retry_budget():
    calls = []

    async def handler(request):
        calls.append(1)
        return busy()

    runner, url = await serve(handler)
    try:
        async with PlatformClient(url) as client:
            with pytest.raises(UnavailableError, match="hashing queue full"):
                await client.sign_in("a@b.test", "pw")
    finally:
        await runner.cleanup()
    assert len(calls) == 4
