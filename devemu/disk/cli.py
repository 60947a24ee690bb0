"""``devemu disk``: tools for disk images.

``devemu disk create PATH --size 10G [--block-size 512]`` makes a sparse
image (no block is allocated until written) that a ``[[disk]]`` table can
serve; ``--format qcow2`` (or vmdk, vhdx) makes one in that format with
``qemu-img``, served through qemu-storage-daemon
(:mod:`devemu.disk.storage_daemon`). ``devemu disk info PATH`` tells its capacity and how much of it
is allocated.

Through the daemon's control socket: ``devemu disk protect NAME on|off``
sets write protection live; ``devemu disk insert NAME IMAGE [--force]``
and ``devemu disk eject NAME [--force]`` change the medium of a
removable disk; ``devemu disk status NAME``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from devemu.control import call
from devemu.disk.image import BLOCK_SIZES, DiskImage, create_image
from devemu.disk.storage_daemon import CREATE_FORMATS, create, format_for
from devemu.disk.storage_daemon import info as qemu_img_info
from devemu.sizes import size_argument


def _create(args: argparse.Namespace) -> int:
    size: int = args.size
    block_size: int = args.block_size
    if size <= 0 or size % block_size:
        print(
            f"devemu: disk create: size {size} must be a positive multiple of "
            f"the block size {block_size}",
            file=sys.stderr,
        )
        return 2
    fmt: str = args.format
    if fmt == "raw":
        create_image(args.path, size, block_size)
    else:
        create(Path(args.path), fmt, size)
    kind = "sparse" if fmt == "raw" else fmt
    print(f"{args.path}: {size} bytes, {size // block_size} blocks of {block_size} ({kind})")
    return 0


def describe(path: str, block_size: int) -> dict[str, Any]:
    """What ``devemu disk info --json`` prints: capacity and allocated space of an image
    (of a qcow2, vmdk or vhdx, as ``qemu-img info`` tells them, with its format)."""
    fmt = format_for(Path(path), None)
    if fmt is not None:
        found = qemu_img_info(Path(path))
        size = int(found["size"])
        return {
            "image": path,
            "format": found["format"],
            "size": size,
            "block_size": block_size,
            "blocks": size // block_size,
            "allocated": found["allocated"],
        }
    with DiskImage(path, block_size, read_only=True) as image:
        return {
            "image": path,
            "size": image.capacity * image.block_size,
            "block_size": image.block_size,
            "blocks": image.capacity,
            "allocated": image.allocated_bytes(),
        }


def _info(args: argparse.Namespace) -> int:
    info = describe(args.path, args.block_size)
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    size, allocated = info["size"], info["allocated"]
    share = 100 * allocated / size if size else 0.0
    print(f"{args.path}: {size} bytes, {info['blocks']} blocks of {info['block_size']}")
    print(f"allocated: {allocated} bytes ({share:.1f}%)")
    return 0


def _call(args: argparse.Namespace, op: str, **params: Any) -> int:
    # Imported here: reaching a daemon needs none of the configuration's readers.
    from devemu.config import default_socket  # noqa: PLC0415

    socket = Path(args.socket) if args.socket is not None else default_socket()
    result = call(socket, args.device, op, **params)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    medium = result.get("image") if result.get("loaded", True) else "no medium"
    protected = "write protected" if result.get("write_protected") else "writable"
    lock = ", removal prevented" if result.get("prevented") else ""
    print(f"{args.device}: {medium}, {protected}{lock}")
    return 0


def _insert(args: argparse.Namespace) -> int:
    return _call(args, "insert", image=str(Path(args.image).resolve()), force=args.force)


def _eject(args: argparse.Namespace) -> int:
    return _call(args, "eject", force=args.force)


def _protect(args: argparse.Namespace) -> int:
    return _call(args, "protect", on=args.state == "on")


def _status(args: argparse.Namespace) -> int:
    return _call(args, "status")


def add_parser(subparsers: Any) -> None:
    """Add ``devemu disk ...`` to the top-level parser."""
    disk = subparsers.add_parser("disk", help="disk images (SBC)", description=__doc__)
    sub = disk.add_subparsers(dest="disk_command", required=True, metavar="ACTION")
    create = sub.add_parser("create", help="create a sparse disk image")
    create.add_argument("path", help="image file to create (must not exist)")
    create.add_argument("--size", required=True, type=size_argument, help="e.g. 512M, 10G, 1T")
    create.add_argument(
        "--block-size", type=int, choices=BLOCK_SIZES, default=512, help="logical block length"
    )
    create.add_argument(
        "--format",
        choices=("raw", *CREATE_FORMATS),
        default="raw",
        help="raw: a sparse file served directly; qcow2, vmdk, vhdx: through qemu-storage-daemon",
    )
    create.set_defaults(func=_create)
    info = sub.add_parser("info", help="capacity and allocated space of an image")
    info.add_argument("path", help="image file")
    info.add_argument(
        "--block-size", type=int, choices=BLOCK_SIZES, default=512, help="logical block length"
    )
    info.add_argument("--json", action="store_true", help="print as JSON")
    info.set_defaults(func=_info)
    for name, func, helptext in (
        ("insert", _insert, "put an image in a served removable disk"),
        ("eject", _eject, "take the medium out of a served removable disk"),
        ("protect", _protect, "write protection of a served disk, on or off"),
        ("status", _status, "medium, protection and lock of a served disk"),
    ):
        p = sub.add_parser(name, help=helptext)
        p.add_argument("device", help="the disk's name in the configuration")
        if name == "insert":
            p.add_argument("image", help="disk image file")
        if name == "protect":
            p.add_argument("state", choices=("on", "off"), help="on: writes are refused")
        if name in ("insert", "eject"):
            p.add_argument("--force", action="store_true", help="even if removal is prevented")
        p.add_argument("--json", action="store_true", help="print the reply as JSON")
        p.set_defaults(func=func)
