"""devemu's disk against the kernel's fileio backstore and tcmu-runner, with fio, in one boot.

One boot of the VM (Debian's Linux kernel under QEMU, see ``devemu vm``)
serves N LUNs per target through tcm_loop, every one backed by an image
of the same size on the same guest tmpfs:

- ``devemu``: ``[[disk]]`` tables served by ``devemu serve`` through TCMU;
- ``nbd`` (``devemu-nbd``): the same daemon serving images of the same kind
  with ``format = "raw"``, each through a qemu-storage-daemon of its own
  and NBD (:mod:`devemu.disk.nbd`): what reaching a disk over NBD costs
  next to the image file read directly, in the same boot (``--no-nbd``
  leaves it out); ``--nbd-queue-depth N`` sets its ``queue_depth`` (the
  commands in flight on each connection; 1: one at a time, each waited
  for, as before commands were answered later);
- ``fileio``: LIO's in-kernel ``fileio`` backstore, created through
  configfs, with ``fd_buffered_io=1`` (write-back, WCE=1, the same
  caching contract devemu's disk gives by default);
- ``tcmu-runner`` (when installed: the Debian package, 1.5.4): the C
  daemon on the same TCMU ring. Debian builds no ``file`` handler; its
  ``qcow`` handler serves an image that is not qcow as a raw file
  ("not qcow: will treat as raw"), with ``preadv``/``pwritev`` on the
  image, which is the file handler's work. Its backstores get the same
  ``hw_block_size`` (512), ``hw_max_sectors`` and ``max_data_area_mb``
  as devemu's (:class:`devemu.tcmu.configfs.BackstoreSpec`).

The images live on a tmpfs inside the guest, not on the 9p share: a 9p
round trip to the host costs more than either backend does per command,
so with images on the share every side would mostly measure 9p and the
ratio would drift toward 1; and the fileio backstore would pay a host
``fsync`` per write that devemu's write-back disk does not. On tmpfs every
backend reads and writes the same kind of pages, and the difference left
is the backend itself. The images are filled with zeros first, so reads
touch real pages, not holes.

Each fio job (libaio, direct=1, time-based) runs on every target back to
back, the order alternating between jobs (``--reverse`` starts the other
way) so that a slow drift of the emulated machine does not favour one
side. ``--luns 1,4`` runs every job with one LUN per target, then with
four at once (one fio job per LUN, figures summed); each run also reports
the serving daemon's CPU use (100% = one vCPU). ``--soak S`` ends the
boot with four devemu LUNs at 1 MiB QD4 for S seconds, then each LUN
alone for ``--alone`` seconds, and reports fio errors, the longest
completion latency per LUN (clat max) and the kernel's "ring is broken"
lines. Absolute figures under QEMU TCG move from boot to boot; compare
the ratios, which are taken within one boot.

``--ftrace S`` turns on the guest kernel's scheduler and SCSI trace events
for S seconds of every run (after the ramp and one more second) and prints,
per run, what :mod:`devemu.vm.ftrace` makes of them: each kind of task's
share of the vCPUs (``idle``: halted), wake-up to running times, and each
SCSI operation's dispatch-to-completion times. Tracing costs every target
some of its rate in that window; compare ratios from runs without it.

    python3 bench/vm_fio.py [--runtime S] [--ramp S] [--size MiB] [--luns 1,4]
        [--soak S] [--alone S] [--reverse] [--no-runner] [--no-nbd] [--targets devemu,nbd]
        [--ring-workers N] [--nbd-queue-depth N] [--ftrace S] [--json] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devemu.tcmu.configfs import BackstoreSpec
from devemu.vm import VmError, VmResult, ftrace, run
from devemu.vm.initramfs import CONTROL_DIR
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions


@dataclass(frozen=True)
class FioJob:
    """One fio workload run on each target."""

    name: str
    rw: str
    block_size: str
    iodepth: int

    @property
    def direction(self) -> str:
        """The key of fio's JSON report holding this job's figures."""
        return "write" if "write" in self.rw else "read"


JOBS = (
    FioJob("randread-4k-qd1", "randread", "4k", 1),
    FioJob("randread-4k-qd16", "randread", "4k", 16),
    FioJob("randwrite-4k-qd16", "randwrite", "4k", 16),
    FioJob("seqread-1m-qd4", "read", "1m", 4),
)

#: The soak's workload: large reads on every LUN at once.
SOAK_JOB = FioJob("soak-seqread-1m-qd4", "read", "1m", 4)

#: Every target, in the order of the first job; "runner" is tcmu-runner.
TARGETS = ("fileio", "devemu", "nbd", "runner")

#: Shown names of the targets.
LABELS = {"fileio": "fileio", "devemu": "devemu", "nbd": "devemu-nbd", "runner": "tcmu-runner"}

#: The ratios printed: (numerator, denominator).
RATIOS = (
    ("devemu", "fileio"),
    ("runner", "fileio"),
    ("devemu", "runner"),
    ("nbd", "devemu"),
)

#: Where the guest keeps the images: a tmpfs of its own.
IMAGE_DIR = "/tmp/devemu-bench"

#: The TCMU backstores' limits, devemu's and tcmu-runner's alike.
_SPEC = BackstoreSpec("bench", 0)

GUEST_SCRIPT = r"""
set -u
C=/sys/kernel/config/target
OUT="$DEVEMU_VM_SHARE"
DIR=@IMAGE_DIR@
SIZE_MB=@SIZE_MB@
LUNS=@LUNS@
TARGETS="@TARGETS@"
BYTES=$((SIZE_MB * 1048576))
fail() { echo "BENCH_FAIL $*"; cat "$OUT/serve.log" 2>/dev/null; exit 1; }
echo "BENCH kernel $(uname -r) fio $(fio --version)"
set -- $TARGETS
mkdir -p "$DIR"
mount -t tmpfs -o size=$(($# * LUNS * SIZE_MB + 16))m tmpfs "$DIR" || fail "tmpfs for the images"
for t in $TARGETS; do
    for i in $(seq 0 $((LUNS - 1))); do
        dd if=/dev/zero of="$DIR/$t-$i.img" bs=1M count="$SIZE_MB" status=none \
            || fail "$t image $i"
    done
done

# link_lun WWN NEXUS LUN BACKSTORE
link_lun() {
    mkdir -p "$C/loopback/$1/tpgt_1/lun/lun_$3"
    [ -n "$(cat "$C/loopback/$1/tpgt_1/nexus" 2>/dev/null)" ] \
        || echo -n "$2" > "$C/loopback/$1/tpgt_1/nexus"
    ln -s "$4" "$C/loopback/$1/tpgt_1/lun/lun_$3/link" || fail "LUN $3 of $1"
}

{
    cat <<EOF
@DAEMON_TABLE@@RING_WORKERS@
EOF
    for i in $(seq 0 $((LUNS - 1))); do
        printf '[[disk]]\nname = "benchdisk%d"\nimage = "%s"\nserial = "DEVEMU%d"\n' \
            "$i" "$DIR/devemu-$i.img" "$i"
        case " $TARGETS " in *" nbd "*)
            printf '[[disk]]\nname = "benchnbd%d"\nimage = "%s"\nformat = "raw"\n' \
                "$i" "$DIR/nbd-$i.img"
            printf 'serial = "NBD%d"\n@NBD_QUEUE_DEPTH@' "$i"
        esac
    done
} > "$DIR/devemu.toml"
serve_start "$DIR/devemu.toml" "$OUT/serve.log"
devemu_pid=$serve_pid
nbd_pid=$serve_pid

for i in $(seq 0 $((LUNS - 1))); do
    B=$C/core/fileio_0/benchfile$i
    mkdir -p "$B" || fail "fileio backstore"
    echo -n "fd_dev_name=$DIR/fileio-$i.img,fd_dev_size=$BYTES,fd_buffered_io=1" \
        > "$B/control" || fail "fileio control"
    echo 1 > "$B/enable" || fail "fileio enable"
    echo -n "FILEIO$i" > "$B/wwn/vpd_unit_serial" || fail "fileio serial"
    link_lun naa.5001405000000f01 naa.5001405000000f02 "$i" "$B"
done

runner_pid=
case " $TARGETS " in *" runner "*)
    mkdir -p /run/dbus "$DIR/handlers" "$DIR/runner-log"
    # tcmu-runner asks libkmod for target_core_user: the guest kernel's modules.
    K=$(cat @CONTROL_DIR@/kernel-root 2>/dev/null)
    if [ ! -e "/lib/modules/$(uname -r)" ] && [ -n "$K" ]; then
        mkdir -p /lib/modules && ln -s "$K/lib/modules/$(uname -r)" /lib/modules/
    fi
    dbus-daemon --system --fork || fail "dbus-daemon"
    ln -s @HANDLER_DIR@/handler_qcow.so "$DIR/handlers/"
    tcmu-runner --handler-path "$DIR/handlers" -l "$DIR/runner-log" \
        > "$OUT/runner.log" 2>&1 &
    runner_pid=$!
    for _ in $(seq 30); do
        grep -q qcow "$DIR/runner-log/tcmu-runner.log" 2>/dev/null && break
        sleep 0.1
    done
    kill -0 "$runner_pid" 2>/dev/null \
        || fail "tcmu-runner exited: $(cat "$OUT/runner.log" "$DIR"/runner-log/* 2>/dev/null)"
    for i in $(seq 0 $((LUNS - 1))); do
        B=$C/core/user_97/benchrun$i
        mkdir -p "$B" || fail "tcmu-runner backstore"
        for opt in "dev_config=qcow/$DIR/runner-$i.img" "dev_size=$BYTES" \
            hw_block_size=512 hw_max_sectors=@MAX_SECTORS@ max_data_area_mb=@DATA_AREA_MB@; do
            echo -n "$opt" > "$B/control" || fail "tcmu-runner control $opt"
        done
        echo 1 > "$B/enable" || fail "tcmu-runner enable: $(cat "$DIR"/runner-log/*)"
        echo -n "RUNNER$i" > "$B/wwn/vpd_unit_serial" || fail "tcmu-runner serial"
        link_lun naa.5001405000000f03 naa.5001405000000f04 "$i" "$B"
    done
    ;;
