"""SANITIZE (SBC-4 5.30, 4.11): golden bytes, each action, its errors, failure mode, restarts."""

from __future__ import annotations

import errno
import json
import time
from pathlib import Path
from typing import Any

import pytest

from devemu.disk import sanitize
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage
from devemu.disk.sanitize import (
    OverwriteHeader,
    Phase,
    SanitizeCdb,
    ServiceAction,
)
from devemu.errors import ImageError
from devemu.scsi.command import Status
from devemu.scsi.sense import (
    COMMAND_SEQUENCE_ERROR,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    WRITE_PROTECTED,
    SenseKey,
)
from tests.golden import check_both_ways
from tests.unit.disk.disk_fixtures import BLOCKS, IDENTITY, Answer, execute, make_disk, rw10

IN_PROGRESS = sanitize.SANITIZE_IN_PROGRESS
FAILED = sanitize.SANITIZE_COMMAND_FAILED
TUR = bytes(6)
INQUIRY = bytes([0x12, 0, 0, 0, 96, 0])
REQUEST_SENSE = bytes([0x03, 0, 0, 0, 252, 0])
REPORT_LUNS = bytes([0xA0, 0, 0, 0, 0, 0, 0, 0, 0, 64, 0, 0])
MODE_SENSE = bytes([0x1A, 0, 0x3F, 0, 255, 0])


def cdb(action: int, *, immed: bool = False, ause: bool = False, length: int = 0) -> bytes:
    byte1 = (0x80 if immed else 0) | (0x20 if ause else 0) | action
    return bytes([0x48, byte1, 0, 0, 0, 0, 0]) + length.to_bytes(2, "big") + b"\0"


def overwrite_list(pattern: bytes, count: int = 1, *, invert: bool = False, test: int = 0) -> bytes:
    head = (0x80 if invert else 0) | (test << 5) | count
    return bytes([head, 0]) + len(pattern).to_bytes(2, "big") + pattern


def overwrite(
    dev: Disk, pattern: bytes, count: int = 1, *, immed: bool = False, **kw: Any
) -> Answer:
    data = overwrite_list(pattern, count, **kw)
    return execute(dev, cdb(1, immed=immed, length=len(data)), data)


def held(dev: Disk) -> None:
    """Background work is left to the test, which calls ``step``."""
    dev.sanitizer.background = lambda work: None


def finish(dev: Disk) -> None:
    while not dev.sanitizer.step():
        pass


def fill(dev: Disk, byte: int) -> None:
    dev.image.write_pattern(0, dev.capacity, bytes([byte]) * dev.block_size)


# --- golden bytes -----------------------------------------------------------------------


def test_cdb_golden() -> None:
    check_both_ways(
        SanitizeCdb,
        bytes.fromhex("48 a1 00 00 00 00 00 00 08 00"),
        {
            "opcode": 0x48,
            "flags": {"immed": True, "znr": False, "ause": True, "service_action": 1},
            "parameter_list_length": 8,
            "control": 0,
        },
    )


def test_overwrite_parameter_list_golden() -> None:
    check_both_ways(
        OverwriteHeader,
        bytes.fromhex("a3 00 00 04"),
        {
            "flags": {"invert": True, "test": 1, "overwrite_count": 3},
            "initialization_pattern_length": 4,
        },
    )


def test_usage_data_of_each_service_action() -> None:
    """REPORT SUPPORTED OPERATION CODES entries (SPC-5 6.35.3): what each action takes."""
    table = Disk.commands
    assert table.get(0x48, 1).usage == bytes.fromhex("48 a1 00 00 00 00 00 ff ff 00")  # type: ignore[union-attr]
    for action in (2, 3):
        spec = table.get(0x48, action)
        assert spec is not None and spec.usage == bytes([0x48, 0xA0 | action]) + bytes(8)
    assert table.get(0x48, 0x1F).usage == bytes.fromhex("48 bf 00 00 00 00 00 00 00 00")  # type: ignore[union-attr]


def test_report_supported_operation_codes_lists_them(disk: Disk) -> None:
    for action in ServiceAction:
        rsoc = bytes([0xA3, 0x0C, 0x02, 0x48, 0, action, 0, 0, 0, 64, 0, 0])
        answer = execute(disk, rsoc, data_in=64)
        assert answer.status is Status.GOOD
        assert answer.data[1] & 0x07 == 0x03  # SUPPORT: supported, to the standard


