"""``devemu tape``: make, describe and list cartridge files.

- ``devemu tape create BARCODE --type LTO-8 [--worm] [--dir DIR] [--capacity SIZE]``
  writes ``DIR/BARCODE.tape``, a blank cartridge;
- ``devemu tape info FILE [--verify]`` prints the header facts, the
  partitions and the MAM attributes (``--verify`` re-reads every record
  and checks its CRC);
- ``devemu tape dump FILE`` lists each partition's records and filemarks
  like a tape listing, runs of equal blocks folded into one line;
- ``devemu tape upgrade FILE...`` rewrites each cartridge file made in an
  older format version in the current one, atomically
  (:mod:`devemu.tape.upgrade`); a cartridge in a drive is refused.

``info`` and ``dump`` open the file read only: a torn tail is reported, not cut off;
acknowledged records that are lost are an error (exit status 1).
``create`` takes an LTO bar code label (six of A-Z 0-9, then the media
identifier of ``--type``: ``L8``, ``LY`` for WORM, ``M8`` for LTO-7M8) and
makes ``--dir`` if it is missing.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devemu.errors import DevemuError, ImageError, UsageError
from devemu.sizes import size_argument
from devemu.tape import mam
from devemu.tape.cartridge import FILEMARK, Cartridge, JournalEntry, PartitionIndex
from devemu.tape.cartridge_check import CARTRIDGE_SUFFIX, barcode_problem
from devemu.tape.media import MEDIA, check_volume_label
from devemu.tape.upgrade import upgrade


def add_tape_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``devemu tape`` and its subcommands."""
    tape = subparsers.add_parser("tape", help="tape cartridge files")
    sub = tape.add_subparsers(dest="tape_command", required=True, metavar="ACTION")

    create = sub.add_parser("create", help="make a blank cartridge file")
    create.add_argument("barcode", help="LTO bar code label matching --type, e.g. A00001L8")
    create.add_argument("--type", default="LTO-8", choices=list(MEDIA), help="media type")
    create.add_argument("--worm", action="store_true", help="write-once cartridge")
    create.add_argument("--dir", type=Path, default=Path("."), help="folder for the file")
    create.add_argument(
        "--capacity", type=size_argument, default=None, help="capacity instead of the native one"
    )
    create.set_defaults(func=_create)

    info = sub.add_parser("info", help="describe a cartridge file")
    info.add_argument("file", type=Path)
    info.add_argument("--verify", action="store_true", help="check every record's CRC")
    info.add_argument("--json", action="store_true", help="print as JSON")
    info.set_defaults(func=_info)

    dump = sub.add_parser("dump", help="list the records and filemarks of a cartridge")
    dump.add_argument("file", type=Path)
    dump.add_argument("--journal", action="store_true", help="list the raw journal entries")
    dump.add_argument("--json", action="store_true", help="print as JSON")
    dump.set_defaults(func=_dump)

    upgrade = sub.add_parser(
        "upgrade", help="rewrite cartridge files in the current format version"
    )
    upgrade.add_argument("files", nargs="+", type=Path, metavar="FILE")
    upgrade.set_defaults(func=_upgrade)


add_parser = add_tape_parser


def _create(args: argparse.Namespace) -> int:
    medium = MEDIA[args.type]
    try:
        barcode = check_volume_label(args.barcode, medium, args.worm)
    except ValueError as err:
        raise UsageError(str(err)) from None
    folder: Path = args.dir
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ImageError(folder, None, "is not a folder") from None
    except OSError as err:
        raise ImageError(folder, None, f"cannot make the folder: {err.strerror}") from None
    path = folder / f"{barcode}{CARTRIDGE_SUFFIX}"
    if path.resolve().parent != folder.resolve():  # a checked label has no "/" or ".."
        raise DevemuError(f"{path} is not inside {folder}")
    try:
        cart = Cartridge.create(path, barcode, medium.name, worm=args.worm, capacity=args.capacity)
    except FileExistsError:
        raise ImageError(path, None, "already exists") from None
    except ValueError as err:
        raise DevemuError(str(err)) from None
    except OSError as err:
        raise ImageError(path, None, f"cannot write: {err.strerror}") from None
    cart.close()
    print(path)
    return 0


def _upgrade(args: argparse.Namespace) -> int:
    for path in args.files:
        try:
            done = upgrade(path)
        except OSError as err:
            raise ImageError(path, None, f"cannot upgrade: {err.strerror}") from None
        if done.changed:
            print(
                f"{path}: format version {done.old_version} -> {done.new_version}, "
                f"{done.entries} entries, {done.old_size} -> {done.new_size} bytes"
            )
        else:
            print(f"{path}: already format version {done.new_version}")
    return 0


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000  # type: ignore[assignment]
    return str(n)


def _attribute_text(a: mam.Attribute) -> str:
    if a.format == mam.AttributeFormat.BINARY:
        return str(int.from_bytes(a.value, "big")) if len(a.value) <= 8 else a.value.hex()
    return a.value.decode("ascii", "replace").rstrip()


def _info(args: argparse.Namespace) -> int:
    with Cartridge.open(args.file, read_only=True) as cart:
        problems = [str(p) for p in cart.verify()] if args.verify else []
        if args.json:
            out = describe(cart)
            out["attributes"] = [
                {"id": ident, "name": _attribute_name(ident), "value": _attribute_text(a)}
                for ident, a in sorted(cart.attributes(0).items())
            ]
            if args.verify:
                out["damaged"] = problems
            print(json.dumps(out, indent=2))
            return 1 if problems else 0
        print_info(cart)
        if args.verify:
            for p in problems:
                print(f"damaged: {p}")
            print("verify: " + ("ok" if not problems else f"{len(problems)} damaged records"))
    return 1 if problems else 0


