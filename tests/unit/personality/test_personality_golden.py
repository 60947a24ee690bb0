"""Golden bytes of every personality, checked both ways.

One table per personality: the answers of its changer (standard INQUIRY,
VPD pages 0x80 and 0x83, the element address assignment mode page, READ
ELEMENT STATUS of every element with VOLTAG and DVCID) or of its drive
(standard INQUIRY, VPD pages 0x80 and 0x83), each as golden bytes and as
the fields those bytes mean, written from the vendor manual the
personality's module cites. Every device is built from a ``[[library]]``
table (:data:`LIBRARY`), so the configuration path is the one tested.
Each case is checked both ways: the device answers exactly the golden
bytes, and the declarations (SPC-5 6.7.2 and 7.7, SMC-3 6.11 and 7.3.3)
parse the golden bytes into the fields.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devemu.changer import config as library_config
from devemu.changer.element_status import (
    DESCRIPTOR_HEAD_LENGTH,
    IDENTIFIER_HEAD_LENGTH,
    VOLUME_TAG_LENGTH,
    DeviceIdentifierHead,
    ElementDescriptorHead,
    ElementStatusDataHeader,
    ElementStatusPageHeader,
)
from devemu.changer.pages import ElementAddressAssignment
from devemu.personality import DRIVE_PERSONALITIES, LIBRARY_PERSONALITIES
from devemu.scsi.command import Command, answered
from devemu.scsi.device import ScsiDevice
from devemu.scsi.inquiry import StandardInquiry
from devemu.scsi.vpd import Designator, VpdPage

#: One drive, one mail slot, two slots, cartridge E01001L8 in the first slot.
LIBRARY = """
name = "vtl0"
directory = "tapes"
slots = 2
import_export = 1
barcodes = ["E01001L8"]
personality = "{library}"
[[drives]]
name = "vtl0-d0"
personality = "{drive}"
"""

CDBS = {
    "inquiry": bytes.fromhex("12 00 00 00ff 00"),
    "vpd80": bytes.fromhex("12 01 80 00ff 00"),
    "vpd83": bytes.fromhex("12 01 83 00ff 00"),
    # MODE SENSE (6), DBD, page 0x1D.
    "eaa": bytes.fromhex("1a 08 1d 00 ff 00"),
    # READ ELEMENT STATUS, VOLTAG, all types, from 0, DVCID.
    "res": bytes.fromhex("b8 10 0000 ffff 01 001000 00 00"),
}

#: The drive of every library table: the generic drive (IBM strings, 10 hex digit serial).
DRIVE_SERIAL = "AA77127123"
GENERIC_DRIVE_ID = b"IBM     ULT3580-TD8     " + DRIVE_SERIAL.encode()
#: The designator kinds: (code set, designator type) of SPC-5 7.7.6.1.
NAA = (1, 3)
T10 = (2, 1)


def inquiry(
    vendor: str,
    product: str,
    revision: str,
    *,
    length: int = 96,
    version: int = 0x07,
    hisup: bool = True,
    barc: bool = False,
    vendor_specific: bytes = bytes(20),
    peripheral: int = 0x08,
) -> dict[str, Any]:
    return {
        "length": length,
        "peripheral": peripheral,
        "version": version,
        "hisup": hisup,
        "barc": barc,
        "vendor": vendor.encode().ljust(8),
        "product": product.encode().ljust(16),
        "revision": revision.encode(),
        "vendor_specific": vendor_specific if length >= 56 else None,
    }


def elements(
    transport: int, drive: int, mailslot: int, slot: int, drive_id: bytes = GENERIC_DRIVE_ID
) -> list[tuple[int, int, str | None, bytes | None]]:
    """(type, address, barcode, DVCID identifier) of the library's five elements, in order."""
    rows = [
        (1, transport, None, None),
        (4, drive, None, drive_id),
        (3, mailslot, None, None),
        (2, slot, "E01001L8", None),
        (2, slot + 1, None, None),
    ]
    return sorted(rows, key=lambda row: row[1])


