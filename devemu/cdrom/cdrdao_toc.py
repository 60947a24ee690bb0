"""cdrdao TOC files: the text that lays one session of tracks out of BIN and WAVE files.

Grammar (cdrdao's manual page, "TOC FILES"): ``//`` comments; a disc type
(``CD_DA``, ``CD_ROM``, ``CD_ROM_XA``, ``CD_I``); ``CATALOG "13 digits"``;
an optional ``CD_TEXT { ... }`` block (read past); then tracks:
``TRACK mode`` with mode ``AUDIO``, ``MODE1`` (2048 bytes a sector),
``MODE1_RAW`` (2352), ``MODE2`` or ``MODE2_FORM_MIX`` (2336),
``MODE2_RAW`` (2352); its flags (``[NO] COPY``, ``[NO] PRE_EMPHASIS``,
``TWO_CHANNEL_AUDIO``, ``FOUR_CHANNEL_AUDIO``, ``ISRC "..."``); and its
contents in order: ``FILE``/``AUDIOFILE "name" [SWAP] [#offset] start
[length]`` (audio samples: a raw file holds 16-bit big-endian samples,
a ``.wav`` file little-endian ones; ``SWAP`` turns the order round),
``DATAFILE "name" [#offset] [length]`` (data sectors of the track's
mode), ``SILENCE length``, ``ZERO [mode] length``, ``PREGAP length``
(generated, and the pregap), ``START [position]`` (index 1: here, or at
that position from the track's start) and ``INDEX position`` (from index
1). A position or length is ``mm:ss:ff`` or, for audio, a number of
samples (588 a sector); a ``DATAFILE`` length may be a number of bytes.

Sub-channel modes (``RW``, ``RW_RAW``), ``MODE0``, ``MODE2_FORM1`` and
``MODE2_FORM2`` are refused with the line that names them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devemu.cdrom.disc import Disc, TrackMode
from devemu.cdrom.image_layout import PlannedTrack, StoredRun, assemble
from devemu.cdrom.msf import parse_msf
from devemu.cdrom.named_files import NamedFiles
from devemu.cdrom.wave import wave_data
from devemu.errors import ImageError
from devemu.image_files import read_small_file

_TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"|(//[^\n]*)|(\{|\})|([^\s{}"]+)')
SAMPLES_PER_SECTOR = 588
MAX_TOC = 1 << 20
MODES = {
    "AUDIO": TrackMode.AUDIO,
    "MODE1": TrackMode.MODE1_2048,
    "MODE1_RAW": TrackMode.MODE1_2352,
    "MODE2": TrackMode.MODE2_2336,
    "MODE2_FORM_MIX": TrackMode.MODE2_2336,
    "MODE2_RAW": TrackMode.MODE2_2352,
}
#: The TRACK keyword a writer gives each track mode.
MODE_NAMES = {
    TrackMode.AUDIO: "AUDIO",
    TrackMode.MODE1_2048: "MODE1",
    TrackMode.MODE1_2352: "MODE1_RAW",
    TrackMode.MODE2_2336: "MODE2",
    TrackMode.MODE2_2352: "MODE2_RAW",
}
_UNSUPPORTED = {"MODE0", "MODE2_FORM1", "MODE2_FORM2", "RW", "RW_RAW"}
_DISC_TYPES = {"CD_DA", "CD_ROM", "CD_ROM_XA", "CD_I"}
_ISRC = re.compile(r"^[A-Z0-9]{5}[0-9]{7}$")


@dataclass
class _Token:
    text: str
    line: int
    quoted: bool = False


@dataclass
class _Track:
    number: int
    mode: TrackMode
    line: int
    length: int = 0  # sectors so far
    start: int | None = None  # index 1, in sectors from the track's start
    indexes: list[int] = field(default_factory=list)
    copy: bool = False
    pre_emphasis: bool = False
    four_channel: bool = False
    isrc: str | None = None
    runs: list[tuple[int, int, Path, int, bool, str]] = field(default_factory=list)


class _Parser:
    def __init__(self, path: Path, roots: Sequence[Path] | None) -> None:
        self.path = path
        self.named = NamedFiles(path, roots)
        raw = read_small_file(path, MAX_TOC, "a cdrdao TOC file")
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("latin-1")
        self.tokens = self.tokenize(text)
        self.at = 0
        self.tracks: list[_Track] = []
        self.catalog: str | None = None

    def fail(self, line: int, reason: str) -> ImageError:
        return ImageError(self.path, f"line {line}", reason)

    def tokenize(self, text: str) -> list[_Token]:
        out: list[_Token] = []
        for lineno, line in enumerate(text.splitlines(), 1):
            pos = 0
            for m in _TOKEN.finditer(line):
                if line[pos : m.start()].strip():
                    raise self.fail(lineno, f"cannot read {line[pos : m.start()].strip()!r}")
                pos = m.end()
                if m.group(2) is not None:
                    break
                if m.group(1) is not None:
                    out.append(_Token(m.group(1).replace('\\"', '"'), lineno, quoted=True))
                else:
                    out.append(_Token(m.group(3) or m.group(4), lineno))
            else:
                if line[pos:].strip():
                    raise self.fail(lineno, f"cannot read {line[pos:].strip()!r}")
        return out

    def peek(self) -> _Token | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def take(self, what: str) -> _Token:
        token = self.peek()
        if token is None:
            last = self.tokens[-1].line if self.tokens else 1
            raise self.fail(last, f"the file ends where {what} should be")
        self.at += 1
        return token

    def word(self) -> str | None:
        token = self.peek()
        return token.text.upper() if token is not None and not token.quoted else None

    def string(self, what: str) -> _Token:
        token = self.take(what)
        if not token.quoted:
            raise self.fail(token.line, f"expected {what} in quotes, not {token.text!r}")
        return token

    def parse(self) -> None:
        while (token := self.peek()) is not None:
            word = self.word()
            if word in _DISC_TYPES:
                self.at += 1
            elif word == "CATALOG":
                self.at += 1
                value = self.string("the catalog number")
                if not (len(value.text) == 13 and value.text.isdigit()):
                    raise self.fail(value.line, f"CATALOG {value.text!r} is not 13 digits")
                self.catalog = value.text
            elif word == "CD_TEXT":
                self.at += 1
                self.skip_block()
            elif word == "TRACK":
                self.at += 1
                self.track(token.line)
            elif word in _UNSUPPORTED:
                raise self.fail(token.line, f"{token.text} is not supported")
            else:
                self.statement(token)
        if not self.tracks:
            last = self.tokens[-1].line if self.tokens else 1
            raise self.fail(last, "the file has no TRACK")

    def skip_block(self) -> None:
        opening = self.take("{")
        if opening.text != "{":
            raise self.fail(opening.line, f"expected {{ after CD_TEXT, not {opening.text!r}")
        depth = 1
        while depth:
            token = self.take("}")
            if not token.quoted:
                depth += {"{": 1, "}": -1}.get(token.text, 0)

    def track(self, line: int) -> None:
        token = self.take("the track mode")
        mode = MODES.get(token.text.upper())
        if mode is None:
            known = ", ".join(MODES)
            reason = (
                "is not supported"
                if token.text.upper() in _UNSUPPORTED
                else f"is not one of {known}"
            )
            raise self.fail(token.line, f"track mode {token.text} {reason}")
        if self.word() in _UNSUPPORTED:
            bad = self.take("")
            raise self.fail(bad.line, f"sub-channel mode {bad.text} is not supported")
        if len(self.tracks) == 99:
            raise self.fail(line, "more than 99 tracks")
        self.tracks.append(_Track(len(self.tracks) + 1, mode, line))

    def current(self, token: _Token) -> _Track:
        if not self.tracks:
            raise self.fail(token.line, f"{token.text} before any TRACK")
        return self.tracks[-1]

    def statement(self, token: _Token) -> None:
        word = token.text.upper()
        self.at += 1
        t = self.current(token)
        if word == "NO":
            what = self.take("COPY or PRE_EMPHASIS")
            if what.text.upper() not in ("COPY", "PRE_EMPHASIS"):
                raise self.fail(what.line, f"NO {what.text} is not a flag")
            setattr(t, "copy" if what.text.upper() == "COPY" else "pre_emphasis", False)
        elif word == "COPY":
            t.copy = True
        elif word == "PRE_EMPHASIS":
            t.pre_emphasis = True
        elif word in ("TWO_CHANNEL_AUDIO", "FOUR_CHANNEL_AUDIO"):
            t.four_channel = word == "FOUR_CHANNEL_AUDIO"
        elif word == "ISRC":
            value = self.string("the ISRC")
            if not _ISRC.match(value.text.upper()):
                raise self.fail(
                    value.line, f"ISRC {value.text!r} is not 5 letters/digits and 7 digits"
                )
            t.isrc = value.text.upper()
        elif word in ("FILE", "AUDIOFILE"):
            self.audio_file(t, token)
        elif word == "DATAFILE":
            self.data_file(t, token)
        elif word == "SILENCE":
            if not t.mode.is_audio:
                raise self.fail(token.line, "SILENCE in a data track (use ZERO)")
            t.length += self.length(t, self.take("a length"))
        elif word == "ZERO":
            if self.word() in MODES or self.word() == "MODE0":
                self.at += 1
            t.length += self.length(t, self.take("a length"))
        elif word == "PREGAP":
            if t.length or t.start is not None:
                raise self.fail(token.line, "PREGAP after the track's first contents")
            t.length = t.start = self.length(t, self.take("a length"))
        elif word == "START":
            if t.start is not None:
                raise self.fail(token.line, "a second START (or START after PREGAP)")
            nxt = self.peek()
            if nxt is not None and not nxt.quoted and ":" in nxt.text:
                self.at += 1
                t.start = self.length(t, nxt)
            else:
                t.start = t.length
        elif word == "INDEX":
            where = self.take("an index position")
            position = self.length(t, where)
            if position <= (t.indexes[-1] if t.indexes else 0):
                raise self.fail(where.line, f"INDEX {where.text} is not after the index before")
            t.indexes.append(position)
        else:
            raise self.fail(token.line, f"unknown statement {token.text!r}")

    def length(self, t: _Track, token: _Token) -> int:
        """A length or position in sectors: mm:ss:ff, or samples of an audio track."""
        if ":" in token.text:
            try:
                return parse_msf(token.text)
            except ValueError as err:
                raise self.fail(token.line, str(err)) from None
        if not (token.text.isascii() and token.text.isdigit()):
            raise self.fail(token.line, f"{token.text!r} is not mm:ss:ff or a number of samples")
        samples = self.number(token, token.text)
        if samples % SAMPLES_PER_SECTOR:
            raise self.fail(token.line, f"{samples} samples is not a whole number of sectors")
        return samples // SAMPLES_PER_SECTOR

    def number(self, token: _Token, digits: str) -> int:
        """A count written in ASCII digits, at most 12 of them (no CD holds more bytes)."""
        if len(digits) > 12:
            raise self.fail(token.line, f"{digits[:20]!r}... is too large a number")
        return int(digits)

    def offset(self) -> int:
        token = self.peek()
        if token is not None and not token.quoted and token.text.startswith("#"):
            self.at += 1
            if not (token.text[1:].isascii() and token.text[1:].isdigit()):
                raise self.fail(token.line, f"{token.text!r} is not #byte-offset")
            return self.number(token, token.text[1:])
        return 0

    def audio_file(self, t: _Track, token: _Token) -> None:
        if not t.mode.is_audio:
            raise self.fail(token.line, f"{token.text} in a data track (use DATAFILE)")
        name = self.string("the file name")
        path = self.named.resolve(name.text, f"line {name.line}")
        swap = True  # raw samples are big endian; a WAVE file's little endian
        if self.word() == "SWAP":
            self.at += 1
            swap = False
        extra = self.offset()
        data_at, data_len, kind = extra, path.stat().st_size - extra, "BINARY"
        if path.suffix.lower() == ".wav":
            wave = wave_data(path, f"line {name.line} of {self.path}")
            data_at, data_len, kind = wave.offset + extra, wave.length - extra, "WAVE"
            swap = not swap
        start = self.length(t, self.take("the start position"))
        nxt = self.peek()
        if nxt is not None and not nxt.quoted and (":" in nxt.text or nxt.text.isdigit()):
            self.at += 1
            count = self.length(t, nxt)
        else:
            count = (data_len - start * 2352) // 2352
        if count <= 0:
            raise self.fail(name.line, f"no whole sector of {path} from {start}")
        t.runs.append((t.length, count, path, data_at + start * 2352, swap, kind))
        t.length += count

    def data_file(self, t: _Track, token: _Token) -> None:
        if t.mode.is_audio:
            raise self.fail(token.line, "DATAFILE in an audio track (use FILE)")
        name = self.string("the file name")
        path = self.named.resolve(name.text, f"line {name.line}")
        extra = self.offset()
        size = t.mode.stored_size
        nxt = self.peek()
        if nxt is not None and not nxt.quoted and ":" in nxt.text:
            self.at += 1
            count = self.length(t, nxt)
        elif nxt is not None and not nxt.quoted and nxt.text.isascii() and nxt.text.isdigit():
            self.at += 1
            if self.number(nxt, nxt.text) % size:
                raise self.fail(
                    nxt.line, f"{nxt.text} bytes is not a whole number of {size}-byte sectors"
                )
            count = self.number(nxt, nxt.text) // size
        else:
            remaining = path.stat().st_size - extra
            if remaining % size:
                raise self.fail(
                    name.line, f"{path} is not a whole number of {size}-byte sectors from #{extra}"
                )
            count = remaining // size
        if count <= 0:
            raise self.fail(name.line, f"no sector of {path}")
        t.runs.append((t.length, count, path, extra, False, "BINARY"))
        t.length += count

    def layout(self) -> Disc:
        planned: list[PlannedTrack] = []
        lba = 0
        for t in self.tracks:
            if t.length == 0:
                raise self.fail(t.line, f"track {t.number} has no contents")
            start = t.start or 0
            if start >= t.length:
                raise self.fail(t.line, f"track {t.number}'s START is not before its end")
            pregap_lba = lba
            index1 = lba + start
            control = (0 if t.mode.is_audio else 0x04) | (0x02 if t.copy else 0)
            control |= (0x01 if t.pre_emphasis else 0) | (0x08 if t.four_channel else 0)
            p = PlannedTrack(
                t.number,
                1,
                t.mode,
                pregap_lba,
                index1,
                lba + t.length,
                f"line {t.line}",
                control=control,
                indexes=tuple(index1 + i for i in t.indexes),
                isrc=t.isrc,
            )
            for first, count, path, offset, swap, kind in t.runs:
                p.runs.append(
                    StoredRun(lba + first, count, path, offset, swap=swap, file_type=kind)
                )
            planned.append(p)
            lba += t.length
        return assemble(self.path, "toc", planned, [lba], catalog=self.catalog)


def load_toc(path: Path, allowed_roots: Sequence[Path] | None = None) -> Disc:
    """The disc of a cdrdao TOC file and the files it names (opened, ready to read)."""
    parser = _Parser(path, allowed_roots)
    parser.parse()
    disc = parser.layout()
    return disc.open_for(path)
