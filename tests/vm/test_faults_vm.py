"""Injected faults under the real kernel: what st, tar, mt and sg3_utils see.

In the tier's guest, a daemon of its own serves a library with one drive;
``devemu fault`` (the control socket) sets and clears faults on the drive:

- a write media error at record 0: ``tar`` to ``/dev/nstN`` fails (MEDIUM
  ERROR, WRITE ERROR 0Ch/00h); ``tapeinfo`` and ``sg_logs -p 0x2e`` show
  TapeAlert 03h (hard error), 04h (media) and 06h (write failure);
  ``devemu status`` lists the fault; after ``devemu fault DRIVE clear``
  the same ``tar`` succeeds and reads back equal;
- the drive offline: TEST UNIT READY is NOT READY, LOGICAL UNIT NOT READY,
  OFFLINE (04h/12h), ``mt status`` no longer says ONLINE and ``mt rewind``
  fails; ``online`` makes it ready again; meanwhile the changer's TapeAlert
  page (``sg_logs -p 0x2e``) has flag 16h (Library Drive Offline) set;
- a cleaning cartridge (``CLN001CU``) loaded by ``mtx`` into a drive with
  the cleaning fault: the drive is cleaned and ejects it (``mt status``
  not ONLINE), TapeAlert Cleaning media (0Bh) is raised and Clean now
  (14h) is over, the fault is gone from ``devemu status``, and ``mtx
  unload`` takes the cartridge home;
- the library's door open: ``mtx unload`` fails NOT READY, the changer's
  TapeAlert page has flag 10h (Library Door) set, as ``tapeinfo`` on the
  changer reports it; closing the door lets the unload through.
"""

from __future__ import annotations

import re

import pytest

from devemu.tape.tapealert import bits_flags
from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines, value

pytestmark = pytest.mark.vm

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[library]]
name = "vtl7"
directory = "/run/vtl-faults"
slots = 2
barcodes = ["F01001L8", "CLN001CU"]
serial = "VMLIB00007"

[[library.drives]]
name = "vtl7-d0"
serial = "VMFAULTS01"
"""

SCRIPT = (
    guest_functions(ready_timeout=45)
    + r"""
CFG="$DEVEMU_VM_SHARE/vtl.toml"
S=/run/devemu/control.sock
serve_start "$CFG" /tmp/serve.log -v
pid=$serve_pid
for _ in $(seq 200); do
    CH=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {print $(NF-1)}' | head -n1)
    CHSG=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {print $NF}' | head -n1)
    T0=$(node_with_serial VMFAULTS01 /sys/class/scsi_tape/nst[0-9]*)
    [ -c "$CH" ] && [ -n "$T0" ] && break
    sleep 0.05
done
SG0=/dev/$(ls "/sys/class/scsi_tape/${T0##*/}/device/scsi_generic")
echo "DEVICES $CH $T0 $SG0"
wait_ready() {
    for _ in $(seq 100); do
        mt -f "$1" status 2>/dev/null | grep -q ONLINE && return 0
        sleep 0.1
    done
    return 1
}
mtx -f "$CH" load 1 0 && wait_ready "$T0" && echo "LOAD ok"
mkdir -p /tmp/a /tmp/x && head -c 100000 /dev/urandom > /tmp/a/data.bin

# --- a write media error at record 0
devemu --socket "$S" fault vtl7-d0 write-error --record 0 > /tmp/f1 2>&1; echo "FAULT_SET $?"
sed 's/^/F1 /' /tmp/f1
devemu --socket "$S" status | sed 's/^/STATUS1 /'
mt -f "$T0" rewind
tar -cf "$T0" -C /tmp/a . > /tmp/t1 2>&1; echo "TAR_FAULT $?"
sed 's/^/T1 /' /tmp/t1
command -v tapeinfo > /dev/null; echo "HAVE_TAPEINFO $?"
tapeinfo -f "$SG0" > /tmp/ti 2>&1; echo "TAPEINFO_RC $?"
sed 's/^/TI /' /tmp/ti
mt -f "$T0" rewind
tar -cf "$T0" -C /tmp/a . > /dev/null 2>&1; echo "TAR_FAULT2 $?"
sg_logs -p 0x2e "$SG0" > /tmp/l1 2>&1; echo "LOG2E_RC $?"
sed 's/^/LOG /' /tmp/l1
devemu --socket "$S" fault vtl7-d0 clear > /tmp/f2 2>&1; echo "FAULT_CLEAR $?"
sed 's/^/F2 /' /tmp/f2
mt -f "$T0" rewind
tar -cf "$T0" -C /tmp/a . > /tmp/t2 2>&1; echo "TAR_CLEAR $?"
sed 's/^/T2 /' /tmp/t2
mt -f "$T0" rewind
tar -xf "$T0" -C /tmp/x && cmp /tmp/a/data.bin /tmp/x/data.bin && echo "DATA ok"

