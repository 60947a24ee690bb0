"""devemu's disk against the kernel's own fileio backstore, with fio, in one guest boot.

One boot of the VM (Debian's Linux kernel under QEMU, see ``devemu vm``)
serves two LUNs through tcm_loop, both backed by an image of the same
size on the same guest tmpfs:

- ``devemu``: a ``[[disk]]`` served by ``devemu serve`` through TCMU;
- ``fileio``: LIO's in-kernel ``fileio`` backstore, created through
  configfs, with ``fd_buffered_io=1`` (write-back, WCE=1, the same
  caching contract devemu's disk gives by default).

The images live on a tmpfs inside the guest, not on the 9p share: a 9p
round trip to the host costs more than either backend does per command,
so with images on the share both sides would mostly measure 9p and the
ratio would drift toward 1; and the fileio backstore would pay a host
``fsync`` per write that devemu's write-back disk does not. On tmpfs both
backends read and write the same kind of pages, and the difference left
is the backend itself (the TCMU ring and the Python handler against an
in-kernel ``vfs_iter_read``/``vfs_iter_write``). Both images are filled
with zeros first, so reads touch real pages, not holes.

Each fio job (libaio, direct=1, time-based) runs on both LUNs back to
back, the order alternating between jobs so that a slow drift of the
emulated machine does not favour one side. Absolute figures under QEMU
TCG move from boot to boot; compare the ratio, which is taken within
one boot.

    python3 bench/vm_fio.py [--runtime S] [--ramp S] [--size MiB] [--json] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devemu.vm import VmError, VmResult, run
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
    FioJob("randread-4k-qd16", "randread", "4k", 16),
    FioJob("randwrite-4k-qd16", "randwrite", "4k", 16),
    FioJob("seqread-1m-qd4", "read", "1m", 4),
)

TARGETS = ("fileio", "devemu")

#: Where the guest keeps both images: a tmpfs of its own.
IMAGE_DIR = "/tmp/devemu-bench"

GUEST_SCRIPT = r"""
set -u
C=/sys/kernel/config/target
OUT="$DEVEMU_VM_SHARE"
DIR=@IMAGE_DIR@
SIZE_MB=@SIZE_MB@
BYTES=$((SIZE_MB * 1048576))
FILEIO_WWN=naa.5001405000000f01
FILEIO_NEXUS=naa.5001405000000f02
fail() { echo "BENCH_FAIL $*"; cat "$OUT/serve.log" 2>/dev/null; exit 1; }
echo "BENCH kernel $(uname -r) fio $(fio --version)"

mkdir -p "$DIR"
mount -t tmpfs -o size=$((2 * SIZE_MB + 16))m tmpfs "$DIR" || fail "tmpfs for the images"
dd if=/dev/zero of="$DIR/devemu.img" bs=1M count="$SIZE_MB" status=none || fail "devemu image"
dd if=/dev/zero of="$DIR/fileio.img" bs=1M count="$SIZE_MB" status=none || fail "fileio image"

cat > "$DIR/devemu.toml" <<EOF
@DAEMON_TABLE@
[[disk]]
name = "benchdisk"
image = "$DIR/devemu.img"
serial = "BENCHDEVEMU"
EOF
serve_start "$DIR/devemu.toml" "$OUT/serve.log"

B=$C/core/fileio_0/benchfile
mkdir -p "$B" || fail "fileio backstore"
echo -n "fd_dev_name=$DIR/fileio.img,fd_dev_size=$BYTES,fd_buffered_io=1" > "$B/control" \
    || fail "fileio control"
echo 1 > "$B/enable" || fail "fileio enable"
mkdir -p "$C/loopback/$FILEIO_WWN/tpgt_1/lun/lun_0"
echo -n "$FILEIO_NEXUS" > "$C/loopback/$FILEIO_WWN/tpgt_1/nexus"
ln -s "$B" "$C/loopback/$FILEIO_WWN/tpgt_1/lun/lun_0/link" || fail "fileio LUN"

