"""OCA benchmark: the Open Connect appliance's segment server against nginx serving the same
files, 2 MiB and 64 KiB segments over loopback, same connections, same run.

One wrk thread saturates its core before either server does (at 2 MiB, ~1.6 GB/s while nginx
uses a fifth of its core), so throughput measures the client. The figures are therefore
**bytes per server CPU-second** and **requests per server CPU-second**, from the server
processes' utime + stime in /proc, each as a ratio to nginx. Servers are pinned to CPU 1, wrk
to CPU 0. Requests to the OCA are real signed URLs (`/v/<token>/<title>/<file>`, signature and
network checked on every request; nginx serves the same URL shape from a directory). 16 files
per size, rotated by a wrk script. nginx: one worker, sendfile on, tcp_nopush off. The OCA runs
on asyncio's loop and on uvloop (both use os.sendfile: the server watches raw sockets).

    python benchmarks/oca.py [--quick]

Last line: {"bytes_per_core_vs_nginx_2mib": …, "requests_per_core_vs_nginx_64kib": …, …}.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.factories import free_port

import harness
from gateway import ensure_tools, nginx_conf, start, wait_http
from reelcloud.openconnect.server import SegmentServer
from reelcloud.openconnect.store import ContentStore
from reelcloud.platform.signed_urls import UrlSigner, client_network

KEYS = {"k1": "benchmark-url-key"}
TITLE = "t-0123456789abcdef"
SIZES = {"2mib": 2 * 1024 * 1024, "64kib": 64 * 1024}
FILES_PER_SIZE = 16
CONNECTIONS = 16
CLK_TCK = os.sysconf("SC_CLK_TCK")


def make_files() -> Path:
    """The same bytes on the OCA's disk and in nginx's directory, in a new work dir."""
    root = Path(tempfile.mkdtemp(prefix="reelcloud-oca-bench-"))
    root.chmod(0o755)  # nginx's workers run as an unprivileged user
    plain = root / "plain" / TITLE
    plain.mkdir(parents=True)
    store = ContentStore(root / "oca", 10**10)
    index = {}
    for label, size in SIZES.items():
        for n in range(FILES_PER_SIZE):
            name = f"seg-{label}-{n:02d}.m4s"
            data = os.urandom(size)
            (plain / name).write_bytes(data)
            content_id = hashlib.sha256(data).hexdigest()
            store.partial_path(content_id).write_bytes(data)
            store.commit(content_id)
            index[name] = content_id
    store.set_title(TITLE, index)
    return root


def serve_oca(root: Path, port: int, loop: str) -> None:
    """The OCA's segment server alone, in this process (run as `oca.py --serve`)."""

    async def main() -> None:
        server = SegmentServer(ContentStore(root / "oca", 10**10), UrlSigner(KEYS))
        await server.start("127.0.0.1", port)
        await asyncio.Event().wait()

    if loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def wrk_script(work: Path, label: str, token: str) -> Path:
    paths = [f"/v/{token}/{TITLE}/seg-{label}-{n:02d}.m4s" for n in range(FILES_PER_SIZE)]
    script = work / f"{label}.lua"
    script.write_text(
        "local paths = {" + ", ".join(f'"{p}"' for p in paths) + "}\nlocal i = 0\n"
        "request = function()\n  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\nend\n'
    )
    return script


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / CLK_TCK
    return total


def family(pid: int) -> list[int]:
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(c) for c in children)]


def measure(url: str, script: Path, seconds: int, pids: list[int], size: int) -> dict[str, float]:
    import re

    before = cpu_seconds(pids)
    argv = ["taskset", "-c", "0", "wrk", "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s"]
    out = subprocess.run(
        [*argv, "-s", str(script), url], capture_output=True, text=True, check=True
    ).stdout
    cpu = max(cpu_seconds(pids) - before, 1e-6)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    if re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        raise SystemExit(f"{url}: some replies were not 200:\n{out}")
    requests = rps * seconds
    return {
        "rps": round(rps, 1),
        "server_cpu_s": round(cpu, 3),
        "bytes_per_cpu_s": requests * size / cpu,
        "requests_per_cpu_s": requests / cpu,
    }


