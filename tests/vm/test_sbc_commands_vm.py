"""VERIFY, WRITE AND VERIFY, ORWRITE, WRITE ATOMIC, READ DEFECT DATA, INQUIRY claims.

In the tier's guest, a daemon of its own serves two disks through TCMU and tcm_loop: one with the
default claims (SPC-4 with SAM-5, SPC-4 and SBC-3 descriptors) and one
with ``standards = "spc-5"``. sg3_utils then drives them:

- sg_inq -d shows VERSION and the version descriptors of each;
- sg_opcodes lists VERIFY (12), WRITE AND VERIFY (12), ORWRITE (16),
  WRITE ATOMIC (16) and READ DEFECT DATA (10) and (12);
- sg_vpd -p bl shows the atomic fields of the Block Limits page;
- sg_write_verify (10 and 16; the 12-byte CDB through sg_raw, which
  sg3_utils has no tool for) writes data that is read back equal, and
  sg_verify (10, 16, BYTCHK 01b and 11b; VERIFY (12) through sg_raw)
  compares it, then reports a MISCOMPARE at the right offset;
- sg_write_x --or ORs data into the disk and --atomic writes one page,
  and refuses a write that would cross one;
- READ DEFECT DATA (10) and (12) through sg_raw return empty lists, and a
  format the disk cannot give comes in its default one with RECOVERED ERROR.
"""

from __future__ import annotations

import re

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from devemu.vm.steps import Step
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import step, value

pytestmark = pytest.mark.vm

IMAGE_MB = 32

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[disk]]
name = "sbc4"
image = "/tmp/sbc4.img"
vendor = "SBCFOUR"

[[disk]]
name = "sbc5"
image = "/tmp/sbc5.img"
vendor = "SBCFIVE"
standards = "spc-5"
"""

SD = "sd=$(cat /tmp/sd); sd5=$(cat /tmp/sd5)\n"

#: Python in the guest: the bytes of BLOCKS blocks at LBA of a file, as hex digest.
DIGEST = (
    '"$DEVEMU_VM_PYTHON" -c "import hashlib,sys; f=open(sys.argv[1],\'rb\');'
    " f.seek(int(sys.argv[2])*512);"
    ' print(hashlib.sha256(f.read(int(sys.argv[3])*512)).hexdigest())"'
)

STEPS: dict[str, str] = {
    "serve": guest_functions(ready_timeout=30)
    + f"""
cat > /tmp/sbc.toml <<'EOF'
{CONFIG}EOF
"$DEVEMU_VM_PYTHON" -m devemu disk create /tmp/sbc4.img --size {IMAGE_MB}M
"$DEVEMU_VM_PYTHON" -m devemu disk create /tmp/sbc5.img --size {IMAGE_MB}M
serve_start /tmp/sbc.toml /tmp/serve.log -v
echo "$serve_pid" > /tmp/serve.pid
find_disk SBCFOUR > /tmp/sd
find_disk SBCFIVE > /tmp/sd5
echo "DISK $(cat /tmp/sd) $(cat /tmp/sd5)"
head -c 4096 /dev/urandom > /tmp/data
head -c 4096 /dev/urandom > /tmp/other
head -c 512 /tmp/data > /tmp/block
""",
    "sg_inq": SD
    + """
echo "=== default"
sg_inq -d "$sd"
echo "=== spc-5"
sg_inq -d "$sd5"
""",
    "sg_opcodes": SD + 'sg_opcodes "$sd"\n',
    "sg_vpd_bl": SD + 'sg_vpd -p bl "$sd"\n',
    "write_verify": SD
    + f"""
