"""Worker processes in a real kernel: two disks served by two processes, one killed under load.

The guest's daemon serves two disks with ``[daemon] ring_processes = 2``
(one process each). fio writes both with crc32c verify headers (4 KiB
random writes at queue depth 16); once some writes are done the worker
process of the first disk gets SIGKILL with commands in its ring. The
daemon forks it again, the new process resumes the ring from
``cmd_tail`` (replaying the WRITEs the dead one may have left half done,
SBC-4 writes being idempotent), and both fio runs finish without an
error; a verify pass then reads every block back. The second disk's
process is never disturbed. ``devemu status`` answers for both disks
throughout (the request reaches the process that owns the device), the
kernel never calls a ring broken, SIGTERM stops the daemon and its
processes with status 0, and a ``kill -9`` of the main process takes its
workers with it, so a new daemon finds the rings free and adopts them.
"""

from __future__ import annotations

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import value

pytestmark = pytest.mark.vm

DISK_MB = 32
JOB_MB = 12
KILL_AFTER = 600

CONFIG = f"""\
{GUEST_DAEMON_TABLE.rstrip()}
cmd_time_out = 120
ring_processes = 2

[[disk]]
name = "proc0"
image = "/tmp/proc0.img"
serial = "VMPROC0001"

[[disk]]
name = "proc1"
image = "/tmp/proc1.img"
serial = "VMPROC0002"
"""

FIO = (
    "--ioengine=libaio --direct=1 --verify=crc32c --verify_fatal=1 --rw=randwrite --bs=4k "
    f"--iodepth=16 --size={JOB_MB}m --name=w"
)

SCRIPT = (
    guest_functions(ready_timeout=60)
    + rf"""
set -u
CFG="$DEVEMU_VM_SHARE/procs.toml"
fail() {{
    echo "FAIL $*"
    for f in /tmp/serve*.log /tmp/fio-*.log; do [ -e "$f" ] && {{ echo "--- $f"; cat "$f"; }}; done
    exit 1
}}
children() {{ pgrep -P "$1" | sort | tr '\n' ' '; }}
alive() {{ n=0; for k in "$@"; do kill -0 "$k" 2>/dev/null && n=$((n + 1)); done; echo "$n"; }}
writes() {{ awk '{{print $5 + $6}}' "/sys/block/$1/stat"; }}
truncate -s {DISK_MB}M /tmp/proc0.img /tmp/proc1.img
serve_start "$CFG" /tmp/serve1.log -v
pid=$serve_pid
sd0=$(node_with_serial VMPROC0001 /sys/block/sd*) || true
sd1=$(node_with_serial VMPROC0002 /sys/block/sd*) || true
[ -n "$sd0" ] && [ -n "$sd1" ] || fail "disks not found"
echo "CHILDREN_BEFORE $(children "$pid")"
worker0=$(sed -n 's/.*worker0: worker process \([0-9]*\) serves proc0$/\1/p' /tmp/serve1.log)
echo "WORKER0 $worker0"
fio --filename="$sd0" {FIO} --do_verify=0 > /tmp/fio-w0.log 2>&1 &
fio0=$!
fio --filename="$sd1" {FIO} --do_verify=0 > /tmp/fio-w1.log 2>&1 &
fio1=$!
while [ "$(writes "${{sd0##*/}}")" -lt {KILL_AFTER} ]; do
    kill -0 "$fio0" 2>/dev/null || fail "fio ended before the worker was killed"
    sleep 0.02
done
kill -KILL "$worker0"
echo "KILLED_AT $(writes "${{sd0##*/}}")"
s0=0; wait "$fio0" || s0=$?
s1=0; wait "$fio1" || s1=$?
echo "WRITE_PHASE $s0 $s1"
after=$(children "$pid")
echo "CHILDREN_AFTER $after"
devemu status --json > /tmp/status.json 2>&1
echo "STATUS $(grep -o '"name": "proc[01]"' /tmp/status.json | sort -u | wc -l)"
v0=0; fio --filename="$sd0" {FIO} --verify_only > /tmp/fio-v0.log 2>&1 || v0=$?
v1=0; fio --filename="$sd1" {FIO} --verify_only > /tmp/fio-v1.log 2>&1 || v1=$?
echo "VERIFY_PHASE $v0 $v1"
echo "RESTARTED $(grep -c 'ended (killed by SIGKILL); forking it again' /tmp/serve1.log)"
echo "REPLAYED $(grep -c 'replaying CDB' /tmp/serve1.log)"
kill -TERM "$pid"; term=0; wait "$pid" || term=$?
echo "TERM $term"
echo "LEFT_AFTER_TERM $(alive $after)"

serve_start "$CFG" /tmp/serve2.log -v
pid=$serve_pid
kids=$(children "$pid")
kill -KILL "$pid"; wait "$pid" 2>/dev/null || true
sleep 1
echo "WORKERS_ALIVE_AFTER_MAIN_KILL $(alive $kids) of $(echo $kids | wc -w)"
serve_start "$CFG" /tmp/serve3.log -v
echo "ADOPTED $(grep -c 'attaching to existing' /tmp/serve3.log)"
dd if="$(node_with_serial VMPROC0002 /sys/block/sd*)" of=/dev/null bs=64k count=16 iflag=direct \
    status=none && echo "READ_AFTER_ADOPT ok"
kill -TERM "$serve_pid"; wait "$serve_pid"; echo "TERM2 $?"
echo "BROKEN $(dmesg | grep -c 'ring is broken')"
for f in /tmp/serve1.log /tmp/serve3.log; do echo "--- $f"; tail -n 40 "$f"; done
"""
)


