"""Cartridges tell acknowledged data lost from a torn tail, and say which file is bad.

The sync mark in the header counts the records an fdatasync made durable;
a file cut or damaged inside them is an error naming the record, only a
tail past them is cut (and logged). A library checks its cartridges at
start; ``devemu tape create`` takes LTO bar code labels only.
"""

from __future__ import annotations

import json
import logging
import os
import tomllib
from pathlib import Path

import pytest

from devemu.changer import config as library_config
from devemu.cli import main
from devemu.errors import ConfigError, ImageError
from devemu.tape.cartridge import Cartridge
from devemu.tape.cartridge_check import check_cartridge, check_cartridge_folder
from devemu.tape.media import MEDIA, check_volume_label, media_identifier
from devemu.tape.records import (
    CURRENT,
    ENTRY_HEADER_SIZE,
    HEADER_SIZE,
    SYNC_MARK_SIZE,
    SYNC_MARKS_OFFSET,
)
from tests.unit.changer.test_library_config import fake_drive

pack_sync_mark = CURRENT.pack_sync_mark
sync_marks = CURRENT.sync_marks
unpack_sync_mark = CURRENT.unpack_sync_mark


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "A00001L8.tape"


def _synced_then_unsynced(path: Path) -> tuple[int, int]:
    """Records 1-3 synced (SYNC is record 4), records 5-6 not; (synced end, file end)."""
    with Cartridge.create(path, "A00001L8") as cart:
        cart.write_block(0, 0, [b"A" * 1000])
        cart.write_block(0, 1, [b"B" * 1000])
        cart.write_filemarks(0, 2, 1)
        cart.flush()
        synced_end = cart.durable[1]
        cart.write_block(0, 3, [b"C" * 500])
        cart.write_block(0, 4, [b"D" * 500])
        end = cart.file_size
        cart._dirty = False  # a crash: no flush on close
    return synced_end, end


def test_the_sync_mark_counts_what_fdatasync_made_durable(path: Path) -> None:
    synced_end, end = _synced_then_unsynced(path)
    assert synced_end == HEADER_SIZE + 2 * (ENTRY_HEADER_SIZE + 1000) + ENTRY_HEADER_SIZE
    header = path.read_bytes()[:HEADER_SIZE]
    assert sync_marks(header) == [(3, synced_end), None]
    with Cartridge.open(path, read_only=True) as cart:
        assert cart.durable == (3, synced_end)
        assert cart.entries == 6 and cart.file_size == end


@pytest.mark.parametrize("cut_in", ["record 1", "record 2 payload", "record 3", "the SYNC"])
def test_a_cut_inside_synced_records_is_an_error_naming_the_record(path: Path, cut_in: str) -> None:
    synced_end, _end = _synced_then_unsynced(path)
    cut, record = {
        "record 1": (HEADER_SIZE + 20, 1),
        "record 2 payload": (HEADER_SIZE + ENTRY_HEADER_SIZE + 1000 + 100, 2),
        "record 3": (synced_end - 1, 3),
        "the SYNC": (synced_end + 10, None),
    }[cut_in]
    os.truncate(path, cut)
    if record is None:  # past what the mark counts: a torn tail, recovered
        with Cartridge.open(path) as cart:
            assert cart.entries == 3 and cart.eod(0) == 3
        assert path.stat().st_size == synced_end
        return
    for read_only in (True, False):
        with pytest.raises(ImageError) as err:
            Cartridge.open(path, read_only=read_only)
        assert err.value.path == path
        assert err.value.where is not None and err.value.where.startswith(f"record {record} ")
        assert "synchronised record" in err.value.reason and "lost" in err.value.reason
        assert path.stat().st_size == cut  # nothing cut: the evidence stays


def test_a_file_ending_exactly_between_synced_records_is_an_error(path: Path) -> None:
    _synced_then_unsynced(path)
    os.truncate(path, HEADER_SIZE + ENTRY_HEADER_SIZE + 1000)  # records 2 and 3 gone whole
    with pytest.raises(ImageError) as err:
        Cartridge.open(path, read_only=True)
    assert err.value.where == f"record 2 at offset {HEADER_SIZE + ENTRY_HEADER_SIZE + 1000}"
    assert "is missing: the file ends there" in err.value.reason


def test_a_damaged_synced_record_whose_sync_entry_was_lost_is_an_error(path: Path) -> None:
    synced_end, _ = _synced_then_unsynced(path)
    raw = bytearray(path.read_bytes()[:synced_end])  # the SYNC entry never reached the disc
    raw[HEADER_SIZE + ENTRY_HEADER_SIZE + 5] ^= 0x01  # record 1's payload
    path.write_bytes(bytes(raw))
    with pytest.raises(ImageError) as err:
        Cartridge.open(path)
    assert err.value.where == f"record 1 at offset {HEADER_SIZE}"
    assert "payload CRC mismatch" in err.value.reason


