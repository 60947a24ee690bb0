"""Disc images are contained and checked at load: every failure is one ImageError line.

A CUE sheet names files inside its own folder (or the allowed roots) only;
short BINs and WAVEs, cut ISOs, folders and damaged directory records are
refused when the image loads, and the ``devemu image`` commands answer them
with one line and exit status 1 (a runtime error) or 2 (a usage error).
"""

from __future__ import annotations

import os
import shutil
import struct
from pathlib import Path

import pytest

from devemu.cdrom.cue import load_cue
from devemu.cdrom.image import load_image
from devemu.cdrom.iso import load_iso
from devemu.cdrom.wave import wave_data
from devemu.cli import main
from devemu.errors import ImageError

ONE_TRACK = 'FILE "{name}" BINARY\nTRACK 01 MODE1/2048\nINDEX 01 00:00:00\n'


def _sheet(folder: Path, name: str, text: str | None = None) -> Path:
    sheet = folder / "disc.cue"
    sheet.write_bytes((text or ONE_TRACK.format(name=name)).encode("utf-8", "surrogateescape"))
    return sheet


def _refused(sheet: Path, line: int, reason: str, **kwargs: object) -> ImageError:
    with pytest.raises(ImageError) as info:
        load_cue(sheet, **kwargs)  # type: ignore[arg-type]
    assert info.value.path == sheet
    assert info.value.where == f"line {line}"
    assert reason in info.value.reason
    assert "\n" not in str(info.value)
    return info.value


@pytest.mark.parametrize(
    "name", ["/etc/passwd", "../../../../etc/passwd", "../outside.bin", "sub/../../outside.bin"]
)
def test_cue_file_outside_the_sheet_folder_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "outside.bin").write_bytes(bytes(2048 * 4))
    folder = tmp_path / "disc"
    (folder / "sub").mkdir(parents=True)
    _refused(_sheet(folder, name), 1, "is outside the allowed folders")


def test_cue_symlink_pointing_out_is_refused(tmp_path: Path) -> None:
    (tmp_path / "secret.bin").write_bytes(bytes(2048 * 4))
    folder = tmp_path / "disc"
    folder.mkdir()
    (folder / "track.bin").symlink_to(tmp_path / "secret.bin")
    _refused(_sheet(folder, "track.bin"), 1, "is outside the allowed folders")


def test_cue_symlink_inside_and_allowed_roots_load(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "data.bin").write_bytes(bytes(2048 * 4))
    folder = tmp_path / "disc"
    folder.mkdir()
    (folder / "real.bin").write_bytes(bytes(2048 * 3))
    (folder / "link.bin").symlink_to("real.bin")
    disc = load_cue(_sheet(folder, "link.bin"))
    try:
        assert disc.leadout == 3
        assert disc.extents[0].path == folder / "real.bin"
    finally:
        disc.close()
    sheet = _sheet(folder, str(shared / "data.bin"))
    _refused(sheet, 1, "outside the allowed folders")
    disc = load_cue(sheet, allowed_roots=[folder, shared])
    try:
        assert disc.leadout == 4
    finally:
        disc.close()


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("", "empty file name"),
        ("a\x00b.bin", "control character '\\x00'"),
        ("a\nb.bin", "control character"),
        (".", "is a folder, not a file"),
        ("sub", "is a folder, not a file"),
        ("missing.bin", "cannot open"),
    ],
)
def test_cue_bad_file_names_are_refused(tmp_path: Path, name: str, reason: str) -> None:
    (tmp_path / "sub").mkdir()
    text = f'FILE "{name}" BINARY\nTRACK 01 MODE1/2048\nINDEX 01 00:00:00\n'
    if "\n" in name:
        text = 'FILE "a\x01b.bin" BINARY\nTRACK 01 MODE1/2048\nINDEX 01 00:00:00\n'
    _refused(_sheet(tmp_path, name, text), 1, reason)


def test_cue_device_node_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.bin")
    _refused(_sheet(tmp_path, "pipe.bin"), 1, "is not a regular file")


