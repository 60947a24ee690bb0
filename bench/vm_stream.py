"""Tape and optical streams through devemu against the kernel's fileio backstore, in one boot.

One boot of the VM (Debian's Linux kernel under QEMU, see ``devemu vm``)
serves, through tcm_loop, with every file on one guest tmpfs:

- ``devemu``: an optical drive (``[[cdrom]]``) on an ISO image, and a
  library with one LTO-8 drive whose cartridge ``mtx`` loads (``/dev/nst*``);
- ``fileio``: two LUNs of LIO's in-kernel ``fileio`` backstore
  (``fd_buffered_io=1``): one on the same ISO file, one on an image of the
  stream's size.

Then, one command at a time as Linux's ``sr`` and ``st`` drivers send them:

- optical: ``dd bs=1M iflag=direct`` of the whole ISO from ``/dev/sr*``
  and from the fileio LUN on the ISO;
- tape write: ``dd bs=256k`` of ``--size`` MiB of random data to
  ``/dev/nst*`` (closing it writes a filemark and synchronises), and to
  the fileio LUN with ``oflag=direct conv=fsync`` (one command per
  256 KiB record, then SYNCHRONIZE CACHE);
- tape read: the same back, to ``/dev/null`` (``iflag=direct`` on the LUN).

Every transfer is then read again, untimed, and compared with its
source (``cmp``). The ratio printed is devemu's rate over fileio's for the
same transfer in the same boot; ``--reverse`` swaps which side goes first
in each pair (two boots, one each way, show whether the order matters).
The guest also prints the transfer limits Linux took for each device
(``max_sectors_kb`` and ``max_hw_sectors_kb`` of its queue).

With ``--trace``, a short untimed pass of each stream runs first under
``devemu trace``: the guest prints, per device and command, the data
lengths seen and the device's own execute time.

With ``--ftrace S``, each timed ``dd`` runs with the guest kernel's
scheduler and SCSI trace events on for its first S seconds (or all of it,
if shorter); the bench prints what :mod:`devemu.vm.ftrace` makes of each
window: the vCPUs' shares per kind of task (``idle``: halted), wake-up to
running times, and each SCSI operation's dispatch-to-completion times.
Tracing slows both sides; take the ratios from runs without it.

    python3 bench/vm_stream.py [--iso-size MiB] [--size MiB] [--reverse] [--trace]
                               [--ftrace S] [--json] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devemu.cdrom.iso_writer import make_iso
from devemu.vm import VmError, VmResult, ftrace, run
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions

MIB = 1 << 20

#: (transfer, what the ratio is called) in the order they run.
PAIRS = (
    ("optical-read", "optical: dd bs=1M iflag=direct of the ISO"),
    ("tape-write", "tape: dd bs=256k to the drive"),
    ("tape-read", "tape: dd bs=256k back from the drive"),
)

#: Where the guest keeps every file: a tmpfs of its own.
GUEST_DIR = "/tmp/devemu-stream"

GUEST_SCRIPT = r"""
set -u
export LC_ALL=C
C=/sys/kernel/config/target
OUT="$DEVEMU_VM_SHARE"
DIR=@GUEST_DIR@
ISO_MB=@ISO_MB@
STREAM_MB=@STREAM_MB@
RECORDS=$((STREAM_MB * 4))
FILEIO_WWN=naa.5001405000000f11
FILEIO_NEXUS=naa.5001405000000f12
fail() { echo "BENCH_FAIL $*"; cat "$OUT/serve.log" 2>/dev/null; exit 1; }
echo "BENCH kernel $(uname -r)"

