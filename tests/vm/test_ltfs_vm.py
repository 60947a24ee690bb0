"""LTFS itself on a devemu drive, under the real kernel: format, mount, fill, check, recover.

In the tier's guest a daemon of this module's own serves a library with
one ``ibm-lto`` LTO-8 drive; ``mtx`` loads a blank cartridge and
``scripts/ltfs-check`` runs LTFS's own tools on the drive's SCSI generic
node, with logical block protection on (CRC32C on every block, SSC-5
4.2, logical block protection): ``mkltfs``, an ``ltfs`` mount through FUSE, a tree copied in,
unmount, ``ltfsck``, a second mount that compares the tree, then a mount
whose daemon is killed with SIGKILL in the middle of a copy, ``ltfsck``
recovering the cartridge and a mount that finds the first tree whole;
then a mount during which devemu's own daemon dies: part of a third
tree copied in and indexed (``setfattr -n user.ltfs.sync``), a 40 MB copy in
the middle of which the daemon is killed with SIGKILL and started again
(it adopts its TCMU devices; the drive comes back with its cartridge
where the tape was, its protection setting and LTFS's reservation), the
copy's end, the unmount, ``ltfsck``, and a last mount on which the first
tree and the indexed part of the third are whole and each other file of
the third is absent or equal to its source. Each step must pass. Then
``sg_logs`` shows log pages 17h and 31h
with both partitions, and ``sg_read_attr`` the MAM attributes LTFS set.

LTFS is not packaged by Debian: the test needs an LTFS build (the public
LinearTapeFileSystem sources, sg backend) installed under ``/opt/ltfs``
(``LTFS_PREFIX`` elsewhere) and is skipped when there is none. Without
it, ``tests/unit/tape/test_ltfs_replay.py`` replays what LTFS sends.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devemu.vm import VmResult
from devemu.vm.cache import cache_dir
from devemu.vm.kernel import ensure_kernel
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.unit.tape.test_ltfs_replay import LTFS_CHECK_STEPS, LTFS_SERVER_KILL_STEPS
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines, value

pytestmark = pytest.mark.vm

PREFIX = Path(os.environ.get("LTFS_PREFIX", "/opt/ltfs"))
REPO = Path(__file__).resolve().parents[2]
STEPS = LTFS_CHECK_STEPS + LTFS_SERVER_KILL_STEPS

if not (PREFIX / "bin" / "mkltfs").exists():
    pytest.skip(f"no LTFS build in {PREFIX} (LTFS_PREFIX)", allow_module_level=True)

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[library]]
name = "ltfslib"
directory = "/run/ltfs-vm-tapes"
slots = 2
barcodes = ["LTV001L8"]
serial = "VMLTFSLIB1"

[[library.drives]]
name = "ltfslib-d0"
serial = "VMLTFSDRV1"
personality = "ibm-lto"
"""

SCRIPT = (
    guest_functions(ready_timeout=60)
    + r"""
READY=/run/ltfs-devemu.ready
modprobe -d "$KROOT" fuse 2> /dev/null || true
[ -c /dev/fuse ] && echo "FUSE ok"
serve_start "$DEVEMU_VM_SHARE/ltfs.toml" /tmp/ltfs-serve.log
echo "$serve_pid" > /tmp/ltfs-serve.pid
# What LTFS_KILL_SERVER runs in the middle of a copy: kill -9 the daemon, start it again.
cat > /tmp/ltfs-kill-devemu.sh <<KILL
old=\$(cat /tmp/ltfs-serve.pid)
start=\$(date +%s.%N)
kill -KILL "\$old"
# gone, or a zombie (its parent, this guest's script, reaps it later): its files are closed
while [ -e /proc/\$old ] && [ "\$(cut -d ' ' -f 3 /proc/\$old/stat 2> /dev/null)" != Z ]; do
    sleep 0.05
done
echo "killed devemu \$old"
rm -f $READY
"$DEVEMU_VM_PYTHON" -m devemu serve "$DEVEMU_VM_SHARE/ltfs.toml" --ready-file $READY \
    > /tmp/ltfs-serve2.log 2>&1 &
echo \$! > /tmp/ltfs-serve.pid
n=0
while [ ! -e $READY ] && [ "\$n" -lt 1200 ]; do sleep 0.05; n=\$((n + 1)); done
[ -e $READY ] && echo "devemu serving again as \$(cat /tmp/ltfs-serve.pid)" \
    "\$(awk "BEGIN { printf \\"%.1f\\", \$(date +%s.%N) - \$start }") s after the kill"
KILL
for _ in $(seq 200); do
    CH=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {print $(NF-1)}' | head -n1)
    T0=$(node_with_serial VMLTFSDRV1 /sys/class/scsi_tape/nst[0-9]*)
    [ -c "$CH" ] && [ -n "$T0" ] && break
    sleep 0.05
done
SG=/dev/$(ls "/sys/class/scsi_tape/${T0##*/}/device/scsi_generic")
echo "DEVICES $CH $T0 $SG"
mtx -f "$CH" load 1 0 && echo "LOAD ok"
rm -rf /tmp/ltfs-vm && mkdir -p /tmp/ltfs-vm
LTFS_PREFIX="$PREFIX" LTFS_LBP=on LTFS_TIMEOUT=240 LTFS_KILL_SERVER="sh /tmp/ltfs-kill-devemu.sh" \
    sh "$REPO/scripts/ltfs-check" "$SG" /tmp/ltfs-vm
echo "CHECK_STATUS $?"
dmesg | tail -n 40 | sed "s/^/DMESG /"
sg_logs -p 0x17 "$SG" | sed 's/^/LOG17 /'
sg_logs -p 0x31 "$SG" | sed 's/^/LOG31 /'
sg_read_attr "$SG" | sed 's/^/ATTR0 /'
sg_read_attr -p 1 "$SG" | sed 's/^/ATTR1 /'
mountpoint -q /tmp/ltfs-vm/mnt && fusermount -u -z /tmp/ltfs-vm/mnt
mtx -f "$CH" unload 1 0 && echo "UNLOAD ok"
rm -rf /tmp/ltfs-vm
pid=$(cat /tmp/ltfs-serve.pid)
kill -TERM "$pid"
for _ in $(seq 300); do kill -0 "$pid" 2> /dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2> /dev/null; then echo "TERM_STATUS running"; else echo "TERM_STATUS 0"; fi
echo "--- serve log after the restart"
tail -n 20 /tmp/ltfs-serve2.log
echo "--- serve log"
tail -n 20 /tmp/ltfs-serve.log
"""
)


