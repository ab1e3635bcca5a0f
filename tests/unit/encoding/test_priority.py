"""Encoding's children run at background priority: read back from /proc, as the kernel sees
them (nice value, scheduling policy, session, and the session's autogroup)."""

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reelcloud.encoding.priority import BACKGROUND_NICE, start_background
from reelcloud.encoding.tools import ffmpeg_binary

SCHED_BATCH = 3
AUTOGROUP = Path("/proc/self/autogroup").exists()


def scheduling(pid: int) -> tuple[int, int]:
    """(nice, policy) of a process, from /proc/<pid>/stat (fields 19 and 41)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return int(fields[16]), int(fields[38])


def expected_nice() -> int:
    """Background priority lowers, never raises: a test run already niced lower stays so."""
    return max(BACKGROUND_NICE, os.getpriority(os.PRIO_PROCESS, 0))


def autogroup_nice(pid: int) -> int:
    return int(Path(f"/proc/{pid}/autogroup").read_text().split("nice")[1])


@pytest.mark.asyncio
async def test_ingests_ffmpeg_runs_niced_batch_in_a_session_and_autogroup_of_its_own():
    # An ffmpeg that runs until stopped: a 16x16 picture a second, to nowhere.
    argv = [ffmpeg_binary(), "-hide_banner", "-nostdin", "-loglevel", "error",
            "-re", "-f", "lavfi", "-i", "nullsrc=s=16x16:r=1", "-f", "null", "-"]  # fmt: skip
    proc = await start_background(
        argv, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    try:
        # Started means exec'd: the priority was set before ffmpeg's first instruction.
        assert scheduling(proc.pid) == (expected_nice(), SCHED_BATCH)
        assert os.getsid(proc.pid) == proc.pid
        if AUTOGROUP:
            assert autogroup_nice(proc.pid) == BACKGROUND_NICE
        # The caller itself is untouched.
        assert scheduling(os.getpid()) == (os.getpriority(os.PRIO_PROCESS, 0), os.SCHED_OTHER)
    finally:
        proc.send_signal(signal.SIGKILL)
        await proc.wait()


PRINT_PRIORITY = (
    "import os; "
    "print(os.getpriority(os.PRIO_PROCESS, 0), os.sched_getscheduler(0), "
    "open('/proc/self/autogroup').read().split('nice')[1].strip() if "
    "os.path.exists('/proc/self/autogroup') else '-')"
)


def run_at_background_priority(preexec_fn=None) -> list[str]:
    """What the launcher does for demo seeding: the runner in a session of its own."""
    result = subprocess.run(
        [sys.executable, "-m", "reelcloud.encoding.priority",
         sys.executable, "-c", PRINT_PRIORITY],
        capture_output=True, text=True, timeout=30, start_new_session=True,
        preexec_fn=preexec_fn,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_the_seed_runner_execs_its_command_at_background_priority():
    nice, policy, group = run_at_background_priority()
    assert (int(nice), int(policy)) == (expected_nice(), SCHED_BATCH)
    if AUTOGROUP:
        assert int(group) == BACKGROUND_NICE


def test_the_runner_never_raises_a_priority_already_lower():
    nice, _, _ = run_at_background_priority(preexec_fn=lambda: os.nice(19 - os.nice(0)))
    assert int(nice) == 19


def test_the_runner_without_a_command_says_how_to_use_it():
    result = subprocess.run(
        [sys.executable, "-m", "reelcloud.encoding.priority"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 1
    assert "usage:" in result.stderr
