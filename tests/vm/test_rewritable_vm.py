"""Rewritable DVD and BD media under the real kernel: growisofs and dvd+rw-tools on a
DVD+RW, xorriso on a BD-RE and a DVD-RW, then reading what was written.

In the tier's guest, a daemon of its own serves three drives that record:
``rw0`` starts with a blank DVD+RW, ``rw1`` with a blank BD-RE (small
capacities), ``rw2`` with a blank DVD-RW, all kept in a folder of the share. It shows:

- ``growisofs -Z`` of a tree onto the blank DVD+RW (growisofs formats it
  first, FORMAT UNIT 26h), then ``growisofs -M`` of a second tree (its
  multisession emulation: the new session written after the first, the
  volume descriptors copied to LBA 16): the disc mounts showing both trees
  equal to their sources; ``dvd+rw-mediainfo`` names the medium, its
  formatted state and capacity; ``dvd+rw-format -force`` formats it again;
- ``xorriso -format as_needed`` of the BD-RE, a first session of files and
  a second one added by xorriso's multi-session emulation on overwritable
  media: mount shows both; ``xorriso -blank as_needed`` invalidates it,
  ``-format full`` formats it again, a third tree is written and mounts
  alone;
- ``xorriso -format as_needed`` of a blank DVD-RW (quick format 15h to
  restricted overwrite), a session of files that mounts, then ``-blank
  deformat_quickest`` (BLANK) back to sequential recording, blank, as
  dvd+rw-mediainfo reports;
- on the same DVD-RW, back in sequential recording (profile 14h):
  ``growisofs -use-the-force-luke=dao -Z`` (Disc At Once: RESERVE TRACK,
  the disc closed by the drive), ``dvd+rw-format -blank``, ``growisofs -Z``
  then ``-M`` as on a DVD-R: the disc mounts with both trees, cd-info and
  ``devemu image info`` of the kept folder agree on the sessions and the
  last volume, and the loop mount ``devemu image info`` prints shows the
  last session (a plain loop mount the first); ``dvd+rw-format -force``
  turns it to restricted overwrite (13h) and ``growisofs -Z`` writes it
  as an overwrite medium;
- a WRITE (10) with FUA, then ``kill -9`` of the daemon: restarted, the
  drive holds the formatted disc and the block reads back as written.
"""

from __future__ import annotations

import json
import re

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines

pytestmark = pytest.mark.vm

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[cdrom]]
name = "rw0"
blank = "dvd+rw"
capacity = "48M"
burn_dir = "discs"
serial = "VMRW0001"

[[cdrom]]
name = "rw1"
blank = "bd-re"
capacity = "64M"
burn_dir = "discs"
serial = "VMRW0002"

[[cdrom]]
name = "rw2"
blank = "dvd-rw"
capacity = "32M"
burn_dir = "discs"
serial = "VMRW0003"
"""

SCRIPT = (
    guest_functions(ready_timeout=45)
    + r"""
S="$DEVEMU_VM_SHARE"
serve_start "$S/rw.toml" /tmp/serve.log -v
pid=$serve_pid
for _ in $(seq 200); do
    SR0=$(node_with_serial VMRW0001 /sys/block/sr*)
    SR1=$(node_with_serial VMRW0002 /sys/block/sr*)
    SR2=$(node_with_serial VMRW0003 /sys/block/sr*)
    [ -b "$SR0" ] && [ -b "$SR1" ] && [ -b "$SR2" ] && break
    sleep 0.05
