"""``devemu fault``: make a served device misbehave, to test how backup software copes.

::

    devemu fault DRIVE read-error|write-error --record N
    devemu fault DRIVE early-warning|end-of-medium --bytes N
    devemu fault DRIVE offline|online|cleaning|load-failure
    devemu fault LIBRARY door-open
    devemu fault DEVICE clear

The daemon sets the fault (the ``fault`` control op) and answers with the
faults now set on the device, which ``devemu status`` lists too. What each
fault does to the SCSI answers is told in :mod:`devemu.tape.faults` (a
drive's) and :mod:`devemu.changer.door` (a library's door).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from devemu.changer.door import DOOR_OPEN
from devemu.control import call
from devemu.errors import UsageError
from devemu.tape.faults import BYTES_KINDS, CLEAR, RECORD_KINDS, DriveFaultKind

#: Every kind the command accepts (a drive's, the library's door, and clear).
KINDS: tuple[str, ...] = (*(k.value for k in DriveFaultKind), DOOR_OPEN, CLEAR)


def describe(fault: dict[str, Any]) -> str:
    """One fault in words: ``write-error at record 5``, ``early-warning after 1000 bytes``."""
    kind = str(fault.get("kind", "?"))
    if "record" in fault:
        return f"{kind} at record {fault['record']}"
    if "bytes" in fault:
        return f"{kind} after {fault['bytes']} bytes"
    return kind


def _arguments(args: argparse.Namespace) -> dict[str, int]:
    """The op's arguments; :class:`UsageError` for an option the kind does not take."""
    kind = args.kind
    wanted = "record" if kind in RECORD_KINDS else "bytes" if kind in BYTES_KINDS else None
    given = {
        name: value for name in ("record", "bytes") if (value := getattr(args, name)) is not None
    }
    if wanted is not None and wanted not in given:
        raise UsageError(f"fault {kind} needs --{wanted}")
    extra = [name for name in given if name != wanted]
    if extra:
        raise UsageError(f"fault {kind} takes no --{extra[0]}")
    return given


def _fault(args: argparse.Namespace) -> int:
    # Imported here: reaching a daemon needs none of the configuration's readers.
    from devemu.config import default_socket  # noqa: PLC0415

    params = _arguments(args)
    socket = args.socket if args.socket is not None else default_socket()
    result = call(socket, args.device, "fault", kind=args.kind, **params)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    faults = result.get("faults", [])
    listed = ", ".join(describe(f) for f in faults) if faults else "no faults"
    print(f"{args.device}: {listed}")
    return 0


def _count(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative: {text}")
    return value


def add_parser(subparsers: Any) -> None:
    """Add ``fault`` to the ``devemu`` command."""
    parser = subparsers.add_parser(
        "fault",
        help="inject a fault into a served drive or library (clear ends them)",
        description="Make a served tape drive or library misbehave as a real one with that "
        "fault does; `devemu status` lists the faults set, `devemu fault DEVICE clear` ends "
        "them. read-error and write-error take --record, early-warning and end-of-medium "
        "--bytes; door-open is a library's, the others a drive's.",
    )
    parser.add_argument("device", metavar="DEVICE", help="the drive or library (changer) name")
    parser.add_argument("kind", metavar="KIND", choices=KINDS, help=f"one of {', '.join(KINDS)}")
    parser.add_argument(
        "--record", type=_count, metavar="N", help="logical object number (read-error, write-error)"
    )
    parser.add_argument(
        "--bytes",
        type=_count,
        metavar="N",
        help="bytes in the partition (early-warning, end-of-medium)",
    )
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.set_defaults(func=_fault)
