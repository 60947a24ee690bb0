"""The SBC-4 disk under a real Linux kernel: the tools people use, in one boot.

The guest creates a sparse image on its tmpfs (which punches holes and
answers SEEK_HOLE like a disk file system), serves it with ``devemu
serve`` through TCMU and tcm_loop, and checks, step by step:

- lsscsi shows the configured vendor and product;
- sg_inq, sg_vpd (0x00, 0x80, 0x83, 0xB0, 0xB1, 0xB2), sg_readcap -l,
  sg_turs and sg_opcodes decode what the disk answers;
- sg_persist registers a key, reserves, reads the keys and the
  reservation back, then releases and unregisters;
- what the sd driver concluded: non-rotating, 4 KiB physical blocks,
  write-back cache, UNMAP as its discard method;
- mkfs.ext4, mount, a tree of files written, umount, fsck -n, mount
  again and every checksum the same;
- blkdiscard leaves holes in the image (st_blocks falls) and GET LBA
  STATUS reports the disk deallocated;
- fio 4 KiB random read/write at queue depth 16 with crc32c verification.
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

IMAGE_MB = 256
BLOCKS = IMAGE_MB * 2048
VENDOR = "DEVEMU"
PRODUCT = "VM TEST DISK"
SERIAL = "VMDISK0001"

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[disk]]
name = "vmdisk"
image = "/tmp/vmdisk.img"
vendor = "{VENDOR}"
product = "{PRODUCT}"
serial = "{SERIAL}"
"""

#: Every step but the first finds the disk node in /tmp/sd.
SD = "sd=$(cat /tmp/sd); name=${sd##*/}\n"

STEPS: dict[str, str] = {
    "serve": guest_functions(ready_timeout=30)
    + f"""
cat > /tmp/vmdisk.toml <<'EOF'
{CONFIG}EOF
"$DEVEMU_VM_PYTHON" -m devemu disk create /tmp/vmdisk.img --size {IMAGE_MB}M
serve_start /tmp/vmdisk.toml /tmp/serve.log -v
echo "$serve_pid" > /tmp/serve.pid
sd=$(find_disk {VENDOR})
echo "$sd" > /tmp/sd
echo "DISK $sd"
""",
    "lsscsi": "lsscsi\n",
    "sg_inq": SD + 'sg_inq "$sd"\n',
    "sg_vpd": SD
    + """
for page in 0x00 0x80 0x83 0xb0 0xb1 0xb2; do
    echo "=== page $page"
    sg_vpd --page=$page "$sd"
done
""",
    "sg_readcap": SD + 'sg_readcap -l "$sd"\n',
    "sg_turs": SD + 'sg_turs -v "$sd"\n',
    "sg_opcodes": SD + 'sg_opcodes "$sd"\n',
    "sg_persist": SD
    + """
sg_persist --out --register --param-sark=0xabc123 "$sd"
sg_persist --out --reserve --param-rk=0xabc123 --prout-type=1 "$sd"
echo "=== keys"
sg_persist --in --read-keys "$sd"
echo "=== reservation"
sg_persist --in --read-reservation "$sd"
sg_persist --out --release --param-rk=0xabc123 --prout-type=1 "$sd"
sg_persist --out --register --param-rk=0xabc123 --param-sark=0 "$sd"
echo "=== keys after"
sg_persist --in --read-keys "$sd"
""",
    "sysfs": SD
    + """
q=/sys/block/$name/queue
echo "rotational $(cat $q/rotational)"
echo "physical_block_size $(cat $q/physical_block_size)"
echo "logical_block_size $(cat $q/logical_block_size)"
echo "write_cache $(cat $q/write_cache)"
echo "discard_max_bytes $(cat $q/discard_max_bytes)"
echo "provisioning_mode $(cat /sys/block/$name/device/scsi_disk/*/provisioning_mode)"
echo "thin_provisioning $(cat /sys/block/$name/device/scsi_disk/*/thin_provisioning)"
""",
    "filesystem": SD
    + """
mkfs.ext4 -q -F "$sd"
mkdir -p /tmp/mnt
mount "$sd" /tmp/mnt
mkdir /tmp/mnt/tree
cp -r "$DEVEMU_VM_CWD/devemu" /tmp/mnt/tree/
head -c 20000000 /dev/urandom > /tmp/mnt/tree/random.bin
(cd /tmp/mnt && find tree -type f | sort | xargs sha256sum) > /tmp/sums
echo "FILES $(wc -l < /tmp/sums)"
umount /tmp/mnt
fsck.ext4 -n -f "$sd"
echo "FSCK ok"
mount "$sd" /tmp/mnt
(cd /tmp/mnt && sha256sum -c --quiet /tmp/sums) && echo "CHECKSUMS ok"
umount /tmp/mnt
""",
    "discard": SD
    + """
sync
echo "BLOCKS_BEFORE $(stat -c %b /tmp/vmdisk.img)"
blkdiscard "$sd"
sync
echo "BLOCKS_AFTER $(stat -c %b /tmp/vmdisk.img)"
sg_get_lba_status "$sd"
""",
    "fio": SD
    + """
fio --name=verify --filename="$sd" --ioengine=libaio --direct=1 --rw=randrw --bs=4k \\
    --iodepth=16 --size=32m --verify=crc32c --verify_fatal=1 --runtime=90 \\
    --output-format=terse --terse-version=3 > /tmp/fio.terse
echo "FIO $(cut -d';' -f5,6,47 /tmp/fio.terse)"
""",
    "stop": """
pid=$(cat /tmp/serve.pid)
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
if kill -0 "$pid" 2>/dev/null; then echo "STILL_RUNNING"; cat /tmp/serve.log; exit 1; fi
echo "STOPPED"
echo "DEVEMU_IN_LSSCSI $(lsscsi | grep -c '{VENDOR}' || true)"
grep -ci "traceback\\|internal error" /tmp/serve.log || true
""".replace("{VENDOR}", VENDOR),
}


