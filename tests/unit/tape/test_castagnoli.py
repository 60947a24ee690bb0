"""Which CRC-32C code devemu loads: the instruction, or the table under QEMU's TCG."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from devemu.tape import castagnoli

TCG = (
    "processor\t: 0\nvendor_id\t: AuthenticAMD\n"
    "model name\t: QEMU TCG CPU version 2.5+\nflags\t\t: fpu sse4_2 hypervisor\n"
)
HOST = "processor\t: 0\nmodel name\t: AMD EPYC 7B13 64-Core Processor\nflags\t\t: sse4_2\n"
KVM = "processor\t: 0\nmodel name\t: QEMU Virtual CPU version 2.5+\nflags\t\t: hypervisor\n"


def _cpuinfo(tmp_path: Path, text: str, name: str = "cpuinfo") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(("text", "emulated"), [(TCG, True), (HOST, False), (KVM, False)])
def test_emulated_by_tcg_reads_the_model_name(tmp_path: Path, text: str, emulated: bool) -> None:
    assert castagnoli.emulated_by_tcg(_cpuinfo(tmp_path, text)) is emulated


def test_no_cpuinfo_is_no_emulator(tmp_path: Path) -> None:
    assert castagnoli.emulated_by_tcg(tmp_path / "missing") is False


def test_software_under_tcg_unless_the_user_chose(tmp_path: Path) -> None:
    tcg, host = _cpuinfo(tmp_path, TCG), _cpuinfo(tmp_path, HOST, "host")
    assert castagnoli.software_mode({}, tcg) == "force"
    assert castagnoli.software_mode({}, host) is None
    assert castagnoli.software_mode({castagnoli.MODE_VARIABLE: "none"}, tcg) is None


def _load_in_child(env: dict[str, str]) -> list[str]:
    code = (
        "import os; from devemu.tape import castagnoli as c; "
        "print(c.hardware_based, os.environ.get(c.MODE_VARIABLE), c.crc32c_of(b'123456789'))"
    )
    return subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
    ).stdout.split()


def test_both_codes_agree_and_the_switch_is_not_left_behind() -> None:
    env = {k: v for k, v in os.environ.items() if k != castagnoli.MODE_VARIABLE}
    forced = _load_in_child({**env, castagnoli.MODE_VARIABLE: "force"})
    assert forced == ["False", "force", str(0xE3069283)]  # the user's own switch stays
    chosen = _load_in_child(env)
    # Whichever code this machine gets, devemu's own choice leaves no switch behind
    # (the VM tier checks that a TCG guest gets the table code).
    assert chosen[1:] == ["None", str(0xE3069283)]
