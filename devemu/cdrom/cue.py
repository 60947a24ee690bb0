"""CUE sheets: the text that lays tracks of BIN/WAVE files out on a disc.

Grammar (the CDRWIN cue sheet, as read by cdrdao and libcdio): one
command per line; ``FILE "name" BINARY|MOTOROLA|WAVE``, ``TRACK nn MODE``
with MODE one of AUDIO, MODE1/2048, MODE1/2352, MODE2/2336, MODE2/2352,
``INDEX nn mm:ss:ff`` (a time inside the current file), ``PREGAP`` and
``POSTGAP mm:ss:ff`` (silence that is not in the file), ``FLAGS`` (DCP
4CH PRE SCMS), ``ISRC``, ``CATALOG``, ``CDTEXTFILE``, ``TITLE``,
``PERFORMER``, ``SONGWRITER`` (CD-TEXT; cdrdao's COMPOSER, ARRANGER,
MESSAGE, DISC_ID, GENRE and UPC_EAN are accepted and left out), and ``REM`` comments of which
``REM SESSION n`` starts session n of a multisession disc.

Layout: a file's tracks follow one another; a track's first index is its
first sector in the file, its sectors run to the next track's first index
or to the end of the file. On the disc, track 1's INDEX 01 is LBA 0; each
PREGAP, file sector and POSTGAP takes the next LBA; a new session starts
after the previous session's lead-out and lead-in and a 150-sector pregap
(see :mod:`devemu.cdrom.disc`).

Everything is checked when the sheet loads; a problem is an
:class:`~devemu.errors.ImageError` naming the sheet (or file) and line.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devemu.cdrom.disc import (
    DEFAULT_PREGAP,
    FIRST_LEADOUT_LENGTH,
    LEADIN_LENGTH,
    NEXT_LEADOUT_LENGTH,
    Disc,
    Extent,
    Session,
    Track,
    TrackMode,
)
from devemu.cdrom.msf import parse_msf
from devemu.cdrom.named_files import NamedFiles
from devemu.cdrom.wave import wave_data
from devemu.errors import ImageError
from devemu.image_files import read_small_file

_TOKEN = re.compile(r'"([^"]*)"|(\S+)')
_ISRC = re.compile(r"^[A-Z0-9]{5}[0-9]{7}$")
_FLAGS = {"DCP", "4CH", "PRE", "SCMS"}
_FILE_TYPES = {"BINARY", "MOTOROLA", "WAVE"}
#: Largest CUE sheet and CD-TEXT file read (real ones are a few kB).
_MAX_SHEET = 1 << 20
_MAX_CDTEXT = 1 << 20
_IGNORED = {"COMPOSER", "ARRANGER", "MESSAGE", "DISC_ID", "GENRE", "UPC_EAN"}


@dataclass
class _File:
    path: Path
    kind: str
    line: int
    data_offset: int
    data_length: int


@dataclass
class _Track:
    number: int
    mode: TrackMode
    line: int
    file: _File
    session: int
    indexes: dict[int, int] = field(default_factory=dict)  # index -> frame in file
    index_lines: dict[int, int] = field(default_factory=dict)
    pregap: int = 0
    postgap: int = 0
    flags: set[str] = field(default_factory=set)
    isrc: str | None = None
    title: str | None = None
    performer: str | None = None
    songwriter: str | None = None


@dataclass
class _Sheet:
    path: Path
    tracks: list[_Track] = field(default_factory=list)
    catalog: str | None = None
    title: str | None = None
    performer: str | None = None
    songwriter: str | None = None
    cdtext: bytes | None = None


def _digits(text: str) -> bool:
    """Whether ``text`` is a number written in ASCII digits (``"²".isdigit()`` is true)."""
    return text.isascii() and text.isdigit()


def _tokens(line: str) -> list[str]:
    return [m.group(1) if m.group(1) is not None else m.group(2) for m in _TOKEN.finditer(line)]


class _Parser:
    def __init__(self, path: Path, roots: Sequence[Path] | None = None) -> None:
        self.path = path
        self.named = NamedFiles(path, roots)
        self.sheet = _Sheet(path)
        self.file: _File | None = None
        self.track: _Track | None = None
        self.session = 1
        self.session_pending = False
        self.lineno = 0

    def fail(self, reason: str, line: int | None = None) -> ImageError:
        return ImageError(self.path, f"line {line or self.lineno}", reason)

    def resolve(self, name: str) -> Path:
        """The real path of a file the sheet names, inside the allowed roots (see NamedFiles)."""
        return self.named.resolve(name, f"line {self.lineno}")

    def time(self, text: str) -> int:
        try:
            return parse_msf(text)
        except ValueError as err:
            raise self.fail(str(err)) from None

    def parse(self, text: str) -> _Sheet:
        for self.lineno, line in enumerate(text.splitlines(), 1):
            words = _tokens(line.strip().lstrip("\ufeff"))
            if not words:
                continue
            command, args = words[0].upper(), words[1:]
            handler = getattr(self, f"cmd_{command.lower()}", None)
            if handler is None:
                if command in _IGNORED:
                    continue
                raise self.fail(f"unknown command {words[0]!r}")
            handler(args)
        if not self.sheet.tracks:
            raise self.fail("the sheet has no TRACK", max(self.lineno, 1))
        for t in self.sheet.tracks:
            if 1 not in t.indexes:
                raise self.fail(f"track {t.number} has no INDEX 01", t.line)
        return self.sheet

    def need(self, args: list[str], count: int, usage: str) -> None:
        if len(args) != count:
            raise self.fail(f"expected {usage}")

    def cmd_rem(self, args: list[str]) -> None:
        if len(args) >= 2 and args[0].upper() == "SESSION":
            if not _digits(args[1]):
                raise self.fail(f"REM SESSION needs a number, not {args[1]!r}")
            number = int(args[1])
            expected = self.session + 1 if self.sheet.tracks else 1
            if number != expected and not (number == self.session and not self.sheet.tracks):
                raise self.fail(f"session {number} follows session {self.session}")
            if self.sheet.tracks:
                self.session = number
                self.session_pending = True

    def cmd_catalog(self, args: list[str]) -> None:
        self.need(args, 1, "CATALOG followed by 13 digits")
        if not (len(args[0]) == 13 and _digits(args[0])):
            raise self.fail(f"CATALOG must be 13 digits, not {args[0]!r}")
        self.sheet.catalog = args[0]

    def cmd_cdtextfile(self, args: list[str]) -> None:
        self.need(args, 1, 'CDTEXTFILE "name"')
        target = self.resolve(args[0])
        if target.stat().st_size > _MAX_CDTEXT:
            raise self.fail(f"CD-TEXT file {target} is larger than {_MAX_CDTEXT} bytes")
        try:
            data = target.read_bytes()
        except OSError as err:
            raise self.fail(f"cannot read CD-TEXT file {target}: {err.strerror}") from None
        if len(data) % 18 == 4:
            data = data[4:]
        if len(data) % 18 or not data:
            raise self.fail(f"CD-TEXT file {target} is not a list of 18-byte packs")
        self.sheet.cdtext = data

    def cmd_file(self, args: list[str]) -> None:
        self.need(args, 2, 'FILE "name" BINARY|MOTOROLA|WAVE')
        name, kind = args[0], args[1].upper()
        if kind not in _FILE_TYPES:
            raise self.fail(f"file type {args[1]} is not supported (BINARY, MOTOROLA, WAVE)")
        target = self.resolve(name)
        offset, length = 0, target.stat().st_size
        if kind == "WAVE":
            data = wave_data(target, f"line {self.lineno} of {self.path}")
            offset, length = data.offset, data.length
        self.file = _File(target, kind, self.lineno, offset, length)
        self.track = None

    def cmd_track(self, args: list[str]) -> None:
        self.need(args, 2, "TRACK nn MODE")
        if self.file is None:
            raise self.fail("TRACK before any FILE")
        if not _digits(args[0]) or not 1 <= int(args[0]) <= 99:
            raise self.fail(f"track number {args[0]!r} is not 1 to 99")
        number = int(args[0])
        tracks = self.sheet.tracks
        if tracks and number != tracks[-1].number + 1:
            raise self.fail(f"track {number} follows track {tracks[-1].number}")
        try:
            mode = TrackMode.from_label(args[1])
        except ValueError as err:
            raise self.fail(str(err)) from None
        if self.file.kind == "WAVE" and not mode.is_audio:
            raise self.fail(f"track {number} in a WAVE file must be AUDIO")
        if self.track is not None and self.track.file is self.file and 1 not in self.track.indexes:
            raise self.fail(f"track {self.track.number} has no INDEX 01", self.track.line)
        self.track = _Track(number, mode, self.lineno, self.file, self.session)
        self.session_pending = False
        tracks.append(self.track)

    def current(self, what: str) -> _Track:
        if self.track is None:
            raise self.fail(f"{what} outside a TRACK")
        return self.track

    def cmd_index(self, args: list[str]) -> None:
        self.need(args, 2, "INDEX nn mm:ss:ff")
        track = self.current("INDEX")
        if not _digits(args[0]) or int(args[0]) > 99:
            raise self.fail(f"index number {args[0]!r} is not 0 to 99")
        number, frame = int(args[0]), self.time(args[1])
        if track.postgap:
            raise self.fail("INDEX after POSTGAP")
        if track.indexes:
            last = max(track.indexes)
            if number != last + 1:
                raise self.fail(f"INDEX {number:02d} follows INDEX {last:02d}")
            if frame < track.indexes[last]:
                raise self.fail(f"INDEX {number:02d} at {args[1]} is before INDEX {last:02d}")
        elif number > 1:
            raise self.fail(f"the first index of track {track.number} is {number:02d}")
        else:
            prev = self._previous_in_file(track)
            if prev is not None and frame < min(prev.indexes.values()):
                raise self.fail(f"INDEX {number:02d} at {args[1]} is before the previous track")
        if self._file_offset(track, frame) > track.file.data_offset + track.file.data_length:
            raise self.fail(f"INDEX {number:02d} at {args[1]} is past the end of {track.file.path}")
        track.indexes[number] = frame
        track.index_lines[number] = self.lineno

    def _previous_in_file(self, track: _Track) -> _Track | None:
        tracks = self.sheet.tracks
        i = tracks.index(track)
        if i > 0 and tracks[i - 1].file is track.file:
            return tracks[i - 1]
        return None

    def _file_offset(self, track: _Track, frame: int) -> int:
        """Byte offset in the file of ``frame`` (a time inside the file) for ``track``."""
        return _byte_offset(self.sheet.tracks, track, frame)

    def cmd_pregap(self, args: list[str]) -> None:
        self.need(args, 1, "PREGAP mm:ss:ff")
        track = self.current("PREGAP")
        if track.indexes:
            raise self.fail("PREGAP after INDEX")
        track.pregap = self.time(args[0])

    def cmd_postgap(self, args: list[str]) -> None:
        self.need(args, 1, "POSTGAP mm:ss:ff")
        track = self.current("POSTGAP")
        if 1 not in track.indexes:
            raise self.fail("POSTGAP before INDEX 01")
        track.postgap = self.time(args[0])

    def cmd_flags(self, args: list[str]) -> None:
        track = self.current("FLAGS")
        unknown = [a for a in args if a.upper() not in _FLAGS]
        if unknown:
            raise self.fail(f"unknown flag {unknown[0]!r} (DCP, 4CH, PRE, SCMS)")
        track.flags = {a.upper() for a in args}

    def cmd_isrc(self, args: list[str]) -> None:
        self.need(args, 1, "ISRC CCOOOYYSSSSS")
        track = self.current("ISRC")
        code = args[0].upper()
        if not _ISRC.match(code):
            raise self.fail(f"ISRC {args[0]!r} is not 5 letters/digits and 7 digits")
        track.isrc = code

    def _text(self, args: list[str], what: str) -> str:
        if len(args) != 1:
            raise self.fail(f'expected {what} "text"')
        return args[0]

    def cmd_title(self, args: list[str]) -> None:
        text = self._text(args, "TITLE")
        if self.track is None:
            self.sheet.title = text
        else:
            self.track.title = text

    def cmd_performer(self, args: list[str]) -> None:
        text = self._text(args, "PERFORMER")
        if self.track is None:
            self.sheet.performer = text
        else:
            self.track.performer = text

    def cmd_songwriter(self, args: list[str]) -> None:
        text = self._text(args, "SONGWRITER")
        if self.track is None:
            self.sheet.songwriter = text
        else:
            self.track.songwriter = text


def _byte_offset(tracks: list[_Track], track: _Track, frame: int) -> int:
    """Byte offset of ``frame`` (a time in the file) in ``track``'s file.

    Tracks sharing a file may store sectors of different sizes, so the
    offset is summed track by track from the start of the file.
    """
    same = [t for t in tracks if t.file is track.file]
    offset = track.file.data_offset
    prev_frame, prev_size = 0, same[0].mode.stored_size
    for t in same[: same.index(track) + 1]:
        first = min(t.indexes.values()) if t.indexes else frame
        offset += (first - prev_frame) * prev_size
        prev_frame, prev_size = first, t.mode.stored_size
    return offset + (frame - prev_frame) * prev_size


def _layout(sheet: _Sheet) -> Disc:
    """Give every track its LBAs and every sector its place in a file."""
    tracks = sheet.tracks
    extents: list[Extent] = []
    built: list[list[Track]] = [[]]
    leadouts: list[int] = []
    lba = 0
    first_session = tracks[0].session
    for i, t in enumerate(tracks):
        if t.session != (built_session := first_session + len(built) - 1):
            leadouts.append(lba)
            lba += FIRST_LEADOUT_LENGTH if built_session == 1 else NEXT_LEADOUT_LENGTH
            lba += LEADIN_LENGTH
            if t.pregap == 0 and 0 not in t.indexes:
                t.pregap = DEFAULT_PREGAP
            built.append([])
        first_frame = min(t.indexes.values())
        start_offset = _byte_offset(tracks, t, first_frame)
        size = t.mode.stored_size
        nxt = tracks[i + 1] if i + 1 < len(tracks) else None
        if nxt is not None and nxt.file is t.file:
            frames_in_file = min(nxt.indexes.values()) - first_frame
        else:
            remaining = t.file.data_offset + t.file.data_length - start_offset
            frames_in_file = -(-remaining // size)
            short = -remaining % size
            if short and t.file.kind != "WAVE":
                raise ImageError(
                    sheet.path,
                    f"line {t.line}",
                    f"{t.file.path} ends {short} bytes short of track {t.number}'s last "
                    f"{size}-byte sector ({remaining} bytes from the track's start)",
                )
        if frames_in_file <= 0:
            raise ImageError(
                sheet.path, f"line {t.line}", f"track {t.number} has no sectors in its file"
            )
        if i == 0:
            # Track 1: INDEX 01 is LBA 0; a pregap before it is not addressable.
            pregap_frames = t.indexes[1] - first_frame
            lba = -pregap_frames
            t.pregap = 0
        pregap_lba = lba
        if t.pregap:
            extents.append(Extent(lba, t.pregap, t.mode))
            lba += t.pregap
        swap = t.file.kind == "MOTOROLA"
        extents.append(
            Extent(lba, frames_in_file, t.mode, t.file.path, start_offset, swap, t.file.kind)
        )
        index_lbas = tuple(lba + (f - first_frame) for n, f in sorted(t.indexes.items()) if n >= 1)
        lba += frames_in_file
        if t.postgap:
            extents.append(Extent(lba, t.postgap, t.mode))
            lba += t.postgap
        built[-1].append(
            Track(
                number=t.number,
                session=len(built),
                mode=t.mode,
                start=index_lbas[0],
                end=lba,
                pregap=max(pregap_lba, 0),
                indexes=index_lbas,
                dcp="DCP" in t.flags,
                four_channel="4CH" in t.flags,
                pre_emphasis="PRE" in t.flags,
                scms="SCMS" in t.flags,
                isrc=t.isrc,
                title=t.title,
                performer=t.performer,
                songwriter=t.songwriter,
                generated_pregap=t.pregap,
                postgap=t.postgap,
            )
        )
    leadouts.append(lba)
    sessions = tuple(Session(n + 1, tuple(ts), leadouts[n]) for n, ts in enumerate(built))
    return Disc(
        sheet.path,
        "cue",
        sessions,
        tuple(e for e in extents if e.end > 0),
        catalog=sheet.catalog,
        title=sheet.title,
        performer=sheet.performer,
        songwriter=sheet.songwriter,
        cdtext_packs=sheet.cdtext,
    )


def parse_cue(path: Path, text: str, allowed_roots: Sequence[Path] | None = None) -> Disc:
    """The disc a sheet describes (files are checked but not opened).

    Every file the sheet names must resolve, symbolic links followed,
    inside one of ``allowed_roots`` (by default the sheet's own folder).
    """
    return _layout(_Parser(path, allowed_roots).parse(text))


def load_cue(path: Path, allowed_roots: Sequence[Path] | None = None) -> Disc:
    """Read a CUE sheet and the files it names; the disc comes back open."""
    raw = read_small_file(path, _MAX_SHEET, "a CUE sheet")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("latin-1")
    disc = parse_cue(path, text, allowed_roots)
    return disc.open_for(path)
