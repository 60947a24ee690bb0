"""``personality`` in ``[[library]]`` and ``[[library.drives]]`` tables.

An unknown personality is refused in one line that names the file and the
key; a known one sets the defaults an explicit identity key still
overrides; a personality's element ranges bound the counts a table may ask
for; and ``devemu serve --check`` says the same in one line on stderr.
"""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from devemu.changer import config as library_config
from devemu.changer.device import MediumChanger
from devemu.changer.elements import ElementBases, ElementLayout, ElementType
from devemu.config import check_file
from devemu.errors import ConfigError
from devemu.personality.model import DECIMAL_DIGITS, SerialFormat
from devemu.scsi.command import Command, answered
from devemu.scsi.inquiry import standard_inquiry_data
from devemu.served import ServedDevice

BASE = """
name = "vtl0"
directory = "tapes"
slots = 4
{library_line}
[[drives]]
name = "vtl0-d0"
{drive_line}
"""


def build(tmp_path: Path, library_line: str = "", drive_line: str = "") -> list[ServedDevice]:
    text = BASE.format(library_line=library_line, drive_line=drive_line)
    return library_config.from_config(
        tomllib.loads(text),
        path=tmp_path / "devemu.toml",
        key="library[0]",
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
    )


def close(served: list[ServedDevice]) -> None:
    for s in served:
        if s.close is not None:
            s.close()


@pytest.mark.parametrize(
    ("library_line", "drive_line", "key", "known"),
    [
        ('personality = "ibm-ts9999"', "", "library[0].personality", "stk-sl500"),
        ("", 'personality = "sony-ait"', "library[0].drives[0].personality", "hp-lto"),
        ("personality = 3", "", "library[0].personality", "string"),
    ],
)
def test_unknown_personality_is_refused(
    tmp_path: Path, library_line: str, drive_line: str, key: str, known: str
) -> None:
    with pytest.raises(ConfigError) as info:
        build(tmp_path, library_line, drive_line)
    assert info.value.key == key
    assert info.value.path == tmp_path / "devemu.toml"
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{tmp_path / 'devemu.toml'}: {key}: ")
    assert known in message


