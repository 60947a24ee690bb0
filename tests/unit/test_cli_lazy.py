"""A command line builds only the part of the parser tree its command word needs."""

from __future__ import annotations

import argparse
import importlib

import pytest

from devemu import cli


@pytest.mark.parametrize(("entry", "words"), cli.SUBCOMMANDS)
def test_each_entry_adds_exactly_its_words(entry: str, words: tuple[str, ...]) -> None:
    module, _, function = entry.partition(":")
    sub = argparse.ArgumentParser().add_subparsers()
    getattr(importlib.import_module(module), function)(sub)
    assert tuple(sub.choices) == words


def _words(parser: argparse.ArgumentParser) -> list[str]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(sub.choices)


def test_a_command_word_builds_its_part_only() -> None:
    assert _words(cli.build_parser("image")) == ["cdrom", "image"]
    assert _words(cli.build_parser("status")) == ["serve", "status"]


def test_no_or_an_unknown_word_builds_the_whole_tree() -> None:
    every = [w for _, words in cli.SUBCOMMANDS for w in words]
    assert _words(cli.build_parser()) == every
    assert _words(cli.build_parser("nonsense")) == every


@pytest.mark.parametrize(
    ("argv", "word"),
    [
        (["cdrom", "status", "cd0"], "cdrom"),
        (["-v", "serve", "x.toml"], "serve"),
        (["-vv", "--json", "status"], "status"),
        (["--socket", "/run/s", "library", "status"], "library"),
        (["--sock", "/run/s", "library"], "library"),
        (["--socket=/run/s", "--verbose", "tape", "info", "t"], "tape"),
        (["--help"], None),
        (["--version"], None),
        (["--bogus", "cdrom"], None),
        (["--", "cdrom"], None),
        ([], None),
    ],
)
def test_command_word(argv: list[str], word: str | None) -> None:
    assert cli.command_word(argv) == word


def test_the_version_is_printed(capsys: pytest.CaptureFixture[str]) -> None:
    import devemu  # noqa: PLC0415

    with pytest.raises(SystemExit) as stopped:
        cli.main(["--version"])
    assert stopped.value.code == 0
    assert capsys.readouterr().out == f"devemu {devemu.__version__}\n"


def test_a_lazily_built_command_runs(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as stopped:
        cli.main(["cdrom", "status"])
    assert stopped.value.code == 2
    assert "usage: devemu cdrom status" in capsys.readouterr().err
