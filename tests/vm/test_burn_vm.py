"""Burning CD-R and CD-RW under the real kernel with wodim, then reading what was written.

In the tier's guest, a daemon of its own serves two drives that record:
``cd0`` starts with a blank CD-R, ``cd1`` with a blank CD-RW, both kept
in a folder of the share. It shows:

- ``wodim -tao`` of an ISO made by genisoimage onto the CD-R: the disc
  mounts and its tree equals the source; ``devemu image info`` reads the
  kept image (``disc.iso``); a WRITE (10) at LBA 0 of the finalized disc
  is refused with INVALID ADDRESS FOR WRITE (21/02);
- ``wodim -dao`` of an ISO onto the CD-RW: mounts, equal tree;
- ``wodim blank=fast`` of the CD-RW, then an audio CD from two WAV files
  (``-audio``, Track At Once): cdparanoia rips each track equal to its
  WAV's PCM;
- a new blank CD-R (``devemu cdrom insert cd0 --blank cd-r``): ``wodim
  -multi`` of a first session, ``-msinfo``, a second session built with
  ``genisoimage -C ... -M``, ``-multi`` again: ``-msinfo`` names the
  second session and the disc mounts showing the second session's files
  (and the first's, which genisoimage carried over); a write at an
  address already used is refused.

A second run writes a first track with ``wodim -nofix`` (its session left
open), opens a second one with a WRITE (10) of 64 blocks at the next
writable address that is never synchronized, kills the daemon (SIGKILL)
and starts it again: the disc holds the first track, mounts, its session
still open; ``wodim -fix`` then closes it.
"""

from __future__ import annotations

import json
import math
import re
import struct
import wave
from pathlib import Path
from typing import Any

import pytest

from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines

pytestmark = pytest.mark.vm

#: Audio tracks (file, tone in Hz, length in blocks of 588 stereo frames) of the first run ...
TONES = (("a1.wav", 440.0, 300), ("a2.wav", 660.0, 375))
#: ... and of cdrdao's TOC and wodim's CUE sheet (``both.wav``: the two, one after the other).
CDRDAO_TONES = (("a1.wav", 440.0, 310), ("a2.wav", 660.0, 320))


def tone_pcm(hz: float, blocks: int) -> bytes:
    """CD audio (16-bit stereo, 44.1 kHz) of a tone: ``blocks`` sectors of 588 frames."""
    step = 2 * math.pi * hz / 44100
    return b"".join(
        struct.pack("<hh", int(8000 * math.sin(step * i)), int(4000 * math.sin(step * i)))
        for i in range(blocks * 588)
    )


def write_wav(path: Path, pcm: bytes) -> None:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(2)
        out.setsampwidth(2)
        out.setframerate(44100)
        out.writeframes(pcm)


def write_tones(folder: Path, tones: tuple[tuple[str, float, int], ...]) -> list[bytes]:
    """The WAV files of ``tones`` in ``folder`` (made on the host: the guest's CPU is emulated)."""
    pcms = [tone_pcm(hz, blocks) for _, hz, blocks in tones]
    for (name, _, _), pcm in zip(tones, pcms, strict=True):
        write_wav(folder / name, pcm)
    return pcms


CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[cdrom]]
name = "cd0"
blank = "cd-r"
capacity = "100M"
burn_dir = "discs"
serial = "VMBURN01"

[[cdrom]]
name = "cd1"
blank = "cd-rw"
capacity = "100M"
burn_dir = "discs"
serial = "VMBURN02"
"""

SCRIPT = (
    guest_functions(ready_timeout=45)
    + r"""
S="$DEVEMU_VM_SHARE"
serve_start "$S/burn.toml" /tmp/serve.log -v
pid=$serve_pid
for _ in $(seq 200); do
    SR0=$(node_with_serial VMBURN01 /sys/block/sr*)
    SR1=$(node_with_serial VMBURN02 /sys/block/sr*)
    [ -b "$SR0" ] && [ -b "$SR1" ] && break
    sleep 0.05
