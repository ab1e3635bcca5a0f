"""Background priority: encoding is batch work that must never starve the control plane.

On a small machine an encode (ffmpeg's threads, VMAF probes, encryption, hashing) can take
every core for minutes, and a sign-up or a play waiting behind it misses its deadline. So
ingest's ffmpeg runs, and the launcher's demo seeding as a whole runs, at background priority,
lowered three ways (a process may always lower its own priority, never raise it back):

- nice 10: a CFS weight of 110 against a service's 1024, about a tenth of a contended core;
- SCHED_BATCH: the task counts as CPU-bound, and its wake-ups do not preempt interactive
  tasks. (SCHED_IDLE was the other candidate and is not used: on a machine that is never idle
  — a load run, other people's tests — the encode would never finish.)
- the autogroup: with CONFIG_SCHED_AUTOGROUP on (Debian's and Ubuntu's kernels; this machine),
  CFS shares CPU between sessions first and by nice only within a session, and the launcher
  starts every service in a session of its own. A nice value alone then changes nothing
  against the services, so a background process leads a session of its own and lowers that
  session's autogroup (`/proc/self/autogroup`) too.

`python -m reelcloud.encoding.priority COMMAND...` runs a command that way (the launcher's
demo seeding); `start_background(argv)` starts a child that way (every ffmpeg of ingest).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import Callable
from typing import Any

from reelcloud.platform.children import die_with_parent

BACKGROUND_NICE = 10
_AUTOGROUP = "/proc/self/autogroup"


def lower_priority(nice: int = BACKGROUND_NICE) -> None:
    """This process at background priority, best effort (whatever the OS refuses is skipped).

    On Linux the nice value and the policy are per thread: call it before any thread starts
    (threads and children inherit both)."""
    with contextlib.suppress(OSError):
        if os.getpriority(os.PRIO_PROCESS, 0) < nice:
            os.setpriority(os.PRIO_PROCESS, 0, nice)
    if hasattr(os, "SCHED_BATCH"):
        with contextlib.suppress(OSError):
            os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    if os.getsid(0) == os.getpid():  # our session's autogroup is ours alone to lower
        with contextlib.suppress(OSError):
            fd = os.open(_AUTOGROUP, os.O_WRONLY)
            try:
                os.write(fd, str(nice).encode())
            finally:
                os.close(fd)


def background_child(nice: int = BACKGROUND_NICE) -> Callable[[], None]:
    """A `preexec_fn` for a child started in a new session: it dies with its parent and runs
    at background priority."""
    dies_with_parent = die_with_parent()

    def prepare() -> None:
        dies_with_parent()
        lower_priority(nice)

    return prepare


async def start_background(argv: list[str], **kwargs: Any) -> asyncio.subprocess.Process:
    """`asyncio.create_subprocess_exec(*argv, **kwargs)` at background priority, in a session
    of its own (so its autogroup can be lowered; it still dies with this process)."""
    return await asyncio.create_subprocess_exec(
        *argv, start_new_session=True, preexec_fn=background_child(), **kwargs
    )


def main(argv: list[str]) -> None:
    """Replace this process by `argv`, at background priority."""
    if not argv:
        sys.exit("usage: python -m reelcloud.encoding.priority COMMAND [ARG...]")
    lower_priority()
    os.execvp(argv[0], argv)


if __name__ == "__main__":
    main(sys.argv[1:])