digest() {{ {DIGEST} "$@"; }}
sg_write_verify --bytchk=1 --lba=100 --num=8 --in=/tmp/data "$sd"
sg_write_verify --16 --lba=200 --num=8 --in=/tmp/data "$sd"
# WRITE AND VERIFY (12), BYTCHK 01b, 8 blocks at LBA 300.
sg_raw -s 4096 -i /tmp/data "$sd" ae 02 00 00 01 2c 00 00 00 08 00 00
sync
echo "DATA $(digest /tmp/data 0 8)"
for lba in 100 200 300; do echo "IMAGE_$lba $(digest /tmp/sbc4.img $lba 8)"; done
""",
    "verify": SD
    + """
sg_verify --lba=100 --count=8 "$sd"
sg_verify --16 --lba=100 --count=8 --ndo=4096 --in=/tmp/data "$sd"
# BYTCHK 11b: the first block of /tmp/data against block 100 alone.
sg_verify --lba=100 --count=1 --ebytchk=3 --ndo=512 --in=/tmp/block "$sd"
# VERIFY (12), BYTCHK 01b, 8 blocks at LBA 300.
sg_raw -s 4096 -i /tmp/data "$sd" af 02 00 00 01 2c 00 00 00 08 00 00
echo "VERIFIED"
""",
    "miscompare": SD
    + """
"$DEVEMU_VM_PYTHON" -c "d = bytearray(open('/tmp/data', 'rb').read()); d[1500] ^= 0xff; \\
open('/tmp/bad', 'wb').write(d)"
cmp -l /tmp/data /tmp/bad | head -1
rc=0; sg_verify --lba=100 --count=8 --ndo=4096 --in=/tmp/bad "$sd" || rc=$?
echo "SG_VERIFY_RC $rc"
rc=0; sg_raw -s 4096 -i /tmp/bad "$sd" af 02 00 00 00 64 00 00 00 08 00 00 2>&1 || rc=$?
echo "SG_RAW_RC $rc"
""",
    "orwrite": SD
    + f"""
digest() {{ {DIGEST} "$@"; }}
"$DEVEMU_VM_PYTHON" -c "open('/tmp/lo','wb').write(bytes([0x0f])*4096); \\
open('/tmp/hi','wb').write(bytes([0xf0])*4096); open('/tmp/ff','wb').write(bytes([0xff])*4096)"
sg_write_x --normal --lba=400 --num=8 --in=/tmp/lo "$sd"
sg_write_x --or --lba=400 --num=8 --in=/tmp/hi "$sd"
sync
echo "FF $(digest /tmp/ff 0 8)"
echo "IMAGE_400 $(digest /tmp/sbc4.img 400 8)"
""",
    "atomic": SD
    + f"""
digest() {{ {DIGEST} "$@"; }}
sg_write_x --atomic=0 --lba=512 --num=8 --in=/tmp/other "$sd"
sync
echo "OTHER $(digest /tmp/other 0 8)"
echo "IMAGE_512 $(digest /tmp/sbc4.img 512 8)"
rc=0; sg_write_x --atomic=0 --lba=513 --num=8 --in=/tmp/data "$sd" 2>&1 || rc=$?
echo "MISALIGNED_RC $rc"
echo "AFTER_512 $(digest /tmp/sbc4.img 512 8)"
""",
    "defects": SD
    + """
hex() { od -An -tx1 "$1" | tr -s ' \\n' ' '; }
# READ DEFECT DATA (10): both lists, short block format.
sg_raw -r 512 -o /tmp/d10.bin "$sd" 37 00 18 00 00 00 00 02 00 00
echo "D10 $(hex /tmp/d10.bin)"
# READ DEFECT DATA (12): the grown list, long block format.
sg_raw -r 512 -o /tmp/d12.bin "$sd" b7 0b 00 00 00 00 00 00 02 00 00 00
echo "D12 $(hex /tmp/d12.bin)"
# Physical sector format: the list in long block format, then RECOVERED ERROR.
: > /tmp/dps.bin
rc=0; sg_raw -r 512 -o /tmp/dps.bin "$sd" 37 00 0d 00 00 00 00 02 00 00 2>&1 || rc=$?
echo "PHYSICAL_RC $rc"
echo "DPS $(hex /tmp/dps.bin)"
sg_reassign --grown "$sd" || true
""",
    "stop": """
