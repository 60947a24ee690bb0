"""``devemu completion SHELL``: the shell's completion script for ``devemu``.

The script is argcomplete's: on TAB the shell runs ``devemu`` itself with
the command line in its environment, and the completions come from the
very parser that will read the command, so they cannot drift from it.
Install it with, for bash, ``devemu completion bash >
~/.local/share/bash-completion/completions/devemu``; for zsh, into a
folder of ``$fpath`` as ``_devemu``; for fish, ``devemu completion fish >
~/.config/fish/completions/devemu.fish``.
"""

from __future__ import annotations

import argparse
from typing import Any

SHELLS = ("bash", "zsh", "fish")


def script(shell: str) -> str:
    """The completion script of ``shell`` for the ``devemu`` command."""
    # Imported here: only this command needs it.
    from argcomplete.shell_integration import shellcode  # noqa: PLC0415

    return shellcode(["devemu"], shell=shell)


def _completion(args: argparse.Namespace) -> int:
    print(script(args.shell), end="")
    return 0


def add_parser(subparsers: Any) -> None:
    """Add ``devemu completion``."""
    parser = subparsers.add_parser(
        "completion",
        help="print the shell completion script (bash, zsh, fish)",
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
    )
    parser.add_argument("shell", choices=SHELLS, help="the shell the script is for")
    parser.set_defaults(func=_completion)
