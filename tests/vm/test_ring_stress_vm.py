"""Eight busy LUNs at once never break a ring, under a real Linux kernel.

In the tier's guest, a daemon of its own serves eight disks and the
script runs one fio with a job per disk, for :data:`FIO_SECONDS`: four read
sequentially at 1 MiB, queue depth 4 (each command a whole 1 MiB, so
every answer rings the doorbell early from the channel's second thread
while the loop serves the next command), and four do 4 KiB random reads
and writes at queue depth 16. That is the load under which the kernel
logged ``cmd_id N not found, ring is broken`` when ``cmd_tail`` was
stored in two steps. The kernel log must not say that (nor ``ring
broken, not handling completions``), every fio job must end without an
error and move data.

Then one ring is broken on purpose, as a handler bug would break it:
the daemon answers a ``cmd_id`` the kernel never issued (see
:data:`BREAK`). The kernel marks the ring broken; the daemon must say so
in one log line, recreate the backstore, link the LUN again
(``devemu status`` shows ``ring``: serving, 1 break) and the disk must
read again, while the other seven are untouched. Finally the daemon must
stop cleanly.
"""

from __future__ import annotations

import json

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines, value

pytestmark = pytest.mark.vm

#: Seconds of fio load (the whole boot takes about this plus a minute): tens of
#: thousands of commands through the eight rings under emulation.
FIO_SECONDS = 30
LARGE = [f"big{k}" for k in range(4)]
SMALL = [f"small{k}" for k in range(4)]
IMAGE_MB = 64


def _disk(name: str) -> str:
    return f"""
[[disk]]
name = "{name}"
image = "/tmp/{name}.img"
serial = "STRESS{name.upper()}"
"""


#: The kernel fails a command its broken ring still holds after this many seconds.
CMD_TIME_OUT = 10
#: Longest wait for the broken ring's LUN to serve again: its stuck command
#: times out, the LUN is unlinked, the backstore made again, the LUN linked.
RECOVERY_SECONDS = 90

CONFIG = (
    GUEST_DAEMON_TABLE
    + f"cmd_time_out = {CMD_TIME_OUT}\n"
    + "".join(_disk(n) for n in LARGE + SMALL)
)


def _job(name: str) -> str:
    if name in LARGE:
        return f"--name={name} --filename=$node_{name} --rw=read --bs=1m --iodepth=4 "
    return f"--name={name} --filename=$node_{name} --rw=randrw --bs=4k --iodepth=16 "


FIND_NODES = "".join(
    f"""node_{name}=""
for _ in $(seq 200); do
    node_{name}=$(node_with_serial STRESS{name.upper()} /sys/block/sd*)
    [ -n "$node_{name}" ] && break
    sleep 0.05
done
[ -n "$node_{name}" ] || {{ echo "FAIL no node for {name}"; cat /tmp/serve.log; exit 1; }}
echo "NODE {name} $node_{name}"
"""
    for name in LARGE + SMALL
)

#: Breaks the ring of one device as a handler bug would: with the daemon
#: (argv[1]) stopped, one READ is queued to the device (argv[2], node
#: argv[3]) and the cmd_id of its entry is changed, through
#: /proc/PID/mem (the UIO device admits one opener), to 0xFFFF, which the
#: kernel never issued (it hands out the lowest free ids). Continued, the
#: daemon answers that id and the kernel marks the ring broken.
BREAK = """
import glob, os, signal, struct, subprocess, sys, time
pid, name, node = int(sys.argv[1]), sys.argv[2], sys.argv[3]
for uio in glob.glob("/sys/class/uio/uio*"):
    if open(uio + "/name").read().strip().endswith("/devemu/" + name):
        break
else:
    sys.exit("no UIO device for " + name)
dev = "/dev/" + os.path.basename(uio)
for line in open(f"/proc/{pid}/maps"):
    if line.rstrip().endswith(dev):
        start = int(line.split("-")[0], 16)
        break
else:
    sys.exit(f"{dev} is not mapped by {pid}")
mem = os.open(f"/proc/{pid}/mem", os.O_RDWR)
def u32(at):
    return struct.unpack("<I", os.pread(mem, 4, start + at))[0]
cmdr_off, head = u32(4), u32(12)
os.kill(pid, signal.SIGSTOP)
try:
    subprocess.Popen(["dd", f"if={node}", "of=/dev/null", "bs=4k", "count=1", "iflag=direct"],
                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while u32(12) == head:
        if time.monotonic() > deadline:
            sys.exit("no command was queued")
        time.sleep(0.01)
    pos = head if u32(cmdr_off + head) & 7 == 1 else 0  # after a PAD, at the ring start
    os.pwrite(mem, struct.pack("<H", 0xFFFF), start + cmdr_off + pos + 4)
    print("BROKE", name, hex(pos))
finally:
    os.kill(pid, signal.SIGCONT)
"""

#: Prints ``RING`` (small0's ring status) and ``RINGS_SHOWN`` from ``devemu status --json``.
RINGS = """
import json, sys
devices = {d["name"]: d for d in json.load(open(sys.argv[1]))["devices"]}
print("RING", json.dumps(devices["small0"].get("ring")))
print("RINGS_SHOWN", sum("ring" in d for d in devices.values()))
"""

#: Reads fio's JSON report and prints ``JOB name error read_bytes write_bytes``.
REPORT = """
import json, sys
for job in json.load(open(sys.argv[1]))["jobs"]:
    print("JOB", job["jobname"], job["error"], job["read"]["io_bytes"], job["write"]["io_bytes"])
"""

