"""The guest boots, loads TCMU and tcm_loop, and runs the host's Python.

The checks run in the tier's guest (an HBA and a target of their own,
removed afterwards); ``devemu vm -- CMD`` and a guest killed at its time
limit still boot guests of their own.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from devemu.vm import VmResult, VmTimeoutError, cli
from devemu.vm.guest import Guest
from devemu.vm.runner import package_root
from devemu.vm.session import VmSession
from devemu.vm.steps import Step
from tests.vm.guest_scripts import GuestScripts

pytestmark = pytest.mark.vm

C = "/sys/kernel/config/target"
WWN = "naa.5001405000000e01"
NEXUS = "naa.5001405000000e02"
#: An HBA number no daemon uses (theirs is 0).
HBA = 7

STEPS = {
    "modules": "grep -q '^target_core_user ' /proc/modules\ngrep -q '^tcm_loop ' /proc/modules",
    "configfs": f"grep -q ' /sys/kernel/config configfs ' /proc/mounts\ntest -d {C}/core",
    "backstore": f"""
mkdir -p {C}/core/user_{HBA}/probe
echo -n dev_config=devemu/probe > {C}/core/user_{HBA}/probe/control
echo -n dev_size=1048576 > {C}/core/user_{HBA}/probe/control
echo 1 > {C}/core/user_{HBA}/probe/enable
for uio in /sys/class/uio/uio*; do
    if [ "$(cat $uio/name)" = tcm-user/{HBA}/probe/devemu/probe ]; then
        test -c /dev/${{uio##*/}}
        cat $uio/maps/map0/size
    fi
done
""",
    "loopback": f"""
mkdir -p {C}/loopback/{WWN}/tpgt_1/lun/lun_0
echo -n {NEXUS} > {C}/loopback/{WWN}/tpgt_1/nexus
cat {C}/loopback/{WWN}/tpgt_1/nexus
rmdir {C}/loopback/{WWN}/tpgt_1/lun/lun_0
echo -n 0 > {C}/loopback/{WWN}/tpgt_1/enable 2>/dev/null || true
rmdir {C}/loopback/{WWN}/tpgt_1 {C}/loopback/{WWN}
""",
    "teardown": f"""rmdir {C}/core/user_{HBA}/probe
rmdir {C}/core/user_{HBA}
! grep -l /probe/ /sys/class/uio/uio*/name
""",
    "python": '"$DEVEMU_VM_PYTHON" -c "import devemu, sys; print(devemu.__file__)"',
    "python_on_path": "python3 -c 'import sys; print(sys.executable)'",
    "root_writes_stay_in_guest": "touch /usr/devemu-vm-probe\nmkdir -p /var/lib/devemu/probe",
    "tmp_writable": "echo x > /tmp/probe && test -s /tmp/probe",
    "share": 'echo from-guest > "$DEVEMU_VM_SHARE/written-in-guest"',
    "sg_tools": "command -v sg_inq lsscsi mt mtx fio",
    "failing_step": "exit 3",
    "crc32c_code": '"$DEVEMU_VM_PYTHON" -c "import os; from devemu.tape import castagnoli as c; '
    'print(c.emulated_by_tcg(), c.hardware_based, os.environ.get(c.MODE_VARIABLE))"',
}


@pytest.fixture(scope="module")
def boot(guest_scripts: GuestScripts) -> tuple[VmResult, dict[str, Step], Path]:
    share = guest_scripts.new_share()
    result, steps = guest_scripts.run_steps(STEPS, share=share, timeout=240)
    return result, steps, share


def _step(boot: tuple[VmResult, dict[str, Step], Path], name: str) -> Step:
    result, steps, _ = boot
    assert name in steps, f"step {name} missing; output:\n{result.output}"
    return steps[name]


@pytest.mark.parametrize(
    "name",
    [
        "modules",
        "configfs",
        "backstore",
        "loopback",
        "teardown",
        "python",
        "python_on_path",
        "root_writes_stay_in_guest",
        "tmp_writable",
        "share",
        "sg_tools",
    ],
)
def test_step_succeeds(boot: tuple[VmResult, dict[str, Step], Path], name: str) -> None:
    step = _step(boot, name)
    assert step.ok, f"{name} failed with status {step.status}:\n{step.output}"


def test_backstore_maps_ring_and_data_area(boot: tuple[VmResult, dict[str, Step], Path]) -> None:
    assert _step(boot, "backstore").output.split() == ["0x0000000040800000"]


def test_loopback_nexus_is_set(boot: tuple[VmResult, dict[str, Step], Path]) -> None:
    assert NEXUS in _step(boot, "loopback").output


def test_guest_imports_host_package(boot: tuple[VmResult, dict[str, Step], Path]) -> None:
    printed = Path(_step(boot, "python").output.strip())
    assert printed == package_root() / "devemu" / "__init__.py"


def test_crc32c_by_the_table_code_under_tcg(
    boot: tuple[VmResult, dict[str, Step], Path],
) -> None:
    # The guest's CPU is QEMU's TCG, which runs the CRC32 instruction one bit at a time.
    assert _step(boot, "crc32c_code").output.split() == ["True", "False", "None"]


def test_failing_step_reports_its_status(boot: tuple[VmResult, dict[str, Step], Path]) -> None:
    assert _step(boot, "failing_step").status == 3


def test_share_written_by_guest(boot: tuple[VmResult, dict[str, Step], Path]) -> None:
    _, _, share = boot
    assert (share / "written-in-guest").read_text() == "from-guest\n"


def test_host_root_untouched(boot: tuple[VmResult, dict[str, Step], Path]) -> None:
    assert _step(boot, "root_writes_stay_in_guest").ok
    assert not Path("/usr/devemu-vm-probe").exists()


def test_boot_is_quick(tier_guest: Guest) -> None:
    assert 0 < tier_guest.info["boot_seconds"] < 30


def test_cli_runs_command_and_returns_its_status(
    vm_session: VmSession, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="devemu")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(
        ["vm", "--timeout", "120", "--", "sh", "-c", "echo out; echo err >&2; exit 7"]
    )
    assert args.func(args) == 7
    assert capsys.readouterr().out.splitlines() == ["out", "err"]


def test_timeout_kills_the_guest(vm_session: VmSession) -> None:
    with pytest.raises(VmTimeoutError, match="QEMU killed"):
        vm_session.run("sleep 600", timeout=1.5)