esac

# The /dev/sd* of each LUN, by its unit serial number.
for t in $TARGETS; do
    case $t in
        devemu) serial=DEVEMU;; nbd) serial=NBD;; fileio) serial=FILEIO;; runner) serial=RUNNER;;
    esac
    for i in $(seq 0 $((LUNS - 1))); do
        sd=
        for _ in $(seq 200); do
            sd=$(node_with_serial "$serial$i" /sys/block/sd*)
            [ -n "$sd" ] && break
            sleep 0.05
        done
        [ -n "$sd" ] || fail "no disk with serial $serial$i"
        eval "${t}_sd_$i=$sd"
        b=/sys/block/${sd##*/}
        echo none > "$b/queue/scheduler"
        [ "$i" = 0 ] && echo "BENCH disk $t $sd sectors=$(cat $b/size)" \
            "max_sectors_kb=$(cat $b/queue/max_sectors_kb)" \
            "max_hw_sectors_kb=$(cat $b/queue/max_hw_sectors_kb)" \
            "queue_depth=$(cat $b/device/queue_depth)" \
            "cache=$(cat $b/device/scsi_disk/*/cache_type | tr ' ' _)"
    done
done

# ticks PID: user+system clock ticks of PID and its children so far (devemu's
# worker processes; 0 for the kernel's own backstore)
ticks() {
    if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then
        awk -v pid="$1" '$1 == pid || $4 == pid { t += $14 + $15 } END { print t + 0 }' \
            /proc/[0-9]*/stat 2>/dev/null
    else
        echo 0
    fi
}

# bench NAME RW BS IODEPTH TARGET NLUNS RUNTIME TAG [FIRST_LUN]
bench() {
    args=""
    first=${9:-0}
    for i in $(seq "$first" $((first + $6 - 1))); do
        eval "sd=\$${5}_sd_$i"
        args="$args --name=lun$i --filename=$sd"
    done
    eval "pid=\$${5}_pid"
    before=$(ticks "$pid")
    start=$(date +%s.%N)
    echo "BENCH run $8 $5"
    if [ @FTRACE@ -gt 0 ]; then
        (sleep $((@RAMP@ + 1)); ftrace_start; sleep @FTRACE@; ftrace_stop) &
        ftrace_pid=$!
    fi
    fio --ioengine=libaio --direct=1 --rw="$2" --bs="$3" --iodepth="$4" \
        --runtime="$7" --ramp_time=@RAMP@ --time_based \
        --output-format=json --output="$OUT/$5-$8.json" $args > "$OUT/$5-$8.log" 2>&1 \
        || echo "BENCH fio-error $5 $8 $(tr '\n' ' ' < "$OUT/$5-$8.log")"
    echo "BENCH cpu $5 $8 $(($(ticks "$pid") - before)) $(date +%s.%N) $start" \
        "$(getconf CLK_TCK)"
    if [ @FTRACE@ -gt 0 ]; then
        wait "$ftrace_pid"
        ftrace_save "$OUT/ftrace-$5-$8.txt"
    fi
}
fileio_pid=
if [ @FTRACE@ -gt 0 ]; then ftrace_setup; fi
@RUNS@
if [ -n "$runner_pid" ]; then
    kill -TERM "$runner_pid"
    wait "$runner_pid" 2>/dev/null
fi
echo "BENCH ring-broken $(dmesg | grep -c 'ring is broken')"
kill -TERM "$serve_pid"
wait "$serve_pid" || echo "BENCH serve exited with status $?"
echo "BENCH done"
"""


@dataclass(frozen=True)
class Figures:
    """What fio measured for one job on one target (summed over its LUNs)."""

    iops: float
    mb_per_s: float
    mean_latency_us: float
    #: Longest completion latency of each LUN, in microseconds.
    max_latency_us: tuple[float, ...]
    #: I/O errors fio counted, over every LUN.
    errors: int
    #: The serving daemon's CPU use over the run, 1.0 = one vCPU (0 for fileio).
    cpu: float = 0.0


@dataclass(frozen=True)
class Comparison:
    """One job with N LUNs on every target."""

    job: FioJob
    luns: int
    figures: dict[str, Figures]
    #: With ``--ftrace``: each target's trace window, summed up.
    traces: dict[str, ftrace.TraceSummary] = field(default_factory=dict)

    def ratio(self, over: str, under: str) -> float | None:
        """IOPS of ``over`` / IOPS of ``under``; None if either did not run."""
        a, b = self.figures.get(over), self.figures.get(under)
        if a is None or b is None or not b.iops:
            return None
        return a.iops / b.iops


@dataclass(frozen=True)
class Soak:
    """The soak's figures: every LUN at once, then each alone."""

    together: Figures
    alone: tuple[Figures, ...]
    ring_broken: int
    fio_errors: tuple[str, ...]


class BenchError(Exception):
    """The guest did not produce the figures."""


def _order(index: int, targets: tuple[str, ...], reverse: bool) -> tuple[str, ...]:
    forward = index % 2 == 0
    return targets if forward != reverse else tuple(reversed(targets))


def _tag(job: FioJob, luns: int) -> str:
    return f"{job.name}-{luns}"


def guest_script(
    runtime: int,
    ramp: int,
    size_mb: int,
    *,
    targets: tuple[str, ...] = TARGETS,
    lun_counts: tuple[int, ...] = (1,),
    soak: int = 0,
    alone: int = 10,
    reverse: bool = False,
    ring_workers: int = 0,
    ring_processes: int = 0,
    nbd_queue_depth: int = 0,
    ftrace_seconds: int = 0,
    handler_dir: str = "/usr/lib/x86_64-linux-gnu/tcmu-runner",
) -> str:
    """The shell script the guest runs: set up every LUN, run every job on each target."""
    runs = []
    index = 0
    for luns in lun_counts:
        for job in JOBS:
            for target in _order(index, targets, reverse):
                runs.append(
                    f"bench {job.name} {job.rw} {job.block_size} {job.iodepth} {target} "
                    f"{luns} {runtime} {_tag(job, luns)}"
                )
            index += 1
    if soak:
        j, n = SOAK_JOB, max(lun_counts)
        spec = f"bench {j.name} {j.rw} {j.block_size} {j.iodepth} devemu"
        runs.append(f"{spec} {n} {soak} soak")
        runs.extend(f"{spec} 1 {alone} alone-{i} {i}" for i in range(n))
    return (
        guest_functions()
        + ftrace.GUEST_FUNCTIONS
        + GUEST_SCRIPT.replace("@DAEMON_TABLE@", GUEST_DAEMON_TABLE)
        .replace(
            "@RING_WORKERS@",
            (f"ring_workers = {ring_workers}\n" if ring_workers else "")
            + (f"ring_processes = {ring_processes}\n" if ring_processes else ""),
        )
        .replace(
            "@NBD_QUEUE_DEPTH@", f"queue_depth = {nbd_queue_depth}\\n" if nbd_queue_depth else ""
        )
        .replace("@IMAGE_DIR@", IMAGE_DIR)
        .replace("@SIZE_MB@", str(size_mb))
        .replace("@LUNS@", str(max(lun_counts)))
        .replace("@TARGETS@", " ".join(targets))
        .replace("@HANDLER_DIR@", handler_dir)
        .replace("@CONTROL_DIR@", CONTROL_DIR)
        .replace("@MAX_SECTORS@", str(_SPEC.max_sectors))
        .replace("@DATA_AREA_MB@", str(_SPEC.data_area_mb))
        .replace("@RAMP@", str(ramp))
        .replace("@FTRACE@", str(ftrace_seconds))
        .replace("@RUNS@", "\n".join(runs))
    )


def read_figures(report: Path, job: FioJob, cpu: float = 0.0) -> Figures:
    """IOPS, MB/s (10^6 bytes), latencies and errors from fio's JSON report, summed over LUNs."""
    try:
        data = json.loads(report.read_text())
        sides = [j[job.direction] for j in data["jobs"]]
        iops = sum(float(side["iops"]) for side in sides)
        weighted = sum(float(s["clat_ns"]["mean"]) * float(s["iops"]) for s in sides)
        return Figures(
            iops=iops,
            mb_per_s=sum(float(side["bw_bytes"]) for side in sides) / 1e6,
            mean_latency_us=weighted / iops / 1e3 if iops else 0.0,
            max_latency_us=tuple(float(side["clat_ns"]["max"]) / 1e3 for side in sides),
            errors=sum(int(j.get("error", 0)) for j in data["jobs"]),
            cpu=cpu,
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError) as err:
        raise BenchError(f"{report}: no fio figures ({err})") from err


def cpu_use(output: str) -> dict[tuple[str, str], float]:
    """(target, tag) -> CPU use of the target's daemon (1.0 = one vCPU), from the BENCH lines."""
    use: dict[tuple[str, str], float] = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) != 8 or parts[:2] != ["BENCH", "cpu"]:
            continue
        try:
            ticks, end, start, hz = int(parts[4]), float(parts[5]), float(parts[6]), int(parts[7])
        except ValueError:
            continue
        if end > start and hz:
            use[(parts[2], parts[3])] = ticks / hz / (end - start)
    return use


