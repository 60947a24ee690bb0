"""Whether this host can serve TCMU devices, said in one line that names the fix.

``devemu serve`` needs root (it writes configfs and opens ``/dev/uioN``),
``target_core_user`` loaded, configfs mounted with LIO initialised under
it, and the fabric's module (``tcm_loop``, ``iscsi_target_mod``). The
kernel's own view is read (``/sys/module/<name>`` exists for a loaded or
built-in module, ``/sys/kernel/config/target/core`` once LIO is up),
never a module tree
under ``/lib/modules``, which a built-in module or a custom tree does
not have.
"""

from __future__ import annotations

import os
from pathlib import Path

from devemu.errors import DevemuError
from devemu.tcmu.configfs import DEFAULT_ROOT
from devemu.tcmu.uio import DEFAULT_SYSFS


class ServeError(DevemuError):
    """The host cannot serve devices; the message says what to run."""


def check_host(
    configfs_root: Path = DEFAULT_ROOT,
    sysfs: Path = DEFAULT_SYSFS,
    *,
    fabric: str = "loopback",
    euid: int | None = None,
) -> None:
    """Refuse, in one line that says what to run, a host that cannot serve."""
    if (os.geteuid() if euid is None else euid) != 0:
        raise ServeError(
            "devemu serve must run as root (it writes configfs and opens /dev/uio*): "
            "run `sudo devemu serve CONFIG`"
        )
    if not (sysfs / "module" / "target_core_user").is_dir():
        raise ServeError(
            "the target_core_user module is not loaded: run `modprobe target_core_user`"
        )
    if not (configfs_root / "target").is_dir():
        if not configfs_root.is_dir() or not any(configfs_root.iterdir()):
            raise ServeError(
                f"configfs is not mounted on {configfs_root}: "
                f"run `mount -t configfs none {configfs_root}`"
            )
        raise ServeError(
            f"{configfs_root}/target is missing: run `modprobe target_core_mod target_core_user`"
        )
    if not (configfs_root / "target" / "core").is_dir():
        raise ServeError("LIO is not initialised: run `modprobe target_core_user`")
    if fabric == "loopback" and not (sysfs / "module" / "tcm_loop").is_dir():
        raise ServeError("the tcm_loop module is not loaded: run `modprobe tcm_loop`")
    if fabric == "iscsi" and not (sysfs / "module" / "iscsi_target_mod").is_dir():
        raise ServeError(
            "the iscsi_target_mod module is not loaded: run `modprobe iscsi_target_mod`"
        )