done
echo "DEVICES $SR0 $SR1"
ready() {
    for _ in $(seq 100); do sg_turs "$1" > /dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
tree() {  # tree DIR SEED: a few files of random bytes
    mkdir -p "$1/sub"
    head -c 300000 /dev/urandom > "$1/a.bin"; head -c 5000 /dev/urandom > "$1/sub/b.bin"
    echo "$2" > "$1/seed.txt"
}
burn() {  # burn TAG wodim-arguments...: run wodim, bounded, and show its output
    tag=$1; shift
    timeout 180 wodim -v "$@" > /tmp/$tag.log 2>&1; echo "$tag rc=$?"
    sed "s/^/$tag /" /tmp/$tag.log | tail -60
}
ready "$SR0"; ready "$SR1"

# --- Track At Once data track onto the CD-R
tree /tmp/t1 one
genisoimage -quiet -R -J -V TAO1 -o /tmp/t1.iso /tmp/t1
burn TAO dev="$SR0" -tao /tmp/t1.iso
ready "$SR0"
mkdir -p /tmp/m
mount -t iso9660 -o ro "$SR0" /tmp/m && diff -r /tmp/m /tmp/t1 && echo "TAO_TREE ok"
umount /tmp/m
devemu image info "$S/discs/cd0-001/disc.iso" 2>&1 | sed 's/^/INFO1 /'
head -c 2048 /dev/zero > /tmp/zero
devemu cdrom status cd0 --json | tr -d '\n' | sed 's/^/STATUS1 /'; echo
sg_raw -v -s 2048 -i /tmp/zero "$SR0" 2a 00 00 00 00 00 00 00 01 00 2>&1 | sed 's/^/REWRITE1 /'

# --- Session At Once onto the CD-RW
tree /tmp/t2 two
genisoimage -quiet -R -J -V DAO2 -o /tmp/t2.iso /tmp/t2
burn DAO dev="$SR1" -dao /tmp/t2.iso
ready "$SR1"
mount -t iso9660 -o ro "$SR1" /tmp/m && diff -r /tmp/m /tmp/t2 && echo "DAO_TREE ok"
umount /tmp/m

# --- blank=fast, then an audio CD from WAV files
burn BLANK dev="$SR1" blank=fast
ready "$SR1"
cp "$S/a1.wav" "$S/a2.wav" /tmp/
burn AUDIO dev="$SR1" -tao -audio /tmp/a1.wav /tmp/a2.wav
ready "$SR1"
cd-info --no-header --no-device-info --no-cddb -C "$SR1" 2>&1 | sed 's/^/CDINFO /'
cd /tmp
for n in 1 2; do
    cdparanoia -q -d "$SR1" $n /tmp/r$n.wav 2>&1 | sed "s/^/PARANOIA /"
    tail -c +45 /tmp/a$n.wav > /tmp/a$n.pcm
    tail -c +45 /tmp/r$n.wav > /tmp/r$n.pcm
done
# Track 1 as ripped runs to track 2's index 1: its 150-sector TAO pregap, silence, follows it.
head -c 352800 /dev/zero | cat /tmp/a1.pcm - > /tmp/a1gap.pcm
ls -l /tmp/a1.pcm /tmp/r1.pcm /tmp/a2.pcm /tmp/r2.pcm | sed 's/^/SIZES /'
cmp /tmp/a1gap.pcm /tmp/r1.pcm 2>&1 | sed "s/^/CMP1 /"
cmp -s /tmp/a1gap.pcm /tmp/r1.pcm && echo "PCM1 ok"
cmp /tmp/a2.pcm /tmp/r2.pcm 2>&1 | sed "s/^/CMP2 /"
cmp -s /tmp/a2.pcm /tmp/r2.pcm && echo "PCM2 ok"

# --- two sessions on a new blank CD-R
devemu cdrom insert cd0 --blank cd-r --capacity 100M | sed 's/^/INSERT /'
ready "$SR0"
tree /tmp/s1 first
genisoimage -quiet -R -J -V MULTI -o /tmp/s1.iso /tmp/s1
burn MULTI1 dev="$SR0" -multi -tao /tmp/s1.iso
ready "$SR0"
MSINFO=$(wodim dev="$SR0" -msinfo 2>/dev/null); echo "MSINFO1 $MSINFO"
mkdir -p /tmp/s2; cp -r /tmp/s1/. /tmp/s2/; echo second > /tmp/s2/second.txt
head -c 70000 /dev/urandom > /tmp/s2/more.bin
genisoimage -quiet -R -J -V MULTI -C "$MSINFO" -M "$SR0" -o /tmp/s2.iso /tmp/s2 2>&1 \
    | sed 's/^/GENISO2 /'
burn MULTI2 dev="$SR0" -multi -tao /tmp/s2.iso
ready "$SR0"
echo "MSINFO2 $(wodim dev="$SR0" -msinfo 2>/dev/null)"
mount -t iso9660 -o ro "$SR0" /tmp/m && diff -r /tmp/m /tmp/s2 && echo "MULTI_TREE ok"
umount /tmp/m
cd-info --no-header --no-device-info --no-cddb -C "$SR0" 2>&1 | sed 's/^/MCDINFO /'
devemu image info "$S/discs/cd0-002/disc.cue" 2>&1 | sed 's/^/MINFO /'
sg_raw -s 2048 -i /tmp/zero "$SR0" 2a 00 00 00 00 00 00 00 01 00 2>&1 | sed 's/^/REWRITE2 /'
ls "$S/discs" | sed 's/^/DISCS /'
grep -i "traceback\|error\|warning" /tmp/serve.log | tail -30 | sed 's/^/SERVELOG /'
kill "$pid"; wait "$pid"
echo "DONE"
"""
)


CRASH_CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[cdrom]]
name = "cd0"
blank = "cd-r"
capacity = "200M"
burn_dir = "discs"
serial = "VMBURN03"
"""

CRASH_SCRIPT = (
    guest_functions(ready_timeout=45)
    + r"""
S="$DEVEMU_VM_SHARE"
serve_start "$S/crash.toml" /tmp/serve1.log -v
pid=$serve_pid
for _ in $(seq 200); do
    SR=$(node_with_serial VMBURN03 /sys/block/sr*)
    [ -b "$SR" ] && break
    sleep 0.05
done
ready() {
    for _ in $(seq 100); do sg_turs "$1" > /dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
writing() {  # the open track's number and blocks written, from the daemon's status
    devemu cdrom status cd0 --json | python3 -c '
import json, sys
w = json.load(sys.stdin)["recording"]["writing"]
print("%d %d" % (w["track"], w["written"]) if w else "0 0")'
}
ready "$SR"
mkdir -p /tmp/c1 /tmp/m
head -c 400000 /dev/urandom > /tmp/c1/first.bin
genisoimage -quiet -R -V CRASH1 -o /tmp/c1.iso /tmp/c1
# Track 1 completes; -nofix leaves its session open.
timeout 180 wodim -v dev="$SR" -tao -nofix /tmp/c1.iso > /tmp/wc.log 2>&1; echo "WODIM1 rc=$?"
# Track 2 is opened by a WRITE (10) at the next writable address and never synchronized.
NWA=$(wodim dev="$SR" -msinfo 2>/dev/null | cut -d, -f2); echo "NWA $NWA"
head -c $((64 * 2048)) /dev/urandom > /tmp/part.bin
sg_raw -s $((64 * 2048)) -i /tmp/part.bin "$SR" 2a 00 $(printf '%08x' "$NWA" | sed 's/../& /g') \
    00 00 40 00 2>&1 | sed 's/^/PART /'
set -- $(writing)
echo "MIDBURN track=$1 written=$2"
kill -KILL "$pid"
echo "KILLED"
sleep 1
serve_start "$S/crash.toml" /tmp/serve2.log -v
pid=$serve_pid
ready "$SR"
devemu cdrom status cd0 --json | sed 's/^/RESTARTED /'
mount -t iso9660 -o ro "$SR" /tmp/m && diff -r /tmp/m /tmp/c1 && echo "CRASH_TREE ok"
umount /tmp/m
timeout 120 wodim -v dev="$SR" -fix > /tmp/fix.log 2>&1; echo "FIX rc=$?"
tail -15 /tmp/fix.log | sed 's/^/FIX /'
ready "$SR"
devemu cdrom status cd0 --json | sed 's/^/FIXED /'
mount -t iso9660 -o ro "$SR" /tmp/m && diff -r /tmp/m /tmp/c1 && echo "FIXED_TREE ok"
umount /tmp/m
cat /tmp/serve1.log /tmp/serve2.log | grep -i "traceback\|error\|warning\|replay" | tail -30 \
    | sed 's/^/SERVELOG /'
kill "$pid"; wait "$pid"
echo "DONE"
"""
)


@pytest.fixture(scope="module")
def boot(guest_scripts: GuestScripts) -> VmResult:
    share = guest_scripts.new_share()
    (share / "burn.toml").write_text(CONFIG)
    write_tones(share, TONES)
    return guest_scripts.run(SCRIPT, share=share, timeout=600)


def _rc(boot: VmResult, tag: str) -> str:
    found = re.search(rf"^{tag} rc=(\d+)$", boot.output, re.M)
    assert found, boot.output
    return found[1]


def test_tao_data_track_mounts(boot: VmResult) -> None:
    assert _rc(boot, "TAO") == "0", boot.output
    assert "TAO_TREE ok" in boot.output, boot.output
    info = "\n".join(lines(boot.output, "INFO1"))
    assert "iso" in info and "label 'TAO1'" in info, info


def test_write_at_used_address_refused(boot: VmResult) -> None:
    for tag in ("REWRITE1", "REWRITE2"):
        text = "\n".join(lines(boot.output, tag))
        assert "Invalid address for write" in text, boot.output


def test_dao_data_track_mounts(boot: VmResult) -> None:
    assert _rc(boot, "DAO") == "0", boot.output
    assert "DAO_TREE ok" in boot.output, boot.output


def test_blank_then_audio_rips_equal(boot: VmResult) -> None:
    assert _rc(boot, "BLANK") == "0", boot.output
    assert _rc(boot, "AUDIO") == "0", boot.output
    assert "PCM1 ok" in boot.output and "PCM2 ok" in boot.output, boot.output


def test_two_sessions(boot: VmResult) -> None:
    assert _rc(boot, "MULTI1") == "0" and _rc(boot, "MULTI2") == "0", boot.output
    first = lines(boot.output, "MSINFO1")[0]
    second = lines(boot.output, "MSINFO2")[0]
    assert re.fullmatch(r"0,\d+", first), boot.output
    start2 = int(first.split(",")[1])
    assert second.split(",")[0] == str(start2), boot.output
    assert "MULTI_TREE ok" in boot.output, boot.output
    assert "DONE" in boot.output


@pytest.fixture(scope="module")
def crashed(guest_scripts: GuestScripts) -> VmResult:
    share = guest_scripts.new_share()
    (share / "crash.toml").write_text(CRASH_CONFIG)
    return guest_scripts.run(CRASH_SCRIPT, share=share, timeout=600)


def _json_after(boot: VmResult, tag: str) -> dict[str, Any]:
    found = lines(boot.output, tag)
    assert found, boot.output
    data: dict[str, Any] = json.loads("\n".join(found))
    return data


def test_kill_mid_burn_keeps_completed_tracks(crashed: VmResult) -> None:
    assert _rc(crashed, "WODIM1") == "0", crashed.output
    mid = re.search(r"^MIDBURN track=(\d+) written=(\d+)$", crashed.output, re.M)
    assert mid and mid[1] == "2" and mid[2] == "64", crashed.output
    status = _json_after(crashed, "RESTARTED")["recording"]
    assert status["tracks"] == 1 and status["status"] == "incomplete", status
    assert status["writing"] is None, status
    assert "CRASH_TREE ok" in crashed.output, crashed.output


def test_fix_closes_the_session_after_a_crash(crashed: VmResult) -> None:
    assert _rc(crashed, "FIX") == "0", crashed.output
    status = _json_after(crashed, "FIXED")["recording"]
    assert status["closed_sessions"] == 1 and status["status"] == "complete", status
    assert "FIXED_TREE ok" in crashed.output, crashed.output
    assert "DONE" in crashed.output


def test_image_info_agrees_with_cd_info(boot: VmResult) -> None:
    """The kept image of the two-session disc lists the tracks cd-info reads from the drive."""
    drive = re.findall(
        r"^\s*(\d+): \d\d:\d\d:\d\d\s+(\d+) (?:data|XA)",
        "\n".join(lines(boot.output, "MCDINFO")),
        re.M,
    )
    kept = re.findall(r"track\s+(\d+) \S+\s+start\s+(\d+)", "\n".join(lines(boot.output, "MINFO")))
    assert len(drive) == 2, boot.output
    assert [(int(n), int(lba)) for n, lba in drive] == [(int(n), int(lba)) for n, lba in kept]


CDRDAO_CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[cdrom]]
name = "cd0"
blank = "cd-r"
capacity = "100M"
burn_dir = "discs"
serial = "VMBURN04"

