"""[[cdrom]] configuration, control operations and the image CLI."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pytest

from devemu.cdrom.config import from_config
from devemu.cdrom.device import CdromDevice
from devemu.cli import build_parser
from devemu.errors import ConfigError, DevemuError
from devemu.global_options import fill_defaults
from devemu.scsi.command import Command, answered
from devemu.scsi.sense import NOT_READY_TO_READY_CHANGE, parse_sense
from devemu.served import ServedDevice


def build(table: dict[str, Any], base: Path) -> list[ServedDevice]:
    return from_config(
        table, path=base / "devemu.toml", key="cdrom[0]", base_dir=base, state_dir=base
    )


def test_from_config_with_relative_image(samples: dict[str, Path]) -> None:
    (served,) = build(
        {"name": "cd0", "image": "data.iso", "product": "VCD"}, samples["data"].parent
    )
    try:
        assert served.kind == "cdrom" and served.block_size == 2048
        assert served.device.identity.product == "VCD"
        assert served.status()["medium"]["label"] == "DEVEMU_SAMPLE1"
        assert served.may_replay(Command(bytes([0x28] + [0] * 9)))
        assert not served.may_replay(Command(bytes([0x1B, 0, 0, 0, 2, 0])))
    finally:
        served.close()


def test_empty_drive_from_config(tmp_path: Path) -> None:
    (served,) = build({"name": "cd1"}, tmp_path)
    assert served.status()["medium"] is None and served.status()["tray"] == "closed"


@pytest.mark.parametrize(
    ("table", "key", "reason"),
    [
        ({"name": "cd0", "profile": "hddvd"}, "cdrom[0].profile", "not one of"),
        ({"name": "cd 0"}, "cdrom[0].name", "use 1 to 64"),
        ({"name": "cd0", "colour": "red"}, "cdrom[0].colour", "unknown key"),
        ({"name": "cd0", "image": "nope.iso"}, "cdrom[0].image", "cannot open"),
        ({"name": "cd0", "vendor": 3}, "cdrom[0].vendor", "must be a string"),
    ],
)
def test_config_errors(tmp_path: Path, table: dict[str, Any], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(table, tmp_path)
    assert info.value.key == key and reason in info.value.reason


def test_control_insert_eject(samples: dict[str, Path], tmp_path: Path) -> None:
    (served,) = build({"name": "cd0"}, tmp_path)
    device = served.device
    assert isinstance(device, CdromDevice)
    device.unit_attentions.clear()
    result = served.control["insert"]({"image": str(samples["mixed"])})
    assert result["tray"] == "closed" and len(result["medium"]["sessions"][0]["tracks"]) == 3
    answer = answered(device.execute(Command(bytes(6), [])))
    assert parse_sense(answer.sense)[0] == NOT_READY_TO_READY_CHANGE
    device.prevented = True
    with pytest.raises(DevemuError, match="prevents medium removal"):
        served.control["eject"]({})
    with pytest.raises(DevemuError, match="prevents medium removal"):
        served.control["insert"]({"image": str(samples["data"])})
    assert served.control["insert"]({"image": str(samples["data"]), "force": True})["medium"]
    assert served.control["eject"]({"force": True})["tray"] == "open"
    with pytest.raises(DevemuError, match="needs 'image'"):
        served.control["insert"]({})
    assert served.control["status"]({})["medium"] is None


def _parse(argv: list[str]) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    fill_defaults(args)
    return args


def test_image_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / "d" / "a file.txt").write_text("x")
    args = _parse(["image", "iso", str(src), str(tmp_path / "o.iso"), "--label", "mylabel"])
    assert args.func(args) == 0
    args = _parse(["image", "info", str(tmp_path / "o.iso"), "--json"])
    capsys.readouterr()
    assert args.func(args) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["label"] == "MYLABEL" and info["joliet"] and info["rock_ridge"]


def test_cdrom_cli_without_daemon(tmp_path: Path) -> None:
    args = _parse(["cdrom", "eject", "cd0", "--socket", str(tmp_path / "none.sock")])
    with pytest.raises(DevemuError, match="cannot reach the devemu daemon"):
        args.func(args)