# --- the drive offline, then online
devemu --socket "$S" fault vtl7-d0 offline > /dev/null 2>&1; echo "OFFLINE_SET $?"
sg_logs -p 0x2e -H "$CHSG" > /tmp/cl1 2>&1; echo "CH_LOG_OFFLINE_RC $?"
sed 's/^/CHLOG1 /' /tmp/cl1
timeout 20 sg_turs -v "$SG0" > /tmp/tur 2>&1; echo "TUR_OFFLINE $?"
sed 's/^/TUR /' /tmp/tur
timeout 20 mt -f "$T0" status > /tmp/s1 2>&1; echo "MTSTATUS_OFFLINE $?"
sed 's/^/MTS /' /tmp/s1
timeout 20 mt -f "$T0" rewind > /tmp/r1 2>&1; echo "REWIND_OFFLINE $?"
sed 's/^/RW /' /tmp/r1
devemu --socket "$S" fault vtl7-d0 online > /dev/null 2>&1; echo "ONLINE_SET $?"
wait_ready "$T0" && echo "ONLINE ok"
mt -f "$T0" rewind && echo "REWIND_ONLINE ok"

# --- the library's door open, then closed
devemu --socket "$S" fault vtl7 door-open > /dev/null 2>&1; echo "DOOR_SET $?"
timeout 20 mtx -f "$CH" unload 1 0 > /tmp/d1 2>&1; echo "UNLOAD_DOOR_OPEN $?"
sed 's/^/DOOR /' /tmp/d1
tapeinfo -f "$CHSG" > /tmp/cti 2>&1; echo "CH_TAPEINFO_RC $?"
sed 's/^/CHTI /' /tmp/cti
sg_logs -p 0x2e -H "$CHSG" > /tmp/cl2 2>&1; echo "CH_LOG_DOOR_RC $?"
sed 's/^/CHLOG2 /' /tmp/cl2
devemu --socket "$S" fault vtl7 clear > /dev/null 2>&1; echo "DOOR_CLEAR $?"
sg_turs "$CHSG" > /dev/null 2>&1; sg_turs "$CHSG" > /dev/null 2>&1
mtx -f "$CH" unload 1 0 && echo "UNLOAD ok"

