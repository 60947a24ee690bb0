"""SANITIZE, removable disks and live write protection under a real Linux kernel, one boot.

The guest serves two disks whose images lie on the share, so the host
checks the files after power-off:

- ``san0`` (fixed): ``sg_sanitize`` with OVERWRITE (a pattern file, two
  passes, INVERT), BLOCK ERASE and CRYPTOGRAPHIC ERASE, each over data
  written first, a copy of the image taken after each; an IMMED
  OVERWRITE of 31 passes followed with ``sg_requests --progress`` and
  TEST UNIT READY answering SANITIZE IN PROGRESS; a failing sanitize
  (the TEST field) leaving the disk in failure mode until EXIT FAILURE
  MODE; then ``devemu disk protect`` with a write refused and the
  kernel's read-only state following a rescan (sd reads WP at
  revalidation; MODE PARAMETERS CHANGED alone does not make it look).
- ``rdx0`` (``removable = true``): ``sg_start --eject`` on its sg node
  (an open of ``/dev/sdX`` makes sd prevent removal), TEST UNIT READY
  answering MEDIUM NOT PRESENT, ``devemu disk insert`` of an ext4 image
  and a mount of it; ``devemu disk protect rdx0 on`` with a write
  refused and ``blockdev --getro`` answering 1 (sd revalidates on the
  open after the MEDIUM MAY HAVE CHANGED unit attention), then off again.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devemu.disk.image import create_image
from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from devemu.vm.session import VmSession
from devemu.vm.steps import Step
from tests.vm.vm_helpers import value

pytestmark = pytest.mark.vm

MB = 16
PATTERN = bytes.fromhex("deadbeef")

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[disk]]
name = "san0"
image = "san.img"
serial = "VMSAN0001"

[[disk]]
name = "rdx0"
image = "rdx.img"
serial = "VMRDX0001"
removable = true
"""

#: Every step but the first finds the nodes in /tmp.
NODES = 'san=$(cat /tmp/san); rdx=$(cat /tmp/rdx); SHARE="$DEVEMU_VM_SHARE"\n'
FILL = f'yes DEVEMU-DATA | head -c {MB}M | dd of="$san" bs=1M oflag=direct status=none\n'