@pytest.fixture(scope="module")
def booted(vm_session: VmSession) -> tuple[VmResult, dict[str, Step]]:
    result, steps = vm_session.run_steps(STEPS, timeout=420)
    print(result.output)
    return result, steps


def test_served_and_found(booted: tuple[VmResult, dict[str, Step]]) -> None:
    assert value(step(booted, "serve"), "DISK").startswith("/dev/sd")


def test_lsscsi_shows_vendor_and_product(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "lsscsi")
    assert re.search(rf"disk\s+{VENDOR}\s+{PRODUCT}\s+0100\s+/dev/sd", out), out


def test_sg_inq(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sg_inq")
    assert "Peripheral device type: disk" in out
    assert f"Vendor identification: {VENDOR}" in out
    assert f"Product identification: {PRODUCT}" in out
    assert "SPC-4" in out or "version=0x06" in out.replace(" ", "")


def test_sg_vpd_pages(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sg_vpd")
    supported = out.split("=== page 0x80")[0]
    for name in ("Block limits", "Block device characteristics", "Logical block provisioning"):
        assert name in supported, supported
    assert f"Unit serial number: {SERIAL}" in out
    assert "NAA 6" in out or "naa" in out.lower()
    assert re.search(r"Maximum unmap LBA count: (-1|4294967295|0xffffffff|no limit)", out, re.I), (
        out
    )
    assert re.search(r"Optimal unmap granularity: 8", out), out
    assert re.search(r"Maximum compare and write length: 255", out), out
    assert "Non-rotating medium" in out
    assert re.search(r"Unmap command supported \(LBPU\): 1", out), out
    assert re.search(r"LBPRZ\): 1", out) or "LBPRZ=1" in out, out
    assert re.search(r"Provisioning type: 2|thin", out), out


def test_sg_readcap_long(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sg_readcap")
    assert f"Last LBA={BLOCKS - 1}" in out
    assert "Logical block length=512 bytes" in out
    assert "lbpme=1, lbprz=1" in out.lower()
    assert "Logical blocks per physical block exponent=3" in out


def test_sg_turs(booted: tuple[VmResult, dict[str, Step]]) -> None:
    step(booted, "sg_turs")


def test_sg_opcodes(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sg_opcodes")
    for name in (
        "Read(10)",
        "Write(16)",
        "Read capacity(16)",
        "Get LBA status",
        "Unmap",
        "Write same(16)",
        "Compare and write",
        "Synchronize cache(10)",
        "Verify(16)",
        "Persistent reserve in",
    ):
        assert name.lower() in out.lower(), f"{name} missing:\n{out}"


def test_sg_persist(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sg_persist")
    keys = out.split("=== keys")[1].split("=== reservation")[0]
    assert "0xabc123" in keys
    reservation = out.split("=== reservation")[1].split("=== keys after")[0]
    assert "Key=0xabc123" in reservation
    assert "Write Exclusive" in reservation
    after = out.split("=== keys after")[1]
    assert "0xabc123" not in after


def test_what_the_sd_driver_concluded(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "sysfs")
    assert value(out, "rotational") == "0"
    assert value(out, "physical_block_size") == "4096"
    assert value(out, "logical_block_size") == "512"
    assert value(out, "write_cache") == "write back"
    assert int(value(out, "discard_max_bytes")) > 0
    assert value(out, "provisioning_mode") == "unmap"
    assert value(out, "thin_provisioning") == "1"


def test_ext4_round_trip(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "filesystem")
    assert int(value(out, "FILES")) > 20
    assert value(out, "FSCK") == "ok"
    assert value(out, "CHECKSUMS") == "ok"


def test_blkdiscard_leaves_holes(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "discard")
    before = int(value(out, "BLOCKS_BEFORE"))
    after = int(value(out, "BLOCKS_AFTER"))
    assert before * 512 > 20_000_000, out
    assert after * 512 < 1 << 20, out
    assert re.search(rf"0x0+\s+{BLOCKS}\s+1|deallocated", out), out


def test_fio_verify(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "fio")
    # terse v3: field 5 is the error code, 6 the read kilobytes, 47 the write kilobytes.
    error, read_kb, write_kb = value(out, "FIO").split(";")
    assert error == "0"
    assert int(read_kb) > 0 and int(write_kb) > 0


def test_daemon_stopped_cleanly(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "stop")
    assert "STOPPED" in out
    assert value(out, "DEVEMU_IN_LSSCSI") == "0"
    assert out.strip().splitlines()[-1] == "0", "tracebacks in the daemon log"