mkdir -p "$DIR/tapes"
mount -t tmpfs -o size=$((ISO_MB + 3 * STREAM_MB + 128))m tmpfs "$DIR" || fail "tmpfs"
mkdir -p "$DIR/tapes"
cp "$OUT/stream.iso" "$DIR/stream.iso" || fail "copy of the ISO"
ISO_BYTES=$(stat -c %s "$DIR/stream.iso")
head -c $((STREAM_MB * 1048576)) /dev/urandom > "$DIR/src" || fail "stream source"
dd if=/dev/zero of="$DIR/disk.img" bs=1M count="$STREAM_MB" status=none || fail "disk image"

cat > "$DIR/devemu.toml" <<EOF
@DAEMON_TABLE@
[[cdrom]]
name = "streamcd"
image = "$DIR/stream.iso"
serial = "STREAMCD01"

[[library]]
name = "streamlib"
directory = "$DIR/tapes"
slots = 2
import_export = 1
barcode_prefix = "STR"
count = 1
serial = "STREAMLIB1"

[[library.drives]]
name = "streamlib-d0"
serial = "STREAMDRV1"
EOF
serve_start "$DIR/devemu.toml" "$OUT/serve.log"

n=0
for name in iso disk; do
    B=$C/core/fileio_$n/stream$name
    if [ $name = iso ]; then f="$DIR/stream.iso"; size=$ISO_BYTES; else
        f="$DIR/disk.img"; size=$((STREAM_MB * 1048576)); fi
    mkdir -p "$B" || fail "fileio backstore $name"
    echo -n "fd_dev_name=$f,fd_dev_size=$size,fd_buffered_io=1" > "$B/control" \
        || fail "fileio control $name"
    echo 1 > "$B/enable" || fail "fileio enable $name"
    mkdir -p "$C/loopback/$FILEIO_WWN/tpgt_1/lun/lun_$n"
    [ $n = 0 ] && echo -n "$FILEIO_NEXUS" > "$C/loopback/$FILEIO_WWN/tpgt_1/nexus"
    ln -s "$B" "$C/loopback/$FILEIO_WWN/tpgt_1/lun/lun_$n/link" || fail "fileio LUN $name"
    n=$((n + 1))
done

disk_of_size() {
    for _ in $(seq 200); do
        for dev in /sys/block/sd*; do
            [ -e "$dev/device/vendor" ] || continue
            [ "$(tr -d ' ' < "$dev/device/vendor")" = LIO-ORG ] || continue
            if [ "$(cat "$dev/size")" = "$(($1 / 512))" ] && [ -b "/dev/${dev##*/}" ]; then
                echo "/dev/${dev##*/}"
                return 0
            fi
        done
        sleep 0.05
    done
    return 1
}
ISO_SD=$(disk_of_size "$ISO_BYTES") || fail "no fileio LUN on the ISO"
DISK_SD=$(disk_of_size $((STREAM_MB * 1048576))) || fail "no fileio LUN on the image"
SR=""
for _ in $(seq 200); do
    SR=$(node_with_serial STREAMCD01 /sys/block/sr*)
    CH=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {print $(NF-1)}' | head -n1)
    [ -n "$SR" ] && [ -c "$CH" ] && break
    sleep 0.05
done
[ -b "$SR" ] || fail "no devemu optical drive"
mtx -f "$CH" load 1 0 > /dev/null || fail "mtx load"
T=""
for _ in $(seq 200); do
    T=$(node_with_serial STREAMDRV1 /sys/class/scsi_tape/nst[0-9]*)
    [ -n "$T" ] && mt -f "$T" status > /dev/null 2>&1 && break
    sleep 0.1