[[cdrom]]
name = "cd1"
blank = "cd-rw"
capacity = "100M"
burn_dir = "discs"
serial = "VMBURN05"
"""

#: cdrdao's TOC: a Mode 1 data track and two audio tracks, CD-TEXT for the disc and each.
CDRDAO_TOC = """\
CD_ROM
CD_TEXT {
  LANGUAGE_MAP { 0 : EN }
  LANGUAGE 0 { TITLE "Probe Album" PERFORMER "Devemu" }
}
TRACK MODE1
CD_TEXT { LANGUAGE 0 { TITLE "Data" PERFORMER "Devemu" } }
DATAFILE "data.iso"
TRACK AUDIO
CD_TEXT { LANGUAGE 0 { TITLE "Tone A" PERFORMER "Osc" } }
PREGAP 00:02:00
FILE "a1.wav" 0
TRACK AUDIO
CD_TEXT { LANGUAGE 0 { TITLE "Tone B" PERFORMER "Osc" } }
FILE "a2.wav" 0
"""

CDRDAO_SCRIPT = (
    guest_functions(ready_timeout=45)
    + r"""
S="$DEVEMU_VM_SHARE"
serve_start "$S/cdrdao.toml" /tmp/serve1.log -v
pid=$serve_pid
for _ in $(seq 200); do
    SR0=$(node_with_serial VMBURN04 /sys/block/sr*)
    SR1=$(node_with_serial VMBURN05 /sys/block/sr*)
    [ -b "$SR0" ] && [ -b "$SR1" ] && break
    sleep 0.05
