"""Disks on qcow2 images through qemu-storage-daemon and NBD, driven by real tools.

In the tier's guest a daemon of the test's own serves two qcow2 images
from the share (``format`` by suffix: each gets a qemu-storage-daemon of
devemu's own on a private socket, reached through libnbd):

- ``fs.qcow2``: mkfs.ext4, mount, an fio job writing files through the
  file system with crc32c verify headers and reading them back, umount,
  ``fsck.ext4 -n -f``.
- ``blk.qcow2``: 8 MiB written and flushed (``sg_sync``: SYNCHRONIZE
  CACHE, NBD_CMD_FLUSH, QEMU writes the qcow2 metadata), ``qemu-img map``
  shows the clusters holding data; ``blkdiscard`` of the range (UNMAP, NBD
  WRITE_ZEROES that may punch holes) and another flush, and ``qemu-img
  map`` shows them gone while the range reads as zeros.
- then fio writes to ``blk.qcow2`` with verify headers (4 KiB random at
  QD16, 64 KiB sequential at QD4) and the devemu daemon gets ``kill -9``
  with commands in the ring. Its storage daemons end with it
  (``PR_SET_PDEATHSIG``: SIGTERM, so QEMU closes the images cleanly); the
  restarted daemon starts new ones, adopts the ring and replays what was in
  it; the fio run finishes, a verify-only run passes, and after a clean
  stop ``qemu-img check`` finds both images clean (in the guest and again
  on the host) with no storage daemon left behind.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devemu.disk.storage_daemon import create
from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import value

pytestmark = pytest.mark.vm

DISK_MB = 128
JOB_MB = 12
#: The discarded range of blk.qcow2, in MiB.
DISCARD_AT, DISCARD_MB = 96, 8
TOTAL_WRITES = (JOB_MB << 20) // 4096 + (JOB_MB << 20) // 65536
KILL_AFTER = 800

CONFIG = f"""\
{GUEST_DAEMON_TABLE.rstrip()}
cmd_time_out = 120

[[disk]]
name = "nbdfs"
image = "fs.qcow2"
vendor = "NBDFS"

[[disk]]
name = "nbdblk"
image = "blk.qcow2"
vendor = "NBDBLK"
"""

JOBS = (
    f"--name=rand4k --rw=randwrite --bs=4k --iodepth=16 --offset=0 --size={JOB_MB}m "
    f"--name=seq64k --rw=write --bs=64k --iodepth=4 --offset=32m --size={JOB_MB}m"
)
VERIFY = "--verify=crc32c --verify_fatal=1 --output-format=json"

SCRIPT = (
    guest_functions(ready_timeout=60)
    + rf"""
set -u
SHARE="$DEVEMU_VM_SHARE"
CFG="$SHARE/nbd.toml"
fail() {{
    echo "FAIL $*"
    for f in /tmp/serve*.log /tmp/fio-*.log; do [ -e "$f" ] && {{ echo "--- $f"; cat "$f"; }}; done
    exit 1
}}
storage_daemons() {{ grep -l '^qemu-storage-d' /proc/[0-9]*/comm 2>/dev/null | wc -l; }}
start() {{
    serve_start "$CFG" "/tmp/serve$1.log" -v
    pid=$serve_pid
}}
writes() {{ awk '{{print $5 + $6}}' "/sys/block/$name/stat"; }}

