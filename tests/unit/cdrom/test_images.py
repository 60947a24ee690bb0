"""ISO and CUE/BIN loading: the disc model, layouts, and errors with file and line."""

from __future__ import annotations

import struct
import wave
from pathlib import Path

import pytest

from devemu.cdrom.cue import load_cue, parse_cue
from devemu.cdrom.disc import RAW, USER_DATA, TrackMode
from devemu.cdrom.image import describe, load_image
from devemu.cdrom.iso import load_iso
from devemu.cdrom.msf import lba_to_msf, msf_to_lba, parse_msf
from devemu.cdrom.sector import mode1_sector
from devemu.errors import ImageError


def read(disc, lba: int, count: int, fmt=USER_DATA) -> bytes:  # type: ignore[no-untyped-def]
    buf = bytearray(count * 2352 + 4096)
    n = disc.read_sectors(lba, count, fmt, [memoryview(buf)])
    return bytes(buf[:n])


@pytest.mark.parametrize(
    ("lba", "msf"), [(0, (0, 2, 0)), (-150, (0, 0, 0)), (4350, (1, 0, 0)), (-1, (0, 1, 74))]
)
def test_msf_both_ways(lba: int, msf: tuple[int, int, int]) -> None:
    assert tuple(lba_to_msf(lba)) == msf
    assert msf_to_lba(*msf) == lba


def test_lead_in_msf() -> None:
    assert msf_to_lba(99, 59, 74) == -151
    assert tuple(lba_to_msf(-151)) == (99, 59, 74)
    assert parse_msf("01:02:03") == 4653
    with pytest.raises(ValueError, match="seconds"):
        parse_msf("00:60:00")


def test_iso_model(samples: dict[str, Path]) -> None:
    disc = load_iso(samples["data"])
    try:
        assert disc.iso is not None
        assert disc.iso.label == "DEVEMU_SAMPLE1"
        assert (disc.iso.joliet, disc.iso.rock_ridge, disc.iso.udf, disc.iso.el_torito) == (
            True,
            True,
            False,
            False,
        )
        size = samples["data"].stat().st_size
        assert disc.leadout == size // 2048
        assert disc.is_plain_data
        assert read(disc, 16, 1)[:6] == b"\x01CD001"
        raw = read(disc, 16, 1, RAW)
        assert raw == bytes(mode1_sector(16, samples["data"].read_bytes()[16 * 2048 : 17 * 2048]))
    finally:
        disc.close()


def test_iso_errors(tmp_path: Path) -> None:
    odd = tmp_path / "odd.iso"
    odd.write_bytes(bytes(3000))
    with pytest.raises(ImageError, match=r"odd.iso: offset 0xbb8: size 3000 is not a whole"):
        load_iso(odd)
    junk = tmp_path / "junk.iso"
    junk.write_bytes(bytes(40 * 2048))
    with pytest.raises(ImageError, match=r"junk.iso: offset 0x8000: not an ISO 9660 image"):
        load_iso(junk)


def test_mixed_mode_layout(samples: dict[str, Path]) -> None:
    disc = load_image(samples["mixed"])
    try:
        t1, t2, t3 = disc.tracks
        data_sectors = samples["data"].stat().st_size // 2048
        assert (t1.mode, t1.start, t1.end) == (TrackMode.MODE1_2352, 0, data_sectors)
        assert (t2.mode, t2.pregap, t2.start) == (TrackMode.AUDIO, data_sectors, data_sectors + 150)
        assert t2.isrc == "USDEV2600001" and t2.title == "A 440"
        assert t3.pregap == t2.start + 225 and t3.start == t3.pregap + 75
        assert t3.pre_emphasis and t3.control == 0x01
        assert disc.leadout == t3.start + 300
        assert disc.catalog == "0123456789012"
        assert t1.control == 0x04 and t2.control == 0
        # the generated pregap is silence; the file pregap is the file's bytes
        assert read(disc, t2.pregap, 1) == bytes(2352)
        bin_bytes = (samples["mixed"].parent / "mixed.bin").read_bytes()
        off = data_sectors * 2352
        assert read(disc, t2.start, 2) == bin_bytes[off : off + 2 * 2352]
        assert read(disc, 16, 1)[:6] == b"\x01CD001"
        assert read(disc, 16, 1, RAW) == bin_bytes[16 * 2352 : 17 * 2352]
        assert describe(disc)["sessions"][0]["tracks"][1]["pregap"] == 150
    finally:
        disc.close()


def test_multisession_layout(samples: dict[str, Path]) -> None:
    disc = load_image(samples["multisession"])
    try:
        s1, s2 = disc.sessions
        assert s1.leadout == 300
        first = s2.first_track
        assert first.pregap == 300 + 6750 + 4500
        assert first.start == first.pregap + 150
        assert disc.track_at(400) is None
        assert read(disc, first.start + 16, 1)[:6] == b"\x01CD001"
    finally:
        disc.close()


