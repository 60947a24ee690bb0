"""Every image loader turns any input into a disc/cartridge or an ImageError, nothing else.

Each loader is fed mutations of a valid file (bytes overwritten, cut at any
point, spliced) and random bytes; whatever happens, the only exception that
may leave it is :class:`~devemu.errors.ImageError`, its message one line.
Examples are bounded so that the module runs in a few seconds.
"""

from __future__ import annotations

import shutil
import struct
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devemu.cdrom.cue import load_cue
from devemu.cdrom.iso import load_iso
from devemu.cdrom.wave import wave_data
from devemu.errors import ImageError
from devemu.tape.cartridge import Cartridge
from devemu.tape.cartridge_check import check_cartridge
from devemu.tape.records import HEADER_SIZE
from tests.sample_images import load_make_samples

FUZZ = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.fixture(scope="module")
def folder() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as name:
        root = Path(name)
        load_make_samples().build(root / "samples")
        yield root


@st.composite
def mutated(draw: st.DrawFn, valid: bytes, hot: tuple[int, int] | None = None) -> bytes:
    """``valid`` with a few byte runs overwritten (often in ``hot``), maybe cut or extended."""
    raw = bytearray(valid)
    lo, hi = hot or (0, len(raw))
    for _ in range(draw(st.integers(1, 6))):
        if not raw:
            break
        start = draw(st.integers(lo, max(lo, min(hi, len(raw)) - 1)))
        patch = draw(
            st.one_of(
                st.binary(min_size=1, max_size=8),
                st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x7f\xff\xff\xff"]),
            )
        )
        raw[start : start + len(patch)] = patch
    cut = draw(st.one_of(st.none(), st.integers(0, len(raw))))
    if cut is not None:
        del raw[cut:]
    return bytes(raw) + draw(st.binary(max_size=16))


def _only_image_errors(load: Callable[[], object]) -> None:
    try:
        result = load()
    except ImageError as err:
        assert "\n" not in str(err)
        return
    close = getattr(result, "close", None)
    if close is not None:
        close()


# --- ISO 9660 ---------------------------------------------------------------------------------


def _directory_records(raw: bytes) -> list[int]:
    """Offsets of the directory records in the root directory's first sector (ECMA-119 9.1)."""
    root = struct.unpack_from("<I", raw, 16 * 2048 + 156 + 2)[0] * 2048
    offsets, at = [], root
    while at < root + 2048 and raw[at]:
        offsets.append(at)
        at += raw[at]
    return offsets


@st.composite
def damaged_record(draw: st.DrawFn, valid: bytes) -> bytes:
    """A field of a root directory record (location, length, flags, name) overwritten."""
    raw = bytearray(valid)
    for _ in range(draw(st.integers(1, 3))):
        record = draw(st.sampled_from(_directory_records(valid)))
        field = draw(st.sampled_from([(2, 4), (10, 4), (25, 1), (32, 1), (33, 4), (0, 1)]))
        at, size = record + field[0], field[1]
        raw[at : at + size] = draw(
            st.one_of(
                st.sampled_from([b"\xff" * size, bytes(size)]),
                st.binary(min_size=size, max_size=size),
            )
        )
    return bytes(raw)


def test_iso_loader_mutations(folder: Path) -> None:
    valid = (folder / "samples" / "data.iso").read_bytes()
    target = folder / "fuzz.iso"

    @FUZZ
    @given(
        st.one_of(
            damaged_record(valid),
            damaged_record(valid),
            mutated(valid, (16 * 2048, 36 * 2048)),
            mutated(valid),
            st.binary(min_size=2048, max_size=20 * 2048).map(lambda b: b * 2),
        )
    )
    def run(raw: bytes) -> None:
        target.write_bytes(raw)
        _only_image_errors(lambda: load_iso(target))

    run()


# --- CUE sheets -------------------------------------------------------------------------------

SHEET = (
    'REM SESSION 01\nCATALOG 0123456789012\nTITLE "x"\nFILE "t.bin" BINARY\n'
    "  TRACK 01 MODE1/2352\n    FLAGS DCP\n    INDEX 01 00:00:00\n"
    "  TRACK 02 AUDIO\n    ISRC USDEV2600001\n    PREGAP 00:00:10\n    INDEX 00 00:00:20\n"
    '    INDEX 01 00:00:30\n    POSTGAP 00:00:02\nFILE "a.wav" WAVE\n  TRACK 03 AUDIO\n'
    '    INDEX 01 00:00:00\nREM SESSION 02\nFILE "t.bin" BINARY\n  TRACK 04 MODE2/2352\n'
    "    INDEX 01 00:00:00\n"
)
WORDS = [
    "FILE", "TRACK", "INDEX", "PREGAP", "POSTGAP", "REM SESSION", "FLAGS", "ISRC", "CATALOG",
    "CDTEXTFILE", '"t.bin"', '"a.wav"', '"../t.bin"', '"/etc/passwd"', '""', '"sub"', "BINARY",
    "WAVE", "MOTOROLA", "AUDIO", "MODE1/2048", "MODE2/2336", "00:00:00", "99:59:74", "00:02:00",
    "01", "02", "99", "00", "²", "\x00", '"a\x00b"', '"."', '"t.bin\x01"', "\n", " ", "\ufeff",
]  # fmt: skip