def _echo(chunk: bytes) -> None:
    sys.stderr.buffer.write(chunk)
    sys.stderr.buffer.flush()


def run_bench(
    runtime: int,
    ramp: int,
    size_mb: int,
    *,
    targets: tuple[str, ...] = TARGETS,
    lun_counts: tuple[int, ...] = (1,),
    soak: int = 0,
    alone: int = 10,
    reverse: bool = False,
    ring_workers: int = 0,
    ring_processes: int = 0,
    nbd_queue_depth: int = 0,
    ftrace_seconds: int = 0,
    verbose: bool = False,
) -> tuple[VmResult, list[Comparison], Soak | None]:
    """Boot once, run every job on every target, return the boot, comparisons and soak."""
    script = guest_script(
        runtime,
        ramp,
        size_mb,
        targets=targets,
        lun_counts=lun_counts,
        soak=soak,
        alone=alone,
        reverse=reverse,
        ring_workers=ring_workers,
        ring_processes=ring_processes,
        nbd_queue_depth=nbd_queue_depth,
        ftrace_seconds=ftrace_seconds,
    )
    n = max(lun_counts)
    runs = len(JOBS) * len(targets) * len(lun_counts)
    budget = (
        240
        + runs * (runtime + ramp + 15)
        + (soak + n * (alone + ramp + 15) if soak else 0)
        + len(targets) * n * size_mb // 8
    )
    with tempfile.TemporaryDirectory(prefix="devemu-bench-") as folder:
        share = Path(folder)
        result = run(
            script,
            share=share,
            timeout=budget,
            memory_mb=1024 + len(targets) * n * size_mb,
            echo=_echo if verbose else None,
            kernel_args=ftrace.KERNEL_ARGS if ftrace_seconds else (),
        )
        if result.exit_code != 0:
            raise BenchError(f"the guest script failed ({result.exit_code}):\n{result.output}")
        use = cpu_use(result.output)
        comparisons = []
        for luns in lun_counts:
            for job in JOBS:
                tag = _tag(job, luns)
                figures = {
                    t: read_figures(share / f"{t}-{tag}.json", job, use.get((t, tag), 0.0))
                    for t in targets
                }
                traces = {}
                if ftrace_seconds:
                    for t in targets:
                        with (share / f"ftrace-{t}-{tag}.txt").open(errors="replace") as text:
                            traces[t] = ftrace.summarize(text)
                comparisons.append(Comparison(job, luns, figures, traces))
        soaked = None
        if soak:
            lines = result.output.splitlines()
            broken = [int(x.split()[2]) for x in lines if x.startswith("BENCH ring-broken ")]
            soaked = Soak(
                together=read_figures(
                    share / "devemu-soak.json", SOAK_JOB, use.get(("devemu", "soak"), 0.0)
                ),
                alone=tuple(
                    read_figures(share / f"devemu-alone-{i}.json", SOAK_JOB) for i in range(n)
                ),
                ring_broken=broken[0] if broken else -1,
                fio_errors=tuple(x for x in lines if x.startswith("BENCH fio-error")),
            )
    return result, comparisons, soaked


