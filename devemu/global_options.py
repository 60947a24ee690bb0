"""The options every ``devemu`` command takes, wherever they are written.

``-v``, ``--socket`` and ``--json`` may come right after ``devemu``,
after a command group (``devemu library --socket S status``) or after the
command itself (``devemu library status --socket S``): :func:`install`
adds them to every parser of the tree with ``default=SUPPRESS``, so a
level that does not see the option leaves what an outer level parsed
alone, and :func:`fill_defaults` sets what nobody gave.

- ``--socket``: the daemon's control socket, used by the commands that
  talk to a running daemon (``status``, ``cdrom``, ``library``) and by
  ``serve``; the others have no daemon and ignore it.
- ``--json``: only for the commands that define it themselves (their
  output is what a script reads); any other command refuses it as a
  usage error, wherever it was written.

Help is plain text: the docstrings reused as descriptions are reST, whose
double backticks and roles :class:`PlainHelpFormatter` takes out.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path

#: Each global option's value when no level of the command line gave it.
DEFAULTS: dict[str, object] = {"verbose": 0, "socket": None, "json": False}

SOCKET_HELP = "the daemon's control socket (default: $DEVEMU_SOCKET, else /run/devemu/control.sock)"

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def plain_text(text: str) -> str:
    """``text`` without reST markup: roles keep their target, ``x`` becomes x, ``::`` a colon."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = text.replace("``", "")
    return re.sub(r"(\S)::$", r"\1:", text, flags=re.MULTILINE)


class PlainHelpFormatter(argparse.HelpFormatter):
    """argparse's formatter over texts whose reST markup is taken out first."""

    def _format_text(self, text: str) -> str:
        return super()._format_text(plain_text(text))

    def _expand_help(self, action: argparse.Action) -> str:
        return plain_text(super()._expand_help(action))


def walk(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser of the tree under ``parser`` with its command words, outermost first."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen: set[int] = set()
            for name, sub in action.choices.items():
                if id(sub) not in seen:  # an alias names the same parser again
                    seen.add(id(sub))
                    yield from walk(sub, (*path, name))


def is_leaf(parser: argparse.ArgumentParser) -> bool:
    """A parser that runs a command (it has no command words of its own below)."""
    return not any(isinstance(a, argparse._SubParsersAction) for a in parser._actions)


def has_json(parser: argparse.ArgumentParser) -> bool:
    """Whether the command of ``parser`` declares a ``--json`` output of its own."""
    return "--json" in parser._option_string_actions


def install(root: argparse.ArgumentParser) -> None:
    """Give every parser under ``root`` the global options and the plain help formatter."""
    suppress = argparse.SUPPRESS
    for _, parser in walk(root):
        parser.formatter_class = PlainHelpFormatter
        leaf = is_leaf(parser)
        for action in parser._actions:
            if action.dest in DEFAULTS:
                action.default = suppress  # the command's own definition: same rule
        known = parser._option_string_actions
        if "--verbose" not in known:
            parser.add_argument(
                "-v", "--verbose", action="count", default=suppress, help="more log output"
            )
        if "--socket" not in known:
            parser.add_argument(
                "--socket", type=Path, metavar="PATH", default=suppress, help=SOCKET_HELP
            )
        if leaf:
            parser.set_defaults(json_output=has_json(parser), command_parser=parser)
        elif "--json" not in known:
            parser.add_argument(
                "--json",
                action="store_true",
                default=suppress,
                help="print the output as JSON (commands that have one)",
            )


def fill_defaults(args: argparse.Namespace) -> None:
    """Set the global options nobody gave; refuse ``--json`` where the command has none.

    A refusal is argparse's usage error (exit status 2) from the command's own parser.
    """
    for name, default in DEFAULTS.items():
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.json and not getattr(args, "json_output", True):
        parser: argparse.ArgumentParser = args.command_parser
        parser.error("--json: this command prints no JSON")