def eaa(transport: int, slot: int, mailslot: int, drive: int) -> dict[str, int]:
    return {
        "transport_first": transport,
        "transport_count": 1,
        "storage_first": slot,
        "storage_count": 2,
        "import_export_first": mailslot,
        "import_export_count": 1,
        "drive_first": drive,
        "drive_count": 1,
    }


# --- the tables ---------------------------------------------------------------------

#: ``fields`` and ``golden``, each keyed by the case (a key of :data:`CDBS`).
Table = dict[str, dict[str, Any]]

#: The generic layout's element address assignment page and READ ELEMENT STATUS, which
#: the personalities whose manuals give no element addresses keep.
GENERIC_EAA = bytes.fromhex("170000001d12000100010400000203000001010000010000")
GENERIC_RES = bytes.fromhex(
    "0001000500000146018000340000003400010000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000004800056000000560100080000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000002010022"
    "49424d2020202020554c54333538302d54443820202020204141373731323731"
    "3233038000340000003403003800000000000000000000000000000000000000"
    "0000000000000000000000000000000000000000000000000000000000000280"
    "0034000000680400090000000000000100004530313030314c38202020202020"
    "2020202020202020202020202020202020200000000000000000040108000000"
    "0000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000000000"
)

GENERIC_LIBRARY: Table = {
    "fields": {
        "inquiry": inquiry("DEVEMU", "VIRTUAL LIBRARY", "0100"),
        "vpd80": "LIBBFCC2493BD",
        "vpd83": [NAA, (*T10, b"DEVEMU  VIRTUAL LIBRARY LIBBFCC2493BD")],
        "eaa": eaa(0x0001, 0x0400, 0x0300, 0x0100),
        "res": elements(0x0001, 0x0100, 0x0300, 0x0400),
    },
    "golden": {
        "inquiry": bytes.fromhex(
            "088007125b000002444556454d5520205649525455414c204c49425241525920"
            "303130300000000000000000000000000000000000000000000000a005c00480"
            "0000000000000000000000000000000000000000000000000000000000000000"
        ),
        "vpd80": bytes.fromhex("0880000d4c494242464343323439334244"),
        "vpd83": bytes.fromhex(
            "0883003d010300106001405dfa9da6a26c2f454e8ab3b91c0201002544455645"
            "4d5520205649525455414c204c494252415259204c4942424643433234393342"
            "44"
        ),
        "eaa": GENERIC_EAA,
        "res": GENERIC_RES,
    },
}

#: IBM TS3500 SCSI Reference: 56 bytes, version 3, HiSup 0, BarC, plant of
#: manufacture; transport X'0001', drives X'0101', I/O X'0301'.
IBM_TS3500: Table = {
    "fields": {
        "inquiry": inquiry(
            "IBM",
            "03584L32",
            "0100",
            length=56,
            version=0x03,
            hisup=False,
            barc=True,
            vendor_specific=b"13" + bytes(18),
        ),
        "vpd80": "LIBBFCC2493BD",
        "vpd83": [NAA, (*T10, b"IBM     03584L32        LIBBFCC2493BD")],
        "eaa": eaa(0x0001, 0x0400, 0x0301, 0x0101),
        "res": elements(0x0001, 0x0101, 0x0301, 0x0400),
    },
    "golden": {
        "inquiry": bytes.fromhex(
            "088003023300200249424d202020202030333538344c33322020202020202020"
            "303130303133000000000000000000000000000000000000"
        ),
        "vpd80": bytes.fromhex("0880000d4c494242464343323439334244"),
        "vpd83": bytes.fromhex(
            "0883003d010300106001405dfa9da6a26c2f454e8ab3b91c0201002549424d20"
            "2020202030333538344c333220202020202020204c4942424643433234393342"
            "44"
        ),
        "eaa": bytes.fromhex("170000001d12000100010400000203010001010100010000"),
        "res": bytes.fromhex(
            "0001000500000146018000340000003400010000000000000000000000000000"
            "0000000000000000000000000000000000000000000000000000000000000000"
            "0000000004800056000000560101080000000000000000000000000000000000"
            "0000000000000000000000000000000000000000000000000000000002010022"
            "49424d2020202020554c54333538302d54443820202020204141373731323731"
            "3233038000340000003403013800000000000000000000000000000000000000"
            "0000000000000000000000000000000000000000000000000000000000000280"
            "0034000000680400090000000000000100004530313030314c38202020202020"
            "2020202020202020202020202020202020200000000000000000040108000000"
            "0000000000000000000000000000000000000000000000000000000000000000"
            "0000000000000000000000000000"
        ),
    },
}

