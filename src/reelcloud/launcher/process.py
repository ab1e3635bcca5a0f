"""One supervised OS process: started, restarted with backoff when it dies, stopped on demand.

Every child gets its own session (a Ctrl-C in the terminal reaches only the launcher, which
then stops children in order) and a parent-death signal (if the launcher itself is killed,
the kernel stops the children, so nothing is left behind).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from reelcloud.platform.children import die_with_parent

log = logging.getLogger(__name__)

_STABLE_AFTER_S = 30.0  # a run this long resets the backoff
_MAX_BACKOFF_S = 30.0


@dataclass(frozen=True)
class ProcessSpec:
    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    cwd: Path | None = None
    stop_signal: int = signal.SIGTERM
    stop_timeout_s: float = 6.0


class ProcessState(StrEnum):
    STARTING = "starting"
    RUNNING = "running"
    BACKOFF = "backoff"
    STOPPING = "stopping"
    STOPPED = "stopped"


def backoff_s(failures: int) -> float:
    """0.5 s, 1 s, 2 s … capped at 30 s."""
    return float(min(_MAX_BACKOFF_S, 0.5 * 2 ** max(0, failures - 1)))


class ManagedProcess:
    def __init__(self, spec: ProcessSpec, *, restart: bool = True) -> None:
        self.spec = spec
        self.restart = restart
        self.state = ProcessState.STOPPED
        self.restarts = 0
        self.last_exit_code: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def pid(self) -> int | None:
        if self._proc is None or self._proc.returncode is not None:
            return None
        return self._proc.pid

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"supervise {self.spec.name}")

    async def _spawn(self) -> asyncio.subprocess.Process:
        spec = self.spec
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(spec.log_path, "ab") as log_file:  # noqa: ASYNC230 - a local append
            return await asyncio.create_subprocess_exec(
                *spec.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log_file,
                stderr=asyncio.subprocess.STDOUT,
                env={**os.environ, **spec.env},
                cwd=spec.cwd,
                user=spec.user,
                start_new_session=True,
                preexec_fn=die_with_parent(spec.stop_signal),
            )

    async def _supervise(self) -> None:
        failures = 0
        while not self._stopping.is_set():
            self.state = ProcessState.STARTING
            started = time.monotonic()
            try:
                self._proc = await self._spawn()
            except OSError as exc:
                log.error("cannot start %s: %s", self.spec.name, exc)
                self.last_exit_code = -1
            else:
                self.state = ProcessState.RUNNING
                self.last_exit_code = await self._proc.wait()
            if self._stopping.is_set() or not self.restart:
                break
            failures = 0 if time.monotonic() - started > _STABLE_AFTER_S else failures + 1
            delay = backoff_s(failures)
            log.warning(
                "%s exited with %s; restarting in %.1f s",
                self.spec.name,
                self.last_exit_code,
                delay,
            )
            self.state = ProcessState.BACKOFF
            self.restarts += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), delay)
        self.state = ProcessState.STOPPED

    async def stop(self) -> None:
        """Ask the process to stop; kill it if it has not gone within the stop timeout."""
        self._stopping.set()
        self.state = ProcessState.STOPPING
        proc = self._proc
        if proc is not None and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(self.spec.stop_signal)
            try:
                await asyncio.wait_for(proc.wait(), self.spec.stop_timeout_s)
            except TimeoutError:
                log.warning("%s did not stop in time: killing it", self.spec.name)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if self._task is not None:
            await self._task
        self.state = ProcessState.STOPPED

    def log_size(self) -> int:
        try:
            return self.spec.log_path.stat().st_size
        except OSError:
            return 0

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.spec.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])
