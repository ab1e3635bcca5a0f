import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from reelcloud.platform.openapi import fragment
from reelcloud.services.accounts.api import OPERATIONS, member_message, retry_after
from reelcloud.services.accounts.models import BusyError, Member


@pytest.mark.asyncio
async def test_a_shed_sign_in_is_a_503_busy_with_retry_after_and_the_error_body():
    async def shed(request: web.Request) -> web.Response:
        raise BusyError("too many sign-ins at once", retry_after_s=2.2)

    app = web.Application(middlewares=[retry_after])
    app.router.add_post("/api/accounts/login", shed)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:
        reply = await client.post("/api/accounts/login", json={})
        assert reply.status == 503
        assert reply.headers["Retry-After"] == "3"
        assert await reply.json() == {
            "error": {"code": "busy", "message": "too many sign-ins at once"}
        }


def test_the_grpc_member_carries_its_plans_limits():
    member = member_message(Member("m-chen", "chen@x.test", "Chen", "GB", "basic", "active"))
    assert (member.plan, member.max_height, member.max_streams) == ("basic", 480, 1)


def test_the_public_routes_are_described_from_the_models_they_parse_and_render():
    described = fragment("accounts", OPERATIONS)
    paths = described["paths"]
    # Joining is the sign-up API's (apis/signup): accounts has no free sign-up route.
    assert set(paths) == {"/api/accounts/login", "/api/accounts/logout", "/api/accounts/me"}
    login = paths["/api/accounts/login"]["post"]
    assert {"200", "400", "401", "503"} <= set(login["responses"])
    assert paths["/api/accounts/me"]["get"]["security"] == [{"session": []}]
    schemas = described["components"]["schemas"]
    assert schemas["Login"]["additionalProperties"] is False
    assert {"token", "expires_at", "member", "profiles", "devices"} <= set(
        schemas["SignedIn"]["properties"]
    )
