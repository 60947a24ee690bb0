"""``[[disk]]`` tables: served devices, defaults, and refusals naming the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devemu.disk.config import from_config
from devemu.disk.device import Disk
from devemu.disk.image import create_image
from devemu.errors import ConfigError
from devemu.scsi.command import Command

CONFIG = Path("/etc/devemu/lab.toml")


def build(table: dict[str, Any], base: Path) -> Any:
    return from_config(table, path=CONFIG, key="disk[0]", base_dir=base, state_dir=base / "state")


def test_minimal_table(tmp_path: Path) -> None:
    create_image(tmp_path / "data.img", 1 << 20)
    [served] = build({"image": "data.img"}, tmp_path)
    try:
        assert served.name == "data"
        assert served.kind == "disk"
        assert served.size == 1 << 20
        assert served.block_size == 512
        dev = served.device
        assert isinstance(dev, Disk)
        assert dev.identity.vendor == "DEVEMU"
        assert dev.identity.product == "VIRTUAL DISK"
        assert dev.identity.serial == "data"
        assert dev.write_cache and not dev.read_only
        status = served.control["status"]({})
        assert status["capacity"] == 2048 and status["image"] == str(tmp_path / "data.img")
        assert served.status()["allocated_bytes"] == 0
        assert (tmp_path / "state" / "disk-data.pr.json").exists()
    finally:
        served.close()


def test_every_key(tmp_path: Path) -> None:
    create_image(tmp_path / "big.img", 4 << 20, 4096)
    table = {
        "name": "db-1",
        "image": str(tmp_path / "big.img"),
        "block_size": 4096,
        "read_only": True,
        "write_cache": False,
        "vendor": "ACME",
        "product": "FAST DISK",
        "revision": "2.0",
        "serial": "SN-42",
    }
    [served] = build(table, Path("/nonexistent"))
    try:
        dev = served.device
        assert isinstance(dev, Disk)
        assert served.name == "db-1"
        assert served.block_size == 4096 and dev.capacity == 1024
        assert dev.read_only and not dev.write_cache
        assert dev.identity.vendor == "ACME" and dev.identity.serial == "SN-42"
    finally:
        served.close()


@pytest.mark.parametrize(
    ("table", "key", "reason"),
    [
        ({}, "disk[0].image", "missing"),
        ({"image": 3}, "disk[0].image", "must be a string"),
        ({"image": "nope.img"}, "disk[0].image", "does not exist"),
        ({"image": "d.img", "block_size": 1024}, "disk[0].block_size", "512 or 4096"),
        ({"image": "d.img", "block_size": True}, "disk[0].block_size", "an integer"),
        ({"image": "d.img", "read_only": "yes"}, "disk[0].read_only", "true or false"),
        ({"image": "d.img", "name": "a b"}, "disk[0].name", "A-Z a-z 0-9"),
        ({"image": "d.img", "vendor": "TOO LONG VENDOR"}, "disk[0].vendor", "longer than 8"),
        ({"image": "d.img", "product": "é"}, "disk[0].product", ""),
        ({"image": "d.img", "sizee": 1}, "disk[0].sizee", "unknown key"),
        ({"image": "odd.img"}, "disk[0].image", "not a multiple of the block size"),
        ({"image": "new.img", "size": "lots"}, "disk[0].size", "is not a size"),
        ({"image": "new.img", "size": "1000"}, "disk[0].size", "multiple of the block size"),
    ],
)
def test_refusals_name_the_key(
    tmp_path: Path, table: dict[str, Any], key: str, reason: str
) -> None:
    create_image(tmp_path / "d.img", 1 << 20)
    (tmp_path / "odd.img").write_bytes(bytes(1000))
    with pytest.raises(ConfigError) as caught:
        build(table, tmp_path)
    assert caught.value.key == key
    assert reason in caught.value.reason
    assert str(caught.value).startswith(f"{CONFIG}: {key}: ")


def test_size_creates_a_missing_image_once(tmp_path: Path) -> None:
    [served] = build({"image": "new.img", "size": "4M"}, tmp_path)
    try:
        assert (tmp_path / "new.img").stat().st_size == 4 << 20
        assert (tmp_path / "new.img").stat().st_blocks == 0  # sparse
        assert served.size == 4 << 20
    finally:
        served.close()
    # an existing image keeps its own size
    [again] = build({"image": "new.img", "size": "8M"}, tmp_path)
    try:
        assert again.size == 4 << 20
    finally:
        again.close()


def test_image_in_use_is_refused(tmp_path: Path) -> None:
    create_image(tmp_path / "d.img", 1 << 20)
    [first] = build({"image": "d.img"}, tmp_path)
    try:
        with pytest.raises(ConfigError, match="in use"):
            build({"image": "d.img", "name": "other"}, tmp_path)
    finally:
        first.close()


def test_replay_policy(tmp_path: Path) -> None:
    create_image(tmp_path / "d.img", 1 << 20)
    [served] = build({"image": "d.img"}, tmp_path)
    may_replay = served.may_replay
    try:
        assert may_replay(Command(bytes([0x28]) + bytes(9)))
        assert may_replay(Command(bytes([0x2A]) + bytes(9)))
        assert may_replay(Command(bytes([0x42]) + bytes(9)))
        assert not may_replay(Command(bytes([0x89]) + bytes(15)))
    finally:
        served.close()
