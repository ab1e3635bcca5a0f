"""A database that goes away under a service: 503 `<service>_unavailable` over HTTP and
UNAVAILABLE over gRPC, for the request it was running and for those after, never a 500; and
the same service answers again once PostgreSQL is back. An unexpected exception is a 500 (or
INTERNAL) that names nothing of it. Real PostgreSQL, real sockets."""

import asyncio
from typing import Any

import aiohttp
import asyncpg
import grpc
import pytest
import pytest_asyncio
from aiohttp import web
from tests.support.engines import Postgres
from tests.support.waiting import wait_for

from reelcloud.platform.app import STATE, create_service_app
from reelcloud.platform.database import database_unavailable, open_database
from reelcloud.platform.errors import UnavailableError
from reelcloud.platform.rpc.status import from_grpc
from reelcloud.platform.settings import Settings
from reelcloud.rpc import accounts_pb2, accounts_pb2_grpc

pytestmark = pytest.mark.asyncio

SERVICE = "accounts"  # the name the errors carry; nothing of the real accounts service runs
ROLE = "reelcloud_accounts"
SECRET_SQL = "SELECT 'a secret query', pg_sleep(60)"


@pytest_asyncio.fixture
async def postgres(tmp_path):
    pg = Postgres(tmp_path, ROLE)
    await pg.start()
    await pg.engine.provision({ROLE: pg.password})
    try:
        yield pg
    finally:
        if pg.process is not None:
            await pg.process.stop()


class Probe:
    """A service whose HTTP route and gRPC method each run one query."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool
        self.querying = asyncio.Event()

    async def query(self, slow: bool) -> Any:
        if slow:
            self.querying.set()
        return await self.pool.fetchval(SECRET_SQL if slow else "SELECT 42")


@pytest_asyncio.fixture
async def service(postgres, tmp_path):
    settings = Settings(
        service=SERVICE,
        data_dir=tmp_path,
        database_url=postgres.url,
        log_format="text",
    )
    app = create_service_app(settings, fetch_registry=False)
    pool = await open_database(settings, SERVICE, "CREATE TABLE IF NOT EXISTS t (x int)")
    probe = Probe(pool)

    async def route(request: web.Request) -> web.Response:
        if request.query.get("crash"):
            raise RuntimeError(f"/secret/path/{ROLE}.py: {SECRET_SQL}")
        return web.json_response({"value": await probe.query(bool(request.query.get("slow")))})

    class Servicer(accounts_pb2_grpc.AccountsServicer):  # type: ignore[misc]
        async def GetMember(self, request: Any, context: Any) -> Any:
            if request.member_id == "crash":
                raise RuntimeError(f"/secret/path/{ROLE}.py: {SECRET_SQL}")
            value = await probe.query(request.member_id == "slow")
            return accounts_pb2.Member(id=str(value))

    app.router.add_get("/probe", route)
    rpc = app[STATE].rpc
    rpc.add(
        accounts_pb2_grpc.add_AccountsServicer_to_server,
        Servicer(),
        accounts_pb2.DESCRIPTOR.services_by_name["Accounts"].full_name,
    )
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    grpc_port = await rpc.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{grpc_port}")
    try:
        yield f"http://127.0.0.1:{port}", accounts_pb2_grpc.AccountsStub(channel), probe
    finally:
        await channel.close()
        await rpc.stop(0)
        await runner.cleanup()
        pool.terminate()


async def get(http: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, Any]]:
    async with http.get(url) as reply:
        return reply.status, await reply.json()


async def member(stub: Any, member_id: str) -> Any:
    return await stub.GetMember(accounts_pb2.GetMemberRequest(member_id=member_id), timeout=30)


def assert_names_nothing_inside(body: object) -> None:
    text = str(body)
    for secret in ("secret", "pg_sleep", "/path", ROLE, "Traceback", "asyncpg", "Error"):
        assert secret not in text, (secret, text)


async def test_a_query_cut_off_by_the_database_going_away_is_a_503(postgres, service):
    base, _, probe = service
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
        assert await get(http, f"{base}/probe") == (200, {"value": 42})
        running = asyncio.ensure_future(get(http, f"{base}/probe?slow=1"))
        await asyncio.wait_for(probe.querying.wait(), 30)
        await postgres.stop()
        status, body = await running
        assert status == 503, body
        assert body["error"]["code"] == "accounts_unavailable"
        assert_names_nothing_inside(body)
        # While it is down: every request a 503, none a 500.
        for _ in range(3):
            status, body = await get(http, f"{base}/probe")
            assert (status, body["error"]["code"]) == (503, "accounts_unavailable")
        await postgres.start()

        async def answers() -> bool:
            return await get(http, f"{base}/probe") == (200, {"value": 42})

        await wait_for(answers, what="the service answers again once PostgreSQL is back")


async def test_over_grpc_it_is_unavailable_and_the_caller_sees_a_503(postgres, service):
    _, stub, probe = service
    assert (await member(stub, "fast")).id == "42"
    running = asyncio.ensure_future(member(stub, "slow"))
    await asyncio.wait_for(probe.querying.wait(), 30)
    await postgres.stop()
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await running
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    assert caught.value.details() == "accounts cannot reach its database; try again shortly"
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await member(stub, "fast")
    assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
    # The caller's platform error: a 503, naming the service and not the instance or method.
    error = from_grpc(caught.value, "accounts/GetMember@host:accounts:7")
    assert isinstance(error, UnavailableError)
    assert error.status == 503
    assert "host:accounts:7" not in error.message
    assert "GetMember" not in error.message
    assert "host:accounts:7" in str(error)  # kept for the logs


async def test_an_unexpected_exception_is_a_500_that_names_nothing_of_it(service):
    base, stub, _ = service
    async with aiohttp.ClientSession() as http:
        status, body = await get(http, f"{base}/probe?crash=1")
    assert status == 500
    assert body == {"error": {"code": "internal", "message": "internal error"}}
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await member(stub, "crash")
    assert caught.value.code() is grpc.StatusCode.INTERNAL
    assert caught.value.details() == "internal error"
    error = from_grpc(caught.value, "accounts/GetMember@host:accounts:7")
    assert error.status == 502
    assert error.to_dict() == {"error": {"code": "remote_error", "message": "accounts failed"}}


async def test_only_errors_of_reaching_the_database_are_unavailable():
    assert database_unavailable(asyncpg.UniqueViolationError("dup"), SERVICE) is None
    assert database_unavailable(asyncpg.InterfaceError("another operation"), SERVICE) is None
    assert database_unavailable(ValueError("x"), SERVICE) is None
    for exc in (
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.CannotConnectNowError("the database system is starting up"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.TooManyConnectionsError("sorry, too many clients already"),
        asyncpg.InterfaceError("pool is closing"),
        ConnectionRefusedError(111, "Connection refused"),
        TimeoutError(),
    ):
        error = database_unavailable(exc, SERVICE)
        assert error is not None, exc
        assert error.to_dict()["error"]["code"] == "accounts_unavailable"
    wrapped = RuntimeError("while loading")
    wrapped.__cause__ = ConnectionResetError()
    assert database_unavailable(wrapped, SERVICE) is not None
