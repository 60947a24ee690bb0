"""The NRG, MDS, CloneCD and cdrdao TOC loaders turn any input into a disc or one ImageError.

Each valid file from the writers of :mod:`devemu.testing.image_formats` is
mutated (bytes overwritten, often in its descriptive part; cut; extended)
and loaded; whatever happens, only an ImageError of one line may leave
the loader, and a disc that loads reads every one of its sectors (with
its sub-channel) without error. Examples are bounded to keep this quick.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devemu.cdrom.disc import RAW, Disc, TrackMode
from devemu.cdrom.image import load_image
from devemu.cdrom.subchannel import SubchannelKind
from devemu.errors import ImageError
from devemu.testing import image_formats as f
from tests.unit.cdrom.test_image_formats import DATA, tone
from tests.unit.test_loader_fuzz import FUZZ, mutated

SMALL = f.DiscSpec(
    (
        (
            f.TrackSpec(TrackMode.MODE1_2048, DATA[: 2048 * 12]),
            f.TrackSpec(TrackMode.AUDIO, tone(440, 6), isrc="USDEV2600001"),
        ),
        (f.TrackSpec(TrackMode.AUDIO, tone(660, 4)),),
    ),
    catalog="1234567890123",
)


def _loads_and_reads(path: Path) -> None:
    try:
        disc = load_image(path)
    except ImageError as err:
        assert "\n" not in str(err)
        return
    try:
        _read_everything(disc)
    finally:
        disc.close()


def _read_everything(disc: Disc) -> None:
    for track in disc.tracks:
        for lba in range(track.pregap, track.end):
            out = bytearray(2352 + 96)
            if track.mode.is_audio:
                disc.subchannel(lba, SubchannelKind.RAW_PW)
                disc.stored_sector(disc.extent_at(lba), lba)  # type: ignore[arg-type]
            else:
                disc.read_sectors(lba, 1, RAW, [memoryview(out)])
                disc.subchannel(lba, SubchannelKind.FORMATTED_Q)


def _fuzz(path: Path, valid: bytes, hot: tuple[int, int]) -> None:
    @FUZZ
    @given(st.one_of(mutated(valid, hot), mutated(valid), st.binary(max_size=300)))
    def run(raw: bytes) -> None:
        path.write_bytes(raw)
        _loads_and_reads(path)

    run()


Writer = Callable[[f.DiscSpec, Path], f.Layout]


@pytest.mark.parametrize(("version", "tao"), [(1, False), (2, False), (1, True), (2, True)])
def test_nrg_mutations(tmp_path: Path, version: int, tao: bool) -> None:
    path = tmp_path / "disc.nrg"
    f.write_nrg(SMALL, path, version=version, raw=version == 2, sub=version == 2, tao=tao)
    valid = path.read_bytes()
    tail = 12 if version == 2 else 8
    first = int.from_bytes(valid[-tail + 4 :], "big")
    _fuzz(path, valid, (first, len(valid)))


def test_mds_mutations(tmp_path: Path) -> None:
    path = tmp_path / "disc.mds"
    f.write_mds(SMALL, path, sub=True)
    valid = path.read_bytes()
    _fuzz(path, valid, (0, len(valid)))


def test_ccd_mutations(tmp_path: Path) -> None:
    path = tmp_path / "disc.ccd"
    f.write_ccd(SMALL, path)
    valid = path.read_bytes()
    _fuzz(path, valid, (0, len(valid)))


WORDS = ["0", "-1", "0x", "0xAA", "99", "100", "4294967296", "", "=", "[", "]", "\n", "²", "1e3"]
WORDS += ["9" * 5000, "#" + "1" * 5000, "0x" + "f" * 5000]


@st.composite
def edited_text(draw: st.DrawFn, valid: str, separators: str) -> bytes:
    """The valid text with a few values swapped for hostile ones, lines dropped or repeated."""
    lines = valid.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["value", "drop", "repeat"]))
        if action == "value":
            line = lines[i]
            cut = max((line.rfind(c) for c in separators), default=-1)
            lines[i] = line[: cut + 1] + draw(
                st.one_of(st.sampled_from(WORDS), st.text(max_size=5))
            )
        elif action == "drop":
            del lines[i]
        else:
            lines.insert(i, lines[i])
    return "\n".join(lines).encode("utf-8", "surrogatepass")


def test_ccd_value_edits(tmp_path: Path) -> None:
    path = tmp_path / "disc.ccd"
    f.write_ccd(SMALL, path)
    valid = path.read_text()

    @FUZZ
    @given(edited_text(valid, "="))
    def run(raw: bytes) -> None:
        path.write_bytes(raw)
        _loads_and_reads(path)

    run()


def test_toc_edits(tmp_path: Path) -> None:
    spec = f.DiscSpec((SMALL.sessions[0],), catalog=SMALL.catalog)
    path = tmp_path / "disc.toc"
    f.write_toc(spec, path)
    valid = path.read_text()

    @FUZZ
    @given(st.one_of(edited_text(valid, " "), mutated(valid.encode())))
    def run(raw: bytes) -> None:
        path.write_bytes(raw)
        _loads_and_reads(path)

    run()


def test_nrg_chunk_lengths(tmp_path: Path) -> None:
    """Every chunk's length field set to values that do not fit."""
    path = tmp_path / "disc.nrg"
    f.write_nrg(SMALL, path)
    valid = path.read_bytes()
    first = int.from_bytes(valid[-8:], "big")
    at = first
    while at < len(valid) - 12:
        name = valid[at : at + 4]
        (length,) = struct.unpack_from(">I", valid, at + 4)
        for wrong in (0, 1, 7, length + 1, length - 1, 0xFFFFFFFF):
            broken = bytearray(valid)
            struct.pack_into(">I", broken, at + 4, wrong & 0xFFFFFFFF)
            path.write_bytes(bytes(broken))
            _loads_and_reads(path)
        if name == b"END!":
            break
        at += 8 + length
