"""Moving a cartridge out of a loaded drive, and TapeAlert, under the real kernel.

In the tier's guest, a daemon of its own serves a library with one drive
(``auto_unload`` at its default, on) and shows:

- ``mtx unload`` with no ``mt offline`` before it: the library unloads the
  drive itself (SMC-3 6.6 with SSC-5 7.3), the cartridge goes home and
  ``mt status`` then says there is no tape; what was written is on it;
- with ``mt lock`` held (PREVENT ALLOW MEDIUM REMOVAL to the drive) the
  move fails with MEDIUM REMOVAL PREVENTED (53h/02h); after ``mt unlock``
  it succeeds;
- ``sg_vpd -p 0xb2`` lists the TapeAlert flags the drive claims by their
  right numbers (SSC-5 8.4.4: the bitmap at bytes 4-11);
- ``sg_logs -p 0x2e`` shows Write protect (09h) raised by a WRITE to a
  write-protected cartridge, and reading the page cleared it; the
  TapeAlert Response page (12h) still shows it.
"""

from __future__ import annotations

import re

import pytest

from devemu.tape import tapealert
from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines, value

pytestmark = pytest.mark.vm

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[library]]
name = "vtl9"
directory = "/run/vtl-unload"
slots = 4
barcodes = ["U01001L8", "U01002L8"]
serial = "VMLIB00009"

[[library.drives]]
name = "vtl9-d0"
serial = "VMUNLOAD01"
"""

SCRIPT = (
    guest_functions(ready_timeout=45)
    + r"""
CFG="$DEVEMU_VM_SHARE/vtl.toml"
serve_start "$CFG" /tmp/serve.log -v
pid=$serve_pid
for _ in $(seq 200); do
    CH=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {print $(NF-1)}' | head -n1)
    CHSG=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {print $NF}' | head -n1)
    T0=$(node_with_serial VMUNLOAD01 /sys/class/scsi_tape/nst[0-9]*)
    [ -c "$CH" ] && [ -n "$T0" ] && break
    sleep 0.05
done
SG0=/dev/$(ls "/sys/class/scsi_tape/${T0##*/}/device/scsi_generic")
echo "DEVICES $CH $CHSG $T0 $SG0"
wait_ready() {
    for _ in $(seq 100); do mt -f "$1" status > /dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}

# --- mtx unload without mt offline
mtx -f "$CH" load 1 0 && wait_ready "$T0" && echo "LOAD1 ok"
mkdir -p /tmp/a /tmp/x && head -c 200000 /dev/urandom > /tmp/a/data.bin
tar -cf "$T0" -C /tmp/a . && echo "TAR ok"
mtx -f "$CH" unload 1 0 > /tmp/u1 2>&1; echo "UNLOAD_NO_OFFLINE $?"
sed 's/^/U1 /' /tmp/u1
mt -f "$T0" status > /tmp/s1 2>&1; echo "MTSTATUS_RC $?"
sed 's/^/MTSTATUS /' /tmp/s1
mtx -f "$CH" status | sed 's/^/MTX1 /'
mtx -f "$CH" load 1 0 && wait_ready "$T0" && echo "RELOAD ok"
mt -f "$T0" rewind
tar -xf "$T0" -C /tmp/x && cmp /tmp/a/data.bin /tmp/x/data.bin && echo "DATA ok"

# --- mt lock: the move is refused with MEDIUM REMOVAL PREVENTED
mt -f "$T0" lock && echo "LOCK ok"
mtx -f "$CH" unload 1 0 > /tmp/u2 2>&1; echo "UNLOAD_LOCKED $?"
sed 's/^/U2 /' /tmp/u2
sg_raw -v "$CHSG" a5 00 00 00 01 00 04 00 00 00 00 00 > /tmp/r2 2>&1; echo "RAW_LOCKED $?"
sed 's/^/R2 /' /tmp/r2
mtx -f "$CH" status | sed 's/^/MTX2 /'
mt -f "$T0" unlock && echo "UNLOCK ok"
mtx -f "$CH" unload 1 0 && echo "UNLOAD_UNLOCKED ok"

