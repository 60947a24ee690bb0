"""A child process that never outlives its parent: ``prctl(PR_SET_PDEATHSIG)``.

prctl(2): the signal is sent when the *thread* that forked the child ends,
not the whole process; callers fork from a thread that lives as long as
the process (its main thread).
"""

from __future__ import annotations

import ctypes
import signal

_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals) -> None:
    """In the child: ask the kernel for ``sig`` when the parent's forking thread ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
