"""Boot a guest, run one shell script in it, bring back what it printed.

The script runs as root in a chroot of the host's own filesystem, so the
host's Python, the devemu package and the SCSI tools are all there. The
host root is shared read-only; a RAM overlay takes the guest's writes
(``/var/lib/devemu``, ``/etc/target``, ...) and forgets them at power
off. ``/tmp``, ``/run`` and ``/dev/shm`` are fresh tmpfs (host files
under them are not visible). The optional ``share`` folder is mounted
read-write at its own host path: images the devices serve and results to
keep go there (or on the guest's tmpfs).
"""

from __future__ import annotations

import os
import shlex
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import devemu
from devemu.vm.bytecode import bytecode_layer, ensure_bytecode
from devemu.vm.cache import CACHE_ENV, cache_dir
from devemu.vm.errors import VmBootError, VmSetupError, VmTimeoutError
from devemu.vm.initramfs import ensure_initramfs
from devemu.vm.kernel import Kernel, ensure_kernel
from devemu.vm.qemu import MachineSpec, find_qemu, qemu_command, run_qemu

#: Loaded in the guest before the script starts.
GUEST_MODULES = ("target_core_user", "tcm_loop", "sd_mod", "sr_mod", "st", "ch", "sg", "loop")

#: Paths the guest hides behind its own tmpfs mounts.
_GUEST_TMPFS = (Path("/tmp"), Path("/run"), Path("/dev"), Path("/proc"), Path("/sys"))


@dataclass(frozen=True)
class VmResult:
    """What a guest run produced.

    ``output`` is the script's stdout and stderr, interleaved as written;
    ``console`` the kernel console; ``boot_seconds`` the guest's uptime
    when the script started; ``duration`` the wall time of the whole boot.
    """

    exit_code: int
    output: str
    console: str
    duration: float
    boot_seconds: float


def package_root() -> Path:
    """The folder holding the ``devemu`` package the host is running."""
    return Path(devemu.__file__).resolve().parent.parent


def guest_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment the script starts with: the host's interpreter first on PATH."""
    interpreter = Path(sys.executable)
    env = {
        "PATH": ":".join(
            [
                str(interpreter.parent),
                "/usr/local/sbin",
                "/usr/local/bin",
                "/usr/sbin",
                "/usr/bin",
                "/sbin",
                "/bin",
            ]
        ),
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "TERM": "dumb",
        "PYTHONPATH": str(package_root()),
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
        "DEVEMU_VM": "1",
        "DEVEMU_VM_PYTHON": str(interpreter),
        "DEVEMU_VM_CWD": os.getcwd(),
    }
    env.update(extra or {})
    return env


def env_script(env: Mapping[str, str]) -> str:
    """``env.sh``: one ``export`` per variable, shell-quoted."""
    for name in env:
        if not name.isidentifier():
            raise VmSetupError(f"environment variable name {name!r} is not valid in a shell")
    return "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())


def visible_in_guest(path: Path, share: Path | None = None) -> bool:
    """True when the guest sees the host's ``path`` (not hidden by a guest mount)."""
    path = path.resolve()
    if share is not None and path.is_relative_to(share.resolve()):
        return True
    return not any(path.is_relative_to(hidden) for hidden in _GUEST_TMPFS)


def _check_share(share: Path) -> Path:
    share = share.resolve()
    if not share.is_dir():
        raise VmSetupError(f"share {share} is not a folder")
    for hidden in _GUEST_TMPFS:
        if share == hidden:
            raise VmSetupError(f"share {share} would replace the guest's own {hidden}")
    return share


def run(
    script: str,
    *,
    timeout: float = 300.0,
    share: Path | None = None,
    env: Mapping[str, str] | None = None,
    modules: Iterable[str] = GUEST_MODULES,
    memory_mb: int = 1024,
    cpus: int = 2,
    echo: Callable[[bytes], None] | None = None,
    kernel: Kernel | None = None,
) -> VmResult:
    """Boot the guest, run ``script`` with ``/bin/sh`` and return its result.

    Raises :class:`VmTimeoutError` (QEMU killed) after ``timeout`` seconds,
    :class:`VmBootError` if the guest stops before the script finishes,
    :class:`VmSetupError` if the kernel, initramfs or QEMU cannot be had.
    """
    cache = cache_dir()
    kernel = kernel or ensure_kernel(cache)
    shared = _check_share(share) if share is not None else None
    for needed, remedy in (
        (Path(sys.executable), "install Python outside /tmp and /run"),
        (Path(sys.prefix), "create the Python environment outside /tmp and /run"),
        (package_root(), "install the project outside /tmp and /run"),
        (kernel.root, f"point {CACHE_ENV} outside /tmp and /run"),
    ):
        if not visible_in_guest(needed, shared):
            raise VmSetupError(
                f"the guest cannot see {needed} (it mounts its own tmpfs there): {remedy}"
            )
    initramfs = ensure_initramfs(kernel, cache)
    qemu = find_qemu()
    bytecode = bytecode_layer(cache)
    ensure_bytecode(bytecode)
    with tempfile.TemporaryDirectory(prefix="devemu-vm-") as workdir:
        control = Path(workdir) / "control"
        control.mkdir()
        (control / "script.sh").write_text(script)
        guest_env = dict(env or {})
        if shared is not None:
            guest_env.setdefault("DEVEMU_VM_SHARE", str(shared))
        (control / "env.sh").write_text(env_script(guest_environment(guest_env)))
        (control / "kernel-root").write_text(str(kernel.root.resolve()))
        (control / "modules").write_text(" ".join(modules) + "\n")
        if shared is not None:
            (control / "share-path").write_text(str(shared))
        console_log = Path(workdir) / "console.log"
        spec = MachineSpec(
            vmlinuz=kernel.vmlinuz,
            initramfs=initramfs,
            control_dir=control,
            console_log=console_log,
            share=shared,
            bytecode=bytecode,
            memory_mb=memory_mb,
            cpus=cpus,
        )
        started = time.monotonic()
        outcome = run_qemu(qemu_command(spec, qemu), timeout=timeout, echo=echo)
        duration = time.monotonic() - started
        output = outcome.output.decode(errors="replace")
        console = console_log.read_text(errors="replace") if console_log.exists() else ""
        if outcome.timed_out:
            raise VmTimeoutError(
                f"guest still running after {timeout:.0f} s: QEMU killed",
                output=output,
                console=console,
            )
        setup_error = control / "setup-error"
        if setup_error.exists():
            raise VmBootError(
                f"guest setup failed: {setup_error.read_text().strip()}",
                output=output,
                console=console,
            )
        exit_file = control / "exit-code"
        if not exit_file.exists():
            stderr = outcome.stderr.decode(errors="replace").strip()
            raise VmBootError(
                f"guest stopped (QEMU status {outcome.returncode}) before the script finished"
                + (f": {stderr}" if stderr else ""),
                output=output,
                console=console,
            )
        boot_file = control / "boot-uptime"
        boot_seconds = float(boot_file.read_text().split()[0]) if boot_file.exists() else 0.0
        return VmResult(
            exit_code=int(exit_file.read_text().strip()),
            output=output,
            console=console,
            duration=duration,
            boot_seconds=boot_seconds,
        )
