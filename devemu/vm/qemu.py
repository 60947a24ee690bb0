"""QEMU command line and process for one guest boot.

The machine is software-emulated (``-accel tcg``): no KVM is assumed. The
first serial port carries the kernel console into a log file, the second
carries the script's output to QEMU's stdout, where the host reads it as
it comes. 9p shares: the host root (read-only), the run's control
folder and, optionally, a read-write folder of the caller's and the
bytecode layer (read-only, laid over the root).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devemu.vm.agent_protocol import AGENT_PORT
from devemu.vm.errors import VmSetupError
from devemu.vm.initramfs import BYTECODE_TAG, CONTROL_TAG, ROOT_TAG, SHARE_TAG, export_tag

KERNEL_APPEND = "console=ttyS0 quiet loglevel=3 panic=-1 random.trust_cpu=on"


@dataclass(frozen=True)
class MachineSpec:
    """What to boot and which folders to hand the guest."""

    vmlinuz: Path
    initramfs: Path
    control_dir: Path
    console_log: Path
    share: Path | None = None
    bytecode: Path | None = None
    memory_mb: int = 1024
    cpus: int = 2
    root: Path = Path("/")
    #: Extra read-only shares, each mounted at its own path in the guest.
    exports: tuple[Path, ...] = ()
    #: Where the script's output goes (None: QEMU's stdout).
    output_log: Path | None = None
    #: Unix socket QEMU listens on for the agent's virtio-serial port (None: no port).
    agent_socket: Path | None = None
    #: Kernel parameters after :data:`KERNEL_APPEND` (``trace_event=...``).
    kernel_args: tuple[str, ...] = ()


def _fsdev(fsdev_id: str, path: Path, tag: str, *, readonly: bool) -> list[str]:
    options = f"local,id={fsdev_id},path={path},security_model=none,multidevs=remap"
    if readonly:
        options += ",readonly=on"
    return ["-fsdev", options, "-device", f"virtio-9p-pci,fsdev={fsdev_id},mount_tag={tag}"]


def qemu_command(spec: MachineSpec, qemu: str = "qemu-system-x86_64") -> list[str]:
    """The full argv for booting ``spec``."""
    argv = [
        qemu,
        "-accel",
        "tcg",
        "-M",
        "q35",
        "-cpu",
        # Without ERMS/FSRM the guest kernel copies with rep movsq and
        # unrolled moves instead of rep movsb, which TCG runs one byte per
        # step: a TCMU READ's two kernel copies got ~3x faster. Those flags
        # only choose how a copy runs; no instruction is hidden, so programs
        # built on the host for its CPU (an LTFS built with -msse4.2) run in
        # the guest as they do on the host.
        "max,-erms,-fsrm",
        "-m",
        f"{spec.memory_mb}M",
        "-smp",
        str(spec.cpus),
        "-nodefaults",
        "-no-user-config",
        "-display",
        "none",
        "-vga",
        "none",
        "-monitor",
        "none",
        "-no-reboot",
        "-serial",
        f"file:{spec.console_log}",
        "-serial",
        "stdio" if spec.output_log is None else f"file:{spec.output_log}",
        "-kernel",
        str(spec.vmlinuz),
        "-initrd",
        str(spec.initramfs),
        "-append",
        " ".join((KERNEL_APPEND, *spec.kernel_args)),
    ]
    argv += _fsdev("root", spec.root, ROOT_TAG, readonly=True)
    argv += _fsdev("ctl", spec.control_dir, CONTROL_TAG, readonly=False)
    if spec.share is not None:
        argv += _fsdev("share", spec.share, SHARE_TAG, readonly=False)
    if spec.bytecode is not None:
        argv += _fsdev("pyc", spec.bytecode, BYTECODE_TAG, readonly=True)
    for index, path in enumerate(spec.exports):
        argv += _fsdev(f"ro{index}", path, export_tag(index), readonly=True)
    if spec.agent_socket is not None:
        argv += [
            "-device",
            "virtio-serial-pci",
            "-chardev",
            f"socket,id=agent,path={spec.agent_socket},server=on,wait=off",
            "-device",
            f"virtserialport,chardev=agent,name={AGENT_PORT}",
        ]
    return argv


def find_qemu() -> str:
    found = shutil.which("qemu-system-x86_64")
    if found is None:
        raise VmSetupError("qemu-system-x86_64 is not installed (Debian package qemu-system-x86)")
    return found


@dataclass(frozen=True)
class QemuOutcome:
    """How the QEMU process ended."""

    returncode: int | None
    output: bytes
    stderr: bytes
    timed_out: bool
    duration: float


def run_qemu(
    argv: list[str], *, timeout: float, echo: Callable[[bytes], None] | None = None
) -> QemuOutcome:
    """Run QEMU until it exits or ``timeout`` seconds pass (then kill it).

    Bytes the guest writes to its second serial port are collected and,
    when ``echo`` is given, passed on as they arrive.
    """
    start = time.monotonic()
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdout is not None and process.stderr is not None
    chunks: list[bytes] = []
    errors: list[bytes] = []

    def pump_stdout() -> None:
        assert process.stdout is not None
        while chunk := os.read(process.stdout.fileno(), 65536):
            chunks.append(chunk)
            if echo is not None:
                echo(chunk)

    def pump_stderr() -> None:
        assert process.stderr is not None
        errors.append(process.stderr.read())

    readers = [threading.Thread(target=pump, daemon=True) for pump in (pump_stdout, pump_stderr)]
    for reader in readers:
        reader.start()
    timed_out = False
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        process.kill()
        process.wait()
    except BaseException:
        process.kill()
        process.wait()
        raise
    finally:
        for reader in readers:
            reader.join(timeout=5)
    return QemuOutcome(
        None if timed_out else process.returncode,
        b"".join(chunks),
        b"".join(errors),
        timed_out,
        time.monotonic() - start,
    )