@pytest.mark.parametrize(
    ("size", "mode", "short"),
    [
        (1000, "MODE1/2048", 1048),
        (0, "MODE1/2048", None),
        (2048 * 3 + 1, "MODE1/2048", 2047),
        (2352 * 2 - 4, "AUDIO", 4),
        (2352 - 1, "MODE2/2352", 1),
    ],
)
def test_bin_shorter_than_its_track_is_refused(
    tmp_path: Path, size: int, mode: str, short: int | None
) -> None:
    (tmp_path / "t.bin").write_bytes(bytes(size))
    text = f'FILE "t.bin" BINARY\nTRACK 01 {mode}\nINDEX 01 00:00:00\n'
    reason = f"ends {short} bytes short" if short is not None else "has no sectors"
    _refused(_sheet(tmp_path, "t.bin", text), 2, reason)


def test_bin_of_two_tracks_short_in_the_second(tmp_path: Path) -> None:
    (tmp_path / "t.bin").write_bytes(bytes(2352 * 10 + 100))
    text = (
        'FILE "t.bin" BINARY\nTRACK 01 AUDIO\nINDEX 01 00:00:00\n'
        "TRACK 02 AUDIO\nINDEX 01 00:00:05\n"
    )
    _refused(_sheet(tmp_path, "t.bin", text), 4, "track 2's last 2352-byte sector")


def _wave(path: Path, claimed: int, held: int, *, fmt: bytes | None = None) -> None:
    fmt = fmt or struct.pack("<HHIIHH", 1, 2, 44100, 44100 * 4, 4, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
    body += b"data" + struct.pack("<I", claimed) + bytes(held)
    path.write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)


def test_wave_shorter_than_its_header_claims_is_refused(tmp_path: Path) -> None:
    _wave(tmp_path / "a.wav", claimed=2352 * 10, held=2352 * 2)
    text = 'FILE "a.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:00:00\n'
    with pytest.raises(ImageError) as info:
        load_cue(_sheet(tmp_path, "a.wav", text))
    assert info.value.path == tmp_path / "a.wav"
    assert info.value.where == f"line 1 of {tmp_path / 'disc.cue'}, offset 36"
    assert info.value.reason == (
        "WAVE data chunk claims 23520 bytes but the file holds 4704 after its header"
    )


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"", "shorter than a RIFF header"),
        (b"RIFX\0\0\0\0WAVE", "no RIFF/WAVE header"),
        (b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0\x01\0\x02\0", "cut short by the end of the file"),
        (b"RIFF\x24\0\0\0WAVEfmt \x04\0\0\0\x01\0\x02\0", "fmt chunk of 4 bytes is too short"),
        (b"RIFF\x24\0\0\0WAVEdata\x04\0\0\0\0\0\0\0", "data chunk before its fmt chunk"),
        (b"RIFF\x24\0\0\0WAVEjunk\xff\xff\xff\x7f", "has no data chunk"),
    ],
)
def test_malformed_wave_is_an_image_error(tmp_path: Path, raw: bytes, reason: str) -> None:
    path = tmp_path / "x.wav"
    path.write_bytes(raw)
    with pytest.raises(ImageError, match=reason):
        wave_data(path, "line 1 of s.cue")


def test_wave_format_tags(tmp_path: Path) -> None:
    float_fmt = struct.pack("<HHIIHH", 3, 2, 44100, 44100 * 8, 8, 32)
    _wave(tmp_path / "f.wav", claimed=2352, held=2352, fmt=float_fmt)
    with pytest.raises(ImageError, match="format tag 0x0003"):
        wave_data(tmp_path / "f.wav", "line 1")
    guid = bytes.fromhex("0100000000001000800000aa00389b71")
    ext = struct.pack("<HHIIHHHHI", 0xFFFE, 2, 44100, 44100 * 4, 4, 16, 22, 16, 3) + guid
    _wave(tmp_path / "e.wav", claimed=2352 * 2 + 1, held=2352 * 2 + 1, fmt=ext)
    data = wave_data(tmp_path / "e.wav", "line 1")
    assert (data.offset, data.length) == (12 + 8 + 40 + 8, 2352 * 2)


def test_iso_cut_at_a_sector_boundary_is_refused(samples: dict[str, Path], tmp_path: Path) -> None:
    cut = tmp_path / "cut.iso"
    shutil.copyfile(samples["data"], cut)
    whole = cut.stat().st_size
    os.truncate(cut, whole - 4 * 2048)
    with pytest.raises(ImageError) as info:
        load_iso(cut)
    assert info.value.where == "offset 0x8000"
    assert str(whole) in info.value.reason and str(whole - 4 * 2048) in info.value.reason


