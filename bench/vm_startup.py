"""How long ``devemu serve`` takes to come up in the QEMU guest, in one boot.

The guest (Debian's kernel under QEMU TCG, see ``devemu vm``) serves
``examples/lab.toml`` (a disk, an optical drive, a tape library with two
drives) from a share holding a sparse disk image and an empty cartridge
folder, and prints, in this order:

- ``userspace``: the guest's uptime when the script starts (kernel boot,
  initramfs, 9p root, module loading);
- ``python_cold``: ``python -c pass``, the first interpreter of the boot;
- ``serve_main``: from starting ``devemu serve`` to its first log line
  (interpreter start-up and every import of the command line);
- ``serve_ready``: from starting ``devemu serve`` to its ready file (every
  LUN linked and scanned by the kernel);
- ``restart_ready``: the same after ``kill -9`` of the first daemon (it
  adopts the live backstores and LUNs);
- ``stop``: SIGTERM to exit (LUNs unlinked, backstores removed);
- ``python_warm``, ``import_daemon``, ``import_cli``: interpreter start-up,
  ``import devemu.daemon`` and building the ``devemu`` parser, once every
  file has been read at least once.

The daemon's log lines carry the guest's clock, as seconds after the
daemon was started; ``--log`` prints them. ``--importtime`` adds the
slowest imports of ``python -X importtime`` (run last, warm).

    python3 bench/vm_startup.py [--log] [--importtime] [--json] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devemu.vm import VmError, VmResult, run

ROOT = Path(__file__).resolve().parents[1]
LAB = ROOT / "examples" / "lab.toml"
DISK_BYTES = 1 << 30

#: The daemon's log carries the clock (``%(created)``) so phases line up with the script's.
SERVE = (
    '"$DEVEMU_VM_PYTHON" -c \'import logging, sys; '
    'logging.basicConfig(level=logging.INFO, format="%(created).3f %(name)s: %(message)s"); '
    'from devemu.cli import main; sys.argv[0] = "devemu"; sys.exit(main())\' '
)

GUEST_SCRIPT = r"""
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
PY="$DEVEMU_VM_PYTHON"
CFG="$DEVEMU_VM_SHARE/lab.toml"
READY=/run/devemu-bench.ready
echo "BENCH userspace $(cut -d' ' -f1 /proc/uptime)"
t0=$(now); "$PY" -c pass; echo "BENCH python_cold $(since "$t0")"
serve() {
    rm -f "$READY"
    log="/tmp/serve-$1.log"
    t0=$(now)
    echo "T0 $1 $t0"
    @SERVE@ -v serve "$CFG" --ready-file "$READY" > "$log" 2>&1 &
    pid=$!
    while [ ! -e "$READY" ]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "BENCH_FAILED $1"; cat "$log"; exit 1
        fi
        sleep 0.02
    done
    echo "BENCH $1_ready $(since "$t0")"
}
serve serve
lsscsi | sed 's/^/LSSCSI /'
kill -9 "$pid"; wait "$pid" 2>/dev/null
serve restart
t0=$(now); kill -TERM "$pid"; wait "$pid"; status=$?
echo "BENCH stop $(since "$t0")"
echo "STOP_STATUS $status"
for name in serve restart; do sed "s/^/LOG $name /" "/tmp/serve-$name.log"; done
t0=$(now); "$PY" -c pass; echo "BENCH python_warm $(since "$t0")"
t0=$(now); "$PY" -c 'import devemu.daemon'; echo "BENCH import_daemon $(since "$t0")"
t0=$(now); "$PY" -c 'import devemu.cli; devemu.cli.build_parser()'
echo "BENCH import_cli $(since "$t0")"
if [ -n "${BENCH_IMPORTTIME:-}" ]; then
    "$PY" -X importtime -c 'import devemu.cli, devemu.config
devemu.cli.build_parser()
for family in devemu.config.FAMILIES.values(): __import__(family)' 2> /tmp/importtime.txt
    sort -t'|' -k2 -n -r /tmp/importtime.txt | head -n 40 | sed 's/^/IMPORTTIME /'
