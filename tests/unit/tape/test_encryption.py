"""Tape data encryption: SECURITY PROTOCOL IN/OUT, sealed blocks, and every refusal.

SPC-5 6.40/6.41 and SSC-5 8.5 (pages), SSC-5 4.2 (data encryption) (what READ and WRITE
do with encryption on); :mod:`devemu.tape.encryption` for the envelope.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devemu.device_ring import reset_hook
from devemu.errors import ImageError
from devemu.scsi.command import Command, Status, answered
from devemu.scsi.security_protocol import (
    CertificatePage,
    SecurityProtocolInCdb,
    SecurityProtocolOutCdb,
    SupportedProtocolsPage,
)
from devemu.scsi.sense import (
    CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED,
    DATA_ENCRYPTION_KEY_INSTANCE_COUNTER_HAS_CHANGED,
    DATA_ENCRYPTION_PARAMETERS_CHANGED_BY_ANOTHER_I_T_NEXUS,
    ENCRYPTED_BLOCK_NOT_RAW_READ_ENABLED,
    ENCRYPTION_MODE_MISMATCH_ON_READ,
    INCORRECT_DATA_ENCRYPTION_KEY,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    MEDIUM_NOT_PRESENT,
    PARAMETER_LIST_LENGTH_ERROR,
    UNABLE_TO_DECRYPT_DATA,
    UNENCRYPTED_DATA_ENCOUNTERED_WHILE_DECRYPTING,
    SenseCode,
    cdb_field,
    param_field,
    parse_sense,
)
from devemu.tape import encryption
from devemu.tape.cartridge import Cartridge
from devemu.tape.cli import listing
from devemu.tape.drive import TapeDrive
from devemu.tape.encryption import SealedHeader
from devemu.tape.encryption_pages import (
    CapabilitiesPage,
    KadDescriptor,
    ManagementCapabilitiesPage,
    NextBlockStatusPage,
    PageListPage,
    SetDataEncryptionPage,
    StatusPage,
    SupportedKeyFormatsPage,
)
from devemu.tape.records import EntryKind
from devemu.tcmu.abi import TmrType
from tests.golden import check_both_ways, plain
from tests.unit.tape.test_drive import IDENTITY, Host

KEY1 = bytes(range(32))
KEY2 = bytes(range(100, 132))
PLAINTEXT = b"KNOWN PLAINTEXT 7c1f " * 50


# --- golden bytes, both ways ---------------------------------------------------------------

GOLDEN: list[Any] = [
    pytest.param(
        SecurityProtocolInCdb,
        bytes.fromhex("a2 20 0021 00 00 00002000 00 00"),
        {
            "opcode": 0xA2,
            "security_protocol": 0x20,
            "security_protocol_specific": 0x21,
            "flags": {"inc_512": False},
            "allocation_length": 0x2000,
            "control": 0,
        },
        id="spin-cdb",
    ),
    pytest.param(
        SecurityProtocolOutCdb,
        bytes.fromhex("b5 20 0010 80 00 00000034 00 00"),
        {
            "opcode": 0xB5,
            "security_protocol": 0x20,
            "security_protocol_specific": 0x10,
            "flags": {"inc_512": True},
            "transfer_length": 0x34,
            "control": 0,
        },
        id="spout-cdb",
    ),
]


@pytest.mark.parametrize(("struct", "golden", "fields"), GOLDEN)
def test_golden_both_ways(struct: Any, golden: bytes, fields: dict[str, Any]) -> None:
    check_both_ways(struct, golden, fields)


PAGES: list[Any] = [
    pytest.param(
        KadDescriptor,
        bytes.fromhex("00 01 0003") + b"abc",
        {"type": 0, "flags": {"authenticated": 1}, "descriptor": b"abc"},
        id="kad-descriptor",
    ),
    pytest.param(
        SealedHeader,
        b"TDE1" + bytes([1, 0x01, 2]) + bytes(range(8)) + bytes(range(12)) + b"\x02ak",
        {
            "magic": b"TDE1",
            "algorithm_index": 1,
            "flags": {"external": False, "rdmd": True},
            "kad_format": 2,
            "key_check": bytes(range(8)),
            "nonce": bytes(range(12)),
            "akad": b"ak",
        },
        id="sealed-header",
    ),
    pytest.param(
        SupportedProtocolsPage,
        bytes.fromhex("000000000000 0002 00 20"),
        {"protocols": [0x00, 0x20]},
        id="supported-protocols",
    ),
    pytest.param(
        CertificatePage, bytes.fromhex("0000 0000"), {"certificate": b""}, id="certificate"
    ),
    pytest.param(
        PageListPage,
        bytes.fromhex("0000 000e 0000 0001 0010 0011 0012 0020 0021"),
        {"page_code": 0, "pages": [0, 1, 0x10, 0x11, 0x12, 0x20, 0x21]},
        id="in-support",
    ),
    pytest.param(
        PageListPage,
        bytes.fromhex("0001 0002 0010"),
        {"page_code": 1, "pages": [0x10]},
        id="out-support",
    ),
    pytest.param(
        SupportedKeyFormatsPage,
        bytes.fromhex("0011 0001 00"),
        {"page_code": 0x11, "formats": [0]},
        id="supported-key-formats",
    ),
    pytest.param(
        ManagementCapabilitiesPage,
        bytes.fromhex("0012 000c 01 04 00 07 0000000000000000"),
        {
            "page_code": 0x12,
            "body": {
                "lock": {"lock_c": True},
                "clear": {"ckod_c": True, "ckorp_c": False, "ckorl_c": False},
                "scopes": {"aitn_c": True, "local_c": True, "public_c": True},
            },
        },
        id="management-capabilities",
    ),
    pytest.param(
        CapabilitiesPage,
        bytes.fromhex(
            "0010 0028 05"
            + "00" * 15
            # algorithm descriptor: index 1, length 20
            + "01 00 0014"
            # AVFMV MAC_C DELB_C DECRYPT_C=10b ENCRYPT_C=10b; AVFCP=01b NONCE_C=01b KADF_C VCELB_C
            + "ba 5c"
            + "0020 000c 0020"  # U-KAD 32, A-KAD 12, key 32
            + "09 00 0000 0000 0000"  # RDMC_C=4h EAREM; no EEDK, no supplemental keys
            + "00010014"  # AES-256-GCM
        ),
        {
            "page_code": 0x10,
            "body": {
                "flags": {"extdecc": 1, "cfg_p": 1},
                "algorithms": [
                    {
                        "algorithm_index": 1,
                        "descriptor": {
                            "flags1": {
                                "avfmv": True,
                                "sdk_c": False,
                                "mac_c": True,
                                "delb_c": True,
                                "decrypt_c": 2,
                                "encrypt_c": 2,
                            },
                            "flags2": {
                                "avfcp": 1,
                                "nonce_c": 1,
                                "kadf_c": True,
                                "vcelb_c": True,
                                "ukadf": False,
                                "akadf": False,
                            },
                            "maximum_ukad_length": 32,
                            "maximum_akad_length": 12,
                            "key_length": 32,
                            "flags3": {"dkad_c": 0, "eemc_c": 0, "rdmc_c": 4, "earem": True},
                            "eedk": {"maximum_eedk_count": 0},
                            "msdk_count": 0,
                            "maximum_eedk_size": 0,
                            "security_algorithm_code": 0x00010014,
                        },
                    }
                ],
            },
        },
        id="capabilities",
    ),
    pytest.param(
        StatusPage,
        bytes.fromhex("0020 001d 42 02 03 01 00000007 1b 02 0000 0000000000000000")
        + bytes.fromhex("00 00 0005")
        + b"hello",
        {
            "page_code": 0x20,
            "body": {
                "scope": {"i_t_nexus_scope": 2, "key_scope": 2},
                "encryption_mode": 2,
                "decryption_mode": 3,
                "algorithm_index": 1,
                "key_instance_counter": 7,
                "flags": {"parameters_control": 1, "vcelb": True, "ceems": 1, "rdmd": True},
                "kad_format": 2,
                "asdk_count": 0,
                "kads": [{"type": 0, "flags": {"authenticated": 0}, "descriptor": b"hello"}],
            },
        },
        id="data-encryption-status",
    ),
    pytest.param(
        NextBlockStatusPage,
        bytes.fromhex("0021 0013 0000000000000005 05 01 01 02 01 02 0003") + b"key",
        {
            "page_code": 0x21,
            "body": {
                "logical_object_number": 5,
                "status": {"compression_status": 0, "encryption_status": 5},
                "algorithm_index": 1,
                "flags": {"emes": False, "rdmds": True},
                "kad_format": 2,
                "kads": [{"type": 1, "flags": {"authenticated": 2}, "descriptor": b"key"}],
            },
        },
        id="next-block-encryption-status",
    ),
    pytest.param(
        SetDataEncryptionPage,
        bytes.fromhex("0010 0035 41 34 02 03 01 00 02 00000000000000 0020")
        + KEY1
        + bytes.fromhex("00 00 0001")
        + b"u",
        {
            "page_code": 0x10,
            "page_length": 0x35,
            "control": {"scope": 2, "lock": True},
            "flags": {
                "ceem": 0,
                "rdmc": 3,
                "sdk": False,
                "ckod": True,
                "ckorp": False,
                "ckorl": False,
            },
            "encryption_mode": 2,
            "decryption_mode": 3,
            "algorithm_index": 1,
            "key_format": 0,
            "kad_format": 2,
            "key_length": 32,
            "key": KEY1,
            "kads": [{"type": 0, "flags": {"authenticated": 0}, "descriptor": b"u"}],
        },
        id="set-data-encryption",
    ),
]


@pytest.mark.parametrize(("struct", "golden", "fields"), PAGES)
def test_pages_both_ways(struct: Any, golden: bytes, fields: dict[str, Any]) -> None:
    """Pages have variable length: build and parse, no fixed size."""
    assert struct.build(fields) == golden
    assert plain(struct.parse(golden)) == fields


# --- a drive, a host, and the page helpers -------------------------------------------------


class EncHost(Host):
    """A host that also speaks SECURITY PROTOCOL IN and OUT, as ``nexus``."""

    nexus = ""

    def cmd(self, cdb: bytes | list[int], out: bytes | None = None, n: int = 0) -> Any:
        buf = bytearray(out if out is not None else n)
        command = Command(bytes(cdb), [memoryview(buf)] if buf else [], self.nexus)
        r = answered(self.drive.execute(command))
        self.data = bytes(buf[: r.data_in_length or 0]) if out is None else b""
        return r

    def spin(self, protocol: int, page: int, n: int = 8192) -> bytes:
        return self.ok(spin_cdb(protocol, page, n), n=n)

    def spout(self, page: bytes) -> Any:
        return self.cmd(spout_cdb(len(page)), out=page)

    def set_key(self, key: bytes | None = KEY1, **kw: Any) -> None:
        r = self.spout(sde_page(key, **kw))
        assert r.status == Status.GOOD, parse_sense(r.sense)

    def refused(
        self, page: bytes, code: SenseCode, byte: int | None, bit: int | None = None
    ) -> None:
        fields, _ = self.check(spout_cdb(len(page)), code, out=page)
        if byte is not None:
            assert fields["sense_key_specific"] == param_field(byte, bit).bytes3()


def spin_cdb(protocol: int, page: int, n: int = 8192) -> bytes:
    return (
        bytes([0xA2, protocol]) + page.to_bytes(2, "big") + b"\0\0" + n.to_bytes(4, "big") + b"\0\0"
    )


def spout_cdb(n: int, protocol: int = 0x20, page: int = 0x10) -> bytes:
    return (
        bytes([0xB5, protocol]) + page.to_bytes(2, "big") + b"\0\0" + n.to_bytes(4, "big") + b"\0\0"
    )


def sde_page(
    key: bytes | None = KEY1,
    *,
    scope: int = 2,
    lock: bool = False,
    ceem: int = 0,
    rdmc: int = 0,
    ckod: bool = False,
    flags: int = 0,
    encrypt: int = 2,
    decrypt: int = 2,
    index: int = 1,
    key_format: int = 0,
    kad_format: int = 0,
    kads: bytes = b"",
) -> bytes:
    """A Set Data Encryption page (SSC-5 8.5)."""
    key = key if key is not None else b""
    body = bytes(
        [
            scope << 5 | int(lock),
            ceem << 6 | rdmc << 4 | int(ckod) << 2 | flags,
            encrypt,
            decrypt,
            index,
            key_format,
            kad_format,
            *bytes(7),
        ]
    )
    body += len(key).to_bytes(2, "big") + key + kads
    return b"\x00\x10" + len(body).to_bytes(2, "big") + body


def kad(kind: int, value: bytes, flags: int = 0) -> bytes:
    return bytes([kind, flags]) + len(value).to_bytes(2, "big") + value


@pytest.fixture
def cart_path(tmp_path: Path) -> Path:
    path = tmp_path / "E00001L8.tape"
    Cartridge.create(path, "E00001L8").close()
    return path


@pytest.fixture
def host(cart_path: Path) -> EncHost:
    drive = TapeDrive(IDENTITY)
    drive.load(cart_path)
    h = EncHost(drive)
    h.settle()
    return h


def nbes_status(h: EncHost) -> int:
    return h.spin(0x20, 0x21)[12] & 0x0F


# --- SECURITY PROTOCOL IN ----------------------------------------------------------------------


def test_protocol_information_pages(host: EncHost) -> None:
    assert host.spin(0x00, 0x0000) == bytes.fromhex("000000000000 0002 00 20")
    assert host.spin(0x00, 0x0001) == bytes.fromhex("0000 0000")


def test_capabilities_say_whether_a_cartridge_is_mounted(host: EncHost) -> None:
    mounted = host.spin(0x20, 0x10)
    assert mounted[24] & 0x80 and mounted[25] >> 6 == 1  # AVFMV, AVFCP
    host.drive.unload()
    empty = host.spin(0x20, 0x10)
    assert not empty[24] & 0x80 and empty[25] >> 6 == 0
    assert empty[40:44] == bytes.fromhex("00010014")


@pytest.mark.parametrize(
    ("cdb", "byte", "bit"),
    [
        (spin_cdb(0x21, 0), 1, None),  # no such protocol
        (spin_cdb(0x00, 2), 2, None),  # no such page of protocol 00h
        (spin_cdb(0x20, 0x30), 2, None),  # no random number page
        (spin_cdb(0x20, 0x20)[:4] + b"\x80" + spin_cdb(0x20, 0x20)[5:], 4, 7),  # INC_512
    ],
)
def test_spin_refuses_bad_cdb_fields(host: EncHost, cdb: bytes, byte: int, bit: int | None) -> None:
    fields, _ = host.check(cdb, INVALID_FIELD_IN_CDB, n=64)
    assert fields["sense_key_specific"] == cdb_field(byte, bit).bytes3()


def test_spin_allocation_length_truncates(host: EncHost) -> None:
    assert host.ok(spin_cdb(0x20, 0x0000, 6), n=6) == bytes.fromhex("0000 000e 0000")


def test_next_block_status_needs_a_cartridge(host: EncHost) -> None:
    host.drive.unload()
    host.check(spin_cdb(0x20, 0x21), MEDIUM_NOT_PRESENT, n=64)


def test_report_supported_operation_codes_lists_both(host: EncHost) -> None:
    for opcode, usage in (
        (0xA2, "a2 ff ffff 00 00 ffffffff 00 00"),
        (0xB5, "b5 ff ffff 00 00 ffffffff 00 00"),
    ):
        data = host.ok([0xA3, 0x0C, 1, opcode, 0, 0, 0, 0, 0, 64, 0, 0], n=64)
        assert data[1] & 0x07 == 3  # supported, as the standard says
        assert data[4:16] == bytes.fromhex(usage)


# --- SECURITY PROTOCOL OUT and the status page ----------------------------------------------


def test_set_key_then_status(host: EncHost) -> None:
    host.set_key(kad_format=2, kads=kad(0, b"tape key 1") + kad(1, b"auth"))
    page = host.spin(0x20, 0x20)
    assert page[:24] == bytes.fromhex("0020 002a 42 02 02 01 00000001 10 02 0000 0000000000000000")
    assert page[24:] == kad(0, b"tape key 1") + kad(1, b"auth")
    host.set_key(key=None, encrypt=0, decrypt=0)
    page = host.spin(0x20, 0x20)
    assert page == bytes.fromhex("0020 0014 42 00 00 00 00000002 10 00 0000 0000000000000000")
    assert not host.drive.encryption.active  # READ and WRITE take the plain path again


def test_the_key_appears_in_no_answer(host: EncHost) -> None:
    host.set_key()
    for page in (0x00, 0x01, 0x10, 0x11, 0x12, 0x20, 0x21):
        assert KEY1 not in host.spin(0x20, page)
    assert KEY1.hex() not in repr(host.drive.encryption.parameters(""))


@pytest.mark.parametrize(
    ("page", "byte", "bit"),
    [
        (sde_page(scope=3), 4, 7),
        (sde_page(flags=0x08), 5, 3),  # SDK: no supplemental decryption keys
        (sde_page(flags=0x02), 5, 1),  # CKORP
        (sde_page(flags=0x01), 5, 0),  # CKORL
        (sde_page(rdmc=1), 5, 5),
        (sde_page(ceem=2, encrypt=2, decrypt=0), 5, 7),
        (sde_page(encrypt=1), 6, None),  # EXTERNAL is not supported
        (sde_page(encrypt=3), 6, None),
        (sde_page(decrypt=4), 7, None),
        (sde_page(index=2), 8, None),
        (sde_page(index=0), 8, None),
        (sde_page(key_format=1), 9, None),
        (sde_page(kad_format=3), 10, None),
        (sde_page(KEY1[:16]), 18, None),
        (sde_page(key=None), 18, None),
        (sde_page(kads=kad(2, bytes(12))), 52, None),  # nonces come from the drive
        (sde_page(kads=kad(3, b"m")), 52, None),  # M-KAD is for EXTERNAL mode
        (sde_page(kads=kad(0, bytes(33))), 54, None),
        (sde_page(kads=kad(1, bytes(13))), 54, None),
        (sde_page(kads=kad(0, b"a") + kad(0, b"b")), 57, None),
        (sde_page(kads=kad(0, b"a", flags=0x01)), 53, 0),
        (sde_page(kads=b"\x00\x00"), 52, None),
        (sde_page(kads=b"\x00\x00\x00\x09abc"), 54, None),
        (b"\x00\x11" + sde_page()[2:], 0, None),
        (sde_page()[:2] + b"\x00\x08" + sde_page()[4:12], 2, None),
    ],
)
def test_set_data_encryption_refuses_bad_fields(
    host: EncHost, page: bytes, byte: int, bit: int | None
) -> None:
    host.refused(page, INVALID_FIELD_IN_PARAMETER_LIST, byte, bit)
    assert not host.drive.encryption.active  # nothing was set


def test_set_data_encryption_lengths(host: EncHost) -> None:
    page = sde_page()
    host.refused(page[:-1], PARAMETER_LIST_LENGTH_ERROR, None)  # the page says more than was sent
    host.refused(page[:3], PARAMETER_LIST_LENGTH_ERROR, None)


def test_ckod_needs_a_cartridge(host: EncHost) -> None:
    host.drive.unload()
    host.refused(sde_page(ckod=True), INVALID_FIELD_IN_PARAMETER_LIST, 5, 2)


@pytest.mark.parametrize(
    ("cdb", "byte"),
    [(spout_cdb(52, protocol=0x00), 1), (spout_cdb(52, page=0x11), 2)],
)
def test_spout_refuses_other_protocols_and_pages(host: EncHost, cdb: bytes, byte: int) -> None:
    fields, _ = host.check(cdb, INVALID_FIELD_IN_CDB, out=sde_page())
    assert fields["sense_key_specific"] == cdb_field(byte).bytes3()


# --- writing and reading -------------------------------------------------------------------------


def _write_encrypted(h: EncHost, *blocks: bytes) -> None:
    for block in blocks:
        assert h.write(block).status == Status.GOOD
    h.rewind()


def test_round_trip_and_no_plaintext_in_the_file(host: EncHost, cart_path: Path) -> None:
    host.set_key(kads=kad(0, b"key one"))
    _write_encrypted(host, PLAINTEXT, b"second block")
    assert host.read(len(PLAINTEXT)).status == Status.GOOD
    assert host.data == PLAINTEXT
    assert host.read(12).status == Status.GOOD and host.data == b"second block"
    host.drive.unload()
    raw = cart_path.read_bytes()
    assert b"KNOWN PLAINTEXT" not in raw and b"second block" not in raw
    assert KEY1 not in raw
    with Cartridge.open(cart_path, read_only=True) as cart:
        kinds = [e.kind for e in cart.journal()]
        assert kinds.count(EntryKind.ENCRYPTED_DATA) == 2
        assert cart.partitions[0].lengths.tolist() == [len(PLAINTEXT), 12]
        assert cart.verify() == []


def test_reopened_cartridge_reads_back_with_the_key(host: EncHost, cart_path: Path) -> None:
    host.set_key()
    _write_encrypted(host, PLAINTEXT)
    host.drive.unload()
    host.drive.load(cart_path)
    host.settle()
    assert host.read(len(PLAINTEXT)).status == Status.GOOD and host.data == PLAINTEXT


def _refused_read(h: EncHost, code: SenseCode) -> None:
    before = h.drive.position
    _, r = h.check(bytes([0x08, 0]) + (4096).to_bytes(3, "big") + b"\0", code, n=4096)
    assert not r.data_in_length and h.data == b""
    assert h.drive.position == before  # the tape stays before the block


def test_read_without_a_key(host: EncHost) -> None:
    host.set_key()
    _write_encrypted(host, PLAINTEXT)
    host.set_key(key=None, encrypt=0, decrypt=0)
    _refused_read(host, UNABLE_TO_DECRYPT_DATA)
    assert nbes_status(host) == 6


def test_read_with_a_wrong_key(host: EncHost) -> None:
    host.set_key(kads=kad(0, b"one"))
    _write_encrypted(host, PLAINTEXT)
    host.set_key(KEY2)
    _refused_read(host, INCORRECT_DATA_ENCRYPTION_KEY)
    page = host.spin(0x20, 0x21)
    assert page[12] == 0x06 and page[16:] == kad(0, b"one", flags=1)
    host.set_key(KEY1)  # the right key: the same block reads
    assert host.read(len(PLAINTEXT)).status == Status.GOOD and host.data == PLAINTEXT


def test_a_restarted_drive_has_no_key(host: EncHost, cart_path: Path) -> None:
    host.set_key()
    _write_encrypted(host, PLAINTEXT)
    host.drive.unload()
    drive = TapeDrive(IDENTITY)
    drive.load(cart_path)
    again = EncHost(drive)
    again.settle()
    _refused_read(again, UNABLE_TO_DECRYPT_DATA)


def test_a_block_moved_to_another_position_fails_integrity(host: EncHost) -> None:
    host.set_key()
    _write_encrypted(host, PLAINTEXT, b"second")
    cart = host.drive.mounted()
    envelope = cart.read_envelope(0, 0)
    cart.write_sealed_block(0, 1, [envelope], len(PLAINTEXT))  # block 0's envelope at 1
    host.drive.seek(1)
    _refused_read(host, CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED)
    page = host.spin(0x20, 0x21)
    assert page[12] == 0x05  # the right key, the right algorithm...
    host.drive.seek(0)
    assert host.read(len(PLAINTEXT)).status == Status.GOOD  # ...and block 0 is intact


def test_a_block_copied_to_another_cartridge_fails_integrity(host: EncHost, tmp_path: Path) -> None:
    host.set_key()
    _write_encrypted(host, PLAINTEXT)
    envelope = host.drive.mounted().read_envelope(0, 0)
    host.drive.unload()
    other = tmp_path / "E00002L8.tape"
    with Cartridge.create(other, "E00002L8") as cart:
        cart.write_sealed_block(0, 0, [envelope], len(PLAINTEXT))
    host.drive.load(other)
    host.settle()
    _refused_read(host, CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED)


def test_a_changed_byte_fails_integrity(host: EncHost) -> None:
    host.set_key()
    _write_encrypted(host, PLAINTEXT)
    cart = host.drive.mounted()
    envelope = bytearray(cart.read_envelope(0, 0))
    envelope[-20] ^= 1
    cart.write_sealed_block(0, 0, [bytes(envelope)], len(PLAINTEXT))
    _refused_read(host, CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED)


def test_an_envelope_shorter_than_its_claimed_data_is_a_bad_image(tmp_path: Path) -> None:
    path = tmp_path / "E00003L8.tape"
    with Cartridge.create(path, "E00003L8") as cart:
        cart.write_sealed_block(0, 0, [bytes(40)], 4096)
    with pytest.raises(ImageError, match=r"record 1 at offset 4096: encrypted block claims more"):
        Cartridge.open(path)


def test_tape_dump_marks_encrypted_blocks(host: EncHost) -> None:
    assert host.write(b"clear").status == Status.GOOD
    host.set_key()
    _write_encrypted(host, b"secret", b"hidden")
    assert listing(host.drive.mounted().partitions[0]) == [
        "         0  block of 5 bytes",
        "         1-2  encrypted 2 blocks of 6 bytes",
        "         3  end of data",
    ]


def test_mixed_blocks_on_one_cartridge(host: EncHost) -> None:
    assert host.write(b"clear block").status == Status.GOOD
    host.set_key(decrypt=3)
    assert host.write(PLAINTEXT).status == Status.GOOD
    host.rewind()
    assert nbes_status(host) == 3
    assert host.read(11).status == Status.GOOD and host.data == b"clear block"
    assert nbes_status(host) == 5
    assert host.read(len(PLAINTEXT)).status == Status.GOOD and host.data == PLAINTEXT
    assert nbes_status(host) == 1  # end of data
    host.set_key(decrypt=2)  # DECRYPT: a clear block is refused
    host.rewind()
    _refused_read(host, UNENCRYPTED_DATA_ENCOUNTERED_WHILE_DECRYPTING)
    host.set_key(key=None, encrypt=0, decrypt=0)  # DISABLE: clear blocks read, encrypted do not
    assert host.read(11).status == Status.GOOD
    _refused_read(host, UNABLE_TO_DECRYPT_DATA)


def test_filemark_status(host: EncHost) -> None:
    host.set_key()
    assert host.filemarks(1).status == Status.GOOD
    host.rewind()
    assert nbes_status(host) == 2


def test_raw_read_returns_the_envelope_unless_rdmc_forbids(host: EncHost) -> None:
    host.set_key(rdmc=2)
    _write_encrypted(host, PLAINTEXT)
    envelope = host.drive.mounted().read_envelope(0, 0)
    host.set_key(key=None, encrypt=0, decrypt=1)
    r = host.read(len(envelope))
    assert r.status == Status.GOOD and host.data == envelope
    host.rewind()
    host.set_key(rdmc=3)
    _write_encrypted(host, PLAINTEXT)
    assert host.spin(0x20, 0x21)[14] & 0x01  # RDMDS
    host.set_key(key=None, encrypt=0, decrypt=1)
    _refused_read(host, ENCRYPTED_BLOCK_NOT_RAW_READ_ENABLED)


def test_ceem_refuses_blocks_the_drive_encrypted(host: EncHost) -> None:
    host.set_key()
    _write_encrypted(host, PLAINTEXT)
    host.set_key(ceem=3)
    _refused_read(host, ENCRYPTION_MODE_MISMATCH_ON_READ)
    host.set_key(ceem=2)  # no block was written in EXTERNAL mode
    assert host.read(len(PLAINTEXT)).status == Status.GOOD


def test_fixed_block_mode(host: EncHost) -> None:
    host.ok([0x15, 0x10, 0, 0, 12, 0], out=bytes([0, 0, 0x10, 8, 0, 0, 0, 0, 0, 0, 2, 0]))
    host.set_key()
    data = bytes(range(256)) * 4
    assert host.cmd(bytes([0x0A, 1, 0, 0, 2, 0]), out=data).status == Status.GOOD
    host.rewind()
    r = host.cmd(bytes([0x08, 1, 0, 0, 2, 0]), n=1024)
    assert r.status == Status.GOOD and host.data == data


# --- scopes, locks, clearing -------------------------------------------------------------------


def test_local_scope_belongs_to_its_nexus(host: EncHost) -> None:
    host.nexus = "A"
    host.set_key(scope=1)
    assert host.write(PLAINTEXT).status == Status.GOOD
    host.nexus = "B"
    assert host.write(b"written by B").status == Status.GOOD
    host.rewind()
    assert host.spin(0x20, 0x20)[4] == 0x00  # B: public scope, no key
    _refused_read(host, UNABLE_TO_DECRYPT_DATA)
    host.nexus = "A"
    assert host.spin(0x20, 0x20)[4] == 0x21  # A: local I_T nexus scope, local key scope
    assert host.read(len(PLAINTEXT)).status == Status.GOOD
    host.drive.encryption.nexus_lost("A")
    host.rewind()
    _refused_read(host, UNABLE_TO_DECRYPT_DATA)


def test_a_locked_nexus_sees_the_key_instance_counter_change(host: EncHost) -> None:
    host.nexus = "A"
    host.set_key(lock=True)
    host.nexus = "B"
    host.set_key(KEY2)  # replaces the public parameters A locked to
    host.nexus = "A"
    host.check([0x00] * 6, DATA_ENCRYPTION_PARAMETERS_CHANGED_BY_ANOTHER_I_T_NEXUS)
    r = host.write(PLAINTEXT)
    assert r.status == Status.CHECK_CONDITION
    assert parse_sense(r.sense)[0] == DATA_ENCRYPTION_KEY_INSTANCE_COUNTER_HAS_CHANGED
    assert host.drive.mounted().eod(0) == 0  # nothing was written
    host.set_key(KEY2, lock=True)  # A takes the new parameters: writing works again
    assert host.write(PLAINTEXT).status == Status.GOOD


def test_reset_and_ckod_clear_the_key(host: EncHost, cart_path: Path) -> None:
    host.set_key()
    host.drive.encryption.reset()
    assert host.spin(0x20, 0x20)[5:12] == bytes(7)
    host.set_key(ckod=True)
    host.ok([0x1B, 0, 0, 0, 0, 0])  # LOAD UNLOAD: eject
    assert not host.drive.encryption.active
    host.set_key()  # without CKOD the key stays across a demount
    host.drive.unload()
    host.drive.load(cart_path)
    assert host.drive.encryption.parameters("").encrypting


def test_a_logical_unit_reset_reaches_the_drive(host: EncHost) -> None:
    hook = reset_hook(host.drive)
    host.set_key()
    hook(TmrType.ABORT_TASK, [])
    assert host.drive.encryption.parameters("").encrypting
    hook(TmrType.LUN_RESET, [])
    assert not host.drive.encryption.active


def test_no_key_in_state_files(tmp_path: Path, cart_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    drive = TapeDrive(IDENTITY, state_dir=state)
    drive.load(cart_path)
    h = EncHost(drive)
    h.settle()
    h.set_key()
    assert h.write(PLAINTEXT).status == Status.GOOD
    drive.unload()
    for path in [*state.iterdir(), cart_path]:
        raw = path.read_bytes()
        assert KEY1 not in raw and b"KNOWN PLAINTEXT" not in raw, path


def test_envelope_helpers() -> None:
    params = encryption.EncryptionParameters(
        encryption.EncryptionMode.ENCRYPT,
        encryption.DecryptionMode.DECRYPT,
        1,
        KEY1,
        ukad=b"u" * 3,
        akad=b"a" * 2,
    )
    where = encryption.BlockIdentity(bytes(16), "E00001L8", 0, 3)
    pieces = encryption.seal(params, where, [memoryview(b"abc"), memoryview(b"def")])
    payload = b"".join(pieces)
    assert len(payload) == 6 + encryption.envelope_overhead(params)
    envelope = encryption.parse_envelope(payload)
    assert (envelope.ukad, envelope.akad, envelope.plaintext_length) == (b"uuu", b"aa", 6)
    assert encryption.unseal(params, where, envelope) == b"abcdef"
    with pytest.raises(encryption.EnvelopeError):
        encryption.parse_envelope(b"TDE0" + payload[4:])
    nonces = {
        encryption.parse_envelope(b"".join(encryption.seal(params, where, [b"x"]))).nonce
        for _ in range(50)
    }
    assert len(nonces) == 50
