"""Hanging a process on purpose (SIGSTOP), for tests of what its callers do meanwhile.

`kill(pid, SIGSTOP)` returns before the process has stopped: a thread that is running keeps
running until it next enters the kernel, long enough to answer one more request. `hang`
returns only once every thread of the process is stopped, so what the test sends next meets
a process that cannot answer.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from tests.support.waiting import wait_for_sync


def _thread_states(pid: int) -> list[str]:
    states = []
    for stat in Path(f"/proc/{pid}/task").glob("*/stat"):
        try:
            text = stat.read_text()
        except FileNotFoundError:  # a thread that just exited
            continue
        states.append(text.rpartition(")")[2].split()[0])  # after "(comm)": the state letter
    return states


def is_stopped(pid: int) -> bool:
    states = _thread_states(pid)
    return bool(states) and all(state in "tT" for state in states)


def hang(pid: int) -> None:
    """SIGSTOP `pid` and return once all its threads are stopped."""
    os.kill(pid, signal.SIGSTOP)
    wait_for_sync(
        lambda: is_stopped(pid),
        what=lambda: f"every thread of pid {pid} is stopped: states {_thread_states(pid)}",
        timeout_s=10,
        interval_s=0.005,
    )


def resume(pid: int) -> None:
    os.kill(pid, signal.SIGCONT)
