"""Amanda and Bacula against a devemu library, under the real kernel.

In the tier's guest, a daemon of its own serves a library with two drives
(``auto_unload`` at its default, on) and six cartridges, five of them of
8 MiB (the library's ``capacity``) and one of 256 MiB for ``btape test``.
Each step runs with a bound on its time:

- Amanda (Debian's 3.5.1): ``amtapetype -p`` works out the drive's
  properties (three files written, read back, spaced over); ``amlabel``
  labels four cartridges through ``chg-robot`` with its defaults (no
  ``eject-before-unload``: the library unloads the drive itself on MOVE
  MEDIUM, SMC-3 6.6 with SSC-5 7.3); ``amcheck`` finds no problem;
  ``amdump`` of a 12 MiB tree ends on two cartridges (early warning
  mid-part, SSC-5 4.2.7, the cut part written again whole on the next
  cartridge); ``amfetchdump`` brings it back from both and the restored
  tree equals the source byte for byte.
- Bacula (``btape``): ``test`` against a drive, then ``auto``, its
  autochanger test, through Debian's ``mtx-changer`` (``offline=0``).

Amanda's configuration, state and log folders must be writable and the
guest's root is shared by the tier's modules, so each gets a tmpfs in
the script's own mount namespace (gone with it; unmounted by the last
step). Amanda's programs run as user ``backup`` (group ``tape`` is given
the changer's ``/dev/sgN``, not ``/dev/schN``: through a ``ch`` node the
kernel passes SG_IO from a user without CAP_SYS_RAWIO only for a short
list of commands), each in network and PID namespaces of its own: the
loopback there also holds 192.0.2.1, since glibc's ``getaddrinfo`` with
AI_ADDRCONFIG counts no loopback address and Amanda finds no address for
``localhost`` with ``lo`` alone up; the PID namespace ends whatever a
program left running when its time is up.
"""

from __future__ import annotations

import re

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from devemu.vm.steps import Step
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines, step, value

pytestmark = pytest.mark.vm

#: Amanda's cartridges (slots 1-4: slot 1 is Bacula's autochanger test's
#: too, once Amanda is done), amtapetype's (5), Bacula's ``btape test`` (6).
AMANDA_TAPES = ["BK0001L8", "BK0002L8", "BK0003L8", "BK0004L8"]
TAPETYPE_TAPE = "BK0005L8"
BACULA_TAPE = "BK0006L8"
#: Small cartridges, so that the dump spans two; btape's test needs more room.
SMALL = 8 << 20
LARGE = 256 << 20
#: The dumped tree: more than one small cartridge holds.
SOURCE_FILES = 6
SOURCE_FILE_BYTES = 2 << 20

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[library]]
name = "bkl0"
directory = "/run/bk-tapes"
slots = 8
capacity = "{SMALL >> 20}M"
barcodes = [{", ".join(f'"{b}"' for b in [*AMANDA_TAPES, TAPETYPE_TAPE, BACULA_TAPE])}]
serial = "VMBKLIB001"

[[library.drives]]
name = "bkl0-d0"
serial = "VMBKDRV001"

