"""Child processes that cannot outlive their parent."""

from __future__ import annotations

import ctypes
import signal
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: int = signal.SIGKILL) -> Callable[[], None]:
    """A `preexec_fn` asking the kernel to send `sig` to the child when its parent dies
    (Linux's PR_SET_PDEATHSIG), so a killed launcher or CLI leaves no orphans behind."""

    def set_pdeathsig() -> None:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0)

    return set_pdeathsig
