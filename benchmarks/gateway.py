"""Gateway benchmark: a small JSON request (a) straight to the origin, (b) through the
gateway with all its filters on, (c) through nginx `proxy_pass`, same origin, same run.

The origin is nginx answering a fixed ~200-byte JSON body (so the origin is never what limits
a proxy), registered in a real registry for the gateway to discover. Each proxy runs one
worker pinned to CPU 1; wrk and the origin share CPU 0 (`taskset`). wrk: 1 thread, 64
connections. The half-load figure paces wrk (a Lua `delay`) to half the gateway's maximum rate
and reads its p99; pacing per connection is closed-loop, so it understates queueing delay a
little (coordinated omission).

Needs Debian's nginx and wrk (installed here when missing and running as root).

    python benchmarks/gateway.py [--quick]
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.factories import free_port, instance, topology_dict

import harness
from reelcloud.platform.eureka import json_codec
from tools import ensure_tools, nginx_conf, start, wait_http, wrk

BODY = json.dumps(
    {
        "id": "t-1042",
        "title": "The Long Night",
        "year": 2024,
        "rating": "TV-14",
        "genres": ["drama", "thriller"],
        "runtime_s": 3120,
        "available": True,
    }
)


async def register_origin(registry_url: str, port: int) -> None:
    origin = instance("BENCH-ORIGIN", 1, port=port)
    origin.vip_address = "bench-origin"
    async with (
        aiohttp.ClientSession() as session,
        session.post(
            f"{registry_url}/eureka/apps/BENCH-ORIGIN",
            data=json_codec.encode_instance(origin),
            headers={"Content-Type": "application/json"},
        ) as response,
    ):
        assert response.status == 204, await response.text()


async def run(quick: bool) -> dict[str, float]:
    ensure_tools()
    seconds = 5 if quick else 10
    work = Path(tempfile.mkdtemp(prefix="reelcloud-gw-bench-"))
    origin_port, nginx_port, gateway_port, registry_port = (free_port() for _ in range(4))
    processes: list[subprocess.Popen[bytes]] = []
    try:
        body = BODY.replace("'", "")
        origin = nginx_conf(
            work,
            "origin",
            f"""listen 127.0.0.1:{origin_port};
          location / {{ default_type application/json; return 200 '{body}'; }}""",
        )
        proxy = nginx_conf(
            work,
            "proxy",
            f"""listen 127.0.0.1:{nginx_port};
          location / {{ proxy_pass http://origin; proxy_http_version 1.1;
                       proxy_set_header Connection ""; }}""",
            upstream=f"upstream origin {{ server 127.0.0.1:{origin_port}; keepalive 64; }}",
        )
        processes.append(
            start(["nginx", "-c", str(origin), "-p", str(work)], 0, work / "origin.log")
        )
        processes.append(start(["nginx", "-c", str(proxy), "-p", str(work)], 1, work / "proxy.log"))

        routes = work / "routes.yaml"
        routes.write_text(yaml.safe_dump({"routes": [{"prefix": "/", "origin": "bench-origin"}]}))
        gateway = {
            "name": "gateway",
            "entrypoint": "reelcloud.gateway.app:create_app",
            "options": {
                "listen_port": gateway_port,
                "routes_file": str(routes),
                "rate_per_client_per_s": 1e9,
                "burst_per_client": 10**9,
            },
        }
        doc = topology_dict(
            [registry_port],
            services=[gateway],
            lease_renewal_interval_s=30,
            lease_duration_s=90,
            registry_fetch_interval_s=1,
        )
        (work / "topology.yaml").write_text(yaml.safe_dump(doc))
        env = {
            **os.environ,
            "REELCLOUD_TOPOLOGY_FILE": str(work / "topology.yaml"),
            "REELCLOUD_DATA_DIR": str(work),
            "REELCLOUD_LOG_LEVEL": "INFO",
        }
        registry_env = {
            **env,
            "REELCLOUD_PORT": str(registry_port),
            "REELCLOUD_INSTANCE_ID": "bench:registry:1",
        }
        processes.append(
            start(
                [sys.executable, "-m", "reelcloud", "run", "registry"],
                0,
                work / "registry.log",
                registry_env,
            )
        )
        await wait_http(f"http://127.0.0.1:{registry_port}/readyz")
        await register_origin(f"http://127.0.0.1:{registry_port}", origin_port)
        gateway_env = {**env, "REELCLOUD_INSTANCE_ID": "bench:gateway:1"}
        processes.append(
            start(
                [sys.executable, "-m", "reelcloud", "run", "gateway"],
                1,
                work / "gateway.log",
                gateway_env,
            )
        )
        await wait_http(f"http://127.0.0.1:{gateway_port}/title")
        await wait_http(f"http://127.0.0.1:{nginx_port}/title")

        # nginx and the gateway alternate over several rounds (this machine's figures drift
        # by tens of percent between runs); each side reports its median round.
        rounds = 1 if quick else 3
        samples: dict[str, list[dict[str, float]]] = {"direct": [], "nginx": [], "gateway": []}
        ports = {"direct": origin_port, "nginx": nginx_port, "gateway": gateway_port}
        for port in ports.values():
            wrk(f"http://127.0.0.1:{port}/title", 1)  # warm up connections and pools
        for round_no in range(rounds):
            for name, port in ports.items():
                print(f"round {round_no + 1}/{rounds} {name}: wrk {seconds} s …", file=sys.stderr)
                samples[name].append(wrk(f"http://127.0.0.1:{port}/title", seconds))
        results = {
            name: sorted(runs, key=lambda r: r["rps"])[len(runs) // 2]
            for name, runs in samples.items()
        }
        half = results["gateway"]["rps"] / 2
        script = work / "paced.lua"
        script.write_text(f"function delay() return {1000 * 64 / half:.3f} end\n")
        print(f"gateway at half load ({half:,.0f} req/s) …", file=sys.stderr, flush=True)
        results["gateway_half"] = wrk(f"http://127.0.0.1:{gateway_port}/title", seconds, script)
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            proc.wait(timeout=10)

    print(f"{'':14}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'non-2xx':>9}")
    for name, r in results.items():
        print(
            f"{name:14}{r['rps']:>10,.0f}{r.get('p50_ms', 0):>9.2f}"
            f"{r.get('p99_ms', 0):>9.2f}{r['non_2xx']:>9.0f}"
        )
    return {
        "ratio_vs_nginx": round(results["gateway"]["rps"] / results["nginx"]["rps"], 3),
        "ratio_vs_direct": round(results["gateway"]["rps"] / results["direct"]["rps"], 3),
        "p99_ms_half_load": round(results["gateway_half"].get("p99_ms", 0.0), 2),
        "gateway_rps": round(results["gateway"]["rps"]),
        "nginx_rps": round(results["nginx"]["rps"]),
        "direct_rps": round(results["direct"]["rps"]),
        "gateway_p99_ms_full_load": round(results["gateway"].get("p99_ms", 0.0), 2),
    }


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