[[library.drives]]
name = "bkl0-d1"
serial = "VMBKDRV002"
"""

#: Amanda's configuration ``bk``: chg-robot with its defaults over both
#: drives, a tapetype longer than a cartridge (the physical end of medium
#: ends a volume, not the tapetype's length), parts of 1 MiB from a holding
#: disk, the client reached over the ``local`` transport.
AMANDA_CONF = """\
org "devemu"
mailto ""
dumpuser "backup"
dumpcycle 0
runspercycle 1
tapecycle 4 tapes
runtapes 2
labelstr "^BK-[0-9][0-9]$"
tpchanger "robot"
tapetype "DEVEMU-SMALL"
logdir "/var/lib/amanda/bk/log"
infofile "/var/lib/amanda/bk/curinfo"
indexdir "/var/lib/amanda/bk/index"
define changer robot {
    tpchanger "chg-robot:@CHSG@"
    property "tape-device" "0=tape:@T0@" "1=tape:@T1@"
}
define tapetype DEVEMU-SMALL {
    length 64 mbytes
    blocksize 32 kbytes
    part_size 1 mbytes
    part_cache_type none
}
holdingdisk hd1 {
    directory "/tmp/bk/holding"
    use 64 mbytes
    chunksize 0
}
define dumptype local-tar {
    program "GNUTAR"
    auth "local"
    compress none
    index no
    estimate calcsize
    holdingdisk required
}
"""

#: btape's storage daemon configuration: one drive of the library's
#: autochanger, Debian's mtx-changer (its mtx-changer.conf: offline=0).
BACULA_CONF = """\
Storage {
    Name = bk-sd
    WorkingDirectory = /tmp/bk/bacula
    Pid Directory = /tmp/bk/bacula
}
Director {
    Name = bk-dir
    Password = "devemu"
}
Autochanger {
    Name = bk-changer
    Device = bk-drive0
    Changer Device = @CHSG@
    Changer Command = "/etc/bacula/scripts/mtx-changer %c %o %S %a %d"
}
Device {
    Name = bk-drive0
    Drive Index = 0
    Media Type = LTO-8
    Archive Device = @T0@
    AutomaticMount = yes
    AlwaysOpen = yes
    RemovableMedia = yes
    RandomAccess = no
    AutoChanger = yes
    Changer Device = @CHSG@
    Changer Command = "/etc/bacula/scripts/mtx-changer %c %o %S %a %d"
    Maximum Block Size = 8192
}
Messages {
    Name = Standard
    director = bk-dir = all
}
"""

#: Amanda's folders that must be writable (a tmpfs each, in the script's
#: mount namespace: gone with it, and unmounted by the last step).
AMANDA_DIRS = "/etc/amanda /var/lib/amanda /var/log/amanda"

#: Sourced by every step after the first: the nodes, and
#: ``as_backup SECONDS COMMAND...``: COMMAND as user backup in network and
#: PID namespaces of its own (loopback up with 192.0.2.1 on it), killed
#: with everything it started after SECONDS.
PRELUDE = r""". /tmp/bk/nodes.sh
as_backup() {
    limit=$1
    shift
    timeout -k 5 "$limit" unshare --net --pid --fork --kill-child --mount-proc /bin/sh -c \
        'ip link set lo up && ip addr add 192.0.2.1/32 dev lo && exec runuser -u backup -- "$@"' \
        as_backup "$@"
}
wait_ready() {
    for _ in $(seq 300); do
        mt -f "$1" status 2>/dev/null | grep -q ONLINE && return 0
        sleep 0.1
    done
    return 1
}
# Put back whatever a drive holds (mtx unload with the source slot).
empty_drives() {
    timeout 60 mtx -f "$CHSG" status |
        sed -n 's/^Data Transfer Element \([0-9]*\):Full (Storage Element \([0-9]*\) .*/\2 \1/p' |
        while read -r slot drive; do timeout 60 mtx -f "$CHSG" unload "$slot" "$drive"; done
}
"""

STEPS: dict[str, str] = {
    "serve": guest_functions(ready_timeout=45)
    + rf"""
mkdir -p /tmp/bk
# The library makes the others small (its capacity key); btape's is made bigger here.
devemu tape create {BACULA_TAPE} --dir /run/bk-tapes --capacity {LARGE} > /dev/null
serve_start "$DEVEMU_VM_SHARE/vtl.toml" /tmp/serve.log -v
echo "$serve_pid" > /tmp/serve.pid
for _ in $(seq 200); do
    CH=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {{print $(NF-1)}}' | head -n1)
    CHSG=$(lsscsi -g | awk '/mediumx/ && /DEVEMU/ {{print $NF}}' | head -n1)
    T0=$(node_with_serial VMBKDRV001 /sys/class/scsi_tape/nst[0-9]*)
    T1=$(node_with_serial VMBKDRV002 /sys/class/scsi_tape/nst[0-9]*)
    [ -c "$CHSG" ] && [ -n "$T0" ] && [ -n "$T1" ] && break
    sleep 0.05
