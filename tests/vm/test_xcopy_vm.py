"""Copy offload under a real Linux kernel: sg_xcopy, ddpt and sg_copy_results, in one boot.

Two devemu disks on the guest's tmpfs, served by one daemon through
TCMU and tcm_loop:

- sg_inq shows 3PC and sg_vpd decodes the Third-party Copy VPD page
  (8Fh) with the limits the disk enforces;
- sg_copy_results reads the operating parameters;
- sg_xcopy copies 24 MiB from one disk to the other (two EXTENDED COPY
  commands: a segment holds at most the 16 MiB the disk advertises), and
  the image files and a direct read of the destination equal the source;
- sg_xcopy copies within one disk, ddpt --xcopy copies between them;
- an EXTENDED COPY whose second segment runs past the destination's
  end (sent with sg_raw) ends in COPY ABORTED; sg_copy_results shows one
  segment processed and the failed segment's sense, and the first
  segment's blocks are on the destination.
"""

from __future__ import annotations

import re

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from devemu.vm.session import VmSession
from devemu.vm.steps import Step
from tests.vm.vm_helpers import step, value

pytestmark = pytest.mark.vm

IMAGE_MB = 64
BLOCKS = IMAGE_MB * 2048
MIB16 = 16 << 20
#: What sg_xcopy copies between the disks: more than one segment's worth.
COPIED = 24 << 20

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[disk]]
name = "xsrc"
image = "/tmp/xsrc.img"
product = "XCOPY SOURCE"
serial = "XCOPYSRC"

[[disk]]
name = "xdst"
image = "/tmp/xdst.img"
product = "XCOPY DEST"
serial = "XCOPYDST"
"""

#: Every step but the first reads the nodes the first one found.
NODES = ". /tmp/nodes\n"

#: Builds an EXTENDED COPY (LID1) parameter list from the two disks' VPD
#: page 83h as sysfs shows it: list identifier 0x21 held, segment 0 copies
#: 8 blocks to LBA 0, segment 1 runs 16 blocks past the end of the destination.
FAILING_LIST = f"""
import sys
from pathlib import Path

def cscd(block):
    page = Path(f"/sys/block/{{block}}/device/vpd_pg83").read_bytes()
    desc = page[4 : 4 + 4 + page[7]]
    assert desc[1] & 0x0F == 3, desc.hex()
    head = bytes([0xE4, 0, 0, 0, desc[0] & 0x0F, desc[1] & 0x3F, 0, desc[3]])
    return head + desc[4:].ljust(20, b"\\0") + bytes([0, 0, 2, 0])

def segment(blocks, src_lba, dst_lba):
    head = bytes([2, 0, 0, 0x18, 0, 0, 0, 1, 0, 0]) + blocks.to_bytes(2, "big")
    return head + src_lba.to_bytes(8, "big") + dst_lba.to_bytes(8, "big")

cscds = cscd(sys.argv[1]) + cscd(sys.argv[2])
segments = segment(8, 0, 0) + segment(16, 0, {BLOCKS - 8})
header = bytes([0x21, 0]) + len(cscds).to_bytes(2, "big") + bytes(4)
header += len(segments).to_bytes(4, "big") + bytes(4)
Path("/tmp/failing.bin").write_bytes(header + cscds + segments)
print("LIST_LENGTH", len(header + cscds + segments))
"""

STEPS: dict[str, str] = {
    "serve": guest_functions(ready_timeout=30)
    + f"""
cat > /tmp/xcopy.toml <<'EOF'
{CONFIG}EOF
"$DEVEMU_VM_PYTHON" -m devemu disk create /tmp/xsrc.img --size {IMAGE_MB}M
"$DEVEMU_VM_PYTHON" -m devemu disk create /tmp/xdst.img --size {IMAGE_MB}M
head -c {2 * MIB16} /dev/urandom | dd of=/tmp/xsrc.img conv=notrunc status=none
serve_start /tmp/xcopy.toml /tmp/serve.log -v
echo "$serve_pid" > /tmp/serve.pid
find_disk DEVEMU > /dev/null
for _ in $(seq 200); do
    src=$(node_with_serial XCOPYSRC /sys/block/sd*)
    dst=$(node_with_serial XCOPYDST /sys/block/sd*)
    [ -n "$src" ] && [ -n "$dst" ] && break
    sleep 0.05