done
SG0=/dev/$(ls /sys/block/$(basename "$SR0")/device/scsi_generic/)
SG1=/dev/$(ls /sys/block/$(basename "$SR1")/device/scsi_generic/)
echo "DEVICES $SR0 $SG0 $SR1 $SG1"
ready() {
    for _ in $(seq 100); do sg_turs "$1" > /dev/null 2>&1 && return 0; sleep 0.1; done
    return 1
}
ready "$SR0"; ready "$SR1"
mkdir -p /tmp/w /tmp/d /tmp/m
cp "$S/disc.toc" /tmp/w/disc.toc
head -c 700000 /dev/urandom > /tmp/d/x.bin
genisoimage -quiet -R -V CDRDAO -o /tmp/w/data.iso /tmp/d
# Tracks of at least 4 seconds (300 blocks), as cdrdao and wodim want them (made on the host).
cp "$S/a1.wav" "$S/a2.wav" "$S/both.wav" /tmp/w/
for n in 1 2; do tail -c +45 /tmp/w/a$n.wav > /tmp/w/a$n.pcm; done
check_disc() {  # check_disc TAG DEV FOLDER: the kept image and the disc against the TOC
    devemu image info "$3/disc.cue" 2>&1 | sed "s/^/$1INFO /"
    cmp "$3/track01.bin" /tmp/w/data.iso && echo "$1 DATA ok"
    cd-info --no-header --no-device-info --no-cddb -C "$2" 2>&1 | sed "s/^/$1CDINFO /"
    cd /tmp
    for t in 2 3; do
        cdparanoia -q -d "$2" $t /tmp/r$t.wav 2>&1 | sed "s/^/$1PARANOIA /"
        tail -c +45 /tmp/r$t.wav > /tmp/r$t.pcm
    done
    # Track 2 as ripped runs to track 3's index 1 (no pregap between them: none).
    cmp /tmp/w/a1.pcm /tmp/r2.pcm && echo "$1 PCM2 ok"
    cmp /tmp/w/a2.pcm /tmp/r3.pcm && echo "$1 PCM3 ok"
    cd /tmp/w
}