# --- a cleaning cartridge cleans a drive that asks for it
devemu --socket "$S" fault vtl7-d0 cleaning > /dev/null 2>&1; echo "CLEANING_SET $?"
mtx -f "$CH" load 2 0; echo "CLEAN_LOAD $?"
sleep 0.5
timeout 20 mt -f "$T0" status > /tmp/cs 2>&1
sed 's/^/MTCLEAN /' /tmp/cs
sg_logs -p 0x2e "$SG0" > /tmp/cl 2>&1; echo "CLEAN_LOG_RC $?"
sed 's/^/CLLOG /' /tmp/cl
sg_logs -p 0x12 -H "$SG0" > /tmp/cr 2>&1; echo "CLEAN_RESPONSE_RC $?"
sed 's/^/CLRESP /' /tmp/cr
devemu --socket "$S" status | sed 's/^/STATUS2 /'
mtx -f "$CH" unload 2 0; echo "CLEAN_UNLOAD $?"
kill -TERM "$pid"; wait "$pid"; echo "TERM_STATUS $?"
echo "--- serve log"
tail -n 30 /tmp/serve.log
"""
)


@pytest.fixture(scope="module")
def served(guest_scripts: GuestScripts) -> tuple[VmResult, str]:
    share = guest_scripts.new_share()
    (share / "vtl.toml").write_text(CONFIG)
    result = guest_scripts.run(SCRIPT, share=share, timeout=300)
    print(result.output)
    return result, result.output


def test_script_completed(served: tuple[VmResult, str]) -> None:
    result, output = served
    assert result.exit_code == 0, output
    assert value(output, "LOAD") == "ok"
    assert value(output, "TERM_STATUS") == "0"


def test_write_error_fails_tar_and_raises_tapealert(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "FAULT_SET") == "0", "\n".join(lines(output, "F1"))
    assert lines(output, "F1") == ["vtl7-d0: write-error at record 0"]
    status = "\n".join(lines(output, "STATUS1"))
    assert re.search(r"^vtl7-d0\s+tape\s+.*faults=write-error", status, re.M), status
    assert value(output, "TAR_FAULT") != "0"
    assert value(output, "TAR_FAULT2") != "0"
    assert value(output, "HAVE_TAPEINFO") == "0"
    assert value(output, "TAPEINFO_RC") == "0", "\n".join(lines(output, "TI"))
    info = "\n".join(lines(output, "TI"))
    for flag in (3, 4, 6):
        assert re.search(rf"^TapeAlert\[{flag}\]:", info, re.M), info
    assert value(output, "LOG2E_RC") == "0"
    log = "\n".join(lines(output, "LOG"))
    for name in ("Hard error", "Media", "Write failure"):
        assert re.search(rf"^\s*{name}: 1$", log, re.M | re.I), log
    assert re.search(r"^\s*Read failure: 0$", log, re.M | re.I), log


def test_clear_lets_the_write_through(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "FAULT_CLEAR") == "0"
    assert lines(output, "F2") == ["vtl7-d0: no faults"]
    assert value(output, "TAR_CLEAR") == "0", "\n".join(lines(output, "T2"))
    assert value(output, "DATA") == "ok"


def test_offline_is_not_ready_until_online(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "OFFLINE_SET") == "0"
    assert value(output, "TUR_OFFLINE") != "0"
    tur = "\n".join(lines(output, "TUR"))
    assert re.search(r"not ready", tur, re.I) and re.search(r"offline", tur, re.I), tur
    assert "ONLINE" not in "\n".join(lines(output, "MTS"))
    assert value(output, "REWIND_OFFLINE") != "0"
    assert value(output, "ONLINE_SET") == "0"
    assert value(output, "ONLINE") == "ok"
    assert value(output, "REWIND_ONLINE") == "ok"
    assert value(output, "UNLOAD") == "ok"


def hex_dump_bytes(page_hex: list[str]) -> bytes:
    """The bytes of an ``sg_logs -H`` dump (offset, then up to 16 hex bytes a row)."""
    return bytes(
        int(b, 16)
        for row in page_hex
        for b in row.split()[1:17]
        if re.fullmatch(r"[0-9a-fA-F]{2}", b)
    )


def tapealert_hex_flags(page_hex: list[str]) -> set[int]:
    """The flags set in ``sg_logs -H`` of log page 2Eh (5-byte parameters after the header)."""
    data = hex_dump_bytes(page_hex)
    assert data[0] & 0x3F == 0x2E, page_hex
    params = data[4:]
    return {
        int.from_bytes(params[i : i + 2], "big")
        for i in range(0, len(params) - 4, 5)
        if params[i + 4] & 1
    }


def test_changer_tapealert_follows_drive_offline(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "CH_LOG_OFFLINE_RC") == "0", "\n".join(lines(output, "CHLOG1"))
    assert tapealert_hex_flags(lines(output, "CHLOG1")) == {0x16}


def test_door_open_refuses_moves_and_raises_library_door(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "DOOR_SET") == "0"
    assert value(output, "UNLOAD_DOOR_OPEN") != "0"
    assert re.search(r"not ready", "\n".join(lines(output, "DOOR")), re.I), lines(output, "DOOR")
    assert value(output, "CH_LOG_DOOR_RC") == "0"
    assert 0x10 in tapealert_hex_flags(lines(output, "CHLOG2"))
    assert value(output, "CH_TAPEINFO_RC") == "0", "\n".join(lines(output, "CHTI"))
    assert re.search(r"^TapeAlert\[16\]:", "\n".join(lines(output, "CHTI")), re.M), lines(
        output, "CHTI"
    )
    assert value(output, "DOOR_CLEAR") == "0"


def test_cleaning_cartridge_cleans_the_drive(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "CLEANING_SET") == "0"
    assert value(output, "CLEAN_LOAD") == "0"
    assert "ONLINE" not in "\n".join(lines(output, "MTCLEAN"))
    assert value(output, "CLEAN_LOG_RC") == "0"
    log = "\n".join(lines(output, "CLLOG"))
    assert re.search(r"^\s*Cleaning media: 1$", log, re.M | re.I), log
    # Page 12h: the conditions that hold: cleaning media (0Bh) yes, clean now (14h) over.
    assert value(output, "CLEAN_RESPONSE_RC") == "0"
    active = bits_flags(int.from_bytes(hex_dump_bytes(lines(output, "CLRESP"))[8:16], "big"))
    assert 0x0B in active and 0x14 not in active, sorted(active)
    status = "\n".join(lines(output, "STATUS2"))
    assert not re.search(r"^vtl7-d0\s.*faults=", status, re.M), status
    assert value(output, "CLEAN_UNLOAD") == "0"