devemu_sd=$(find_disk DEVEMU) || fail "no DEVEMU disk"
fileio_sd=$(find_disk LIO-ORG) || fail "no LIO-ORG disk"
for target in devemu fileio; do
    eval "sd=\$${target}_sd"
    b=/sys/block/${sd##*/}
    echo none > "$b/queue/scheduler"
    echo "BENCH disk $target $sd sectors=$(cat $b/size)" \
        "max_sectors_kb=$(cat $b/queue/max_sectors_kb)" \
        "queue_depth=$(cat $b/device/queue_depth)" \
        "cache=$(cat $b/device/scsi_disk/*/cache_type | tr ' ' _)"
done

# name rw bs iodepth target
bench() {
    eval "sd=\$${5}_sd"
    echo "BENCH run $1 $5"
    fio --name="$1" --filename="$sd" --ioengine=libaio --direct=1 --rw="$2" --bs="$3" \
        --iodepth="$4" --runtime=@RUNTIME@ --ramp_time=@RAMP@ --time_based \
        --output-format=json --output="$OUT/$5-$1.json" > "$OUT/$5-$1.log" 2>&1 \
        || fail "fio $1 on $5: $(cat "$OUT/$5-$1.log")"
}
@RUNS@
kill -TERM "$serve_pid"
wait "$serve_pid" || echo "BENCH serve exited with status $?"
echo "BENCH done"
"""


@dataclass(frozen=True)
class Figures:
    """What fio measured for one job on one target."""

    iops: float
    mb_per_s: float
    mean_latency_us: float


@dataclass(frozen=True)
class Comparison:
    """One job on both targets and the ratio devemu/fileio."""

    job: FioJob
    fileio: Figures
    devemu: Figures

    @property
    def iops_ratio(self) -> float:
        return self.devemu.iops / self.fileio.iops if self.fileio.iops else 0.0

    @property
    def bandwidth_ratio(self) -> float:
        return self.devemu.mb_per_s / self.fileio.mb_per_s if self.fileio.mb_per_s else 0.0


class BenchError(Exception):
    """The guest did not produce the figures."""


def guest_script(runtime: int, ramp: int, size_mb: int) -> str:
    """The shell script the guest runs: set up both LUNs, run every job on each."""
    runs = []
    for index, job in enumerate(JOBS):
        order = TARGETS if index % 2 == 0 else tuple(reversed(TARGETS))
        for target in order:
            runs.append(f"bench {job.name} {job.rw} {job.block_size} {job.iodepth} {target}")
    return guest_functions() + (
        GUEST_SCRIPT.replace("@DAEMON_TABLE@", GUEST_DAEMON_TABLE)
        .replace("@IMAGE_DIR@", IMAGE_DIR)
        .replace("@SIZE_MB@", str(size_mb))
        .replace("@RUNTIME@", str(runtime))
        .replace("@RAMP@", str(ramp))
        .replace("@RUNS@", "\n".join(runs))
    )


def read_figures(report: Path, job: FioJob) -> Figures:
    """IOPS, MB/s (10^6 bytes) and mean completion latency from fio's JSON report."""
    try:
        data = json.loads(report.read_text())
        side = data["jobs"][0][job.direction]
        return Figures(
            iops=float(side["iops"]),
            mb_per_s=float(side["bw_bytes"]) / 1e6,
            mean_latency_us=float(side["clat_ns"]["mean"]) / 1e3,
        )
    except (OSError, ValueError, KeyError, IndexError) as err:
        raise BenchError(f"{report}: no fio figures ({err})") from err


def _echo(chunk: bytes) -> None:
    sys.stderr.buffer.write(chunk)
    sys.stderr.buffer.flush()


def run_bench(
    runtime: int, ramp: int, size_mb: int, *, verbose: bool = False
) -> tuple[VmResult, list[Comparison]]:
    """Boot once, run every job on both targets, return the boot and the comparisons."""
    script = guest_script(runtime, ramp, size_mb)
    budget = 180 + len(JOBS) * len(TARGETS) * (runtime + ramp + 10) + size_mb // 16
    with tempfile.TemporaryDirectory(prefix="devemu-bench-") as folder:
        share = Path(folder)
        result = run(
            script,
            share=share,
            timeout=budget,
            memory_mb=1024 + 2 * size_mb,
            echo=_echo if verbose else None,
        )
        if result.exit_code != 0:
            raise BenchError(f"the guest script failed ({result.exit_code}):\n{result.output}")
        comparisons = [
            Comparison(
                job,
                fileio=read_figures(share / f"fileio-{job.name}.json", job),
                devemu=read_figures(share / f"devemu-{job.name}.json", job),
            )
            for job in JOBS
        ]
    return result, comparisons


def table(comparisons: list[Comparison]) -> str:
    """The figures as a fixed-width text table."""
    header = (
        f"{'job':<20}{'fileio IOPS':>12}{'fileio MB/s':>13}"
        f"{'devemu IOPS':>13}{'devemu MB/s':>13}{'devemu/fileio':>15}"
    )
    lines = [header, "-" * len(header)]
    for c in comparisons:
        lines.append(
            f"{c.job.name:<20}{c.fileio.iops:>12,.0f}{c.fileio.mb_per_s:>13,.1f}"
            f"{c.devemu.iops:>13,.0f}{c.devemu.mb_per_s:>13,.1f}{c.iops_ratio:>15.2f}"
        )
    return "\n".join(lines)


def report(
    result: VmResult, comparisons: list[Comparison], runtime: int, ramp: int, size_mb: int
) -> dict[str, Any]:
    """Everything measured, as one JSON-ready dict."""
    details = [
        line.split(" ", 1)[1] for line in result.output.splitlines() if line.startswith("BENCH ")
    ]
    return {
        "runtime_s": runtime,
        "ramp_s": ramp,
        "size_mib": size_mb,
        "image_dir": f"{IMAGE_DIR} (guest tmpfs)",
        "boot_seconds": round(result.boot_seconds, 2),
        "vm_seconds": round(result.duration, 2),
        "guest": details,
        "jobs": [
            {
                **asdict(c.job),
                "fileio": asdict(c.fileio),
                "devemu": asdict(c.devemu),
                "iops_ratio": round(c.iops_ratio, 4),
                "bandwidth_ratio": round(c.bandwidth_ratio, 4),
            }
            for c in comparisons
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", type=int, default=10, help="seconds per job (10)")
    parser.add_argument("--ramp", type=int, default=2, help="ramp-up seconds per job (2)")
    parser.add_argument("--size", type=int, default=256, help="image size in MiB (256)")
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    parser.add_argument("--verbose", action="store_true", help="show the guest's output live")
    args = parser.parse_args()
    if args.runtime < 1 or args.ramp < 0 or args.size < 16:
        parser.error("--runtime must be >= 1, --ramp >= 0 and --size >= 16")
    try:
        result, comparisons = run_bench(args.runtime, args.ramp, args.size, verbose=args.verbose)
    except (VmError, BenchError) as err:
        print(f"vm_fio: {err}", file=sys.stderr)
        return 1
    data = report(result, comparisons, args.runtime, args.ramp, args.size)
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    for line in data["guest"]:
        if line.startswith(("kernel", "disk")):
            print(line)
    print(
        f"images: {args.size} MiB each on {data['image_dir']}; fio libaio direct=1, "
        f"{args.runtime} s + {args.ramp} s ramp per job"
    )
    print(table(comparisons))
    print(
        f"boot {result.boot_seconds:.1f} s, whole VM run {result.duration:.1f} s; "
        "absolute figures move between boots under TCG, the ratio is within this boot"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
