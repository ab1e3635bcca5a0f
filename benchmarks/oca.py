"""OCA benchmark: the Open Connect appliance's segment server against nginx serving the same
files, 2 MiB and 64 KiB segments over loopback, same connections, same run.

One wrk thread saturates its core before either server does (at 2 MiB, ~1.6 GB/s while nginx
uses a fifth of its core), so throughput measures the client. The figures are therefore
**bytes per server CPU-second** and **requests per server CPU-second**: the server process's
utime + stime from /proc/<pid>/stat before and after each wrk run (nginx: master and worker).
At one file size the two ratios to nginx are the same number, since every reply carries the
whole file; the headline gives bytes at 2 MiB and requests at 64 KiB.

- Servers pinned to CPU 1, wrk (one thread, `CONNECTIONS` connections) to CPU 0.
- 32 distinct files per size, a wrk Lua script rotating over their URLs: not one hot file.
- The OCA is a separate process (`oca.py --serve …`) that commits the files into its own
  `ContentStore` and runs `SegmentServer` on asyncio's default loop; a second one runs it on
  uvloop (the platform's default loop). Every request is a real signed URL,
  `/v/<token>/<title>/<file>`, its signature and network checked by the server.
- nginx (Debian's, one worker, sendfile on, tcp_nopush off, keep-alive unlimited) serves the
  same bytes from a plain directory under the same URL shape, so requests are the same length.
- nginx and the two OCAs alternate within each round (the order turning round by round);
  each ratio is the median over rounds of the ratio within a round, so that drift between
  rounds (this machine's figures move by tens of percent) cancels; raw figures are medians.

Needs Debian's nginx and wrk (installed here when missing and running as root).

    python benchmarks/oca.py [--quick]

Last line: {"bytes_per_core_vs_nginx_2mib": …, "requests_per_core_vs_nginx_64kib": …, …}.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.factories import free_port

import harness
from reelcloud.openconnect.server import SegmentServer
from reelcloud.openconnect.store import ContentStore
from reelcloud.platform.signed_urls import UrlSigner, client_network
from tools import (
    CLK_TCK,
    cpu_seconds,
    ensure_tools,
    nginx_conf,
    process_tree,
    start,
    wait_http,
    wrk,
)

KEYS = {"k1": "benchmark-url-signing-key"}
TITLE = "t-0123456789abcdef"
SIZES = {"2mib": 2 * 1024 * 1024, "64kib": 64 * 1024}
FILES_PER_SIZE = 32
CONNECTIONS = 32
SERVER_CPU = 1
SERVERS = ("nginx", "oca_asyncio", "oca_uvloop")


def file_name(label: str, n: int) -> str:
    return f"seg-{label}-{n:02d}.m4s"


def make_files(plain: Path) -> None:
    """Random segments under `plain/<title>/`, readable by nginx's unprivileged worker."""
    folder = plain / TITLE
    folder.mkdir(parents=True)
    for path in (plain.parent, plain, folder):
        path.chmod(0o755)
    for label, size in SIZES.items():
        for n in range(FILES_PER_SIZE):
            target = folder / file_name(label, n)
            target.write_bytes(os.urandom(size))
            target.chmod(0o644)


def build_store(plain: Path, root: Path) -> ContentStore:
    """An OCA disk holding the files of `plain/<title>/`, each committed as a fill would."""
    store = ContentStore(root, 10**11)
    index = {}
    for path in sorted((plain / TITLE).iterdir()):
        data = path.read_bytes()
        content_id = hashlib.sha256(data).hexdigest()
        store.partial_path(content_id).write_bytes(data)
        store.commit(content_id)
        index[path.name] = content_id
    store.set_title(TITLE, index)
    return store


