#!/usr/bin/env python3
"""Generate the sample disc images into images/build/ (see README.md).

- ``data.iso``: ISO 9660 with Joliet and Rock Ridge, from ``tree/``;
- ``data2.iso``: a second, different ISO (from ``tree2/``), for media changes;
- ``mixed.cue`` + ``mixed.bin``: a MODE1/2352 data track and two AUDIO tracks
  of sine tones, one with a PREGAP, one with an INDEX 00 pregap in the file;
- ``multisession.cue`` + ``multisession.bin``: an audio session and a data
  session (``REM SESSION``), the layout of an Enhanced CD.

Run: ``python3 images/make_samples.py [OUT_DIR]``.
"""

from __future__ import annotations

import math
import struct
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.insert(0, str(HERE.parent))

from devemu.cdrom.iso_writer import make_iso  # noqa: E402
from devemu.cdrom.sector import mode1_sector  # noqa: E402

SECTOR_AUDIO = 2352
SAMPLE_RATE = 44100


def tone(frequency: float, sectors: int, amplitude: float = 0.3) -> bytes:
    """``sectors`` sectors of a stereo 16-bit sine wave (CD-DA, little endian)."""
    count = sectors * SECTOR_AUDIO // 4
    scale = amplitude * 32767
    out = bytearray()
    pack = struct.Struct("<hh").pack
    for i in range(count):
        v = int(scale * math.sin(2 * math.pi * frequency * i / SAMPLE_RATE))
        out += pack(v, v)
    return bytes(out)


def write_tree(root: Path, variant: int) -> None:
    """A small folder tree with text and binary files."""
    (root / "docs" / "deep").mkdir(parents=True, exist_ok=True)
    (root / "README.TXT").write_text(f"devemu sample disc {variant}\n")
    (root / "docs" / "Notes with spaces.txt").write_text("line\n" * (50 * variant))
    (root / "docs" / "deep" / "data.bin").write_bytes(bytes(range(256)) * (40 + variant))
    (root / f"only-in-{variant}.txt").write_text(f"variant {variant}\n")


def raw_track(iso: bytes) -> bytes:
    """2048-byte user data as raw MODE1/2352 sectors from LBA 0."""
    return b"".join(
        bytes(mode1_sector(lba, iso[lba * 2048 : (lba + 1) * 2048]))
        for lba in range(len(iso) // 2048)
    )


def msf(frames: int) -> str:
    return f"{frames // 4500:02d}:{frames // 75 % 60:02d}:{frames % 75:02d}"


def build(out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    for variant, name in ((1, "data"), (2, "data2")):
        tree = out / ("tree" if variant == 1 else "tree2")
        write_tree(tree, variant)
        iso = out / f"{name}.iso"
        make_iso(tree, iso, label=f"DEVEMU_SAMPLE{variant}")
        paths[name] = iso

    iso_bytes = paths["data"].read_bytes()
    data = raw_track(iso_bytes)
    data_frames = len(data) // SECTOR_AUDIO
    audio2 = tone(440.0, 225)
    silence = bytes(SECTOR_AUDIO * 75)
    audio3 = tone(880.0, 300, amplitude=0.2)
    (out / "mixed.bin").write_bytes(data + audio2 + silence + audio3)
    t2 = data_frames
    t3_index0 = t2 + 225
    t3 = t3_index0 + 75
    (out / "mixed.cue").write_text(
        "CATALOG 0123456789012\n"
        'TITLE "devemu mixed mode"\n'
        'PERFORMER "devemu"\n'
        'FILE "mixed.bin" BINARY\n'
        "  TRACK 01 MODE1/2352\n"
        '    TITLE "Data"\n'
        "    INDEX 01 00:00:00\n"
        "  TRACK 02 AUDIO\n"
        '    TITLE "A 440"\n'
        "    ISRC USDEV2600001\n"
        "    PREGAP 00:02:00\n"
        f"    INDEX 01 {msf(t2)}\n"
        "  TRACK 03 AUDIO\n"
        '    TITLE "A 880"\n'
        "    FLAGS PRE\n"
        f"    INDEX 00 {msf(t3_index0)}\n"
        f"    INDEX 01 {msf(t3)}\n"
    )
    paths["mixed"] = out / "mixed.cue"

    audio = tone(330.0, 300)
    (out / "multisession.bin").write_bytes(audio + raw_track(paths["data2"].read_bytes()))
    (out / "multisession.cue").write_text(
        'FILE "multisession.bin" BINARY\n'
        "REM SESSION 01\n"
        "  TRACK 01 AUDIO\n"
        "    INDEX 01 00:00:00\n"
        "REM SESSION 02\n"
        "  TRACK 02 MODE1/2352\n"
        f"    INDEX 01 {msf(300)}\n"
    )
    paths["multisession"] = out / "multisession.cue"
    return paths


def main(argv: list[str]) -> int:
    out = Path(argv[1]) if len(argv) > 1 else HERE / "build"
    for name, path in build(out).items():
        print(f"{name}: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