#: IBM TS4300: type-model 3555L3A, a 7-character serial from plant 78.
IBM_TS4300: Table = {
    "fields": {
        "inquiry": inquiry("IBM", "3555L3A", "0100"),
        "vpd80": "78BFCC2",
        "vpd83": [NAA, (*T10, b"IBM     3555L3A         78BFCC2")],
        "eaa": eaa(0x0001, 0x0400, 0x0300, 0x0100),
        "res": elements(0x0001, 0x0100, 0x0300, 0x0400),
    },
    "golden": {
        "inquiry": bytes.fromhex(
            "088007125b00000249424d2020202020333535354c3341202020202020202020"
            "303130300000000000000000000000000000000000000000000000a005c00480"
            "0000000000000000000000000000000000000000000000000000000000000000"
        ),
        "vpd80": bytes.fromhex("0880000737384246434332"),
        "vpd83": bytes.fromhex(
            "088300370103001060014050cf431188ff8f5eed9e2e92cb0201001f49424d20"
            "20202020333535354c334120202020202020202037384246434332"
        ),
        "eaa": GENERIC_EAA,
        "res": GENERIC_RES,
    },
}

#: HPE MSL G3: HP / MSL G3 Series, serial DEC + 7 + logical library _LL01.
HP_MSL: Table = {
    "fields": {
        "inquiry": inquiry("HP", "MSL G3 Series", "0100"),
        "vpd80": "DECBFCC249_LL01",
        "vpd83": [NAA, (*T10, b"HP      MSL G3 Series   DECBFCC249_LL01")],
        "eaa": eaa(0x0001, 0x0400, 0x0300, 0x0100),
        "res": elements(0x0001, 0x0100, 0x0300, 0x0400),
    },
    "golden": {
        "inquiry": bytes.fromhex(
            "088007125b00000248502020202020204d534c20473320536572696573202020"
            "303130300000000000000000000000000000000000000000000000a005c00480"
            "0000000000000000000000000000000000000000000000000000000000000000"
        ),
        "vpd80": bytes.fromhex("0880000f444543424643433234395f4c4c3031"),
        "vpd83": bytes.fromhex(
            "0883003f0103001060014058d2a9e61726c92121f4afc3ae0201002748502020"
            "202020204d534c20473320536572696573202020444543424643433234395f4c"
            "4c3031"
        ),
        "eaa": GENERIC_EAA,
        "res": GENERIC_RES,
    },
}

#: Quantum Scalar i500: 56 bytes, version 3, HiSup 1, BarC in byte 6 and 55,
#: full firmware revision at 36-54; serial "QUANTUM " + system serial in 24
#: bytes; one T10 designator of 32 bytes: vendor + serial without the prefix.
QUANTUM_SCALAR_I: Table = {
    "fields": {
        "inquiry": inquiry(
            "QUANTUM",
            "Scalar i500",
            "100A",
            length=56,
            version=0x03,
            hisup=True,
            barc=True,
            vendor_specific=b"100A".ljust(19) + b"\x01",
        ),
        "vpd80": "QUANTUM A0C4356305".ljust(24),
        "vpd83": [(*T10, b"QUANTUM A0C4356305".ljust(32))],
        "eaa": eaa(0x0001, 0x0400, 0x0300, 0x0100),
        "res": elements(0x0001, 0x0100, 0x0300, 0x0400),
    },
    "golden": {
        "inquiry": bytes.fromhex(
            "08800312330020025155414e54554d205363616c617220693530302020202020"
            "313030413130304120202020202020202020202020202001"
        ),
        "vpd80": bytes.fromhex("088000185155414e54554d2041304334333536333035202020202020"),
        "vpd83": bytes.fromhex(
            "08830024020100205155414e54554d20413043343335363330352020202020202020202020202020"
        ),
        "eaa": GENERIC_EAA,
        "res": GENERIC_RES,
    },
}