# --- cdrdao Session At Once (generic-mmc), CD-TEXT in the lead-in, onto the CD-R
cd /tmp/w
# Driver option 0x10: write CD-TEXT (cdrdao leaves it off for drives it does not know).
timeout 240 cdrdao write --device "$SG0" --driver generic-mmc:0x10 disc.toc > /tmp/sao.log 2>&1
echo "CDRDAO rc=$?"
tail -25 /tmp/sao.log | sed 's/^/CDRDAO /'
ready "$SR0"
check_disc SAO "$SR0" "$S/discs/cd0-001"
head -1 "$S/discs/cd0-001/disc.cue" | sed 's/^/SAOCUE /'

# --- cdrdao raw (generic-mmc-raw) onto the CD-RW
timeout 300 cdrdao write --device "$SG1" --driver generic-mmc-raw disc.toc > /tmp/raw.log 2>&1
echo "CDRDAORAW rc=$?"
tail -25 /tmp/raw.log | sed 's/^/CDRDAORAW /'
ready "$SR1"
check_disc RAW "$SR1" "$S/discs/cd1-001"

# --- wodim -dao -text with a CUE sheet's CDTEXTFILE, onto a new blank CD-R
devemu cdrom insert cd0 --blank cd-r --capacity 100M | sed 's/^/INSERT /'
ready "$SR0"
"$DEVEMU_VM_PYTHON" - <<'EOF'
from devemu.cdrom.subchannel import crc16
def pack(kind, track, seq, payload):
    body = bytes((kind, track, seq, 0)) + payload.ljust(12, b"\0")
    return body + (crc16(body) ^ 0xFFFF).to_bytes(2, "big")
