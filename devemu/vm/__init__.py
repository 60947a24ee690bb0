"""Boot Debian's Linux kernel under QEMU and drive devemu devices through TCMU.

``run(script)`` boots a guest whose root is the host's own filesystem
(read-only over 9p), loads target_core_user and tcm_loop, runs the shell
script and returns its exit status and output. ``serving_script`` wraps a
script so that ``devemu serve CONFIG`` runs around it.

The names below are imported on first use (PEP 562): every ``devemu``
command loads :mod:`devemu.vm.cli`, and few of them boot a guest.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from devemu.vm.errors import VmBootError, VmError, VmSetupError, VmTimeoutError
    from devemu.vm.runner import GUEST_MODULES, VmResult, run
    from devemu.vm.serving import serving_script

_SOURCES = {
    "GUEST_MODULES": "devemu.vm.runner",
    "VmBootError": "devemu.vm.errors",
    "VmError": "devemu.vm.errors",
    "VmResult": "devemu.vm.runner",
    "VmSetupError": "devemu.vm.errors",
    "VmTimeoutError": "devemu.vm.errors",
    "run": "devemu.vm.runner",
    "serving_script": "devemu.vm.serving",
}

__all__ = [
    "GUEST_MODULES",
    "VmBootError",
    "VmError",
    "VmResult",
    "VmSetupError",
    "VmTimeoutError",
    "run",
    "serving_script",
]


def __getattr__(name: str) -> Any:
    module = _SOURCES.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
