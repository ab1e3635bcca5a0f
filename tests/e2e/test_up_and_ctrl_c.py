"""`reelcloud up` in the foreground, as `make up` runs it: up with the shipped topology's
settings and embedded engines, every instance UP, and Ctrl-C leaves no process behind."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
import yaml
from tests.support.cli import ROOT, cli_env, reelcloud, wait_gone, wait_status
from tests.support.factories import free_port

from reelcloud.platform.topology import default_topology_path


def test_up_then_ctrl_c_leaves_nothing_behind(tmp_path):
    doc = yaml.safe_load(default_topology_path().read_text())
    for peer in doc["registry"]["peers"]:  # the shipped topology, on ports free right now
        peer["port"] = free_port()
    gateway = next(s for s in doc["services"] if s["name"] == "gateway")
    gateway["options"]["listen_port"] = free_port()
    doc["openconnect"]["port"] = oca_port = free_port()
    topology = tmp_path / "topology.yaml"
    topology.write_text(yaml.safe_dump(doc))
    data_dir = tmp_path / "data"

    started = time.monotonic()
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
        try:
            assert launcher.stdout is not None
            output = []
            for line in launcher.stdout:
                output.append(line)
                if "platform up in" in line:
                    break
            assert any("platform up in" in line for line in output), "".join(output)
            up_after = time.monotonic() - started
            assert up_after < 30, f"took {up_after:.1f} s"

            current = wait_status(
                data_dir, lambda s: all(i["status"] == "UP" for i in s["instances"]), timeout_s=15
            )
            services = sorted(i["service"] for i in current["instances"])
            assert services == [
                "accounts",
                "cache-control",
                "catalog",
                *["gateway"] * 2,
                "license",
                *["oca"] * 5,
                *["play-api"] * 2,
                "playback",
                *["registry"] * 2,
                *["steering"] * 2,
            ]
            assert {e["name"] for e in current["engines"]} == {"postgres", "nats", "seaweedfs"}
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
            assert launcher.wait(timeout=30) == 0
        finally:
            if launcher.poll() is None:
                launcher.kill()
    for pid in pids:
        assert not os.path.exists(f"/proc/{pid}"), f"pid {pid} survived"
    assert wait_gone(str(data_dir), timeout_s=5) == []
    assert not (data_dir / "launcher.json").exists()
    # status now says plainly that nothing runs there.
    after = reelcloud("status", "--data-dir", str(data_dir))
    assert after.returncode == 1
    assert "no platform is running" in after.stderr