def _ratio(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def table(comparisons: list[Comparison], targets: tuple[str, ...]) -> str:
    """The figures as a fixed-width text table: IOPS, MB/s and CPU per target, then ratios."""
    ratios = [(a, b) for a, b in RATIOS if a in targets and b in targets]
    header = f"{'job':<20}{'LUNs':>5}" + "".join(
        f"{LABELS[t] + ' IOPS':>18}{'MB/s':>9}{'cpu':>6}" for t in targets
    )
    header += "".join(f"{LABELS[a] + '/' + LABELS[b]:>22}" for a, b in ratios)
    lines = [header, "-" * len(header)]
    for c in comparisons:
        row = f"{c.job.name:<20}{c.luns:>5}"
        for t in targets:
            f = c.figures[t]
            cpu = f"{f.cpu * 100:.0f}%" if t != "fileio" else "-"
            row += f"{f.iops:>18,.0f}{f.mb_per_s:>9,.1f}{cpu:>6}"
        row += "".join(f"{_ratio(c.ratio(a, b)):>22}" for a, b in ratios)
        lines.append(row)
    by_job: dict[str, dict[int, Comparison]] = {}
    for c in comparisons:
        by_job.setdefault(c.job.name, {})[c.luns] = c
    for name, runs in by_job.items():
        if 1 not in runs:
            continue
        for luns, c in runs.items():
            if luns == 1:
                continue
            parts = [
                f"{LABELS[t]} {c.figures[t].iops / runs[1].figures[t].iops:.2f}x"
                for t in targets
                if runs[1].figures[t].iops
            ]
            lines.append(f"{name}: {luns} LUNs give " + ", ".join(parts) + " one LUN")
    return "\n".join(lines)


def soak_text(soak: Soak, seconds: int, alone: int) -> str:
    """The soak's verdict and figures."""
    together = soak.together
    lines = [
        f"soak: {len(together.max_latency_us)} devemu LUNs, 1 MiB read QD4 each, {seconds} s: "
        f"{together.mb_per_s:,.1f} MB/s, daemon cpu {together.cpu * 100:.0f}%, "
        f"fio errors {together.errors}",
        "  clat max per LUN (ms): " + ", ".join(f"{v / 1e3:.1f}" for v in together.max_latency_us),
    ]
    for i, f in enumerate(soak.alone):
        lines.append(
            f"  LUN {i} alone {alone} s: {f.mb_per_s:,.1f} MB/s, clat max "
            f"{max(f.max_latency_us) / 1e3:.1f} ms, fio errors {f.errors}"
        )
    lines.append(f"  'ring is broken' lines in the kernel log: {soak.ring_broken}")
    lines.extend(f"  {line}" for line in soak.fio_errors)
    return "\n".join(lines)


def report(
    result: VmResult,
    comparisons: list[Comparison],
    soak: Soak | None,
    settings: dict[str, Any],
) -> dict[str, Any]:
    """Everything measured, as one JSON-ready dict."""
    details = [
        line.split(" ", 1)[1] for line in result.output.splitlines() if line.startswith("BENCH ")
    ]
    return {
        **settings,
        "image_dir": f"{IMAGE_DIR} (guest tmpfs)",
        "boot_seconds": round(result.boot_seconds, 2),
        "vm_seconds": round(result.duration, 2),
        "guest": details,
        "jobs": [
            {
                **asdict(c.job),
                "luns": c.luns,
                **{LABELS[t]: asdict(f) for t, f in c.figures.items()},
                "ftrace": {LABELS[t]: asdict(s) for t, s in c.traces.items()},
                "ratios": {
                    f"{LABELS[a]}/{LABELS[b]}": c.ratio(a, b)
                    for a, b in RATIOS
                    if a in c.figures and b in c.figures
                },
            }
            for c in comparisons
        ],
        "soak": None if soak is None else asdict(soak),
    }


def _lun_counts(text: str) -> tuple[int, ...]:
    try:
        counts = tuple(sorted({int(part) for part in text.split(",")}))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of LUN counts: {text!r}") from None
    if not counts or counts[0] < 1 or counts[-1] > 16:
        raise argparse.ArgumentTypeError("LUN counts are from 1 to 16")
    return counts


def _targets(text: str) -> tuple[str, ...]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [t for t in chosen if t not in TARGETS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"targets are among {', '.join(TARGETS)}: {text!r}")
    return tuple(t for t in TARGETS if t in chosen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", type=int, default=10, help="seconds per job (10)")
    parser.add_argument("--ramp", type=int, default=2, help="ramp-up seconds per job (2)")
    parser.add_argument("--size", type=int, default=256, help="image size in MiB (256)")
    parser.add_argument(
        "--luns", type=_lun_counts, default=(1,), help="LUN counts per target, e.g. 1,4 (1)"
    )
    parser.add_argument("--soak", type=int, default=0, help="soak seconds at the end (0: none)")
    parser.add_argument("--alone", type=int, default=10, help="seconds per LUN after the soak")
    parser.add_argument("--reverse", action="store_true", help="start with the last target")
    parser.add_argument("--no-runner", action="store_true", help="leave tcmu-runner out")
    parser.add_argument("--no-nbd", action="store_true", help="leave the NBD-backed disk out")
    parser.add_argument(
        "--targets",
        type=_targets,
        default=TARGETS,
        help=f"only these targets, e.g. devemu,nbd (default: {','.join(TARGETS)})",
    )
    parser.add_argument(
        "--ring-workers", type=int, default=0, help="devemu's [daemon] ring_workers (0: default)"
    )
    parser.add_argument(
        "--ring-processes",
        type=int,
        default=0,
        help="devemu's [daemon] ring_processes (0: threads only)",
    )
    parser.add_argument(
        "--nbd-queue-depth",
        type=int,
        default=0,
        help="the NBD disks' queue_depth (0: devemu's default; 1: one command at a time)",
    )
    parser.add_argument(
        "--ftrace",
        type=int,
        default=0,
        metavar="S",
        help="trace the guest's scheduler and SCSI events for S s of every run (0: off)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    parser.add_argument("--verbose", action="store_true", help="show the guest's output live")
    args = parser.parse_args()
    if args.runtime < 1 or args.ramp < 0 or args.size < 16 or args.soak < 0 or args.alone < 1:
        parser.error("--runtime and --alone must be >= 1, --ramp and --soak >= 0, --size >= 16")
    if args.ftrace < 0 or (args.ftrace and args.ftrace > args.runtime - 1):
        parser.error("--ftrace must be from 0 to --runtime - 1")
    targets: tuple[str, ...] = args.targets
    if args.no_runner or shutil.which("tcmu-runner") is None:
        targets = tuple(t for t in targets if t != "runner")
    if args.no_nbd:
        targets = tuple(t for t in targets if t != "nbd")
    try:
        result, comparisons, soak = run_bench(
            args.runtime,
            args.ramp,
            args.size,
            targets=targets,
            lun_counts=args.luns,
            soak=args.soak,
            alone=args.alone,
            reverse=args.reverse,
            ring_workers=args.ring_workers,
            ring_processes=args.ring_processes,
            nbd_queue_depth=args.nbd_queue_depth,
            ftrace_seconds=args.ftrace,
            verbose=args.verbose,
        )
    except (VmError, BenchError) as err:
        print(f"vm_fio: {err}", file=sys.stderr)
        return 1
    settings = {
        "runtime_s": args.runtime,
        "ramp_s": args.ramp,
        "size_mib": args.size,
        "luns": list(args.luns),
        "order": [LABELS[t] for t in _order(0, targets, args.reverse)],
        "soak_s": args.soak,
        "ring_workers": args.ring_workers,
        "ring_processes": args.ring_processes,
        "nbd_queue_depth": args.nbd_queue_depth,
    }
    data = report(result, comparisons, soak, settings)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    for line in data["guest"]:
        if line.startswith(("kernel", "disk", "fio-error", "ring-broken")):
            print(line)
    print(
        f"images: {args.size} MiB each on {data['image_dir']}; fio libaio direct=1, "
        f"{args.runtime} s + {args.ramp} s ramp per job; first job's order: "
        + ", ".join(settings["order"])
        + f"; devemu ring_workers = {args.ring_workers}, ring_processes = {args.ring_processes}"
        + (f"; NBD queue_depth = {args.nbd_queue_depth}" if args.nbd_queue_depth else "")
    )
    print(table(comparisons, targets))
    for c in comparisons:
        for t, summary in c.traces.items():
            print(f"ftrace {c.job.name} {c.luns} LUN(s) {LABELS[t]}:")
            print("\n".join(f"  {line}" for line in ftrace.describe(summary)))
    if soak is not None:
        print(soak_text(soak, args.soak, args.alone))
    print(
        f"boot {result.boot_seconds:.1f} s, whole VM run {result.duration:.1f} s; "
        "absolute figures move between boots under TCG, the ratios are within this boot"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
