"""What the Linux 6.1 upper-level drivers send, replayed against every device type.

Each test sends the CDBs a driver builds, byte for byte (drivers/scsi/
scsi_scan.c, scsi.c, scsi_lib.c, sd.c, sr.c, st.c, ch.c and
drivers/cdrom/cdrom.c of Linux 6.1), and parses the answer the way that
driver does, so a device that would make the kernel fall back ("scsi-1
drive", "Asking for cache data failed", "No Mode Sense", an empty
changer) fails here first.

Kernel facts these tests rest on:

- INQUIRY VERSION 07h makes ``scsi_level`` 8 (SPC-5), 06h 7 (SPC-4): the midlayer never
  puts the LUN into CDB byte 1 (``lun_in_cdb`` is only set up to SCSI-2),
  VPD pages are read (``scsi_level >= SCSI_SPC_2``) and sd asks READ
  CAPACITY(16) first (``scsi_level > SCSI_SPC_2``).
- tcm_loop does not set ``use_10_for_ms``, so ``scsi_mode_sense()`` sends
  MODE SENSE(6) unless more than 255 bytes are asked for; sr's
  ``get_capabilities()`` is MODE SENSE(6) page 2Ah, DBD 0, 128 bytes.
  cdrom.c's own ``cdrom_mode_sense()`` always sends MODE SENSE(10).
- ch fills ``(lun & 7) << 5`` into byte 1 of MODE SENSE(6) and of every
  SMC command whatever the INQUIRY version says.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devemu.cdrom.device import CdromDevice
from devemu.changer.device import MediumChanger
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage, create_image
from devemu.scsi.command import Command, Status, answered
from devemu.scsi.device import ScsiDevice
from devemu.scsi.identity import Identity
from devemu.scsi.sense import SenseCode, SenseKey, parse_sense
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive
from tests.unit.changer.test_library_fakes import make_changer

BLOCKS = 2048
#: include/scsi/scsi.h
SCSI_2 = 3
SCSI_SPC_2 = 5
#: drivers/scsi/scsi.c: the supported pages list read before any other page.
SCSI_VPD_LIST_SIZE = 36
#: The VPD pages scsi_attach_vpd() keeps (drivers/scsi/scsi.c).
ATTACHED_VPD_PAGES = (0x00, 0x80, 0x83, 0x89, 0xB0, 0xB1, 0xB2)


def be16(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 2], "big")


def be32(data: bytes, at: int) -> int:
    return int.from_bytes(data[at : at + 4], "big")


# --- an initiator that behaves like scsi_execute_req() ---------------------------------


@dataclass
class Reply:
    status: Status
    code: SenseCode | None
    data: bytes

    @property
    def good(self) -> bool:
        return self.status == Status.GOOD


class Initiator:
    """Sends CDBs the way the midlayer does: a fresh buffer of ``buflen`` bytes."""

    def __init__(self, device: ScsiDevice) -> None:
        self.device = device

    def send(
        self, cdb: bytes | bytearray | list[int], buflen: int = 0, data_out: bytes | None = None
    ) -> Reply:
        buf = bytearray(data_out) if data_out is not None else bytearray(buflen)
        iov = [memoryview(buf)] if buf else []
        result = answered(self.device.execute(Command(bytes(cdb), iov)))
        code = parse_sense(result.sense)[0] if result.sense else None
        data = b"" if data_out is not None else bytes(buf[: result.data_in_length or 0])
        return Reply(Status(result.status), code, data)

    def eat_unit_attentions(self) -> Reply:
        """TEST UNIT READY until no unit attention is left (sd_spinup_disk, sr, st)."""
        for _ in range(8):
            reply = self.send([0x00, 0, 0, 0, 0, 0])
            if reply.code is None or reply.code.key != SenseKey.UNIT_ATTENTION:
                return reply
        raise AssertionError("unit attentions never end")


@dataclass
class ModeData:
    """struct scsi_mode_data as scsi_mode_sense() fills it."""

    length: int
    medium_type: int
    device_specific: int
    longlba: bool
    block_descriptor_length: int
    header_length: int

    @property
    def first_page(self) -> int:
        return self.header_length + self.block_descriptor_length


def scsi_mode_sense(
    host: Initiator, dbd: int, modepage: int, length: int, *, ten: bool = False, retries: int = 3
) -> tuple[ModeData, bytes] | None:
    """drivers/scsi/scsi_lib.c scsi_mode_sense(); None where it returns an error."""
    use_10 = ten or length > 255
    cdb = bytearray(10 if use_10 else 6)
    cdb[1] = dbd & 0x18
    cdb[2] = modepage
    if use_10:
        cdb[0] = 0x5A
        cdb[7:9] = length.to_bytes(2, "big")
    else:
        cdb[0] = 0x1A
        cdb[4] = length
    for _ in range(retries + 1):
        reply = host.send(cdb, length)
        if reply.good:
            break
        if reply.code is None or reply.code.key != SenseKey.UNIT_ATTENTION:
            return None
    else:
        return None
    buf = reply.data.ljust(length, b"\0")
    if use_10:
        data = ModeData(be16(buf, 0) + 2, buf[2], buf[3], bool(buf[4] & 1), be16(buf, 6), 8)
    else:
        data = ModeData(buf[0] + 1, buf[1], buf[2], False, buf[3], 4)
    return data, buf


# --- the SCSI scan: INQUIRY and VPD ---------------------------------------------------


def scsi_vpd_inquiry(host: Initiator, page: int, length: int) -> tuple[int, bytes] | None:
    """drivers/scsi/scsi.c scsi_vpd_inquiry(): (page length + 4, buffer) or None."""
    reply = host.send([0x12, 0x01, page, length >> 8, length & 0xFF, 0], length)
    if not reply.good:
        return None
    buf = reply.data.ljust(length, b"\0")
    if buf[1] != page or be16(buf, 2) == 0:
        return None
    return be16(buf, 2) + 4, buf


def scsi_get_vpd_size(host: Initiator, page: int) -> int:
    """drivers/scsi/scsi.c scsi_get_vpd_size()."""
    if page != 0:
        listed = scsi_vpd_inquiry(host, 0, SCSI_VPD_LIST_SIZE)
        if listed is None:
            return 0
        n = min(listed[0], SCSI_VPD_LIST_SIZE) - 4
        if page not in listed[1][4 : 4 + n]:
            return 0
    header = scsi_vpd_inquiry(host, page, 4)
    return 0 if header is None else header[0]


def scsi_get_vpd_buf(host: Initiator, page: int) -> bytes | None:
    """drivers/scsi/scsi.c scsi_get_vpd_buf(): the page, sized as the device said."""
    size = scsi_get_vpd_size(host, page)
    if size <= 0:
        return None
    got = scsi_vpd_inquiry(host, page, size)
    assert got is not None, f"VPD page 0x{page:02x} failed after its header worked"
    assert got[0] <= size, f"VPD page 0x{page:02x} grew between two INQUIRYs"
    return got[1][: got[0]]


@dataclass
class Scanned:
    inquiry: bytes
    scsi_level: int
    lun_in_cdb: bool
    vpd: dict[int, bytes]


def scsi_scan(host: Initiator) -> Scanned:
    """scsi_probe_lun() then scsi_add_lun() and scsi_attach_vpd()."""
    first = host.send([0x12, 0, 0, 0, 36, 0], 36)
    assert first.good
    response_len = first.data[4] + 5
    assert 36 <= response_len <= 255
    inquiry = first.data
    if response_len > 36:
        second = host.send([0x12, 0, 0, 0, response_len, 0], response_len)
        assert second.good
        assert second.data[:36] == first.data
        inquiry = second.data
    assert len(inquiry) == response_len
    scsi_level = inquiry[2] & 0x07
    if scsi_level >= 2 or (scsi_level == 1 and (inquiry[3] & 0x0F) == 1):
        scsi_level += 1
    lun_in_cdb = scsi_level <= SCSI_2 and scsi_level != 0
    vpd: dict[int, bytes] = {}
    if scsi_level >= SCSI_SPC_2:
        listed = scsi_get_vpd_buf(host, 0)
        assert listed is not None, "the supported VPD pages page must be answered"
        for code in listed[4:]:
            if code in ATTACHED_VPD_PAGES:
                page = scsi_get_vpd_buf(host, code)
                assert page is not None, f"VPD page 0x{code:02x} listed but not answered"
                vpd[code] = page
    return Scanned(inquiry, scsi_level, lun_in_cdb, vpd)


# --- the four device types ---------------------------------------------------------------


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[Disk]:
    path = tmp_path / "disk.img"
    create_image(path, 512 * BLOCKS, 512)
    device = Disk(DiskImage(path, 512), Identity("DEVEMU", "VIRTUAL DISK", "0100", "DISK0001"))
    yield device
    device.close()


@pytest.fixture
def cdrom() -> CdromDevice:
    return CdromDevice(Identity("DEVEMU", "VIRTUAL CDROM", "0100", "CD0001"))


@pytest.fixture
def tape(tmp_path: Path) -> TapeDrive:
    path = tmp_path / "A00001L8.tape"
    Cartridge.create(path, "A00001L8").close()
    drive = TapeDrive(Identity("DEVEMU", "LTO-8 TAPE", "0100", "DRV0001"))
    drive.load(path)
    return drive


@pytest.fixture
def changer(tmp_path: Path) -> MediumChanger:
    return make_changer(tmp_path)


DEVICE_TYPES = {"disk": 0x00, "cdrom": 0x05, "tape": 0x01, "changer": 0x08}


@pytest.fixture(params=sorted(DEVICE_TYPES))
def kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def any_device(kind: str, request: pytest.FixtureRequest) -> ScsiDevice:
    device = request.getfixturevalue(kind)
    assert isinstance(device, ScsiDevice)
    return device


def test_scan_reads_inquiry_twice_and_sees_the_claimed_level(
    kind: str, any_device: ScsiDevice
) -> None:
    scanned = scsi_scan(Initiator(any_device))
    inq = scanned.inquiry
    assert inq[0] == DEVICE_TYPES[kind]  # peripheral qualifier 0: a LUN is present
    assert bool(inq[1] & 0x80) == (kind != "disk")  # RMB: sdev->removable
    # VERSION + 1: SPC-4 (the disk's default claims) is 7, SPC-5 is 8.
    assert scanned.scsi_level == (7 if kind == "disk" else 8)
    assert not scanned.lun_in_cdb
    assert inq[7] & 0x02  # CmdQue: sdev->tagged_supported
    assert inq[5] & 0x30 == 0  # no TPGS: no ALUA device handler, no RTPG
    assert inq[3] & 0x0F == 2


def test_scan_attaches_serial_and_identification_pages(kind: str, any_device: ScsiDevice) -> None:
    vpd = scsi_scan(Initiator(any_device)).vpd
    assert {0x00, 0x80, 0x83} <= set(vpd)
    assert all(page[0] == DEVICE_TYPES[kind] for page in vpd.values())
    assert vpd[0x80][4:].decode() == any_device.identity.serial
    # scsi_vpd_lun_id() walks the designators; every one must fit in the page.
    page = vpd[0x83]
    pos, designators = 4, []
    while pos < len(page):
        assert pos + 4 <= len(page)
        designators.append(
            (page[pos] & 0x0F, page[pos + 1] & 0x3F, page[pos + 4 : pos + 4 + page[pos + 3]])
        )
        pos += 4 + page[pos + 3]
    assert pos == len(page)
    naa = [d for code_set, kind_, d in designators if kind_ == 0x03 and code_set == 1]
    assert naa and len(naa[0]) == 16 and naa[0][0] >> 4 == 6  # NAA IEEE Registered Extended


def test_supported_pages_fit_the_kernels_36_byte_list(any_device: ScsiDevice) -> None:
    host = Initiator(any_device)
    listed = scsi_vpd_inquiry(host, 0, SCSI_VPD_LIST_SIZE)
    assert listed is not None
    assert listed[0] <= SCSI_VPD_LIST_SIZE
    codes = listed[1][4 : listed[0]]
    assert list(codes) == sorted(set(codes))
    assert codes[0] == 0x00


def test_report_lun_scan_outside_tcmu(any_device: ScsiDevice) -> None:
    """scsi_report_lun_scan(): what a transport that passes REPORT LUNS on would see.

    Through TCMU the kernel answers REPORT LUNS itself.
    """
    length = (511 + 1) * 8
    cdb = bytes([0xA0, 0, 0, 0, 0, 0]) + length.to_bytes(4, "big") + bytes(2)
    host = Initiator(any_device)
    reply = host.send(cdb, length)
    if not reply.good:  # retried while UNIT ATTENTION, as the scan does
        assert reply.code is not None and reply.code.key == SenseKey.UNIT_ATTENTION
        reply = host.send(cdb, length)
    assert reply.good
    listed = be32(reply.data, 0)
    assert listed + 8 <= length and listed % 8 == 0
    assert reply.data[8 : 8 + listed] == bytes(8)  # LUN 0 only


def test_only_a_disk_lists_block_pages(kind: str, any_device: ScsiDevice) -> None:
    vpd = scsi_scan(Initiator(any_device)).vpd
    if kind == "disk":
        assert {0xB0, 0xB1} <= set(vpd)
    elif kind in ("cdrom", "changer"):
        assert not {0xB0, 0xB1, 0xB2} & set(vpd)
    assert 0x89 not in vpd  # no ATA Information page: WRITE SAME stays usable


# --- sd: sd_revalidate_disk() ----------------------------------------------------------


def test_sd_read_capacity_16_first(disk: Disk) -> None:
    host = Initiator(disk)
    host.eat_unit_attentions()
    cdb = bytes([0x9E, 0x10]) + bytes(11) + bytes([32, 0, 0])  # cmd[13] = RC16_LEN
    reply = host.send(cdb, 32)
    assert reply.good and len(reply.data) == 32
    buf = reply.data
    assert int.from_bytes(buf[0:8], "big") + 1 == BLOCKS
    assert be32(buf, 8) == 512
    assert buf[12] & 0x01 == 0  # no protection: sd_config_protection() leaves DIF off
    assert (1 << (buf[13] & 0x0F)) * 512 >= 512
    assert ((buf[14] & 0x3F) << 8 | buf[15]) == 0


def test_sd_block_limits_and_characteristics(disk: Disk) -> None:
    host = Initiator(disk)
    vpd = scsi_scan(host).vpd
    assert len(vpd[0xB0]) >= 16  # sd_read_block_limits(): vpd->len >= 16
    assert len(vpd[0xB1]) >= 8  # sd_read_block_characteristics()
    host.eat_unit_attentions()
    rc16 = host.send(bytes([0x9E, 0x10]) + bytes(11) + bytes([32, 0, 0]), 32).data
    if rc16[14] & 0x80:  # LBPME: sd_read_block_provisioning() and the unmap limits
        assert 0xB2 in vpd and len(vpd[0xB2]) >= 8
        assert len(vpd[0xB0]) >= 64


def test_sd_read_write_protect_flag_first_attempt_works(disk: Disk) -> None:
    host = Initiator(disk)
    host.eat_unit_attentions()
    got = scsi_mode_sense(host, 0, 0x3F, 4)
    assert got is not None, "Test WP failed, assume Write Enabled"
    data, buf = got
    assert buf[:4] == Initiator(disk).send([0x1A, 0, 0x3F, 0, 255, 0], 255).data[:4]
    assert data.device_specific & 0x80 == 0
    assert data.length <= 255


def test_sd_sees_write_protect_of_a_read_only_image(tmp_path: Path) -> None:
    path = tmp_path / "ro.img"
    create_image(path, 512 * BLOCKS, 512)
    device = Disk(DiskImage(path, 512, read_only=True), Identity("DEVEMU", "RO", "0100", "RO1"))
    try:
        host = Initiator(device)
        host.eat_unit_attentions()
        got = scsi_mode_sense(host, 0, 0x3F, 4)
        assert got is not None
        assert got[0].device_specific & 0x80
    finally:
        device.close()


def test_sd_read_cache_type_finds_the_caching_page(disk: Disk) -> None:
    host = Initiator(disk)
    host.eat_unit_attentions()
    first = scsi_mode_sense(host, 0, 0x08, 4)  # "cautiously ask"
    assert first is not None, "Asking for cache data failed"
    length = first[0].length
    assert first[0].header_length and 3 <= length <= 512
    got = scsi_mode_sense(host, 0, 0x08, length)
    assert got is not None
    data, buf = got
    offset = data.first_page
    while offset < length:  # the page walk of sd_read_cache_type()
        code, spf = buf[offset] & 0x3F, buf[offset] & 0x40
        if code in (8, 6):
            assert length - offset > 2, "Incomplete mode parameter data"
            break
        offset += 4 + be16(buf, offset + 2) if spf else 2 + buf[offset + 1]
    else:
        raise AssertionError("No Caching mode page found")
    assert code == 8
    wce = bool(buf[offset + 2] & 0x04)
    assert wce == bool(disk.mode_pages.get(8).current[0] & 0x04)  # type: ignore[union-attr]
    assert data.device_specific & 0x10  # DPOFUA with READ/WRITE(10)


def test_sd_read_app_tag_own_gets_the_control_page(disk: Disk) -> None:
    # scsi_mode_sense(sdp, 1, 0x0a, buffer, 36, ...): dbd & 0x18 drops the 1.
    host = Initiator(disk)
    host.eat_unit_attentions()
    got = scsi_mode_sense(host, 1, 0x0A, 36)
    assert got is not None
    data, buf = got
    assert data.header_length and data.length >= 6
    assert buf[data.first_page] & 0x3F == 0x0A
    assert buf[data.first_page + 5] & 0x80 == 0  # ATO 0


def scsi_report_opcode(host: Initiator, opcode: int, cdb_size: int) -> int:
    """drivers/scsi/scsi.c scsi_report_opcode(): -22, 0 or 1."""
    request_len = 4 + cdb_size
    cdb = bytes([0xA3, 0x0C, 0x01, opcode, 0, 0]) + request_len.to_bytes(4, "big") + bytes(2)
    reply = host.send(cdb, request_len)
    if not reply.good:
        assert reply.code is not None
        if reply.code.key == SenseKey.ILLEGAL_REQUEST and reply.code.asc in (0x20, 0x24):
            return -22
        raise AssertionError(reply.code)
    return 1 if reply.data[1] & 3 == 3 else 0


def test_sd_read_write_same_asks_report_supported_operation_codes(disk: Disk) -> None:
    host = Initiator(disk)
    host.eat_unit_attentions()
    assert scsi_report_opcode(host, 0x12, 6) == 1  # else no_report_opcodes
    assert scsi_report_opcode(host, 0x93, 16) == int((0x93, None) in disk.commands)
    assert scsi_report_opcode(host, 0x41, 10) == int((0x41, None) in disk.commands)
    assert scsi_report_opcode(host, 0xA2, 12) == int((0xA2, None) in disk.commands)


def test_sd_read_cpr_finds_no_concurrent_ranges_page(disk: Disk) -> None:
    assert scsi_get_vpd_size(Initiator(disk), 0xB9) == 0


# --- sr: sr_probe() and the cdrom layer ---------------------------------------------------


def sr_get_capabilities(host: Initiator) -> bytes | None:
    """drivers/scsi/sr.c get_capabilities(): page 2Ah, or None for a "scsi-1 drive"."""
    ms_len = 128
    got = scsi_mode_sense(host, 0, 0x2A, ms_len)
    if got is None:
        return None
    data, buf = got
    if data.length > ms_len or data.first_page > data.length:
        return None
    return buf[data.first_page : data.length]


def test_sr_probe_sees_an_mmc_drive_without_a_disc(cdrom: CdromDevice) -> None:
    host = Initiator(cdrom)
    tur = host.eat_unit_attentions()
    assert tur.code is not None and tur.code.key == SenseKey.NOT_READY
    page = sr_get_capabilities(host)
    assert page is not None, "scsi-1 drive"
    assert page[0] & 0x3F == 0x2A and page[1] + 2 <= len(page)
    assert be16(page, 8) // 176 >= 1  # cdi.speed
    assert page[6] >> 5 == 1  # tray: CDC_CLOSE_TRAY stays
    assert page[6] & 0x08  # eject: CDC_OPEN_TRAY stays
    assert page[5] & 0x01  # CD-DA commands: readcd_cdda


def test_sr_capabilities_same_through_mode_sense_10(cdrom: CdromDevice) -> None:
    host = Initiator(cdrom)
    host.eat_unit_attentions()
    six = sr_get_capabilities(host)
    got = scsi_mode_sense(host, 0, 0x2A, 128, ten=True)
    assert got is not None and six is not None
    data, buf = got
    assert buf[data.first_page : data.length] == six


def test_cdrom_probe_write_features(cdrom: CdromDevice) -> None:
    """cdrom_is_mrw(), cdrom_is_random_writable() and cdrom_mmc3_profile()."""
    host = Initiator(cdrom)
    host.eat_unit_attentions()
    for feature, size in ((0x28, 16), (0x20, 24), (0x00, 32)):
        cdb = bytes([0x46, 0, feature >> 8, feature & 0xFF, 0, 0, 0, 0, size, 0])
        reply = host.send(cdb, size)
        assert reply.good, reply.code
        assert len(reply.data) == size
        assert be32(reply.data, 0) >= 4
        if feature == 0x28:
            assert be16(reply.data, 8) != 0x28  # cdrom_is_mrw(): not an MRW drive
    profile = be16(host.send(bytes([0x46, 0, 0, 0, 0, 0, 0, 0, 32, 0]), 32).data, 6)
    assert profile == 0x0000  # no disc: cdrom_is_dvd_rw() is true, open for write refused


def test_cdrom_volume_read_and_set(cdrom: CdromDevice) -> None:
    """mmc_ioctl_cdrom_volume(): CDROMVOLREAD then CDROMVOLCTRL."""
    host = Initiator(cdrom)
    host.eat_unit_attentions()

    def sense10(pc: int, buflen: int) -> bytes:
        cdb = bytes([0x5A, 0, 0x0E | pc << 6, 0, 0, 0, 0, buflen >> 8, buflen & 0xFF, 0])
        reply = host.send(cdb, buflen)
        assert reply.good, reply.code
        return reply.data.ljust(buflen, b"\0")

    buflen = 24
    buffer = sense10(0, buflen)
    offset = 8 + be16(buffer, 6)
    assert offset + 16 <= 32
    if offset + 16 > buflen:
        buflen = offset + 16
        buffer = sense10(0, buflen)
    assert buffer[offset] & 0x3F == 0x0E and buffer[offset + 1] >= 14
    mask = sense10(1, buflen)
    wanted = [0x80, 0x40, 0, 0]
    page = bytearray(buffer)
    for i, volume in enumerate(wanted):
        page[offset + 9 + 2 * i] = volume & mask[offset + 9 + 2 * i]
    out = bytearray(8) + page[offset:buflen]
    reply = host.send(bytes([0x55, 0x10, 0, 0, 0, 0, 0, 0, len(out), 0]), data_out=bytes(out))
    assert reply.good, reply.code
    again = sense10(0, buflen)
    assert [again[offset + 9 + 2 * i] for i in range(4)] == [
        v & mask[offset + 9 + 2 * i] for i, v in enumerate(wanted)
    ]


# --- st: check_tape(), MTSETBLK, compression, partitions ----------------------------------


def st_mode_sense_page0(host: Initiator) -> bytes:
    reply = host.send([0x1A, 0, 0, 0, 12, 0], 12)
    assert reply.good, f"No Mode Sense: {reply.code}"
    return reply.data


def test_st_check_tape(tape: TapeDrive) -> None:
    host = Initiator(tape)
    assert host.eat_unit_attentions().good
    limits = host.send([0x05, 0, 0, 0, 0, 0], 6)
    assert limits.good and len(limits.data) == 6
    max_block = int.from_bytes(limits.data[1:4], "big")
    min_block = be16(limits.data, 4)
    assert 1 <= min_block <= max_block
    b_data = st_mode_sense_page0(host)
    assert len(b_data) == 12 and b_data[0] == 11
    assert b_data[3] >= 8  # the block descriptor st reads
    assert b_data[4] == tape.cartridge.medium.density_code  # type: ignore[union-attr]
    assert int.from_bytes(b_data[9:12], "big") == tape.block_length
    assert (b_data[2] >> 4) & 7 == tape.buffered_mode  # drv_buffer
    assert b_data[2] & 0x80 == 0  # drv_write_prot


def test_st_sees_write_protect(tmp_path: Path) -> None:
    path = tmp_path / "B00001L8.tape"
    Cartridge.create(path, "B00001L8").close()
    path.chmod(0o444)
    drive = TapeDrive(Identity("DEVEMU", "LTO-8 TAPE", "0100", "DRV0002"))
    drive.load(path)
    host = Initiator(drive)
    host.eat_unit_attentions()
    assert st_mode_sense_page0(host)[2] & 0x80


def test_st_set_block_size_then_variable(tape: TapeDrive) -> None:
    host = Initiator(tape)
    host.eat_unit_attentions()
    density = st_mode_sense_page0(host)[4]
    for size in (65536, 0):
        b_data = bytearray(12)
        b_data[2] = 1 << 4  # STp->drv_buffer
        b_data[3] = 8
        b_data[4] = density
        b_data[9:12] = size.to_bytes(3, "big")
        reply = host.send([0x15, 0x10, 0, 0, 12, 0], data_out=bytes(b_data))  # use_pf
        assert reply.good, reply.code
        assert int.from_bytes(st_mode_sense_page0(host)[9:12], "big") == size


def test_st_compression_round_trip(tape: TapeDrive) -> None:
    host = Initiator(tape)
    host.eat_unit_attentions()
    for state in (0, 1):
        reply = host.send([0x1A, 0, 0x0F, 0, 255, 0], 255)  # read_mode_page(.., 0)
        assert reply.good
        b_data = bytearray(reply.data)
        mpoffs = 4 + b_data[3]
        assert b_data[mpoffs] & 0x3F == 0x0F
        assert b_data[mpoffs + 2] & 0x40, "Compression not supported"
        if state:
            b_data[mpoffs + 2] |= 0x80
        else:
            b_data[mpoffs + 2] &= ~0x80 & 0xFF
        # write_mode_page(): header fields cleared, PS bit dropped.
        pgo = 4 + b_data[3]
        length = pgo + b_data[pgo + 1] + 2
        b_data[0] = b_data[1] = 0
        b_data[2] &= ~0x80 & 0xFF
        b_data[pgo] &= 0x3F
        reply = host.send([0x15, 0x10, 0, 0, length, 0], data_out=bytes(b_data[:length]))
        assert reply.good, reply.code
        check = host.send([0x1A, 0x08, 0x0F, 0, 255, 0], 255).data
        assert bool(check[4 + 2] & 0x80) == bool(state)


def test_st_counts_partitions(tape: TapeDrive) -> None:
    host = Initiator(tape)
    host.eat_unit_attentions()
    reply = host.send([0x1A, 0x08, 0x11, 0, 255, 0], 255)  # nbr_partitions()
    assert reply.good
    assert reply.data[3] == 0 and reply.data[4] & 0x3F == 0x11
    assert reply.data[4 + 3] + 1 >= 1


# --- ch: ch_readconfig(), ch_init_elem(), the element ioctls ----------------------------


def ch_readconfig(host: Initiator, lun: int) -> dict[str, tuple[int, int]]:
    """drivers/scsi/ch.c ch_readconfig(): the first and count of each element type."""
    cmd = bytearray(10)  # sent with cmd_len 10; the target core takes 6 bytes of it
    cmd[0] = 0x1A
    cmd[1] = (lun & 0x7) << 5
    cmd[2] = 0x1D
    cmd[4] = 255
    reply = host.send(cmd, 255)
    if not reply.good:
        cmd[1] |= 1 << 3
        reply = host.send(cmd, 255)
    assert reply.good, "reading element address assignment page failed!"
    buffer = reply.data.ljust(255, b"\0")
    base = buffer[3]
    return {
        name: (be16(buffer, base + at), be16(buffer, base + at + 2))
        for name, at in (("mt", 6), ("st", 10), ("ie", 14), ("dt", 18))
    }


@pytest.mark.parametrize("lun", [0, 1, 5, 7])
def test_ch_readconfig_at_any_lun(changer: MediumChanger, lun: int) -> None:
    layout = changer.library.layout
    config = ch_readconfig(Initiator(changer), lun)
    assert config["dt"][1] == layout.drives
    assert config["st"][1] == layout.slots
    assert config["ie"][1] == layout.import_export
    assert config["mt"][1] >= 1


def ch_read_element_status(
    host: Initiator, lun: int, elem: int, typecode: int, voltags: bool
) -> bytes:
    cmd = bytearray(12)
    cmd[0] = 0xB8
    cmd[1] = ((lun & 0x7) << 5) | (0x10 if voltags else 0) | typecode
    cmd[2:4] = elem.to_bytes(2, "big")
    cmd[5] = 1
    cmd[9] = 255
    reply = host.send(cmd, 256)
    assert reply.good, reply.code
    buffer = reply.data.ljust(256, b"\0")
    assert be16(buffer, 16) == elem, "asked for one element, got another"
    return buffer[16:32]


@pytest.mark.parametrize("lun", [0, 3])
def test_ch_probe_reads_drives_and_initializes(changer: MediumChanger, lun: int) -> None:
    host = Initiator(changer)
    config = ch_readconfig(host, lun)
    first, count = config["dt"]
    for elem in range(first, first + count):
        data = ch_read_element_status(host, lun, elem, 4, voltags=False)
        assert data[6] & 0x80 == 0  # on this bus: ch looks the drive up
    assert host.send([0x07, (lun & 7) << 5, 0, 0, 0, 0]).good  # ch_init_elem()
    for elem in range(config["st"][0], config["st"][0] + config["st"][1]):
        data = ch_read_element_status(host, lun, elem, 2, voltags=True)  # CHIOGSTATUS
        assert data[2] & 0x01 in (0, 1)


def test_ch_move_medium_with_lun_bits(changer: MediumChanger) -> None:
    lun = 2
    host = Initiator(changer)
    config = ch_readconfig(host, lun)
    slots = range(config["st"][0], config["st"][0] + config["st"][1])
    full = [e for e in slots if ch_read_element_status(host, lun, e, 2, True)[2] & 0x01]
    assert full
    drive = config["dt"][0]
    cmd = bytearray(12)
    cmd[0] = 0xA5
    cmd[1] = lun << 5
    cmd[2:4] = config["mt"][0].to_bytes(2, "big")
    cmd[4:6] = full[0].to_bytes(2, "big")
    cmd[6:8] = drive.to_bytes(2, "big")
    assert host.send(cmd).good
    assert ch_read_element_status(host, lun, drive, 4, True)[2] & 0x01
