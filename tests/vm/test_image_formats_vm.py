"""NRG, MDS/MDF, CloneCD and cdrdao TOC images in a drive under the real kernel.

The host builds one disc (an ISO 9660 data track from a folder tree and
an audio track of a tone) in every format with the project's own writers
(:mod:`devemu.testing.image_formats`). In the tier's guest a daemon of
the test's own serves one drive, the first image from its configuration
(``image = "disc-nrg.nrg"``), the others put in with ``devemu cdrom
insert``. For each: ``devemu image info --json`` and ``cd-info`` are
printed (the test checks they agree on every track's start, kind and the
lead-out), the data track is mounted and its files compared with the
tree, cdparanoia rips the audio track and its PCM is compared with the
tone (two-session Enhanced CDs in NRG and CloneCD: the audio session
ripped, the TOC of both sessions checked); for images with stored
sub-channel data (the CloneCD SUB, NRG and MDF with 2448-byte sectors)
``sg_raw`` sends READ CD for raw P-W and the answer must be the sector
and the stored sub-channel bytes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from devemu.cdrom.disc import TrackMode
from devemu.cdrom.iso_writer import make_iso
from devemu.cdrom.subchannel import interleave
from devemu.testing import image_formats as f
from devemu.vm import VmResult
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions
from tests.sample_images import load_make_samples
from tests.vm.guest_scripts import GuestScripts
from tests.vm.vm_helpers import lines

pytestmark = pytest.mark.vm

Writer = Callable[[f.DiscSpec, Path], f.Layout]
#: name -> (file, writer, has stored sub-channel); the disc is a data track and an audio track.
FORMATS: dict[str, tuple[str, Writer, bool]] = {
    "nrg": ("disc-nrg.nrg", lambda s, p: f.write_nrg(s, p, version=2, raw=True, sub=True), True),
    "nrg1": ("disc-nrg1.nrg", lambda s, p: f.write_nrg(s, p, version=1), False),
    "mds": ("disc-mds.mds", lambda s, p: f.write_mds(s, p, sub=True), True),
    "ccd": ("disc-ccd.ccd", f.write_ccd, True),
    "toc": ("disc-toc.toc", f.write_toc, False),
}
#: Two-session discs (an audio session, then a data session: an Enhanced CD).
MULTISESSION: dict[str, tuple[str, Writer, bool]] = {
    "nrgms": ("disc-ms.nrg", f.write_nrg, False),
    "ccdms": ("disc-ms.ccd", f.write_ccd, True),
}
ALL = {**FORMATS, **MULTISESSION}
AUDIO_SECTORS = 300
#: The audio sector READ CD reads (from track 2's index 1).
SUB_OFFSET = 10

CONFIG = f"""\
{GUEST_DAEMON_TABLE}
[[cdrom]]
name = "cd0"
image = "{FORMATS["nrg"][0]}"
serial = "VMFMT001"
"""

SCRIPT = (
    guest_functions(ready_timeout=45)
    + r"""
S="$DEVEMU_VM_SHARE"
serve_start "$S/cd.toml" /tmp/serve.log -v
pid=$serve_pid
for _ in $(seq 200); do
    SR=$(node_with_serial VMFMT001 /sys/block/sr*)
    [ -b "$SR" ] && break
    sleep 0.05
done
echo "DEVICE $SR"
mkdir -p /tmp/m
ready() { for _ in $(seq 100); do sg_turs "$SR" > /dev/null 2>&1 && return 0; sleep 0.1; done; }
# devemu image info --json of every image, by one Python (each start takes seconds here).
"$DEVEMU_VM_PYTHON" - @FORMATS@ <<'EOF'
import contextlib, io, os, sys
from devemu.cli import main
for fmt in sys.argv[1:]:
    share = os.environ["DEVEMU_VM_SHARE"]
    with open(f"{share}/{fmt}.name") as name:
        image = f"{share}/{name.read()}"
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        main(["image", "info", "--json", image])
    print(f"INFO_{fmt} " + out.getvalue().replace("\n", ""))
EOF
for fmt in @FORMATS@; do
    file=$(cat "$S/$fmt.name")
    if [ "$fmt" != nrg ]; then
        devemu cdrom insert cd0 "$S/$file" > /dev/null && echo "INSERT_$fmt ok"
    fi
    ready
    cd-info --no-header --no-device-info --no-cddb -C "$SR" 2>&1 | sed "s/^/CDINFO_$fmt /"
    ready
    if [ -f "$S/$fmt.mount" ] && mount -t iso9660 -o ro "$SR" /tmp/m; then
        diff -r /tmp/m "$S/tree" && echo "TREE_$fmt ok"
        umount /tmp/m
    fi
    rm -f /tmp/t2.wav
    rip=$(cat "$S/$fmt.rip")
    (cd /tmp && timeout 120 cdparanoia -q -d "$SR" "$rip" /tmp/t2.wav 2>&1) |
        sed "s/^/PARANOIA_$fmt /"
    tail -c +45 /tmp/t2.wav | cmp - "$S/audio.pcm" 2>&1 | sed "s/^/CMP_$fmt /"
    tail -c +45 /tmp/t2.wav | cmp -s - "$S/audio.pcm" && echo "PCM_$fmt ok"
    if [ -f "$S/$fmt.readcd" ]; then
        sg_raw -r 2448 -o /tmp/rc.bin "$SR" $(cat "$S/$fmt.cdb") 2>&1 | sed "s/^/SGRAW_$fmt /"
        cmp /tmp/rc.bin "$S/$fmt.readcd" 2>&1 | sed "s/^/CMPSUB_$fmt /"
        cmp -s /tmp/rc.bin "$S/$fmt.readcd" && echo "READCD_$fmt ok"
    fi
