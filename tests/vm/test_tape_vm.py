"""A tape library under the real kernel: lsscsi, mtx, mt, tar, dd, tapeinfo, sg_logs.

In the tier's guest, a daemon of its own serves a library (a changer and
two LTO-8 drives); the script drives it with the tools people use: ``mtx``
loads, unloads and transfers cartridges through ``/dev/schN``; ``mt``, ``tar``
and ``dd`` work the tape through ``/dev/nst*``; ``tapeinfo`` and
``sg_logs`` read the drive's pages; ``devemu library`` exports and imports
a cartridge. Then the daemon is killed with SIGKILL and started again:
the inventory, the cartridge left in a drive and the data on the tapes
must all still be there.
"""

from __future__ import annotations

import re

import pytest

from devemu.personality.generic import GENERIC_DRIVE, GENERIC_LIBRARY
from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines, value

pytestmark = pytest.mark.vm

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[library]]
name = "vtl0"
directory = "/run/vtl-tapes"
slots = 8
import_export = 1
barcode_prefix = "E01"
count = 4
serial = "VMLIB00001"
auto_unload = false

[[library.drives]]
name = "vtl0-d0"
serial = "VMDRIVE001"

[[library.drives]]
name = "vtl0-d1"
serial = "VMDRIVE002"
"""

SCRIPT = (
    guest_functions(ready_timeout=45)
    + r"""