#: StorageTek SL500: 36 bytes of standard INQUIRY data, HiSup 1; robot
#: 0000h, CAP 000Ah, drives 01F4h, storage 03E8h.
STK_SL500: Table = {
    "fields": {
        "inquiry": inquiry("STK", "SL500", "0100", length=36, hisup=True),
        "vpd80": "LIBBFCC2493BD",
        "vpd83": [NAA, (*T10, b"STK     SL500           LIBBFCC2493BD")],
        "eaa": eaa(0x0000, 0x03E8, 0x000A, 0x01F4),
        "res": elements(0x0000, 0x01F4, 0x000A, 0x03E8),
    },
    "golden": {
        "inquiry": bytes.fromhex(
            "088007121f00000253544b2020202020534c353030202020202020202020202030313030"
        ),
        "vpd80": bytes.fromhex("0880000d4c494242464343323439334244"),
        "vpd83": bytes.fromhex(
            "0883003d010300106001405dfa9da6a26c2f454e8ab3b91c0201002553544b20"
            "20202020534c35303020202020202020202020204c4942424643433234393342"
            "44"
        ),
        "eaa": bytes.fromhex("170000001d120000000103e80002000a000101f400010000"),
        "res": bytes.fromhex(
            "0000000500000146018000340000003400000000000000000000000000000000"
            "0000000000000000000000000000000000000000000000000000000000000000"
            "000000000380003400000034000a380000000000000000000000000000000000"
            "0000000000000000000000000000000000000000000000000000000000000000"
            "048000560000005601f408000000000000000000000000000000000000000000"
            "0000000000000000000000000000000000000000000000000201002249424d20"
            "20202020554c54333538302d5444382020202020414137373132373132330280"
            "00340000006803e8090000000000000100004530313030314c38202020202020"
            "202020202020202020202020202020202020000000000000000003e908000000"
            "0000000000000000000000000000000000000000000000000000000000000000"
            "0000000000000000000000000000"
        ),
    },
}

GENERIC_DRIVE: Table = {
    "fields": {
        "inquiry": inquiry("IBM", "ULT3580-TD8", "HB81", peripheral=0x01),
        "vpd80": DRIVE_SERIAL,
        "vpd83": [NAA, (*T10, GENERIC_DRIVE_ID)],
    },
    "golden": {
        "inquiry": bytes.fromhex(
            "018007125b00000249424d2020202020554c54333538302d5444382020202020"
            "484238310000000000000000000000000000000000000000000000a005c005a0"
            "0000000000000000000000000000000000000000000000000000000000000000"
        ),
        "vpd80": bytes.fromhex("0180000a41413737313237313233"),
        "vpd83": bytes.fromhex(
            "0183003a01030010600140572f8e8f079749d46dddf319d60201002249424d20"
            "20202020554c54333538302d544438202020202041413737313237313233"
        ),
    },
}

#: IBM LTO SCSI Reference: IBM / ULT3580-TD<generation>, 10-character serial: the
#: generic drive is modelled on it, so the same bytes.
IBM_LTO: Table = GENERIC_DRIVE

