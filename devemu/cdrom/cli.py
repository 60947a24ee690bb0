"""``devemu cdrom`` (live media changes) and ``devemu image`` (disc images).

``add_parser(subparsers)`` registers both groups:

- ``devemu cdrom insert DEVICE IMAGE [--force]``, ``devemu cdrom insert
  DEVICE --blank TYPE [--capacity SIZE]`` (a new blank CD-R or CD-RW kept
  in the drive's ``burn_dir``), ``devemu cdrom eject
  DEVICE [--force]``, ``devemu cdrom status DEVICE``: through the daemon's
  control socket (``--socket``, else ``$DEVEMU_SOCKET``, else
  /run/devemu/control.sock);
- ``devemu image iso SOURCE_DIR OUT.iso [--label L] [--force]``: build an
  ISO 9660 image with Joliet and Rock Ridge (an existing OUT only with
  ``--force``), telling on stderr what the disc shows differently from
  the folder, with a progress bar on a terminal;
- ``devemu image info IMAGE [--json]``: everything the image tells (files,
  sessions, tracks, indexes, every CUE field, CD-TEXT, label, sizes in
  bytes as stored and as user data); of a disc the drive recorded (its
  folder, or the ``disc.iso`` with ``state.json`` beside it) every
  session, its volume and how to loop-mount the last one
  (:mod:`devemu.cdrom.kept_disc`); for a tape cartridge file, what
  ``devemu tape info`` prints.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from devemu.cdrom.media import BlankMedium
from devemu.control import call
from devemu.errors import UsageError
from devemu.progress import ProgressBar
from devemu.sizes import size_argument


def _socket(args: argparse.Namespace) -> Path:
    if args.socket is not None:
        return Path(args.socket)
    # Imported here: reaching a daemon needs none of the configuration's readers.
    from devemu.config import default_socket  # noqa: PLC0415

    return default_socket()


def _call(args: argparse.Namespace, op: str, **params: Any) -> int:
    result = call(_socket(args), args.device, op, **params)
    print(json.dumps(result, indent=2) if args.json else _summary(result))
    return 0


def _summary(status: dict[str, Any]) -> str:
    medium = status.get("medium")
    what = "empty"
    if isinstance(medium, dict):
        what = f"{medium.get('image')} ({medium.get('sectors')} sectors)"
    lock = ", removal prevented" if status.get("prevented") else ""
    return f"tray {status.get('tray')}, {what}, profile {status.get('profile')}{lock}"


def _insert(args: argparse.Namespace) -> int:
    if args.blank:
        if args.image:
            raise UsageError("give an IMAGE or --blank TYPE, not both")
        params: dict[str, Any] = {"blank": args.blank, "force": args.force}
        if args.capacity is not None:
            params["capacity"] = args.capacity
        return _call(args, "insert", **params)
    if not args.image:
        raise UsageError("insert needs an IMAGE or --blank TYPE")
    if args.capacity is not None:
        raise UsageError("--capacity goes with --blank")
    image = str(Path(args.image).resolve())
    return _call(args, "insert", image=image, force=args.force)


def _eject(args: argparse.Namespace) -> int:
    return _call(args, "eject", force=args.force)


def _status(args: argparse.Namespace) -> int:
    return _call(args, "status")


def _image_iso(args: argparse.Namespace) -> int:
    # Imported here: pycdlib is slow to import and every ``devemu`` command builds this parser.
    from devemu.cdrom.iso_writer import make_iso  # noqa: PLC0415

    bar = ProgressBar(sys.stderr)
    built = make_iso(
        Path(args.source),
        Path(args.out),
        label=args.label,
        progress=bar.update if bar.enabled else None,
        force=args.force,
    )
    for note in built.notes:
        print(f"devemu: note: {note}", file=sys.stderr)
    if args.json:
        print(json.dumps({"image": args.out, "size": built.size, "notes": list(built.notes)}))
    else:
        print(f"{args.out}: {built.size} bytes")
    return 0


def _image_info(args: argparse.Namespace) -> int:
    # Imported here: the commands that talk to a daemon need neither the
    # image readers nor the tape package (an emulated guest pays seconds).
    from devemu.cdrom.image import describe, info_lines, load_image  # noqa: PLC0415
    from devemu.cdrom.kept_disc import (  # noqa: PLC0415
        describe_kept,
        kept_folder,
        kept_lines,
        load_kept,
    )
    from devemu.tape.cartridge import Cartridge, is_cartridge_file  # noqa: PLC0415

    if is_cartridge_file(Path(args.image)):
        from devemu.tape import cli as tape_cli  # noqa: PLC0415

        with Cartridge.open(args.image, read_only=True) as cart:
            if args.json:
                print(json.dumps(tape_cli.describe(cart), indent=2))
            else:
                tape_cli.print_info(cart)
        return 0
    folder = kept_folder(Path(args.image))
    extra: list[str] = []
    if folder is not None:
        rec, disc = load_kept(folder)
        try:
            info = describe(disc)
            info["recording"] = describe_kept(rec, disc)
        finally:
            disc.close()
        extra = kept_lines(info["recording"])
    else:
        disc = load_image(args.image)
        try:
            info = describe(disc)
        finally:
            disc.close()
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    print("\n".join(info_lines(info) + extra))
    return 0


IMAGE_HELP = (
    "ISO 9660 image, CUE sheet, Nero .nrg, Alcohol .mds, CloneCD .ccd or cdrdao .toc, "
    "or a recorded disc's folder"
)


def add_parser(subparsers: Any) -> None:
    """Register the ``cdrom`` and ``image`` command groups."""
    cdrom = subparsers.add_parser("cdrom", help="change the disc in a served optical drive")
    cdrom_sub = cdrom.add_subparsers(dest="cdrom_command", required=True, metavar="ACTION")
    for name, func, helptext in (
        ("insert", _insert, "put a disc image in the drive and close the tray"),
        ("eject", _eject, "open the tray and take the disc out"),
        ("status", _status, "tray, lock and disc of the drive"),
    ):
        p = cdrom_sub.add_parser(name, help=helptext)
        p.add_argument("device", help="the drive's name in the configuration")
        if name == "insert":
            p.add_argument("image", nargs="?", help="ISO 9660 image or CUE sheet")
            p.add_argument(
                "--blank",
                metavar="TYPE",
                choices=[m.label for m in BlankMedium],
                help="insert a new blank disc of this type instead of an image",
            )
            p.add_argument(
                "--capacity",
                metavar="SIZE",
                type=size_argument,
                help="the blank disc's capacity (such as 650M; by default a full disc of its type)",
            )
        if name != "status":
            p.add_argument("--force", action="store_true", help="even if removal is prevented")
        p.add_argument("--json", action="store_true", help="print the reply as JSON")
        p.set_defaults(func=func)

    image = subparsers.add_parser("image", help="build and inspect disc images")
    image_sub = image.add_subparsers(dest="image_command", required=True, metavar="ACTION")
    iso = image_sub.add_parser("iso", help="build an ISO 9660 image (Joliet, Rock Ridge)")
    iso.add_argument("source", help="folder to put on the disc")
    iso.add_argument("out", help="image file to write")
    iso.add_argument("--label", default="CDROM", help="volume label (up to 32 characters)")
    iso.add_argument("--force", action="store_true", help="replace OUT if it exists")
    iso.add_argument(
        "--json", action="store_true", help="print the image's size and the notes as JSON"
    )
    iso.set_defaults(func=_image_iso)
    info = image_sub.add_parser(
        "info", help="files, sessions, tracks, indexes, CUE fields and CD-TEXT, label, sizes"
    )
    info.add_argument("image", help=IMAGE_HELP)
    info.add_argument("--json", action="store_true", help="print as JSON")
    info.set_defaults(func=_image_info)