packs = [
    pack(0x80, 0, 0, b"WAlbum\0WOne\0"), pack(0x80, 2, 1, b"WTwo\0"),
    pack(0x81, 0, 2, b"WBand\0WBand\0"), pack(0x81, 2, 3, b"WBand\0"),
    pack(0x8F, 0, 4, bytes((0, 1, 2, 0, 2, 2) + (0,) * 6)),
    pack(0x8F, 1, 5, bytes((0,) * 7 + (3,) + (0,) * 4)),
    pack(0x8F, 2, 6, bytes((6, 0, 0, 0, 9) + (0,) * 7)),
]
open("/tmp/w/disc.cdt", "wb").write(b"".join(packs))
EOF
cat > /tmp/w/w.cue <<'EOF'
CDTEXTFILE "disc.cdt"
FILE "both.wav" WAVE
  TRACK 01 AUDIO
    INDEX 01 00:00:00
  TRACK 02 AUDIO
    INDEX 01 00:04:10
EOF
timeout 240 wodim -v dev="$SR0" -dao -text cuefile=w.cue > /tmp/wtext.log 2>&1
echo "WTEXT rc=$?"
tail -20 /tmp/wtext.log | sed 's/^/WTEXT /'
ready "$SR0"
cmp /tmp/w/disc.cdt "$S/discs/cd0-002/cdtext.bin" && echo "WTEXT PACKS ok"
head -1 "$S/discs/cd0-002/disc.cue" | sed 's/^/WTEXTCUE /'
cd-info --no-header --no-device-info --no-cddb -C "$SR0" 2>&1 | sed 's/^/WTEXTCDINFO /'

