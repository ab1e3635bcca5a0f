"""Play benchmark: plays per second and latency through the gateway with warm caches — the
Play API on its full cache stack (near cache → memcached in each zone) and on its near cache
alone — next to the same request sent to the Play API directly (no gateway), and next to a
single-hop echo through the gateway (the ceiling a play could reach on this machine); plus
where the CPU goes.

Everything is real and on this 2-core machine: the launcher runs PostgreSQL, NATS, SeaweedFS,
memcached in both zones, accounts, catalog, playback, license, cache control, steering, five
OCAs, two Play APIs (`play-api` with the replicated cache; `play-api-near`, the same code with
`replicated_cache: false`, routed at `/near/api/play`), one gateway and an echo origin; a 4 s
title is ingested and filled. 32 benchmark members (copies of
the demo member alice) are signed in, and wrk posts plays in rotation across them. Playback's
`silence_s` is set to 1 ms for the run, so stream slots free themselves and the plan's
concurrent-stream limit does not turn the load into denials (every reply is checked: the run
fails if any is not 200).

"Where the time goes" is the CPU time each process used during each gateway run, per play, from
/proc/<pid>/stat (memcached's own CPU included).

    python benchmarks/play.py [--quick]

Last line: {"plays_per_s", "p99_ms", "plays_per_s_replicated", "plays_per_s_near_only",
"p99_ms_replicated", "p99_ms_near_only", "cpu_ms_per_play_replicated",
"cpu_ms_per_play_near_only", "fraction_of_ceiling", ...}.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
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
from reelcloud.launcher.secrets import load_secrets
from reelcloud.launcher.up import database_url_of, engine_env
from reelcloud.platform.settings import load_settings
from tools import ensure_tools

NETWORK = {"X-Reelcloud-Network": "127.10.0.5"}  # wrk cannot bind an ISP A address: say it
MEMBERS = 32
CONNECTIONS = 12
CLK_TCK = os.sysconf("SC_CLK_TCK")


def topology(work: Path, gateway_port: int) -> Path:
    routes = yaml.safe_load((GATEWAY_DIR / "routes.yaml").read_text())
    routes["routes"].insert(0, {"prefix": "/echo", "origin": "echo", "auth": "none"})
    routes["routes"].insert(
        0, {"prefix": "/near", "origin": "play-api-near", "auth": "required", "strip_prefix": True}
    )
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
            "name": "play-api-near",
            "entrypoint": SERVICES["play-api"],
            "layer": 3,
            "options": {"replicated_cache": False},
        },
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
    doc["engines"]["memcached"] = {"enabled": True, "memory_mb": 64}
    doc["openconnect"] = openconnect
    path = work / "topology.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


async def add_members(data_dir: Path) -> None:
    """Benchmark members: copies of alice (premium, US) with their own profile and device."""
    conn = await asyncpg.connect(database_url_of(DataDir.at(data_dir), "accounts"))
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
    """A wrk script rotating over prepared (path, headers, body) POSTs; wrk counts non-200s,
    and the script keeps the first few (status and body) to say what they were."""
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
        + REFUSALS_LUA
    )
    return script


REFUSALS_LUA = """
refused = {}
response = function(status, headers, body)
  if status ~= 200 and #refused < 3 then
    refused[#refused + 1] = status .. " " .. string.sub(body or "", 1, 300)
  end
end
local threads = {}
setup = function(thread) table.insert(threads, thread) end
done = function(summary, latency, requests)
  for _, thread in ipairs(threads) do
    for _, line in ipairs(thread:get("refused")) do io.write("refused: " .. line .. "\\n") end
  end
end
"""


def wrk(url: str, seconds: int, script: Path | None = None) -> dict[str, Any]:
    argv = ["wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--latency"]
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}  # type: ignore[union-attr]
    result["refused"] = re.findall(r"^refused: (.*)$", out, re.MULTILINE)
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


STARTED = time.monotonic()


def say(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:5.1f} s] {message}", file=sys.stderr)


async def run(quick: bool) -> dict[str, Any]:
    ensure_tools()
    seconds = 3 if quick else 10
    rounds = 1 if quick else 3
    warm_s = 1 if quick else 2
    work = Path(tempfile.mkdtemp(prefix="reelcloud-play-bench-"))
    gateway_port = free_port()
    gateway = f"http://127.0.0.1:{gateway_port}"
    data_dir = work / "data"
    say("starting the platform …")
    up = reelcloud(
        "up", "--detach", "--topology", str(topology(work, gateway_port)),
        "--data-dir", str(data_dir), env=cli_env(), timeout=180,
    )  # fmt: skip
    if up.returncode != 0:
        raise SystemExit(up.stdout + up.stderr)
    try:
        wait_status(data_dir, all_up, timeout_s=90)
        env = engine_env(DataDir.at(data_dir))
        say("ingesting a 4 s title …")
        settings = load_settings(
            data_dir=work,
            s3_url=env["REELCLOUD_S3_URL"],
            s3_access_key=env["REELCLOUD_S3_ACCESS_KEY"],
            s3_secret_key=env["REELCLOUD_S3_SECRET_KEY"],
            nats_url=env["REELCLOUD_NATS_URL"],
            content_kek=load_secrets(data_dir).content_kek,
        )
        source = make_video(work / "bench.mp4", seconds=4, size="320x180")
        metadata = TitleMetadata("Bench", 2024, ["drama"], ["US"], "PG", "", [
            {"country": "US", "start": "2020-01-01", "end": "2099-12-31"}
        ])  # fmt: skip
        title_id = (await ingest(settings, source, metadata))["title_id"]
        await add_members(data_dir)
        tokens = await sign_in_all(gateway)
        bodies = [
            orjson.dumps(
                {"title_id": title_id, "profile_id": f"p-bench-{i}", "device_id": f"d-bench-{i}"}
            ).decode()
            for i in range(MEMBERS)
        ]
        say("waiting for the OCAs to hold it …")
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
        near_only = lua_script(work, "near", [
            ("/near/api/play", {"Authorization": f"Bearer {t}",
                                "Content-Type": "application/json", **NETWORK}, b)
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
        say("warming up …")
        wrk(f"{gateway}/api/play", warm_s, via_gateway)
        wrk(f"{gateway}/near/api/play", warm_s, near_only)
        wrk(f"http://{play_api}/api/play", 1, direct)
        wrk(f"{gateway}/echo", 1, echo)

        processes = process_table(data_dir)

        def measured(url: str, script: Path) -> tuple[dict[str, Any], dict[str, float]]:
            """A wrk run and the CPU ms per play each process spent during it."""
            processes["postgres"] = postgres_pids(processes["postgres"][0])
            before = {n: sum(cpu_seconds(p) for p in pids) for n, pids in processes.items()}
            result = wrk(url, seconds, script)
            processes["postgres"] = postgres_pids(processes["postgres"][0])
            after = {n: sum(cpu_seconds(p) for p in pids) for n, pids in processes.items()}
            plays = result["rps"] * seconds
            # memcached and the Play APIs always, the rest when they did anything
            shown = ("memcached", "play-api")
            cpu = {
                n: round((after[n] - before[n]) * 1000 / plays, 3)
                for n in processes
                if after[n] - before[n] > 0.01 or n.startswith(shown)
            }
            return result, cpu

        # The two cache stacks alternate (a neighbour's burst on this shared machine lands on
        # both); each figure is the median over the rounds.
        runs: dict[str, list[tuple[dict[str, Any], dict[str, float]]]] = {
            "replicated": [],
            "near_only": [],
        }
        for round_ in range(rounds):
            order = ["replicated", "near_only"][:: 1 if round_ % 2 == 0 else -1]
            for mode in order:
                say(f"plays through the gateway, {mode}, {seconds} s …")
                if mode == "replicated":
                    runs[mode].append(measured(f"{gateway}/api/play", via_gateway))
                else:
                    runs[mode].append(measured(f"{gateway}/near/api/play", near_only))
        say(f"plays straight to the Play API, {seconds} s …")
        direct_run = wrk(f"http://{play_api}/api/play", seconds, direct)
        say(f"echo through the gateway (the ceiling), {seconds} s …")
        echo_run = wrk(f"{gateway}/echo", seconds, echo)
        checked = [(f"gateway {m}", r) for m, rs in runs.items() for r, _ in rs]
        for name, result in [*checked, ("direct", direct_run), ("echo", echo_run)]:
            if result["non_2xx"]:
                raise SystemExit(
                    f"{name} run: {result['non_2xx']:.0f} plays were not 200: {result['refused']}"
                )

        def median_of(mode: str, key: str) -> float | None:
            values = [r[key] for r, _ in runs[mode] if key in r]
            return round(statistics.median(values), 2) if values else None

        def cpu_of(mode: str) -> dict[str, float]:
            names = {n for _, cpu in runs[mode] for n in cpu}
            return {
                n: round(statistics.median(cpu.get(n, 0.0) for _, cpu in runs[mode]), 3)
                for n in sorted(names)
            }

        replicated_rps = median_of("replicated", "rps") or 0.0
        near_rps = median_of("near_only", "rps") or 0.0
        cpu_replicated, cpu_near = cpu_of("replicated"), cpu_of("near_only")
        say(f"gateway {runs} direct {direct_run} echo {echo_run}")
        say(f"CPU ms per play, replicated: {cpu_replicated}")
        say(f"CPU ms per play, near only: {cpu_near}")
        return {
            "plays_per_s": round(replicated_rps, 1),
            "p99_ms": median_of("replicated", "p99_ms"),
            "plays_per_s_replicated": round(replicated_rps, 1),
            "plays_per_s_near_only": round(near_rps, 1),
            "p99_ms_replicated": median_of("replicated", "p99_ms"),
            "p99_ms_near_only": median_of("near_only", "p99_ms"),
            "p50_ms_replicated": median_of("replicated", "p50_ms"),
            "p50_ms_near_only": median_of("near_only", "p50_ms"),
            "replicated_vs_near_only": round(replicated_rps / near_rps, 3) if near_rps else None,
            "fraction_of_ceiling": round(replicated_rps / echo_run["rps"], 4),
            "p50_ms": median_of("replicated", "p50_ms"),
            "direct_plays_per_s": round(direct_run["rps"], 1),
            "direct_p99_ms": direct_run.get("p99_ms"),
            "gateway_vs_direct": round(replicated_rps / direct_run["rps"], 3),
            "echo_per_s": round(echo_run["rps"], 1),
            "echo_p99_ms": echo_run.get("p99_ms"),
            "cpu_ms_per_play": cpu_replicated,
            "cpu_ms_per_play_replicated": cpu_replicated,
            "cpu_ms_per_play_near_only": cpu_near,
            "rounds": rounds,
            "seconds_per_run": seconds,
            "connections": CONNECTIONS,
        }
    finally:
        reelcloud("down", "--data-dir", str(data_dir))


if __name__ == "__main__":
    harness.main(__doc__ or "", run)