def serve(plain: Path, root: Path, port: int, loop: str) -> None:
    """The OCA runner (`oca.py --serve PLAIN STORE PORT asyncio|uvloop`): a store, the segment
    server on 127.0.0.1:PORT, and nothing else in the process, until terminated."""
    store = build_store(plain, root)

    async def main() -> None:
        server = SegmentServer(store, UrlSigner(KEYS))
        await server.start("127.0.0.1", port)
        await asyncio.Event().wait()

    if loop == "uvloop":
        import uvloop

        uvloop.run(main())
    else:
        asyncio.run(main())


def wrk_script(work: Path, label: str, token: str) -> Path:
    """A script whose requests rotate over the size's files, one URL after another."""
    paths = [f"/v/{token}/{TITLE}/{file_name(label, n)}" for n in range(FILES_PER_SIZE)]
    script = work / f"{label}.lua"
    script.write_text(
        "local paths = {\n" + "".join(f'  "{path}",\n' for path in paths) + "}\nlocal i = 0\n"
        "request = function()\n"
        "  i = i % #paths + 1\n"
        '  return wrk.format("GET", paths[i])\n'
        "end\n"
    )
    return script


def measure(port: int, script: Path, seconds: int, pid: int, size: int) -> dict[str, float]:
    pids = process_tree(pid)
    before = cpu_seconds(pids)
    run = wrk(f"http://127.0.0.1:{port}", seconds, script, CONNECTIONS)
    cpu = max(cpu_seconds(pids) - before, 1 / CLK_TCK)
    # wrk rounds the bytes it read to two decimals of its unit: allow for that, not for a
    # reply cut short.
    short = run["bytes_read"] < 0.99 * run["requests"] * size
    if run["non_2xx"] or run["socket_errors"] or short:
        raise RuntimeError(f"port {port}: replies were not all whole 200s: {run}")
    return {
        "rps": run["rps"],
        "p99_ms": run.get("p99_ms", 0.0),
        "server_cpu_s": cpu,
        "server_core_share": cpu / run["duration_s"],
        "bytes_per_cpu_s": run["requests"] * size / cpu,
        "requests_per_cpu_s": run["requests"] / cpu,
    }


async def check_bodies(ports: dict[str, int], token: str, plain: Path) -> None:
    """Every server answers a signed URL of each size with the file's exact bytes."""
    async with aiohttp.ClientSession() as session:
        for name, port in ports.items():
            for label in SIZES:
                url = f"http://127.0.0.1:{port}/v/{token}/{TITLE}/{file_name(label, 1)}"
                async with session.get(url) as response:
                    body = await response.read()
                if (
                    response.status != 200
                    or body != (plain / TITLE / file_name(label, 1)).read_bytes()
                ):
                    raise RuntimeError(f"{name} answered {url} with {response.status}")