def _wav(path: Path, frames: int, *, rate: int = 44100, channels: int = 2) -> bytes:
    pcm = b"".join(struct.pack("<hh", i, -i) for i in range(frames * 588))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm[: frames * 588 * 2 * channels])
    return pcm


def test_wave_and_motorola_files(tmp_path: Path) -> None:
    pcm = _wav(tmp_path / "a.wav", 10)
    (tmp_path / "b.bin").write_bytes(bytes([1, 2]) * (2352 * 5 // 2))
    (tmp_path / "d.cue").write_text(
        'FILE "a.wav" WAVE\n  TRACK 01 AUDIO\n    INDEX 01 00:00:00\n'
        'FILE "b.bin" MOTOROLA\n  TRACK 02 AUDIO\n    PREGAP 00:00:10\n    INDEX 01 00:00:00\n'
        "    POSTGAP 00:00:05\n"
    )
    disc = load_cue(tmp_path / "d.cue")
    try:
        assert read(disc, 0, 10) == pcm
        t2 = disc.tracks[1]
        assert (t2.pregap, t2.start, t2.end) == (10, 20, 30)
        assert read(disc, 20, 1) == bytes([2, 1]) * 1176
        assert read(disc, 26, 1) == bytes(2352)
    finally:
        disc.close()


def test_wave_format_checked(tmp_path: Path) -> None:
    _wav(tmp_path / "mono.wav", 2, channels=1)
    (tmp_path / "m.cue").write_text('FILE "mono.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:00:00\n')
    with pytest.raises(
        ImageError, match=r"mono.wav: line 1 of .*m.cue, offset 12: WAVE audio must be 44100"
    ):
        load_cue(tmp_path / "m.cue")


BAD_SHEETS = [
    ("TRACK 01 AUDIO\n", 1, "TRACK before any FILE"),
    ('FILE "x.bin" BINARY\nTRACK 01 AUDIO\nINDEX 01 00:00:00\nFROB\n', 4, "unknown command 'FROB'"),
    ('FILE "x.bin" BINARY\nTRACK 01 AUDIO\nINDEX 01 00:61:00\n', 3, "not a valid time"),
    (
        'FILE "x.bin" BINARY\nTRACK 01 AUDIO\nINDEX 01 00:00:00\nTRACK 03 AUDIO\n',
        4,
        "track 3 follows track 1",
    ),
    ('FILE "x.bin" BINARY\nTRACK 01 MODE3/2352\n', 2, "unknown track mode"),
    (
        'FILE "x.bin" BINARY\nTRACK 01 AUDIO\nINDEX 02 00:00:00\n',
        3,
        "the first index of track 1 is 02",
    ),
    (
        'FILE "x.bin" BINARY\nTRACK 01 AUDIO\nTRACK 02 AUDIO\nINDEX 01 00:00:00\n',
        2,
        "track 1 has no INDEX 01",
    ),
    (
        'FILE "x.bin" BINARY\nTRACK 01 AUDIO\nINDEX 01 00:00:10\nINDEX 02 00:00:05\n',
        4,
        "is before INDEX 01",
    ),
    (
        'FILE "x.bin" BINARY\nTRACK 01 AUDIO\nINDEX 01 00:00:00\nPREGAP 00:02:00\n',
        4,
        "PREGAP after INDEX",
    ),
    ('FILE "x.bin" BINARY\nTRACK 01 AUDIO\nFLAGS DCP FOO\n', 3, "unknown flag 'FOO'"),
    ('FILE "x.bin" BINARY\nTRACK 01 AUDIO\nISRC 123\n', 3, "ISRC '123'"),
    ("CATALOG 12\n", 1, "CATALOG must be 13 digits"),
    ('FILE "missing.bin" BINARY\n', 1, "cannot open"),
    ('FILE "x.bin" AIFF\n', 1, "file type AIFF is not supported"),
    ('FILE "x.bin" BINARY\nTRACK 01 AUDIO\nINDEX 01 10:00:00\n', 3, "past the end"),
    (
        'REM SESSION 01\nFILE "x.bin" BINARY\nTRACK 01 AUDIO\nINDEX 01 00:00:00\nREM SESSION 03\n',
        5,
        "session 3 follows session 1",
    ),
    ('FILE "x.bin" BINARY\n', 1, "the sheet has no TRACK"),
]


@pytest.mark.parametrize(("text", "line", "reason"), BAD_SHEETS)
def test_broken_sheet_names_file_and_line(
    tmp_path: Path, text: str, line: int, reason: str
) -> None:
    (tmp_path / "x.bin").write_bytes(bytes(2352 * 20))
    sheet = tmp_path / "bad.cue"
    with pytest.raises(ImageError) as info:
        parse_cue(sheet, text)
    assert info.value.path == sheet
    assert info.value.where == f"line {line}"
    assert reason in info.value.reason
