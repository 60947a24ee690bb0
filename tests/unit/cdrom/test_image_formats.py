"""NRG, MDS/MDF, CloneCD and cdrdao TOC images: written by the project's writers, read back.

Every variant of every format is built from one disc description
(:mod:`devemu.testing.image_formats`) and must give the same layout and
the same bytes in every sector; stored sub-channel data comes back from
READ CD unchanged; a damaged file or a hostile file name is one
ImageError naming the file and the place.
"""

from __future__ import annotations

import json
import math
import os
import re
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devemu.cdrom.device import CdromDevice
from devemu.cdrom.disc import RAW as RAW_FORMAT
from devemu.cdrom.disc import Disc, SectorFormat, TrackMode
from devemu.cdrom.image import describe, info_lines, load_image
from devemu.cdrom.profiles import Profile, profile_for
from devemu.cdrom.sector import mode1_sector
from devemu.cdrom.subchannel import SubchannelKind, deinterleave, interleave, q_of_raw
from devemu.cli import main
from devemu.errors import ImageError
from devemu.testing import image_formats as f
from tests.unit.cdrom.test_drive import loaded

RAW = 2352


def tone(freq: float, sectors: int) -> bytes:
    out = bytearray()
    pack = struct.Struct("<hh").pack
    for i in range(sectors * 588):
        v = int(9000 * math.sin(2 * math.pi * freq * i / 44100))
        out += pack(v, -v // 2)
    return bytes(out)


DATA = bytes((i * 31 + i // 2048) & 0xFF for i in range(2048 * 40))
MIXED = f.DiscSpec(
    (
        (
            f.TrackSpec(TrackMode.MODE1_2048, DATA),
            f.TrackSpec(TrackMode.AUDIO, tone(440, 30)),
            f.TrackSpec(TrackMode.AUDIO, tone(880, 20), pregap=75, isrc="USDEV2600001"),
        ),
    ),
    catalog="1234567890123",
)
ENHANCED = f.DiscSpec(
    (
        (f.TrackSpec(TrackMode.AUDIO, tone(440, 30)), f.TrackSpec(TrackMode.AUDIO, tone(660, 25))),
        (f.TrackSpec(TrackMode.MODE1_2048, DATA),),
    )
)

Writer = Callable[[f.DiscSpec, Path], f.Layout]
WRITERS: dict[str, tuple[str, Writer, bool]] = {
    "nrg-v1": ("nrg", lambda s, p: f.write_nrg(s, p, version=1), False),
    "nrg-v2": ("nrg", lambda s, p: f.write_nrg(s, p, version=2), False),
    "nrg-v1-raw": ("nrg", lambda s, p: f.write_nrg(s, p, version=1, raw=True), False),
    "nrg-v2-sub": ("nrg", lambda s, p: f.write_nrg(s, p, raw=True, sub=True), True),
    "nrg-v1-tao": ("nrg", lambda s, p: f.write_nrg(s, p, version=1, tao=True), False),
    "nrg-v2-tao": ("nrg", lambda s, p: f.write_nrg(s, p, tao=True), False),
    "mds": ("mds", f.write_mds, False),
    "mds-sub": ("mds", lambda s, p: f.write_mds(s, p, sub=True), True),
    "ccd": ("ccd", lambda s, p: f.write_ccd(s, p, sub=False), False),
    "ccd-sub": ("ccd", f.write_ccd, True),
    "toc": ("toc", f.write_toc, False),
}


def build(tmp_path: Path, name: str, spec: f.DiscSpec) -> tuple[Path, f.Layout]:
    ext, write, _ = WRITERS[name]
    path = tmp_path / f"disc.{ext}"
    return path, write(spec, path)


def read_raw(disc: Disc, lba: int) -> bytes:
    out = bytearray(RAW)
    audio = disc.track_at(lba)
    assert audio is not None
    fmt = SectorFormat() if audio.mode.is_audio else RAW_FORMAT
    disc.read_sectors(lba, 1, fmt, [memoryview(out)])
    return bytes(out)


#: Every writer with the one-session disc, and with two sessions where the format has them.
CASES = [(name, "mixed") for name in WRITERS] + [(n, "enhanced") for n in WRITERS if n != "toc"]


@pytest.mark.parametrize(("name", "spec_name"), CASES)
def test_every_sector_reads_back(tmp_path: Path, name: str, spec_name: str) -> None:
    spec = MIXED if spec_name == "mixed" else ENHANCED
    path, layout = build(tmp_path, name, spec)
    disc = load_image(path)
    try:
        assert disc.kind == WRITERS[name][0]
        assert [
            (t.number, t.session, t.start, t.end, t.pregap, t.mode.is_audio) for t in disc.tracks
        ] == [
            (t.number, t.session, t.start, t.end, max(t.pregap, 0), t.spec.mode.is_audio)
            for t in layout.tracks
        ]
        assert [s.leadout for s in disc.sessions] == list(layout.leadouts)
        stored_sub = 0
        for t in layout.tracks:
            for lba in range(max(t.pregap, 0), t.end):
                assert read_raw(disc, lba) == layout.raw_sector(lba), lba
                ext = disc.extent_at(lba)
                assert ext is not None
                if ext.subchannel is not None:
                    stored_sub += 1
                    assert disc.subchannel(lba, SubchannelKind.RAW_PW) == layout.subchannel(lba)
        assert (stored_sub > 0) == WRITERS[name][2]
        if spec.catalog and not name.startswith("mds") and not name.endswith("tao"):
            assert disc.catalog == spec.catalog
        isrc = {t.number: t.isrc for t in disc.tracks if t.isrc}
        if not name.startswith("mds") and not name.endswith("tao"):
            assert isrc == {t.number: t.spec.isrc for t in layout.tracks if t.spec.isrc}
        assert profile_for(disc) is Profile.CD_ROM
    finally:
        disc.close()


def test_interleave_round_trip() -> None:
    linear = bytes(range(96))
    assert deinterleave(interleave(linear)) == linear
    pw = bytes((i * 37) & 0xFF for i in range(96))
    assert interleave(deinterleave(pw)) == pw
    q = bytes(range(1, 13))
    assert q_of_raw(interleave(bytes(12) + q + bytes(72))) == q
    assert interleave(bytes([0xFF] * 12) + bytes(84)) == bytes([0x80] * 96)


@pytest.mark.parametrize("name", ["ccd-sub", "mds-sub", "nrg-v2-sub"])
def test_read_cd_returns_stored_subchannel(drive: Any, tmp_path: Path, name: str) -> None:
    """READ CD (MMC-6 6.20) with raw P-W (001b), formatted Q (010b) and R-W (100b)."""
    path, layout = build(tmp_path, name, MIXED)
    loaded(drive, path)
    t2 = layout.tracks[1]
    lba = t2.start + 3
    cdb = [0xBE, 0x04, 0, 0, lba >> 8, lba & 0xFF, 0, 0, 2, 0x10, 0x01, 0]
    data = drive.data(cdb)
    assert len(data) == 2 * (RAW + 96)
    for i in range(2):
        sector = data[i * (RAW + 96) : (i + 1) * (RAW + 96)]
        assert sector[:RAW] == layout.raw_sector(lba + i)
        assert sector[RAW:] == layout.subchannel(lba + i)
    q = drive.data([0xBE, 0x04, 0, 0, lba >> 8, lba & 0xFF, 0, 0, 1, 0x00, 0x02, 0])
    assert q == q_of_raw(layout.subchannel(lba)) + bytes(4)
    rw = drive.data([0xBE, 0x04, 0, 0, lba >> 8, lba & 0xFF, 0, 0, 1, 0x00, 0x04, 0])
    assert rw == bytes(b & 0x3F for b in layout.subchannel(lba))
    if name == "ccd-sub":
        sub = path.with_suffix(".sub").read_bytes()
        at = lba * 96  # session 1's IMG (and SUB) start at LBA 0
        assert interleave(sub[at : at + 96]) == data[RAW : RAW + 96]


def test_image_info_json_and_text(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path, layout = build(tmp_path, "ccd-sub", ENHANCED)
    assert main(["image", "info", "--json", str(path)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["kind"] == "ccd"
    assert [f["type"] for f in info["files"]] == ["IMG", "SUB"]
    assert [s["leadout"] for s in info["sessions"]] == list(layout.leadouts)
    starts = [t["start"] for s in info["sessions"] for t in s["tracks"]]
    assert starts == [t.start for t in layout.tracks]
    assert main(["image", "info", str(path)]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"{path}: ccd, {layout.leadouts[-1]} sectors")
    assert "session 2 (lead-out at" in text


# --- broken files -----------------------------------------------------------------------------


def _error(path: Path) -> ImageError:
    with pytest.raises(ImageError) as caught:
        load_image(path).close()
    assert "\n" not in str(caught.value)
    return caught.value


def test_nrg_errors(tmp_path: Path) -> None:
    path, _ = build(tmp_path, "nrg-v2", MIXED)
    raw = path.read_bytes()
    path.write_bytes(raw[:-12] + b"XXXX" + raw[-8:])
    err = _error(path)
    assert err.where == f"offset 0x{len(raw) - 8:x}" and "footer" in err.reason
    first = struct.unpack(">Q", raw[-8:])[0]
    broken = bytearray(raw)
    broken[first + 4 : first + 8] = struct.pack(">I", 1 << 30)  # the CUEX length
    path.write_bytes(bytes(broken))
    err = _error(path)
    assert err.where == f"offset 0x{first:x}" and "runs past the footer" in err.reason
    path.write_bytes(raw[: first - 2352] + raw[first:])  # a sector short: chain moved
    assert "no NERO" in _error(path).reason or _error(path).where is not None


def test_nrg_file_shorter_than_tracks(tmp_path: Path) -> None:
    path, _ = build(tmp_path, "nrg-v1", MIXED)
    raw = bytearray(path.read_bytes())
    first = struct.unpack(">I", raw[-4:])[0]
    # Move the chunk chain 4096 bytes earlier: the last track no longer fits.
    chain = raw[first:-8]
    new = raw[: first - 4096] + chain + b"NERO" + struct.pack(">I", first - 4096)
    path.write_bytes(bytes(new))
    err = _error(path)
    assert err.where is not None and err.where.startswith("offset 0x")
    assert "track 3" in err.reason


def test_mds_errors(tmp_path: Path) -> None:
    path, _ = build(tmp_path, "mds", MIXED)
    raw = path.read_bytes()
    path.write_bytes(b"MEDIA DESCRIPTOX" + raw[16:])
    assert _error(path).where == "offset 0x0"
    path.write_bytes(raw[:16] + b"\x02" + raw[17:])
    assert "version 2" in _error(path).reason
    path.write_bytes(raw[:18] + b"\x10" + raw[19:])
    assert "not a CD" in _error(path).reason
    path.write_bytes(raw[:200])
    assert "runs past the end" in _error(path).reason
    path.write_bytes(raw)
    mdf = path.with_suffix(".mdf")
    mdf.write_bytes(mdf.read_bytes()[:-1])
    err = _error(path)
    assert "track 3" in err.reason and "need" in err.reason


def test_ccd_errors(tmp_path: Path) -> None:
    path, _ = build(tmp_path, "ccd-sub", MIXED)
    text = path.read_text()
    path.write_text(text.replace("[Disc]", "[Disk]"))
    assert _error(path).reason == "no [Disc] section"
    path.write_text(text.replace("MODE=0", "MODE=7", 1))
    err = _error(path)
    assert err.where is not None and err.where.startswith("line ") and "MODE=7" in err.reason
    path.write_text(text.replace("TocEntries=", "TocEntries=" + "9" * 5000, 1))
    assert "too large a number" in _error(path).reason
    path.write_text(text.replace("DataTracksScrambled=0", "DataTracksScrambled=1"))
    assert "scrambled" in _error(path).reason
    path.write_text(text)
    path.with_suffix(".img").unlink()
    assert "no disc.img" in _error(path).reason


def test_toc_errors(tmp_path: Path) -> None:
    path, _ = build(tmp_path, "toc", MIXED)
    text = path.read_text()
    for old, new, reason in (
        ("TRACK MODE1", "TRACK MODE2_FORM1", "is not supported"),
        ("TRACK AUDIO", "TRACK AUDIO RW_RAW", "sub-channel mode RW_RAW is not supported"),
        ("PREGAP 00:01:00", "PREGAP 00:01:99", "not a valid time"),
        ("CD_ROM", "CD_ROM\nFROB", "FROB before any TRACK"),
        ("TRACK AUDIO", "TRACK AUDIO\nFROB", "unknown statement 'FROB'"),
        ('CATALOG "1234567890123"', 'CATALOG "12"', "not 13 digits"),
        ('"disc_data1.bin" 00:00:40', '"disc_data1.bin" ' + "9" * 5000, "too large"),
        ('"disc_data1.bin" 00:00:40', '"disc_data1.bin" 81921', "not a whole number"),
        ("00:00:30 00:00:20", "00:00:30 " + "5" * 5000, "too large"),
    ):
        assert old in text, old
        path.write_text(text.replace(old, new, 1))
        err = _error(path)
        assert reason in err.reason and err.where is not None and err.where.startswith("line ")


# --- hostile names ----------------------------------------------------------------------------


def test_mds_file_name_outside_the_folder(tmp_path: Path) -> None:
    inner = tmp_path / "in"
    inner.mkdir()
    path = inner / "disc.mds"
    f.write_mds(MIXED, path, mdf_name="../outside.mdf")
    assert (tmp_path / "outside.mdf").exists()
    err = _error(path)
    assert "outside the allowed folders" in err.reason
    assert err.where is not None and err.where.startswith("offset 0x")
    # The same image is served when its folder's parent is an allowed root.
    load_image(path, [tmp_path]).close()


def test_toc_file_names_outside_the_folder(tmp_path: Path) -> None:
    inner = tmp_path / "in"
    inner.mkdir()
    path, _ = build(inner, "toc", MIXED)
    text = path.read_text()
    for name in ("../secret.bin", "/etc/passwd", "disc_data1.bin\x01"):
        (tmp_path / "secret.bin").write_bytes(bytes(2048 * 40))
        path.write_text(text.replace('"disc_data1.bin"', f'"{name}"', 1))
        err = _error(path)
        assert err.where is not None and err.where.startswith("line ")
        assert "outside the allowed folders" in err.reason or "control character" in err.reason


def test_ccd_image_symlinked_out_is_refused(tmp_path: Path) -> None:
    inner = tmp_path / "in"
    inner.mkdir()
    path, _ = build(inner, "ccd", MIXED)
    img = path.with_suffix(".img")
    img.rename(tmp_path / "real.img")
    os.symlink(tmp_path / "real.img", img)
    assert "outside the allowed folders" in _error(path).reason


def test_info_lines_name_the_kind(tmp_path: Path) -> None:
    for name in ("nrg-v1", "mds", "toc"):
        path, _ = build(tmp_path, name, MIXED)
        disc = load_image(path)
        try:
            lines = info_lines(describe(disc))
        finally:
            disc.close()
        assert lines[0].startswith(f"{path}: {WRITERS[name][0]},")
        assert any("track  3 AUDIO" in line for line in lines)


# --- served: configuration and live insert ---------------------------------------------------


def test_config_image_and_live_insert(tmp_path: Path) -> None:
    from devemu.cdrom.config import from_config  # noqa: PLC0415

    build(tmp_path, "nrg-v2", MIXED)
    mds_path, _ = build(tmp_path, "mds-sub", ENHANCED)
    (served,) = from_config(
        {"name": "cd0", "image": "disc.nrg"},
        path=tmp_path / "devemu.toml",
        key="cdrom[0]",
        base_dir=tmp_path,
        state_dir=tmp_path,
    )
    try:
        medium = served.status()["medium"]
        assert medium is not None and "disc.nrg" in json.dumps(medium)
        assert served.control is not None
        status = served.control["insert"]({"image": str(mds_path)})
        assert "disc.mds" in json.dumps(status["medium"])
        device = served.device
        assert isinstance(device, CdromDevice)
        disc = device.ready_disc()
        assert disc.kind == "mds" and len(disc.sessions) == 2
        junk = tmp_path / "junk.nrg"
        junk.write_bytes(bytes(4096))
        with pytest.raises(ImageError, match="no NERO or NER5 footer"):
            served.control["insert"]({"image": str(junk)})
        assert device.ready_disc().kind == "mds"  # the disc in the drive stays
    finally:
        served.close()


def test_toc_lengths_in_bytes_and_samples(tmp_path: Path) -> None:
    """A DATAFILE length in bytes and a FILE start and length in samples lay out as MSF does."""
    path, layout = build(tmp_path, "toc", MIXED)
    text = path.read_text()
    other = text.replace('"disc_data1.bin" 00:00:40', '"disc_data1.bin" 81920')
    other = other.replace("00:00:30 00:00:20", f"{30 * 588} {20 * 588}")
    assert other.count("81920") == 1 and other.count(str(20 * 588)) == 1
    path.write_text(other)
    disc = load_image(path)
    try:
        assert [(t.start, t.end) for t in disc.tracks] == [(t.start, t.end) for t in layout.tracks]
        for lba in (0, 39, layout.tracks[2].start, layout.tracks[2].end - 1):
            assert read_raw(disc, lba) == layout.raw_sector(lba)
    finally:
        disc.close()


def test_cdrdao_reads_our_toc_files_as_we_do(tmp_path: Path) -> None:
    """cdrdao's own parser (``cdrdao show-toc``) gives every track the start and end we do."""
    import subprocess  # noqa: PLC0415

    path, _ = build(tmp_path, "toc", MIXED)
    shown = subprocess.run(
        ["cdrdao", "show-toc", path.name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    theirs = [
        (int(a), int(b))
        for a, b in re.findall(r"START\s+\S+\(\s*(\d+)\)\s+END\s+\S+\(\s*(\d+)\)", shown)
    ]
    disc = load_image(path)
    try:
        assert theirs == [(t.start, t.end) for t in disc.tracks], shown
    finally:
        disc.close()


#: A TOC file with the statements the writer does not use: ZERO, START, SILENCE, SWAP,
#: #offset, a WAVE file, INDEX, sample counts and the flags.
HANDWRITTEN_TOC = """\
CD_ROM
TRACK MODE1
ZERO 00:00:05
START
DATAFILE "d.bin" 00:00:10
TRACK AUDIO
COPY
PRE_EMPHASIS
FOUR_CHANNEL_AUDIO
SILENCE 00:00:03
START 00:00:03
FILE "a.raw" SWAP #16 0 00:00:10
FILE "a.wav" 00:00:10 00:00:10
INDEX 00:00:04
TRACK AUDIO
NO COPY
SILENCE 2940
FILE "a.wav" 0
"""


def _handwritten_toc(folder: Path) -> tuple[Path, bytes]:
    pcm = bytes((i * 7) & 0xFF for i in range(2352 * 20))
    (folder / "a.raw").write_bytes(b"HEAD" * 4 + pcm)
    fmt = struct.pack("<HHIIHH", 1, 2, 44100, 176400, 4, 16)
    body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", len(pcm)) + pcm
    (folder / "a.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    (folder / "d.bin").write_bytes(DATA[: 2048 * 10])
    path = folder / "t.toc"
    path.write_text(HANDWRITTEN_TOC)
    return path, pcm


def _cdrdao_layout(path: Path) -> list[tuple[str, int]]:
    """What ``cdrdao show-toc`` says: each START, INDEX and END with its LBA."""
    import subprocess  # noqa: PLC0415

    shown = subprocess.run(
        ["cdrdao", "show-toc", path.name],
        cwd=path.parent,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    return [
        (" ".join(kind.split()), int(lba))
        for kind, lba in re.findall(
            r"^\s+(START|INDEX\s+\d+|END)\*?\s+\S+\(\s*(\d+)\)", shown, re.M
        )
    ]


def test_handwritten_toc_as_cdrdao_lays_it_out(tmp_path: Path) -> None:
    path, pcm = _handwritten_toc(tmp_path)
    disc = load_image(path)
    try:
        ours: list[tuple[str, int]] = []
        for t in disc.tracks:
            ours.append(("START", t.start))
            ours += [(f"INDEX {n}", lba) for n, lba in enumerate(t.indexes[1:], 2)]
            ours.append(("END", t.end))
        assert ours == _cdrdao_layout(path)
        t1, t2, t3 = disc.tracks
        assert (t1.pregap, t1.start, t2.pregap, t2.start, t3.pregap, t3.start) == (
            0,
            5,
            15,
            18,
            38,
            38,
        )
        assert t2.pre_emphasis and t2.four_channel and t2.dcp and not t3.dcp
        assert read_raw(disc, 0) == bytes(mode1_sector(0, bytes(2048)))
        assert read_raw(disc, 5) == bytes(mode1_sector(5, DATA[:2048]))
        assert read_raw(disc, 15) == bytes(2352)  # SILENCE
        assert read_raw(disc, 18) == pcm[:2352]  # SWAP: the raw file's order as it is
        assert read_raw(disc, 28) == pcm[2352 * 10 : 2352 * 11]  # the WAVE file from 10 s
        assert read_raw(disc, 38) == bytes(2352)
        assert read_raw(disc, 43) == pcm[:2352]
        assert disc.leadout == 63
    finally:
        disc.close()


def test_toc_raw_audio_is_big_endian_without_swap(tmp_path: Path) -> None:
    path, pcm = _handwritten_toc(tmp_path)
    path.write_text(HANDWRITTEN_TOC.replace(" SWAP #16", " #16"))
    disc = load_image(path)
    try:
        swapped = bytearray(2352)
        swapped[0::2], swapped[1::2] = pcm[1:2352:2], pcm[0:2352:2]
        assert read_raw(disc, 18) == bytes(swapped)
    finally:
        disc.close()


def test_nrg_cd_text(tmp_path: Path, samples: dict[str, Path]) -> None:
    """CD-TEXT packs of a CDTX chunk are the disc's, as a CUE sheet's are."""
    from devemu.cdrom.cdtext import cdtext_packs, read_cdtext  # noqa: PLC0415

    sheet = load_image(samples["mixed"])
    try:
        packs = cdtext_packs(sheet)
    finally:
        sheet.close()
    assert packs
    path = tmp_path / "disc.nrg"
    f.write_nrg(MIXED, path, cdtext=packs)
    disc = load_image(path)
    try:
        assert disc.cdtext_packs == packs
        info = describe(disc)
        assert info["cdtext"] == {str(n): items for n, items in read_cdtext(packs).items()}
        assert "devemu mixed mode" in json.dumps(info["cdtext"])
    finally:
        disc.close()
    raw = path.read_bytes()
    at = raw.index(b"CDTX")
    path.write_bytes(raw[: at + 4] + struct.pack(">I", len(packs) - 1) + raw[at + 8 :])
    err = _error(path)
    assert err.where is not None and err.where.startswith("offset 0x")


def test_mds_wide_file_name(tmp_path: Path) -> None:
    """A filename block in UTF-16 (its flag set) names an MDF with any characters."""
    path = tmp_path / "disc.mds"
    layout = f.write_mds(MIXED, path, mdf_name="disque d été ☃.mdf", wide=True)
    assert (tmp_path / "disque d été ☃.mdf").exists()
    disc = load_image(path)
    try:
        assert [str(e.path) for e in disc.extents if e.path] == [
            str(tmp_path / "disque d été ☃.mdf")
        ] * len(layout.tracks)
        assert read_raw(disc, layout.tracks[2].start) == layout.raw_sector(layout.tracks[2].start)
    finally:
        disc.close()