#: HP Ultrium technical reference: "Ultrium 8-SCSI", HiSup 0; from LTO-8 the vendor is HPE.
HP_LTO: Table = {
    "fields": {
        "inquiry": inquiry("HPE", "Ultrium 8-SCSI", "0100", hisup=False, peripheral=0x01),
        "vpd80": DRIVE_SERIAL,
        "vpd83": [NAA, (*T10, b"HPE     Ultrium 8-SCSI  " + DRIVE_SERIAL.encode())],
    },
    "golden": {
        "inquiry": bytes.fromhex(
            "018007025b0000024850452020202020556c747269756d20382d534353492020"
            "303130300000000000000000000000000000000000000000000000a005c005a0"
            "0000000000000000000000000000000000000000000000000000000000000000"
        ),
        "vpd80": bytes.fromhex("0180000a41413737313237313233"),
        "vpd83": bytes.fromhex(
            "0183003a01030010600140572f8e8f079749d46dddf319d60201002248504520"
            "20202020556c747269756d20382d53435349202041413737313237313233"
        ),
    },
}

LIBRARY_TABLES: dict[str, Table] = {
    "generic": GENERIC_LIBRARY,
    "ibm-ts3500": IBM_TS3500,
    "ibm-ts4300": IBM_TS4300,
    "hp-msl": HP_MSL,
    "quantum-scalar-i": QUANTUM_SCALAR_I,
    "stk-sl500": STK_SL500,
}
DRIVE_TABLES: dict[str, Table] = {"generic": GENERIC_DRIVE, "ibm-lto": IBM_LTO, "hp-lto": HP_LTO}


# --- decoding golden bytes with the declarations ----------------------------------


def decode_inquiry(data: bytes) -> dict[str, Any]:
    parsed = StandardInquiry.parse(data.ljust(96, b"\0"))
    return {
        "length": parsed.additional_length + 5,
        "peripheral": parsed.peripheral.device_type,
        "version": parsed.version,
        "hisup": parsed.flags3.hisup,
        "barc": parsed.flags6.vs,
        "vendor": parsed.vendor,
        "product": parsed.product,
        "revision": parsed.revision,
        "vendor_specific": parsed.vendor_specific if len(data) >= 56 else None,
    }


def decode_vpd80(data: bytes) -> str:
    page = VpdPage.parse(data)
    assert page.page_code == 0x80
    return str(page.body.decode("ascii"))


def decode_vpd83(data: bytes) -> list[tuple[Any, ...]]:
    page = VpdPage.parse(data)
    assert page.page_code == 0x83
    body, out = page.body, []
    while body:
        d = Designator.parse(body)
        kind = (d.head.code_set, d.kind.designator_type)
        # An NAA designator is a hash of the serial: its kind and length are the facts.
        out.append(kind if kind == NAA and len(d.designator) == 16 else (*kind, d.designator))
        body = body[4 + d.designator_length :]
    return out


def decode_eaa(data: bytes) -> dict[str, int]:
    # Mode parameter header (6) of 4 bytes, no block descriptor, page header of 2.
    assert data[4] & 0x3F == 0x1D and data[5] == 0x12
    parsed = ElementAddressAssignment.parse(data[6:])
    return {k: v for k, v in parsed.items() if not k.startswith("_")}


def decode_res(data: bytes) -> list[tuple[int, int, str | None, bytes | None]]:
    header = ElementStatusDataHeader.parse(data)
    assert header.byte_count == len(data) - 8
    rows, at = [], 8
    while at < len(data):
        page = ElementStatusPageHeader.parse(data[at:])
        at += 8
        end = at + page.byte_count
        for start in range(at, end, page.descriptor_length):
            d = data[start : start + page.descriptor_length]
            head = ElementDescriptorHead.parse(d)
            tag = d[DESCRIPTOR_HEAD_LENGTH : DESCRIPTOR_HEAD_LENGTH + VOLUME_TAG_LENGTH]
            barcode = tag[:32].decode().rstrip() if head.flags & 1 else None
            ident_at = DESCRIPTOR_HEAD_LENGTH + VOLUME_TAG_LENGTH
            ident = DeviceIdentifierHead.parse(d[ident_at:])
            value = d[ident_at + IDENTIFIER_HEAD_LENGTH :][: ident.identifier_length]
            identifier = value if ident.identifier_length else None
            if identifier is not None:
                assert (ident.code_set, ident.identifier_type) == T10
            rows.append((page.element_type, head.address, barcode, identifier))
        at = end
    assert header.number_of_elements == len(rows)
    assert header.first_address == rows[0][1]
    return rows


