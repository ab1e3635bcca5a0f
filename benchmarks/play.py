"""Play benchmark: plays per second and latency through the gateway with warm caches, next to
the same request sent to the Play API directly (no gateway), and next to a single-hop echo
through the gateway (the ceiling a play could reach on this machine); plus where the CPU goes.

Everything is real and on this 2-core machine: the launcher runs PostgreSQL, NATS, SeaweedFS,
accounts, catalog, playback, license, cache control, steering, five OCAs, one Play API, one
gateway and an echo origin; a 4 s title is ingested and filled. 32 benchmark members (copies of
the demo member alice) are signed in, and wrk posts plays in rotation across them. Playback's
`silence_s` is set to 1 ms for the run, so stream slots free themselves and the plan's
concurrent-stream limit does not turn the load into denials (every reply is checked: the run
fails if any is not 200).

"Where the time goes" is the CPU time each process used during the gateway run, per play, from
/proc/<pid>/stat.

    python benchmarks/play.py [--quick]

Last line: {"plays_per_s", "p99_ms", "fraction_of_ceiling", ...}.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.cli import cli_env, reelcloud, status, wait_status
from tests.support.factories import free_port, openconnect_dict, topology_dict
from tests.support.media import make_video
from tests.support.platform import SERVICES, all_up

import harness
from reelcloud.encoding.pipeline import TitleMetadata, ingest
from reelcloud.gateway.settings import PACKAGE_DIR as GATEWAY_DIR
from reelcloud.launcher.datadir import DataDir
from reelcloud.launcher.up import engine_env
from reelcloud.platform.database import database_url
from reelcloud.platform.settings import load_settings
from tools import ensure_tools

NETWORK = {"X-Reelcloud-Network": "127.10.0.5"}  # wrk cannot bind an ISP A address: say it
MEMBERS = 32
CONNECTIONS = 12
CLK_TCK = os.sysconf("SC_CLK_TCK")


def topology(work: Path, gateway_port: int) -> Path:
    routes = yaml.safe_load((GATEWAY_DIR / "routes.yaml").read_text())
    routes["routes"].insert(0, {"prefix": "/echo", "origin": "echo", "auth": "none"})
    (work / "routes.yaml").write_text(yaml.safe_dump(routes))
    openconnect = openconnect_dict(port=free_port())
    for oca in openconnect["ocas"]:
        oca["fill_window"] = ["00:00", "00:00"]
    names = ["accounts", "catalog", "playback", "license", "cache-control"]
    services: list[dict[str, Any]] = [
        {"name": n, "entrypoint": SERVICES[n], "layer": 1} for n in names
    ]
    next(s for s in services if s["name"] == "playback")["options"] = {"silence_s": 0.001}
    services += [
        {"name": "echo", "entrypoint": "tests.support.echo_service:create_app", "layer": 1},
        {"name": "steering", "entrypoint": SERVICES["steering"], "layer": 2},
        {"name": "play-api", "entrypoint": SERVICES["play-api"], "layer": 3},
        {
            "name": "gateway",
            "entrypoint": SERVICES["gateway"],
            "layer": 4,
            "options": {
                "listen_port": gateway_port,
                "routes_file": str(work / "routes.yaml"),
                "rate_per_client_per_s": 1e6,
                "burst_per_client": 1_000_000,
                "rate_per_member_per_s": 1e6,
                "burst_per_member": 1_000_000,
            },
        },
    ]
    doc = topology_dict([free_port()], services=services)
    doc["engines"].update(postgres={"enabled": True}, nats={"enabled": True})
    doc["engines"]["seaweedfs"] = {"enabled": True}
    doc["openconnect"] = openconnect
    path = work / "topology.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def add_members(env: dict[str, str]) -> None:
    """Benchmark members: copies of alice (premium, US) with their own profile and device."""
    conn = await asyncpg.connect(database_url(env["REELCLOUD_DATABASE_URL"], "reelcloud_accounts"))
    try:
        for i in range(MEMBERS):
            await conn.execute(
                "INSERT INTO members (id, email, password_hash, name, country, plan, status) "
                "SELECT $1, $2, password_hash, name, country, plan, status FROM members "
                "WHERE id = 'm-alice' ON CONFLICT DO NOTHING",
                f"m-bench-{i}",
                f"bench{i}@reelcloud.test",
            )
            await conn.execute(
                "INSERT INTO profiles VALUES ($1, $2, 'Bench', 'R') ON CONFLICT DO NOTHING",
                f"p-bench-{i}",
                f"m-bench-{i}",
            )
            await conn.execute(
                "INSERT INTO devices VALUES ($1, $2, 'browser', 1080, 'aes-128') "
                "ON CONFLICT DO NOTHING",
                f"d-bench-{i}",
                f"m-bench-{i}",
            )
    finally:
        await conn.close()


async def sign_in_all(gateway: str) -> list[str]:
    tokens = []
    async with aiohttp.ClientSession() as http:
        for i in range(MEMBERS):
            body = {"email": f"bench{i}@reelcloud.test", "password": "reelcloud"}
            async with http.post(f"{gateway}/api/accounts/login", json=body) as reply:
                tokens.append((await reply.json())["token"])
    return tokens


def claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[0]
    return dict(orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))))


def lua_script(work: Path, name: str, requests: list[tuple[str, dict[str, str], str]]) -> Path:
    """A wrk script rotating over prepared (path, headers, body) POSTs; it counts non-200s."""
    entries = []
    for path, headers, body in requests:
        headers = {"Host": "reelcloud", **headers}  # wrk.format adds none when given headers
        header_table = ", ".join(f'["{k}"] = "{v}"' for k, v in headers.items())
        entries.append(f'wrk.format("POST", "{path}", {{{header_table}}}, [[{body}]])')
    script = work / f"{name}.lua"
    script.write_text(
        "local requests = {\n  "
        + ",\n  ".join(entries)
        + "\n}\nlocal i = 0\n"
        + "request = function()\n  i = i % #requests + 1\n  return requests[i]\nend\n"
    )
    return script


def wrk(url: str, seconds: int, script: Path | None = None) -> dict[str, float]:
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    result["non_2xx"] = float(non_2xx.group(1)) if non_2xx else 0.0
    for pct in ("50", "99"):
        match = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        if match:
            scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
            result[f"p{pct}_ms"] = round(float(match.group(1)) * scale, 2)
    return result


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def process_table(data_dir: Path) -> dict[str, list[int]]:
    current = status(data_dir)
    table: dict[str, list[int]] = {}
    for instance in current["instances"]:
        table.setdefault(instance["service"], []).append(instance["pid"])
    for engine in current["engines"]:
        table.setdefault(engine["name"], []).append(engine["pid"])
    return table


def postgres_pids(root_pid: int) -> list[int]:
    """PostgreSQL serves each connection in a child process: count them all."""
    children = Path(f"/proc/{root_pid}/task/{root_pid}/children")
    return [root_pid, *[int(p) for p in children.read_text().split()]]


async def run(quick: bool) -> dict[str, Any]:
    ensure_tools()
    seconds = 5 if quick else 15
    work = Path(tempfile.mkdtemp(prefix="reelcloud-play-bench-"))
    gateway_port = free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    data_dir = work / "data"
    print("starting the platform …", file=sys.stderr)
    up = reelcloud(
        "up", "--detach", "--topology", str(topology(work, gateway_port)),
        "--data-dir", str(data_dir), env=cli_env(), timeout=180,
    )  # fmt: skip
    if up.returncode != 0:
        raise SystemExit(up.stdout + up.stderr)
    try:
        wait_status(data_dir, all_up, timeout_s=90)
        env = engine_env(DataDir.at(data_dir))
        print("ingesting a 4 s title …", file=sys.stderr)
        settings = load_settings(
            data_dir=work,
            s3_url=env["REELCLOUD_S3_URL"],
            s3_access_key=env["REELCLOUD_S3_ACCESS_KEY"],
            s3_secret_key=env["REELCLOUD_S3_SECRET_KEY"],
            nats_url=env["REELCLOUD_NATS_URL"],
        )
        source = make_video(work / "bench.mp4", seconds=4, size="320x180")
        metadata = TitleMetadata("Bench", 2024, ["drama"], ["US"], "PG", "", [
            {"country": "US", "start": "2020-01-01", "end": "2099-12-31"}
        ])  # fmt: skip
        title_id = (await ingest(settings, source, metadata))["title_id"]
        await add_members(env)
        tokens = await sign_in_all(gateway)
        bodies = [
            orjson.dumps(
                {"title_id": title_id, "profile_id": f"p-bench-{i}", "device_id": f"d-bench-{i}"}
            ).decode()
            for i in range(MEMBERS)
        ]
        print("waiting for the OCAs to hold it …", file=sys.stderr)
        async with aiohttp.ClientSession() as http:
            for _ in range(600):
                async with http.post(
                    f"{gateway}/api/play",
                    data=bodies[0],
                    headers={"Authorization": f"Bearer {tokens[0]}", **NETWORK},
                ) as reply:
                    answer = await reply.json()
                if reply.status == 200 and answer["ocas"][0]["kind"] == "embedded":
                    break
                await asyncio.sleep(0.2)
            else:
                raise SystemExit(f"the title never became playable: {str(answer)[:300]}")

        via_gateway = lua_script(work, "gateway", [
            ("/api/play", {"Authorization": f"Bearer {t}", "Content-Type": "application/json",
                           **NETWORK}, b)
            for t, b in zip(tokens, bodies, strict=True)
        ])  # fmt: skip
        direct = lua_script(work, "direct", [
            ("/api/play", {
                "X-Reelcloud-Member": claims(t)["sub"], "X-Reelcloud-Session": claims(t)["sid"],
                "X-Forwarded-For": "127.0.0.1", "Content-Type": "application/json", **NETWORK,
            }, b)
            for t, b in zip(tokens, bodies, strict=True)
        ])  # fmt: skip
        echo = lua_script(
            work, "echo", [("/echo", {"Content-Type": "application/json"}, bodies[0])]
        )
        play_api = next(
            i["address"] for i in status(data_dir)["instances"] if i["service"] == "play-api"
        )
        first = claims(tokens[0])
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://{play_api}/api/play",
                data=bodies[0],
                headers={
                    "X-Reelcloud-Member": first["sub"],
                    "X-Reelcloud-Session": first["sid"],
                    "X-Forwarded-For": "127.0.0.1",
                    **NETWORK,
                },
            ) as reply,
        ):
            if reply.status != 200:
                raise SystemExit(f"a direct play failed: {reply.status} {await reply.text()}")
        print("warming up …", file=sys.stderr)
        wrk(f"{gateway}/api/play", 2, via_gateway)
        wrk(f"http://{play_api}/api/play", 2, direct)
        wrk(f"{gateway}/echo", 1, echo)

        processes = process_table(data_dir)
        processes["postgres"] = postgres_pids(processes["postgres"][0])
        before = {name: sum(cpu_seconds(p) for p in pids) for name, pids in processes.items()}
        print(f"plays through the gateway, {seconds} s …", file=sys.stderr)
        gateway_run = wrk(f"{gateway}/api/play", seconds, via_gateway)
        processes["postgres"] = postgres_pids(processes["postgres"][0])
        after = {name: sum(cpu_seconds(p) for p in pids) for name, pids in processes.items()}
        plays = gateway_run["rps"] * seconds
        cpu_ms_per_play = {
            name: round((after[name] - before[name]) * 1000 / plays, 3)
            for name in processes
            if after[name] - before[name] > 0.01
        }
        print(f"plays straight to the Play API, {seconds} s …", file=sys.stderr)
        direct_run = wrk(f"http://{play_api}/api/play", seconds, direct)
        print(f"echo through the gateway (the ceiling), {seconds} s …", file=sys.stderr)
        echo_run = wrk(f"{gateway}/echo", seconds, echo)
        for name, result in (("gateway", gateway_run), ("direct", direct_run), ("echo", echo_run)):
            if result["non_2xx"]:
                raise SystemExit(f"{name} run: {result['non_2xx']:.0f} plays were not 200")
        print(f"gateway {gateway_run} direct {direct_run} echo {echo_run}", file=sys.stderr)
        print(f"CPU ms per play by process: {cpu_ms_per_play}", file=sys.stderr)
        return {
            "plays_per_s": round(gateway_run["rps"], 1),
            "p99_ms": gateway_run.get("p99_ms"),
            "fraction_of_ceiling": round(gateway_run["rps"] / echo_run["rps"], 4),
            "p50_ms": gateway_run.get("p50_ms"),
            "direct_plays_per_s": round(direct_run["rps"], 1),
            "direct_p99_ms": direct_run.get("p99_ms"),
            "gateway_vs_direct": round(gateway_run["rps"] / direct_run["rps"], 3),
            "echo_per_s": round(echo_run["rps"], 1),
            "echo_p99_ms": echo_run.get("p99_ms"),
            "cpu_ms_per_play": cpu_ms_per_play,
            "connections": CONNECTIONS,
        }
    finally:
        reelcloud("down", "--data-dir", str(data_dir))


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
