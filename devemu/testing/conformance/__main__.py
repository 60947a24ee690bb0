"""``python -m devemu.testing.conformance /dev/sgN --type TYPE``: run the suite on a node.

Prints one line per check (or, with ``--json``, one JSON object) and
exits 0 when every check passed or did not apply, 1 when one failed, 2
when the node cannot be opened.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import replace

from devemu.testing.conformance.device_profiles import PROFILES
from devemu.testing.conformance.run import FAILED, run_all, summary
from devemu.testing.conformance.sg_io import SgIoTarget


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m devemu.testing.conformance",
        description="Run devemu's SPC conformance checks against a SCSI generic node.",
    )
    p.add_argument("node", help="the /dev/sgN node of the logical unit")
    p.add_argument("--type", required=True, choices=sorted(PROFILES), help="device type profile")
    p.add_argument(
        "--through-lio",
        action="store_true",
        help="the unit is a Linux target core LUN: REPORT LUNS is the kernel's answer",
    )
    p.add_argument("--random", type=int, metavar="N", help="random CDBs to send (default 150)")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    profile = PROFILES[args.type]
    if args.through_lio:
        profile = profile.through_lio()
    if args.random is not None:
        profile = replace(profile, random_cdbs=args.random)
    try:
        target = SgIoTarget(args.node)
    except OSError as error:
        print(f"{args.node}: {error.strerror or error}", file=sys.stderr)
        return 2
    with target:
        results = run_all(target, profile)
    if args.json:
        report = {
            "node": args.node,
            "profile": profile.name,
            "answered_by_transport": {
                f"{op:#04x}": why for op, why in profile.answered_by_transport.items()
            },
            "results": [r.as_dict() for r in results],
        }
        print(json.dumps(report))
    else:
        print(summary(results))
    return 1 if any(r.outcome == FAILED for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
