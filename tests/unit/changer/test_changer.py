"""The medium changer's bytes: CDBs, READ ELEMENT STATUS data and mode pages.

Every structure is checked both ways against golden bytes written out by
hand from SMC-3 (6.11 tables 32 to 42, 7.3.3 to 7.3.5): the construct
declarations parse the golden bytes into the expected fields, and the
device produces exactly the golden bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devemu.changer.cdbs import ReadElementStatusCdb
from devemu.changer.device import MediumChanger
from devemu.changer.element_status import (
    DeviceIdentifierHead,
    ElementDescriptorHead,
    ElementStatusDataHeader,
    ElementStatusPageHeader,
    VolumeTag,
)
from devemu.changer.elements import ElementLayout
from devemu.changer.pages import (
    DeviceCapabilities,
    ElementAddressAssignment,
    TransportGeometryDescriptor,
    changer_mode_pages,
)
from devemu.scsi.command import Status
from devemu.scsi.mode_pages import PageControl
from devemu.scsi.sense import (
    IMPORT_OR_EXPORT_ELEMENT_ACCESSED,
    INVALID_ELEMENT_ADDRESS,
    INVALID_FIELD_IN_CDB,
    parse_sense,
)
from tests.unit.changer.test_library_fakes import FakeDrive, make_changer, run


def res(
    element_type: int = 0,
    start: int = 0,
    count: int = 0xFFFF,
    *,
    voltag: bool = False,
    dvcid: bool = False,
    curdata: bool = False,
    alloc: int = 0xFFFF,
    lun: int = 0,
) -> bytes:
    return bytes(
        [
            0xB8,
            (lun << 5) | (0x10 if voltag else 0) | element_type,
            start >> 8,
            start & 0xFF,
            count >> 8,
            count & 0xFF,
            (0x02 if curdata else 0) | (0x01 if dvcid else 0),
            alloc >> 16,
            (alloc >> 8) & 0xFF,
            alloc & 0xFF,
            0,
            0,
        ]
    )


def sense_of(changer: MediumChanger, cdb: bytes) -> tuple[object, dict[str, object]]:
    result, _ = run(changer, cdb)
    assert result.status == Status.CHECK_CONDITION
    return parse_sense(result.sense)


@pytest.fixture
def small(tmp_path: Path) -> MediumChanger:
    """One drive, two slots (the first holding A00001L8), one mail slot."""
    return make_changer(
        tmp_path,
        fake_drives=[FakeDrive("SN00000001")],
        slots=2,
        import_export=1,
        barcodes=("A00001L8",),
    )


# --- CDB declarations, both ways ---------------------------------------------------------

RES_GOLDEN = bytes.fromhex("b8 14 0400 0010 03 001000 00 00")
RES_FIELDS: dict[str, Any] = {
    "element_type": 4,
    "voltag": True,
    "starting_address": 0x400,
    "number_of_elements": 16,
    "curdata": True,
    "dvcid": True,
    "allocation_length": 0x1000,
}


def test_read_element_status_cdb_parses_and_builds() -> None:
    spec = MediumChanger.commands.get(0xB8)
    assert spec is not None and spec.decode is not None
    decoded = dict(
        zip([f.rpartition(".")[2] for f in spec.fields], spec.decode(RES_GOLDEN), strict=True)
    )
    assert decoded == {k: int(v) for k, v in RES_FIELDS.items() if k in decoded}
    built = ReadElementStatusCdb.build(
        {
            "opcode": 0xB8,
            "byte1": {"obsolete_lun": 0, "voltag": True, "element_type": 4},
            "starting_address": 0x400,
            "number_of_elements": 16,
            "byte6": {"curdata": True, "dvcid": True},
            "allocation_length": 0x1000,
            "control": 0,
        }
    )
    assert built == RES_GOLDEN
    assert res(4, 0x400, 16, voltag=True, dvcid=True, curdata=True, alloc=0x1000) == RES_GOLDEN


# --- READ ELEMENT STATUS data ---------------------------------------------------------------

STORAGE_NO_TAGS = bytes.fromhex(
    # header: first 0x0400, 2 elements, 40 bytes follow
    "0400 0002 00 000028"
    # storage page: type 2, no tags, 16-byte descriptors, 32 bytes
    "02 00 0010 00 000020"
    # slot 1: full + access, medium type data, no source
    "0400 09 00 00 00 00 00 00 01 0000 00 00 00 00"
    # slot 2: empty, access
    "0401 08 00 00 00 00 00 00 00 0000 00 00 00 00"
)


def test_storage_elements_without_volume_tags(small: MediumChanger) -> None:
    result, data = run(small, res(2))
    assert result.status == Status.GOOD
    assert data == STORAGE_NO_TAGS
    assert result.data_in_length == len(STORAGE_NO_TAGS)


def test_storage_golden_bytes_parse_to_the_fields() -> None:
    header = ElementStatusDataHeader.parse(STORAGE_NO_TAGS[:8])
    assert (header.first_address, header.number_of_elements, header.byte_count) == (0x400, 2, 40)
    page = ElementStatusPageHeader.parse(STORAGE_NO_TAGS[8:16])
    assert page.element_type == 2
    assert not page.tags.pvoltag
    assert (page.descriptor_length, page.byte_count) == (16, 32)
    slot1 = ElementDescriptorHead.parse(STORAGE_NO_TAGS[16:28])
    assert slot1.address == 0x400
    assert slot1.flags == 0x09
    assert not slot1.medium.svalid
    assert slot1.medium.medium_type == 1


def _tag(barcode: str) -> bytes:
    return barcode.encode().ljust(32, b" ") + bytes(4)


def test_drive_with_volume_tag_and_device_identifier(small: MediumChanger) -> None:
    assert run(small, bytes.fromhex("a5 00 0001 0400 0100 0000 00 00"))[0].status == Status.GOOD
    result, data = run(small, res(4, voltag=True, dvcid=True))
    ident = b"IBM     " + b"ULT3580-TD8     " + b"SN00000001"
    descriptor = (
        bytes.fromhex("0100 01 00 00 00 00 00 00 81 0400")  # full, no access, source slot 1
        + _tag("A00001L8")
        + bytes([2, 1, 0, 34])
        + ident
    )
    golden = (
        bytes.fromhex("0100 0001 00")
        + (8 + 86).to_bytes(3, "big")
        + bytes.fromhex("04 80 0056 00")
        + (86).to_bytes(3, "big")
        + descriptor
    )
    assert result.status == Status.GOOD
    assert data == golden
    page = ElementStatusPageHeader.parse(golden[8:16])
    assert page.tags.pvoltag
    assert page.descriptor_length == 86
    head = ElementDescriptorHead.parse(golden[16:28])
    assert head.medium.svalid
    assert head.source_address == 0x400
    assert VolumeTag.parse(golden[28:64]).identification == b"A00001L8".ljust(32)
    ident_head = DeviceIdentifierHead.parse(golden[64:68])
    assert (ident_head.code_set, ident_head.identifier_type) == (2, 1)
    assert ident_head.identifier_length == 34
    assert golden[68:] == ident


def test_drive_without_dvcid_keeps_the_short_descriptor(small: MediumChanger) -> None:
    _, data = run(small, res(4))
    assert data == bytes.fromhex(
        "0100 0001 00 000018  04 00 0010 00 000010  0100 08 00 00 00 00 00 00 00 0000 00000000"
    )


def test_empty_element_has_a_zero_volume_tag(small: MediumChanger) -> None:
    _, data = run(small, res(3, voltag=True))
    assert data == (
        bytes.fromhex("0300 0001 00 00003c  03 80 0034 00 000034")
        + bytes.fromhex("0300 38 00 00 00 00 00 00 00 0000")  # access, inenab, exenab
        + bytes(36)
        + bytes(4)
    )


def test_all_types_in_address_order_one_page_each(small: MediumChanger) -> None:
    _, data = run(small, res(0))
    header = ElementStatusDataHeader.parse(data[:8])
    assert header.first_address == 0x0001
    assert header.number_of_elements == 5
    assert header.byte_count == len(data) - 8
    pos, seen = 8, []
    while pos < len(data):
        page = ElementStatusPageHeader.parse(data[pos : pos + 8])
        pos += 8
        for _ in range(page.byte_count // page.descriptor_length):
            head = ElementDescriptorHead.parse(data[pos : pos + 12])
            seen.append((page.element_type, head.address))
            pos += page.descriptor_length
    assert seen == [(1, 0x0001), (4, 0x0100), (3, 0x0300), (2, 0x0400), (2, 0x0401)]


def test_transport_descriptor(small: MediumChanger) -> None:
    _, data = run(small, res(1))
    assert data == bytes.fromhex(
        "0001 0001 00 000018  01 00 0010 00 000010  0001 00 00 00 00 00 00 00 00 0000 00000000"
    )


def test_number_of_elements_limits_across_pages(small: MediumChanger) -> None:
    _, data = run(small, res(0, 0, 2))
    header = ElementStatusDataHeader.parse(data[:8])
    assert header.number_of_elements == 2
    assert header.byte_count == 2 * (8 + 16)


def test_starting_address_skips_lower_elements(small: MediumChanger) -> None:
    _, data = run(small, res(0, 0x0401))
    assert ElementStatusDataHeader.parse(data[:8]).first_address == 0x0401
    _, data = run(small, res(2, 0x0050))  # below the range: starts at the first slot
    assert ElementStatusDataHeader.parse(data[:8]).first_address == 0x0400


def test_zero_elements_reports_the_header_only(small: MediumChanger) -> None:
    result, data = run(small, res(2, 0, 0))
    assert result.status == Status.GOOD
    assert data == bytes.fromhex("0400 0000 00 000000")


def test_allocation_length_truncates_but_counts_stay_whole(small: MediumChanger) -> None:
    result, data = run(small, res(2, alloc=20))
    assert result.data_in_length == 20
    assert data == STORAGE_NO_TAGS[:20]
    assert ElementStatusDataHeader.parse(data[:8]).byte_count == 40


def test_allocation_length_zero_transfers_nothing(small: MediumChanger) -> None:
    result, data = run(small, res(2, alloc=0))
    assert result.status == Status.GOOD
    assert data == b""


def test_obsolete_lun_bits_and_curdata_are_accepted(small: MediumChanger) -> None:
    _, plain = run(small, res(2))
    result, data = run(small, res(2, lun=1, curdata=True))
    assert result.status == Status.GOOD
    assert data == plain


def test_reserved_element_type_is_invalid_field(small: MediumChanger) -> None:
    code, fields = sense_of(small, res(5))
    assert code == INVALID_FIELD_IN_CDB
    assert fields["sense_key_specific"] == bytes([0xC8 | 3, 0, 1])


def test_starting_address_beyond_the_type_is_invalid_element_address(
    small: MediumChanger,
) -> None:
    code, fields = sense_of(small, res(4, 0x0101))
    assert code == INVALID_ELEMENT_ADDRESS
    assert fields["sense_key_specific"] == bytes([0xC0, 0, 2])
    code, _ = sense_of(small, res(0, 0x0402))
    assert code == INVALID_ELEMENT_ADDRESS


def test_reserved_byte_10_is_refused(small: MediumChanger) -> None:
    cdb = bytearray(res(2))
    cdb[10] = 1
    code, fields = sense_of(small, bytes(cdb))
    assert code == INVALID_FIELD_IN_CDB
    assert fields["sense_key_specific"] == bytes([0xC8, 0, 10])


def test_worm_cartridge_reports_worm_medium_type(tmp_path: Path) -> None:
    changer = make_changer(tmp_path, slots=2, import_export=0, barcodes=("W00001LZ",))
    changer.library.store.worm.add("W00001LZ")  # type: ignore[attr-defined]
    _, data = run(changer, res(2))
    assert ElementDescriptorHead.parse(data[16:28]).medium.medium_type == 4


def test_long_serials_widen_the_identifier(tmp_path: Path) -> None:
    drives = [FakeDrive("SHORT"), FakeDrive("A-MUCH-LONGER-SERIAL")]
    changer = make_changer(tmp_path, fake_drives=drives)
    _, data = run(changer, res(4, dvcid=True))
    page = ElementStatusPageHeader.parse(data[8:16])
    assert page.descriptor_length == 16 + 24 + 20
    first = data[16 : 16 + page.descriptor_length]
    assert first[16:] == b"IBM     ULT3580-TD8     SHORT".ljust(44)


# --- mode pages --------------------------------------------------------------------------

ADDRESS_ASSIGNMENT = bytes.fromhex("1d 12 0001 0001 0400 0006 0300 0002 0100 0002 0000")
TRANSPORT_GEOMETRY = bytes.fromhex("1e 02 00 00")
DEVICE_CAPABILITIES = bytes.fromhex("1f 12 0e 00 00 0e 0e 0e 00000000 00 0e 0e 0e 00000000")


def test_mode_pages_golden_bytes(tmp_path: Path) -> None:
    changer = make_changer(tmp_path)  # 2 drives, 6 slots, 2 mail slots
    pages = changer.mode_pages
    assert pages.sense(0x1D, 0, PageControl.CURRENT) == ADDRESS_ASSIGNMENT
    assert pages.sense(0x1E, 0, PageControl.CURRENT) == TRANSPORT_GEOMETRY
    assert pages.sense(0x1F, 0, PageControl.CURRENT) == DEVICE_CAPABILITIES
    for code in (0x1D, 0x1E, 0x1F):
        page = pages.get(code)
        assert page is not None
        assert page.changeable == bytes(len(page.default))


def test_mode_page_golden_bytes_parse() -> None:
    f = ElementAddressAssignment.parse(ADDRESS_ASSIGNMENT[2:])
    assert (f.transport_first, f.transport_count) == (1, 1)
    assert (f.storage_first, f.storage_count) == (0x400, 6)
    assert (f.import_export_first, f.import_export_count) == (0x300, 2)
    assert (f.drive_first, f.drive_count) == (0x100, 2)
    assert not TransportGeometryDescriptor.parse(TRANSPORT_GEOMETRY[2:]).flags.rotate
    caps = DeviceCapabilities.parse(DEVICE_CAPABILITIES[2:])
    assert caps.stores.storage and caps.stores.data_transfer and caps.stores.import_export
    assert not caps.stores.transport
    assert caps.move_from_storage.data_transfer
    assert caps.exchange_from_data_transfer.storage
    assert not caps.move_from_transport.storage


def test_mode_pages_follow_the_layout() -> None:
    pages = changer_mode_pages(ElementLayout(drives=3, slots=300, import_export=0))
    assert pages[0].default == bytes.fromhex("0001 0001 0400 012c 0300 0000 0100 0003 0000")


# --- unit attention -------------------------------------------------------------------------


def test_operator_import_raises_unit_attention(small: MediumChanger, tmp_path: Path) -> None:
    (tmp_path / "tapes" / "B00001L8.tape").write_text("B00001L8")
    element = small.import_cartridge("B00001L8")
    assert element.address == 0x0300
    code, _ = sense_of(small, res(3, voltag=True))
    assert code == IMPORT_OR_EXPORT_ELEMENT_ACCESSED
    result, data = run(small, res(3, voltag=True))
    assert result.status == Status.GOOD
    head = ElementDescriptorHead.parse(data[16:28])
    assert head.flags == 0x3B  # inenab, exenab, access, impexp, full
    assert VolumeTag.parse(data[28:64]).identification.rstrip() == b"B00001L8"
