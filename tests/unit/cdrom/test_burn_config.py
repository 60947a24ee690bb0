"""``blank``, ``capacity`` and ``burn_dir`` of [[cdrom]], ``insert --blank``, and a restart."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devemu.cdrom.config import from_config
from devemu.cdrom.device import CdromDevice
from devemu.errors import ConfigError, DevemuError
from devemu.scsi.command import Command
from devemu.served import ServedDevice


def build(table: dict[str, Any], base: Path) -> list[ServedDevice]:
    return from_config(
        table, path=base / "devemu.toml", key="cdrom[0]", base_dir=base, state_dir=base / "state"
    )


def _write_and_close(device: CdromDevice, blocks: int) -> None:
    """TAO data track at LBA 0, SYNCHRONIZE CACHE; no session close."""
    cdb = bytes([0x2A, 0, 0, 0, 0, 0, 0, 0, blocks, 0])
    for cmd in (
        Command(bytes(6)),
        Command(bytes(6)),
        Command(bytes(6)),
        Command(cdb, [memoryview(bytearray(b"x" * blocks * 2048))]),
        Command(bytes([0x35] + [0] * 9)),
    ):
        device.execute(cmd)


def test_blank_from_config_survives_a_restart(tmp_path: Path) -> None:
    table = {"name": "cd0", "blank": "cd-rw", "capacity": "64M", "burn_dir": "discs"}
    (served,) = build(table, tmp_path)
    device = served.device
    assert isinstance(device, CdromDevice)
    status = served.status()
    assert status["recording"]["status"] == "blank"
    assert status["recording"]["free_blocks"] == 64 * 1024 * 1024 // 2048
    assert status["profile"] == "cd-rw"
    _write_and_close(device, 10)
    assert served.status()["recording"]["status"] == "incomplete"
    served.close()
    (again,) = build(table, tmp_path)
    try:
        rec = again.status()["recording"]
        assert rec["status"] == "incomplete" and rec["tracks"] == 1
        assert rec["folder"] == str(tmp_path / "discs" / "cd0-001")
        assert rec["next_writable"] == 160
    finally:
        again.close()


def test_insert_blank_makes_a_new_folder(tmp_path: Path) -> None:
    (served,) = build({"name": "cd0", "burn_dir": str(tmp_path / "d")}, tmp_path)
    assert served.status()["medium"] is None
    result = served.control["insert"]({"blank": "cd-r", "capacity": 10 * 1024 * 1024})
    assert result["recording"]["folder"].endswith("cd0-001")
    result = served.control["insert"]({"blank": "cd-r"})
    assert result["recording"]["folder"].endswith("cd0-002")
    assert (tmp_path / "d" / "cd0.current").read_text().strip() == "cd0-002"
    served.control["eject"]({})
    assert not (tmp_path / "d" / "cd0.current").exists()
    assert (tmp_path / "d" / "cd0-001" / "state.json").exists()


def test_insert_blank_needs_a_burn_dir(tmp_path: Path) -> None:
    (served,) = build({"name": "cd0"}, tmp_path)
    with pytest.raises(DevemuError, match="burn_dir"):
        served.control["insert"]({"blank": "cd-r"})


def test_insert_blank_unknown_type(tmp_path: Path) -> None:
    (served,) = build({"name": "cd0", "burn_dir": "d"}, tmp_path)
    with pytest.raises(DevemuError, match="not one of"):
        served.control["insert"]({"blank": "floppy"})


@pytest.mark.parametrize(
    ("table", "key", "reason"),
    [
        ({"name": "cd0", "blank": "lp"}, "cdrom[0].blank", "not one of"),
        ({"name": "cd0", "blank": "cd-r", "capacity": "1K"}, "cdrom[0].capacity", "below"),
        ({"name": "cd0", "blank": "cd-r", "capacity": "2G"}, "cdrom[0].capacity", "at most"),
        ({"name": "cd0", "blank": "cd-r", "image": "x.iso"}, "cdrom[0].blank", "not both"),
        ({"name": "cd0", "capacity": "10M"}, "cdrom[0].capacity", "goes with blank"),
    ],
)
def test_bad_blank_tables(tmp_path: Path, table: dict[str, Any], key: str, reason: str) -> None:
    with pytest.raises(ConfigError) as err:
        build(table, tmp_path)
    assert key in str(err.value) and reason in str(err.value)


def test_burn_dir_that_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(ConfigError, match=r"cdrom\[0\]\.burn_dir"):
        build({"name": "cd0", "blank": "cd-r", "burn_dir": "f"}, tmp_path)


def test_hostile_pointer_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "discs").mkdir()
    (tmp_path / "discs" / "cd0.current").write_text("/etc\n")
    with pytest.raises(ConfigError, match="not a recording folder"):
        build({"name": "cd0", "blank": "cd-r", "burn_dir": "discs"}, tmp_path)
