"""The public API as the gateway publishes it (/api/openapi.json) holds against the running
platform: schemathesis generates requests from the document — valid, boundary and invalid —
and checks that no answer is a 5xx and every answer (error bodies included) has a declared
status, content type and schema."""

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from tests.support.platform import play_path_platform, signup_services
from tests.support.titles import publish_title, wait_playable

from reelcloud.client import PlatformClient

pytestmark = pytest.mark.asyncio

ISP_A_CLIENT = "127.10.0.9"
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_schema_conformance",
        "response_headers_conformance",
        "ignored_auth",  # an operation that needs the session refuses a request without one
    ]
)
# Routes every public client uses; the document must describe each.
EXPECTED_OPERATIONS = {
    ("post", "/api/accounts/login"),
    ("get", "/api/signup/plans"),
    ("post", "/api/signup"),
    ("get", "/api/signup/account"),
    ("get", "/api/accounts/me"),
    ("get", "/api/catalog/titles"),
    ("get", "/api/catalog/titles/{title_id}"),
    ("post", "/api/play"),
    ("get", "/api/play/{play_id}/master.m3u8"),
    ("post", "/api/play/{play_id}/heartbeat"),
    ("post", "/api/play/{play_id}/stop"),
}


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    with play_path_platform(
        tmp_path_factory.mktemp("contract"), more_services=signup_services()
    ) as (platform, _):
        yield platform


async def test_the_gateway_publishes_every_public_route(platform):
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{platform.gateway}/api/openapi.json") as reply,
    ):
        assert reply.status == 200
        document = await reply.json()
    assert document["openapi"].startswith("3.1")
    assert "x-reelcloud-missing" not in document, document.get("x-reelcloud-missing")
    described = {(m, p) for p, ops in document["paths"].items() for m in ops}
    assert described >= EXPECTED_OPERATIONS, EXPECTED_OPERATIONS - described
    play = document["paths"]["/api/play"]["post"]
    assert play["security"] == [{"session": []}]
    assert {"401", "403", "409", "503"} <= set(play["responses"])


async def test_schemathesis_finds_no_server_error_and_no_undeclared_answer(
    platform, tmp_path: Path
):
    title = await publish_title(platform, tmp_path, "Contract Title", ["US"])
    await wait_playable(
        platform, title["title_id"], source_address=ISP_A_CLIENT, email="alice@reelcloud.test"
    )
    async with PlatformClient(platform.gateway, source_address=ISP_A_CLIENT) as client:
        await client.sign_in("alice@reelcloud.test", "reelcloud")
        token = client.token
    report = tmp_path / "schemathesis.json"
    run = await asyncio.to_thread(
        subprocess.run,
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "run",
            f"{platform.gateway}/api/openapi.json",
            "--checks",
            CHECKS,
            "--header",
            f"Authorization: Bearer {token}",
            # Signing out would turn the rest of the run into 401s.
            "--exclude-path",
            "/api/accounts/logout",
            "--max-examples",
            "15",
            "--workers",
            "1",
            "--request-timeout",
            "10",
            "--seed",
            "21",
            "--report",
            "ndjson",
            "--report-ndjson-path",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # The run really exercised the API: every expected operation was tested.
    tested = operations_tested_in(report)
    assert {f"{m.upper()} {p}" for m, p in EXPECTED_OPERATIONS} <= tested, run.stdout[-3000:]


def operations_tested_in(report: Path) -> set[str]:
    """Labels ("POST /api/play") of the operations the ndjson report says were tested (a
    scenario that finished other than skipped)."""
    labels = set()
    for line in report.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        if finished and finished["status"] != "skip":
            labels.add(finished["recorder"]["label"])
    return labels
