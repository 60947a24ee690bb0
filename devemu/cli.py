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
import re
import sys
from collections.abc import Sequence
from typing import Any

from devemu import global_options
from devemu.errors import DevemuError

#: ``module:function`` that adds subcommands, and the command words it adds,
#: in the order ``--help`` lists them. The words let a command line build
#: only its own part of the tree: importing every part costs a guest under
#: emulation seconds per command (``tests/unit/test_cli_lazy.py`` checks
#: each entry adds exactly its words).
SUBCOMMANDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("devemu.daemon_cli:add_parser", ("serve", "status")),
    ("devemu.trace_cli:add_parser", ("trace",)),
    ("devemu.fault_cli:add_parser", ("fault",)),
    ("devemu.disk.cli:add_parser", ("disk",)),
    ("devemu.cdrom.cli:add_parser", ("cdrom", "image")),
    ("devemu.tape.cli:add_tape_parser", ("tape",)),
    ("devemu.changer.cli:add_library_parser", ("library",)),
    ("devemu.osd.cli:add_parser", ("osd",)),
    ("devemu.testing.osd_client_cli:add_parser", ("osd-client",)),
    ("devemu.vm.cli:add_parser", ("vm",)),
    ("devemu.completion:add_parser", ("completion",)),
    ("devemu.manpage:add_parser", ("man",)),
)


class _VersionAction(argparse.Action):
    """``--version``: the installed version, looked up only when asked for."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: object,
        option_string: str | None = None,
    ) -> None:
        from devemu import __version__  # noqa: PLC0415

        print(f"{parser.prog} {__version__}")
        parser.exit()


def command_word(argv: Sequence[str]) -> str | None:
    """The command word of ``argv`` (``devemu``'s own options skipped), None if unsure.

    Only ``-v``/``--verbose``, ``--json`` and ``--socket PATH`` may come
    before it; anything else (``--help``, ``--version``, an unknown option)
    leaves it unknown, and the whole tree is built.
    """
    args = iter(argv)
    for arg in args:
        if not arg.startswith("-"):
            return arg
        if arg.startswith("--socket="):
            continue
        if arg != "--" and len(arg) > 2 and "--socket".startswith(arg):
            next(args, None)
            continue
        if re.fullmatch(r"-v+", arg) or (
            len(arg) > 2 and ("--verbose".startswith(arg) or "--json".startswith(arg))
        ):
            continue
        return None
    return None


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser: the whole tree, or only the part that adds ``command``."""
    parser = argparse.ArgumentParser(
        prog="devemu",
        description="SCSI disks, optical drives and tape libraries served to Linux through TCMU.",
    )
    parser.add_argument("--version", action=_VersionAction, help="show the version and exit")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    entries = [entry for entry, words in SUBCOMMANDS if command in words]
    for entry in entries or [entry for entry, _ in SUBCOMMANDS]:
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
    words = sys.argv[1:] if argv is None else argv
    completing = "_ARGCOMPLETE" in os.environ
    parser = build_parser(None if completing else command_word(words))
    if completing:  # the shell asks for completions (devemu completion)
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
