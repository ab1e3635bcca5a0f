"""`reelcloud up`, in the foreground or detached, and `reelcloud down`."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from typing import Any

import orjson

from reelcloud.launcher.control import ControlClient, ControlServer
from reelcloud.launcher.datadir import DataDir
from reelcloud.launcher.secrets import load_secrets
from reelcloud.launcher.supervisor import Report, Supervisor
from reelcloud.platform.database import database_name
from reelcloud.platform.errors import LauncherError
from reelcloud.platform.settings import Settings

DETACH_TIMEOUT_S = 120.0
DOWN_TIMEOUT_S = 60.0


# What the launcher and every process it starts create is its owner's only (0600 files, 0700
# directories): the data directory holds secrets, content keys and members' data.
PRIVATE_UMASK = 0o077


async def run_foreground(settings: Settings, report: Report) -> None:
    """Start everything, serve the control socket, stop on Ctrl-C, SIGTERM or `down`."""
    os.umask(PRIVATE_UMASK)
    supervisor = Supervisor(settings, report)
    supervisor.acquire()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, supervisor.stop_requested.set)
    control = ControlServer(supervisor)
    await control.start()
    try:
        start = asyncio.create_task(supervisor.start())
        stop = asyncio.create_task(supervisor.stop_requested.wait())
        done, _ = await asyncio.wait({start, stop}, return_when=asyncio.FIRST_COMPLETED)
        if start in done:
            start.result()  # raises if start-up failed
            await stop
        else:
            start.cancel()
            with contextlib.suppress(asyncio.CancelledError, LauncherError):
                await start
    finally:
        report("stopping…")
        await supervisor.stop()
        await control.aclose()
        supervisor.release()


def start_detached(settings: Settings) -> dict[str, Any]:
    """Start `reelcloud up` in its own session, wait until it reports running, return status."""
    datadir = DataDir.at(settings.data_dir)
    client = ControlClient(datadir, timeout_s=5.0)
    # Without this check the new launcher's wait below could read the running one's status.
    try:
        asyncio.run(client.status())
    except LauncherError:
        pass  # nothing running there: go ahead
    else:
        raise LauncherError(f"a platform is already running with data dir {datadir.root}")
    os.umask(PRIVATE_UMASK)
    datadir.ensure()
    argv = [sys.executable, "-m", "reelcloud", "up", "--data-dir", str(datadir.root)]
    if settings.topology_file is not None:
        argv += ["--topology", str(settings.topology_file)]
    log_path = datadir.logs / "launcher.log"
    with open(log_path, "ab") as log_file:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + DETACH_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = "\n".join(log_path.read_text(errors="replace").splitlines()[-15:])
            raise LauncherError(f"the platform failed to start; {log_path}:\n{tail}")
        with contextlib.suppress(LauncherError):
            status = asyncio.run(client.status())
            if status.get("phase") == "running":
                return status
        time.sleep(0.3)
    raise LauncherError(f"the platform did not come up in {DETACH_TIMEOUT_S:.0f} s; see {log_path}")


def engine_env(datadir: DataDir) -> dict[str, str]:
    """The engine settings of the platform running in `datadir` ({} when none runs), so
    commands like `reelcloud ingest` reach the same object store and event bus."""
    try:
        state = orjson.loads(datadir.state_file.read_bytes())
    except (OSError, ValueError):
        return {}
    engines = state.get("engines", {})
    return {str(k): str(v) for k, v in engines.items()} if isinstance(engines, dict) else {}


def database_url_of(datadir: DataDir, service: str) -> str:
    """The URL of `service`'s own database on the embedded PostgreSQL of the platform running
    in `datadir`, as its role (for tools and benchmarks that seed data)."""
    try:
        where = orjson.loads(datadir.state_file.read_bytes())["postgres"]
        host, port = str(where["host"]), int(where["port"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise LauncherError(f"no embedded PostgreSQL runs with data dir {datadir.root}") from exc
    role = database_name(service)
    password = load_secrets(datadir.root).database_password(role)
    return f"postgresql://{role}:{password}@{host}:{port}/{role}"


def stop_platform(datadir: DataDir) -> int:
    """Ask the launcher of `datadir` to stop and wait until its process is gone."""
    try:
        pid = int(orjson.loads(datadir.state_file.read_bytes())["pid"])
    except (OSError, ValueError, KeyError) as exc:
        raise LauncherError(f"no platform is running with data dir {datadir.root}") from exc
    asyncio.run(ControlClient(datadir, timeout_s=5.0).shutdown())
    deadline = time.monotonic() + DOWN_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        time.sleep(0.1)
    raise LauncherError(f"launcher {pid} did not stop within {DOWN_TIMEOUT_S:.0f} s")
