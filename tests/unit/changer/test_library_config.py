"""``[[library]]`` tables: the schema, its refusals, and what gets served."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from devemu.changer import config as library_config
from devemu.changer.device import MediumChanger
from devemu.changer.library import LibraryError
from devemu.errors import ConfigError
from devemu.scsi.command import Command
from devemu.scsi.identity import Identity
from devemu.served import ServedDevice
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive
from devemu.tape.media import medium_type
from tests.unit.changer.test_library_fakes import FakeDrive

made: list[tuple[Identity, str, Path]] = []


class ConfigDrive(FakeDrive):
    # The replay policy of the real drive, read from its table.
    commands = TapeDrive.commands
    replays_only_unchanging = True
    may_replay = TapeDrive.may_replay

    def close(self) -> None:
        pass

    def status(self) -> dict[str, object]:
        return {"loaded": self.loaded_path}


def fake_drive(identity: Identity, kind: str, state_dir: Path) -> Any:
    made.append((identity, kind, state_dir))
    drive = ConfigDrive(identity.serial)
    drive.identity = identity
    return drive


BASIC = """
name = "vtl0"
directory = "tapes"
slots = 8
import_export = 2
barcode_prefix = "E01"
count = 3
[[drives]]
name = "vtl0-d0"
[[drives]]
name = "vtl0-d1"
type = "LTO-9"
serial = "HU1234567A"
"""


def build(tmp_path: Path, text: str = BASIC) -> list[ServedDevice]:
    made.clear()
    return library_config.from_config(
        tomllib.loads(text),
        path=tmp_path / "devemu.toml",
        key="library[0]",
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
        make_drive=fake_drive,
    )


def test_basic_library(tmp_path: Path) -> None:
    served = build(tmp_path)
    assert [(s.name, s.kind) for s in served] == [
        ("vtl0", "changer"),
        ("vtl0-d0", "tape"),
        ("vtl0-d1", "tape"),
    ]
    changer = served[0].device
    assert isinstance(changer, MediumChanger)
    library = changer.library
    assert library.layout.slots == 8
    assert library.layout.import_export == 2
    assert sorted(o.barcode for o in library.state.occupants.values()) == [
        "E01001L8",
        "E01002L8",
        "E01003L8",
    ]
    assert sorted(p.name for p in (tmp_path / "tapes").iterdir()) == [
        "E01001L8.tape",
        "E01002L8.tape",
        "E01003L8.tape",
    ]
    assert library.state_path == tmp_path / "state" / "library" / "vtl0.json"
    (id0, kind0, dir0), (id1, kind1, _) = made
    assert (id0.vendor, id0.product, kind0) == ("IBM", "ULT3580-TD8", "LTO-8")
    assert (id1.product, id1.serial, kind1) == ("ULT3580-TD9", "HU1234567A", "LTO-9")
    assert dir0 == tmp_path / "state" / "tape" / "vtl0-d0"
    assert len(id0.serial) == 10
    assert changer.identity.vendor == "DEVEMU"
    assert changer.identity.serial.startswith("LIB")


def test_serials_are_stable(tmp_path: Path) -> None:
    first = build(tmp_path)
    second = build(tmp_path / "other")
    assert first[0].device.identity == second[0].device.identity
    assert first[1].device.identity == second[1].device.identity


def test_replay_policy(tmp_path: Path) -> None:
    changer, drive, _ = build(tmp_path)
    for opcode, replay in ((0xA5, False), (0xA6, False), (0xB8, True), (0x00, True), (0x07, True)):
        assert changer.may_replay(Command(bytes([opcode]) + bytes(11))) is replay
    assert drive.may_replay(Command(bytes([0x0A, 1, 0, 0, 1, 0]))) is False  # WRITE(6)
    assert drive.may_replay(Command(bytes([0x12, 0, 0, 0, 36, 0]))) is True  # INQUIRY


def test_control_ops(tmp_path: Path) -> None:
    changer = build(tmp_path)[0]
    (tmp_path / "tapes" / "F00001L8.tape").write_text("F00001L8")
    assert changer.control["import"]({"barcode": "F00001L8"}) == {
        "barcode": "F00001L8",
        "element": "mailslot 1",
        "address": 0x300,
        "slot": 9,
    }
    assert changer.control["export"]({"slot": 9})["barcode"] == "F00001L8"
    assert changer.control["export"]({"slot": "2"}) == {
        "barcode": "E01002L8",
        "element": "slot 2",
        "address": 0x401,
    }
    assert changer.control["export"]({"slot": "0x0400"})["barcode"] == "E01001L8"
    with pytest.raises(LibraryError, match="slots are 1 to 10"):
        changer.control["export"]({"slot": 11})
    with pytest.raises(LibraryError, match="no slot"):
        changer.control["export"]({"slot": "0x0100"})
    with pytest.raises(LibraryError, match="import needs a barcode"):
        changer.control["import"]({})
    status = changer.status()
    assert status["exported"] == ["E01001L8", "E01002L8", "F00001L8"]


def test_explicit_barcodes_and_identity(tmp_path: Path) -> None:
    text = """