fi
"""

_BENCH = re.compile(r"^BENCH (\S+) ([\d.]+)$", re.MULTILINE)
_T0 = re.compile(r"^T0 (\S+) ([\d.]+)$", re.MULTILINE)
_LOG = re.compile(r"^LOG (\S+) ([\d.]+) (.*)$", re.MULTILINE)


def guest_script(importtime: bool) -> str:
    script = GUEST_SCRIPT.replace("@SERVE@", SERVE)
    return ("BENCH_IMPORTTIME=1\n" if importtime else "") + script


def prepare_share(share: Path) -> None:
    """The lab configuration, a sparse 1 GiB disk image and an empty cartridge folder."""
    shutil.copy(LAB, share / "lab.toml")
    (share / "images").mkdir()
    with (share / "images" / "disk0.img").open("wb") as image:
        image.truncate(DISK_BYTES)
    (share / "tapes").mkdir()


def figures(output: str) -> dict[str, float]:
    found = {name: float(value) for name, value in _BENCH.findall(output)}
    if "serve_ready" in found:
        # From start to the first log line: interpreter and imports.
        starts = {name: float(value) for name, value in _T0.findall(output)}
        for run_name, stamp, _ in _LOG.findall(output):
            key = f"{run_name}_main"
            if key not in found and run_name in starts:
                found[key] = round(float(stamp) - starts[run_name], 3)
    return found


def log_lines(output: str) -> list[str]:
    starts = {name: float(value) for name, value in _T0.findall(output)}
    return [
        f"{run_name:8} {float(stamp) - starts.get(run_name, 0.0):7.3f}  {text}"
        for run_name, stamp, text in _LOG.findall(output)
    ]


def _echo(chunk: bytes) -> None:
    sys.stderr.buffer.write(chunk)
    sys.stderr.buffer.flush()


def run_bench(*, importtime: bool, verbose: bool) -> tuple[VmResult, dict[str, float]]:
    with tempfile.TemporaryDirectory(prefix="devemu-bench-") as folder:
        share = Path(folder)
        prepare_share(share)
        started = time.monotonic()
        result = run(
            guest_script(importtime),
            share=share,
            timeout=600,
            echo=_echo if verbose else None,
        )
        found = figures(result.output)
        found["host_wall"] = round(time.monotonic() - started, 3)
        return result, found


ORDER = (
    ("userspace", "guest uptime when the script starts"),
    ("python_cold", "python -c pass (first interpreter of the boot)"),
    ("serve_main", "serve: start -> first log line (interpreter + imports)"),
    ("serve_ready", "serve: start -> ready (all LUNs linked)"),
    ("restart_main", "restart: start -> first log line"),
    ("restart_ready", "restart after kill -9: start -> ready"),
    ("stop", "SIGTERM -> exit"),
    ("python_warm", "python -c pass (warm)"),
    ("import_daemon", "python -c 'import devemu.daemon' (warm)"),
    ("import_cli", "import devemu.cli + build_parser() (warm)"),
    ("host_wall", "whole boot, host wall clock"),
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    parser.add_argument("--log", action="store_true", help="print the daemons' timed log")
    parser.add_argument("--importtime", action="store_true", help="print the slowest imports")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--verbose", action="store_true", help="echo the guest's output")
    args = parser.parse_args()
    try:
        result, found = run_bench(importtime=args.importtime, verbose=args.verbose)
    except VmError as exc:
        print(f"vm_startup: {exc}", file=sys.stderr)
        return 1
    if result.exit_code != 0:
        print(result.output, file=sys.stderr)
        print(f"vm_startup: guest script failed with status {result.exit_code}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(found, indent=2))
    else:
        for key, label in ORDER:
            if key in found:
                print(f"{label:58} {found[key]:8.2f} s")
    if args.log:
        print("\n".join(log_lines(result.output)))
    if args.importtime:
        for line in result.output.splitlines():
            if line.startswith("IMPORTTIME "):
                print(line.removeprefix("IMPORTTIME "))
    return 0


if __name__ == "__main__":
    sys.exit(main())