# --- a reserved track across a restart (kill -9)
devemu cdrom insert cd0 --blank cd-r --capacity 100M | sed 's/^/INSERT /'
ready "$SR0"
sg_raw "$SR0" 53 00 00 00 00 00 00 01 f4 00 2>&1 | sed 's/^/RESERVE /'
rti() {  # READ TRACK INFORMATION of track $1, in hex
    sg_raw -r 36 -o /tmp/rti.bin "$SR0" 52 01 00 00 00 $1 00 00 24 00 > /dev/null 2>&1
    od -An -tx1 /tmp/rti.bin | tr -d ' \n'
    echo
}
echo "RTI1BEFORE $(rti 01)"
echo "RTIFFBEFORE $(rti ff)"
kill -KILL "$pid"; sleep 1
serve_start "$S/cdrdao.toml" /tmp/serve2.log -v
pid=$serve_pid
ready "$SR0"
echo "RTI1AFTER $(rti 01)"
echo "RTIFFAFTER $(rti ff)"
devemu cdrom status cd0 --json | tr -d '\n' | sed 's/^/RESERVED /'; echo

# --- a prevented eject, refused from the control socket, mid-burn
devemu cdrom insert cd1 --blank cd-rw --capacity 100M | sed 's/^/INSERT /'
ready "$SR1"
head -c 30000000 /dev/urandom > /tmp/d/big.bin
genisoimage -quiet -R -V BIG -o /tmp/w/big.iso /tmp/d
written() {
    devemu cdrom status cd1 --json | python3 -c '
import json, sys
w = json.load(sys.stdin)["recording"]["writing"]
print(w["written"] if w else 0)'
}
timeout 240 wodim -v dev="$SR1" -tao /tmp/w/big.iso > /tmp/wbig.log 2>&1 &
wpid=$!
# wodim writes faster than a control command starts under emulation: it is stopped
# (SIGSTOP) in the middle of its track while the operator acts, then let go on.
for _ in $(seq 600); do
    size=$(stat -c %s "$S/discs/cd1-002/track01.bin" 2>/dev/null || echo 0)
    if [ "$size" -gt 2000000 ]; then
        for p in $(pgrep -x wodim); do kill -STOP "$p"; done
        break
    fi
    sleep 0.02
done
echo "STOPPED at $(written)"
devemu cdrom status cd1 --json \
    | python3 -c 'import json, sys; print("PREVENTED", json.load(sys.stdin)["prevented"])'
devemu cdrom eject cd1 > /tmp/eject.out 2>&1; echo "EJECT rc=$?"
sed 's/^/EJECTMSG /' /tmp/eject.out
# --- then a forced swap mid-track: wodim must fail, the old disc stays consistent
devemu cdrom insert cd1 --blank cd-rw --capacity 100M --force 2>&1 | sed 's/^/SWAP /'
for p in $(pgrep -x wodim); do kill -CONT "$p"; done
wait $wpid; echo "WSWAP rc=$?"
tail -12 /tmp/wbig.log | sed 's/^/WSWAP /'
ls "$S/discs/cd1-002" | sed 's/^/OLDFILES /'
cat "$S/discs/cd1-002/state.json" | tr -d ' \n' | sed 's/^/OLDSTATE /'; echo
grep -i "traceback" /tmp/serve1.log /tmp/serve2.log | tail -5 | sed 's/^/SERVELOG /'
kill "$pid"; wait "$pid"
echo "DONE"
"""
)


@pytest.fixture(scope="module")
def cdrdao(guest_scripts: GuestScripts) -> VmResult:
    share = guest_scripts.new_share()
    (share / "cdrdao.toml").write_text(CDRDAO_CONFIG)
    (share / "disc.toc").write_text(CDRDAO_TOC)
    write_wav(share / "both.wav", b"".join(write_tones(share, CDRDAO_TONES)))
    return guest_scripts.run(CDRDAO_SCRIPT, share=share, timeout=600)


def _tracks(text: str) -> list[tuple[int, str]]:
    return [(int(n), kind) for n, kind in re.findall(r"track\s+(\d+) (\S+)", text)]


@pytest.mark.parametrize("tag", ["SAO", "RAW"])
def test_cdrdao_write_data_and_audio(cdrdao: VmResult, tag: str) -> None:
    """cdrdao write (generic-mmc, generic-mmc-raw) of a TOC with a data and two audio tracks:
    the kept CUE/BIN has its tracks, the data track's bytes equal the ISO, cdparanoia's rips
    equal the WAVs' PCM."""
    rc = _rc(cdrdao, "CDRDAO" if tag == "SAO" else "CDRDAORAW")
    assert rc == "0", cdrdao.output
    info = "\n".join(lines(cdrdao.output, f"{tag}INFO"))
    kinds = [k.upper() for _, k in _tracks(info)]
    assert len(kinds) == 3 and kinds[0].startswith("MODE1") and kinds[1:] == ["AUDIO"] * 2, info
    for check in ("DATA", "PCM2", "PCM3"):
        assert f"{tag} {check} ok" in cdrdao.output, cdrdao.output


