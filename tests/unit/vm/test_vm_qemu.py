"""QEMU command line construction and process handling."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest

from devemu.vm.qemu import KERNEL_APPEND, MachineSpec, qemu_command, run_qemu


def _spec(tmp_path: Path, share: Path | None = None) -> MachineSpec:
    return MachineSpec(
        vmlinuz=Path("/k/vmlinuz"),
        initramfs=Path("/k/initrd.cpio"),
        control_dir=tmp_path / "control",
        console_log=tmp_path / "console.log",
        share=share,
    )


def _option_values(argv: list[str], option: str) -> list[str]:
    return [argv[i + 1] for i, arg in enumerate(argv) if arg == option]


def test_software_emulation_only(tmp_path: Path) -> None:
    argv = qemu_command(_spec(tmp_path))
    assert _option_values(argv, "-accel") == ["tcg"]
    assert "-enable-kvm" not in argv
    assert not any("kvm" in arg for arg in argv)


def test_guest_cpu_has_no_fast_string_copies(tmp_path: Path) -> None:
    # TCG runs rep movsb a byte per step; the kernel must pick another copy.
    (model,) = _option_values(qemu_command(_spec(tmp_path)), "-cpu")
    assert model.split(",")[0] == "max"
    assert {"-erms", "-fsrm"} <= set(model.split(",")[1:])


def test_guest_cpu_hides_no_instruction_set(tmp_path: Path) -> None:
    # Host-built programs run in the guest: only the fast-string flags go.
    (model,) = _option_values(qemu_command(_spec(tmp_path)), "-cpu")
    assert set(model.split(",")[1:]) == {"-erms", "-fsrm"}


def test_console_goes_to_file_and_script_output_to_stdio(tmp_path: Path) -> None:
    argv = qemu_command(_spec(tmp_path))
    assert _option_values(argv, "-serial") == [f"file:{tmp_path / 'console.log'}", "stdio"]
    assert _option_values(argv, "-append") == [KERNEL_APPEND]
    assert "console=ttyS0" in KERNEL_APPEND


def test_extra_kernel_parameters_follow_devemus_own(tmp_path: Path) -> None:
    spec = dataclasses.replace(_spec(tmp_path), kernel_args=("trace_event=sched:sched_switch",))
    (line,) = _option_values(qemu_command(spec), "-append")
    assert line == KERNEL_APPEND + " trace_event=sched:sched_switch"


def test_kernel_initrd_and_machine(tmp_path: Path) -> None:
    argv = qemu_command(_spec(tmp_path), qemu="/usr/bin/qemu-system-x86_64")
    assert argv[0] == "/usr/bin/qemu-system-x86_64"
    assert _option_values(argv, "-kernel") == ["/k/vmlinuz"]
    assert _option_values(argv, "-initrd") == ["/k/initrd.cpio"]
    assert _option_values(argv, "-m") == ["1024M"]
    assert _option_values(argv, "-smp") == ["2"]
    assert "-no-reboot" in argv and "-nodefaults" in argv


def test_root_read_only_control_read_write(tmp_path: Path) -> None:
    fsdevs = _option_values(qemu_command(_spec(tmp_path)), "-fsdev")
    assert fsdevs == [
        "local,id=root,path=/,security_model=none,multidevs=remap,readonly=on",
        f"local,id=ctl,path={tmp_path / 'control'},security_model=none,multidevs=remap",
    ]


def test_share_added_only_when_given(tmp_path: Path) -> None:
    without = qemu_command(_spec(tmp_path))
    with_share = qemu_command(_spec(tmp_path, share=tmp_path / "share"))
    assert len(_option_values(without, "-device")) == 2
    devices = _option_values(with_share, "-device")
    assert devices[-1] == "virtio-9p-pci,fsdev=share,mount_tag=devemushare"
    assert _option_values(with_share, "-fsdev")[-1].startswith(f"local,id=share,path={tmp_path}")
    assert "readonly" not in _option_values(with_share, "-fsdev")[-1]


def test_bytecode_layer_shared_read_only_when_given(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    assert "mount_tag=devemupyc" not in " ".join(qemu_command(spec))
    argv = qemu_command(dataclasses.replace(spec, bytecode=tmp_path / "pyc"))
    assert _option_values(argv, "-device")[-1] == "virtio-9p-pci,fsdev=pyc,mount_tag=devemupyc"
    assert _option_values(argv, "-fsdev")[-1] == (
        f"local,id=pyc,path={tmp_path / 'pyc'},security_model=none,multidevs=remap,readonly=on"
    )


def test_run_collects_output_and_status() -> None:
    echoed: list[bytes] = []
    outcome = run_qemu(
        [sys.executable, "-c", "import sys; print('hi'); sys.stderr.write('e'); sys.exit(4)"],
        timeout=30,
        echo=echoed.append,
    )
    assert (outcome.returncode, outcome.output, outcome.stderr) == (4, b"hi\n", b"e")
    assert b"".join(echoed) == b"hi\n"
    assert not outcome.timed_out


def test_run_kills_on_timeout() -> None:
    outcome = run_qemu(
        [sys.executable, "-c", "import time; print('up', flush=True); time.sleep(60)"],
        timeout=0.5,
    )
    assert outcome.timed_out and outcome.returncode is None
    assert outcome.output == b"up\n"
    assert outcome.duration < 10


def test_run_reports_missing_binary() -> None:
    with pytest.raises(FileNotFoundError):
        run_qemu(["/nonexistent/qemu-system-x86_64"], timeout=1)