def test_serve_check_names_the_file_and_the_key(tmp_path: Path) -> None:
    config = tmp_path / "devemu.toml"
    body = BASE.format(library_line='personality = "ibm-ts9999"', drive_line="")
    body = body.replace("[[drives]]", "[[library.drives]]")
    config.write_text(f"[daemon]\nstate_dir = {str(tmp_path / 'state')!r}\n[[library]]{body}")
    with pytest.raises(ConfigError, match="unknown personality 'ibm-ts9999'"):
        check_file(config)
    done = subprocess.run(
        [sys.executable, "-m", "devemu", "serve", "--check", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert str(config) in lines[0]
    assert "library[0].personality" in lines[0]
    assert "Traceback" not in done.stderr


def test_explicit_identity_keys_override_the_personality(tmp_path: Path) -> None:
    served = build(tmp_path, 'personality = "ibm-ts3500"\nproduct = "03584L22"\nserial = "X1"')
    try:
        changer = served[0].device
        data = standard_inquiry_data(changer)
        assert data[16:32] == b"03584L22".ljust(16)
        assert len(data) == 56  # the personality's style stays
        assert changer.identity.serial == "X1"
    finally:
        close(served)


def test_no_personality_is_generic(tmp_path: Path) -> None:
    plain = build(tmp_path / "a")
    generic = build(tmp_path / "b", 'personality = "generic"', 'personality = "generic"')
    try:
        for a, b in zip(plain, generic, strict=True):
            assert a.device.identity == b.device.identity
        assert plain[0].device.identity.vendor == "DEVEMU"
    finally:
        close(plain)
        close(generic)


def test_personality_ranges_bound_the_counts(tmp_path: Path) -> None:
    # SL500: mail slots from 000Ah up to the drives at 01F4h: 490 of them.
    served = build(tmp_path / "ok", 'personality = "stk-sl500"\nimport_export = 490')
    changer = served[0].device
    assert isinstance(changer, MediumChanger)
    assert changer.library.layout.range_of(ElementType.IMPORT_EXPORT).count == 490
    close(served)
    with pytest.raises(ConfigError, match="from 0 to 490") as info:
        build(tmp_path / "bad", 'personality = "stk-sl500"\nimport_export = 491')
    assert info.value.key == "library[0].import_export"


def test_element_bases() -> None:
    sl500 = ElementBases(
        transport=0x0000, data_transfer=0x01F4, import_export=0x000A, storage=0x03E8
    )
    assert sl500.room(ElementType.MEDIUM_TRANSPORT) == 0x0A
    assert sl500.room(ElementType.IMPORT_EXPORT) == 0x01F4 - 0x000A
    assert sl500.room(ElementType.DATA_TRANSFER) == 0x03E8 - 0x01F4
    assert sl500.room(ElementType.STORAGE) == 0x10000 - 0x03E8
    layout = ElementLayout(drives=2, slots=3, import_export=1, bases=sl500)
    assert [(e.address, e.type, e.number) for e in layout] == [
        (0x0000, ElementType.MEDIUM_TRANSPORT, 1),
        (0x000A, ElementType.IMPORT_EXPORT, 1),
        (0x01F4, ElementType.DATA_TRANSFER, 1),
        (0x01F5, ElementType.DATA_TRANSFER, 2),
        (0x03E8, ElementType.STORAGE, 1),
        (0x03E9, ElementType.STORAGE, 2),
        (0x03EA, ElementType.STORAGE, 3),
    ]
    assert layout.element(0x01F5) is not None
    assert layout.element(0x000B) is None
    assert layout.mtx_slot(4) == layout.by_number(ElementType.IMPORT_EXPORT, 1)
    with pytest.raises(ValueError, match="four distinct"):
        ElementBases(transport=1, data_transfer=1, import_export=2, storage=3)
    with pytest.raises(ValueError, match="drives must be 1 to 500"):
        ElementLayout(drives=501, slots=1, bases=sl500)


@pytest.mark.parametrize(
    ("serial", "names", "expected"),
    [
        (SerialFormat("LIB", 13), ("vtl0",), "LIBBFCC2493BD"),
        (SerialFormat("", 10), ("vtl0", "vtl0-d0"), "AA77127123"),
        (SerialFormat("DEC", 15, suffix="_LL01"), ("vtl0",), "DECBFCC249_LL01"),
        (SerialFormat("A0C", 10, DECIMAL_DIGITS, padded_to=16), ("x",), None),
    ],
)
def test_serial_formats(serial: SerialFormat, names: tuple[str, ...], expected: str | None) -> None:
    made = serial.make(*names)
    assert made == serial.make(*names)  # stable
    if expected is not None:
        assert made == expected
    else:
        assert len(made) == 16 and made.endswith("      ")
        assert made.startswith("A0C") and made[3:10].isdigit()
    with pytest.raises(ValueError):
        SerialFormat("ABCDEFGHIJ", 10)


def test_changing_the_personality_keeps_every_cartridge(tmp_path: Path) -> None:
    line = 'barcodes = ["E01001L8", "E01002L8"]'
    served = build(tmp_path, line)
    changer = served[0].device
    assert isinstance(changer, MediumChanger)
    changer.unit_attentions.clear()
    buf = bytearray(0)
    # MOVE MEDIUM slot 1 (0400h) -> drive (0100h), the generic addresses.
    move = bytes.fromhex("a5 00 0001 0400 0100 0000 00 00")
    assert answered(changer.execute(Command(move, [memoryview(buf)]))).status == 0
    assert changer.library.occupant(0x0100) is not None
    close(served)

    served = build(tmp_path, f'{line}\npersonality = "ibm-ts3500"')
    try:
        changer = served[0].device
        assert isinstance(changer, MediumChanger)
        library = changer.library
        places = {
            library.occupant(e.address).barcode: e.address  # type: ignore[union-attr]
            for e in library.layout
            if library.occupant(e.address) is not None
        }
        # The drive is at 0101h now: its cartridge went back to the free first slot.
        assert places == {"E01001L8": 0x0400, "E01002L8": 0x0401}
        assert library.drives[0].loaded_path is None
    finally:
        close(served)