DECODERS = {
    "inquiry": decode_inquiry,
    "vpd80": decode_vpd80,
    "vpd83": decode_vpd83,
    "eaa": decode_eaa,
    "res": decode_res,
}


# --- the checks ------------------------------------------------------------------------


def _answer(device: ScsiDevice, cdb: bytes) -> bytes:
    buf = bytearray(4096)
    result = answered(device.execute(Command(cdb, [memoryview(buf)])))
    assert result.status == 0
    return bytes(buf[: result.data_in_length or 0])


def _served(tmp_path: Path, library: str, drive: str) -> Iterator[tuple[ScsiDevice, ScsiDevice]]:
    served = library_config.from_config(
        tomllib.loads(LIBRARY.format(library=library, drive=drive)),
        path=tmp_path / "devemu.toml",
        key="library[0]",
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
    )
    changer, tape = served[0].device, served[1].device
    assert isinstance(changer, ScsiDevice) and isinstance(tape, ScsiDevice)
    changer.unit_attentions.clear()  # the power-on unit attention of a new device
    tape.unit_attentions.clear()
    try:
        yield changer, tape
    finally:
        for s in served:
            if s.close is not None:
                s.close()


LIBRARY_CASES = [
    pytest.param(name, case, id=f"{name}-{case}")
    for name, table in LIBRARY_TABLES.items()
    for case in table["golden"]
]
DRIVE_CASES = [
    pytest.param(name, case, id=f"{name}-{case}")
    for name, table in DRIVE_TABLES.items()
    for case in table["golden"]
]


def test_every_personality_has_a_table() -> None:
    assert set(LIBRARY_TABLES) == set(LIBRARY_PERSONALITIES)
    assert set(DRIVE_TABLES) == set(DRIVE_PERSONALITIES)
    for table in LIBRARY_TABLES.values():
        assert set(table["golden"]) == set(table["fields"]) == set(CDBS)
    for table in DRIVE_TABLES.values():
        assert set(table["golden"]) == set(table["fields"]) == {"inquiry", "vpd80", "vpd83"}


@pytest.mark.parametrize(("name", "case"), LIBRARY_CASES)
def test_library_answers_golden_bytes(tmp_path: Path, name: str, case: str) -> None:
    for changer, _tape in _served(tmp_path, name, "generic"):
        assert _answer(changer, CDBS[case]) == LIBRARY_TABLES[name]["golden"][case]


@pytest.mark.parametrize(("name", "case"), LIBRARY_CASES)
def test_library_golden_bytes_mean_the_fields(name: str, case: str) -> None:
    table = LIBRARY_TABLES[name]
    assert DECODERS[case](table["golden"][case]) == table["fields"][case]


@pytest.mark.parametrize(("name", "case"), DRIVE_CASES)
def test_drive_answers_golden_bytes(tmp_path: Path, name: str, case: str) -> None:
    for _changer, tape in _served(tmp_path, "generic", name):
        assert _answer(tape, CDBS[case]) == DRIVE_TABLES[name]["golden"][case]


@pytest.mark.parametrize(("name", "case"), DRIVE_CASES)
def test_drive_golden_bytes_mean_the_fields(name: str, case: str) -> None:
    table = DRIVE_TABLES[name]
    assert DECODERS[case](table["golden"][case]) == table["fields"][case]


def test_a_library_drive_reports_its_personality_in_dvcid(tmp_path: Path) -> None:
    for changer, _tape in _served(tmp_path, "ibm-ts3500", "hp-lto"):
        rows = decode_res(_answer(changer, CDBS["res"]))
        drive_rows = [row for row in rows if row[0] == 4]
        assert drive_rows == [
            (4, 0x0101, None, b"HPE     Ultrium 8-SCSI  " + DRIVE_SERIAL.encode())
        ]