@st.composite
def edited_sheet(draw: st.DrawFn) -> bytes:
    """The valid sheet with a few words swapped for others, lines dropped or repeated."""
    lines = [line.split(" ") for line in SHEET.splitlines()]
    for _ in range(draw(st.integers(1, 3))):
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["word", "drop", "repeat"]))
        if action == "word":
            words = lines[i]
            words[draw(st.integers(0, len(words) - 1))] = draw(st.sampled_from(WORDS))
        elif action == "drop":
            del lines[i]
        else:
            lines.insert(i, list(lines[i]))
    return "\n".join(" ".join(words) for words in lines).encode()


#: File names and numbers no sheet may get past the loader with.
HOSTILE_NAMES = ["", "a\x00b", "\x00", ".", "sub", "sub/", "../t.bin", "/etc/passwd", "t.bin\n"]
HOSTILE_NUMBERS = ["²", "٢", "0", "100", "-1", "1e3", "0x1", "", "01 02"]
HOSTILE_EDITS = [('"t.bin"', f'"{name}"') for name in HOSTILE_NAMES] + [
    (place, f"{place.rsplit(' ', 1)[0]} {number}")
    for place in ("TRACK 02", "INDEX 01", "REM SESSION 02")
    for number in HOSTILE_NUMBERS
]


@st.composite
def hostile_sheet(draw: st.DrawFn) -> bytes:
    """The valid sheet with a hostile file name, track, index or session number."""
    old, new = draw(
        st.one_of(
            st.sampled_from(HOSTILE_EDITS),
            st.tuples(st.sampled_from(['"t.bin"', "TRACK 02", "00:00:30"]), st.text(max_size=6)),
        )
    )
    return SHEET.replace(old, new, 1).encode("utf-8", "surrogatepass")


def _cue_folder(folder: Path) -> Path:
    disc = folder / "cue"
    if not disc.exists():
        (disc / "sub").mkdir(parents=True)
        (disc / "t.bin").write_bytes(bytes(2352 * 60))
        samples = folder / "samples"
        audio = (samples / "mixed.bin").read_bytes()[: 2352 * 10]
        fmt = struct.pack("<HHIIHH", 1, 2, 44100, 176400, 4, 16)
        body = b"WAVEfmt " + struct.pack("<I", len(fmt)) + fmt
        body += b"data" + struct.pack("<I", len(audio)) + audio
        (disc / "a.wav").write_bytes(b"RIFF" + struct.pack("<I", len(body)) + body)
    return disc


def test_cue_loader_mutations(folder: Path) -> None:
    disc = _cue_folder(folder)
    sheet = disc / "fuzz.cue"
    sheet.write_text(SHEET)
    base = load_cue(sheet)  # the sheet mutated below is a good one
    assert [t.number for t in base.tracks] == [1, 2, 3, 4]
    base.close()

    @FUZZ
    @given(
        st.one_of(
            mutated(SHEET.encode()),
            edited_sheet(),
            hostile_sheet(),
            hostile_sheet(),
            st.lists(st.sampled_from(WORDS), max_size=40).map(lambda w: " ".join(w).encode()),
            st.binary(max_size=300),
        )
    )
    def run(raw: bytes) -> None:
        sheet.write_bytes(raw)
        _only_image_errors(lambda: load_cue(sheet))

    run()


@pytest.mark.parametrize(("old", "new"), HOSTILE_EDITS)
def test_cue_loader_hostile_edits(folder: Path, old: str, new: str) -> None:
    """Every hostile edit, tried for sure (a random draw may miss one)."""
    sheet = _cue_folder(folder) / "hostile.cue"
    sheet.write_bytes(SHEET.replace(old, new, 1).encode())
    _only_image_errors(lambda: load_cue(sheet))


# --- WAVE -------------------------------------------------------------------------------------


def test_wave_loader_mutations(folder: Path) -> None:
    valid = (_cue_folder(folder) / "a.wav").read_bytes()
    target = folder / "fuzz.wav"

    @FUZZ
    @given(st.one_of(mutated(valid, (0, 60)), st.binary(max_size=200)))
    def run(raw: bytes) -> None:
        target.write_bytes(raw)
        _only_image_errors(lambda: wave_data(target, "line 1 of x.cue"))

    run()


# --- cartridges -------------------------------------------------------------------------------


def _cartridge(folder: Path) -> bytes:
    path = folder / "A00001L8.tape"
    if not path.exists():
        with Cartridge.create(path, "A00001L8", "LTO-6") as cart:
            cart.write_block(0, 0, [b"a" * 300])
            cart.write_filemarks(0, 1, 1)
            cart.flush()
            cart.format([10**9, 10**9])
            cart.write_block(1, 0, [b"b" * 100])
            cart.set_attributes(0xFF, [])
            cart.write_block(1, 1, [b"c" * 50])
            cart.flush()
            cart.write_block(1, 2, [b"d" * 70])
            cart._dirty = False
    return path.read_bytes()


def test_cartridge_loader_mutations(folder: Path) -> None:
    valid = _cartridge(folder)
    target = folder / "fuzz" / "A00001L8.tape"
    target.parent.mkdir(exist_ok=True)

    @FUZZ
    @given(
        st.one_of(
            mutated(valid, (HEADER_SIZE - 80, len(valid))),
            mutated(valid, (0, 200)),
            st.binary(max_size=HEADER_SIZE + 200),
        ),
        st.booleans(),
    )
    def run(raw: bytes, read_only: bool) -> None:
        target.write_bytes(raw)
        _only_image_errors(lambda: Cartridge.open(target, read_only=read_only))
        problem = check_cartridge(target)
        assert problem is None or "\n" not in problem

    run()
    shutil.rmtree(target.parent)