# --- the actions ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("count", "invert", "last"), [(1, False, 0x5A), (2, True, 0xA5), (3, True, 0x5A)]
)
def test_overwrite_passes_and_invert(disk: Disk, count: int, invert: bool, last: int) -> None:
    fill(disk, 0x11)
    answer = overwrite(disk, b"\x5a", count, invert=invert)
    assert answer.status is Status.GOOD
    assert disk.image.read(0, 1) == bytes([last]) * disk.block_size
    assert disk.image.read(BLOCKS - 1, 1) == bytes([last]) * disk.block_size
    assert disk.sanitizer.phase is Phase.IDLE


def test_overwrite_repeats_a_short_pattern_in_each_block(disk: Disk) -> None:
    assert overwrite(disk, b"\x01\x02\x03").status is Status.GOOD
    block = disk.image.read(7, 1)
    assert block == (b"\x01\x02\x03" * disk.block_size)[: disk.block_size]


def test_overwrite_reaches_the_file(disk: Disk, image_path: Path) -> None:
    assert overwrite(disk, b"\xc3").status is Status.GOOD
    assert set(image_path.read_bytes()) == {0xC3}


@pytest.mark.parametrize("action", [ServiceAction.BLOCK_ERASE, ServiceAction.CRYPTOGRAPHIC_ERASE])
def test_erase_punches_the_data_out_of_the_file(
    disk: Disk, image_path: Path, action: ServiceAction
) -> None:
    fill(disk, 0x77)
    disk.image.flush()
    assert disk.image.allocated_bytes() > 0
    assert execute(disk, cdb(action)).status is Status.GOOD
    assert set(image_path.read_bytes()) == {0}
    assert disk.image.allocated_bytes() == 0
    assert execute(disk, rw10(0x28, 0, 1), data_in=disk.block_size).data == bytes(disk.block_size)


# --- IMMED and what runs meanwhile -----------------------------------------------------


def test_immed_answers_at_once_and_reports_progress(disk: Disk) -> None:
    held(disk)
    answer = overwrite(disk, b"\xff", 4, immed=True)
    assert answer.status is Status.GOOD
    job = disk.sanitizer.job
    assert job is not None and job.total == 4 * BLOCKS
    tur = execute(disk, TUR)
    assert tur.status is Status.CHECK_CONDITION and tur.code == IN_PROGRESS
    assert tur.fields["sense_key_specific"] == b"\x80\x00\x00"
    disk.sanitizer.step()
    sense = execute(disk, REQUEST_SENSE, data_in=252)
    assert sense.status is Status.GOOD
    assert sense.data[2] & 0x0F == SenseKey.NOT_READY and sense.data[12:14] == b"\x04\x1b"
    progress = int.from_bytes(sense.data[16:18], "big")
    assert sense.data[15] == 0x80 and progress == job.progress > 0
    finish(disk)
    assert execute(disk, TUR).status is Status.GOOD
    assert disk.image.read(0, 1) == b"\xff" * disk.block_size  # four passes, no invert


def test_only_inquiry_report_luns_request_sense_while_running(disk: Disk) -> None:
    held(disk)
    execute(disk, cdb(ServiceAction.BLOCK_ERASE, immed=True))
    for allowed in (INQUIRY, REPORT_LUNS, REQUEST_SENSE):
        assert execute(disk, allowed, data_in=252).status is Status.GOOD
    refused = (
        TUR,
        MODE_SENSE,
        rw10(0x28, 0, 1),
        rw10(0x2A, 0, 1),
        bytes([0x25]) + bytes(9),
        cdb(ServiceAction.OVERWRITE, length=5),
        cdb(ServiceAction.EXIT_FAILURE_MODE),
        bytes([0x1B, 0, 0, 0, 1, 0]),
    )
    for command in refused:
        answer = execute(disk, command, data_in=512)
        assert answer.status is Status.CHECK_CONDITION, command.hex()
        assert answer.code == IN_PROGRESS, command.hex()
    finish(disk)
    assert execute(disk, MODE_SENSE, data_in=255).status is Status.GOOD


def test_background_thread_finishes_on_its_own(disk: Disk) -> None:
    assert overwrite(disk, b"\x42", 2, immed=True).status is Status.GOOD
    deadline = time.monotonic() + 30
    while execute(disk, TUR).status is not Status.GOOD:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert disk.image.read(3, 1) == b"\x42" * disk.block_size


