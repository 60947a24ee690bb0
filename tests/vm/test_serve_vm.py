"""``devemu serve`` against the real kernel: LIO objects, I/O, restart, teardown.

In the tier's guest, beside the tier's own daemon (whose objects, counted
before, are left out of every count). The script starts a daemon of its
own on a disk configuration, finds the
disk with lsscsi, writes and reads it back with dd (direct I/O, so every
byte crosses the TCMU ring), kills the daemon with SIGKILL, restarts it
(it must reattach to the live ring and LUN), checks I/O again, stops it
with SIGTERM and checks that every configfs object it made is gone.
"""

from __future__ import annotations

import re

import pytest

from devemu.disk.image import create_image
from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import value

pytestmark = pytest.mark.vm

DISK_MB = 64
CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[disk]]
name = "disk0"
image = "disk0.img"
serial = "VMSERVE0001"
"""

SCRIPT = (
    guest_functions(ready_timeout=120)
    + r"""
C=/sys/kernel/config/target
count() { ls -d "$@" 2>/dev/null | wc -l; }
# Objects of the guest's other daemons, left out of the counts below.
base_uio=$(count /dev/uio*)
base_loopback=$(count $C/loopback/naa.*)
CFG="$DEVEMU_VM_SHARE/serve.toml"
start() {
    t0=$(date +%s.%N)
    serve_start "$CFG" "/tmp/serve$1.log" -v
    pid=$serve_pid
    t1=$(date +%s.%N)
    echo "READY_SECONDS $1 $(echo "$t1 - $t0" | bc)"
}
find_disk_node() {
    sd=$(find_disk DEVEMU)
    echo "DISK $sd"
}
start 1
lsscsi | sed 's/^/LSSCSI /'
find_disk_node
A=$C/core/user_0/disk0/attrib
echo "HW_MAX_SECTORS $(cat $A/hw_max_sectors)"
echo "PGR $(cat $A/pgr_support) ALUA $(cat $A/alua_support)"
echo "MAX_SECTORS_KB $(cat /sys/block/${sd##*/}/queue/max_sectors_kb)"
echo "SERIAL $(tail -c +5 /sys/block/${sd##*/}/device/vpd_pg80)"
t0=$(date +%s.%N); "$DEVEMU_VM_PYTHON" -c 'import devemu.daemon_cli, devemu.disk.config'
echo "IMPORT_SECONDS $(echo "$(date +%s.%N) - $t0" | bc)"
devemu status | sed 's/^/STATUS /'
dd if=/dev/urandom of=/tmp/pattern bs=1M count=8 2>/dev/null
dd if=/tmp/pattern of="$sd" bs=1M oflag=direct 2>/dev/null
dd if="$sd" of=/tmp/back bs=1M count=8 iflag=direct 2>/dev/null
cmp /tmp/pattern /tmp/back && echo "ROUNDTRIP ok"
cmp -n 8388608 /tmp/pattern "$DEVEMU_VM_SHARE/disk0.img" && echo "IMAGE ok"
dd if="$sd" of=/dev/null bs=1M count=64 iflag=direct 2>&1 | sed -n 's/^.*copied, /READ_1M /p'
dd if="$sd" of=/dev/null bs=4k count=4096 iflag=direct 2>&1 | sed -n 's/^.*copied, /READ_4K /p'

kill -9 "$pid"; wait "$pid" 2>/dev/null
backstore=$(test -d $C/core/user_0/disk0 && echo yes)
journal=$(test -s /run/devemu-state/lio.json && echo yes)
echo "AFTER_KILL backstore=$backstore uio=$(($(count /dev/uio*) - base_uio)) journal=$journal"
start 2
find_disk_node
dd if="$sd" of=/tmp/back2 bs=1M count=8 iflag=direct 2>/dev/null
cmp /tmp/pattern /tmp/back2 && echo "RESTART_READ ok"
dd if=/dev/urandom of=/tmp/pattern2 bs=64k count=16 2>/dev/null
dd if=/tmp/pattern2 of="$sd" bs=64k seek=100 oflag=direct 2>/dev/null
dd if="$sd" of=/tmp/back3 bs=64k skip=100 count=16 iflag=direct 2>/dev/null
cmp /tmp/pattern2 /tmp/back3 && echo "RESTART_WRITE ok"
grep -c "adopting" /tmp/serve2.log | sed 's/^/ADOPTED /'

kill -TERM "$pid"; wait "$pid"; echo "TERM_STATUS $?"
core=$(ls -d $C/core/user_*/disk0 2>/dev/null | xargs)
journal=$(test -e /run/devemu-state/lio.json && echo yes || echo no)
sockets=$(count /run/devemu/*)
uios=$(($(count /dev/uio*) - base_uio))
loopback=$(($(count $C/loopback/naa.*) - base_loopback))
echo "LEFT core=[$core] loopback=$loopback uio=$uios journal=$journal socket=$sockets"
echo "STATE_DIR $(ls /run/devemu-state | xargs)"
echo "LSSCSI_AFTER $(lsscsi | grep -c DEVEMU)"
echo "--- serve logs"
cat /tmp/serve1.log /tmp/serve2.log
"""
)


@pytest.fixture(scope="module")
def served(guest_scripts: GuestScripts) -> tuple[VmResult, str]:
    share = guest_scripts.new_share()
    create_image(share / "disk0.img", DISK_MB << 20)
    (share / "serve.toml").write_text(CONFIG)
    result = guest_scripts.run(SCRIPT, share=share, timeout=300)
    print(result.output)
    return result, result.output


def test_script_completed(served: tuple[VmResult, str]) -> None:
    result, output = served
    assert result.exit_code == 0, output


def test_daemon_created_a_pure_passthrough_backstore(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "PGR") == "0 ALUA 0"
    assert value(output, "HW_MAX_SECTORS") == "2048"
    assert value(output, "SERIAL") == "VMSERVE0001"
    assert re.search(r"^LSSCSI \[\d+:0:1:0\]\s+disk\s+DEVEMU\s+VIRTUAL DISK", output, re.M)
    assert value(output, "DISK").startswith("/dev/sd")
    assert re.search(r"^STATUS disk0\s+disk", output, re.M)


def test_dd_round_trip_reaches_the_image(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "ROUNDTRIP") == "ok"
    assert value(output, "IMAGE") == "ok"


def test_kill_9_then_restart_reattaches(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "AFTER_KILL") == "backstore=yes uio=1 journal=yes"
    assert value(output, "RESTART_READ") == "ok"
    assert value(output, "RESTART_WRITE") == "ok"
    assert value(output, "ADOPTED") == "1"


def test_sigterm_removes_every_object(served: tuple[VmResult, str]) -> None:
    _, output = served
    assert value(output, "TERM_STATUS") == "0"
    assert value(output, "LEFT") == "core=[] loopback=0 uio=0 journal=no socket=0"
    assert value(output, "LSSCSI_AFTER") == "0"
