"""``devemu vm`` argument handling (the guest itself is exercised in tests/vm)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

import pytest

from devemu.errors import ConfigError
from devemu.vm import cli


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="devemu")
    cli.add_parser(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_options_then_command_after_double_dash() -> None:
    args = _parse(["vm", "--config", "lib.toml", "--timeout", "90", "--", "mtx", "-f", "/dev/sg1"])
    assert args.config == Path("lib.toml")
    assert args.timeout == 90.0
    assert args.vm_command == ["--", "mtx", "-f", "/dev/sg1"]
    assert args.func is cli.main


def test_defaults() -> None:
    args = _parse(["vm", "lsscsi"])
    assert (args.config, args.share, args.timeout, args.memory) == (None, None, 600.0, 1024)
    assert args.vm_command == ["lsscsi"]


def test_command_script_keeps_arguments_intact() -> None:
    argv = ["sh", "-c", "echo $1 'x y'", "--", "it's"]
    assert shlex.split(cli.command_script(argv)) == argv


def test_no_command_is_an_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(_parse(["vm", "--"])) == 2
    assert "no command given" in capsys.readouterr().err


def test_missing_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"none\.toml: cannot read"):
        cli.main(_parse(["vm", "--config", str(tmp_path / "none.toml"), "--", "true"]))


def test_bad_config_is_refused_before_a_guest_boots(tmp_path: Path) -> None:
    config = tmp_path / "devemu.toml"
    config.write_text("[[disk]]\nname = 'd0'\n")
    with pytest.raises(ConfigError, match=r"disk\[0\]\.image: missing"):
        cli.main(_parse(["vm", "--config", str(config), "--", "true"]))


def test_config_hidden_from_guest_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "devemu.toml"
    config.write_text("")
    share = tmp_path / "elsewhere"
    share.mkdir()
    assert (
        cli.main(_parse(["vm", "--config", str(config), "--share", str(share), "--", "true"])) == 2
    )
    assert "cannot see" in capsys.readouterr().err