# --- TapeAlert: the claimed flags, then write protect raised
sg_vpd -p 0xb2 "$SG0" > /tmp/vpd 2>&1; echo "VPD_RC $?"
sed 's/^/VPDB2 /' /tmp/vpd
chmod 0444 /run/vtl-unload/U01002L8.tape
mtx -f "$CH" load 2 0 && wait_ready "$T0" && echo "LOAD_WP ok"
sg_logs -p 0x2e "$SG0" > /dev/null 2>&1
echo x > /tmp/onebyte
sg_raw -s 2 -i /tmp/onebyte "$SG0" 0a 00 00 00 02 00 > /tmp/w 2>&1; echo "WRITE_WP_RC $?"
sed 's/^/WRITEWP /' /tmp/w
sg_logs -p 0x2e "$SG0" > /tmp/l1 2>&1; echo "LOG2E_RC $?"
sed 's/^/LOGA /' /tmp/l1
sg_logs -p 0x2e "$SG0" | sed 's/^/LOGB /'
sg_logs -p 0x12 "$SG0" | sed 's/^/LOG12 /'
mtx -f "$CH" unload 2 0 && echo "UNLOAD_WP ok"
mt -f "$T0" status > /tmp/s2 2>&1; sed 's/^/MTSTATUS2 /' /tmp/s2
kill -TERM "$pid"; wait "$pid"; echo "TERM_STATUS $?"
echo "--- serve log"
tail -n 40 /tmp/serve.log
"""
)


@pytest.fixture(scope="module")
def served(guest_scripts: GuestScripts) -> tuple[VmResult, str]:
    share = guest_scripts.new_share()
    (share / "vtl.toml").write_text(CONFIG)
    result = guest_scripts.run(SCRIPT, share=share, timeout=360)
    print(result.output)
    return result, result.output


def test_script_completed(served: tuple[VmResult, str]) -> None:
    result, output = served
    assert result.exit_code == 0, output
    assert value(output, "TERM_STATUS") == "0"


def test_mtx_unload_without_offline_moves_the_cartridge_home(
    served: tuple[VmResult, str],
) -> None:
    _, output = served
    assert value(output, "LOAD1") == "ok"
    assert value(output, "TAR") == "ok"
    assert value(output, "UNLOAD_NO_OFFLINE") == "0", "\n".join(lines(output, "U1"))
    status = "\n".join(lines(output, "MTSTATUS"))
    assert "DR_OPEN" in status and "ONLINE" not in status, status
    mtx = "\n".join(lines(output, "MTX1"))
    assert re.search(r"Data Transfer Element 0:Empty", mtx), mtx
    assert re.search(r"Storage Element 1:Full :VolumeTag=U01001L8\b", mtx), mtx
    assert value(output, "RELOAD") == "ok"
    assert value(output, "DATA") == "ok"  # the data written before the move is on the tape


def test_mt_lock_refuses_the_move(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "LOCK") == "ok"
    assert value(output, "UNLOAD_LOCKED") != "0"
    assert value(output, "RAW_LOCKED") != "0"
    raw = "\n".join(lines(output, "R2"))
    assert re.search(r"Illegal Request", raw, re.I), raw
    assert re.search(r"medium removal prevented", raw, re.I), raw
    mtx = "\n".join(lines(output, "MTX2"))
    assert re.search(r"Data Transfer Element 0:Full \(Storage Element 1 Loaded\)", mtx), mtx
    assert value(output, "UNLOCK") == "ok"
    assert value(output, "UNLOAD_UNLOCKED") == "ok"


def _flags(text: str) -> dict[int, int]:
    """``FlagXXh: v`` / ``XXh: v`` items of sg_vpd's and sg_logs' flag tables."""
    return {int(n, 16): int(v) for n, v in re.findall(r"([0-9A-F]{2})h: ([01])\b", text)}


def test_sg_vpd_lists_the_claimed_flags(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "VPD_RC") == "0"
    flags = _flags("\n".join(lines(output, "VPDB2")))
    assert len(flags) == 64
    assert {n for n, v in flags.items() if v} == set(tapealert.SUPPORTED)
    assert flags[0x09] == 1 and flags[0x29] == 0


def test_sg_logs_shows_write_protect_raised(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "LOAD_WP") == "ok"
    assert value(output, "WRITE_WP_RC") != "0"
    assert re.search(r"Data Protect", "\n".join(lines(output, "WRITEWP")), re.I)
    assert value(output, "LOG2E_RC") == "0"
    first = "\n".join(lines(output, "LOGA"))
    assert re.search(r"^\s*Write protect: 1$", first, re.M), first
    assert re.search(r"^\s*Read warning: 0$", first, re.M), first
    second = "\n".join(lines(output, "LOGB"))
    assert re.search(r"^\s*Write protect: 0$", second, re.M), second  # read clears it
    response = _flags("\n".join(lines(output, "LOG12")))
    assert {n for n, v in response.items() if v} == {0x09}
    assert value(output, "UNLOAD_WP") == "ok"
    assert "DR_OPEN" in "\n".join(lines(output, "MTSTATUS2"))
