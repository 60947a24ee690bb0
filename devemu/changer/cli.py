"""``devemu library``: the operator's side of a served tape library.

::

    devemu library status [LIBRARY] [--json]
    devemu library import BARCODE [--library LIBRARY]
    devemu library export SLOT [--library LIBRARY]

The commands talk to the running daemon over its control socket
(``--socket``, else ``$DEVEMU_SOCKET``, else /run/devemu/control.sock).
``import`` puts the cartridge file ``BARCODE.tape`` of the library's
cartridge folder into a free import/export element; ``export`` takes the
cartridge in ``SLOT`` out of the library. ``SLOT`` counts as ``mtx
status`` does: storage elements 1..N, then the import/export elements
N+1..; an element address (``0x0300``) works too. Without ``--library``
the daemon's only library is meant.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from devemu import control
from devemu.errors import DevemuError

CHANGER_KIND = "changer"


def add_library_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``library`` and its subcommands to the ``devemu`` parser."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "library",
        help="inspect a served tape library; import and export cartridges",
        description="Operator commands for a tape library served by `devemu serve`.",
    )
    sub = parser.add_subparsers(dest="library_command", required=True, metavar="COMMAND")

    status = sub.add_parser("status", help="show every element and what it holds")
    status.add_argument("library", nargs="?", help="the library (changer) name")
    status.add_argument("--json", action="store_true", help="print the raw answer as JSON")
    status.set_defaults(func=_status)

    imp = sub.add_parser("import", help="put cartridge BARCODE into a free mail slot")
    imp.add_argument("barcode", help="barcode; its file BARCODE.tape is in the cartridge folder")
    imp.add_argument("--library", help="the library (changer) name")
    imp.add_argument("--json", action="store_true", help="print the answer as JSON")
    imp.set_defaults(func=_import)

    exp = sub.add_parser("export", help="take the cartridge in SLOT out of the library")
    exp.add_argument("slot", help="mtx slot number (mail slots follow the storage slots)")
    exp.add_argument("--library", help="the library (changer) name")
    exp.add_argument("--json", action="store_true", help="print the answer as JSON")
    exp.set_defaults(func=_export)
    return parser


def add_parser(subparsers: Any) -> None:
    """The ``devemu`` entry point's hook (see :mod:`devemu.cli`)."""
    add_library_parser(subparsers)


def _socket(args: argparse.Namespace) -> Path:
    path: Path | None = args.socket
    if path is not None:
        return path
    # Imported here: reaching a daemon needs none of the configuration's readers.
    from devemu.config import default_socket  # noqa: PLC0415

    return default_socket()


def _library(args: argparse.Namespace, name: str | None) -> str:
    """``name``, or the only changer the daemon serves."""
    if name:
        return name
    answer = control.call(_socket(args), None, "status")
    changers = [d["name"] for d in answer.get("devices", []) if d.get("kind") == CHANGER_KIND]
    if len(changers) == 1:
        return str(changers[0])
    if not changers:
        raise DevemuError("the daemon serves no tape library")
    raise DevemuError(f"the daemon serves several libraries ({', '.join(changers)}): name one")


def format_status(status: dict[str, Any]) -> str:
    """The elements table a person reads."""
    lines = [f"{status.get('library', status.get('name', '?'))}"]
    if status.get("locked"):
        lines[0] += "  (mail slots locked by the host)"
    lines.append(f"{'ELEMENT':<12} {'ADDRESS':<8} {'BARCODE':<16} {'FROM':<8} DEVICE")
    by_address = {row["address"]: row for row in status.get("elements", [])}
    for row in status.get("elements", []):
        label = f"{row['type']} {row['number']}"
        barcode = row.get("barcode") or "-"
        source = row.get("source")
        origin = by_address.get(source) if source is not None else None
        came = f"{origin['type']} {origin['number']}" if origin else "-"
        device = ""
        if row["type"] == "drive":
            device = f"{row.get('device', '')} (serial {row.get('serial', '')})"
            if row.get("ejected"):
                device += " unloaded"
        lines.append(f"{label:<12} 0x{row['address']:04x}   {barcode:<16} {came:<8} {device}")
    exported = status.get("exported") or []
    if exported:
        lines.append(f"exported: {', '.join(exported)}")
    return "\n".join(line.rstrip() for line in lines)


def _status(args: argparse.Namespace) -> int:
    name = _library(args, args.library)
    answer = control.call(_socket(args), name, "status")
    print(json.dumps(answer, indent=1) if args.json else format_status(answer))
    return 0


def _import(args: argparse.Namespace) -> int:
    name = _library(args, args.library)
    answer = control.call(_socket(args), name, "import", barcode=args.barcode)
    if args.json:
        print(json.dumps(answer, indent=1))
        return 0
    print(f"{answer['barcode']} is in {answer['element']} (mtx slot {answer['slot']})")
    return 0


def _export(args: argparse.Namespace) -> int:
    name = _library(args, args.library)
    answer = control.call(_socket(args), name, "export", slot=args.slot)
    if args.json:
        print(json.dumps(answer, indent=1))
        return 0
    print(f"{answer['barcode']} left the library from {answer['element']}")
    return 0