# --- errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "data", "field"),
    [
        (cdb(1, length=0), b"", (7, None)),
        (cdb(1, length=4), bytes(4), (7, None)),
        (cdb(2, length=4), bytes(4), (8, 2)),
        (cdb(3, length=1), bytes(1), (8, 0)),
        (cdb(0x1F, length=256), bytes(256), (7, 0)),
        (bytes([0x48, 0x42]) + bytes(8), b"", (1, 6)),
        (bytes([0x48, 0x04]) + bytes(8), b"", (1, 4)),
        (bytes([0x48, 0x02, 1]) + bytes(7), b"", (2, 0)),
    ],
    ids=["no list", "header only", "erase list", "crypto list", "exit list", "znr", "sa", "rsvd"],
)
def test_cdb_refusals(
    disk: Disk, command: bytes, data: bytes, field: tuple[int, int | None]
) -> None:
    answer = execute(disk, command, data)
    assert answer.status is Status.CHECK_CONDITION and answer.code == INVALID_FIELD_IN_CDB
    pointer = answer.fields["sense_key_specific"]
    assert isinstance(pointer, bytes) and int.from_bytes(pointer[1:], "big") == field[0]
    assert bool(pointer[0] & 0x08) == (field[1] is not None)
    assert disk.sanitizer.phase is Phase.IDLE


def test_pattern_longer_than_a_block_is_refused_in_the_cdb(disk: Disk) -> None:
    data = overwrite_list(bytes(disk.block_size + 1))
    answer = execute(disk, cdb(1, length=len(data)), data)
    assert answer.code == INVALID_FIELD_IN_CDB


@pytest.mark.parametrize(
    ("data", "byte", "bit"),
    [
        (overwrite_list(b"\x01", 0), 0, 4),
        (bytes([1, 0, 0, 0, 0xAA]), 2, None),
        (bytes([1, 0, 0, 2, 0xAA]), 2, None),
    ],
    ids=["count 0", "pattern length 0", "pattern length past the list"],
)
def test_parameter_list_refusals(disk: Disk, data: bytes, byte: int, bit: int | None) -> None:
    fill(disk, 0x33)
    answer = execute(disk, cdb(1, length=len(data)), data)
    assert answer.code == INVALID_FIELD_IN_PARAMETER_LIST
    pointer = answer.fields["sense_key_specific"]
    assert isinstance(pointer, bytes) and pointer[0] & 0x40 == 0  # C/D=0: the parameter list
    assert int.from_bytes(pointer[1:], "big") == byte
    assert bool(pointer[0] & 0x08) == (bit is not None)
    assert disk.image.read(0, 1) == b"\x33" * disk.block_size


def test_write_protected_disk_refuses(disk: Disk) -> None:
    disk.write_protected = True
    answer = execute(disk, cdb(ServiceAction.BLOCK_ERASE))
    assert answer.code == WRITE_PROTECTED


# --- failure mode -----------------------------------------------------------------------


def failed(disk: Disk, *, ause: bool) -> Answer:
    data = overwrite_list(b"\x01", test=1)
    byte1 = 0x01 | (0x20 if ause else 0)
    return execute(disk, bytes([0x48, byte1, 0, 0, 0, 0, 0, 0, len(data), 0]), data)


def test_a_failed_sanitize_refuses_medium_access_until_exit(disk: Disk) -> None:
    answer = failed(disk, ause=True)
    assert answer.status is Status.CHECK_CONDITION and answer.code == FAILED
    assert answer.code.key is SenseKey.MEDIUM_ERROR
    for command in (TUR, rw10(0x28, 0, 1), rw10(0x2A, 0, 1)):
        assert execute(disk, command, data_in=512).code == FAILED
    assert execute(disk, INQUIRY, data_in=96).status is Status.GOOD
    assert execute(disk, MODE_SENSE, data_in=255).status is Status.GOOD
    sense = execute(disk, REQUEST_SENSE, data_in=252)
    assert sense.data[12:14] == b"\x31\x03"
    assert execute(disk, cdb(ServiceAction.EXIT_FAILURE_MODE)).status is Status.GOOD
    assert execute(disk, TUR).status is Status.GOOD