SCRIPT = (
    guest_functions(ready_timeout=60)
    + f"""
set -u
now() {{ cut -d' ' -f1 /proc/uptime; }}
elapsed() {{ awk -v a="$1" -v b="$(now)" 'BEGIN {{printf "%d", b - a}}'; }}
cat > /tmp/stress.toml <<'EOF'
{CONFIG}EOF
# One Python for the eight images (each start costs a second or more under emulation).
"$DEVEMU_VM_PYTHON" -c 'import sys; from devemu.disk.image import create_image
for path in sys.argv[1:]: create_image(path, {IMAGE_MB} << 20)' \\
    {" ".join(f"/tmp/{n}.img" for n in LARGE + SMALL)}
dmesg -C
serve_start /tmp/stress.toml /tmp/serve.log
{FIND_NODES}
cat > /tmp/report.py <<'EOF'
{REPORT}EOF
t0=$(cut -d' ' -f1 /proc/uptime)
fio --ioengine=libaio --direct=1 --time_based --runtime={FIO_SECONDS} --output-format=json \\
    --output=/tmp/fio.json {"".join(_job(n) for n in LARGE + SMALL)}> /tmp/fio.log 2>&1
echo "FIO_STATUS $?"
echo "FIO_SECONDS $(awk -v a="$t0" -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN {{print b - a}}')"
"$DEVEMU_VM_PYTHON" /tmp/report.py /tmp/fio.json || cat /tmp/fio.log
echo "BROKEN $(dmesg | grep -c 'ring is broken\\|ring broken' || true)"
dmesg | grep -i 'tcmu\\|ring\\|target' | sed 's/^/DMESG /' | tail -n 40
cat > /tmp/break.py <<'EOF'
{BREAK}EOF
"$DEVEMU_VM_PYTHON" /tmp/break.py "$serve_pid" small0 "$node_small0"
t0=$(now)
while [ "$(elapsed "$t0")" -lt {RECOVERY_SECONDS} ]; do
    devemu status --json > /tmp/status.json 2>/dev/null
    grep -q '"serving"' /tmp/status.json && break
    sleep 0.5
done
echo "RECOVERED_AFTER $(elapsed "$t0")"
cat > /tmp/rings.py <<'EOF'
{RINGS}EOF
"$DEVEMU_VM_PYTHON" /tmp/rings.py /tmp/status.json
node=""
for _ in $(seq 200); do
    node=$(node_with_serial STRESSSMALL0 /sys/block/sd*)
    [ -n "$node" ] && break
    sleep 0.05
done
echo "NEW_NODE $node"
dd if="$node" of=/dev/null bs=1M count=16 iflag=direct 2>/dev/null && echo "READ_AGAIN ok"
echo "SAID $(grep -c 'marked the ring' /tmp/serve.log || true)"
dmesg | grep 'ring is broken\\|ring broken' | sed 's/^[^]]*] //' | sort | uniq -c \\
    | sed 's/^/AFTER /'
kill -TERM "$serve_pid"
serve_status=0
wait "$serve_pid" || serve_status=$?
echo "SERVE_STATUS $serve_status"
echo "TRACEBACKS $(grep -c Traceback /tmp/serve.log || true)"
grep -i 'broken\\|error\\|recreat\\|serving again' /tmp/serve.log \\
    | sed 's/^/SERVELOG /' | tail -n 20
"""
)


@pytest.fixture(scope="module")
def booted(guest_scripts: GuestScripts) -> VmResult:
    result = guest_scripts.run(SCRIPT, timeout=FIO_SECONDS + RECOVERY_SECONDS + 240)
    print(result.output)
    print(f"boot took {result.duration:.1f} s")
    return result


def test_every_lun_was_served(booted: VmResult) -> None:
    nodes = dict(line.split(" ", 1) for line in lines(booted.output, "NODE"))
    assert sorted(nodes) == sorted(LARGE + SMALL), booted.output[-4000:]
    assert len(set(nodes.values())) == len(nodes)


def test_no_ring_is_broken(booted: VmResult) -> None:
    assert value(booted.output, "BROKEN") == "0", "\n".join(lines(booted.output, "DMESG"))


def test_every_fio_job_moved_data_without_an_error(booted: VmResult) -> None:
    assert value(booted.output, "FIO_STATUS") == "0", booted.output[-4000:]
    assert float(value(booted.output, "FIO_SECONDS")) >= FIO_SECONDS
    jobs: dict[str, tuple[int, int, int]] = {}
    for line in lines(booted.output, "JOB"):
        name, *figures = line.split()
        error, read, written = (int(f) for f in figures)
        jobs[name] = (error, read, written)
    assert sorted(jobs) == sorted(LARGE + SMALL), json.dumps(jobs)
    for name, (error, read, written) in jobs.items():
        assert error == 0, name
        assert read > 0, name
        if name in SMALL:
            assert written > 0, name


def test_daemon_stopped_cleanly(booted: VmResult) -> None:
    assert value(booted.output, "SERVE_STATUS") == "0", "\n".join(lines(booted.output, "SERVELOG"))
    assert value(booted.output, "TRACEBACKS") == "0"
    assert booted.exit_code == 0


def test_a_ring_broken_on_purpose_is_said_once_and_recreated(booted: VmResult) -> None:
    out = booted.output
    assert value(out, "BROKE").startswith("small0"), out[-4000:]
    assert value(out, "SAID") == "1", "\n".join(lines(out, "SERVELOG"))
    assert json.loads(value(out, "RING")) == {"state": "serving", "breaks": 1}
    assert value(out, "RINGS_SHOWN") == "1"  # the other seven never broke
    assert value(out, "NEW_NODE").startswith("/dev/sd")
    assert value(out, "READ_AGAIN") == "ok"
    print("recovered after", value(out, "RECOVERED_AFTER"), "s")