async def run(quick: bool) -> dict[str, Any]:
    ensure_tools()
    seconds = 4 if quick else 6
    rounds = 1 if quick else 5
    work = Path(tempfile.mkdtemp(prefix="reelcloud-oca-bench-"))
    plain = work / "plain"
    processes = []
    try:
        print(f"{2 * FILES_PER_SIZE} files in {work} …", file=sys.stderr, flush=True)
        make_files(plain)
        ports = {name: free_port() for name in SERVERS}
        conf = nginx_conf(
            work,
            "nginx",
            f"""listen 127.0.0.1:{ports["nginx"]};
        sendfile on; tcp_nopush off; keepalive_requests 1000000;
        location ~ ^/v/[^/]+/([^/]+)/([^/]+)$ {{ alias {plain}/$1/$2; }}""",
        )
        processes.append(
            start(["nginx", "-c", str(conf), "-p", str(work)], SERVER_CPU, work / "nginx.log")
        )
        for name in SERVERS[1:]:
            loop = name.removeprefix("oca_")
            argv = [sys.executable, __file__, "--serve", str(plain), str(work / name)]
            processes.append(
                start([*argv, str(ports[name]), loop], SERVER_CPU, work / f"{name}.log")
            )
        pids = {name: process.pid for name, process in zip(SERVERS, processes, strict=True)}

        token = UrlSigner(KEYS).sign(TITLE, client_network("127.0.0.1"), int(time.time()) + 86400)
        for port in ports.values():
            await wait_http(f"http://127.0.0.1:{port}/v/{token}/{TITLE}/{file_name('64kib', 0)}")
        await check_bodies(ports, token, plain)
        scripts = {label: wrk_script(work, label, token) for label in SIZES}
        for script in scripts.values():
            for port in ports.values():  # page cache, open files, grants, TCP windows
                wrk(f"http://127.0.0.1:{port}", 1, script, CONNECTIONS)

        samples: dict[tuple[str, str], list[dict[str, float]]] = {}
        for round_no in range(rounds):
            order = SERVERS[round_no % 3 :] + SERVERS[: round_no % 3]
            for label, size in SIZES.items():
                for name in order:
                    result = measure(ports[name], scripts[label], seconds, pids[name], size)
                    samples.setdefault((name, label), []).append(result)
                    print(
                        f"round {round_no + 1}/{rounds} {label:>5} {name:<11}"
                        f" {result['rps']:>8,.0f} req/s,"
                        f" server {100 * result['server_core_share']:>3.0f}% of a core,"
                        f" {result['requests_per_cpu_s']:>7,.0f} req"
                        f" and {result['bytes_per_cpu_s'] / 1e9:5.2f} GB per CPU-s",
                        file=sys.stderr,
                        flush=True,
                    )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)

    def ratio(name: str, label: str, key: str) -> float:
        """The median of the within-round ratios to nginx."""
        pairs = zip(samples[(name, label)], samples[("nginx", label)], strict=True)
        return round(statistics.median(oca[key] / nginx[key] for oca, nginx in pairs), 3)

    figures = {
        name: {
            label: {
                key: round(statistics.median(s[key] for s in samples[(name, label)]), 3)
                for key in samples[(name, label)][0]
            }
            for label in SIZES
        }
        for name in SERVERS
    }
    print(
        f"{'':12}{'size':>6}{'req/s':>9}{'core %':>8}{'req/CPU-s':>11}{'GB/CPU-s':>10}"
        f"{'p99 ms':>8}{'vs nginx':>10}",
        file=sys.stderr,
    )
    for label in SIZES:
        for name in SERVERS:
            f = figures[name][label]
            print(
                f"{name:12}{label:>6}{f['rps']:>9,.0f}{100 * f['server_core_share']:>8.0f}"
                f"{f['requests_per_cpu_s']:>11,.0f}{f['bytes_per_cpu_s'] / 1e9:>10.2f}"
                f"{f['p99_ms']:>8.1f}{ratio(name, label, 'requests_per_cpu_s'):>10.3f}",
                file=sys.stderr,
            )
    return {
        "bytes_per_core_vs_nginx_2mib": ratio("oca_asyncio", "2mib", "bytes_per_cpu_s"),
        "requests_per_core_vs_nginx_64kib": ratio("oca_asyncio", "64kib", "requests_per_cpu_s"),
        "bytes_per_core_vs_nginx_2mib_uvloop": ratio("oca_uvloop", "2mib", "bytes_per_cpu_s"),
        "requests_per_core_vs_nginx_64kib_uvloop": ratio(
            "oca_uvloop", "64kib", "requests_per_cpu_s"
        ),
        "figures": {
            f"{name}_{label}": {
                "rps": round(f["rps"]),
                "bytes_per_cpu_s": round(f["bytes_per_cpu_s"]),
                "requests_per_cpu_s": round(f["requests_per_cpu_s"]),
                "server_core_share": round(f["server_core_share"], 3),
                "p99_ms": round(f["p99_ms"], 2),
            }
            for name, by_size in figures.items()
            for label, f in by_size.items()
        },
        "connections": CONNECTIONS,
        "files_per_size": FILES_PER_SIZE,
        "rounds": rounds,
        "seconds_per_run": seconds,
    }


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--serve":
        serve(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), sys.argv[5])
    else:
        harness.main(__doc__ or "", run)