def _corrupt_directory_record(iso: Path) -> None:
    """Overwrite the root directory's records with values that trip pycdlib."""
    raw = bytearray(iso.read_bytes())
    root_lba = struct.unpack_from("<I", raw, 16 * 2048 + 156 + 2)[0]
    raw[root_lba * 2048 : root_lba * 2048 + 34] = bytes([34, 0]) + b"\xff" * 32
    iso.write_bytes(bytes(raw))


@pytest.mark.parametrize("damage", ["records", "pvd_type", "root_length", "random"])
def test_iso_with_damaged_structures_is_an_image_error(
    samples: dict[str, Path], tmp_path: Path, damage: str
) -> None:
    iso = tmp_path / "bad.iso"
    shutil.copyfile(samples["data"], iso)
    raw = bytearray(iso.read_bytes())
    if damage == "records":
        _corrupt_directory_record(iso)
        raw = bytearray(iso.read_bytes())
    elif damage == "pvd_type":
        raw[16 * 2048] = 7
    elif damage == "root_length":
        raw[16 * 2048 + 156 : 16 * 2048 + 156 + 34] = b"\x22" + b"\xee" * 33
    else:
        raw[16 * 2048 :] = os.urandom(len(raw) - 16 * 2048)
    iso.write_bytes(bytes(raw))
    with pytest.raises(ImageError) as info:
        load_iso(iso)
    assert info.value.path == iso and "\n" not in str(info.value)


@pytest.mark.parametrize("suffix", [".iso", ".cue"])
def test_a_folder_is_not_an_image(tmp_path: Path, suffix: str) -> None:
    folder = tmp_path / f"disc{suffix}"
    folder.mkdir()
    with pytest.raises(ImageError, match="is a folder, not"):
        load_image(folder)


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    return code, err


def test_image_commands_answer_user_errors_in_one_line(
    tmp_path: Path, samples: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    (tmp_path / "x.cue").mkdir()
    nul = tmp_path / "nul.cue"
    nul.write_bytes(b'FILE "a\x00b" BINARY\nTRACK 01 MODE1/2048\nINDEX 01 00:00:00\n')
    bad_wave = tmp_path / "w.cue"
    fmt = struct.pack("<HHIIHH", 1, 2, 44100, 44100 * 4, 4, 16)
    # a chunk whose size runs past the end: the stdlib wave module raised a bare RuntimeError
    junk = b"junk" + struct.pack("<I", 0xFFFFFF00)
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x24\0\0\0WAVEfmt \x10\0\0\0" + fmt + junk)
    bad_wave.write_text('FILE "bad.wav" WAVE\nTRACK 01 AUDIO\nINDEX 01 00:00:00\n')
    records = tmp_path / "records.iso"
    shutil.copyfile(samples["data"], records)
    _corrupt_directory_record(records)
    odd = tmp_path / "odd"
    odd.mkdir()
    (odd / os.fsdecode(b"a\xff.txt")).write_text("x")
    cases: list[tuple[list[str], int, str]] = [
        (["image", "info", str(folder)], 1, "is a folder, not an ISO image"),
        (["image", "info", str(tmp_path / "x.cue")], 1, "is a folder, not a CUE sheet"),
        (["image", "info", str(nul)], 1, "nul.cue: line 1: file name 'a\\x00b'"),
        (["image", "info", str(bad_wave)], 1, "bad.wav: line 1 of"),
        (["image", "info", str(records)], 1, "records.iso: offset 0x8000: not an ISO 9660"),
        (
            ["image", "iso", str(samples["data"].parent / "tree"), str(folder)],
            1,
            "is a folder, not an image",
        ),
        (
            [
                "image",
                "iso",
                str(samples["data"].parent / "tree"),
                str(tmp_path / "o.iso"),
                "--label",
                "Ü",
            ],
            2,
            "'Ü'",
        ),
        (["image", "iso", str(odd), str(tmp_path / "o.iso")], 1, "a\\xff.txt: the file name"),
        (
            ["image", "iso", str(samples["data"].parent / "tree"), str(tmp_path / "no" / "o.iso")],
            1,
            "no",
        ),
    ]
    for argv, status, text in cases:
        code, err = _run(argv, capsys)
        assert (code, "\n" in err) == (status, False), (argv, err)
        assert err.startswith("devemu: ") and text in err, (argv, err)
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix in {".iso", ".tmp"}) == [
        "records.iso"
    ]