def test_exit_needs_ause_in_the_failed_sanitize(disk: Disk) -> None:
    failed(disk, ause=False)
    answer = execute(disk, cdb(ServiceAction.EXIT_FAILURE_MODE))
    assert answer.code == INVALID_FIELD_IN_CDB
    assert execute(disk, TUR).code == FAILED
    assert execute(disk, cdb(ServiceAction.BLOCK_ERASE)).status is Status.GOOD
    assert execute(disk, TUR).status is Status.GOOD


def test_exit_without_failure_is_a_sequence_error(disk: Disk) -> None:
    assert execute(disk, cdb(ServiceAction.EXIT_FAILURE_MODE)).code == COMMAND_SEQUENCE_ERROR


def test_an_io_error_fails_the_sanitize(disk: Disk, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: object, **kw: object) -> None:
        raise OSError(errno.EIO, "Input/output error")

    monkeypatch.setattr(DiskImage, "unmap", broken)
    answer = execute(disk, cdb(ServiceAction.BLOCK_ERASE, ause=True))
    assert answer.code == FAILED
    assert disk.sanitizer.phase is Phase.FAILED


def test_immed_failure_shows_in_request_sense(disk: Disk) -> None:
    held(disk)
    data = overwrite_list(b"\x01", test=2)
    assert execute(disk, cdb(1, immed=True, length=len(data)), data).status is Status.GOOD
    finish(disk)
    assert execute(disk, REQUEST_SENSE, data_in=252).data[12:14] == b"\x31\x03"


# --- restarts ---------------------------------------------------------------------------


def killed(disk: Disk) -> None:
    """What kill -9 leaves: the image let go, no stop, no last record."""
    disk.image.close()


def restarted(image_path: Path, block_size: int, state: Path) -> Disk:
    dev = Disk(DiskImage(image_path, block_size), IDENTITY)
    dev.unit_attentions.clear()
    held(dev)
    dev.set_sanitize_file(state)
    return dev


def test_a_running_sanitize_resumes_after_a_restart(
    image_path: Path, block_size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sanitize, "RECORD_INTERVAL", 0.0)
    monkeypatch.setattr(sanitize, "STEP_BYTES", 64 * block_size)
    state = tmp_path / "disk.sanitize.json"
    dev = make_disk(image_path, block_size)
    held(dev)
    dev.set_sanitize_file(state)
    assert overwrite(dev, b"\x99", 2, immed=True).status is Status.GOOD
    dev.sanitizer.step()
    recorded = json.loads(state.read_text())
    assert recorded["phase"] == "running" and recorded["done"] == 64
    killed(dev)
    again = restarted(image_path, block_size, state)
    assert again.sanitizer.job is not None and again.sanitizer.job.done == 64
    assert execute(again, TUR).code == IN_PROGRESS
    finish(again)
    assert execute(again, TUR).status is Status.GOOD
    assert json.loads(state.read_text()) == {"phase": "idle"}
    assert again.image.read(BLOCKS - 1, 1) == b"\x99" * block_size
    again.close()


def test_a_failed_sanitize_is_still_failed_after_a_restart(
    image_path: Path, block_size: int, tmp_path: Path
) -> None:
    state = tmp_path / "disk.sanitize.json"
    dev = make_disk(image_path, block_size)
    dev.set_sanitize_file(state)
    failed(dev, ause=True)
    dev.close()
    again = restarted(image_path, block_size, state)
    assert execute(again, TUR).code == FAILED
    assert execute(again, cdb(ServiceAction.EXIT_FAILURE_MODE)).status is Status.GOOD
    again.close()


def test_shutdown_records_the_progress(
    image_path: Path, block_size: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sanitize, "STEP_BYTES", 16 * block_size)
    state = tmp_path / "disk.sanitize.json"
    dev = make_disk(image_path, block_size)
    held(dev)
    dev.set_sanitize_file(state)
    overwrite(dev, b"\x01", immed=True)
    dev.sanitizer.step()
    dev.close()
    assert json.loads(state.read_text())["done"] == 16


def test_a_bad_state_file_is_named(image_path: Path, block_size: int, tmp_path: Path) -> None:
    state = tmp_path / "disk.sanitize.json"
    state.write_text('{"phase": "sideways"}')
    dev = make_disk(image_path, block_size)
    with pytest.raises(ImageError, match=r"disk\.sanitize\.json"):
        dev.set_sanitize_file(state)
    dev.close()
