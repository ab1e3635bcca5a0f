"""Embedded engines the launcher starts when no external one is configured.

Each engine prepares its files, describes the process to supervise, says when it is ready
and gives the URL services connect to.
"""

from __future__ import annotations

import socket
from typing import Protocol

from reelcloud.launcher.process import ProcessSpec


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


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
