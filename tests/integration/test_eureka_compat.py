"""A real Eureka client from PyPI (py-eureka-client) against our registry, both ways."""

import asyncio
import json
import sys
from pathlib import Path

import pytest
from tests.support.factories import discovery_client, registry_credential
from tests.support.py_eureka_peer import with_credentials
from tests.support.servers import wait_for

from reelcloud.registry.api import SERVER

pytestmark = pytest.mark.asyncio
ROOT = Path(__file__).resolve().parents[2]


def credentialed(url: str, user: str) -> str:
    """The registry URL with `user`'s credential in it, as py-eureka-client takes one."""
    return with_credentials(url, user, registry_credential(user)["registry_password"])


async def test_real_eureka_client_and_ours_see_each_other(registry):
    base = registry.url + "/eureka/"
    ours = discovery_client([base], "catalog", 1, port=9556, fetch=True)
    await ours.start()
    theirs = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.py_eureka_peer",
        "peer", credentialed(base, "py-app"), "9555", "CATALOG",
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
        # Its heartbeats (every second) carry its credential too: the lease is renewed.
        held = registry.app[SERVER].registry
        await wait_for(
            lambda: (
                held.instance("PY-APP", found[0].instance_id).lease_info.last_renewal_ts
                > held.instance("PY-APP", found[0].instance_id).lease_info.registration_ts
            ),
            what="py-eureka-client renews its lease with the credential from the URL",
            timeout_s=10,
        )
    finally:
        theirs.stdin.write(b"stop\n")
        await theirs.stdin.drain()
        assert await asyncio.wait_for(theirs.wait(), 15) == 0
        await ours.aclose()
    registry_view = registry.app[SERVER].registry.applications()
    assert registry_view.instances("PY-APP") == []  # it cancelled on stop
    assert registry_view.instances("CATALOG") == []


async def statuses_of_calls(url: str) -> dict[str, int]:
    """The HTTP status py-eureka-client got for a register, renew, status change, read and
    cancel at `url` (0: it went through)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.support.py_eureka_peer", "calls", url,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        cwd=ROOT,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, stderr.decode()[-2000:]
    return json.loads(stdout.decode().strip().splitlines()[-1])


async def test_real_eureka_client_is_refused_without_its_credential(registry):
    base = registry.url + "/eureka/"
    everything = {"register", "renew", "status", "read", "cancel"}
    assert await statuses_of_calls(base) == dict.fromkeys(everything, 401)
    wrong = with_credentials(base, "py-app", "0" * 64)
    assert await statuses_of_calls(wrong) == dict.fromkeys(everything, 401)
    # Another service's credential reads, but changes nothing of PY-APP.
    other = await statuses_of_calls(credentialed(base, "catalog"))
    assert other == {**dict.fromkeys(everything - {"read"}, 403), "read": 0}
    assert registry.app[SERVER].registry.applications().instances("PY-APP") == []
    # Its own: all of it goes through.
    assert await statuses_of_calls(credentialed(base, "py-app")) == dict.fromkeys(everything, 0)
