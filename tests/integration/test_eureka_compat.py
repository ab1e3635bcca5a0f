"""A real Eureka client from PyPI (py-eureka-client) against our registry, both ways."""

import asyncio
import json
import sys
from pathlib import Path

import pytest
from tests.support.factories import discovery_client
from tests.support.servers import wait_for

from reelcloud.registry.api import SERVER

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[2]


async def test_real_eureka_client_and_ours_see_each_other(registry):
    base = registry.url + "/eureka/"
    ours = discovery_client([base], "catalog", 1, port=9556, fetch=True)
    await ours.start()
    theirs = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.py_eureka_peer", "peer", base, "9555", "CATALOG",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip
    try:
        line = await asyncio.wait_for(theirs.stdout.readline(), 20)
        seen = json.loads(line)
        # Theirs (XML, no Accept header) found ours, in its cache and by direct fetches.
        assert seen["ids"] == ["host:catalog:1"]
        assert seen["ports"] == [9556]
        assert seen["via_client_cache"] is True
        assert seen["delta_hashcode"] == seen["hashcode"]
        # Ours found theirs.
        found = await wait_for(lambda: ours.instances("py-app"), timeout_s=5)
        assert found[0].port == 9555
        assert found[0].zone == "z1"
    finally:
        theirs.stdin.write(b"stop\n")
        await theirs.stdin.drain()
        assert await asyncio.wait_for(theirs.wait(), 15) == 0
        await ours.aclose()
    registry_view = registry.app[SERVER].registry.applications()
    assert registry_view.instances("PY-APP") == []  # it cancelled on stop
    assert registry_view.instances("CATALOG") == []
