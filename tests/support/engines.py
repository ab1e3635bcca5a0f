"""Real engines started by test fixtures: memcached processes on free ports."""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from reelcloud.launcher.engines.kafka import KafkaEngine
from reelcloud.launcher.engines.postgres import PostgresEngine
from reelcloud.launcher.process import ManagedProcess, ProcessSpec, ProcessState
from tests.support.factories import free_port
from tests.support.waiting import wait_for, wait_for_sync


def _accepts(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
    except OSError:
        return False
    return True


def start_memcached() -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("memcached")
    assert binary, "memcached is not installed: `make test` installs it (scripts/system-deps.sh)"
    port = free_port()
    argv = [binary, "--listen", "127.0.0.1", "--port", str(port), "--udp-port", "0", "-m", "16"]
    if os.geteuid() == 0:
        argv += ["--user", "root"]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_sync(lambda: _accepts(port), what=f"memcached listens on {port}", timeout_s=10)
    except BaseException:
        stop(proc)
        raise
    return proc, port


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait()


class NatsServer:
    """nats-server with JetStream on a fixed port and store, so it can be stopped and
    started again with its streams intact."""

    def __init__(self, store_dir: Path, *, max_payload: int | None = None) -> None:
        """`max_payload`: the server's limit on one message (its default is 1 MiB)."""
        from reelcloud.launcher.engines.nats import nats_server_binary

        self.binary = str(nats_server_binary())
        self.store_dir = store_dir
        self.max_payload = max_payload
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        argv = [
            self.binary,
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-js",
            "-sd",
            str(self.store_dir),
        ]
        if self.max_payload is not None:  # only a configuration file can set it
            self.store_dir.mkdir(parents=True, exist_ok=True)
            config = self.store_dir / "nats.conf"
            config.write_text(f"max_payload: {self.max_payload}\n")
            argv += ["-c", str(config)]
        self.proc = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_for_sync(lambda: _accepts(self.port), what=f"nats-server listens on {self.port}")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)
            self.proc = None


class Postgres:
    """A PostgreSQL that can be stopped and started again on the same port."""

    def __init__(self, root: Path, role: str = "reelcloud_test") -> None:
        """`role`: the role (and database) `url` names, once provisioned with `password`."""
        self.engine = PostgresEngine(root / "pg", root / "pg.log")
        self.spec: ProcessSpec | None = None
        self.process: ManagedProcess | None = None
        self.role = role
        self.password = secrets.token_hex(16)

    async def start(self) -> None:
        if self.spec is None:
            self.spec = await asyncio.to_thread(self.engine.prepare)
        self.process = ManagedProcess(self.spec, restart=False)
        self.process.start()
        await wait_for(
            self.engine.ready,
            what=lambda: f"PostgreSQL is ready; its log ends:\n{self._log_tail()}",
            interval_s=0.2,
        )

    async def stop(self) -> None:
        assert self.process is not None
        await self.process.stop()  # SIGINT: fast shutdown, every session terminated

    async def kill9(self) -> None:
        assert self.process is not None
        await kill9(self.process)

    def _log_tail(self) -> str:
        return self.process.log_tail() if self.process is not None else ""

    @property
    def url(self) -> str:
        return self.engine.role_url(self.role, self.password)


class KafkaBroker:
    """The engine as the launcher runs it, which a test may kill -9 and start again on the
    same port and bucket (what the launcher's restart of a dead engine does)."""

    def __init__(self, engine: KafkaEngine) -> None:
        self.engine = engine
        self.spec: ProcessSpec | None = None
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        return self.engine.url

    async def start(self) -> None:
        if self.spec is None:
            self.spec = await asyncio.to_thread(self.engine.prepare)
        self.process = ManagedProcess(self.spec, restart=False)
        self.process.start()
        await wait_for(
            self.engine.ready,
            what=lambda: (
                f"the broker answers Metadata on {self.url}; its log ends:\n{self._log_tail()}"
            ),
        )

    def kill9(self) -> None:
        """SIGKILL, from any thread (a producer's own, mid-produce)."""
        pid = self.process.pid if self.process is not None else None
        assert pid is not None, "the broker is not running"
        os.kill(pid, signal.SIGKILL)

    async def wait_dead(self) -> None:
        process = self.process
        assert process is not None
        await wait_for(
            lambda: process.state is ProcessState.STOPPED, what="the killed broker is gone"
        )
        await process.stop()

    async def stop(self) -> None:
        if self.process is not None:
            await self.process.stop()

    def _log_tail(self) -> str:
        return self.process.log_tail() if self.process is not None else ""


async def kill9(process: ManagedProcess) -> None:
    """SIGKILL, and wait until it is gone (start a new `ManagedProcess` of its spec after)."""
    pid = process.pid
    assert pid is not None, f"{process.spec.name} is not running"
    os.kill(pid, signal.SIGKILL)
    await wait_for(lambda: process.state is ProcessState.STOPPED, what=f"{process.spec.name} gone")
    await process.stop()
