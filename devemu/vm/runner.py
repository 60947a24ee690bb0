"""Boot a guest, run one shell script in it, bring back what it printed.

The script runs as root in a chroot of the host's own filesystem, so the
host's Python, the devemu package and the SCSI tools are all there. The
host root is shared read-only; a RAM overlay takes the guest's writes
(``/var/lib/devemu``, ``/etc/target``, ...) and forgets them at power
off. ``/tmp``, ``/run`` and ``/dev/shm`` are fresh tmpfs (host files
under them are not visible, except what the guest runs from: an
interpreter, environment, checkout or kernel cache there is shared
explicitly, read-only, at its own path). The optional ``share`` folder is
mounted read-write at its own host path: images the devices serve and
results to keep go there (or on the guest's tmpfs).
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
from devemu.vm.cache import cache_dir
from devemu.vm.errors import VmBootError, VmSetupError, VmTimeoutError
from devemu.vm.initramfs import ensure_initramfs, export_tag
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


def check_share(share: Path) -> Path:
    share = share.resolve()
    if not share.is_dir():
        raise VmSetupError(f"share {share} is not a folder")
    for hidden in _GUEST_TMPFS:
        if share == hidden:
            raise VmSetupError(f"share {share} would replace the guest's own {hidden}")
    return share


#: Guest mounts a host path can never be shared over.
_UNSHAREABLE = (Path("/dev"), Path("/proc"), Path("/sys"))


def exported_paths(needed: Iterable[Path], share: Path | None = None) -> tuple[Path, ...]:
    """The host folders of ``needed`` the guest must get as extra read-only shares.

    A path under a folder the guest mounts its own tmpfs on (``/tmp``,
    ``/run``: a CI checkout, a venv) is shared explicitly and mounted at
    its own path; one already inside another export or ``share`` is not.
    """
    hidden = sorted({p.resolve() for p in needed if not visible_in_guest(p, share)}, key=str)
    exports: list[Path] = []
    for path in hidden:
        if any(path.is_relative_to(root) for root in _UNSHAREABLE):
            raise VmSetupError(f"the guest cannot see {path}: move it out of {path.parts[1]}")
        if any(path.is_relative_to(done) for done in exports):
            continue
        exports.append(path)
    return tuple(exports)


def host_paths(kernel: Kernel) -> list[Path]:
    """What the guest runs from the host: interpreter, environment, package, kernel."""
    return [
        Path(sys.executable).parent,
        Path(sys.executable).resolve().parent,
        Path(sys.prefix),
        package_root(),
        kernel.root,
    ]


@dataclass(frozen=True)
class Prepared:
    """What every boot needs, prepared once: kernel, initramfs, QEMU, bytecode layer."""

    kernel: Kernel
    initramfs: Path
    qemu: str
    bytecode: Path


def prepare(kernel: Kernel | None = None) -> Prepared:
    """Fetch and build (or find cached) everything a boot needs."""
    cache = cache_dir()
    kernel = kernel or ensure_kernel(cache)
    initramfs = ensure_initramfs(kernel, cache)
    qemu = find_qemu()
    bytecode = bytecode_layer(cache)
    ensure_bytecode(bytecode)
    return Prepared(kernel, initramfs, qemu, bytecode)


def write_control(
    control: Path,
    script: str,
    *,
    kernel: Kernel,
    modules: Iterable[str],
    share: Path | None,
    exports: Iterable[Path],
    env: Mapping[str, str] | None = None,
) -> None:
    """Fill the control folder the guest's ``/init`` reads (see :mod:`devemu.vm.initramfs`)."""
    control.mkdir(parents=True, exist_ok=True)
    (control / "script.sh").write_text(script)
    guest_env = dict(env or {})
    if share is not None:
        guest_env.setdefault("DEVEMU_VM_SHARE", str(share))
    (control / "env.sh").write_text(env_script(guest_environment(guest_env)))
    (control / "kernel-root").write_text(str(kernel.root.resolve()))
    (control / "modules").write_text(" ".join(modules) + "\n")
    if share is not None:
        (control / "share-path").write_text(str(share))
    (control / "mounts").write_text(
        "".join(f"{export_tag(index)} {path}\n" for index, path in enumerate(exports))
    )


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
    kernel_args: Iterable[str] = (),
) -> VmResult:
    """Boot the guest, run ``script`` with ``/bin/sh`` and return its result.

    ``kernel_args`` go on the guest kernel's command line after devemu's own.

    Raises :class:`VmTimeoutError` (QEMU killed) after ``timeout`` seconds,
    :class:`VmBootError` if the guest stops before the script finishes,
    :class:`VmSetupError` if the kernel, initramfs or QEMU cannot be had.
    """
    shared = check_share(share) if share is not None else None
    prepared = prepare(kernel)
    exports = exported_paths(host_paths(prepared.kernel), shared)
    with tempfile.TemporaryDirectory(prefix="devemu-vm-") as workdir:
        control = Path(workdir) / "control"
        write_control(
            control,
            script,
            kernel=prepared.kernel,
            modules=modules,
            share=shared,
            exports=exports,
            env=env,
        )
        console_log = Path(workdir) / "console.log"
        spec = MachineSpec(
            vmlinuz=prepared.kernel.vmlinuz,
            initramfs=prepared.initramfs,
            control_dir=control,
            console_log=console_log,
            share=shared,
            bytecode=prepared.bytecode,
            memory_mb=memory_mb,
            cpus=cpus,
            exports=exports,
            kernel_args=tuple(kernel_args),
        )
        started = time.monotonic()
        outcome = run_qemu(qemu_command(spec, prepared.qemu), timeout=timeout, echo=echo)
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
        return VmResult(
            exit_code=int(exit_file.read_text().strip()),
            output=output,
            console=console,
            duration=duration,
            boot_seconds=boot_seconds(control),
        )


def boot_seconds(control: Path) -> float:
    """The guest's uptime when its script started (0.0 when it never did)."""
    boot_file = control / "boot-uptime"
    try:
        return float(boot_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0
