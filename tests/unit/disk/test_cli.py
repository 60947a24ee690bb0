"""``devemu disk create`` and ``devemu disk info``."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from devemu.disk import cli
from devemu.errors import ImageError


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="devemu")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(sub)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code


def test_create_sparse_image(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "d.img"
    assert main(["disk", "create", str(path), "--size", "10G"]) == 0
    assert path.stat().st_size == 10 << 30
    assert path.stat().st_blocks == 0
    assert "20971520 blocks of 512" in capsys.readouterr().out
    assert main(["disk", "info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "10737418240 bytes" in out and "allocated: 0 bytes" in out
    with pytest.raises(ImageError, match="already exists"):
        main(["disk", "create", str(path), "--size", "1M"])


def test_create_4096_and_bad_size(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "e.img"
    assert main(["disk", "create", str(path), "--size", "1M", "--block-size", "4096"]) == 0
    assert main(["disk", "create", str(tmp_path / "f.img"), "--size", "1000"]) == 2
    assert not (tmp_path / "f.img").exists()
    with pytest.raises(SystemExit):
        main(["disk", "create", str(tmp_path / "g.img"), "--size", "1M", "--block-size", "1024"])
