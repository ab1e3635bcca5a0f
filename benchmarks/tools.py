"""What the benchmarks that race reelcloud against nginx share: installing nginx and wrk,
writing an nginx config, starting a process pinned to a CPU, running wrk and reading its
report, waiting for a server to answer."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

import aiohttp

TOOLS = ("nginx", "wrk", "taskset")
PACKAGES = ("nginx-light", "wrk")  # Debian's; taskset comes with util-linux
WRK_CPU = 0
UNITS = {"B": 1, "KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30, "TB": 1 << 40}  # wrk's, binary
CLK_TCK = os.sysconf("SC_CLK_TCK")


def ensure_tools() -> None:
    """nginx, wrk and taskset on PATH, installed with apt-get when missing and running as
    root; otherwise a SystemExit that says what to install."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing and os.geteuid() == 0:
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", *PACKAGES],
            check=True,
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
            capture_output=True,
        )
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"this benchmark needs {missing}: apt-get install {' '.join(PACKAGES)}")


def nginx_conf(work: Path, name: str, server: str, upstream: str = "") -> Path:
    """A one-worker, foreground nginx config whose files all live under `work`."""
    conf = work / f"{name}.conf"
    conf.write_text(f"""
worker_processes 1;
daemon off;
pid {work}/{name}.pid;
error_log {work}/{name}.error.log warn;
events {{ worker_connections 4096; }}
http {{
  access_log off;
  client_body_temp_path {work}/{name}-body;
  proxy_temp_path {work}/{name}-proxy;
  {upstream}
  server {{ {server} }}
}}
""")
    return conf


def start(
    argv: list[str], cpu: int, log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """`argv` pinned to one CPU (taskset execs it: the pid is the program's own)."""
    with open(log, "ab") as out:
        return subprocess.Popen(["taskset", "-c", str(cpu), *argv], stdout=out, stderr=out, env=env)


def wrk(
    url: str, seconds: int, script: Path | None = None, connections: int = 64
) -> dict[str, float]:
    """One wrk thread on CPU 0: its rate, totals, error counts and p50/p99 in milliseconds."""
    argv = ["taskset", "-c", str(WRK_CPU), "wrk", "-t1", f"-c{connections}", f"-d{seconds}s"]
    argv.append("--latency")
    if script is not None:
        argv += ["-s", str(script)]
    out = subprocess.run([*argv, url], capture_output=True, text=True, check=True).stdout
    return parse_wrk(out)


def parse_wrk(out: str) -> dict[str, float]:
    def find(pattern: str) -> re.Match[str]:
        match = re.search(pattern, out)
        if match is None:
            raise RuntimeError(f"unexpected wrk output (no {pattern!r}):\n{out}")
        return match

    total = find(r"(\d+) requests in ([\d.]+)(us|ms|s|m), ([\d.]+)([KMGT]?B) read")
    rate = float(find(r"Requests/sec:\s+([\d.]+)").group(1))
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    result = {
        "rps": rate,
        "requests": float(total.group(1)),
        "duration_s": float(total.group(2))
        * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[total.group(3)],
        "bytes_read": float(total.group(4)) * UNITS[total.group(5)],
        "non_2xx": float(non_2xx.group(1)) if non_2xx else 0.0,
        "socket_errors": float(sum(int(n) for n in errors.groups())) if errors else 0.0,
    }
    for pct in ("50", "99"):
        match = re.search(rf"\s{pct}(?:\.000)?%\s+([\d.]+)(us|ms|s)", out)
        if match:
            value = float(match.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[match.group(2)]
            result[f"p{pct}_ms"] = value
    return result


async def wait_http(url: str, timeout_s: float = 20) -> None:
    """Until `url` answers 200; RuntimeError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not answer")


def process_tree(pid: int) -> list[int]:
    """`pid` and its children (nginx's master and its worker)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(int(child) for child in children)]


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the processes (all their threads), in seconds."""
    total = 0
    for pid in pids:
        # The command name, in parentheses, may hold spaces: split after its closing one.
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5)
    return total / CLK_TCK
