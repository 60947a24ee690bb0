"""``devemu osd``: look at an object store without serving it.

``devemu osd info ROOT`` reads the store's table read-only (a serving
daemon may hold it open) and prints its partitions, collections and user
objects with their lengths and allocated bytes.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from devemu.osd.store import summary


def add_parser(subparsers: Any) -> None:
    """Add ``devemu osd ...`` to the top-level parser."""
    osd = subparsers.add_parser(
        "osd", help="object-based storage devices (OSD-2)", description=__doc__
    )
    sub = osd.add_subparsers(dest="osd_command", required=True, metavar="ACTION")
    info = sub.add_parser("info", help="partitions, collections and objects of a store")
    info.add_argument("root", help="the store's folder (root = ... in [[osd]])")
    info.add_argument("--json", action="store_true", help="print as JSON")
    info.set_defaults(func=_info)


def _info(args: argparse.Namespace) -> int:
    info = summary(Path(args.root))
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    state = (
        f"formatted, capacity {info['capacity']} bytes" if info["formatted"] else "not formatted"
    )
    print(f"{info['root']}: {state}")
    for part in info["partitions"]:  # type: ignore[attr-defined]
        objects = part["objects"]
        total = sum(o["length"] for o in objects)
        print(
            f"partition {part['partition_id']:#x}: {len(objects)} objects, {total} bytes,"
            f" {len(part['collections'])} collections"
        )
        for o in objects:
            print(f"  object {o['object_id']:#x}: {o['length']} bytes ({o['allocated']} allocated)")
        for cid in part["collections"]:
            print(f"  collection {cid:#x}")
    return 0
