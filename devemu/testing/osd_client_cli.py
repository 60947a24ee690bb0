"""``devemu osd-client``: poke at an OSD-2 logical unit over iSCSI.

Each ACTION sends one OSD-2 command (built from the standard's tables by
devemu.testing.osd) through a small iSCSI initiator that logs in without
authentication. Actions and their arguments: format CAPACITY;
create-partition; remove-partition PID; create PID; remove PID OID;
write PID OID FILE; append PID OID FILE; read PID OID LENGTH;
punch PID OID START LENGTH; list [PID]; get-attributes PID OID PAGE;
set-attribute PID OID PAGE NUMBER VALUE; create-collection PID;
add-to-collection PID OID CID; list-collection PID CID. Numbers take a
0x prefix, sizes a K/M/G suffix; FILE may be - for standard input.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from devemu.errors import DevemuError, UsageError
from devemu.sizes import parse_size
from devemu.testing.iscsi_initiator import IscsiError, IscsiTransport
from devemu.testing.osd import OsdClient, OsdError


def _int(text: str) -> int:
    return int(text, 0)


ACTIONS: dict[str, tuple[str, ...]] = {
    "format": ("capacity",),
    "create-partition": (),
    "remove-partition": ("pid",),
    "create": ("pid",),
    "remove": ("pid", "oid"),
    "write": ("pid", "oid", "file"),
    "append": ("pid", "oid", "file"),
    "read": ("pid", "oid", "length"),
    "punch": ("pid", "oid", "start", "length"),
    "list": (),
    "get-attributes": ("pid", "oid", "page"),
    "set-attribute": ("pid", "oid", "page", "number", "value"),
    "create-collection": ("pid",),
    "add-to-collection": ("pid", "oid", "cid"),
    "list-collection": ("pid", "cid"),
}


def add_parser(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "osd-client",
        help="send OSD-2 commands over iSCSI",
        description=__doc__,
    )
    p.add_argument("--portal", required=True, help="HOST:PORT of the iSCSI target")
    p.add_argument("--target", required=True, help="the target's IQN")
    p.add_argument("--initiator", required=True, help="this initiator's IQN")
    p.add_argument("--lun", type=int, default=0, help="the OSD's LUN (default 0)")
    p.add_argument("--offset", default="0", help="byte offset for write and read")
    p.add_argument("action", metavar="ACTION", choices=sorted(ACTIONS), help="what to do")
    p.add_argument("args", metavar="ARG", nargs="*", help="the action's arguments")
    p.set_defaults(func=_run)


def _arguments(args: argparse.Namespace) -> argparse.Namespace:
    """The action's arguments by name; a wrong count is a usage error."""
    names = ACTIONS[args.action]
    given = list(args.args)
    if args.action == "list" and not given:
        given = ["0"]
    wanted = ("pid",) if args.action == "list" else names
    if len(given) != len(wanted):
        shown = " ".join(n.upper() for n in wanted) or "no arguments"
        raise UsageError(f"osd-client {args.action} takes {shown}")
    out = argparse.Namespace(osd_action=args.action, offset=args.offset)
    for name, value in zip(wanted, given, strict=True):
        setattr(out, name, value)
    return out


def _run(args: argparse.Namespace) -> int:
    action = _arguments(args)
    host, _, port = args.portal.rpartition(":")
    if not host or not port.isdigit():
        raise UsageError(f"--portal {args.portal!r}: expected HOST:PORT")
    try:
        transport = IscsiTransport(
            host.strip("[]"), int(port), args.target, args.initiator, args.lun
        )
    except (OSError, IscsiError) as err:
        raise DevemuError(f"{args.portal}: {err}") from None
    try:
        return _action(OsdClient(transport), action)
    except OsdError as err:
        raise DevemuError(str(err)) from None
    finally:
        transport.close()


def _action(osd: OsdClient, a: argparse.Namespace) -> int:
    act = a.osd_action
    if act == "format":
        osd.format(parse_size(a.capacity))
    elif act == "create-partition":
        print(f"{osd.create_partition():#x}")
    elif act == "remove-partition":
        osd.remove_partition(_int(a.pid))
    elif act == "create":
        print(f"{osd.create(_int(a.pid)):#x}")
    elif act == "remove":
        osd.remove(_int(a.pid), _int(a.oid))
    elif act in ("write", "append"):
        with open(a.file, "rb") if a.file != "-" else sys.stdin.buffer as f:
            data = f.read()
        if act == "write":
            osd.write(_int(a.pid), _int(a.oid), data, _int(a.offset))
        else:
            osd.append(_int(a.pid), _int(a.oid), data)
    elif act == "read":
        sys.stdout.buffer.write(
            osd.read(_int(a.pid), _int(a.oid), parse_size(a.length), _int(a.offset))
        )
    elif act == "punch":
        osd.punch(_int(a.pid), _int(a.oid), _int(a.start), parse_size(a.length))
    elif act == "list":
        for i in osd.list(_int(a.pid)).ids:
            print(f"{i:#x}")
    elif act == "get-attributes":
        for (page, number), value in osd.get_attributes(
            _int(a.pid), _int(a.oid), _int(a.page)
        ).items():
            shown = "undefined" if value is None else value.hex()
            print(f"{page:#010x} {number:#x} {shown}")
    elif act == "set-attribute":
        osd.set_attribute(_int(a.pid), _int(a.oid), _int(a.page), _int(a.number), a.value.encode())
    elif act == "create-collection":
        print(f"{osd.create_collection(_int(a.pid)):#x}")
    elif act == "add-to-collection":
        osd.add_to_collection(_int(a.pid), _int(a.oid), _int(a.cid))
    elif act == "list-collection":
        for i in osd.list_collection(_int(a.pid), _int(a.cid)).ids:
            print(f"{i:#x}")
    return 0
