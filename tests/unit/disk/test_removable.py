"""Removable disks and live write protection: commands, control ops, restarts."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devemu.control_protocol import dispatch
from devemu.disk.config import from_config
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage, create_image
from devemu.disk.removable import MediumError, PreventAllowCdb, RemovableDisk, set_protection
from devemu.errors import ImageError
from devemu.scsi.command import Status
from devemu.scsi.sense import (
    INVALID_COMMAND_OPERATION_CODE,
    INVALID_FIELD_IN_CDB,
    MEDIUM_NOT_PRESENT,
    MEDIUM_REMOVAL_PREVENTED,
    MODE_PARAMETERS_CHANGED,
    NOT_READY_TO_READY_CHANGE,
    WRITE_PROTECTED,
)
from tests.golden import check_both_ways
from tests.unit.disk.disk_fixtures import IDENTITY, execute, make_disk, make_image, rw10

TUR = bytes(6)
INQUIRY = bytes([0x12, 0, 0, 0, 96, 0])
EJECT = bytes([0x1B, 0, 0, 0, 0x02, 0])
LOAD = bytes([0x1B, 0, 0, 0, 0x03, 0])
PREVENT = bytes([0x1E, 0, 0, 0, 1, 0])
ALLOW = bytes([0x1E, 0, 0, 0, 0, 0])
GESN_MEDIA = bytes([0x4A, 1, 0, 0, 1 << 4, 0, 0, 0, 8, 0])
MODE_SENSE = bytes([0x1A, 0, 0x3F, 0, 255, 0])
READ_CAPACITY = bytes([0x25]) + bytes(9)
CONFIG = Path("/etc/devemu/lab.toml")


@pytest.fixture
def rdisk(tmp_path: Path) -> Any:
    path = make_image(tmp_path / "rdx.img")
    dev = RemovableDisk(DiskImage(path), IDENTITY, roots=[tmp_path])
    dev.unit_attentions.clear()
    yield dev
    dev.close()


def media_event(dev: Disk) -> tuple[int, int]:
    data = execute(dev, GESN_MEDIA, data_in=8).data
    assert data[2] == 4  # media class
    return data[4], data[5]


def test_prevent_allow_cdb_golden() -> None:
    check_both_ways(
        PreventAllowCdb,
        bytes.fromhex("1e 00 00 00 01 00"),
        {
            "opcode": 0x1E,
            "reserved": bytes(3),
            "flags": {"reserved": 0, "prevent": 1},
            "control": 0,
        },
    )


def test_rmb_follows_the_class(rdisk: RemovableDisk, disk: Disk) -> None:
    assert execute(rdisk, INQUIRY, data_in=96).data[1] & 0x80
    assert not execute(disk, INQUIRY, data_in=96).data[1] & 0x80


def test_a_fixed_disk_refuses_the_removable_commands(disk: Disk) -> None:
    assert execute(disk, PREVENT).code == INVALID_COMMAND_OPERATION_CODE
    assert execute(disk, GESN_MEDIA, data_in=8).code == INVALID_COMMAND_OPERATION_CODE
    answer = execute(disk, EJECT)
    assert answer.code == INVALID_FIELD_IN_CDB


def test_eject_and_load(rdisk: RemovableDisk) -> None:
    assert media_event(rdisk) == (0, 0x02)
    assert execute(rdisk, EJECT).status is Status.GOOD
    for command in (TUR, READ_CAPACITY, rw10(0x28, 0, 1)):
        assert execute(rdisk, command, data_in=512).code == MEDIUM_NOT_PRESENT
    assert media_event(rdisk) == (3, 0x00)  # MediaRemoval, no medium
    assert execute(rdisk, LOAD).status is Status.GOOD
    assert execute(rdisk, TUR).code == NOT_READY_TO_READY_CHANGE
    assert execute(rdisk, TUR).status is Status.GOOD
    assert media_event(rdisk) == (2, 0x02)  # NewMedia, present
    assert media_event(rdisk) == (0, 0x02)


def test_prevention_refuses_eject(rdisk: RemovableDisk) -> None:
    assert execute(rdisk, PREVENT).status is Status.GOOD
    assert execute(rdisk, EJECT).code == MEDIUM_REMOVAL_PREVENTED
    with pytest.raises(MediumError, match="prevents medium removal"):
        rdisk.eject()
    assert media_event(rdisk) == (1, 0x02)  # EjectRequest
    assert execute(rdisk, ALLOW).status is Status.GOOD
    assert execute(rdisk, EJECT).status is Status.GOOD


def test_forced_eject_ends_prevention(rdisk: RemovableDisk) -> None:
    execute(rdisk, PREVENT)
    rdisk.eject(force=True)
    assert not rdisk.loaded and not rdisk.prevented


def test_obsolete_prevent_values_are_refused(rdisk: RemovableDisk) -> None:
    answer = execute(rdisk, bytes([0x1E, 0, 0, 0, 2, 0]))
    assert answer.code == INVALID_FIELD_IN_CDB


def test_insert_another_image(rdisk: RemovableDisk, tmp_path: Path) -> None:
    other = tmp_path / "big.img"
    create_image(other, 4096 * 512)
    rdisk.insert(other)
    assert execute(rdisk, TUR).code == NOT_READY_TO_READY_CHANGE
    data = execute(rdisk, READ_CAPACITY, data_in=8).data
    assert int.from_bytes(data[:4], "big") == 4095
    assert rdisk.image.path == other


def test_insert_refuses_paths_outside_the_roots(rdisk: RemovableDisk, tmp_path: Path) -> None:
    outside = tmp_path.parent / f"{tmp_path.name}-elsewhere.img"
    create_image(outside, 1 << 20)
    try:
        with pytest.raises(MediumError, match="outside the folders"):
            rdisk.insert(outside)
        link = tmp_path / "link.img"
        link.symlink_to(outside)
        with pytest.raises(MediumError, match="outside the folders"):
            rdisk.insert(link)
        with pytest.raises(ImageError):
            rdisk.insert(tmp_path / "missing.img")
    finally:
        outside.unlink()
    assert rdisk.loaded and execute(rdisk, TUR).status is Status.GOOD


@pytest.mark.parametrize(
    ("removable", "attention"),
    [(False, MODE_PARAMETERS_CHANGED), (True, NOT_READY_TO_READY_CHANGE)],
)
def test_protection_live(tmp_path: Path, removable: bool, attention: object) -> None:
    path = make_image(tmp_path / "d.img")
    dev = RemovableDisk(DiskImage(path), IDENTITY) if removable else make_disk(path)
    dev.unit_attentions.clear()
    assert not execute(dev, MODE_SENSE, data_in=255).data[2] & 0x80
    set_protection(dev, True)
    assert execute(dev, TUR).code == attention
    assert execute(dev, MODE_SENSE, data_in=255).data[2] & 0x80
    answer = execute(dev, rw10(0x2A, 0, 1), bytes(512))
    assert answer.code == WRITE_PROTECTED
    assert execute(dev, rw10(0x28, 0, 1), data_in=512).status is Status.GOOD
    set_protection(dev, True)
    assert execute(dev, TUR).status is Status.GOOD  # no change, no attention
    set_protection(dev, False)
    assert execute(dev, TUR).code == attention
    assert execute(dev, rw10(0x2A, 0, 1), bytes(512)).status is Status.GOOD
    dev.close()


def test_a_read_only_image_stays_protected(tmp_path: Path) -> None:
    dev = make_disk(make_image(tmp_path / "d.img"), read_only=True)
    with pytest.raises(MediumError, match="read_only"):
        set_protection(dev, False)
    dev.close()


# --- through the configuration and the control socket ------------------------------------


def build(tmp_path: Path, **table: Any) -> Any:
    [served] = from_config(
        {"image": "r.img", **table},
        path=CONFIG,
        key="disk[0]",
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
    )
    return served


def ask(served: Any, op: str, **args: Any) -> dict[str, Any]:
    return dispatch({served.name: served}, {"op": op, "device": served.name, "args": args})


def test_state_survives_a_restart(tmp_path: Path) -> None:
    create_image(tmp_path / "r.img", 1 << 20)
    create_image(tmp_path / "s.img", 2 << 20)
    served = build(tmp_path, removable=True)
    assert ask(served, "protect", on=True)["ok"]
    assert ask(served, "insert", image=str(tmp_path / "s.img"))["ok"]
    served.device.unit_attentions.clear()
    assert execute(served.device, EJECT).status is Status.GOOD
    served.close()
    again = build(tmp_path, removable=True)
    dev = again.device
    assert isinstance(dev, RemovableDisk)
    assert dev.write_protected and not dev.loaded and dev.image.path == tmp_path / "s.img"
    dev.unit_attentions.clear()
    assert execute(dev, LOAD).status is Status.GOOD
    assert dev.capacity == 4096
    status = ask(again, "status")["result"]
    assert status["loaded"] and status["write_protected"] and status["image"].endswith("s.img")
    again.close()


def test_fixed_disk_protection_survives_a_restart(tmp_path: Path) -> None:
    create_image(tmp_path / "r.img", 1 << 20)
    served = build(tmp_path)
    assert "insert" not in served.control
    assert ask(served, "protect", on=True)["ok"]
    served.close()
    again = build(tmp_path)
    assert again.device.write_protected
    again.close()


@pytest.mark.parametrize(
    ("op", "args", "message"),
    [
        ("protect", {"on": "yes"}, "on"),
        ("protect", {}, "protect needs 'on'"),
        ("protect", {"on": True, "extra": 1}, "extra"),
        ("insert", {"image": 5}, "image"),
        ("insert", {"image": "/etc/passwd"}, "outside the folders"),
        ("insert", {"image": ""}, "insert needs 'image'"),
        ("eject", {"force": "false"}, "force"),
    ],
)
def test_control_refusals(tmp_path: Path, op: str, args: dict[str, Any], message: str) -> None:
    create_image(tmp_path / "r.img", 1 << 20)
    served = build(tmp_path, removable=True)
    reply = ask(served, op, **args)
    assert reply["ok"] is False and message in reply["error"]
    assert served.device.loaded and not served.device.write_protected
    served.close()


def test_insert_refused_during_a_sanitize(rdisk: RemovableDisk, tmp_path: Path) -> None:
    rdisk.sanitizer.background = lambda work: None
    assert execute(rdisk, bytes([0x48, 0x82]) + bytes(8)).status is Status.GOOD
    with pytest.raises(MediumError, match="sanitized"):
        rdisk.eject()
    while not rdisk.sanitizer.step():
        pass
