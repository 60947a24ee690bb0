"""``devemu trace``: the commands a running daemon's devices execute, live.

::

    devemu trace [DEVICE ...] [--opcode OP]... [--status STATUS]... [--json] [--socket PATH]

One line per command as the daemon executes it (:mod:`devemu.trace`):
time, device, opcode and its name, CDB, the data buffer's length, the
data-in length, latency, status and the decoded sense data. ``--json``
prints the stream's objects as they come, one per line. Ctrl-C, SIGINT
or SIGTERM ends it (exit status 0; SIGINT works for a trace started in
the background by a script, too). Once the daemon streams, a line
``tracing DEVICE, ...`` goes to stderr. Records the daemon dropped because this reader was too
slow are said in the stream, where they were lost.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from devemu import config as config_module
from devemu.control import stream
from devemu.control_protocol import TRACE
from devemu.trace import name_key

#: Width of the command name column.
NAME_WIDTH = 24
#: Width of the CDB column (a 10-byte CDB in hex; longer ones push the line).
CDB_WIDTH = 20


def _clock(epoch: float) -> str:
    """Local time of day with microseconds."""
    whole = int(epoch)
    return time.strftime("%H:%M:%S", time.localtime(whole)) + f".{int((epoch - whole) * 1e6):06d}"


def describe_sense(sense: dict[str, Any] | None) -> str:
    """``ILLEGAL_REQUEST 24h/00h INVALID FIELD IN CDB`` (SPC-5 4.4), or "" for none."""
    if not sense:
        return ""
    if sense.get("key") is None:
        return f"sense {sense.get('bytes', '')}"
    text = f"{sense['key']} {sense['asc']:02X}h/{sense['ascq']:02X}h"
    if sense.get("name"):
        text += f" {sense['name']}"
    flags = [flag.upper() for flag in ("filemark", "eom", "ili") if sense.get(flag)]
    if flags:
        text += f" [{' '.join(flags)}]"
    if "information" in sense:
        text += f" info={sense['information']}"
    return text


def header(device_width: int) -> str:
    return (
        f"{'TIME':<15} {'DEVICE':<{device_width}} OP  {'COMMAND':<{NAME_WIDTH}} "
        f"{'CDB':<{CDB_WIDTH}} {'LENGTH':>8} {'DATA-IN':>8} {'LATENCY':>10}  STATUS"
    )


def format_event(event: dict[str, Any], device_width: int = 8) -> str:
    """One line of the human form for one object of the stream."""
    if event.get("event") == "dropped":
        return (
            f"-- {event.get('count')} command(s) not shown: this trace read too slowly "
            f"({event.get('total')} in all)"
        )
    opcode = event.get("opcode")
    op = f"{opcode:02X}h" if isinstance(opcode, int) else "-- "
    name = event.get("name") or "unknown opcode"
    data_in = event.get("data_in")
    status = str(event.get("status", "?"))
    sense = describe_sense(event.get("sense"))
    return (
        f"{_clock(float(event.get('time', 0)))} {event.get('device', '?'):<{device_width}} "
        f"{op} {name:<{NAME_WIDTH}} {event.get('cdb', ''):<{CDB_WIDTH}} "
        f"{event.get('length', 0):>8} {'-' if data_in is None else data_in:>8} "
        f"{event.get('latency_us', 0):>8.1f}us  {status}{'  ' + sense if sense else ''}"
    )


def _trace(args: argparse.Namespace) -> int:
    socket_path = args.socket or config_module.default_socket()
    filters: dict[str, list[str] | int] = {}
    if args.data_out:
        filters["data_out"] = args.data_out
    if args.devices:
        filters["devices"] = args.devices
    if args.opcode:
        filters["opcodes"] = args.opcode
    if args.status:
        filters["statuses"] = args.status
    events = stream(socket_path, TRACE, **filters)
    previous = _interruptible()
    try:
        opened = next(events)
        devices = [str(d) for d in opened.get("devices", [])]
        width = max((len(d) for d in devices), default=6)
        said = ", ".join(devices) or "nothing"
        print(f"tracing {said}; Ctrl-C ends", file=sys.stderr, flush=True)
        if not args.json:
            print(header(max(width, 6)), flush=True)
        for event in events:
            if args.json:
                print(json.dumps(event), flush=True)
            else:
                print(format_event(event, max(width, 6)), flush=True)
    except KeyboardInterrupt:
        return 0
    except BrokenPipeError:
        # The reader went away (``| head``): that ends the trace, quietly.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        events.close()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    print("devemu: the daemon ended the trace", file=sys.stderr)
    return 0


def _interruptible() -> dict[int, Any]:
    """Make SIGINT and SIGTERM end the trace (KeyboardInterrupt); the handlers before.

    A shell starts a background job with SIGINT ignored; a trace ends on it
    all the same. Only the main thread may set handlers: elsewhere, nothing.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {
        signum: signal.signal(signum, signal.default_int_handler)
        for signum in (signal.SIGINT, signal.SIGTERM)
    }


def _opcode(text: str) -> str:
    """An opcode in hex (0x28, 28h) or a command name (READ(10), read_10, read)."""
    if not name_key(text):
        raise argparse.ArgumentTypeError(f"{text!r} names no opcode")
    return text


def add_parser(subparsers: Any) -> None:
    """Add ``trace`` to the ``devemu`` command."""
    parser = subparsers.add_parser(
        "trace",
        help="show the commands a running daemon's devices execute, live",
        description="Stream every command the daemon's devices execute: time, device, "
        "opcode and name, CDB, lengths, latency, status and sense. Ctrl-C ends it.",
    )
    parser.add_argument(
        "devices", nargs="*", metavar="DEVICE", help="only these devices (default: all)"
    )
    parser.add_argument(
        "--opcode",
        action="append",
        type=_opcode,
        metavar="OP",
        help="only this opcode: hex (0x28, 28h) or a command name (READ(10), read_10; "
        "read: every READ); repeat for more",
    )
    parser.add_argument(
        "--status",
        action="append",
        metavar="STATUS",
        help="only this status (good, check-condition, reservation-conflict, busy, ...); "
        "repeat for more",
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.add_argument(
        "--data-out",
        type=int,
        default=0,
        metavar="BYTES",
        help="with --json: the first BYTES of each data-out command's parameter data "
        '("data_out", hex), to record what a program sends (default 0: none)',
    )
    parser.add_argument("--socket", type=Path, metavar="PATH", help="control socket")
    parser.set_defaults(func=_trace)
