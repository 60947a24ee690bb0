"""A disk survives ``kill -9`` of its daemon in the middle of a write load.

In the tier's guest, a daemon of its own serves a disk image (on the
share, so the host can check it afterwards) and starts fio writing to it with crc32c verify
headers in every block (4 KiB random writes at queue depth 16 and 64 KiB
sequential writes at depth 4, ``do_verify=0``). Once some writes are
done the daemon gets SIGKILL while commands are in the ring; the guest
checks that the I/O stalls, restarts ``devemu serve`` with the same
configuration (it adopts the LIO objects and resumes the ring from
``cmd_tail``, replaying what the dead process may have left half done,
SBC-4 writes being idempotent), and the same fio run finishes without an
error. That needs the new daemon up within the backstore's
``cmd_time_out``, set here to 120 s (``[daemon] cmd_time_out``: the kernel
takes it only before the LUN is linked): past it the kernel fails the
commands left in the ring itself.

A second fio run in verify-only mode then reads every block back through
the disk and checks it. Finally the image file itself is checked: it
holds exactly what the disk returns, and fio's verify passes on the file
read directly, in the guest and again on the host once the script ended.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from devemu.disk.image import create_image
from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import value

pytestmark = pytest.mark.vm

DISK_MB = 64
JOB_MB = 24
#: Writes of the whole load: 4 KiB random plus 64 KiB sequential, one region each.
TOTAL_WRITES = (JOB_MB << 20) // 4096 + (JOB_MB << 20) // 65536
#: The daemon is killed once this many writes are done.
KILL_AFTER = 1500

CONFIG = f"""\
{GUEST_DAEMON_TABLE.rstrip()}
cmd_time_out = 120

[[disk]]
name = "crash0"
image = "crash.img"
serial = "VMCRASH0001"
"""

#: fio options naming the two jobs; global options go before them.
JOBS = (
    f"--name=rand4k --rw=randwrite --bs=4k --iodepth=16 --offset=0 --size={JOB_MB}m "
    f"--name=seq64k --rw=write --bs=64k --iodepth=4 --offset=32m --size={JOB_MB}m"
)
VERIFY = "--verify=crc32c --verify_fatal=1 --output-format=json"

SCRIPT = (
    guest_functions(ready_timeout=30)
    + rf"""
set -u
SHARE="$DEVEMU_VM_SHARE"
CFG="$SHARE/crash.toml"
IMG="$SHARE/crash.img"
fail() {{
    echo "FAIL $*"
    for f in /tmp/serve*.log /tmp/fio-*.log; do [ -e "$f" ] && {{ echo "--- $f"; cat "$f"; }}; done
    exit 1
}}
now() {{ cat /proc/uptime | cut -d' ' -f1; }}
start() {{
    t0=$(now)
    serve_start "$CFG" "/tmp/serve$1.log" -v
    pid=$serve_pid
    echo "READY $1 $(awk "BEGIN {{ print $(now) - $t0 }}")"
}}
# Writes fio sent: requests completed plus those the block layer merged into
# another (a slow device gets sequential writes merged).
writes() {{ awk '{{print $5 + $6}}' "/sys/block/$name/stat"; }}

