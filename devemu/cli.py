"""The ``devemu`` command: one subcommand group per part of the suite.

Each part contributes its subcommands through an ``add_parser(subparsers)``
function in its own ``cli`` module; this file assembles them and is the
one boundary between a command and the user's terminal. Exit status:

- 0: success (or what the command itself returns, e.g. ``devemu vm``);
- 1: the command failed: a :class:`~devemu.errors.DevemuError` (a bad
  configuration or image, a host that cannot serve, a daemon that
  refuses) or an OSError (a file that cannot be read or written), told in
  one line on stderr that names the file, key or place;
- 2: the command line was wrong (argparse's usage errors, a
  :class:`~devemu.errors.UsageError`);
- 130: interrupted.

Anything else is a bug in devemu and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys
from collections.abc import Sequence

from devemu import __version__, global_options
from devemu.errors import DevemuError

#: ``module:function`` pairs that add subcommands, in the order ``--help`` lists them.
SUBCOMMANDS: tuple[str, ...] = (
    "devemu.daemon_cli:add_parser",
    "devemu.trace_cli:add_parser",
    "devemu.fault_cli:add_parser",
    "devemu.disk.cli:add_parser",
    "devemu.cdrom.cli:add_parser",
    "devemu.tape.cli:add_tape_parser",
    "devemu.changer.cli:add_library_parser",
    "devemu.osd.cli:add_parser",
    "devemu.testing.osd_client_cli:add_parser",
    "devemu.vm.cli:add_parser",
    "devemu.completion:add_parser",
    "devemu.manpage:add_parser",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="devemu",
        description="SCSI disks, optical drives and tape libraries served to Linux through TCMU.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for entry in SUBCOMMANDS:
        module, _, function = entry.partition(":")
        getattr(importlib.import_module(module), function or "add_parser")(sub)
    global_options.install(parser)
    return parser


#: Exit status of a command that failed (2 is argparse's, for usage errors).
EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def os_error_text(err: OSError) -> str:
    """``FILE: reason`` (``FILE -> OTHER: reason`` for a rename) for an OSError."""
    reason = err.strerror or str(err)
    if err.filename is None:
        return reason
    place = os.fsdecode(err.filename)
    if err.filename2 is not None:
        place += f" -> {os.fsdecode(err.filename2)}"
    return f"{place}: {reason}"


def fail(message: str, status: int = EXIT_FAILURE) -> int:
    """Tell ``message`` on one line of stderr; return ``status`` (:data:`EXIT_FAILURE`)."""
    one_line = message.replace("\r", "\\r").replace("\n", "\\n")
    print(f"devemu: {one_line}", file=sys.stderr)
    return status


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    if "_ARGCOMPLETE" in os.environ:  # the shell asks for completions (devemu completion)
        # Imported here: only a completion request needs it.
        import argcomplete  # noqa: PLC0415

        argcomplete.autocomplete(parser)
    args = parser.parse_args(argv)
    global_options.fill_defaults(args)
    logging.basicConfig(
        level=logging.WARNING - 10 * min(args.verbose, 2),
        format="devemu: %(levelname)s: %(name)s: %(message)s",
    )
    try:
        code: int = args.func(args)
    except DevemuError as err:
        return fail(str(err), err.exit_status)
    except OSError as err:
        return fail(os_error_text(err))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
