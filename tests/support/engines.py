"""Real engines started by test fixtures: memcached processes on free ports."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

from tests.support.factories import free_port
from tests.support.waiting import wait_for_sync


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

    def __init__(self, store_dir: Path) -> None:
        from reelcloud.launcher.engines.nats import nats_server_binary

        self.binary = str(nats_server_binary())
        self.store_dir = store_dir
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"nats://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "-a",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-js",
                "-sd",
                str(self.store_dir),
            ],
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