def test_an_unsynced_tail_is_cut_and_the_cut_is_logged(
    path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    synced_end, end = _synced_then_unsynced(path)
    after_sync = synced_end + ENTRY_HEADER_SIZE
    os.truncate(path, end - 7)
    with (
        caplog.at_level(logging.WARNING, logger="devemu.tape.cartridge"),
        Cartridge.open(path) as cart,
    ):
        assert cart.eod(0) == 4  # C survived, D was torn
        kept = cart.file_size
    dropped = end - 7 - kept
    assert kept == after_sync + ENTRY_HEADER_SIZE + 500
    lines = [r.getMessage() for r in caplog.records]
    assert lines == [
        f"{path}: cut a torn tail at offset {kept}: {dropped} bytes never synchronised dropped"
    ]


def test_a_torn_mark_leaves_the_other_one(path: Path) -> None:
    with Cartridge.create(path, "A00001L8") as cart:
        cart.write_block(0, 0, [b"x"])
        cart.flush()
        first = cart.durable
        cart.write_block(0, 1, [b"y"])
        cart.flush()
        second = cart.durable
    raw = bytearray(path.read_bytes())
    assert sync_marks(bytes(raw[:HEADER_SIZE])) == [first, second]
    raw[SYNC_MARKS_OFFSET + SYNC_MARK_SIZE + 9] ^= 0xFF  # the newer mark, torn
    path.write_bytes(bytes(raw))
    with Cartridge.open(path) as cart:
        assert cart.durable == first and cart.eod(0) == 2
        cart.write_block(0, 2, [b"z"])
    # the next mark goes to the damaged slot, keeping the good one
    marks = sync_marks(path.read_bytes()[:HEADER_SIZE])
    assert marks[0] == first and marks[1] is not None and marks[1][0] > first[0]


def test_sync_mark_round_trip() -> None:
    raw = pack_sync_mark(41, 123456)
    assert len(raw) == SYNC_MARK_SIZE and raw[:4] == b"SYNC"
    assert unpack_sync_mark(raw) == (41, 123456)
    assert unpack_sync_mark(bytes(SYNC_MARK_SIZE)) is None
    assert unpack_sync_mark(raw[:5] + bytes([raw[5] ^ 1]) + raw[6:]) is None


def test_a_mark_for_another_journal_is_an_error(path: Path, tmp_path: Path) -> None:
    _synced_then_unsynced(path)
    raw = bytearray(path.read_bytes())
    raw[SYNC_MARKS_OFFSET : SYNC_MARKS_OFFSET + SYNC_MARK_SIZE] = pack_sync_mark(2, 5000)
    path.write_bytes(bytes(raw))
    with pytest.raises(ImageError, match="the journal is not the one the mark was written for"):
        Cartridge.open(path, read_only=True)


@pytest.mark.parametrize("damage", ["random", "header_crc", "folder", "empty"])
def test_bad_cartridge_files_are_one_line_errors(tmp_path: Path, damage: str) -> None:
    bad = tmp_path / "B00001L8.tape"
    if damage == "folder":
        bad.mkdir()
    elif damage == "empty":
        bad.write_bytes(b"")
    else:
        Cartridge.create(bad, "B00001L8").close()
        raw = bytearray(bad.read_bytes())
        if damage == "random":
            raw[:] = os.urandom(len(raw) + 5000)
        else:
            raw[20] ^= 0x10
        bad.write_bytes(bytes(raw))
    with pytest.raises(ImageError) as err:
        Cartridge.open(bad, read_only=True)
    assert err.value.path == bad and "\n" not in str(err.value)
    assert check_cartridge(bad) == str(err.value)


def test_check_cartridge_flags_a_barcode_that_is_not_the_file_name(tmp_path: Path) -> None:
    good = tmp_path / "C00001L8.tape"
    Cartridge.create(good, "C00001L8").close()
    assert check_cartridge(good) is None
    renamed = tmp_path / "C00002L8.tape"
    good.rename(renamed)
    assert check_cartridge(renamed) == (
        f"{renamed}: header barcode 'C00001L8' differs from the file name 'C00002L8.tape'"
    )
    assert check_cartridge_folder(tmp_path) == [check_cartridge(renamed)]
    assert check_cartridge_folder(tmp_path / "none") == []


LIBRARY = """
name = "vtl0"
directory = "tapes"
slots = 4
barcodes = ["E01001L8", "E01002L8"]
[[drives]]
name = "vtl0-d0"
"""


def _library(tmp_path: Path) -> object:
    return library_config.from_config(
        tomllib.loads(LIBRARY),
        path=tmp_path / "devemu.toml",
        key="library[0]",
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
        make_drive=fake_drive,
    )


def test_library_start_names_the_bad_cartridges(tmp_path: Path) -> None:
    _library(tmp_path)  # creates both cartridges
    tapes = tmp_path / "tapes"
    assert sorted(p.name for p in tapes.iterdir()) == ["E01001L8.tape", "E01002L8.tape"]
    _library(tmp_path)  # good cartridges: starts again
    raw = bytearray((tapes / "E01002L8.tape").read_bytes())
    raw[30] ^= 0x01
    (tapes / "E01002L8.tape").write_bytes(bytes(raw))
    (tapes / "E01001L8.tape").rename(tapes / "E01009L8.tape")
    with pytest.raises(ConfigError) as err:
        _library(tmp_path)
    assert err.value.key == "library[0].directory"
    assert err.value.reason.startswith("2 bad cartridge(s): ")
    assert "E01002L8.tape: offset 4092: bad header: CRC" in err.value.reason
    assert "header barcode 'E01001L8' differs from the file name 'E01009L8.tape'" in str(err.value)
    assert "\n" not in str(err.value)


# --- the command line ------------------------------------------------------------------------


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err.strip()


def test_tape_and_image_info_fail_on_lost_synced_records(
    path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    synced_end, _ = _synced_then_unsynced(path)
    code, out, err = _run(["tape", "info", str(path)], capsys)
    assert code == 0 and "torn tail" not in out and "synced:      3 entries" in out
    os.truncate(path, synced_end - 100)
    for argv in (["tape", "info", str(path)], ["image", "info", str(path)]):
        code, out, err = _run(argv, capsys)
        assert code == 1 and out == "", argv
        assert err.startswith(f"devemu: {path}: record 2 at offset ") and "\n" not in err


def test_image_info_describes_a_cartridge(path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    Cartridge.create(path, "A00001L8").close()
    code, out, _err = _run(["image", "info", str(path)], capsys)
    assert code == 0 and "barcode:     A00001L8" in out
    code, out, _err = _run(["image", "info", "--json", str(path)], capsys)
    facts = json.loads(out)
    assert code == 0 and (facts["kind"], facts["barcode"], facts["synced_entries"]) == (
        "cartridge",
        "A00001L8",
        0,
    )


def test_tape_info_flags_a_barcode_that_is_not_the_file_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Cartridge.create(tmp_path / "A00001L8.tape", "A00001L8").close()
    (tmp_path / "A00001L8.tape").rename(tmp_path / "Z00001L8.tape")
    code, out, _err = _run(["tape", "info", str(tmp_path / "Z00001L8.tape")], capsys)
    assert code == 0
    assert "warning:     " in out and "differs from the file name 'Z00001L8.tape'" in out


def test_tape_create_makes_the_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "new" / "tapes"
    code, out, _err = _run(["tape", "create", "E01001L8", "--dir", str(folder)], capsys)
    assert code == 0 and out.strip() == str(folder / "E01001L8.tape")
    assert check_cartridge(folder / "E01001L8.tape") is None
    code, _out, err = _run(["tape", "create", "E01001L8", "--dir", str(folder)], capsys)
    assert code == 1 and err.endswith("E01001L8.tape: already exists")


@pytest.mark.parametrize(
    ("argv", "status", "message"),
    [
        (["../../evil"], 2, "barcode '../../evil': '.' is not allowed; use A-Z and 0-9"),
        (["EVIL/../../X"], 2, "'/' is not allowed"),
        (
            ["a00001l8"],
            2,
            "barcode 'a00001l8' has lowercase letters; LTO labels are uppercase: 'A00001L8'",
        ),
        (["A00001L7"], 2, "ends in L7, but the media identifier of LTO-8 is L8"),
        (["A00001L8", "--worm"], 2, "media identifier of WORM LTO-8 is LY"),
        (["A00001L8", "--type", "LTO-7M8"], 2, "media identifier of LTO-7M8 is M8"),
        (["A0001L8"], 2, "has 7 characters, not 8"),
        (["A00001L8X"], 2, "has 9 characters, not 8"),
        ([""], 2, "has 0 characters"),
    ],
)
def test_tape_create_refuses_bad_labels_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    status: int,
    message: str,
) -> None:
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    code, _out, err = _run(["tape", "create", *argv, "--dir", str(work / "tapes")], capsys)
    assert (code, "\n" in err) == (status, False)
    assert message in err, err
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_tape_create_dir_that_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "file").write_text("x")
    code, _out, err = _run(["tape", "create", "E01001L8", "--dir", str(tmp_path / "file")], capsys)
    assert code == 1 and err == f"devemu: {tmp_path / 'file'}: is not a folder"


def test_a_folder_given_as_a_cartridge(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["tape", "info", str(tmp_path)], ["tape", "dump", str(tmp_path)]):
        code, _out, err = _run(argv, capsys)
        assert (code, err) == (1, f"devemu: {tmp_path}: is a folder, not a cartridge file")


@pytest.mark.parametrize(
    ("media", "worm", "suffix"),
    [
        ("LTO-3", True, "LT"),
        ("LTO-5", False, "L5"),
        ("LTO-6", True, "LW"),
        ("LTO-7M8", False, "M8"),
        ("LTO-8", True, "LY"),
        ("LTO-9", False, "L9"),
        ("LTO-9", True, "LZ"),
    ],
)
def test_media_identifiers(media: str, worm: bool, suffix: str) -> None:
    medium = MEDIA[media]
    assert media_identifier(medium, worm) == suffix
    assert check_volume_label(f"ABC123{suffix}", medium, worm) == f"ABC123{suffix}"
    with pytest.raises(ValueError, match="no WORM LTO-7 Type M"):
        media_identifier(MEDIA["LTO-7M8"], worm=True)
