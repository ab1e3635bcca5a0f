"""Driving the `reelcloud` command line as a user would, from tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.support.waiting import wait_for_sync

ROOT = Path(__file__).resolve().parents[2]
ECHO_SERVICE = {"name": "echo", "entrypoint": "tests.support.echo_service:create_app"}


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REELCLOUD_")}
    env["PYTHONPATH"] = str(ROOT)  # so instances can import the test echo service
    env.update(extra)
    return env


def reelcloud(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reelcloud", *args],
        env=env or cli_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )


def status(data_dir: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    result = reelcloud("status", "--json", "--data-dir", str(data_dir), env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def wait_status(data_dir: Path, predicate: Any, timeout_s: float = 60, **kw: Any) -> dict[str, Any]:
    """`reelcloud status --json` once it satisfies `predicate` (instances come up, restart and
    register on their own schedule)."""
    seen: list[dict[str, Any]] = []

    def matched() -> dict[str, Any] | None:
        seen[:] = [status(data_dir, **kw)]
        return seen[0] if predicate(seen[0]) else None

    current: dict[str, Any] = wait_for_sync(
        matched,
        what=lambda: (
            f"`reelcloud status` satisfies {getattr(predicate, '__name__', 'the test')}; "
            f"it says {json.dumps(seen[-1] if seen else None, indent=1)}"
        ),
        timeout_s=timeout_s,
        interval_s=0.3,
    )
    return current


def processes_mentioning(text: str) -> list[int]:
    """PIDs whose command line or environment mentions `text` (e.g. a data directory)."""
    found = []
    needle = text.encode()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            blob = (entry / "cmdline").read_bytes() + (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in blob:
            found.append(int(entry.name))
    return found


def wait_gone(text: str, timeout_s: float = 15) -> list[int]:
    deadline = time.monotonic() + timeout_s
    while (left := processes_mentioning(text)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left