done
echo "DEVICES $SR0 $SR1 $SR2"
ready() {
    for _ in $(seq 100); do sg_turs "$1" > /dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
tree() {  # tree DIR NAME: a few files of random bytes, named after NAME
    mkdir -p "$1/$2.d"
    head -c 200000 /dev/urandom > "$1/$2.bin"; head -c 3000 /dev/urandom > "$1/$2.d/small.bin"
    echo "$2" > "$1/$2.txt"
}
reload() {  # eject and load again: the kernel reads the new capacity (xorriso does not reload)
    eject "$1" 2>&1 | sed 's/^/EJECT /'; eject -t "$1" 2>&1 | sed 's/^/EJECT /'; ready "$1"
}
run() {  # run TAG SECONDS command...: bounded, output tagged
    tag=$1; secs=$2; shift 2
    timeout "$secs" "$@" > /tmp/$tag.log 2>&1; echo "$tag rc=$?"
    sed "s/^/$tag /" /tmp/$tag.log | tail -60
}
mkdir -p /tmp/m
ready "$SR0"; ready "$SR1"; ready "$SR2"
# growisofs -M hands genisoimage the previous session as /dev/fd/N.
made_fd=""
[ -e /dev/fd ] || { ln -s /proc/self/fd /dev/fd; made_fd=1; }

# --- DVD+RW: growisofs formats it, writes a session, then a second
tree /tmp/g1 first; tree /tmp/g2 second
mkdir -p /tmp/gboth; cp -r /tmp/g1/. /tmp/gboth/; cp -r /tmp/g2/. /tmp/gboth/
run GROW1 240 growisofs -Z "$SR0" -R -J /tmp/g1
ready "$SR0"
run GROW2 240 growisofs -M "$SR0" -R -J /tmp/g2
ready "$SR0"
mount -t iso9660 -o ro "$SR0" /tmp/m && diff -r /tmp/m /tmp/gboth && echo "GROW_TREE ok"
umount /tmp/m
run MEDIAINFO 60 dvd+rw-mediainfo "$SR0"
ls "$S/discs/rw0-001" | sed 's/^/KEPT0 /'
devemu image info "$S/discs/rw0-001/disc.iso" 2>&1 | sed 's/^/INFO0 /'
run REFORMAT 120 dvd+rw-format -force "$SR0"
ready "$SR0"
run MEDIAINFO2 60 dvd+rw-mediainfo "$SR0"
mount -t iso9660 -o ro "$SR0" /tmp/m > /dev/null 2>&1 && { echo "WIPED_MOUNTS"; umount /tmp/m; }

# --- BD-RE: xorriso formats it, two sessions, blank, full format, write again
tree /tmp/x1 one; tree /tmp/x2 two; tree /tmp/x3 three
run XFORMAT 240 xorriso -dev "$SR1" -format as_needed
ready "$SR1"
run XWRITE1 240 xorriso -dev "$SR1" -map /tmp/x1 / -commit
ready "$SR1"
run XWRITE2 240 xorriso -dev "$SR1" -map /tmp/x2 / -commit
ready "$SR1"
run XTOC 60 xorriso -indev "$SR1" -toc
reload "$SR1"
mkdir -p /tmp/xboth; cp -r /tmp/x1/. /tmp/xboth/; cp -r /tmp/x2/. /tmp/xboth/
mount -t iso9660 -o ro "$SR1" /tmp/m && diff -r /tmp/m /tmp/xboth && echo "XBOTH_TREE ok"
umount /tmp/m
run XBLANK 240 xorriso -dev "$SR1" -blank as_needed
ready "$SR1"
run XFULL 240 xorriso -outdev "$SR1" -format full
ready "$SR1"
run XWRITE3 240 xorriso -dev "$SR1" -map /tmp/x3 / -commit
reload "$SR1"
mount -t iso9660 -o ro "$SR1" /tmp/m && diff -r /tmp/m /tmp/x3 && echo "XTHIRD_TREE ok"
umount /tmp/m
devemu cdrom status rw1 --json | tr -d '\n' | sed 's/^/STATUS1 /'; echo

# --- DVD-RW: xorriso formats it to restricted overwrite, writes, then blanks it back
tree /tmp/w1 dash
run WFORMAT 240 xorriso -dev "$SR2" -format as_needed
ready "$SR2"
run WWRITE 240 xorriso -dev "$SR2" -map /tmp/w1 / -commit
reload "$SR2"
mount -t iso9660 -o ro "$SR2" /tmp/m && diff -r /tmp/m /tmp/w1 && echo "WTREE ok"
umount /tmp/m
run WINFO 60 dvd+rw-mediainfo "$SR2"
run WDEFORMAT 240 xorriso -dev "$SR2" -blank deformat_quickest
ready "$SR2"
run WINFO2 60 dvd+rw-mediainfo "$SR2"

# --- the blank DVD-RW in sequential recording: growisofs DAO, dvd+rw-format -blank,
# growisofs -Z then -M, the kept image's last session loop-mounted, then dvd+rw-format
# to restricted overwrite and growisofs -Z on it
tree /tmp/s1 seqone; tree /tmp/s2 seqtwo; tree /tmp/s3 overwrite
mkdir -p /tmp/sboth; cp -r /tmp/s1/. /tmp/s2/. /tmp/sboth/
run SDAO 120 growisofs -use-the-force-luke=dao -Z "$SR2" -R -J -V DAOVOL /tmp/s1
ready "$SR2"
run SDAOINFO 60 dvd+rw-mediainfo "$SR2"
mount -t iso9660 -o ro "$SR2" /tmp/m && diff -r /tmp/m /tmp/s1 && echo "SDAO_TREE ok"
umount /tmp/m
run SBLANK 120 dvd+rw-format -blank "$SR2"
ready "$SR2"
run SBLANKINFO 60 dvd+rw-mediainfo "$SR2"
run SZ 120 growisofs -Z "$SR2" -R -J -V SEQONE /tmp/s1
ready "$SR2"
run SM 120 growisofs -M "$SR2" -R -J -V SEQTWO /tmp/s2
ready "$SR2"
mount -t iso9660 -o ro "$SR2" /tmp/m && diff -r /tmp/m /tmp/sboth && echo "SEQ_TREE ok"
umount /tmp/m
run SINFO 60 dvd+rw-mediainfo "$SR2"
run SCDINFO 60 cd-info --no-header --no-device-info --no-cddb --dvd -C "$SR2"
devemu image info "$S/discs/rw2-001" > /tmp/simage.txt 2>&1; sed 's/^/SIMAGE /' /tmp/simage.txt
loop=$(sed -n 's/^  last session: //p' /tmp/simage.txt)
echo "SLOOPCMD $loop"
${loop%MOUNTPOINT}/tmp/m && diff -r /tmp/m /tmp/sboth && echo "SLOOP ok"
umount /tmp/m
mount -o loop,ro "$S/discs/rw2-001/disc.iso" /tmp/m && diff -r /tmp/m /tmp/s1 \
    && echo "SLOOP_FIRST ok"
umount /tmp/m
run SFORMAT 120 dvd+rw-format -force "$SR2"
ready "$SR2"
run SROINFO 60 dvd+rw-mediainfo "$SR2"
run SRO 120 growisofs -Z "$SR2" -R -J /tmp/s3
ready "$SR2"
mount -t iso9660 -o ro "$SR2" /tmp/m && diff -r /tmp/m /tmp/s3 && echo "SRO_TREE ok"
umount /tmp/m

# --- a FUA write survives kill -9 of the daemon
head -c 2048 /dev/urandom > /tmp/fua.bin
sg_raw -s 2048 -i /tmp/fua.bin "$SR1" 2a 08 00 00 10 00 00 00 01 00 2>&1 | sed 's/^/FUA /'
kill -KILL "$pid"
echo "KILLED"
sleep 1
serve_start "$S/rw.toml" /tmp/serve2.log -v
pid=$serve_pid
ready "$SR1"
sg_raw -r 2048 -o /tmp/back.bin "$SR1" 28 00 00 00 10 00 00 00 01 00 2>&1 | sed 's/^/BACK /'
cmp /tmp/fua.bin /tmp/back.bin && echo "FUA_KEPT ok"
devemu cdrom status rw1 --json | tr -d '\n' | sed 's/^/RESTARTED /'; echo
cat /tmp/serve.log /tmp/serve2.log | grep -i "traceback\|error\|warning" | tail -30 \
    | sed 's/^/SERVELOG /'
kill "$pid"; wait "$pid"
[ -z "$made_fd" ] || rm -f /dev/fd
echo "DONE"
"""
)


@pytest.fixture(scope="module")
def boot(guest_scripts: GuestScripts) -> VmResult:
    share = guest_scripts.new_share()
    (share / "rw.toml").write_text(CONFIG)
    return guest_scripts.run(SCRIPT, share=share, timeout=900)


def _rc(boot: VmResult, tag: str) -> str:
    found = re.search(rf"^{tag} rc=(\d+)$", boot.output, re.M)
    assert found, boot.output
    return found[1]


def test_growisofs_formats_and_appends_a_session(boot: VmResult) -> None:
    assert _rc(boot, "GROW1") == "0", boot.output
    assert _rc(boot, "GROW2") == "0", boot.output
    assert "pre-formatting blank DVD+RW" in "\n".join(lines(boot.output, "GROW1")), boot.output
    assert "GROW_TREE ok" in boot.output, boot.output


def test_dvd_plus_rw_mediainfo(boot: VmResult) -> None:
    assert _rc(boot, "MEDIAINFO") == "0", boot.output
    info = "\n".join(lines(boot.output, "MEDIAINFO"))
    assert re.search(r"Mounted Media:\s+1Ah, DVD\+RW", info), info
    assert re.search(r"Media ID:\s+DEVEMU/RW1", info), info  # from the ADIP (11h)
    assert re.search(r"Legacy lead-out at:\s+24576\*2KB", info), info
    assert re.search(r"BG Format Status:\s+complete", info), info
    assert re.search(r"formatted:\s+24576\*2048", info), info
    assert re.search(r"READ CAPACITY:\s+24576\*2048", info), info
    kept = lines(boot.output, "KEPT0")
    assert "disc.iso" in kept and "state.json" in kept, boot.output


def test_dvd_plus_rw_format_force(boot: VmResult) -> None:
    assert _rc(boot, "REFORMAT") == "0", boot.output
    assert _rc(boot, "MEDIAINFO2") == "0", boot.output
    assert "WIPED_MOUNTS" not in boot.output, boot.output


def test_xorriso_formats_bd_re_and_writes_two_sessions(boot: VmResult) -> None:
    for tag in ("XFORMAT", "XWRITE1", "XWRITE2"):
        assert _rc(boot, tag) == "0", boot.output
    assert "XBOTH_TREE ok" in boot.output, boot.output
    toc = "\n".join(lines(boot.output, "XTOC"))
    assert "BD-RE" in toc, toc
    assert len(re.findall(r"^XTOC ISO session", boot.output, re.M)) >= 2, toc


def test_xorriso_blank_format_full_and_write_again(boot: VmResult) -> None:
    for tag in ("XBLANK", "XFULL", "XWRITE3"):
        assert _rc(boot, tag) == "0", boot.output
    assert "XTHIRD_TREE ok" in boot.output, boot.output


def test_xorriso_dvd_rw_restricted_overwrite_and_back(boot: VmResult) -> None:
    for tag in ("WFORMAT", "WWRITE", "WINFO", "WDEFORMAT", "WINFO2"):
        assert _rc(boot, tag) == "0", boot.output
    assert "WTREE ok" in boot.output, boot.output
    info = "\n".join(lines(boot.output, "WINFO"))
    assert re.search(r"Mounted Media:\s+13h, DVD-RW Restricted Overwrite", info), info
    again = "\n".join(lines(boot.output, "WINFO2"))
    assert re.search(r"Mounted Media:\s+14h, DVD-RW Sequential", again), again
    assert re.search(r"Disc status:\s+blank", again), again


def test_growisofs_dao_then_blank_on_sequential_dvd_rw(boot: VmResult) -> None:
    """growisofs -use-the-force-luke=dao on a blank DVD-RW (profile 14h): page 05h DAO,
    RESERVE TRACK, the drive closes the disc; dvd+rw-format -blank (BLANK) empties it."""
    for tag in ("SDAO", "SDAOINFO", "SBLANK", "SBLANKINFO"):
        assert _rc(boot, tag) == "0", boot.output
    dao = "\n".join(lines(boot.output, "SDAO"))
    assert "engaging DVD-RW DAO" in dao and "failed" not in dao, dao
    info = "\n".join(lines(boot.output, "SDAOINFO"))
    assert re.search(r"Mounted Media:\s+14h, DVD-RW Sequential", info), info
    assert re.search(r"Disc status:\s+complete", info), info
    assert "SDAO_TREE ok" in boot.output, boot.output
    blanked = "\n".join(lines(boot.output, "SBLANKINFO"))
    assert re.search(r"Disc status:\s+blank", blanked), blanked


def test_growisofs_two_sessions_on_sequential_dvd_rw(boot: VmResult) -> None:
    for tag in ("SZ", "SM", "SINFO", "SCDINFO"):
        assert _rc(boot, tag) == "0", boot.output
    assert "SEQ_TREE ok" in boot.output, boot.output
    info = "\n".join(lines(boot.output, "SINFO"))
    assert re.search(r"Mounted Media:\s+14h, DVD-RW Sequential", info), info
    assert re.search(r"Disc status:\s+appendable", info), info
    toc = re.findall(r"Track#(\d+)\s*:\s+\S+@(\d+)", info)
    assert [n for n, _ in toc] == ["1", "2"], info
    # The kept image: both sessions at the addresses the drive reports, the last one's
    # volume as cd-info reads it, and a loop mount of it showing both trees.
    image = "\n".join(lines(boot.output, "SIMAGE"))
    kept = re.findall(r"session (\d+): start (\d+), length \d+, volume '(\w+)'", image)
    assert [(n, start) for n, start, _ in kept] == [("1", toc[0][1]), ("2", toc[1][1])], image
    assert [label for _, _, label in kept] == ["SEQONE", "SEQTWO"], image
    cd_info = "\n".join(lines(boot.output, "SCDINFO"))
    last = re.search(r"session #2 starts at track\s+2, LSN: (\d+)", cd_info)
    assert last and last[1] == toc[1][1], cd_info
    assert "label `SEQTWO " in cd_info, cd_info
    assert f"sbsector={toc[1][1]}" in image, image
    assert "SLOOP ok" in boot.output and "SLOOP_FIRST ok" in boot.output, boot.output


def test_dvd_rw_format_then_growisofs_overwrites(boot: VmResult) -> None:
    for tag in ("SFORMAT", "SROINFO", "SRO"):
        assert _rc(boot, tag) == "0", boot.output
    info = "\n".join(lines(boot.output, "SROINFO"))
    assert re.search(r"Mounted Media:\s+13h, DVD-RW Restricted Overwrite", info), info
    assert "SRO_TREE ok" in boot.output, boot.output


def test_fua_write_survives_kill(boot: VmResult) -> None:
    assert "KILLED" in boot.output and "FUA_KEPT ok" in boot.output, boot.output
    restarted = json.loads("\n".join(lines(boot.output, "RESTARTED")))["recording"]
    assert restarted["status"] == "formatted", restarted
    assert restarted["format"]["format_type"] == 0x30 and restarted["format"]["spare"], restarted
    assert "DONE" in boot.output, boot.output