def _attribute_name(ident: int) -> str:
    spec = mam.STANDARD.get(ident)
    return spec.name if spec else "(host attribute)"


def describe(cart: Cartridge) -> dict[str, Any]:
    """A plain summary of a cartridge: what ``devemu image info --json`` shows."""
    synced, synced_end = cart.durable
    return {
        "image": str(cart.path),
        "kind": "cartridge",
        "barcode": cart.barcode,
        "barcode_problem": barcode_problem(cart.path, cart.barcode),
        "media_type": cart.media_type,
        "worm": cart.worm,
        "capacity": cart.capacity,
        "format_version": cart.journal_format.version,
        "entries": cart.entries,
        "size": cart.file_size,
        "synced_entries": synced,
        "synced_to": synced_end,
        "torn_tail": cart.truncated_tail,
        "partitions": [
            {"objects": p.eod, "filemarks": len(p.filemarks), "used": p.used}
            for p in cart.partitions
        ],
    }


def print_info(cart: Cartridge) -> None:
    """The header facts, journal state, partitions and attributes of a cartridge."""
    print(f"file:        {cart.path}")
    print(f"barcode:     {cart.barcode}")
    print(f"media type:  {cart.media_type} (density 0x{cart.medium.density_code:02X})")
    print(f"worm:        {'yes' if cart.worm else 'no'}")
    print(f"capacity:    {_size(cart.capacity)}")
    print(
        f"journal:     {cart.entries} entries, {cart.file_size} bytes, "
        f"format version {cart.journal_format.version}"
    )
    synced, synced_end = cart.durable
    print(f"synced:      {synced} entries, to offset {synced_end}")
    if cart.truncated_tail:
        print(f"torn tail:   {cart.truncated_tail} bytes never synchronised (cut when loaded)")
    mismatch = barcode_problem(cart.path, cart.barcode)
    if mismatch is not None:
        print(f"warning:     {mismatch}")
    for n, part in enumerate(cart.partitions):
        print(
            f"partition {n}: {part.eod} objects, {len(part.filemarks)} filemarks, "
            f"{_size(part.used)} of {_size(part.capacity)}"
        )
    print("attributes:")
    for ident, a in sorted(cart.attributes(0).items()):
        print(f"  0x{ident:04X} {_attribute_name(ident)}: {_attribute_text(a)}")


def runs(part: PartitionIndex) -> Iterator[tuple[int, int, int]]:
    """``(first, end, length)`` of each run of equal objects; ``length`` FILEMARK for marks.

    Encrypted blocks (SSC-5 4.2, data encryption) and clear ones never share a run.
    """
    i = 0
    n = part.eod
    lengths = part.lengths
    sealed = part.sealed
    while i < n:
        j = i
        while j < n and lengths[j] == lengths[i] and (j in sealed) == (i in sealed):
            j += 1
        yield i, j, lengths[i]
        i = j


def listing(part: PartitionIndex) -> list[str]:
    """Lines describing a partition: block runs, filemarks, end of data."""
    lines = []
    for i, j, length in runs(part):
        if length == FILEMARK:
            what = "filemark" if j - i == 1 else f"{j - i} filemarks"
            lines.append(f"{_span(i, j)}  {what}  (file {part.file_number(i)} ends)")
        else:
            blocks = "block" if j - i == 1 else f"{j - i} blocks"
            if i in part.sealed:
                blocks = f"encrypted {blocks}"
            lines.append(f"{_span(i, j)}  {blocks} of {length} bytes")
    lines.append(f"{part.eod:>10}  end of data")
    return lines


def dump_json(cart: Cartridge) -> dict[str, Any]:
    """What ``devemu tape dump --json`` prints: the runs of each partition."""
    return {
        "barcode": cart.barcode,
        "media_type": cart.media_type,
        "worm": cart.worm,
        "partitions": [
            {
                "eod": part.eod,
                "runs": [
                    {"first": i, "count": j - i, "filemark": True, "file": part.file_number(i)}
                    if length == FILEMARK
                    else {"first": i, "count": j - i, "filemark": False, "length": length}
                    for i, j, length in runs(part)
                ],
            }
            for part in cart.partitions
        ],
    }


def _span(i: int, j: int) -> str:
    return f"{i:>10}" if j - i == 1 else f"{i:>10}-{j - 1}"


def _dump(args: argparse.Namespace) -> int:
    with Cartridge.open(args.file, read_only=True) as cart:
        if args.json:
            out = (
                {"entries": [_entry_json(e) for e in cart.journal()]}
                if args.journal
                else dump_json(cart)
            )
            print(json.dumps(out, indent=2))
            return 0
        if args.journal:
            for e in cart.journal():
                print(
                    f"offset {e.offset:>12}  seq {e.seq:>8}  {e.kind.name:<10} "
                    f"partition {e.partition:>3}  position {e.position:>10}  "
                    f"length {e.length:>8}  count {e.count}"
                )
            return 0
        print(f"{cart.barcode} {cart.media_type}{' WORM' if cart.worm else ''}")
        for n, part in enumerate(cart.partitions):
            print(f"partition {n}:")
            for line in listing(part):
                print(line)
    return 0


def _entry_json(e: JournalEntry) -> dict[str, Any]:
    return {
        "offset": e.offset,
        "seq": e.seq,
        "kind": e.kind.name,
        "partition": e.partition,
        "position": e.position,
        "length": e.length,
        "count": e.count,
    }
