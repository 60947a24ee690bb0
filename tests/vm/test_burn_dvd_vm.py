"""Burning write-once DVD+R, DVD-R and BD-R under the real kernel: growisofs and xorriso
add two sessions each, the disc mounts with both sessions' files.

In the tier's guest, a daemon of its own serves three drives that record,
each with a small blank disc kept in a folder of the share: ``dvd0`` a
DVD+R, ``dvd1`` a DVD-R, ``bd0`` a BD-R. It shows:

- ``growisofs -Z /dev/srN -R -J dir1`` then ``growisofs -M /dev/srN -R -J
  dir2`` on the DVD+R and on the DVD-R: the disc mounts and its tree
  equals both directories together (growisofs carries the first
  session's tree into the second); ``dvd+rw-mediainfo`` names the medium,
  two sessions and the fabricated TOC; ``devemu image info`` reads the
  kept ``disc.iso``; a WRITE (10) at LBA 0 is refused with INVALID
  ADDRESS FOR WRITE (21/02);
- ``xorriso -dev /dev/srN -close off`` mapping a first directory, then a
  second one, onto the BD-R: two sessions, the disc still appendable, the
  mount shows both directories' files;
- a new blank DVD+R, a first session by ``growisofs -Z``, then a WRITE
  (10) of 32 blocks at the next writable address that is never
  synchronized, and the daemon killed (SIGKILL) and started again: the
  disc holds the first session, mounts, and ``growisofs -M`` adds a second
  one at the same next writable address.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines

pytestmark = pytest.mark.vm

DRIVES = (("dvd0", "dvd+r", "VMDVD01"), ("dvd1", "dvd-r", "VMDVD02"), ("bd0", "bd-r", "VMBD01"))

CONFIG = GUEST_DAEMON_TABLE + "".join(
    f"""
[[cdrom]]
name = "{name}"
blank = "{medium}"
capacity = "64M"
burn_dir = "discs"
serial = "{serial}"
"""
    for name, medium, serial in DRIVES
)

SCRIPT = (
    guest_functions(ready_timeout=45)
    + r"""
S="$DEVEMU_VM_SHARE"
serve_start "$S/dvd.toml" /tmp/serve.log -v
pid=$serve_pid
for _ in $(seq 200); do
    PLUS=$(node_with_serial VMDVD01 /sys/block/sr*)
    DASH=$(node_with_serial VMDVD02 /sys/block/sr*)
    BD=$(node_with_serial VMBD01 /sys/block/sr*)
    [ -b "$PLUS" ] && [ -b "$DASH" ] && [ -b "$BD" ] && break
    sleep 0.05