STEPS: dict[str, str] = {
    "serve": guest_functions(ready_timeout=30)
    + """
SHARE="$DEVEMU_VM_SHARE"
serve_start "$SHARE/vm.toml" /tmp/serve.log -v
san=$(node_with_serial VMSAN0001 /sys/block/sd*)
rdx=$(node_with_serial VMRDX0001 /sys/block/sd*)
[ -n "$san" ] && [ -n "$rdx" ] || { lsscsi; exit 1; }
echo "$san" > /tmp/san; echo "$rdx" > /tmp/rdx; echo "$serve_pid" > /tmp/serve.pid
echo "SAN $san"; echo "RDX $rdx"
echo "RMB $(cat /sys/block/${rdx##*/}/removable) $(cat /sys/block/${san##*/}/removable)"
""",
    "opcodes": NODES + 'sg_opcodes "$san" | grep -i sanitize\n',
    "overwrite": NODES
    + FILL
    + """
printf '\\336\\255\\276\\357' > /tmp/pattern
sg_sanitize --quick --wait --overwrite --pattern=/tmp/pattern --count=2 --invert "$san"
cp "$SHARE/san.img" "$SHARE/after-overwrite.img"
""",
    "block_erase": NODES
    + FILL
    + """
sg_sanitize --quick --wait --block "$san"
cp "$SHARE/san.img" "$SHARE/after-block.img"
""",
    "crypto_erase": NODES
    + FILL
    + """
sg_sanitize --quick --wait --crypto "$san"
cp "$SHARE/san.img" "$SHARE/after-crypto.img"
""",
    "progress": NODES
    + """
sg_sanitize --quick --early --overwrite --zero --count=31 "$san"
seen=0
for _ in $(seq 600); do
    out=$(sg_requests --progress "$san" 2>&1 || true)
    case "$out" in
        *"Progress indication"*) seen=$((seen + 1)); echo "$out" | head -1 ;;
        *) break ;;
    esac
    if [ "$seen" -eq 1 ]; then
        sg_turs "$san" > /dev/null 2>&1 && echo "TUR_WHILE 0" || echo "TUR_WHILE $?"
        sg_requests "$san" 2>&1 | grep -i "additional sense" || true
    fi
    sleep 0.1
done
echo "PROGRESS_SEEN $seen"
for _ in $(seq 600); do sg_turs "$san" 2>/dev/null && break; sleep 0.1; done
sg_turs "$san" && echo "READY_AFTER ok"
""",
    "failure": NODES
    + """
printf '\\001' > /tmp/one
if sg_sanitize --quick --wait --ause --overwrite --pattern=/tmp/one --test=1 "$san" \\
        > /tmp/fail.log 2>&1; then echo "FAILED_SANITIZE_STATUS 0"
else echo "FAILED_SANITIZE_STATUS $?"; fi
cat /tmp/fail.log
sg_turs -v "$san" 2>&1 | tail -3 || true
devemu disk status san0 --json | grep sanitize
sg_sanitize --quick --wait --fail "$san" && echo "EXIT_FAILURE ok"
sg_turs "$san" && echo "TUR_AFTER_EXIT ok"
""",
    "eject_insert_mount": NODES
    + """
mkdir -p /tmp/tree && echo "hello from the rdx" > /tmp/tree/greeting.txt
rm -f "$SHARE/rdx2.img"
mkfs.ext4 -q -F -d /tmp/tree "$SHARE/rdx2.img" 24M
# Through the sg node: opening /dev/sdX of a removable disk makes sd send PREVENT.
sg=/dev/$(ls "/sys/block/${rdx##*/}/device/scsi_generic")
sg_start --eject "$sg" && echo "EJECTED ok"
sg_turs "$sg" > /dev/null 2>&1 && echo "TUR_EJECTED 0" || echo "TUR_EJECTED $?"
sg_requests "$sg" 2>&1 | grep -i "additional sense" || true
devemu disk status rdx0
devemu disk insert rdx0 "$SHARE/rdx2.img"
mkdir -p /mnt/rdx
mount -o ro "$rdx" /mnt/rdx
echo "GREETING $(cat /mnt/rdx/greeting.txt)"
echo "SIZE $(blockdev --getsize64 "$rdx")"
umount /mnt/rdx
""",
    "protect_removable": NODES
    + """
echo "RO_BEFORE $(blockdev --getro "$rdx")"
devemu disk protect rdx0 on
if dd if=/dev/zero of="$rdx" bs=4096 count=1 oflag=direct status=none 2>/tmp/dd.err
then echo "WRITE_STATUS 0"; else echo "WRITE_STATUS 1"; fi
cat /tmp/dd.err
echo "RO_PROTECTED $(blockdev --getro "$rdx")"
devemu disk protect rdx0 off
sg_turs "$rdx" >/dev/null 2>&1 || true
echo "RO_UNPROTECTED $(blockdev --getro "$rdx")"
dd if=/dev/zero of="$rdx" bs=4096 count=1 seek=100 oflag=direct status=none \\
    && echo "WRITE_AFTER ok"
""",
    "protect_fixed": NODES
    + """
devemu disk protect san0 on
if dd if=/dev/zero of="$san" bs=4096 count=1 oflag=direct status=none 2>/tmp/dd.err
then echo "WRITE_STATUS 0"; else echo "WRITE_STATUS 1"; fi
echo "RO_BEFORE_RESCAN $(blockdev --getro "$san")"
echo 1 > "/sys/block/${san##*/}/device/rescan"
echo "RO_AFTER_RESCAN $(blockdev --getro "$san")"
sg_modes "$san" 2>/dev/null | grep -i "WP=" | head -1
devemu disk protect san0 off
""",
    "stop": """
pid=$(cat /tmp/serve.pid)
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && { echo STILL_RUNNING; exit 1; }
echo "TRACEBACKS $(grep -ci 'traceback\\|internal error' /tmp/serve.log || true)"
""",
}