done
srcsg=/dev/$(ls /sys/block/${{src##*/}}/device/scsi_generic)
dstsg=/dev/$(ls /sys/block/${{dst##*/}}/device/scsi_generic)
printf 'src=%s\\ndst=%s\\nsrcsg=%s\\ndstsg=%s\\n' "$src" "$dst" "$srcsg" "$dstsg" > /tmp/nodes
cat /tmp/nodes
""",
    "sg_inq": NODES + 'sg_inq "$dstsg"\n',
    "sg_vpd_tpc": NODES + 'sg_vpd --page=tpc "$dstsg"\n',
    "copy_params": NODES + 'sg_copy_results --params "$dstsg"\n',
    "sg_xcopy_between": NODES
    + f"""
sg_xcopy if="$srcsg" of="$dstsg" bs=512 count={COPIED // 512} -v
cmp -n {COPIED} /tmp/xsrc.img /tmp/xdst.img && echo "IMAGES equal"
a=$(head -c {COPIED} /tmp/xsrc.img | sha256sum | cut -d' ' -f1)
b=$(dd if="$dst" iflag=direct bs=1M count={COPIED >> 20} status=none | sha256sum | cut -d' ' -f1)
[ "$a" = "$b" ] && echo "DIRECT equal"
""",
    "sg_xcopy_within": NODES
    + f"""
sg_xcopy if="$srcsg" of="$srcsg" bs=512 skip=0 seek={BLOCKS // 2} count=16384
cmp -n 8388608 -i 0:{BLOCKS // 2 * 512} /tmp/xsrc.img /tmp/xsrc.img && echo "WITHIN equal"
""",
    "ddpt_xcopy": NODES
    + f"""
ddpt if="$srcsg" of="$dstsg" bs=512 skip={MIB16 // 512} seek={BLOCKS // 2} count=8192 --xcopy
cmp -n 4194304 -i {MIB16}:{BLOCKS // 2 * 512} /tmp/xsrc.img /tmp/xdst.img && echo "DDPT equal"
""",
    "failing_copy": NODES
    + f"""
dd if=/dev/zero of=/tmp/xdst.img bs=512 count=8 conv=notrunc status=none
"$DEVEMU_VM_PYTHON" - "${{src##*/}}" "${{dst##*/}}" <<'EOF'
{FAILING_LIST}EOF
n=$(stat -c %s /tmp/failing.bin)
status=0
cdb="83 00 00 00 00 00 00 00 00 00 00 00 00 $(printf %02x "$n") 00 00"
sg_raw -s "$n" -i /tmp/failing.bin "$dstsg" $cdb || status=$?
echo "SG_RAW_STATUS $status"
echo "=== status"
sg_copy_results --status --list_id=0x21 "$dstsg"
echo "=== failed"
sg_copy_results --failed --list_id=0x21 "$dstsg"
cmp -n 4096 /tmp/xsrc.img /tmp/xdst.img && echo "FIRST_SEGMENT copied"
""",
    "stop": """
pid=$(cat /tmp/serve.pid)
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then echo "STILL_RUNNING"; cat /tmp/serve.log; exit 1; fi
echo "STOPPED"
echo "TRACEBACKS $(grep -ci 'traceback\\|internal error' /tmp/serve.log || true)"
""",
}


@pytest.fixture(scope="module")
def booted(vm_session: VmSession) -> tuple[VmResult, dict[str, Step]]:
    result, steps = vm_session.run_steps(STEPS, timeout=420)
    print(result.output)
    return result, steps


def test_both_disks_found(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "serve")
    assert "src=/dev/sd" in out, out
    assert "dstsg=/dev/sg" in out, out


def test_sg_inq_shows_3pc(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sg_inq")
    assert re.search(r"3PC=1", out), out


def test_sg_vpd_third_party_copy(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sg_vpd_tpc")
    assert re.search(r"Maximum CSCD descriptor count: 8", out), out
    assert re.search(r"Maximum segment descriptor count: 16", out), out
    assert re.search(r"Maximum descriptor list length: 704", out), out
    assert re.search(r"extended copy\(LID1\)", out, re.I), out
    assert re.search(r"receive copy (status|failure details)", out, re.I), out
    assert re.search(r"Maximum segment length: 16777216", out), out


def test_operating_parameters(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "copy_params")
    assert "Supports no list identifier (SNLID): yes" in out.replace("Yes", "yes"), out
    assert "Maximum segment length: 16777216 bytes" in out, out
    assert "Inline data not supported" in out, out
    assert re.search(r"Segment descriptor 0x02", out), out
    assert re.search(r"Target descriptor 0xe4", out), out


def test_sg_xcopy_between_two_disks(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sg_xcopy_between")
    assert "IMAGES equal" in out, out
    assert "DIRECT equal" in out, out


def test_sg_xcopy_within_one_disk(booted: tuple[VmResult, dict[str, Step]]) -> None:
    assert "WITHIN equal" in step(booted, "sg_xcopy_within")


def test_ddpt_xcopy(booted: tuple[VmResult, dict[str, Step]]) -> None:
    assert "DDPT equal" in step(booted, "ddpt_xcopy")


def test_a_copy_failing_part_way_says_how_far_it_got(
    booted: tuple[VmResult, dict[str, Step]],
) -> None:
    out = step(booted, "failing_copy")
    assert value(out, "SG_RAW_STATUS") != "0", out
    assert re.search(r"copy aborted", out, re.I), out
    status = out.split("=== status")[1].split("=== failed")[0]
    assert "Operation completed with errors" in status, out
    assert "Segments processed: 1" in status, out
    assert "Transfer count: 4096" in status, out
    failed = out.split("=== failed")[1]
    assert "Extended copy command status: 2" in failed, out
    assert re.search(r"third party device failure", failed, re.I), out
    assert "FIRST_SEGMENT copied" in out, out


def test_daemon_stopped_cleanly(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "stop")
    assert "STOPPED" in out
    assert value(out, "TRACEBACKS") == "0", out