done
[ -c "$CHSG" ] && [ -c "$T0" ] && [ -c "$T1" ]
# The tape group (backup is in it) may use the changer's sg node and the drives.
chgrp tape "$CHSG" "$T0" "$T1"
chmod 0660 "$CHSG" "$T0" "$T1"
echo "CH=$CH CHSG=$CHSG T0=$T0 T1=$T1" > /tmp/bk/nodes.sh
echo "DEVICES $CH $CHSG $T0 $T1"
for b in {AMANDA_TAPES[0]} {BACULA_TAPE}; do
    echo "CAPACITY $b $(devemu tape info /run/bk-tapes/$b.tape --json |
        "$DEVEMU_VM_PYTHON" -c 'import json, sys; print(json.load(sys.stdin)["capacity"])')"
done
""",
    "amanda_setup": PRELUDE
    + rf"""
for d in {AMANDA_DIRS}; do
    mount -t tmpfs -o mode=0770 bk-amanda "$d"
    chown backup:backup "$d"
done
mkdir -p /etc/amanda/bk /var/lib/amanda/gnutar-lists /var/lib/amanda/bk/log \
    /var/lib/amanda/bk/curinfo /var/lib/amanda/bk/index /tmp/bk/holding /tmp/bk/src
touch /var/lib/amanda/amandates /etc/amanda/bk/tapelist
sed -e "s|@CHSG@|$CHSG|" -e "s|@T0@|$T0|" -e "s|@T1@|$T1|" \
    "$DEVEMU_VM_SHARE/amanda.conf" > /etc/amanda/bk/amanda.conf
echo "localhost /tmp/bk/src local-tar" > /etc/amanda/bk/disklist
for i in $(seq {SOURCE_FILES}); do
    head -c {SOURCE_FILE_BYTES} /dev/urandom > /tmp/bk/src/file$i.bin
done
chown -R backup:backup /etc/amanda /var/lib/amanda /var/log/amanda /tmp/bk/holding
echo "SOURCE_BYTES $(cat /tmp/bk/src/* | wc -c)"
""",
    "amtapetype": PRELUDE
    + r"""
timeout 60 mtx -f "$CHSG" load 5 1
wait_ready "$T1"
status=0
as_backup 240 amtapetype -p -b 32k "tape:$T1" > /tmp/bk/tapetype 2>&1 || status=$?
sed 's/^/TAPETYPE /' /tmp/bk/tapetype
echo "AMTAPETYPE_STATUS $status"
timeout 60 mtx -f "$CHSG" unload 5 1
""",
    "amlabel": PRELUDE
    + r"""
for slot in 1 2 3 4; do
    as_backup 180 amlabel bk "BK-0$slot" slot "$slot"
    echo "LABELLED $slot"
done
timeout 60 mtx -f "$CHSG" status | sed 's/^/MTX /'
cat /etc/amanda/bk/tapelist | sed 's/^/TAPELIST /'
""",
    "amcheck": PRELUDE + "as_backup 240 amcheck bk\n",
    "amdump": PRELUDE
    + r"""
status=0
as_backup 600 amdump bk || status=$?
echo "AMDUMP_STATUS $status"
as_backup 60 amreport bk --text=/var/log/amanda/report.txt || true
sed 's/^/REPORT /' /var/log/amanda/report.txt || true
as_backup 60 amadmin bk find localhost /tmp/bk/src | sed 's/^/FIND /'
[ "$status" -eq 0 ]
""",
    "amfetchdump": PRELUDE
    + r"""
as_backup 600 amfetchdump -a -p bk localhost /tmp/bk/src > /tmp/bk/restore.tar
mkdir -p /tmp/bk/restore
tar -xf /tmp/bk/restore.tar -C /tmp/bk/restore
ls -l /tmp/bk/restore | sed 's/^/RESTORED /'
diff -r /tmp/bk/src /tmp/bk/restore && echo "SAME ok"
""",
    "btape_test": PRELUDE
    + r"""
mkdir -p /tmp/bk/bacula
sed -e "s|@CHSG@|$CHSG|g" -e "s|@T0@|$T0|g" "$DEVEMU_VM_SHARE/bacula-sd.conf" \
    > /tmp/bk/bacula/sd.conf