def test_cdrdao_cdtext_in_the_leadin(cdrdao: VmResult) -> None:
    """cdrdao's CD_TEXT blocks, written in the lead-in, are kept and read back (cd-info)."""
    assert lines(cdrdao.output, "SAOCUE") == ['CDTEXTFILE "cdtext.bin"'], cdrdao.output
    cdinfo = "\n".join(lines(cdrdao.output, "SAOCDINFO"))
    for text in ("Probe Album", "Tone A", "Tone B", "Osc"):
        assert text in cdinfo, cdinfo


def test_wodim_text_from_cdtextfile(cdrdao: VmResult) -> None:
    assert _rc(cdrdao, "WTEXT") == "0", cdrdao.output
    assert "WTEXT PACKS ok" in cdrdao.output, cdrdao.output
    assert lines(cdrdao.output, "WTEXTCUE") == ['CDTEXTFILE "cdtext.bin"'], cdrdao.output
    cdinfo = "\n".join(lines(cdrdao.output, "WTEXTCDINFO"))
    for text in ("WAlbum", "WOne", "WTwo", "WBand"):
        assert text in cdinfo, cdinfo


def test_reserved_track_survives_a_restart(cdrdao: VmResult) -> None:
    """READ TRACK INFORMATION after kill -9 and a restart answers as before: the reserved
    track whole, the invisible track but for its track and data modes (bytes 5 and 6),
    which follow page 05h and a restarted drive's page is the default one."""
    before = lines(cdrdao.output, "RTI1BEFORE")
    assert before and before == lines(cdrdao.output, "RTI1AFTER"), cdrdao.output
    assert len(before[0]) == 72, cdrdao.output
    ff_before = bytes.fromhex(lines(cdrdao.output, "RTIFFBEFORE")[0])
    ff_after = bytes.fromhex(lines(cdrdao.output, "RTIFFAFTER")[0])
    assert ff_before[:5] + ff_before[7:] == ff_after[:5] + ff_after[7:], cdrdao.output
    rti = bytes.fromhex(lines(cdrdao.output, "RTI1BEFORE")[0])
    assert rti[6] & 0x80 and int.from_bytes(rti[24:28], "big") == 500, rti.hex()


def test_prevented_eject_refused_mid_burn_and_forced_swap_fails_the_burn(
    cdrdao: VmResult,
) -> None:
    assert lines(cdrdao.output, "PREVENTED") == ["True"], cdrdao.output
    assert _rc(cdrdao, "EJECT") != "0", cdrdao.output
    eject = lines(cdrdao.output, "EJECTMSG")
    assert len(eject) == 1 and "prevents medium removal" in eject[0], eject
    assert _rc(cdrdao, "WSWAP") != "0", cdrdao.output
    state = json.loads(lines(cdrdao.output, "OLDSTATE")[0])
    assert state["tracks"] == [], state
    assert "DONE" in cdrdao.output
