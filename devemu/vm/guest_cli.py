"""``devemu vm start|exec|control|stop|list``: the command line of a guest that stays up.

Exit status: ``exec`` gives COMMAND's (128+N when signal N killed it,
124 when it timed out); the others 0 on success, 1 when the guest or its
daemon failed, 2 for a usage error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from devemu.control_protocol import ControlError
from devemu.vm.agent_client import CommandTimeoutError
from devemu.vm.errors import VmError
from devemu.vm.guest import (
    DEFAULT_NAME,
    Guest,
    RunFolder,
    check_name,
    find_guest,
    list_guests,
    run_base,
    start,
)

STATUS_FAILED = 1
STATUS_TIMEOUT = 124


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="devemu vm", description=__doc__.split("\n\n")[0])
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    def named(action: str, text: str) -> argparse.ArgumentParser:
        sub = actions.add_parser(action, help=text, description=text)
        sub.add_argument("--name", default=DEFAULT_NAME, help=f"the guest ({DEFAULT_NAME})")
        return sub

    begin = named("start", "boot a guest that stays up; return once its devices are served")
    begin.add_argument("--config", type=Path, help="configuration for `devemu serve` in the guest")
    begin.add_argument(
        "--share", type=Path, help="folder mounted read-write at its own path (default: config's)"
    )
    begin.add_argument("--memory", type=int, default=1024, help="guest memory in MiB (1024)")
    begin.add_argument("--cpus", type=int, default=2, help="guest CPUs (2)")
    begin.add_argument("--timeout", type=float, default=300.0, help="seconds to be ready (300)")
    run = named("exec", "run a command in a guest that stays up")
    run.add_argument("--timeout", type=float, help="seconds before the command is killed")
    run.add_argument("--stdin", action="store_true", help="send this command's stdin to it")
    run.add_argument("--cwd", help="folder the command starts in (in the guest)")
    run.add_argument("argv", metavar="COMMAND", nargs=argparse.REMAINDER)
    control = named("control", "send one control request line to the guest's daemon")
    control.add_argument("request", help='a JSON request, e.g. {"op": "status"}')
    named("stop", "power a guest off (kill it if it will not)")
    actions.add_parser("list", help="the guests and their state", description="list guests")
    return parser


def _write(stream: int) -> Callable[[bytes], None]:
    out = sys.stdout if stream == 1 else sys.stderr

    def write(chunk: bytes) -> None:
        out.buffer.write(chunk)
        out.buffer.flush()

    return write


def run_action(argv: Sequence[str]) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _ACTIONS[args.action](args)
    except (VmError, ControlError) as err:
        print(f"devemu vm {args.action}: {err}", file=sys.stderr)
        return STATUS_FAILED


def _start(args: argparse.Namespace) -> int:
    def progress(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    guest = start(
        args.config,
        name=args.name,
        share=args.share,
        memory_mb=args.memory,
        cpus=args.cpus,
        timeout=args.timeout,
        progress=progress if sys.stderr.isatty() else None,
    )
    info = guest.info
    print(f"{guest.name}: ready after {info.get('ready_seconds', 0.0):.1f} s")
    return 0


def _exec(args: argparse.Namespace) -> int:
    command = list(args.argv)
    if command and command[0] == "--":
        command = command[1:]
    if not command:
        print("devemu vm exec: no command given (devemu vm exec -- COMMAND...)", file=sys.stderr)
        return 2
    guest = find_guest(args.name)
    stdin = sys.stdin.buffer.read() if args.stdin else None
    try:
        result = guest.run(
            command,
            timeout=args.timeout,
            cwd=args.cwd,
            stdin=stdin,
            on_stdout=_write(1),
            on_stderr=_write(2),
        )
    except CommandTimeoutError as err:
        print(f"devemu vm exec: {err}", file=sys.stderr)
        return STATUS_TIMEOUT
    return result.returncode if result.returncode >= 0 else 128 - result.returncode


def _control(args: argparse.Namespace) -> int:
    print(find_guest(args.name).control_line(args.request))
    return 0


def _stop(args: argparse.Namespace) -> int:
    guest = find_guest_or_leftover(args.name)
    if guest is None:
        print(f"devemu vm stop: no guest called {args.name}", file=sys.stderr)
        return STATUS_FAILED
    clean = guest.stop()
    print(f"{args.name}: {'powered off' if clean else 'killed (it did not power off)'}")
    return 0


def find_guest_or_leftover(name: str) -> Guest | None:
    """The guest called ``name``, running or crashed (its folder left behind)."""
    folder = RunFolder(run_base() / check_name(name))
    return Guest(folder) if folder.path.is_dir() else None


def _list(args: argparse.Namespace) -> int:
    guests = list_guests()
    if not guests:
        print("no guests")
        return 0
    print(f"{'NAME':<16} {'STATE':<8} {'PID':>8} {'UPTIME':>8}  CONFIG")
    for state in guests:
        uptime = f"{state.uptime:.0f}s" if state.uptime is not None else "-"
        print(
            f"{state.name:<16} {'running' if state.running else 'crashed':<8} "
            f"{state.pid or '-':>8} {uptime:>8}  {state.config or '-'}"
        )
    return 0


_ACTIONS = {"start": _start, "exec": _exec, "control": _control, "stop": _stop, "list": _list}
