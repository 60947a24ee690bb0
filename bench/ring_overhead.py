"""Commands per second through the ring simulator with a null device.

Measures the ring's own cost per command: simulator submit (the kernel's
side), the loop's walk, Command construction, the completion write, the
doorbell and the simulator's reaping. The device does nothing.

    python3 bench/ring_overhead.py [--seconds 2] [--qd 32] [--length 4096]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devemu.testing import NullDevice, RingSimulator

READ10 = bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 8, 0])


def run(seconds: float, qd: int, length: int) -> float:
    """Commands per second at queue depth ``qd`` with ``length`` bytes of data-in."""
    sim = RingSimulator(ring_size=1024 * 1024, data_size=max(qd * length, 4096) * 2)
    sim.attach(NullDevice(report_length=True))
    batch = [READ10] * qd
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        done += sim.run_batch(batch, length)
        now = time.perf_counter()
        if now >= deadline:
            break
    return done / (now - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--qd", type=int, default=32)
    parser.add_argument("--length", type=int, default=4096)
    args = parser.parse_args()
    rate = run(args.seconds, args.qd, args.length)
    print(
        f"ring overhead: {rate:,.0f} commands/s ({1e6 / rate:.2f} us/command), "
        f"qd {args.qd}, data-in {args.length} bytes, null device"
    )


if __name__ == "__main__":
    main()
