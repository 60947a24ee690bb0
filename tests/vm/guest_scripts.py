"""A test module's guest script, run in the tier's one guest instead of a boot of its own.

:class:`GuestScripts` has the shape of :class:`devemu.vm.session.VmSession`
(``run``, ``run_steps``, ``new_share``) so that a module written for a boot
of its own moves to the session's guest by changing its fixture. The
script runs in the guest as one command over the agent, its stderr merged
into its stdout, with ``$DEVEMU_VM_SHARE`` set to the module's share (a
folder inside the guest's share), in a mount namespace of its own whose
``/run`` and ``/tmp`` start empty (:data:`PRIVATE_MOUNTS`). The daemon it starts is its
own: the tier's daemon has another control socket and state directory
(see ``conftest.py``), and the tier's devices other names and another
vendor.

After each script whatever it left (daemons, LIO objects, mounts; see
:func:`devemu.vm.guest_daemon.snapshot`) is removed and recorded, so that
the next module finds the guest as the boot left it and the module's
teardown fails naming what was left.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from devemu.vm.agent_client import CommandTimeoutError
from devemu.vm.guest import Guest
from devemu.vm.guest_daemon import Snapshot, sweep
from devemu.vm.runner import VmResult
from devemu.vm.serving import serving_script
from devemu.vm.session import CONFIG_NAME, SHARE_TOKEN
from devemu.vm.steps import Step, parse_steps, steps_script

#: The script's own mount namespace with a fresh ``/run`` and ``/tmp`` (its
#: share, a folder of the guest's share, moved over into the new ``/tmp``):
#: control sockets, state directories, tape folders and scratch files start
#: empty for each module, whatever the one before left; its mounts go with it.
_PRIVATE_MOUNTS = """set -e
mount -t tmpfs -o mode=0755 module-run /run
mkdir /run/.share
mount --bind "$DEVEMU_VM_SHARE" /run/.share
mount -t tmpfs -o mode=1777 module-tmp /tmp
mkdir -p "$DEVEMU_VM_SHARE"
mount --move /run/.share "$DEVEMU_VM_SHARE"
rmdir /run/.share
set +e
exec 2>&1
exec /bin/sh -c "$0"
"""
PRIVATE_MOUNTS = (
    "unshare",
    "--mount",
    "--propagation",
    "private",
    "/bin/sh",
    "-c",
    _PRIVATE_MOUNTS,
)


class GuestScripts:
    """Runs guest scripts in the session's running guest."""

    def __init__(self, guest: Guest, baseline: Snapshot, share_root: Path) -> None:
        self.guest = guest
        self.baseline = baseline
        self.share_root = share_root
        #: What scripts left behind (removed since), one line each.
        self.left: list[str] = []

    def new_share(self) -> Path:
        """A fresh empty folder the guest can write to (inside the guest's share)."""
        return Path(tempfile.mkdtemp(prefix="module-", dir=self.share_root))

    def run(
        self,
        script: str,
        *,
        config_toml: str | None = None,
        share: Path | None = None,
        timeout: float = 300.0,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 60.0,
    ) -> VmResult:
        """Run ``script`` (under ``devemu serve`` when ``config_toml`` is given) in the guest."""
        share = share or self.new_share()
        if config_toml is not None:
            config = share / CONFIG_NAME
            config.write_text(config_toml.replace(SHARE_TOKEN, str(share.resolve())))
            script = serving_script(script, config.resolve(), ready_timeout=ready_timeout)
        started = time.monotonic()
        try:
            result = self.guest.run(
                [*PRIVATE_MOUNTS, script],
                env={"DEVEMU_VM_SHARE": str(share), **(env or {})},
                timeout=timeout,
            )
        except CommandTimeoutError:
            self._sweep(f"script killed after {timeout:g} s")
            raise
        self._sweep("script")
        return VmResult(
            exit_code=result.returncode,
            output=result.stdout.decode(errors="replace"),
            console="",
            duration=time.monotonic() - started,
            boot_seconds=0.0,
        )

    def run_steps(
        self,
        steps: Mapping[str, str] | Iterable[tuple[str, str]],
        *,
        config_toml: str | None = None,
        share: Path | None = None,
        timeout: float = 300.0,
        env: Mapping[str, str] | None = None,
        ready_timeout: float = 60.0,
    ) -> tuple[VmResult, dict[str, Step]]:
        """Run named snippets in the guest; return the run and each step's result."""
        result = self.run(
            steps_script(steps),
            config_toml=config_toml,
            share=share,
            timeout=timeout,
            env=env,
            ready_timeout=ready_timeout,
        )
        return result, parse_steps(result.output)

    def _sweep(self, what: str) -> None:
        self.left += [f"{what} left {item}" for item in sweep(self.guest, self.baseline)]