done
[ -c "$T" ] || fail "no devemu tape drive"
mt -f "$T" setblk 0 || fail "variable block mode"
for dev in "$SR" "$ISO_SD" "$DISK_SD"; do
    q=/sys/block/${dev##*/}/queue
    echo "BENCH device $dev max_sectors_kb=$(cat $q/max_sectors_kb)" \
        "max_hw_sectors_kb=$(cat $q/max_hw_sectors_kb)"
done
echo "BENCH device $T $(cat /sys/class/scsi_tape/${T##*/}/device/vendor 2>/dev/null)"

# name side dd-arguments...: time one dd, print BENCH result NAME SIDE BYTES SECONDS
timed() {
    name=$1 side=$2
    shift 2
    if [ @FTRACE@ -gt 0 ]; then
        ftrace_start
        (sleep @FTRACE@; ftrace_stop) &
        ftrace_pid=$!
    fi
    dd "$@" 2> "$OUT/dd.err" || fail "dd $name $side: $(cat "$OUT/dd.err")"
    if [ @FTRACE@ -gt 0 ]; then
        kill "$ftrace_pid" 2>/dev/null
        wait "$ftrace_pid" 2>/dev/null
        ftrace_stop
        ftrace_save "$OUT/ftrace-$name-$side.txt"
    fi
    line=$(grep 'copied' "$OUT/dd.err")
    bytes=${line%% bytes*}
    seconds=$(echo "$line" | sed 's/.*copied, \([0-9.e+-]*\) s.*/\1/')
    echo "BENCH result $name $side $bytes $seconds"
}
check() { cmp "$@" > /dev/null 2>&1 && echo "BENCH check $1 ok" || fail "data differ: $*"; }

optical_devemu() {
    timed optical-read devemu if="$SR" of=/dev/null bs=1M iflag=direct
}
optical_fileio() {
    timed optical-read fileio if="$ISO_SD" of=/dev/null bs=1M iflag=direct
}
write_devemu() {
    mt -f "$T" rewind
    timed tape-write devemu if="$DIR/src" of="$T" bs=256k
}
write_fileio() {
    timed tape-write fileio if="$DIR/src" of="$DISK_SD" bs=256k oflag=direct conv=fsync
}
read_devemu() {
    mt -f "$T" rewind
    timed tape-read devemu if="$T" of=/dev/null bs=256k
}
read_fileio() {
    timed tape-read fileio if="$DISK_SD" of=/dev/null bs=256k iflag=direct count=$RECORDS
}
@TRACE@
if [ @FTRACE@ -gt 0 ]; then ftrace_setup; fi
@RUNS@
dd if="$SR" bs=1M iflag=direct status=none | check - "$DIR/stream.iso"
dd if="$ISO_SD" bs=1M iflag=direct status=none | check - "$DIR/stream.iso"
mt -f "$T" rewind
dd if="$T" bs=256k status=none | check - "$DIR/src"
dd if="$DISK_SD" bs=256k iflag=direct count=$RECORDS status=none | check - "$DIR/src"
mt -f "$T" rewind
mtx -f "$CH" unload 1 0 > /dev/null || echo "BENCH mtx unload failed"
kill -TERM "$serve_pid"
wait "$serve_pid" || echo "BENCH serve exited with status $?"
echo "BENCH done"
"""


@dataclass(frozen=True)
class Comparison:
    """One transfer on both sides: bytes and seconds each."""

    name: str
    what: str
    devemu_bytes: int
    devemu_seconds: float
    fileio_bytes: int
    fileio_seconds: float

    @property
    def devemu_mb_per_s(self) -> float:
        return self.devemu_bytes / self.devemu_seconds / 1e6

    @property
    def fileio_mb_per_s(self) -> float:
        return self.fileio_bytes / self.fileio_seconds / 1e6

    @property
    def ratio(self) -> float:
        return self.devemu_mb_per_s / self.fileio_mb_per_s


class BenchError(Exception):
    """The guest did not produce the figures."""


#: With ``--trace``: a short pass of each stream under ``devemu trace`` before the timed
#: runs, its records summed up by the guest (the trace costs time, so it is not timed).
TRACE_SCRIPT = r"""
devemu trace --json --socket /run/devemu/control.sock streamcd streamlib-d0 \
    > "$OUT/trace.jsonl" 2> "$OUT/trace.err" &
trace_pid=$!
sleep 5
dd if="$SR" of=/dev/null bs=1M iflag=direct count=16 status=none
mt -f "$T" rewind
head -c 8388608 "$DIR/src" | dd of="$T" bs=256k status=none
mt -f "$T" rewind
dd if="$T" of=/dev/null bs=256k count=32 status=none
mt -f "$T" rewind
sleep 1
kill -TERM $trace_pid
wait $trace_pid
# Untraced, each stream at several sizes per command: the time of one command is
# a fixed cost plus a cost per byte, on each side (BENCH sweep NAME SIDE BS BYTES SECONDS);
# "pinned": the daemon (every thread) and dd on vCPU 0, no wake-up crosses vCPUs.
sweep() {
    sw_name=$1 sw_side=$2 sw_bs=$3
    shift 3
    "$@" bs=$sw_bs 2> "$OUT/dd.err" || fail "sweep $sw_name $sw_side: $(cat "$OUT/dd.err")"
    sw_line=$(grep 'copied' "$OUT/dd.err")
    echo "BENCH sweep $sw_name $sw_side $sw_bs ${sw_line%% bytes*}" \
        "$(echo "$sw_line" | sed 's/.*copied, \([0-9.e+-]*\) s.*/\1/')"
}
for kb in 64 1024; do
    n=$((32768 / kb))
    sweep optical devemu ${kb}k dd if="$SR" of=/dev/null iflag=direct count=$n
    sweep optical fileio ${kb}k dd if="$ISO_SD" of=/dev/null iflag=direct count=$n
done
taskset -a -p -c 0 "$serve_pid" > /dev/null
on0="taskset -c 0"
for kb in 64 1024; do
    n=$((32768 / kb))
    sweep optical-pinned devemu ${kb}k $on0 dd if="$SR" of=/dev/null iflag=direct count=$n
    sweep optical-pinned fileio ${kb}k $on0 dd if="$ISO_SD" of=/dev/null iflag=direct count=$n
done
taskset -a -p -c 0,1 "$serve_pid" > /dev/null
for kb in 64 256; do
    n=$((16384 / kb))
    mt -f "$T" rewind
    sweep tape-write devemu ${kb}k dd if="$DIR/src" of="$T" count=$n
    sweep tape-write fileio ${kb}k dd if="$DIR/src" of="$DISK_SD" count=$n oflag=direct conv=fsync
    mt -f "$T" rewind
    sweep tape-read devemu ${kb}k dd if="$T" of=/dev/null count=$n
    sweep tape-read fileio ${kb}k dd if="$DISK_SD" of=/dev/null count=$n iflag=direct
done
mt -f "$T" rewind
# The daemon's threads' CPU time (TID = PID: the main thread) around 5 s of idling.
ps -L -o tid=,time= -p "$serve_pid" | sed 's/^/BENCH trace threads before idle: /'
sleep 5
ps -L -o tid=,time= -p "$serve_pid" | sed 's/^/BENCH trace threads after idle: /'
sed 's/^/BENCH trace stderr: /' "$OUT/trace.err" | head -n 5
"$DEVEMU_VM_PYTHON" - "$OUT/trace.jsonl" <<'PY'
import collections, json, os, sys, time
from devemu.tape import castagnoli
block = os.urandom(256 << 10)
start = time.perf_counter()
for _ in range(20):
    castagnoli.crc32c_of(block, 0)
print(f"BENCH trace crc32c hardware_based={castagnoli.hardware_based} "
      f"256KiB_us={(time.perf_counter() - start) / 20 * 1e6:.0f}")
seen = collections.defaultdict(list)
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r.get("event") == "command":
        seen[(r["device"], r["name"], r["length"])].append(r["latency_us"])
for (device, name, length), lat in sorted(seen.items()):
    lat.sort()
    print(f"BENCH trace {device} {name} length={length} count={len(lat)} "
          f"execute_us median={lat[len(lat) // 2]} max={lat[-1]}")
PY
"""


def guest_script(
    iso_mb: int, stream_mb: int, reverse: bool, trace: bool = False, ftrace_seconds: int = 0
) -> str:
    """The shell script the guest runs."""
    runs = []
    for index, (name, _what) in enumerate(PAIRS):
        short = name.split("-")[-1] if name.startswith("tape") else "optical"
        order = ["devemu", "fileio"] if (index % 2 == 0) != reverse else ["fileio", "devemu"]
        runs += [f"{short}_{side}" for side in order]
    return (
        guest_functions()
        + ftrace.GUEST_FUNCTIONS
        + GUEST_SCRIPT.replace("@DAEMON_TABLE@", GUEST_DAEMON_TABLE)
        .replace("@GUEST_DIR@", GUEST_DIR)
        .replace("@ISO_MB@", str(iso_mb))
        .replace("@STREAM_MB@", str(stream_mb))
        .replace("@TRACE@", TRACE_SCRIPT if trace else "")
        .replace("@FTRACE@", str(ftrace_seconds))
        .replace("@RUNS@", "\n".join(runs))
    )


def parse(output: str) -> list[Comparison]:
    """The comparisons from the guest's ``BENCH result`` lines."""
    seen: dict[tuple[str, str], tuple[int, float]] = {}
    for line in output.splitlines():
        fields = line.split()
        if fields[:2] == ["BENCH", "result"] and len(fields) == 6:
            try:
                seen[(fields[2], fields[3])] = (int(fields[4]), float(fields[5]))
            except ValueError as err:
                raise BenchError(f"bad result line {line!r}") from err
    out = []
    for name, what in PAIRS:
        try:
            dev, fio = seen[(name, "devemu")], seen[(name, "fileio")]
        except KeyError as err:
            raise BenchError(f"no figure for {name} {err}") from None
        out.append(Comparison(name, what, dev[0], dev[1], fio[0], fio[1]))
    return out


def _echo(chunk: bytes) -> None:
    sys.stderr.buffer.write(chunk)
    sys.stderr.buffer.flush()


def run_bench(
    iso_mb: int,
    stream_mb: int,
    *,
    reverse: bool = False,
    verbose: bool = False,
    trace: bool = False,
    ftrace_seconds: int = 0,
) -> tuple[VmResult, list[Comparison], dict[tuple[str, str], ftrace.TraceSummary]]:
    """Boot once, run every transfer on both sides, check the data, return the figures.

    The last item: with ``ftrace_seconds``, each timed transfer's trace
    window, by (transfer, side).
    """
    with tempfile.TemporaryDirectory(prefix="devemu-stream-") as folder:
        share = Path(folder)
        src = share / "iso-src"
        src.mkdir()
        with (src / "payload.bin").open("wb") as f:
            for _ in range(iso_mb):
                f.write(os.urandom(MIB))
        make_iso(src, share / "stream.iso", label="STREAM")
        (src / "payload.bin").unlink()
        result = run(
            guest_script(iso_mb, stream_mb, reverse, trace, ftrace_seconds),
            share=share,
            timeout=300 + (iso_mb + stream_mb) // 2,
            memory_mb=1024 + iso_mb + 3 * stream_mb,
            echo=_echo if verbose else None,
            kernel_args=ftrace.KERNEL_ARGS if ftrace_seconds else (),
        )
        traces = {}
        for name, _what in PAIRS if ftrace_seconds else ():
            for side in ("devemu", "fileio"):
                path = share / f"ftrace-{name}-{side}.txt"
                if path.exists():
                    with path.open(errors="replace") as text:
                        traces[(name, side)] = ftrace.summarize(text)
    if result.exit_code != 0 or "BENCH done" not in result.output:
        raise BenchError(f"the guest script failed ({result.exit_code}):\n{result.output}")
    return result, parse(result.output), traces


def sweep_lines(output: str) -> list[tuple[str, str, str, int, float]]:
    """The ``--trace`` size sweep: (stream, side, dd bs, bytes, seconds) each."""
    out = []
    for line in output.splitlines():
        fields = line.split()
        if fields[:2] == ["BENCH", "sweep"] and len(fields) == 7:
            out.append((fields[2], fields[3], fields[4], int(fields[5]), float(fields[6])))
    return out


def report(result: VmResult, comparisons: list[Comparison], reverse: bool) -> dict[str, Any]:
    """Everything measured, as one JSON-ready dict."""
    guest = [
        line.split(" ", 1)[1]
        for line in result.output.splitlines()
        if line.startswith("BENCH ") and not line.startswith("BENCH result")
    ]
    return {
        "order": "fileio first in the first pair" if reverse else "devemu first in the first pair",
        "boot_seconds": round(result.boot_seconds, 2),
        "vm_seconds": round(result.duration, 2),
        "guest": guest,
        "transfers": [
            {
                "name": c.name,
                "what": c.what,
                "devemu_mb_per_s": round(c.devemu_mb_per_s, 2),
                "fileio_mb_per_s": round(c.fileio_mb_per_s, 2),
                "ratio": round(c.ratio, 4),
            }
            for c in comparisons
        ],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iso-size", type=int, default=256, help="ISO payload in MiB (256)")
    parser.add_argument("--size", type=int, default=512, help="tape stream in MiB (512)")
    parser.add_argument("--reverse", action="store_true", help="the other side first")
    parser.add_argument(
        "--trace",
        action="store_true",
        help="first an untimed pass under devemu trace: the commands each stream sends",
    )
    parser.add_argument(
        "--ftrace",
        type=int,
        default=0,
        metavar="S",
        help="trace the guest's scheduler and SCSI events for the first S s of each dd (0: off)",
    )
    parser.add_argument("--json", action="store_true", help="print a JSON report")
    parser.add_argument("--verbose", action="store_true", help="show the guest's output live")
    args = parser.parse_args()
    if args.iso_size < 1 or args.size < 1 or args.ftrace < 0:
        parser.error("--iso-size and --size must be at least 1, --ftrace at least 0")
    try:
        result, comparisons, traces = run_bench(
            args.iso_size,
            args.size,
            reverse=args.reverse,
            verbose=args.verbose,
            trace=args.trace,
            ftrace_seconds=args.ftrace,
        )
    except (VmError, BenchError) as err:
        print(f"vm_stream: {err}", file=sys.stderr)
        return 1
    data = report(result, comparisons, args.reverse)
    data["ftrace"] = {f"{name} {side}": asdict(s) for (name, side), s in traces.items()}
    if args.json:
        print(json.dumps(data, indent=2))
        return 0
    for line in data["guest"]:
        if line.startswith(("kernel", "device", "check", "trace")):
            print(line)
    for name, side, bs, count, seconds in sweep_lines(result.output):
        commands = count // (int(bs.rstrip("k")) * 1024)
        print(
            f"sweep {name:<10} {side:<6} bs={bs:<5} {count / seconds / 1e6:8.1f} MB/s "
            f"{seconds / commands * 1e3:7.3f} ms per command"
        )
    header = f"{'transfer':<14}{'fileio MB/s':>13}{'devemu MB/s':>13}{'devemu/fileio':>15}"
    print(header)
    print("-" * len(header))
    for c in comparisons:
        print(f"{c.name:<14}{c.fileio_mb_per_s:>13.1f}{c.devemu_mb_per_s:>13.1f}{c.ratio:>15.2f}")
    for (name, side), summary in traces.items():
        print(f"ftrace {name} {side}:")
        print("\n".join(f"  {line}" for line in ftrace.describe(summary)))
    print(
        f"boot {result.boot_seconds:.1f} s, whole VM run {result.duration:.1f} s "
        f"({data['order']}); the ratio is within this boot"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
