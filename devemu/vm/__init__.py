"""Boot Debian's Linux kernel under QEMU and drive devemu devices through TCMU.

``run(script)`` boots a guest whose root is the host's own filesystem
(read-only over 9p), loads target_core_user and tcm_loop, runs the shell
script and returns its exit status and output. ``serving_script`` wraps a
script so that ``devemu serve CONFIG`` runs around it.
"""

from devemu.vm.errors import VmBootError, VmError, VmSetupError, VmTimeoutError
from devemu.vm.runner import GUEST_MODULES, VmResult, run
from devemu.vm.serving import serving_script

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