def median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]


async def run(quick: bool) -> dict[str, Any]:
    ensure_tools()
    seconds = 3 if quick else 8
    rounds = 1 if quick else 3
    work = make_files()
    nginx_port, asyncio_port, uvloop_port = free_port(), free_port(), free_port()
    conf = nginx_conf(
        work,
        "nginx",
        f"""listen 127.0.0.1:{nginx_port} reuseport;
        sendfile on; tcp_nopush off; keepalive_requests 1000000;
        location ~ ^/v/[^/]+/([^/]+)/([^/]+)$ {{ alias {work}/plain/$1/$2; }}""",
    )
    processes = [
        start(["nginx", "-c", str(conf), "-p", str(work)], 1, work / "nginx.log"),
        start(
            [sys.executable, __file__, "--serve", str(work), str(asyncio_port), "asyncio"],
            1,
            work / "oca-asyncio.log",
        ),
        start(
            [sys.executable, __file__, "--serve", str(work), str(uvloop_port), "uvloop"],
            1,
            work / "oca-uvloop.log",
        ),
    ]
    try:
        token = UrlSigner(KEYS).sign(TITLE, client_network("127.0.0.1"), int(time.time()) + 3600)
        probe = f"/v/{token}/{TITLE}/seg-64kib-00.m4s"
        for port in (nginx_port, asyncio_port, uvloop_port):
            await wait_http(f"http://127.0.0.1:{port}{probe}")
        servers = {
            "nginx": (nginx_port, family(processes[0].pid)),
            "oca_asyncio": (asyncio_port, [processes[1].pid]),
            "oca_uvloop": (uvloop_port, [processes[2].pid]),
        }
        samples: dict[tuple[str, str], list[dict[str, float]]] = {}
        for round_no in range(rounds):
            for label, size in SIZES.items():
                script = wrk_script(work, label, token)
                for name, (port, pids) in servers.items():
                    print(f"round {round_no + 1}/{rounds} {label} {name} …", file=sys.stderr)
                    result = measure(f"http://127.0.0.1:{port}", script, seconds, pids, size)
                    samples.setdefault((name, label), []).append(result)
        figures = {
            f"{name}_{label}": {
                key: round(median([s[key] for s in results]), 1)
                for key in ("rps", "bytes_per_cpu_s", "requests_per_cpu_s", "server_cpu_s")
            }
            for (name, label), results in samples.items()
        }
        for key, value in figures.items():
            print(f"{key}: {value}", file=sys.stderr)

        def ratio(name: str, label: str, key: str) -> float:
            return round(figures[f"{name}_{label}"][key] / figures[f"nginx_{label}"][key], 3)

        best = "oca_uvloop"  # what the platform runs (REELCLOUD_EVENT_LOOP defaults to uvloop)
        return {
            "bytes_per_core_vs_nginx_2mib": ratio(best, "2mib", "bytes_per_cpu_s"),
            "requests_per_core_vs_nginx_64kib": ratio(best, "64kib", "requests_per_cpu_s"),
            "event_loop": best.removeprefix("oca_"),
            "asyncio": {
                "bytes_per_core_vs_nginx_2mib": ratio("oca_asyncio", "2mib", "bytes_per_cpu_s"),
                "requests_per_core_vs_nginx_64kib": ratio(
                    "oca_asyncio", "64kib", "requests_per_cpu_s"
                ),
            },
            "uvloop": {
                "bytes_per_core_vs_nginx_2mib": ratio("oca_uvloop", "2mib", "bytes_per_cpu_s"),
                "requests_per_core_vs_nginx_64kib": ratio(
                    "oca_uvloop", "64kib", "requests_per_cpu_s"
                ),
            },
            "figures": figures,
            "connections": CONNECTIONS,
        }
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve":
        serve_oca(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        harness.main(__doc__ or "", run)
