"""`reelcloud up` in the foreground, as `make up` runs it: up with the shipped topology's
settings and embedded engines, every instance UP, and Ctrl-C leaves no process behind."""

import json
import os
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.request

import pytest
import yaml
from tests.support.cli import ROOT, cli_env, reelcloud, wait_gone, wait_status
from tests.support.factories import shipped_topology_dict
from tests.support.waiting import wait_for_sync


def test_up_then_ctrl_c_leaves_nothing_behind(tmp_path):
    doc = shipped_topology_dict()
    gateway = next(s for s in doc["services"] if s["name"] == "gateway")
    oca_port = doc["openconnect"]["port"]
    topology = tmp_path / "topology.yaml"
    topology.write_text(yaml.safe_dump(doc))
    data_dir = tmp_path / "data"

    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "reelcloud",
            "up",
            "--topology",
            str(topology),
            "--data-dir",
            str(data_dir),
        ],
        env=cli_env(),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job is
    ) as launcher:
        output: list[str] = []

        def read_all() -> None:
            # All along: a pipe nobody reads fills up and blocks the launcher's next print.
            for line in launcher.stdout:
                output.append(line)

        reader = threading.Thread(target=read_all, daemon=True)
        reader.start()
        try:
            wait_for_sync(
                lambda: (
                    any("platform up in" in line for line in output) or launcher.poll() is not None
                ),
                what=lambda: (
                    "the launcher says the platform is up; it printed:\n" + "".join(output)
                ),
                timeout_s=90,
                interval_s=0.1,
            )
            assert launcher.poll() is None, "".join(output)

            current = wait_status(
                data_dir, lambda s: all(i["status"] == "UP" for i in s["instances"])
            )
            services = sorted(i["service"] for i in current["instances"])
            assert services == [
                "accounts",
                "billing",
                "cache-control",
                "catalog",
                *["gateway"] * 2,
                "jobs",
                "license",
                *["oca"] * 5,
                "payments",
                "pipeline",
                *["play-api"] * 2,
                "playback",
                *["registry"] * 2,
                "signup-api",
                *["steering"] * 2,
            ]
            # The shipped engines, and a memcached per zone when the topology enables them.
            memcached = doc["engines"].get("memcached", {})
            per_zone = memcached.get("nodes_per_zone", 1) if memcached.get("enabled") else 0
            assert {e["name"] for e in current["engines"]} == {
                "postgres",
                "nats",
                "seaweedfs",
                *(["kafka"] if doc["engines"].get("kafka", {}).get("enabled") else []),
                *(f"memcached-{z}-{n}" for z in doc["zones"] for n in range(1, per_zone + 1)),
            }
            # Both gateway processes answer on the one shared port.
            base = f"http://127.0.0.1:{gateway['options']['listen_port']}"
            served = {urllib.request.urlopen(base + "/").status for _ in range(4)}
            assert served == {200}
            health = json.load(urllib.request.urlopen(base + "/healthcheck"))
            assert health == {"status": "healthy"}
            # Steering manifests are reached through the gateway (here: a request without a
            # session, refused by the steering service itself).
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(base + "/steering/v1/manifest?s=nonsense")
            assert refused.value.code == 400
            assert json.load(refused.value)["error"]["code"] == "bad_request"
            # Every OCA serves on its own address of the simulated network.
            for oca in doc["openconnect"]["ocas"]:
                url = f"http://{oca['address']}:{oca_port}/healthz"
                assert urllib.request.urlopen(url).read() == b"ok"
            pids = [i["pid"] for i in current["instances"]] + [e["pid"] for e in current["engines"]]

            os.killpg(launcher.pid, signal.SIGINT)  # what Ctrl-C does to the foreground job
            assert launcher.wait(timeout=60) == 0, "".join(output)
        finally:
            if launcher.poll() is None:
                launcher.kill()
            reader.join(timeout=10)
    # The launcher returns once it has stopped every child; a pid can linger only as long as
    # the kernel takes to reap it.
    wait_for_sync(
        lambda: not [pid for pid in pids if os.path.exists(f"/proc/{pid}")],
        what=lambda: f"pids {[p for p in pids if os.path.exists(f'/proc/{p}')]} are gone",
        timeout_s=10,
    )
    assert wait_gone(str(data_dir)) == []
    assert not (data_dir / "launcher.json").exists()
    # status now says plainly that nothing runs there.
    after = reelcloud("status", "--data-dir", str(data_dir))
    assert after.returncode == 1
    assert "no platform is running" in after.stderr