grep '^offline=' /etc/bacula/scripts/mtx-changer.conf | sed 's/^/MTXCHANGER /'
empty_drives
timeout 60 mtx -f "$CHSG" load 6 0
wait_ready "$T0"
status=0
printf 'test\nn\nquit\n' | timeout 300 btape -c /tmp/bk/bacula/sd.conf bk-drive0 \
    > /tmp/bk/btape-test 2>&1 || status=$?
sed 's/^/BTAPE /' /tmp/bk/btape-test
echo
echo "BTAPE_STATUS $status"
""",
    "btape_auto": PRELUDE
    + r"""
status=0
printf 'auto\ny\nquit\n' | timeout 180 btape -c /tmp/bk/bacula/sd.conf bk-drive0 \
    > /tmp/bk/btape-auto 2>&1 || status=$?
sed 's/^/AUTO /' /tmp/bk/btape-auto
echo
echo "AUTO_STATUS $status"
timeout 60 mtx -f "$CHSG" status | sed 's/^/MTX /'
""",
    "stop": rf"""
. /tmp/bk/nodes.sh
for d in {AMANDA_DIRS}; do umount "$d" 2>/dev/null || true; done
pid=$(cat /tmp/serve.pid)
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
kill -0 "$pid" 2>/dev/null && {{ echo STILL_RUNNING; exit 1; }}
echo "TRACEBACKS $(grep -ci 'traceback\|internal error' /tmp/serve.log || true)"
""",
}


@pytest.fixture(scope="module")
def booted(guest_scripts: GuestScripts) -> tuple[VmResult, dict[str, Step]]:
    share = guest_scripts.new_share()
    (share / "vtl.toml").write_text(CONFIG)
    (share / "amanda.conf").write_text(AMANDA_CONF)
    (share / "bacula-sd.conf").write_text(BACULA_CONF)
    result, steps = guest_scripts.run_steps(STEPS, share=share, timeout=600)
    print(result.output)
    return result, steps


def test_script_completed(booted: tuple[VmResult, dict[str, Step]]) -> None:
    result, _ = booted
    assert result.exit_code == 0, result.output[-4000:]
    out = step(booted, "stop")
    assert value(out, "TRACEBACKS") == "0", out


def test_cartridges_have_the_configured_capacities(
    booted: tuple[VmResult, dict[str, Step]],
) -> None:
    out = step(booted, "serve")
    capacities = dict(line.split() for line in lines(out, "CAPACITY"))
    assert capacities == {AMANDA_TAPES[0]: str(SMALL), BACULA_TAPE: str(LARGE)}, out


def test_amtapetype_finds_the_drive_s_properties(
    booted: tuple[VmResult, dict[str, Step]],
) -> None:
    out = step(booted, "amtapetype")
    assert value(out, "AMTAPETYPE_STATUS") == "0", out
    tapetype = "\n".join(lines(out, "TAPETYPE"))
    # Three files written, read back and positioned over (SSC-5 7.2 SPACE):
    # a drive that needs no extra FSF after reading a filemark.
    assert 'device-property "FSF_AFTER_FILEMARK" "false"' in tapetype, tapetype
    assert "Unloading drive 1 into Storage Element 5...done" in out


def test_amlabel_labels_the_cartridges_through_chg_robot(
    booted: tuple[VmResult, dict[str, Step]],
) -> None:
    out = step(booted, "amlabel")
    assert out.count("Success!") == len(AMANDA_TAPES), out
    tapelist = lines(out, "TAPELIST")
    labelled = {
        m[1]: m[2] for line in tapelist if (m := re.search(r"(BK-\d\d) .*BARCODE:(\S+)", line))
    }
    assert labelled == {f"BK-0{n}": b for n, b in enumerate(AMANDA_TAPES, 1)}, tapelist
    # chg-robot used both drives and moved cartridges out of loaded drives
    # with no offline first: slots 1 and 2 are home again.
    mtx = "\n".join(lines(out, "MTX"))
    assert re.search(r"Storage Element 1:Full :VolumeTag=BK0001L8", mtx), mtx
    assert re.search(r"Storage Element 2:Full :VolumeTag=BK0002L8", mtx), mtx
    assert re.search(r"Data Transfer Element 0:Full \(Storage Element 3 Loaded\)", mtx), mtx
    assert re.search(r"Data Transfer Element 1:Full \(Storage Element 4 Loaded\)", mtx), mtx


def test_amcheck_finds_no_problem(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "amcheck")
    assert "ERROR" not in out, out
    assert "0 problems found" in out, out
    assert re.search(r"Will write to volume 'BK-0\d'", out), out


def test_amdump_spans_two_cartridges(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "amdump")
    assert value(out, "AMDUMP_STATUS") == "0", out
    parts = [
        (m[1], m[2], m[3], m[4] is not None)
        for line in lines(out, "FIND")
        if (m := re.search(r" (BK-\d\d) +\d+ +(\d+)/(\d+) (PARTIAL )?OK", line))
    ]
    assert parts, out
    total = int(parts[0][2])
    tapes = sorted({tape for tape, _, _, _ in parts})
    assert len(tapes) == 2, parts
    # The part cut by the end of the first cartridge is written whole on the next.
    cut = [int(n) for tape, n, _, partial in parts if partial]
    assert len(cut) == 1, parts
    whole = sorted(int(n) for _, n, _, partial in parts if not partial)
    assert whole == list(range(1, total + 1)), parts
    assert [t for t, n, _, partial in parts if int(n) == cut[0] and not partial] == [tapes[1]]
    report = "\n".join(lines(out, "REPORT"))
    assert "These dumps were to tapes BK-01, BK-02." in report, report
    assert "taper: Will request retry of failed split part." in report, report


def test_amfetchdump_restores_the_tree_byte_for_byte(
    booted: tuple[VmResult, dict[str, Step]],
) -> None:
    out = step(booted, "amfetchdump")
    assert "The following volumes are needed: BK-01 BK-02" in out, out
    assert len(lines(out, "RESTORED")) == SOURCE_FILES + 1, out  # "total" and one per file
    assert "SAME ok" in out, out


def test_btape_test_passes(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "btape_test")
    assert value(out, "MTXCHANGER") == "offline=0"
    assert value(out, "BTAPE_STATUS") == "0", out
    btape = "\n".join(lines(out, "BTAPE"))
    # Written, read back, positioned over by block (SSC-5 LOCATE) and file
    # (SPACE), appended after the end of data, backspaced over a filemark.
    assert "Wrote 10000 blocks of 8092 bytes." in btape, btape
    assert btape.count("10000 blocks re-read correctly.") == 2, btape
    assert btape.count("=== Test Succeeded. End Write, rewind, and re-read test ===") == 2
    assert "Block 20000 re-read correctly." in btape, btape
    assert "=== Append files test ===" in btape, btape
    assert "We should be in file 3. I am at file 3. This is correct!" in btape, btape
    assert "Total files=4, blocks=7, bytes = 56,896" in btape, btape
    assert "Block re-read correct. Test succeeded!" in btape, btape
    assert "We should be in file 5. I am at file 5. This is correct!" in btape, btape
    assert not re.search(r"NOT correct|ERR=|Test failed", btape), btape


def test_btape_autochanger_test_passes(booted: tuple[VmResult, dict[str, Step]]) -> None:
    out = step(booted, "btape_auto")
    assert value(out, "AUTO_STATUS") == "0", out
    auto = "\n".join(lines(out, "AUTO"))
    assert "=== Autochanger test ===" in auto, auto
    assert 'Issuing autochanger "unload 6 0" command.' in auto, auto
    assert 'Autochanger "load 1 0" status is OK.' in auto, auto
    assert "The test autochanger worked!!" in auto, auto
    mtx = "\n".join(lines(out, "MTX"))
    assert re.search(r"Data Transfer Element 0:Full \(Storage Element 1 Loaded\)", mtx), mtx
    assert re.search(r"Storage Element 6:Full :VolumeTag=BK0006L8", mtx), mtx