start 1
sd=$(find_disk DEVEMU) || fail "no devemu disk"
name=${{sd##*/}}
echo "DISK $sd"
echo "CMD_TIME_OUT $(cat /sys/kernel/config/target/core/user_*/crash0/attrib/cmd_time_out)"

t0=$(now)
fio --filename="$sd" --ioengine=libaio --direct=1 {VERIFY} --do_verify=0 {JOBS} \
    --output="$SHARE/write.json" > /tmp/fio-write.log 2>&1 &
fio_pid=$!
while [ "$(writes)" -lt {KILL_AFTER} ]; do
    kill -0 "$fio_pid" 2>/dev/null || fail "fio ended before the daemon was killed"
    sleep 0.02
done
kill -KILL "$pid"
killed_at=$(now)
wait "$pid" 2>/dev/null
killed=$(writes)
sleep 1
inflight=$(awk '{{print $1 "," $2}}' "/sys/block/$name/inflight")
running=$(kill -0 "$fio_pid" 2>/dev/null && echo yes || echo no)
echo "KILLED writes=$killed after_pause=$(writes) inflight=$inflight fio_running=$running"
start 2
echo "DEAD_SECONDS $(awk "BEGIN {{ print $(now) - $killed_at }}")"
wait "$fio_pid"
echo "WRITE_PHASE status=$? seconds=$(awk "BEGIN {{ print $(now) - $t0 }}") writes=$(writes)"

fio --filename="$sd" --ioengine=libaio --direct=1 {VERIFY} --verify_only {JOBS} \
    --output="$SHARE/verify.json" > /tmp/fio-verify.log 2>&1
echo "VERIFY_PHASE status=$?"

dd if="$sd" of=/tmp/device.bin bs=1M count={DISK_MB} iflag=direct status=none
cmp /tmp/device.bin "$IMG" && echo "IMAGE_MATCHES_DEVICE ok"
rm -f /tmp/device.bin
fio --filename="$IMG" --ioengine=psync {VERIFY} --verify_only {JOBS} \
    --output="$SHARE/verify-file.json" > /tmp/fio-verify-file.log 2>&1
echo "FILE_VERIFY status=$?"

kill -TERM "$pid"; wait "$pid"; echo "TERM status=$?"
echo "REPLAYED $(grep -c 'replaying CDB' /tmp/serve2.log)"
echo "NOT_REPLAYED $(grep -c 'not replayed' /tmp/serve2.log)"
echo "ADOPTED $(grep -c 'adopting' /tmp/serve2.log)"
for f in /tmp/serve1.log /tmp/serve2.log /tmp/fio-write.log /tmp/fio-verify.log; do
    echo "--- $f"; cat "$f"
done
echo "--- kernel messages"
dmesg | tail -n 60
"""
)


@pytest.fixture(scope="module")
def crashed(guest_scripts: GuestScripts) -> tuple[VmResult, Path]:
    share = guest_scripts.new_share()
    create_image(share / "crash.img", DISK_MB << 20)
    (share / "crash.toml").write_text(CONFIG)
    result = guest_scripts.run(SCRIPT, share=share, timeout=240)
    print(result.output)
    return result, share


def _fields(result: VmResult, key: str) -> dict[str, str]:
    return dict(item.split("=", 1) for item in value(result.output, key).split() if "=" in item)


def _fio_jobs(path: Path) -> dict[str, dict[str, Any]]:
    report = json.loads(path.read_text())
    return {job["jobname"]: job for job in report["jobs"]}


def test_script_completed(crashed: tuple[VmResult, Path]) -> None:
    result, _ = crashed
    assert result.exit_code == 0, result.output


def test_daemon_died_with_commands_in_the_ring(crashed: tuple[VmResult, Path]) -> None:
    result, _ = crashed
    killed = _fields(result, "KILLED")
    assert KILL_AFTER <= int(killed["writes"]) < TOTAL_WRITES
    # Nothing completes while no one serves the ring, and the load is still there.
    assert killed["after_pause"] == killed["writes"]
    reads, writes = (int(n) for n in killed["inflight"].split(","))
    assert reads == 0 and writes > 0, killed
    assert killed["fio_running"] == "yes"


def test_restart_adopts_the_ring_and_replays_what_was_in_it(
    crashed: tuple[VmResult, Path],
) -> None:
    result, _ = crashed
    assert value(result.output, "ADOPTED") == "1"
    assert int(value(result.output, "REPLAYED")) > 0
    assert value(result.output, "NOT_REPLAYED") == "0"


def test_ring_was_unserved_for_less_than_the_kernel_timeout(crashed: tuple[VmResult, Path]) -> None:
    result, _ = crashed
    timeout = int(value(result.output, "CMD_TIME_OUT"))
    dead = float(value(result.output, "DEAD_SECONDS"))
    assert dead < timeout, (
        f"no daemon served the ring for {dead} s; the kernel fails ring commands after "
        f"{timeout} s: is the machine overloaded?"
    )


def test_interrupted_write_load_finishes_without_error(crashed: tuple[VmResult, Path]) -> None:
    result, share = crashed
    phase = _fields(result, "WRITE_PHASE")
    assert phase["status"] == "0", result.output
    assert int(phase["writes"]) >= TOTAL_WRITES
    for name, job in _fio_jobs(share / "write.json").items():
        assert job["error"] == 0, name
        assert job["write"]["io_bytes"] == JOB_MB << 20, name


def test_every_block_verifies_through_the_disk(crashed: tuple[VmResult, Path]) -> None:
    result, share = crashed
    assert _fields(result, "VERIFY_PHASE")["status"] == "0", result.output
    for name, job in _fio_jobs(share / "verify.json").items():
        assert job["error"] == 0, name
        assert job["read"]["io_bytes"] == JOB_MB << 20, name


def test_image_file_holds_what_the_disk_returns(crashed: tuple[VmResult, Path]) -> None:
    result, _ = crashed
    assert value(result.output, "IMAGE_MATCHES_DEVICE") == "ok"
    assert _fields(result, "FILE_VERIFY")["status"] == "0", result.output


def test_image_file_verifies_on_the_host(crashed: tuple[VmResult, Path]) -> None:
    _, share = crashed
    image = share / "crash.img"
    assert image.stat().st_size == DISK_MB << 20
    output = share / "verify-host.json"
    # --verify_state_save=0 and the share as the working folder: fio leaves no
    # local-*-verify.state files behind in the checkout.
    command = ["fio", f"--filename={image}", "--ioengine=psync", "--verify_only"]
    completed = subprocess.run(
        [*command, *VERIFY.split(), "--verify_state_save=0", f"--output={output}", *JOBS.split()],
        cwd=share,
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    jobs = _fio_jobs(output)
    assert sorted(jobs) == ["rand4k", "seq64k"]
    for name, job in jobs.items():
        assert job["error"] == 0, name
        assert job["read"]["io_bytes"] == JOB_MB << 20, name


def test_daemon_stops_cleanly_after_the_restart(crashed: tuple[VmResult, Path]) -> None:
    result, _ = crashed
    assert _fields(result, "TERM")["status"] == "0"
