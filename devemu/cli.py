"""The ``devemu`` command: one subcommand group per part of the suite.

Each part contributes its subcommands through an ``add_parser(subparsers)``
function in its own ``cli`` module; this file only assembles them.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from collections.abc import Sequence

from devemu.errors import DevemuError

#: ``module:function`` pairs that add subcommands, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "devemu.daemon_cli:add_parser",
    "devemu.disk.cli:add_parser",
    "devemu.cdrom.cli:add_parser",
    "devemu.tape.cli:add_tape_parser",
    "devemu.changer.cli:add_library_parser",
    "devemu.vm.cli:add_parser",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devemu",
        description="SCSI disks, optical drives and tape libraries served to Linux through TCMU.",
    )
    parser.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in SUBCOMMANDS:
        module, _, function = entry.partition(":")
        getattr(importlib.import_module(module), function or "add_parser")(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="devemu: %(levelname)s: %(name)s: %(message)s",
    )
    try:
        code: int = args.func(args)
    except DevemuError as err:
        print(f"devemu: {err}", file=sys.stderr)
        return err.exit_status
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
