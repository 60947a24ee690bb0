"""``devemu vm``: run a command in a QEMU guest while devemu serves devices.

    devemu vm [--config FILE] [--share DIR] [--timeout S] -- COMMAND...
    devemu vm start [--config FILE] [--name N] [--share DIR]
    devemu vm exec [--name N] [--stdin] [--timeout S] -- COMMAND...
    devemu vm control [--name N] REQUEST_JSON
    devemu vm stop [--name N]
    devemu vm list

The first form boots, runs COMMAND and powers off. ``start`` boots a
guest that stays up (named N, default ``default``) and returns once its
devices are served; ``exec`` runs COMMAND in it (exit status, stdout and
stderr kept apart); ``control`` hands one control-socket request line to
the daemon in it (``{"device": "cd0", "op": "eject", "args": {}}``) and
prints the answer; ``stop`` powers it off.

The guest's root is the host's own filesystem, read-only; ``--share``
(by default the folder holding ``--config``) is mounted read-write at its
own path, so images and results go there. With ``--config`` the guest
starts ``devemu serve FILE``, waits until its devices are linked, runs
COMMAND, then stops the daemon. The exit status is COMMAND's.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from devemu.config import check_file
from devemu.vm.errors import VmError, VmTimeoutError

STATUS_VM_FAILED = 3
STATUS_TIMEOUT = 124


def add_parser(subparsers: argparse._SubParsersAction[Any]) -> argparse.ArgumentParser:
    """Register ``vm`` on the ``devemu`` command's subparsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "vm",
        help="run a command in a QEMU guest (Debian kernel, TCMU + tcm_loop)",
        description=__doc__.split("\n\n", 1)[0] if __doc__ else None,
        epilog="A guest that stays up: devemu vm start|exec|control|stop|list"
        " (devemu vm ACTION --help).",
    )
    parser.add_argument("--config", type=Path, help="configuration for `devemu serve` in the guest")
    parser.add_argument(
        "--share",
        type=Path,
        help="folder mounted read-write at its own path (default: the config's)",
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds before QEMU is killed (600)"
    )
    parser.add_argument(
        "--ready-timeout",
        type=float,
        default=60.0,
        help="seconds to wait for the daemon's devices (60)",
    )
    parser.add_argument("--memory", type=int, default=1024, help="guest memory in MiB (1024)")
    parser.add_argument(
        "vm_command",
        metavar="COMMAND",
        nargs=argparse.REMAINDER,
        help="command to run in the guest",
    )
    parser.set_defaults(func=main)
    return parser


#: First words of COMMAND that name an action on a guest that stays up.
ACTIONS = ("start", "exec", "control", "stop", "list")


def _echo(chunk: bytes) -> None:
    sys.stdout.buffer.write(chunk)
    sys.stdout.buffer.flush()


def command_script(command: list[str]) -> str:
    """The guest script for COMMAND (argv, ``--`` already stripped)."""
    return shlex.join(command) + "\n"


def main(args: argparse.Namespace) -> int:
    """Run ``devemu vm`` with parsed ``args``; return the exit status."""
    # Imported here: every ``devemu`` command builds this parser, few boot a guest.
    from devemu.vm.runner import run, visible_in_guest  # noqa: PLC0415
    from devemu.vm.serving import serving_script  # noqa: PLC0415

    command = list(args.vm_command)
    if command and command[0] in ACTIONS:
        from devemu.vm.guest_cli import run_action  # noqa: PLC0415

        return run_action(command)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("devemu vm: no command given (devemu vm [options] -- COMMAND...)", file=sys.stderr)
        return 2
    share: Path | None = args.share
    config: Path | None = args.config.resolve() if args.config else None
    if config is not None:
        # The pure pass of `devemu serve`: a bad file is refused before a guest boots.
        check_file(config)
    if share is None and config is not None:
        share = config.parent
    if config is not None and not visible_in_guest(config, share):
        print(
            f"devemu vm: the guest cannot see {config}: pass --share with a folder holding it",
            file=sys.stderr,
        )
        return 2
    script = command_script(command)
    if config is not None:
        script = serving_script(script, config, ready_timeout=args.ready_timeout)
    try:
        result = run(script, timeout=args.timeout, share=share, memory_mb=args.memory, echo=_echo)
    except VmTimeoutError as exc:
        print(f"devemu vm: {exc}", file=sys.stderr)
        return STATUS_TIMEOUT
    except VmError as exc:
        print(f"devemu vm: {exc}", file=sys.stderr)
        return STATUS_VM_FAILED
    return result.exit_code
