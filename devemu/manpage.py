"""``devemu man``: the devemu(1) manual page, written from the parser.

Every command of the ``devemu`` parser gets a section with its usage, its
description and its options, so the page cannot miss a command or an
option the command line has. The output is roff for ``man``:
``devemu man > devemu.1 && man -l devemu.1``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from devemu import __version__
from devemu.global_options import DEFAULTS, PlainHelpFormatter, is_leaf, plain_text, walk

EXIT_STATUS = (
    ("0", "success (or, for devemu vm, the guest command's status)"),
    ("1", "the command failed: a bad file, a host that cannot serve, a daemon that refuses"),
    ("2", "the command line was wrong"),
    ("130", "interrupted"),
)


def escape(text: str) -> str:
    """``text`` as roff: backslashes and hyphens escaped, no line read as a request."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    return re.sub(r"^([.'])", r"\\&\1", text, flags=re.MULTILINE)


def _paragraphs(text: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", plain_text(text)) if p.strip()]


def _options(
    parser: argparse.ArgumentParser, told: dict[str, str | None] | None = None
) -> list[str]:
    """The options of ``parser``, less those ``told`` already (global option: its help)."""
    formatter = PlainHelpFormatter(parser.prog)
    lines: list[str] = []
    for action in parser._actions:
        if action.help == argparse.SUPPRESS or isinstance(action, argparse._SubParsersAction):
            continue
        if told is not None and (
            isinstance(action, argparse._HelpAction)
            or (action.dest in DEFAULTS and told.get(action.dest) == action.help)
        ):
            continue
        lines.append(".TP")
        lines.append(f"\\fB{escape(formatter._format_action_invocation(action))}\\fR")
        lines.append(
            escape(" ".join(formatter._expand_help(action).split())) if action.help else ""
        )
    return lines


def _section(
    path: tuple[str, ...],
    parser: argparse.ArgumentParser,
    help_text: str,
    told: dict[str, str | None],
) -> list[str]:
    lines = [f'.SS "{escape(" ".join(("devemu", *path)))}"', ".nf"]
    usage = parser.format_usage().removeprefix("usage: ").strip().splitlines()
    lines += [escape(usage[0]), *(escape("    " + line.strip()) for line in usage[1:])]
    lines.append(".fi")
    for paragraph in _paragraphs(parser.description or help_text):
        lines += [".PP", escape(paragraph)]
    return lines + _options(parser, told)


def render(root: argparse.ArgumentParser) -> str:
    """The manual page of ``root`` (the ``devemu`` parser) as roff."""
    lines = [
        f'.TH DEVEMU 1 "" "devemu {escape(__version__)}" "User Commands"',
        ".SH NAME",
        f"devemu \\- {escape(root.description or '')}",
        ".SH SYNOPSIS",
        ".B devemu",
        "[\\fIOPTIONS\\fR] \\fICOMMAND\\fR [\\fIARGS\\fR]",
        ".SH DESCRIPTION",
        "The options \\fB\\-v\\fR, \\fB\\-\\-socket\\fR and \\fB\\-\\-json\\fR may be given "
        "after \\fBdevemu\\fR, after a command group or after the command.",
        ".SH OPTIONS",
        *_options(root),
        ".SH COMMANDS",
    ]
    helps = _command_helps(root)
    told = {action.dest: action.help for action in root._actions}
    for path, parser in walk(root):
        if path and is_leaf(parser):
            lines += _section(path, parser, helps.get(path, ""), told)
    lines.append(".SH EXIT STATUS")
    for status, meaning in EXIT_STATUS:
        lines += [".TP", f"\\fB{status}\\fR", escape(meaning)]
    lines += [
        ".SH ENVIRONMENT",
        ".TP",
        "\\fBDEVEMU_SOCKET\\fR",
        "the daemon's control socket when \\fB\\-\\-socket\\fR is not given",
    ]
    return "\n".join(lines) + "\n"


def _command_helps(root: argparse.ArgumentParser) -> dict[tuple[str, ...], str]:
    """Each command's one-line help, as its group's listing shows it."""
    helps: dict[tuple[str, ...], str] = {}
    for path, parser in walk(root):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if choice.help:
                        helps[(*path, choice.dest)] = choice.help
    return helps


def _man(args: argparse.Namespace) -> int:
    # Imported here: devemu.cli imports this module to build the parser.
    from devemu.cli import build_parser  # noqa: PLC0415

    print(render(build_parser()), end="")
    return 0


def add_parser(subparsers: Any) -> None:
    """Add ``devemu man``."""
    parser = subparsers.add_parser(
        "man",
        help="print the devemu(1) manual page (roff)",
        description="Write the manual page, made from this command line's parser, to stdout.",
    )
    parser.set_defaults(func=_man)
