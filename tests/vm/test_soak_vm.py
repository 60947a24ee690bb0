"""Four LUNs reading 1 MiB at QD4 at once, then each alone: no ring starves, none breaks.

A bounded version of the soak of ``bench/vm_fio.py --soak``, in the
tier's guest: a ``devemu serve`` of its own serves four disks (one ring
worker each); one fio reads all four sequentially at 1 MiB, queue depth 4
(every command fills the data area with a whole MiB and rings the
doorbell early) for :data:`TOGETHER_SECONDS`, then each disk alone for :data:`ALONE_SECONDS`.
No fio job may end with an error, the kernel log must not say "ring is
broken", every LUN must move data while the others are busy (a ring
that waits for the others' turn would move little) and the longest
completion (fio's clat max) of every LUN must stay far below the
backstore's ``cmd_time_out``. The daemon must then stop cleanly, using
more than one vCPU while the four were busy is reported, not asserted
(the host is shared).
"""

from __future__ import annotations

import json

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines, value

pytestmark = pytest.mark.vm

TOGETHER_SECONDS = 40
ALONE_SECONDS = 5
LUNS = [f"soak{k}" for k in range(4)]
IMAGE_MB = 64
#: The kernel's cmd_time_out given to every backstore here.
CMD_TIME_OUT = 30
#: The longest completion any LUN may see: a fraction of cmd_time_out.
CLAT_LIMIT_S = CMD_TIME_OUT / 3

CONFIG = (
    GUEST_DAEMON_TABLE
    + f"cmd_time_out = {CMD_TIME_OUT}\n"
    + "".join(
        f'\n[[disk]]\nname = "{n}"\nimage = "/tmp/soak/{n}.img"\nserial = "SOAK{n.upper()}"\n'
        for n in LUNS
    )
)

FIND_NODES = "".join(
    f"""node_{name}=""
for _ in $(seq 200); do
    node_{name}=$(node_with_serial SOAK{name.upper()} /sys/block/sd*)
    [ -n "$node_{name}" ] && break
    sleep 0.05
done
[ -n "$node_{name}" ] || {{ echo "FAIL no node for {name}"; cat /tmp/serve.log; exit 1; }}
echo "NODE {name} $node_{name}"
"""
    for name in LUNS
)

#: ``JOB phase name error read_bytes clat_max_ns`` for every job of a fio JSON report.
REPORT = """
import json, sys
for job in json.load(open(sys.argv[2]))["jobs"]:
    r = job["read"]
    print("JOB", sys.argv[1], job["jobname"], job["error"], r["io_bytes"], r["clat_ns"]["max"])
"""

FIO = "fio --ioengine=libaio --direct=1 --time_based --rw=read --bs=1m --iodepth=4"