pid=$(cat /tmp/serve.pid)
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then echo "STILL_RUNNING"; cat /tmp/serve.log; exit 1; fi
echo "STOPPED"
grep -ci "traceback\\|internal error" /tmp/serve.log || true
""",
}


@pytest.fixture(scope="module")
def booted(guest_scripts: GuestScripts) -> tuple[VmResult, dict[str, Step]]:
    result, steps = guest_scripts.run_steps(STEPS, timeout=300)
    print(result.output)
    return result, steps


def test_served(booted: tuple[VmResult, dict[str, Step]]) -> None:
    assert value(step(booted, "serve"), "DISK").startswith("/dev/sd")


def test_sg_inq_claims(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sg_inq")
    default, spc5 = out.split("=== spc-5")
    assert re.search(r"version=0x06\s+\[SPC-4\]", default), default
    for name in ("SAM-5", "SPC-4", "SBC-3"):
        assert f"{name} (no version claimed)" in default, default
    assert re.search(r"version=0x07\s+\[SPC-5\]", spc5), spc5
    for name in ("SAM-5", "SPC-5", "SBC-4"):
        assert f"{name} (no version claimed)" in spc5, spc5


def test_sg_opcodes_lists_the_new_commands(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sg_opcodes")
    for opcode in ("af", "ae", "8b", "9c", "37", "b7"):
        assert re.search(rf"^\s*{opcode}\s", out, re.MULTILINE | re.IGNORECASE), (opcode, out)


def test_sg_vpd_block_limits_atomic_fields(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sg_vpd_bl")
    assert re.search(r"Maximum atomic transfer length: 8", out), out
    assert re.search(r"Atomic alignment: 8", out), out
    assert re.search(r"Atomic transfer length granularity: 1", out), out
    assert re.search(r"Maximum atomic transfer length with atomic boundary: 32768", out), out
    assert re.search(r"Maximum atomic boundary size: 1", out), out


def test_write_and_verify_lands_on_the_image(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "write_verify")
    data = value(out, "DATA")
    for lba in (100, 200, 300):
        assert value(out, f"IMAGE_{lba}") == data, out


def test_verify_forms(booted: tuple[VmResult, dict[str, Step]]) -> None:
    assert "VERIFIED" in step(booted, "verify")


def test_miscompare(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "miscompare")
    assert value(out, "SG_VERIFY_RC") == "14", out  # SG_LIB_CAT_MISCOMPARE
    assert int(value(out, "SG_RAW_RC")) != 0, out
    assert re.search(r"[Mm]iscompare", out), out
    # The byte changed is the 1501st of the transfer: INFORMATION 1500 (0x5dc).
    assert re.search(r"Info(rmation)? fld=0x5dc \[1500\]|0x5dc|1500", out), out


def test_orwrite(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "orwrite")
    assert value(out, "IMAGE_400") == value(out, "FF"), out


def test_write_atomic(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "atomic")
    assert value(out, "IMAGE_512") == value(out, "OTHER"), out
    # A write crossing a page: ILLEGAL REQUEST (SG_LIB_CAT_ILLEGAL_REQ), nothing written.
    assert value(out, "MISALIGNED_RC") == "5", out
    assert value(out, "AFTER_512") == value(out, "OTHER"), out


def test_read_defect_data(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "defects")
    assert value(out, "D10") == "00 18 00 00", out
    assert value(out, "D12") == "00 0b 00 00 00 00 00 00", out
    assert value(out, "PHYSICAL_RC") != "0", out
    assert re.search(r"[Dd]efect list not found", out), out
    # The header comes with the sense: TCMU passes data-in with a CHECK CONDITION.
    assert value(out, "DPS") == "00 0b 00 00", out


def test_stopped_cleanly(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "stop")
    assert "STOPPED" in out
    assert out.strip().splitlines()[-1] == "0", out
