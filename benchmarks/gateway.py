"""Gateway benchmark: a small JSON request (a) straight to the origin, (b) through the
gateway with all its filters on, (c) through nginx `proxy_pass`, same origin, same run.

The origin is nginx answering a fixed ~200-byte JSON body (so the origin is never what limits
a proxy), registered in a real registry for the gateway to discover. Each proxy runs one
worker pinned to CPU 1; wrk and the origin share CPU 0 (`taskset`). wrk: 1 thread, 64
connections; nginx keeps up to 64 idle upstream connections, the gateway up to its per-origin
concurrency cap (200).

This machine is shared and its figures move by tens of percent from one run to the next, so
the three targets alternate within each round (the order turning round by round) and each
ratio is the median over rounds of the ratio within a round; raw figures are medians. Beside
the rates, the proxies' CPU time per request (utime + stime from /proc, nginx: master and
worker) is reported: it is less sensitive to other load than a rate, and its ratio shows
whether nginx's rate was limited by its own core or by the client's (`nginx_core_share`,
the share of CPU 1 nginx used during its runs: well under 1.0 means wrk and the origin on
CPU 0 held nginx back, and the rate ratio flatters the gateway).

The half-load figure paces wrk (a Lua `delay`) to half the gateway's median maximum rate and
reads its p99, the median of 5 runs (each printed and listed: a neighbour's burst on this
shared machine can land in one of them); nginx runs the same paced load between them as a
control (`nginx_p99_ms_same_pace`). Pacing per connection is closed-loop, so it understates
queueing delay a little (coordinated omission).

Needs Debian's nginx and wrk (installed here when missing and running as root).

    python benchmarks/gateway.py [--quick]
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.factories import (
    TEST_REGISTRY_SECRET,
    TEST_SESSION_SECRET,
    free_port,
    instance,
    registry_auth,
    registry_env,
    topology_dict,
)

import harness
from reelcloud.platform.eureka import json_codec
from tools import cpu_seconds, ensure_tools, nginx_conf, process_tree, start, wait_http, wrk

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
            headers={"Content-Type": "application/json", **registry_auth("bench-origin")},
        ) as response,
    ):
        assert response.status == 204, await response.text()


async def run(quick: bool) -> dict[str, float]:
    ensure_tools()
    seconds = 4 if quick else 8
    work = Path(tempfile.mkdtemp(prefix="reelcloud-gw-bench-"))
    origin_port, nginx_port, gateway_port, registry_port = (free_port() for _ in range(4))
    processes: list[subprocess.Popen[bytes]] = []
    finished = False
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
        registry_process_env = {
            **env,
            "REELCLOUD_PORT": str(registry_port),
            "REELCLOUD_INSTANCE_ID": "bench:registry:1",
            "REELCLOUD_REGISTRY_SECRET": TEST_REGISTRY_SECRET,
        }
        processes.append(
            start(
                [sys.executable, "-m", "reelcloud", "run", "registry"],
                0,
                work / "registry.log",
                registry_process_env,
            )
        )
        await wait_http(f"http://127.0.0.1:{registry_port}/readyz")
        await register_origin(f"http://127.0.0.1:{registry_port}", origin_port)
        gateway_env = {
            **env,
            "REELCLOUD_INSTANCE_ID": "bench:gateway:1",
            "REELCLOUD_SESSION_SECRET": TEST_SESSION_SECRET,
            **registry_env("gateway"),
        }
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

        targets = ("direct", "nginx", "gateway")
        ports = {"direct": origin_port, "nginx": nginx_port, "gateway": gateway_port}
        servers = {"nginx": process_tree(processes[1].pid), "gateway": [processes[3].pid]}
        rounds = 2 if quick else 5
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
        for port in ports.values():
            wrk(f"http://127.0.0.1:{port}/title", 2)  # warm up connections and pools
        for round_no in range(rounds):
            order = targets[round_no % 3 :] + targets[: round_no % 3]
            for name in order:
                pids = servers.get(name, [])
                before = cpu_seconds(pids)
                run = wrk(f"http://127.0.0.1:{ports[name]}/title", seconds)
                if pids:
                    cpu = cpu_seconds(pids) - before
                    run["server_us_per_request"] = 1e6 * cpu / max(run["requests"], 1)
                    run["server_core_share"] = cpu / run["duration_s"]
                samples[name].append(run)
                print(
                    f"round {round_no + 1}/{rounds} {name:8} {run['rps']:>9,.0f} req/s"
                    f"  p99 {run.get('p99_ms', 0):6.2f} ms"
                    + (
                        f"  server {run['server_us_per_request']:5.1f} us/req,"
                        f" {100 * run['server_core_share']:3.0f}% of its core"
                        if pids
                        else ""
                    ),
                    file=sys.stderr,
                    flush=True,
                )
        half = statistics.median(r["rps"] for r in samples["gateway"]) / 2
        script = work / "paced.lua"
        script.write_text(f"function delay() return {1000 * 64 / half:.3f} end\n")
        # nginx runs the same paced load between the gateway's runs: a control that shows
        # when a tail comes from this shared machine rather than from the gateway.
        half_runs, control_runs = [], []
        for run_no in range(1 if quick else 5):
            for name, runs in (("gateway", half_runs), ("nginx", control_runs)):
                run = wrk(f"http://127.0.0.1:{ports[name]}/title", seconds, script)
                runs.append(run)
                print(
                    f"{name} paced to the gateway's half load ({half:,.0f} req/s) {run_no + 1}:"
                    f" {run['rps']:,.0f} req/s, p99 {run.get('p99_ms', 0):.2f} ms",
                    file=sys.stderr,
                    flush=True,
                )
        finished = True
    finally:
        for proc in processes:
            proc.terminate()
        for proc in processes:
            proc.wait(timeout=10)
        if finished:  # the gateway's log holds an access line per request: ~300 MB a run
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"logs kept in {work}", file=sys.stderr)

    def median(name: str, key: str) -> float:
        return statistics.median(r.get(key, 0.0) for r in samples[name])

    def ratio(key: str, over: str, invert: bool = False) -> float:
        """The median over rounds of the gateway's figure over another target's, same round."""
        pairs = zip(samples["gateway"], samples[over], strict=True)
        return statistics.median(
            (other[key] / gw[key]) if invert else (gw[key] / other[key]) for gw, other in pairs
        )

    every_run = [*(r for runs in samples.values() for r in runs), *half_runs, *control_runs]
    if any(r["non_2xx"] or r["socket_errors"] for r in every_run):
        raise RuntimeError(f"some requests failed: {samples}")
    half_p99 = statistics.median(r.get("p99_ms", 0.0) for r in half_runs)
    print(
        f"{'':10}{'req/s':>10}{'p50 ms':>9}{'p99 ms':>9}{'us/req':>9}{'core':>7}", file=sys.stderr
    )
    for name in samples:
        server = name in ("nginx", "gateway")
        print(
            f"{name:10}{median(name, 'rps'):>10,.0f}{median(name, 'p50_ms'):>9.2f}"
            f"{median(name, 'p99_ms'):>9.2f}"
            + (
                f"{median(name, 'server_us_per_request'):>9.1f}"
                f"{median(name, 'server_core_share'):>7.2f}"
                if server
                else ""
            ),
            file=sys.stderr,
        )
    for name, runs in (("gateway", half_runs), ("nginx", control_runs)):
        print(
            f"{name} paced to the gateway's half load:"
            f" {statistics.median(r['rps'] for r in runs):,.0f} req/s,"
            f" p99 {statistics.median(r.get('p99_ms', 0.0) for r in runs):.2f} ms",
            file=sys.stderr,
        )
    nginx_share = median("nginx", "server_core_share")
    if nginx_share < 0.9:
        print(
            f"note: nginx used {nginx_share:.0%} of its core: the client side (CPU 0) limited it,"
            " so ratio_vs_nginx flatters the gateway; cpu_ratio_vs_nginx does not",
            file=sys.stderr,
        )
    return {
        "ratio_vs_nginx": round(ratio("rps", "nginx"), 3),
        "ratio_vs_direct": round(ratio("rps", "direct"), 3),
        "p99_ms_half_load": round(half_p99, 2),
        "gateway_rps": round(median("gateway", "rps")),
        "nginx_rps": round(median("nginx", "rps")),
        "direct_rps": round(median("direct", "rps")),
        "gateway_p99_ms_full_load": round(median("gateway", "p99_ms"), 2),
        "p99_ms_half_load_runs": [round(r.get("p99_ms", 0.0), 2) for r in half_runs],
        "nginx_p99_ms_same_pace": round(
            statistics.median(r.get("p99_ms", 0.0) for r in control_runs), 2
        ),
        "cpu_ratio_vs_nginx": round(ratio("server_us_per_request", "nginx", invert=True), 3),
        "gateway_us_per_request": round(median("gateway", "server_us_per_request"), 1),
        "nginx_us_per_request": round(median("nginx", "server_us_per_request"), 1),
        "nginx_core_share": round(nginx_share, 2),
        "rounds": rounds,
        "seconds_per_run": seconds,
    }


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
