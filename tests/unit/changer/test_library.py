"""The library: configured barcodes, restarts, reconciliation with drives, the operator."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devemu.changer.elements import ElementLayout, ElementType
from devemu.changer.inventory import load_state
from devemu.changer.library import Library, LibraryError
from tests.unit.changer.test_library_fakes import FakeDrive, FakeStore, make_library

SLOT1, SLOT2, SLOT3, SLOT4 = 0x400, 0x401, 0x402, 0x403
DRIVE1, DRIVE2 = 0x100, 0x101
MAIL1, MAIL2 = 0x300, 0x301


def where(library: Library) -> dict[int, str]:
    return {a: o.barcode for a, o in library.state.occupants.items()}


def reopen(
    tmp_path: Path,
    drives: list[FakeDrive] | None = None,
    barcodes: tuple[str, ...] = ("E01001L8", "E01002L8", "E01003L8"),
    **layout: int,
) -> Library:
    """A new library object over the same folder and state file (a restart)."""
    drive_list = drives or [FakeDrive("DRV0000001"), FakeDrive("DRV0000002")]
    shape = {"drives": len(drive_list), "slots": 6, "import_export": 2} | layout
    library = Library(
        "lib0",
        ElementLayout(shape["drives"], shape["slots"], shape["import_export"]),
        FakeStore(tmp_path / "tapes"),
        drive_list,
        tmp_path / "state" / "lib0.json",
    )
    library.open(barcodes)
    return library


def test_configured_barcodes_fill_the_first_slots(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    assert where(library) == {SLOT1: "E01001L8", SLOT2: "E01002L8", SLOT3: "E01003L8"}
    assert sorted(p.name for p in (tmp_path / "tapes").iterdir()) == [
        "E01001L8.tape",
        "E01002L8.tape",
        "E01003L8.tape",
    ]
    assert library.state_path.exists()


def test_existing_cartridge_files_are_kept(tmp_path: Path) -> None:
    (tmp_path / "tapes").mkdir()
    (tmp_path / "tapes" / "E01001L8.tape").write_text("E01001L8 with data")
    make_library(tmp_path)
    assert (tmp_path / "tapes" / "E01001L8.tape").read_text() == "E01001L8 with data"


def test_too_many_barcodes(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="no free slot for cartridge E01003L8"):
        make_library(tmp_path, slots=2)


def test_restart_keeps_inventory_and_reloads_drives(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    library.move(SLOT2, DRIVE2)
    library.move(SLOT1, MAIL2)
    fresh = [FakeDrive("DRV0000001"), FakeDrive("DRV0000002")]
    again = reopen(tmp_path, fresh)
    assert where(again) == {DRIVE2: "E01002L8", MAIL2: "E01001L8", SLOT3: "E01003L8"}
    assert again.state.occupants[DRIVE2].source == SLOT2
    assert fresh[1].loaded_path == tmp_path / "tapes" / "E01002L8.tape"
    assert fresh[0].loaded_path is None


def test_restart_unloads_a_drive_the_inventory_says_is_empty(tmp_path: Path) -> None:
    make_library(tmp_path)
    stray = FakeDrive("DRV0000001")
    stray.loaded_path = tmp_path / "tapes" / "E01003L8.tape"
    again = reopen(tmp_path, [stray, FakeDrive("DRV0000002")])
    assert stray.loaded_path is None
    assert where(again)[SLOT3] == "E01003L8"


def test_restart_replaces_a_different_tape_in_a_drive(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    library.move(SLOT1, DRIVE1)
    drive = FakeDrive("DRV0000001")
    drive.loaded_path = tmp_path / "tapes" / "E01002L8.tape"
    reopen(tmp_path, [drive, FakeDrive("DRV0000002")])
    assert drive.loaded_path == tmp_path / "tapes" / "E01001L8.tape"


def test_restart_leaves_a_drive_that_already_holds_its_tape(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    library.move(SLOT1, DRIVE1)
    drive = FakeDrive("DRV0000001")
    drive.loaded_path = tmp_path / "tapes" / "E01001L8.tape"
    reopen(tmp_path, [drive, FakeDrive("DRV0000002")])
    assert drive.loads == []


def test_vanished_cartridge_file_empties_its_element(tmp_path: Path) -> None:
    make_library(tmp_path)
    (tmp_path / "tapes" / "E01002L8.tape").unlink()
    again = reopen(tmp_path, barcodes=())
    assert where(again) == {SLOT1: "E01001L8", SLOT3: "E01003L8"}


def test_configured_cartridge_whose_file_vanished_comes_back_blank(tmp_path: Path) -> None:
    make_library(tmp_path)
    (tmp_path / "tapes" / "E01001L8.tape").unlink()
    again = reopen(tmp_path)
    assert where(again) == {SLOT1: "E01001L8", SLOT2: "E01002L8", SLOT3: "E01003L8"}
    assert (tmp_path / "tapes" / "E01001L8.tape").exists()


def test_new_barcode_in_the_configuration_is_added(tmp_path: Path) -> None:
    make_library(tmp_path)
    again = reopen(tmp_path, barcodes=("E01001L8", "E01002L8", "E01003L8", "E01004L8"))
    assert where(again)[SLOT4] == "E01004L8"


def test_exported_barcode_stays_out_after_restart(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    assert library.operator_export(library.layout.mtx_slot(2)) == "E01002L8"  # type: ignore[arg-type]
    again = reopen(tmp_path)
    assert "E01002L8" not in where(again).values()
    assert again.state.exported == {"E01002L8"}
    element = again.operator_import("E01002L8")
    assert element.address == MAIL1
    assert again.state.exported == set()


def test_smaller_layout_moves_cartridges_into_free_slots(tmp_path: Path) -> None:
    library = make_library(tmp_path, slots=8)
    library.move(SLOT3, 0x407)
    again = reopen(tmp_path, barcodes=(), slots=4)
    assert where(again) == {SLOT1: "E01001L8", SLOT2: "E01002L8", SLOT3: "E01003L8"}
    assert again.state.occupants[SLOT3].source is None


def test_operator_import_and_export(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    (tmp_path / "tapes" / "F00001L8.tape").write_text("F00001L8")
    assert library.operator_import("F00001L8").address == MAIL1
    assert library.state.occupants[MAIL1].operator_placed
    with pytest.raises(LibraryError, match="already in mailslot 1"):
        library.operator_import("F00001L8")
    with pytest.raises(LibraryError, match="no cartridge file"):
        library.operator_import("NOPE00L8")
    (tmp_path / "tapes" / "F00002L8.tape").write_text("F00002L8")
    (tmp_path / "tapes" / "F00003L8.tape").write_text("F00003L8")
    library.operator_import("F00002L8")
    with pytest.raises(LibraryError, match="no free import/export element"):
        library.operator_import("F00003L8")
    assert library.operator_export(library.layout.element(MAIL1)) == "F00001L8"  # type: ignore[arg-type]
    assert MAIL1 not in library.state.occupants
    saved = load_state(library.state_path)
    assert saved is not None
    assert "F00001L8" in saved.exported
    assert saved.occupants[MAIL2].operator_placed


def test_import_without_mail_slots_goes_into_a_slot(tmp_path: Path) -> None:
    library = make_library(tmp_path, import_export=0)
    (tmp_path / "tapes" / "F00001L8.tape").write_text("F00001L8")
    assert library.operator_import("F00001L8").address == SLOT4


def test_export_refusals(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    library.move(SLOT1, DRIVE1)
    drive_element = library.layout.element(DRIVE1)
    assert drive_element is not None
    with pytest.raises(LibraryError, match="only slots and mail slots"):
        library.operator_export(drive_element)
    with pytest.raises(LibraryError, match="slot 1 is empty"):
        library.operator_export(library.layout.mtx_slot(1))  # type: ignore[arg-type]


def test_mtx_slot_numbers_count_mail_slots_after_storage(tmp_path: Path) -> None:
    layout = ElementLayout(drives=1, slots=6, import_export=2)
    assert layout.mtx_slot(6) == layout.by_number(ElementType.STORAGE, 6)
    mail = layout.mtx_slot(7)
    assert mail is not None
    assert (mail.address, mail.name) == (MAIL1, "mailslot 1")
    assert layout.mtx_slot(9) is None
    assert layout.mtx_slot(0) is None


def test_status_table(tmp_path: Path) -> None:
    library = make_library(tmp_path)
    library.move(SLOT1, DRIVE1)
    status = library.status()
    assert status["library"] == "lib0"
    assert status["locked"] is False
    rows = {row["address"]: row for row in status["elements"]}
    assert rows[DRIVE1] == {
        "address": DRIVE1,
        "type": "drive",
        "number": 1,
        "barcode": "E01001L8",
        "source": SLOT1,
        "device": "drive1",
        "serial": "DRV0000001",
        "ejected": False,
        "media_type": "LTO-8",
    }
    assert rows[SLOT2]["barcode"] == "E01002L8"
    assert rows[SLOT4]["barcode"] is None
    assert 0x0001 not in rows
    json.dumps(status)


def test_layout_limits() -> None:
    with pytest.raises(ValueError, match="drives must be 1 to 512"):
        ElementLayout(drives=0, slots=1)
    with pytest.raises(ValueError, match="slots must be"):
        ElementLayout(drives=1, slots=0x10000)
    with pytest.raises(ValueError, match="import_export must be 0 to 256"):
        ElementLayout(drives=1, slots=1, import_export=257)
    ElementLayout(drives=512, slots=0xFC00, import_export=256)