done
echo "DEVICES $PLUS $DASH $BD"
ready() {
    for _ in $(seq 100); do sg_turs "$1" > /dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
tree() {  # tree DIR NAME: a few files of random bytes, named after NAME
    mkdir -p "$1/$2-sub"
    head -c 300000 /dev/urandom > "$1/$2.bin"; head -c 5000 /dev/urandom > "$1/$2-sub/x.bin"
    echo "$2" > "$1/$2.txt"
}
run() {  # run TAG command...: bounded, its output tagged
    rtag=$1; shift
    timeout 240 "$@" > /tmp/$rtag.log 2>&1; echo "$rtag rc=$?"
    sed "s/^/$rtag /" /tmp/$rtag.log | tail -40
}
# growisofs -M hands the drive to genisoimage as /dev/fd/N, which a system with udev has.
made_fd=
if [ ! -e /dev/fd ]; then ln -s /proc/self/fd /dev/fd && made_fd=1; fi
mkdir -p /tmp/m
head -c 2048 /dev/zero > /tmp/zero
two_sessions() {  # two_sessions TAG DEVICE DRIVE: growisofs -Z, then -M, then look
    tag=$1; dev=$2; drive=$3
    ready "$dev"
    tree /tmp/$tag-1 first; tree /tmp/$tag-2 second
    run ${tag}Z growisofs -Z "$dev" -R -J /tmp/$tag-1
    ready "$dev"
    run ${tag}M growisofs -M "$dev" -R -J /tmp/$tag-2
    ready "$dev"
    mkdir -p /tmp/$tag-both; cp -r /tmp/$tag-1/. /tmp/$tag-2/. /tmp/$tag-both/
    mount -t iso9660 -o ro "$dev" /tmp/m && diff -r /tmp/m /tmp/$tag-both && echo "${tag}_TREE ok"
    umount /tmp/m
    timeout 60 dvd+rw-mediainfo "$dev" 2>&1 | sed "s/^/${tag}INFO /"
    devemu image info "$S/discs/$drive-001/disc.iso" 2>&1 | sed "s/^/${tag}IMAGE /"
    devemu cdrom status "$drive" --json | tr -d '\n' | sed "s/^/${tag}STATUS /"; echo
    sg_raw -s 2048 -i /tmp/zero "$dev" 2a 00 00 00 00 00 00 00 01 00 2>&1 \
        | sed "s/^/${tag}REWRITE /"
}
two_sessions PLUS "$PLUS" dvd0
two_sessions DASH "$DASH" dvd1

# --- BD-R: two sessions added by xorriso, the disc left appendable
ready "$BD"
tree /tmp/bd-1 first; tree /tmp/bd-2 second
run BD1 xorriso -dev "$BD" -close off -map /tmp/bd-1 /
ready "$BD"
run BD2 xorriso -dev "$BD" -close off -map /tmp/bd-2 /
ready "$BD"
run BDTOC xorriso -indev "$BD" -toc
mkdir -p /tmp/bd-both; cp -r /tmp/bd-1/. /tmp/bd-2/. /tmp/bd-both/
mount -t iso9660 -o ro "$BD" /tmp/m && diff -r /tmp/m /tmp/bd-both && echo "BD_TREE ok"
umount /tmp/m
devemu cdrom status bd0 --json | tr -d '\n' | sed "s/^/BDSTATUS /"; echo
devemu image info "$S/discs/bd0-001/disc.iso" 2>&1 | sed "s/^/BDIMAGE /"

# --- kill -9 while a DVD+R track is being written, then a restart and growisofs -M
devemu cdrom insert dvd0 --blank dvd+r --capacity 64M | sed 's/^/INSERT /'
ready "$PLUS"
tree /tmp/k-1 first; tree /tmp/k-2 second
run KZ growisofs -Z "$PLUS" -R -J /tmp/k-1
ready "$PLUS"
NWA=$(devemu cdrom status dvd0 --json \
    | python3 -c 'import json, sys; print(json.load(sys.stdin)["recording"]["next_writable"])')
echo "KNWA $NWA"
head -c $((32 * 2048)) /dev/urandom > /tmp/part.bin
sg_raw -s $((32 * 2048)) -i /tmp/part.bin "$PLUS" 2a 00 $(printf '%08x' "$NWA" | sed 's/../& /g') \
    00 00 20 00 2>&1 | sed 's/^/KPART /'
devemu cdrom status dvd0 --json | tr -d '\n' | sed 's/^/KMID /'; echo
kill -KILL "$pid"; wait "$pid" 2>/dev/null
echo "KILLED"
serve_start "$S/dvd.toml" /tmp/serve2.log -v
pid=$serve_pid
for _ in $(seq 200); do
    PLUS=$(node_with_serial VMDVD01 /sys/block/sr*)
    [ -b "$PLUS" ] && break
    sleep 0.05
done
ready "$PLUS"
devemu cdrom status dvd0 --json | tr -d '\n' | sed 's/^/KRESTART /'; echo
mount -t iso9660 -o ro "$PLUS" /tmp/m && diff -r /tmp/m /tmp/k-1 && echo "K_FIRST ok"
umount /tmp/m
run KM growisofs -M "$PLUS" -R -J /tmp/k-2
ready "$PLUS"
mkdir -p /tmp/k-both; cp -r /tmp/k-1/. /tmp/k-2/. /tmp/k-both/
mount -t iso9660 -o ro "$PLUS" /tmp/m && diff -r /tmp/m /tmp/k-both && echo "K_TREE ok"
umount /tmp/m
cat /tmp/serve.log /tmp/serve2.log | grep -i "traceback" | tail -30 | sed 's/^/SERVELOG /'
kill "$pid"; wait "$pid"
[ -z "$made_fd" ] || rm -f /dev/fd
echo "DONE"
"""
)


@pytest.fixture(scope="module")
def burned(guest_scripts: GuestScripts) -> VmResult:
    share = guest_scripts.new_share()
    (share / "dvd.toml").write_text(CONFIG)
    return guest_scripts.run(SCRIPT, share=share, timeout=480)


def _rc(result: VmResult, tag: str) -> str:
    found = re.search(rf"^{tag} rc=(\d+)$", result.output, re.M)
    assert found, result.output
    return found[1]


def _status(result: VmResult, tag: str) -> dict[str, Any]:
    found = lines(result.output, tag)
    assert found, result.output
    data: dict[str, Any] = json.loads(found[0])
    return data


@pytest.mark.parametrize(("tag", "media"), [("PLUS", "1Bh, DVD+R"), ("DASH", "11h, DVD-R")])
def test_growisofs_two_sessions_mount(burned: VmResult, tag: str, media: str) -> None:
    assert _rc(burned, f"{tag}Z") == "0", burned.output
    assert _rc(burned, f"{tag}M") == "0", burned.output
    assert f"{tag}_TREE ok" in burned.output, burned.output
    info = "\n".join(lines(burned.output, f"{tag}INFO"))
    assert f"Mounted Media:         {media}" in info, info
    if tag == "PLUS":
        assert "Media ID:              DEVEMU/001" in info, info
    assert re.search(r"Number of Sessions:\s+3", info), info  # two closed, one empty
    assert re.search(r"Disc status:\s+appendable", info), info
    toc = re.findall(r"Track#(\d+)\s*:\s+\S+@(\d+)", info)
    assert [n for n, _ in toc] == ["1", "2"], info
    ms = re.search(r"Multi-session Info:\s+#2@(\d+)", info)
    assert ms and ms[1] == toc[1][1], info


@pytest.mark.parametrize("tag", ["PLUS", "DASH"])
def test_kept_image_and_status(burned: VmResult, tag: str) -> None:
    image = "\n".join(lines(burned.output, f"{tag}IMAGE"))
    assert "iso" in image and "Error" not in image, image
    rec = _status(burned, f"{tag}STATUS")["recording"]
    assert rec["tracks"] == 2 and rec["closed_sessions"] == 2, rec
    assert rec["status"] == "incomplete" and rec["kept_image"].endswith("disc.iso"), rec
    rewrite = "\n".join(lines(burned.output, f"{tag}REWRITE"))
    assert "Invalid address for write" in rewrite, burned.output


def test_kill_mid_burn_then_growisofs_appends(burned: VmResult) -> None:
    assert _rc(burned, "KZ") == "0", burned.output
    nwa = int(lines(burned.output, "KNWA")[0])
    mid = _status(burned, "KMID")["recording"]
    assert mid["writing"] == {"track": 2, "written": 32}, mid
    after = _status(burned, "KRESTART")["recording"]
    assert after["tracks"] == 1 and after["writing"] is None, after
    assert after["next_writable"] == nwa and after["status"] == "incomplete", after
    assert "K_FIRST ok" in burned.output, burned.output
    assert _rc(burned, "KM") == "0", burned.output
    assert "K_TREE ok" in burned.output, burned.output
    assert not lines(burned.output, "SERVELOG"), burned.output


def test_xorriso_two_sessions_on_bd_r(burned: VmResult) -> None:
    assert _rc(burned, "BD1") == "0" and _rc(burned, "BD2") == "0", burned.output
    assert "BD_TREE ok" in burned.output, burned.output
    toc = "\n".join(lines(burned.output, "BDTOC"))
    assert "BD-R sequential recording" in toc, toc
    assert len(re.findall(r"^ISO session\s*:\s+\d+", toc, re.M)) == 2, toc
    rec = _status(burned, "BDSTATUS")["recording"]
    assert rec["tracks"] == 2 and rec["status"] == "incomplete", rec
    assert "DONE" in burned.output
