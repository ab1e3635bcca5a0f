"""memcached nodes, one pool per zone (Debian's `memcached` binary, when it is installed)."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

from reelcloud.launcher.engines import free_port
from reelcloud.launcher.process import ProcessSpec
from reelcloud.platform.errors import EngineError
from reelcloud.platform.settings import memcached_env_var


def memcached_binary() -> str | None:
    return shutil.which("memcached")


class MemcachedEngine:
    def __init__(
        self, zone: str, index: int, log_path: Path, host: str = "127.0.0.1", memory_mb: int = 64
    ) -> None:
        self.name = f"memcached-{zone}-{index}"
        self.zone = zone
        self.env_var = memcached_env_var(zone)
        self.extra_env: dict[str, str] = {}
        self.log_path = log_path
        self.host = host
        self.port = 0
        self.memory_mb = memory_mb

    @property
    def url(self) -> str:
        return f"{self.host}:{self.port}"

    def prepare(self) -> ProcessSpec:
        binary = memcached_binary()
        if binary is None:
            raise EngineError("memcached is not installed (Debian: apt-get install memcached)")
        self.port = free_port(self.host)
        argv = [
            binary,
            "--listen", self.host,
            "--port", str(self.port),
            "--udp-port", "0",
            "--memory-limit", str(self.memory_mb),
        ]  # fmt: skip
        if os.geteuid() == 0:
            argv += ["--user", "root"]  # memcached refuses root unless told who to run as
        return ProcessSpec(name=self.name, argv=argv, log_path=self.log_path)

    async def ready(self) -> bool:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port), 1
            )
        except (OSError, TimeoutError):
            return False
        try:
            writer.write(b"version\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), 1)
            return line.startswith(b"VERSION")
        except (OSError, TimeoutError):
            return False
        finally:
            writer.close()