CFG="$DEVEMU_VM_SHARE/vtl.toml"
start() {
    serve_start "$CFG" "/tmp/serve$1.log" -v
    pid=$serve_pid
}
tape_for() { node_with_serial "$1" /sys/class/scsi_tape/nst[0-9]*; }
sg_of() { ls "/sys/class/scsi_tape/${1##*/}/device/scsi_generic"; }
find_devices() {
    CH=""
    for _ in $(seq 200); do
        CH=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {print $(NF-1)}' | head -n1)
        T0=$(tape_for VMDRIVE001); T1=$(tape_for VMDRIVE002)
        [ -c "$CH" ] && [ -n "$T0" ] && [ -n "$T1" ] && break
        sleep 0.05
    done
    CHSG=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {print $NF}' | head -n1)
    SG0=/dev/$(sg_of "$T0")
    echo "DEVICES $CH $CHSG $T0 $SG0 $T1"
}
wait_ready() {
    for _ in $(seq 100); do mt -f "$1" status > /dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
tell() { mt -f "$T0" tell 2>&1 | sed -n 's/^At block \([0-9]*\)\..*/\1/p'; }

start 1
lsscsi -g | sed 's/^/LSSCSI /'
find_devices
mtx -f "$CH" status | sed 's/^/MTX1 /'

# --- robot load, then the tape as a tape
mtx -f "$CH" load 1 0 && echo "LOAD1 ok"
wait_ready "$T0" && echo "READY1 ok"
mt -f "$T0" status | sed 's/^/MTSTATUS /'
mkdir -p /tmp/a /tmp/b /tmp/x1 /tmp/x2 /tmp/x3
head -c 300000 /dev/urandom > /tmp/a/one.bin; echo hello > /tmp/a/two.txt
head -c 123456 /dev/urandom > /tmp/b/three.bin
blocks() { echo $(($(tar -cf - -C "$1" . | wc -c) / 10240)); }
echo "TARBLOCKS $(blocks /tmp/a) $(blocks /tmp/b)"
mt -f "$T0" rewind
tar -cf "$T0" -C /tmp/a . && echo "TAR1 ok"
tar -cf "$T0" -C /tmp/b . && echo "TAR2 ok"
echo "TELL_END $(tell)"
mt -f "$T0" rewind
echo "TELL_BOT $(tell)"
mt -f "$T0" fsf 1 && echo "TELL_FSF $(tell)"
tar -xf "$T0" -C /tmp/x2 && cmp /tmp/b/three.bin /tmp/x2/three.bin && echo "ARCHIVE2 ok"
mt -f "$T0" rewind
tar -xf "$T0" -C /tmp/x1 && cmp /tmp/a/one.bin /tmp/x1/one.bin \
    && cmp /tmp/a/two.txt /tmp/x1/two.txt && echo "ARCHIVE1 ok"
mt -f "$T0" eod && echo "TELL_EOD $(tell)"
mt -f "$T0" bsf 1 && echo "TELL_BSF $(tell)"
mt -f "$T0" fsf 1 && echo "TELL_FSF2 $(tell)"
mt -f "$T0" seek 3 && echo "TELL_SEEK $(tell)"

# --- variable-length records with dd: two records in one open, then a filemark
mt -f "$T0" eod; P=$(tell)
head -c 3000 /dev/urandom > /tmp/r1; head -c 40000 /dev/urandom > /tmp/r2
{ dd if=/tmp/r1 bs=3000 count=1; dd if=/tmp/r2 bs=40000 count=1; } 2>/dev/null > "$T0"
mt -f "$T0" weof 1 && echo "WEOF $(tell) $P"
mt -f "$T0" seek "$P"
{ dd of=/tmp/o1 bs=65536 count=1 2>&1 | sed -n 's/^\(.*\) records in$/DD_IN1 \1/p'
  dd of=/tmp/o2 bs=65536 count=1 2>/dev/null; } < "$T0"
cmp /tmp/r1 /tmp/o1 && cmp /tmp/r2 /tmp/o2 \
    && echo "DD_RECORDS ok $(stat -c %s /tmp/o1) $(stat -c %s /tmp/o2)"
mt -f "$T0" seek "$((P + 1))"
dd if="$T0" of=/tmp/o3 bs=1000 count=1 > /tmp/dd3 2>&1; echo "DD_SHORT_BUFFER $?"
sed 's/^/DD3 /' /tmp/dd3

# --- what backup software asks the drive
tapeinfo -f "$SG0" | sed 's/^/TAPEINFO /'
sg_logs -p 0x2e "$SG0" > /tmp/l2e 2>&1; echo "LOG2E $?"; sed 's/^/SGLOG2E /' /tmp/l2e | head -n 8
sg_logs -p 0x31 "$SG0" > /tmp/l31 2>&1; echo "LOG31 $?"; sed 's/^/SGLOG31 /' /tmp/l31 | head -n 12

# --- unloading needs the host to let go first
mtx -f "$CH" unload 1 0 > /tmp/u1 2>&1; echo "UNLOAD_LOADED $?"
mt -f "$T0" offline && echo "OFFLINE ok"
mtx -f "$CH" unload 1 0 && echo "UNLOAD ok"
mtx -f "$CH" load 2 0 && wait_ready "$T0" && echo "LOAD2 ok"
mt -f "$T0" rewind
tar -cf "$T0" -C /tmp/b . && echo "TAR3 ok"
mtx -f "$CH" transfer 3 5 && echo "TRANSFER ok"
mtx -f "$CH" load 5 1 && wait_ready "$T1" && echo "LOAD_D1 ok"
mt -f "$T1" offline && mtx -f "$CH" unload 5 1 && echo "UNLOAD_D1 ok"

# --- the operator
devemu library export 4 | sed 's/^/EXPORT /'
devemu library import E01004L8 | sed 's/^/IMPORT /'
sg_turs "$CHSG" > /tmp/ua 2>&1; echo "TUR_AFTER_IMPORT $?"; sed 's/^/UA /' /tmp/ua
devemu library status | sed 's/^/LIBSTATUS /'
mtx -f "$CH" status | sed 's/^/MTX2 /'
mtx -f "$CH" transfer 9 4 && echo "TRANSFER_MAIL ok"

# --- kill -9 and start again
kill -9 "$pid"; wait "$pid" 2>/dev/null
start 2
find_devices
mtx -f "$CH" status | sed 's/^/MTX3 /'
wait_ready "$T0" && echo "READY_AFTER_RESTART ok"
mt -f "$T0" rewind
tar -xf "$T0" -C /tmp/x3 && cmp /tmp/b/three.bin /tmp/x3/three.bin && echo "RESTART_DATA ok"
mt -f "$T0" offline && mtx -f "$CH" unload 2 0 && mtx -f "$CH" load 1 0 && wait_ready "$T0" \
    && echo "RELOAD ok"
rm -rf /tmp/x1/*; mt -f "$T0" rewind
tar -xf "$T0" -C /tmp/x1 && cmp /tmp/a/one.bin /tmp/x1/one.bin && echo "RESTART_TAPE1 ok"
mt -f "$T0" offline && mtx -f "$CH" unload 1 0 && echo "FINAL_UNLOAD ok"
kill -TERM "$pid"; wait "$pid"; echo "TERM_STATUS $?"
echo "--- serve logs"
cat /tmp/serve1.log /tmp/serve2.log | tail -n 60
"""
)


@pytest.fixture(scope="module")
def served(guest_scripts: GuestScripts) -> tuple[VmResult, str]:
    share = guest_scripts.new_share()
    (share / "vtl.toml").write_text(CONFIG)
    result = guest_scripts.run(SCRIPT, share=share, timeout=420)
    print(result.output)
    return result, result.output


def test_script_completed(served: tuple[VmResult, str]) -> None:
    result, output = served
    assert result.exit_code == 0, output
    assert value(output, "TERM_STATUS") == "0"


def test_lsscsi_shows_the_changer_and_the_drives(served: tuple[VmResult, str]) -> None:
    _, output = served
    lsscsi = "\n".join(lines(output, "LSSCSI"))
    library = GENERIC_LIBRARY.identity("vtl0")
    changer = rf"mediumx\s+{library.vendor}\s+{library.product}\s+{library.revision}\s+/dev/sch\d+"
    assert re.search(changer, lsscsi), lsscsi
    drive = GENERIC_DRIVE.identity(8, "vtl0", "vtl0-d0")
    tape = rf"tape\s+{drive.vendor}\s+{drive.product}\s+{drive.revision}\s+/dev/st\d+"
    assert len(re.findall(tape, lsscsi)) == 2, lsscsi


def test_mtx_status_lists_slots_with_barcodes(served: tuple[VmResult, str]) -> None:
    _, output = served
    mtx = "\n".join(lines(output, "MTX1"))
    assert "Storage Changer /dev/sch" in mtx
    assert "2 Drives, 9 Slots ( 1 Import/Export )" in mtx
    assert re.search(r"Data Transfer Element 0:Empty", mtx)
    assert re.search(r"Data Transfer Element 1:Empty", mtx)
    for n in range(1, 5):
        assert re.search(rf"Storage Element {n}:Full :VolumeTag=E0100{n}L8\b", mtx), mtx
    assert re.search(r"Storage Element 5:Empty", mtx)
    assert re.search(r"Storage Element 9 IMPORT/EXPORT:Empty", mtx)


def test_mt_positions_like_a_real_drive(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "LOAD1") == "ok"
    assert value(output, "READY1") == "ok"
    n1, n2 = (int(v) for v in value(output, "TARBLOCKS").split())
    assert value(output, "TAR1") == "ok"
    assert value(output, "TAR2") == "ok"
    assert int(value(output, "TELL_END")) == n1 + 1 + n2 + 1
    assert int(value(output, "TELL_BOT")) == 0
    assert int(value(output, "TELL_FSF")) == n1 + 1
    assert int(value(output, "TELL_EOD")) == n1 + 1 + n2 + 1
    assert int(value(output, "TELL_BSF")) == n1 + 1 + n2
    assert int(value(output, "TELL_FSF2")) == n1 + 1 + n2 + 1
    assert int(value(output, "TELL_SEEK")) == 3


def test_two_tar_archives_come_back_byte_equal(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "ARCHIVE2") == "ok"
    assert value(output, "ARCHIVE1") == "ok"


def test_dd_variable_records(served: tuple[VmResult, str]) -> None:
    _, output = served
    weof, start = (int(v) for v in value(output, "WEOF").split())
    assert weof == start + 4  # two records, st's filemark on close, then WEOF
    assert value(output, "DD_IN1") == "0+1"
    assert value(output, "DD_RECORDS") == "ok 3000 40000"
    assert value(output, "DD_SHORT_BUFFER") != "0"
    assert "Cannot allocate memory" in "\n".join(lines(output, "DD3"))


def test_tapeinfo_and_sg_logs(served: tuple[VmResult, str]) -> None:
    _, output = served
    info = "\n".join(lines(output, "TAPEINFO"))
    assert "Product Type: Tape Drive" in info
    assert "Vendor ID: 'IBM     '" in info
    assert "SerialNumber: 'VMDRIVE001'" in info
    assert "Ready: yes" in info
    assert value(output, "LOG2E") == "0"
    assert value(output, "LOG31") == "0"
    assert re.search(r"tape ?alert", "\n".join(lines(output, "SGLOG2E")), re.I)
    assert re.search(r"capacity", "\n".join(lines(output, "SGLOG31")), re.I)


def test_unload_waits_for_the_host(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "UNLOAD_LOADED") != "0"
    assert value(output, "OFFLINE") == "ok"
    assert value(output, "UNLOAD") == "ok"
    assert value(output, "LOAD2") == "ok"
    assert value(output, "TAR3") == "ok"
    assert value(output, "TRANSFER") == "ok"
    assert value(output, "LOAD_D1") == "ok"
    assert value(output, "UNLOAD_D1") == "ok"


def test_operator_export_and_import(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "EXPORT") == "E01004L8 left the library from slot 4"
    assert value(output, "IMPORT") == "E01004L8 is in mailslot 1 (mtx slot 9)"
    assert value(output, "TUR_AFTER_IMPORT") != "0"
    assert re.search(r"unit attention", "\n".join(lines(output, "UA")), re.I)
    mtx = "\n".join(lines(output, "MTX2"))
    assert re.search(r"Storage Element 9 IMPORT/EXPORT:Full :VolumeTag=E01004L8", mtx)
    assert re.search(r"Data Transfer Element 0:Full \(Storage Element 2 Loaded\)", mtx)
    assert re.search(r"Storage Element 5:Full :VolumeTag=E01003L8", mtx)
    assert re.search(r"Storage Element 3:Empty", mtx)
    status = "\n".join(lines(output, "LIBSTATUS"))
    assert re.search(r"drive 1\s+0x0100\s+E01002L8\s+slot 2\s+vtl0-d0", status)
    assert value(output, "TRANSFER_MAIL") == "ok"


def test_kill_9_keeps_inventory_and_data(served: tuple[VmResult, str]) -> None:
    _, output = served
    mtx = "\n".join(lines(output, "MTX3"))
    assert re.search(r"Data Transfer Element 0:Full \(Storage Element 2 Loaded\)", mtx)
    assert re.search(r"Storage Element 1:Full :VolumeTag=E01001L8", mtx)
    assert re.search(r"Storage Element 4:Full :VolumeTag=E01004L8", mtx)
    assert re.search(r"Storage Element 5:Full :VolumeTag=E01003L8", mtx)
    assert re.search(r"Storage Element 9 IMPORT/EXPORT:Empty", mtx)
    assert value(output, "READY_AFTER_RESTART") == "ok"
    assert value(output, "RESTART_DATA") == "ok"
    assert value(output, "RELOAD") == "ok"
    assert value(output, "RESTART_TAPE1") == "ok"
    assert value(output, "FINAL_UNLOAD") == "ok"
