"""Optical drives under the real kernel: sr, mount, blkid, cd-info, cdparanoia, eject.

In the tier's guest, a daemon of its own serves two drives: ``cd0`` holds
the Rock Ridge/Joliet sample ISO, ``cd1`` the mixed-mode CUE/BIN. It
checks that lsscsi shows them as cd/dvd drives, mounts cd0 and compares
the tree with its source, reads the label with blkid, lists cd1's tracks
with cd-info, rips its audio tracks with cdparanoia and compares the PCM
with the BIN (track 2 as ripped runs to track 3's index 1, so it includes
track 3's one-second INDEX 00 pregap), ejects cd0 (tray open, TUR: medium not present), inserts
the second ISO with ``devemu cdrom insert`` and mounts the new content,
and asks sg_get_config and sg_vpd what the drive is.
"""

from __future__ import annotations

import re

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.sample_images import load_make_samples
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines

pytestmark = pytest.mark.vm

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[cdrom]]
name = "cd0"
image = "data.iso"
serial = "VMCD0001"

[[cdrom]]
name = "cd1"
image = "mixed.cue"
serial = "VMCD0002"
"""

SCRIPT = (
    guest_functions(ready_timeout=45)
    + r"""
S="$DEVEMU_VM_SHARE"
serve_start "$S/cd.toml" /tmp/serve.log -v
pid=$serve_pid
sr_for() { node_with_serial "$1" /sys/block/sr*; }
for _ in $(seq 200); do
    SR0=$(sr_for VMCD0001); SR1=$(sr_for VMCD0002)
    [ -b "$SR0" ] && [ -b "$SR1" ] && break
    sleep 0.05
done
echo "DEVICES $SR0 $SR1"
lsscsi | sed 's/^/LSSCSI /'
dmesg | grep -i 'scsi3-mmc\|scsi-1 drive' | sed 's/^/DMESG /'
for _ in $(seq 50); do sg_turs "$SR0" > /dev/null 2>&1 && break; sleep 0.1; done
mkdir -p /tmp/m
mount -t iso9660 -o ro "$SR0" /tmp/m && echo "MOUNT1 ok"
diff -r /tmp/m "$S/tree" && echo "TREE1 ok"
umount /tmp/m
echo "BLKID $(blkid -o value -s LABEL "$SR0")"
cd-info --no-header --no-device-info --no-cddb -C "$SR1" 2>&1 | sed 's/^/CDINFO /'
for _ in $(seq 50); do sg_turs "$SR1" > /dev/null 2>&1 && break; sleep 0.1; done
cd /tmp
cdparanoia -q -d "$SR1" 2 /tmp/t2.wav 2>&1 | sed "s/^/PARANOIA /"
[ -s /tmp/t2.wav ] && echo "RIP2 ok"
cdparanoia -q -d "$SR1" 3 /tmp/t3.wav 2>&1 | sed "s/^/PARANOIA /"
[ -s /tmp/t3.wav ] && echo "RIP3 ok"
dd if="$S/mixed.bin" bs=2352 skip=@T2@ count=300 of=/tmp/t2.raw 2>/dev/null
dd if="$S/mixed.bin" bs=2352 skip=@T3@ count=300 of=/tmp/t3.raw 2>/dev/null
ls -l /tmp/t2.wav /tmp/t2.raw /tmp/t3.wav /tmp/t3.raw 2>&1 | sed 's/^/SIZES /'
tail -c +45 /tmp/t2.wav | cmp - /tmp/t2.raw 2>&1 | sed 's/^/CMP2 /'
tail -c +45 /tmp/t2.wav | cmp -s - /tmp/t2.raw && echo "PCM2 ok"
tail -c +45 /tmp/t3.wav | cmp -s - /tmp/t3.raw && echo "PCM3 ok"
eject "$SR0" && echo "EJECT ok"
sg_turs "$SR0" 2>&1 | sed 's/^/TUR_AFTER_EJECT /'
sg_requests "$SR0" 2>&1 | sed 's/^/TUR_AFTER_EJECT /'
devemu cdrom status cd0 | sed 's/^/STATUS /'
devemu cdrom insert cd0 "$S/data2.iso" | sed 's/^/INSERT /'
for _ in $(seq 50); do sg_turs "$SR0" > /dev/null 2>&1 && break; sleep 0.1; done
mount -t iso9660 -o ro "$SR0" /tmp/m && echo "MOUNT2 ok"
diff -r /tmp/m "$S/tree2" && echo "TREE2 ok"
umount /tmp/m
sg_get_config -c "$SR0" 2>&1 | sed 's/^/GETCONFIG /'
sg_vpd -p sn "$SR0" 2>&1 | sed 's/^/VPD /'
sg_inq "$SR0" 2>&1 | sed 's/^/INQ /'
kill "$pid"; wait "$pid"
echo "DONE"
"""
)


@pytest.fixture(scope="module")
def boot(guest_scripts: GuestScripts) -> VmResult:
    share = guest_scripts.new_share()
    load_make_samples().build(share)
    (share / "cd.toml").write_text(CONFIG)
    data_sectors = (share / "data.iso").stat().st_size // 2048
    t2 = data_sectors
    t3 = data_sectors + 225 + 75
    script = SCRIPT.replace("@T2@", str(t2)).replace("@T3@", str(t3))
    return guest_scripts.run(script, share=share, timeout=420)


def test_lsscsi_shows_optical_drives(boot: VmResult) -> None:
    found = [line for line in lines(boot.output, "LSSCSI") if "cd/dvd" in line and "DEVEMU" in line]
    assert len(found) == 2, boot.output
    assert any("scsi3-mmc" in line for line in lines(boot.output, "DMESG")), boot.output
    assert not any("scsi-1 drive" in line for line in lines(boot.output, "DMESG"))


def test_mount_tree_and_label(boot: VmResult) -> None:
    assert "MOUNT1 ok" in boot.output and "TREE1 ok" in boot.output, boot.output
    assert lines(boot.output, "BLKID") == ["DEVEMU_SAMPLE1"]


def test_cd_info_lists_tracks(boot: VmResult) -> None:
    info = "\n".join(lines(boot.output, "CDINFO"))
    assert re.search(r"^\s*1: 00:02:00\s+000000 data", info, re.M), info
    assert re.search(r"^\s*2: 00:04:45\s+000195 audio", info, re.M), info
    assert re.search(r"^\s*3: 00:08:45\s+000495 audio", info, re.M), info
    assert re.search(r"170: 00:12:45\s+000795 leadout", info), info


def test_cdparanoia_rips_exact_pcm(boot: VmResult) -> None:
    for tag in ("RIP2", "RIP3", "PCM2", "PCM3"):
        assert f"{tag} ok" in boot.output, boot.output


def test_eject_and_live_insert(boot: VmResult) -> None:
    assert "EJECT ok" in boot.output, boot.output
    assert any("not present" in line.lower() for line in lines(boot.output, "TUR_AFTER_EJECT")), (
        boot.output
    )
    assert "MOUNT2 ok" in boot.output and "TREE2 ok" in boot.output, boot.output


def test_sg_tools_see_a_drive(boot: VmResult) -> None:
    config = "\n".join(lines(boot.output, "GETCONFIG"))
    assert "CD-ROM" in config and "Current profile" in config, config
    assert any("VMCD0001" in line for line in lines(boot.output, "VPD")), boot.output
    assert "DONE" in boot.output
