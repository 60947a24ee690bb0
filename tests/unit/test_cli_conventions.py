"""The rules every ``devemu`` command keeps, checked as one table of commands x flags.

- ``-v``, ``--socket`` and ``--json`` are accepted right after ``devemu``,
  after each command group and after the command, with the same result;
- ``--json`` works on the commands a script reads and is a usage error
  (exit status 2) on the others, wherever it is written;
- ``--help`` is plain text (no reST markup) for every parser;
- ``--version``, ``completion`` and ``man`` are made from the package and
  the parser, so they name every command.

The table lists each command with the arguments it needs to parse and
whether it prints JSON; :func:`test_table_has_every_command` keeps it
equal to the parser's commands.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import devemu
from devemu import cli
from devemu.daemon_cli import status_table
from devemu.global_options import fill_defaults, is_leaf, walk
from devemu.manpage import render

#: command words -> (arguments after them that make a valid command line, prints JSON)
COMMANDS: dict[str, tuple[list[str], bool]] = {
    "serve": (["lab.toml"], False),
    "status": ([], True),
    "disk create": (["d.img", "--size", "1M"], False),
    "disk info": (["d.img"], True),
    "disk insert": (["d0", "b.img"], True),
    "disk eject": (["d0"], True),
    "disk protect": (["d0", "on"], True),
    "disk status": (["d0"], True),
    "cdrom insert": (["cd0", "a.iso"], True),
    "cdrom eject": (["cd0"], True),
    "cdrom status": (["cd0"], True),
    "image iso": (["src", "out.iso"], True),
    "image info": (["a.iso"], True),
    "tape create": (["E01001L8"], False),
    "tape info": (["E01001L8.tape"], True),
    "tape dump": (["E01001L8.tape"], True),
    "tape upgrade": (["a.tape"], False),
    "library status": ([], True),
    "library import": (["E01005L8"], True),
    "library export": (["3"], True),
    "osd info": (["objects"], True),
    "osd-client": (["--portal", "h:3260", "--target", "t", "--initiator", "i", "list"], False),
    "trace": ([], True),
    "fault": (["tape0", "offline"], True),
    "vm": (["--", "true"], False),
    "completion": (["bash"], False),
    "man": ([], False),
}

#: Flag, its arguments, and the attribute it sets with the value it must have.
FLAGS: dict[str, tuple[list[str], str, object]] = {
    "--socket": (["/run/other.sock"], "socket", Path("/run/other.sock")),
    "--json": ([], "json", True),
    "-v": ([], "verbose", 1),
}


GLOBAL_FLAGS = {"--socket", "--json", "-v", "--verbose", "--version"}


def positions(command: str) -> list[int]:
    """Where a global flag may go: after ``devemu`` (0) and after each command word."""
    return list(range(len(command.split()) + 1))


def command_line(command: str, flag: list[str], position: int) -> list[str]:
    words = command.split()
    args, _ = COMMANDS[command]
    if position == len(words) and "--" in args:  # after the command, before its COMMAND...
        cut = args.index("--")
        return [*words, *args[:cut], *flag, *args[cut:]]
    return [*words[:position], *flag, *words[position:], *args]


def parse(argv: list[str]) -> argparse.Namespace:
    args = cli.build_parser().parse_args(argv)
    fill_defaults(args)
    return args


TABLE = [
    pytest.param(command, flag, position, id=f"{command} {flag} @{position}")
    for command in COMMANDS
    for flag in FLAGS
    for position in positions(command)
]


def test_table_has_every_command() -> None:
    leaves = [" ".join(path) for path, p in walk(cli.build_parser()) if path and is_leaf(p)]
    assert sorted(leaves) == sorted(COMMANDS)


@pytest.mark.parametrize(("command", "flag", "position"), TABLE)
def test_global_flag_anywhere(command: str, flag: str, position: int) -> None:
    extra, attribute, value = FLAGS[flag]
    argv = command_line(command, [flag, *extra], position)
    if flag == "--json" and not COMMANDS[command][1]:
        with pytest.raises(SystemExit) as exit_:
            parse(argv)
        assert exit_.value.code == 2
        return
    args = parse(argv)
    assert getattr(args, attribute) == value
    plain = parse(command_line(command, [], 0))
    assert getattr(plain, attribute) != value  # the default differs: the flag did it


@pytest.mark.parametrize("command", list(COMMANDS))
def test_json_refusal_names_the_command(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    if COMMANDS[command][1]:
        return
    with pytest.raises(SystemExit):
        parse(["--json", *command_line(command, [], 0)])
    assert f"devemu {command}: error: --json: this command prints no JSON" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize("path", [" ".join(p) or "devemu" for p, _ in walk(cli.build_parser())])
def test_help_is_plain_text(path: str, capsys: pytest.CaptureFixture[str]) -> None:
    words = [] if path == "devemu" else path.split()
    with pytest.raises(SystemExit) as exit_:
        cli.main([*words, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: devemu")
    for markup in ("``", ":class:", ":mod:", ":func:"):
        assert markup not in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--version"])
    assert exit_.value.code == 0
    assert capsys.readouterr().out == f"devemu {devemu.__version__}\n"
    assert devemu.__version__[0].isdigit()


def test_man_page_names_every_command() -> None:
    page = render(cli.build_parser())
    assert page.startswith(".TH DEVEMU 1 ")
    for command in COMMANDS:
        escaped = command.replace("-", "\\-")  # roff: a hyphen is written \-
        assert f'.SS "devemu {escaped}"' in page
    for flag in ("\\-\\-socket", "\\-\\-json", "\\-\\-version", "\\-\\-size"):
        assert flag in page
    assert "``" not in page
    assert not any(line.startswith((".", "'")) and " " in line[:2] for line in page.splitlines())


def test_man_command_prints_the_page(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["man"]) == 0
    assert capsys.readouterr().out == render(cli.build_parser())


@pytest.mark.parametrize("shell", ["bash", "zsh", "fish"])
def test_completion_script(shell: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["completion", shell]) == 0
    script = capsys.readouterr().out
    assert "devemu" in script
    assert "_ARGCOMPLETE" in script


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("devemu li", {"library"}),
        ("devemu library ", {"status", "import", "export"}),
        ("devemu cdrom status cd0 --so", {"--socket"}),
        ("devemu --so", {"--socket"}),
        ("devemu completion ", {"bash", "zsh", "fish"}),
    ],
)
def test_completion_answers_from_the_parser(line: str, expected: set[str], tmp_path: Path) -> None:
    """What the shell script asks: ``devemu`` run with the line in its environment."""
    out = tmp_path / "completions"
    env = {
        **os.environ,
        "_ARGCOMPLETE": "1",
        "COMP_LINE": line,
        "COMP_POINT": str(len(line)),
        "_ARGCOMPLETE_STDOUT_FILENAME": str(out),
    }
    done = subprocess.run(
        [sys.executable, "-m", "devemu"], env=env, capture_output=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    words = {w.strip() for w in out.read_text().split("\x0b") if w.strip()}
    options = {w for w in words if w.startswith("-")}
    if line.rsplit(maxsplit=1)[-1].startswith("-"):
        assert words == expected
    else:  # a word is due; argcomplete offers the options too
        assert words - options == expected
        assert options <= {"-h", "--help", *GLOBAL_FLAGS}


def test_status_table_is_aligned() -> None:
    devices: list[dict[str, Any]] = [
        {
            "name": "cd0",
            "kind": "cdrom",
            "ops": ["status", "insert"],
            "tray": "closed",
            "prevented": False,
            "medium": {"image": "/srv/a.iso", "sessions": [{"number": 1}]},
        },
        {"name": "vtl0-drive0", "kind": "tape", "ops": ["status"], "cartridge": None},
        {"name": "vtl0", "kind": "changer", "ops": [], "elements": [{}, {}, {}]},
    ]
    lines = status_table(devices).splitlines()
    assert lines[0].split() == ["NAME", "KIND", "STATE"]
    assert lines[1] == "cd0          cdrom    tray=closed, prevented=no, medium=/srv/a.iso"
    assert lines[2] == "vtl0-drive0  tape     -"
    assert lines[3] == "vtl0         changer  elements=3"
    assert not any("{" in line or "[" in line for line in lines)


def test_disk_info_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    image = tmp_path / "d.img"
    assert cli.main(["disk", "create", str(image), "--size", "4M", "--block-size", "4096"]) == 0
    with image.open("r+b") as f:
        f.write(b"x" * 8192)
    capsys.readouterr()
    assert cli.main(["--json", "disk", "info", str(image), "--block-size", "4096"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["size"] == 4 << 20
    assert info["block_size"] == 4096
    assert info["blocks"] == 1024
    assert 8192 <= info["allocated"] < 4 << 20


def test_tape_info_and_dump_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tape", "create", "E01001L8", "--dir", str(tmp_path)]) == 0
    path = tmp_path / "E01001L8.tape"
    capsys.readouterr()
    assert cli.main(["tape", "info", str(path), "--json", "--verify"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert (info["barcode"], info["media_type"], info["damaged"]) == ("E01001L8", "LTO-8", [])
    assert all({"id", "name", "value"} <= set(a) for a in info["attributes"])
    assert cli.main(["tape", "--json", "dump", str(path)]) == 0
    dump = json.loads(capsys.readouterr().out)
    assert dump["barcode"] == "E01001L8"
    assert dump["partitions"][0] == {"eod": 0, "runs": []}
    assert cli.main(["--json", "tape", "dump", "--journal", str(path)]) == 0
    assert isinstance(json.loads(capsys.readouterr().out)["entries"], list)