@pytest.fixture(scope="module")
def checked(guest_scripts: GuestScripts) -> tuple[VmResult, str]:
    share = guest_scripts.new_share()
    (share / "ltfs.toml").write_text(CONFIG)
    env = {
        "KROOT": str(ensure_kernel(cache_dir()).root),
        "PREFIX": str(PREFIX),
        "REPO": str(REPO),
    }
    result = guest_scripts.run(SCRIPT, share=share, timeout=840, env=env)
    print(result.output)
    return result, result.output


def test_the_drive_is_served_and_loaded(checked: tuple[VmResult, str]) -> None:
    result, output = checked
    assert result.exit_code == 0, output
    assert value(output, "FUSE") == "ok", output
    assert value(output, "LOAD") == "ok", output
    assert value(output, "UNLOAD") == "ok", output
    assert value(output, "TERM_STATUS") == "0", output


@pytest.mark.parametrize("step", STEPS)
def test_ltfs_step_passes(checked: tuple[VmResult, str], step: str) -> None:
    _, output = checked
    assert f"STEP {step} 0" in output.splitlines(), "\n".join(
        line for line in output.splitlines() if line.startswith((step + ":", "STEP"))
    )


def test_lbp_was_on_and_the_copy_compared(checked: tuple[VmResult, str]) -> None:
    _, output = checked
    assert "mkltfs: LTFS30251I" in output  # "Logical block protection is enabled."
    assert value(output, "CHECK_STATUS") == "0", output


def test_sg_logs_shows_both_partitions(checked: tuple[VmResult, str]) -> None:
    _, output = checked
    log17 = "\n".join(lines(output, "LOG17"))
    assert "Volume statistics page" in log17, output
    for heading in ("Native capacity", "Used native capacity", "Remaining native capacity"):
        assert f"{heading} partition(s) [MB]:" in log17, log17
    assert log17.count("partition number: 1,") == 3, log17
    assert "partition number: 1, partition record data counter: 11999000" in log17, log17
    log31 = "\n".join(lines(output, "LOG31"))
    assert "Main partition maximum capacity (in MiB): 1000" in log31, log31
    assert "Alternate partition maximum capacity (in MiB): 11999000" in log31, log31


def test_sg_read_attr_lists_what_ltfs_wrote(checked: tuple[VmResult, str]) -> None:
    _, output = checked
    attrs = "\n".join(lines(output, "ATTR0"))
    assert "Application vendor: IBM" in attrs, attrs
    assert "Application name: LTFS" in attrs, attrs
    assert "User medium text label: devemu" in attrs, attrs
    assert "Volume coherency information" in attrs, attrs
    partition1 = "\n".join(lines(output, "ATTR1"))
    assert "Volume coherency information" in partition1, partition1
    assert "Maximum capacity in partition [MiB]: 11443138" in partition1, partition1


def test_devemu_was_killed_and_served_again_mid_copy(checked: tuple[VmResult, str]) -> None:
    _, output = checked
    killed = [line for line in output.splitlines() if line.startswith("serverkill: ")]
    assert any("killed devemu" in line for line in killed), killed
    assert any("devemu serving again as" in line for line in killed), killed
    assert any("copy running: yes" in line for line in killed), killed