SCRIPT = (
    guest_functions(ready_timeout=60)
    + f"""
set -u
mkdir -p /tmp/soak
mount -t tmpfs -o size={len(LUNS) * IMAGE_MB + 16}m tmpfs /tmp/soak
cat > /tmp/soak.toml <<'EOF'
{CONFIG}EOF
for name in {" ".join(LUNS)}; do
    dd if=/dev/zero of=/tmp/soak/$name.img bs=1M count={IMAGE_MB} status=none
done
dmesg -C
serve_start /tmp/soak.toml /tmp/serve.log
{FIND_NODES}
cat > /tmp/report.py <<'EOF'
{REPORT}EOF
ticks() {{ awk '{{ print $14 + $15 }}' /proc/$serve_pid/stat; }}
t0=$(ticks)
w0=$(cut -d' ' -f1 /proc/uptime)
{FIO} --runtime={TOGETHER_SECONDS} --output-format=json --output=/tmp/together.json \\
    {" ".join(f"--name={n} --filename=$node_{n}" for n in LUNS)} > /tmp/fio.log 2>&1
echo "FIO_STATUS together $?"
echo "DAEMON_CPU $(awk -v t="$(($(ticks) - t0))" -v hz="$(getconf CLK_TCK)" -v a="$w0" \\
    -v b="$(cut -d' ' -f1 /proc/uptime)" 'BEGIN {{ printf "%.2f", t / hz / (b - a) }}')"
"$DEVEMU_VM_PYTHON" /tmp/report.py together /tmp/together.json || cat /tmp/fio.log
for name in {" ".join(LUNS)}; do
    eval "node=\\$node_$name"
    {FIO} --runtime={ALONE_SECONDS} --output-format=json --output=/tmp/$name.json \\
        --name=$name --filename=$node > /tmp/fio.log 2>&1
    echo "FIO_STATUS alone-$name $?"
    "$DEVEMU_VM_PYTHON" /tmp/report.py alone /tmp/$name.json || cat /tmp/fio.log
done
echo "BROKEN $(dmesg | grep -c 'ring is broken\\|ring broken' || true)"
dmesg | grep -i 'tcmu\\|ring\\|target\\|error' | sed 's/^/DMESG /' | tail -n 40
kill -TERM "$serve_pid"
serve_status=0
wait "$serve_pid" || serve_status=$?
echo "SERVE_STATUS $serve_status"
echo "TRACEBACKS $(grep -c Traceback /tmp/serve.log || true)"
"""
)


@pytest.fixture(scope="module")
def booted(guest_scripts: GuestScripts) -> VmResult:
    budget = TOGETHER_SECONDS + len(LUNS) * (ALONE_SECONDS + 15) + 300
    result = guest_scripts.run(SCRIPT, timeout=budget)
    print(result.output)
    print(f"the script took {result.duration:.1f} s")
    return result


def _jobs(booted: VmResult) -> dict[tuple[str, str], tuple[int, int, float]]:
    jobs: dict[tuple[str, str], tuple[int, int, float]] = {}
    for line in lines(booted.output, "JOB"):
        phase, name, error, read, clat_max = line.split()
        jobs[(phase, name)] = (int(error), int(read), float(clat_max) / 1e9)
    return jobs


def test_every_fio_run_ended_without_an_error(booted: VmResult) -> None:
    statuses = lines(booted.output, "FIO_STATUS")
    assert len(statuses) == 1 + len(LUNS), booted.output[-4000:]
    assert all(s.endswith(" 0") for s in statuses), statuses
    jobs = _jobs(booted)
    assert sorted(jobs) == sorted([("together", n) for n in LUNS] + [("alone", n) for n in LUNS]), (
        json.dumps({f"{p} {n}": v for (p, n), v in jobs.items()})
    )
    assert all(error == 0 for error, _read, _clat in jobs.values())


def test_no_ring_is_broken(booted: VmResult) -> None:
    assert value(booted.output, "BROKEN") == "0", "\n".join(lines(booted.output, "DMESG"))


def test_no_lun_starves_while_the_others_are_busy(booted: VmResult) -> None:
    jobs = _jobs(booted)
    together = {n: jobs[("together", n)] for n in LUNS}
    reads = [read for _e, read, _c in together.values()]
    # Fair shares: the slowest LUN moves at least a quarter of the fastest's data.
    assert min(reads) * 4 >= max(reads), together
    for name, (_e, _read, clat_max) in together.items():
        assert clat_max < CLAT_LIMIT_S, (name, clat_max)
    for name in LUNS:
        assert jobs[("alone", name)][2] < CLAT_LIMIT_S, name
    print("daemon CPU while four were busy (1.0 = one vCPU):", value(booted.output, "DAEMON_CPU"))
    print("clat max per LUN (s):", {n: round(c, 3) for n, (_e, _r, c) in together.items()})


def test_daemon_stopped_cleanly(booted: VmResult) -> None:
    assert value(booted.output, "SERVE_STATUS") == "0", booted.output[-4000:]
    assert value(booted.output, "TRACEBACKS") == "0"
    assert booted.exit_code == 0