@pytest.fixture(scope="module")
def run(guest_scripts: GuestScripts) -> VmResult:
    share = guest_scripts.new_share()
    (share / "procs.toml").write_text(CONFIG)
    result = guest_scripts.run(SCRIPT, share=share, timeout=300)
    print(result.output)
    return result


def test_script_completed(run: VmResult) -> None:
    assert run.exit_code == 0, run.output


def test_two_processes_serve_the_two_disks(run: VmResult) -> None:
    before = value(run.output, "CHILDREN_BEFORE").split()
    assert len(before) == 2
    assert value(run.output, "WORKER0") in before


def test_a_killed_worker_is_forked_again_and_both_loads_finish(run: VmResult) -> None:
    assert value(run.output, "WRITE_PHASE") == "0 0", run.output
    assert value(run.output, "RESTARTED") == "1"
    before = set(value(run.output, "CHILDREN_BEFORE").split())
    after = set(value(run.output, "CHILDREN_AFTER").split())
    # The killed one has a successor; the other process is the same one.
    assert len(after) == 2 and len(before & after) == 1
    assert value(run.output, "WORKER0") not in after
    assert int(value(run.output, "REPLAYED")) > 0


def test_every_block_verifies_after_the_kill(run: VmResult) -> None:
    assert value(run.output, "VERIFY_PHASE") == "0 0", run.output


def test_control_requests_reach_the_processes(run: VmResult) -> None:
    assert value(run.output, "STATUS") == "2"


def test_no_ring_broken_and_clean_stops(run: VmResult) -> None:
    assert value(run.output, "BROKEN") == "0"
    assert value(run.output, "TERM") == "0"
    assert value(run.output, "LEFT_AFTER_TERM") == "0"
    assert value(run.output, "TERM2") == "0"


def test_workers_die_with_the_main_process_and_a_new_daemon_adopts(run: VmResult) -> None:
    assert value(run.output, "WORKERS_ALIVE_AFTER_MAIN_KILL") == "0 of 2"
    assert value(run.output, "ADOPTED") == "2"
    assert value(run.output, "READ_AFTER_ADOPT") == "ok"