name = "lib"
directory = "/abs/ignored"
slots = 2
barcodes = ["AAA001L7", "BBB001L7"]
media_type = "LTO-7"
vendor = "ACME"
product = "ROBOT"
serial = "R1"
drives = [{name = "d0", type = "LTO-7"}]
"""
    text = text.replace("/abs/ignored", str(tmp_path / "abs"))
    served = build(tmp_path, text)
    library = served[0].device.library  # type: ignore[attr-defined]
    assert library.store.folder == tmp_path / "abs"
    assert library.store.media_type == "LTO-7"
    assert served[0].device.identity == Identity("ACME", "ROBOT", "0100", "R1")


def test_media_type_picks_the_barcode_suffix(tmp_path: Path) -> None:
    text = BASIC.replace("count = 3", 'count = 2\nmedia_type = "LTO-7M8"\nbarcode_start = 41')
    library = build(tmp_path, text)[0].device.library  # type: ignore[attr-defined]
    assert sorted(o.barcode for o in library.state.occupants.values()) == [
        "E01041M8",
        "E01042M8",
    ]


@pytest.mark.parametrize(
    ("change", "key", "reason"),
    [
        (("slots = 8", ""), "library[0].slots", "is required"),
        (("slots = 8", "slots = 0"), "library[0].slots", "from 1 to 64512"),
        (("slots = 8", "slots = true"), "library[0].slots", "integer"),
        (('name = "vtl0"', ""), "library[0].name", "is required"),
        (('directory = "tapes"', ""), "library[0].directory", "is required"),
        (("import_export = 2", "import_export = 300"), "library[0].import_export", "0 to 256"),
        (("import_export = 2", "colour = 2"), "library[0].colour", "unknown key"),
        (
            ('barcode_prefix = "E01"', 'barcode_prefix = "E01234"'),
            "library[0].barcode_prefix",
            "no room",
        ),
        (("count = 3", "count = 1000"), "library[0].count", "more than 3 digits"),
        (
            ("count = 3", 'count = 3\nauto_unload = "no"'),
            "library[0].auto_unload",
            "must be true or false",
        ),
        (("count = 3", 'count = 3\nbarcodes = ["X"]'), "library[0].barcodes", "either"),
        (("count = 3", 'count = 3\ncapacity = "lots"'), "library[0].capacity", "not a size"),
        (("count = 3", 'count = 3\ncapacity = "0M"'), "library[0].capacity", "more than 0"),
        (("count = 3", "count = 3\ncapacity = 8"), "library[0].capacity", "string"),
        (
            ("count = 3", 'count = 3\nmedia_type = "LTO-2"'),
            "library[0].media_type",
            "unknown media",
        ),
        (
            ('name = "vtl0-d0"', 'name = "vtl0-d0"\ntype = "DLT"'),
            "library[0].drives[0].type",
            "unknown drive",
        ),
        (
            ('name = "vtl0-d0"', 'name = "vtl0-d0"\nspeed = 1'),
            "library[0].drives[0].speed",
            "unknown key",
        ),
        (
            ('name = "vtl0-d0"', 'name = "vtl0-d0"\nvendor = "WAY TOO LONG"'),
            "library[0].drives[0].vendor",
            "longer than 8",
        ),
        (('name = "vtl0-d0"', ""), "library[0].drives[0].name", "is required"),
    ],
)
def test_refusals(tmp_path: Path, change: tuple[str, str], key: str, reason: str) -> None:
    text = BASIC.replace(change[0], change[1], 1)
    with pytest.raises(ConfigError, match=reason) as info:
        build(tmp_path, text)
    assert info.value.key == key
    assert info.value.path == tmp_path / "devemu.toml"


@pytest.mark.parametrize("line,expected", [("", True), ("auto_unload = false\n", False)])
def test_auto_unload(tmp_path: Path, line: str, expected: bool) -> None:
    changer = build(tmp_path, line + BASIC)[0].device
    assert isinstance(changer, MediumChanger)
    assert changer.library.auto_unload is expected


@pytest.mark.parametrize(
    ("line", "expected"), [("", medium_type("LTO-8").capacity), ('capacity = "8M"\n', 8 << 20)]
)
def test_capacity_of_the_cartridges_the_library_creates(
    tmp_path: Path, line: str, expected: int
) -> None:
    # A cartridge already in the folder keeps its own capacity.
    (tmp_path / "tapes").mkdir()
    Cartridge.create(tmp_path / "tapes" / "E01002L8.tape", "E01002L8", capacity=1 << 20).close()
    build(tmp_path, line + BASIC)
    capacities = {}
    for barcode in ("E01001L8", "E01002L8", "E01003L8"):
        with Cartridge.open(tmp_path / "tapes" / f"{barcode}.tape", read_only=True) as cart:
            capacities[barcode] = cart.capacity
    assert capacities == {"E01001L8": expected, "E01002L8": 1 << 20, "E01003L8": expected}


def test_library_needs_drives(tmp_path: Path) -> None:
    text = BASIC.split("[[drives]]", maxsplit=1)[0]
    with pytest.raises(ConfigError, match="at least one") as info:
        build(tmp_path, text)
    assert info.value.key == "library[0].drives"


def test_bad_barcodes(tmp_path: Path) -> None:
    for barcodes, reason in ((["A B"], "use 1-32"), (["A1", "A1"], "listed twice")):
        text = BASIC.replace('barcode_prefix = "E01"\ncount = 3', f"barcodes = {barcodes!r}")
        text = text.replace("'", '"')
        with pytest.raises(ConfigError, match=reason):
            build(tmp_path, text)


def test_more_barcodes_than_slots(tmp_path: Path) -> None:
    text = BASIC.replace("count = 3", "count = 9")
    with pytest.raises(ConfigError, match="no free slot for cartridge E01009L8") as info:
        build(tmp_path, text)
    assert info.value.key == "library[0]"