@pytest.fixture(scope="module")
def booted(
    vm_session: VmSession, tmp_path_factory: pytest.TempPathFactory
) -> tuple[VmResult, dict[str, Step], Path]:
    share = tmp_path_factory.mktemp("sanitize-share")
    (share / "vm.toml").write_text(CONFIG)
    create_image(share / "san.img", MB << 20)
    create_image(share / "rdx.img", MB << 20)
    result, steps = vm_session.run_steps(STEPS, share=share, timeout=480)
    print(result.output)
    return result, steps, share


def step(booted: tuple[VmResult, dict[str, Step], Path], name: str) -> str:
    result, steps, _ = booted
    assert name in steps, f"step {name} did not run:\n{result.output[-4000:]}"
    found = steps[name]
    assert found.ok, f"step {name} failed with {found.status}:\n{found.output}"
    return found.output


def test_served_removable_and_fixed(booted: tuple[VmResult, dict[str, Step], Path]) -> None:
    assert value(step(booted, "serve"), "RMB") == "1 0"


def test_sg_opcodes_lists_the_sanitize_actions(
    booted: tuple[VmResult, dict[str, Step], Path],
) -> None:
    out = step(booted, "opcodes").lower()
    for action in ("overwrite", "block erase", "cryptographic erase", "exit failure mode"):
        assert action in out, out


def test_overwrite_leaves_the_inverted_pattern_in_the_file(
    booted: tuple[VmResult, dict[str, Step], Path],
) -> None:
    step(booted, "overwrite")
    data = (booted[2] / "after-overwrite.img").read_bytes()
    inverted = bytes(b ^ 0xFF for b in PATTERN)
    assert len(data) == MB << 20
    assert data == inverted * (len(data) // 4)


@pytest.mark.parametrize("action", ["block", "crypto"])
def test_erase_leaves_no_old_data_in_the_file(
    booted: tuple[VmResult, dict[str, Step], Path], action: str
) -> None:
    step(booted, f"{action}_erase" if action == "block" else "crypto_erase")
    data = (booted[2] / f"after-{action}.img").read_bytes()
    assert b"DEVEMU-DATA" not in data
    assert data.count(0) == len(data)


def test_progress_in_request_sense(booted: tuple[VmResult, dict[str, Step], Path]) -> None:
    out = step(booted, "progress")
    assert int(value(out, "PROGRESS_SEEN")) >= 1, out
    assert "Progress indication" in out
    assert value(out, "TUR_WHILE") != "0", out
    assert "sanitize in progress" in out.lower(), out
    assert "READY_AFTER ok" in out


def test_failure_mode_until_exit(booted: tuple[VmResult, dict[str, Step], Path]) -> None:
    out = step(booted, "failure")
    assert value(out, "FAILED_SANITIZE_STATUS") != "0", out
    assert "sanitize command failed" in out.lower(), out
    assert '"sanitize": "failed"' in out
    assert "EXIT_FAILURE ok" in out and "TUR_AFTER_EXIT ok" in out


def test_eject_insert_and_mount(booted: tuple[VmResult, dict[str, Step], Path]) -> None:
    out = step(booted, "eject_insert_mount")
    assert "EJECTED ok" in out
    assert value(out, "TUR_EJECTED") != "0", out
    assert "medium not present" in out.lower(), out
    assert value(out, "GREETING") == "hello from the rdx"
    assert value(out, "SIZE") == str(24 << 20)


def test_protect_a_removable_disk(booted: tuple[VmResult, dict[str, Step], Path]) -> None:
    out = step(booted, "protect_removable")
    assert value(out, "RO_BEFORE") == "0"
    assert value(out, "WRITE_STATUS") == "1", out
    assert value(out, "RO_PROTECTED") == "1", out
    assert value(out, "RO_UNPROTECTED") == "0", out
    assert "WRITE_AFTER ok" in out


def test_protect_a_fixed_disk(booted: tuple[VmResult, dict[str, Step], Path]) -> None:
    out = step(booted, "protect_fixed")
    assert value(out, "WRITE_STATUS") == "1", out
    assert value(out, "RO_AFTER_RESCAN") == "1", out


def test_daemon_stops_cleanly(booted: tuple[VmResult, dict[str, Step], Path]) -> None:
    assert value(step(booted, "stop"), "TRACEBACKS") == "0"
