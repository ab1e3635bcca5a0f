"""Runs py-eureka-client (a real Eureka client from PyPI) in its own process.

It keeps threads and an event loop of its own, so it lives outside the test's process.
Usage: python -m tests.support.py_eureka_peer EUREKA_URL PORT WANTED_APP
Prints one JSON line once it sees WANTED_APP, then stops (and cancels) on a line from stdin.
"""

from __future__ import annotations

import asyncio
import json
import sys

from py_eureka_client import eureka_basic
from py_eureka_client.eureka_client import EurekaClient


async def main(base: str, port: int, wanted: str) -> None:
    client = EurekaClient(
        eureka_server=base,
        app_name="py-app",
        instance_ip="127.0.0.1",
        instance_host="127.0.0.1",
        instance_port=port,
        renewal_interval_in_secs=1,
        duration_in_secs=3,
        metadata={"zone": "z1"},
    )
    await client.start()
    for _ in range(100):
        app = client.applications.get_application(wanted)
        if app.up_instances:
            break
        await asyncio.sleep(0.1)
    apps = await eureka_basic.get_applications(base)  # XML, no Accept header
    delta = await eureka_basic.get_delta(base)
    seen = apps.get_application(wanted)
    print(
        json.dumps(
            {
                "ids": [i.instanceId for i in seen.instances],
                "ports": [i.port.port for i in seen.instances],
                "hashcode": apps.apps__hashcode,
                "delta_hashcode": delta.apps__hashcode,
                "via_client_cache": bool(client.applications.get_application(wanted).up_instances),
            }
        ),
        flush=True,
    )
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await client.stop()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
