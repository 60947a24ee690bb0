"""Library and drive personalities as the guest's tools see them.

In the tier's guest, a daemon of its own serves three libraries: an
``ibm-ts3500`` with an ``hp-lto`` drive, an ``stk-sl500`` with an
``ibm-lto`` drive and a ``quantum-scalar-i`` (its 24-byte blank-padded
serial and single T10 designator). ``mtx inquiry`` and ``sg_inq`` must
show each personality's identity (the TS3500's 56-byte, version 3
INQUIRY data and the SL500's 36 bytes), ``mtx status`` and a move must
work over the vendors' element addresses (drives at 0101h and 01F4h, the
SL500's robot at 0000h), and READ ELEMENT STATUS with DVCID (``sg_raw``)
must name the drive by its own personality's identity.
"""

from __future__ import annotations

import re

import pytest

from devemu.personality import DRIVE_PERSONALITIES
from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines, value

pytestmark = pytest.mark.vm

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[library]]
name = "ibmlib"
directory = "@SHARE@/ibm-tapes"
personality = "ibm-ts3500"
slots = 4
import_export = 1
barcode_prefix = "I01"
count = 2

[[library.drives]]
name = "ibmlib-d0"
personality = "hp-lto"

[[library]]
name = "stklib"
directory = "@SHARE@/stk-tapes"
personality = "stk-sl500"
slots = 4
import_export = 1
barcode_prefix = "S01"
count = 2

[[library.drives]]
name = "stklib-d0"
personality = "ibm-lto"

[[library]]
name = "qlib"
directory = "@SHARE@/q-tapes"
personality = "quantum-scalar-i"
slots = 2

[[library.drives]]
name = "qlib-d0"
"""

SCRIPT = r"""
sg_with() { lsscsi -g | awk -v t="$1" -v p="$2" '$2 == t && index($0, p) {print $NF}' | head -n1; }
for _ in $(seq 200); do
    A=$(sg_with mediumx 03584L32); B=$(sg_with mediumx SL500); T=$(sg_with tape "Ultrium 8-SCSI")
    Q=$(sg_with mediumx "Scalar i500")
    [ -c "$A" ] && [ -c "$B" ] && [ -c "$T" ] && [ -c "$Q" ] && break
    sleep 0.05
done
echo "DEVICES $A $B $T $Q"
lsscsi | sed 's/^/LSSCSI /'
mtx -f "$A" inquiry | sed 's/^/MTXA /'
sg_inq "$A" | sed 's/^/SGINQA /'
sg_inq -p sn "$A" | sed 's/^/SNA /'
mtx -f "$A" load 1 0 && echo "LOADA ok"
mtx -f "$A" status | sed 's/^/STATUSA /'
sg_raw -r 1024 "$A" b8 14 00 00 ff ff 01 00 04 00 00 00 2>&1 | sed 's/^/RESA /'
mtx -f "$B" inquiry | sed 's/^/MTXB /'
sg_inq "$B" | sed 's/^/SGINQB /'
mtx -f "$B" load 2 0 && echo "LOADB ok"
mtx -f "$B" status | sed 's/^/STATUSB /'
sg_inq "$T" | sed 's/^/SGINQT /'
mtx -f "$Q" inquiry | sed 's/^/MTXQ /'
sg_vpd -p sn "$Q" | sed 's/^/SNQ /'
sg_vpd -p di "$Q" | sed 's/^/DIQ /'
echo "DONE"
"""


@pytest.fixture(scope="module")
def booted(guest_scripts: GuestScripts) -> VmResult:
    result = guest_scripts.run(SCRIPT, config_toml=CONFIG, timeout=300)
    print(result.output)
    return result


def test_script_completed(booted: VmResult) -> None:
    assert "DONE" in booted.output, booted.output[-4000:]
    devices = value(booted.output, "DEVICES").split()
    assert len(devices) == 4 and all(d.startswith("/dev/sg") for d in devices), devices


def test_mtx_inquiry_shows_each_library_identity(booted: VmResult) -> None:
    a = "\n".join(lines(booted.output, "MTXA"))
    assert "Vendor ID: 'IBM     '" in a, a
    assert "Product ID: '03584L32        '" in a, a
    b = "\n".join(lines(booted.output, "MTXB"))
    assert "Vendor ID: 'STK     '" in b, b
    assert "Product ID: 'SL500           '" in b, b


def test_sg_inq_shows_the_inquiry_style(booted: VmResult) -> None:
    a = "\n".join(lines(booted.output, "SGINQA"))
    assert "Peripheral device type: medium changer" in a, a
    assert re.search(r"\bversion=0x03\b", a), a
    assert re.search(r"\bHiSUP=0\b", a), a
    assert re.search(r"\blength=56 \(0x38\)", a), a
    assert "Vendor identification: IBM" in a, a
    b = "\n".join(lines(booted.output, "SGINQB"))
    assert re.search(r"\blength=36 \(0x24\)", b), b
    assert re.search(r"\bHiSUP=1\b", b), b
    assert "Product identification: SL500" in b, b
    t = "\n".join(lines(booted.output, "SGINQT"))
    assert "Vendor identification: HP" in t, t
    assert "Product identification: Ultrium 8-SCSI" in t, t


def test_quantum_serial_and_single_designator(booted: VmResult) -> None:
    q = "\n".join(lines(booted.output, "MTXQ"))
    assert "Vendor ID: 'QUANTUM '" in q, q
    sn = "\n".join(lines(booted.output, "SNQ"))
    assert "QUANTUM A0C" in sn, sn
    di = "\n".join(lines(booted.output, "DIQ"))
    assert "vendor specific: A0C" in di or "QUANTUM A0C" in di, di
    assert "NAA" not in di, di


def test_moves_work_over_the_vendor_addresses(booted: VmResult) -> None:
    out = booted.output
    assert "LOADA ok" in out and "LOADB ok" in out, out[-4000:]
    a = "\n".join(lines(out, "STATUSA"))
    assert "Data Transfer Element 0:Full (Storage Element 1 Loaded):VolumeTag = I01001L8" in a, a
    b = "\n".join(lines(out, "STATUSB"))
    assert "Data Transfer Element 0:Full (Storage Element 2 Loaded):VolumeTag = S01002L8" in b, b


def dumped(rows: list[str]) -> bytes:
    """The bytes of an ``sg_raw`` hex dump: offset, up to 16 hex bytes, then ASCII."""
    data = bytearray()
    for row in rows:
        tokens = row.split()
        if len(tokens) < 2 or not re.fullmatch(r"[0-9a-f]+", tokens[0]):
            continue
        for token in tokens[1:17]:
            if not re.fullmatch(r"[0-9a-f]{2}", token):
                break
            data.append(int(token, 16))
    return bytes(data)


def test_dvcid_names_the_drive_by_its_personality(booted: VmResult) -> None:
    data = dumped(lines(booted.output, "RESA"))
    # Header, one data transfer page, the drive at 0101h holding I01001L8,
    # and its T10 vendor ID identifier: its own (hp-lto) vendor and product.
    assert data[0:2] == b"\x01\x01" and data[8] == 0x04, data.hex()
    assert data[16:18] == b"\x01\x01", data.hex()
    assert data[28:36] == b"I01001L8", data.hex()
    assert data[64:68] == bytes([2, 1, 0, 34]), data.hex()
    drive = DRIVE_PERSONALITIES["hp-lto"].identity(8)
    expected = drive.vendor.ljust(8).encode() + drive.product.ljust(16).encode()
    assert data[68:92] == expected, data.hex()