start 1
echo "STORAGE_DAEMONS $(storage_daemons)"
fs=$(find_disk NBDFS) || fail "no fs disk"
blk=$(find_disk NBDBLK) || fail "no blk disk"
name=${{blk##*/}}

# --- a file system on a qcow2 ---
mkfs.ext4 -q -F "$fs" || fail mkfs
mkdir -p /tmp/mnt
mount "$fs" /tmp/mnt || fail mount
fio --name=files --directory=/tmp/mnt --nrfiles=4 --size=16m --rw=randwrite --bs=4k \
    --ioengine=libaio --direct=1 --iodepth=8 --verify=crc32c --verify_fatal=1 \
    --output-format=json --output="$SHARE/fs.json" > /tmp/fio-fs.log 2>&1
echo "FS_FIO status=$?"
umount /tmp/mnt
fsck.ext4 -n -f "$fs" > /tmp/fsck.log 2>&1
echo "FSCK status=$?"

# --- discard frees qcow2 clusters ---
dd if=/dev/urandom of="$blk" bs=1M seek={DISCARD_AT} count={DISCARD_MB} oflag=direct status=none
sg_sync "$blk"
qemu-img map -U --output=json "$SHARE/blk.qcow2" > "$SHARE/map-before.json"
blkdiscard -o $(({DISCARD_AT} << 20)) -l $(({DISCARD_MB} << 20)) "$blk"
echo "BLKDISCARD status=$?"
sg_sync "$blk"
qemu-img map -U --output=json "$SHARE/blk.qcow2" > "$SHARE/map-after.json"
dd if="$blk" bs=1M skip={DISCARD_AT} count={DISCARD_MB} iflag=direct status=none \
    | cmp -n $(({DISCARD_MB} << 20)) - /dev/zero && echo "DISCARDED_READS_ZEROS ok"

# --- kill -9 under a write load ---
fio --filename="$blk" --ioengine=libaio --direct=1 {VERIFY} --do_verify=0 {JOBS} \
    --output="$SHARE/write.json" > /tmp/fio-write.log 2>&1 &
fio_pid=$!
while [ "$(writes)" -lt {KILL_AFTER} ]; do
    kill -0 "$fio_pid" 2>/dev/null || fail "fio ended before the daemon was killed"
    sleep 0.02
done
kill -KILL "$pid"
wait "$pid" 2>/dev/null
killed=$(writes)
for _ in $(seq 100); do [ "$(storage_daemons)" -eq 0 ] && break; sleep 0.1; done
echo "KILLED writes=$killed storage_daemons=$(storage_daemons)"
start 2
echo "RESTARTED storage_daemons=$(storage_daemons)"
wait "$fio_pid"
echo "WRITE_PHASE status=$? writes=$(writes)"
fio --filename="$blk" --ioengine=libaio --direct=1 {VERIFY} --verify_only {JOBS} \
    --output="$SHARE/verify.json" > /tmp/fio-verify.log 2>&1
echo "VERIFY_PHASE status=$?"
kill -TERM "$pid"; wait "$pid"; echo "TERM status=$?"
for _ in $(seq 100); do [ "$(storage_daemons)" -eq 0 ] && break; sleep 0.1; done
echo "LEFT storage_daemons=$(storage_daemons)"
qemu-img check "$SHARE/blk.qcow2" > /tmp/check.log 2>&1; b=$?
qemu-img check "$SHARE/fs.qcow2" >> /tmp/check.log 2>&1; f=$?
echo "QEMU_IMG_CHECK blk=$b fs=$f"
echo "REPLAYED $(grep -c 'replaying CDB' /tmp/serve2.log)"
for f in /tmp/serve1.log /tmp/serve2.log /tmp/fio-fs.log /tmp/fsck.log /tmp/check.log; do
    echo "--- $f"; cat "$f"
done
"""
)


@pytest.fixture(scope="module")
def ran(guest_scripts: GuestScripts) -> tuple[VmResult, Path]:
    share = guest_scripts.new_share()
    for image in ("fs.qcow2", "blk.qcow2"):
        create(share / image, "qcow2", DISK_MB << 20)
    (share / "nbd.toml").write_text(CONFIG)
    result = guest_scripts.run(SCRIPT, share=share, timeout=600)
    print(result.output)
    return result, share


def _fields(result: VmResult, key: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in value(result.output, key).split() if "=" in item)


def _data_bytes(path: Path, start: int, length: int) -> int:
    total = 0
    extents: list[dict[str, Any]] = json.loads(path.read_text())
    for ext in extents:
        if ext["data"]:
            lo, hi = max(start, ext["start"]), min(start + length, ext["start"] + ext["length"])
            total += max(0, hi - lo)
    return total


def _fio_jobs(path: Path) -> dict[str, dict[str, Any]]:
    report = json.loads(path.read_text())
    return {job["jobname"]: job for job in report["jobs"]}


def test_script_completed(ran: tuple[VmResult, Path]) -> None:
    result, _ = ran
    assert result.exit_code == 0, result.output


def test_each_qcow2_has_its_storage_daemon(ran: tuple[VmResult, Path]) -> None:
    result, _ = ran
    assert value(result.output, "STORAGE_DAEMONS") == "2"


def test_file_system_on_qcow2(ran: tuple[VmResult, Path]) -> None:
    result, share = ran
    assert _fields(result, "FS_FIO")["status"] == "0", result.output
    [job] = _fio_jobs(share / "fs.json").values()
    assert job["error"] == 0
    assert job["write"]["io_bytes"] == 16 << 20
    assert job["read"]["io_bytes"] == 16 << 20  # the verify pass
    assert _fields(result, "FSCK")["status"] == "0", result.output


def test_discard_frees_the_clusters(ran: tuple[VmResult, Path]) -> None:
    result, share = ran
    start, length = DISCARD_AT << 20, DISCARD_MB << 20
    assert _data_bytes(share / "map-before.json", start, length) == length
    assert _fields(result, "BLKDISCARD")["status"] == "0"
    assert _data_bytes(share / "map-after.json", start, length) == 0
    assert value(result.output, "DISCARDED_READS_ZEROS") == "ok"


def test_storage_daemons_end_with_a_killed_daemon(ran: tuple[VmResult, Path]) -> None:
    result, _ = ran
    killed = _fields(result, "KILLED")
    assert KILL_AFTER <= int(killed["writes"]) < TOTAL_WRITES
    assert killed["storage_daemons"] == "0"
    assert _fields(result, "RESTARTED")["storage_daemons"] == "2"


def test_write_load_survives_kill_9(ran: tuple[VmResult, Path]) -> None:
    result, share = ran
    assert _fields(result, "WRITE_PHASE")["status"] == "0", result.output
    for name, job in _fio_jobs(share / "write.json").items():
        assert job["error"] == 0, name
        assert job["write"]["io_bytes"] == JOB_MB << 20, name
    assert _fields(result, "VERIFY_PHASE")["status"] == "0", result.output
    for name, job in _fio_jobs(share / "verify.json").items():
        assert job["error"] == 0, name
        assert job["read"]["io_bytes"] == JOB_MB << 20, name


def test_clean_stop_leaves_no_storage_daemon(ran: tuple[VmResult, Path]) -> None:
    result, _ = ran
    assert _fields(result, "TERM")["status"] == "0"
    assert _fields(result, "LEFT")["storage_daemons"] == "0"


def test_images_check_clean(ran: tuple[VmResult, Path]) -> None:
    result, share = ran
    assert _fields(result, "QEMU_IMG_CHECK") == {"blk": "0", "fs": "0"}, result.output
    for image in ("blk.qcow2", "fs.qcow2"):
        check = subprocess.run(
            ["qemu-img", "check", str(share / image)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