done
kill "$pid"; wait "$pid"
echo "DONE"
"""
)


@pytest.fixture(scope="module")
def built(guest_scripts: GuestScripts) -> tuple[VmResult, dict[str, f.Layout]]:
    share = guest_scripts.new_share()
    make_samples = load_make_samples()
    make_samples.write_tree(share / "tree", 1)
    make_iso(share / "tree", share / "data.iso", label="DEVEMU_FORMATS")
    pcm = make_samples.tone(440.0, AUDIO_SECTORS)
    (share / "audio.pcm").write_bytes(pcm)
    spec = f.DiscSpec(
        (
            (
                f.TrackSpec(TrackMode.MODE1_2048, (share / "data.iso").read_bytes()),
                f.TrackSpec(TrackMode.AUDIO, pcm),
            ),
        )
    )
    enhanced = f.DiscSpec(
        (
            (f.TrackSpec(TrackMode.AUDIO, pcm),),
            (f.TrackSpec(TrackMode.MODE1_2048, bytes(2048 * 300)),),
        )
    )
    layouts: dict[str, f.Layout] = {}
    for name, (file, write, sub) in ALL.items():
        layout = write(spec if name in FORMATS else enhanced, share / file)
        layouts[name] = layout
        (share / f"{name}.name").write_text(file)
        audio = next(t for t in layout.tracks if t.spec.mode.is_audio)
        (share / f"{name}.rip").write_text(str(audio.number))
        if name in FORMATS:
            (share / f"{name}.mount").write_text("")
        if sub:
            lba = audio.start + SUB_OFFSET
            cdb = [0xBE, 0x04, *lba.to_bytes(4, "big"), 0, 0, 1, 0x10, 0x01, 0]
            (share / f"{name}.cdb").write_text(" ".join(f"{b:02x}" for b in cdb))
            expected = layout.raw_sector(lba) + layout.subchannel(lba)
            if name == "ccd":  # what the SUB file holds, channel by channel, made interleaved
                sub_bytes = (
                    (share / file).with_suffix(".sub").read_bytes()[lba * 96 : lba * 96 + 96]
                )
                assert interleave(sub_bytes) == layout.subchannel(lba)
            (share / f"{name}.readcd").write_bytes(expected)
    (share / "cd.toml").write_text(CONFIG)
    script = SCRIPT.replace("@FORMATS@", " ".join(ALL))
    return guest_scripts.run(script, share=share, timeout=600), layouts


def _cd_info_tracks(output: str, fmt: str) -> list[tuple[int, int, str]]:
    found = []
    for line in lines(output, f"CDINFO_{fmt}"):
        m = re.match(r"\s*(\d+): \d\d:\d\d:\d\d\s+(\d+) (data|audio|leadout)", line)
        if m:
            found.append((int(m.group(1)), int(m.group(2)), m.group(3)))
    return found


@pytest.mark.parametrize("fmt", list(ALL))
def test_cd_info_agrees_with_image_info(
    built: tuple[VmResult, dict[str, f.Layout]], fmt: str
) -> None:
    result, layouts = built
    assert "DONE" in result.output, result.output
    if fmt != "nrg":
        assert f"INSERT_{fmt} ok" in result.output, result.output
    (text,) = lines(result.output, f"INFO_{fmt}")
    info = json.loads(text)
    assert info["kind"] == ALL[fmt][0].rsplit(".", 1)[1]
    assert [s["number"] for s in info["sessions"]] == sorted(
        {t.session for t in layouts[fmt].tracks}
    )
    from_info = [
        (t["number"], t["start"], "audio" if t["mode"] == "AUDIO" else "data")
        for s in info["sessions"]
        for t in s["tracks"]
    ] + [(170, info["sectors"], "leadout")]
    layout = layouts[fmt]
    assert from_info[:-1] == [
        (t.number, t.start, "audio" if t.spec.mode.is_audio else "data") for t in layout.tracks
    ]
    assert _cd_info_tracks(result.output, fmt) == from_info, result.output


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_data_track_mounts_with_its_files(
    built: tuple[VmResult, dict[str, f.Layout]], fmt: str
) -> None:
    result, _ = built
    assert f"TREE_{fmt} ok" in result.output, result.output


@pytest.mark.parametrize("fmt", list(ALL))
def test_cdparanoia_rips_the_pcm(built: tuple[VmResult, dict[str, f.Layout]], fmt: str) -> None:
    result, _ = built
    assert f"PCM_{fmt} ok" in result.output, result.output


@pytest.mark.parametrize("fmt", [name for name, (_, _, sub) in ALL.items() if sub])
def test_read_cd_returns_the_stored_subchannel(
    built: tuple[VmResult, dict[str, f.Layout]], fmt: str
) -> None:
    result, _ = built
    assert f"READCD_{fmt} ok" in result.output, result.output
