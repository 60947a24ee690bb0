"""CloneCD images: a ``.ccd`` description, the ``.img`` sectors and the ``.sub`` sub-channel.

The description is an INI file (as the published notes on CloneCD and
libmirage read it): ``[CloneCD]`` (``Version``), ``[Disc]``
(``TocEntries``, ``Sessions``, ``DataTracksScrambled``, ``CDTextLength``,
``CATALOG``), ``[Session N]`` (``PreGapMode``, ``PreGapSubC``), one
``[Entry N]`` per entry of the full TOC (``Session``, ``Point``, ``ADR``,
``Control``, ``TrackNo``, ``AMin``/``ASec``/``AFrame``/``ALBA``, ``Zero``,
``PMin``/``PSec``/``PFrame``/``PLBA``: the fields of READ TOC format 2,
MMC-6 6.26.3.4) and one ``[TRACK N]`` per track (``MODE`` 0 audio, 1 or
2, ``INDEX 0``, ``INDEX 1``... as LBAs, ``ISRC``). Numbers are decimal
or ``0x`` hexadecimal.

The IMG file, next to the description with the same name, holds every
track's 2352-byte raw sectors from its index 1 to the next TOC entry's
address (the next track's, or the session's lead-out), session after
session; so a track's pregap is in the file at the end of the track
before it, except the first pregap of each session. The SUB file, if
there is one, holds 96 sub-channel bytes for each IMG sector, channel by
channel (P, Q, ... W, 12 bytes each); READ CD returns them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devemu.cdrom.disc import DEFAULT_PREGAP, Disc, StoredSubchannel, TrackMode
from devemu.cdrom.image_layout import RAW_SECTOR, PlannedTrack, StoredRun, assemble, control_fits
from devemu.cdrom.named_files import NamedFiles
from devemu.errors import ImageError
from devemu.image_files import read_small_file

#: Largest description read (real ones are a few kB).
MAX_CCD = 1 << 20
SUB_SECTOR = 96
LEADOUT_POINT = 0xA2
MODES = {0: TrackMode.AUDIO, 1: TrackMode.MODE1_2352, 2: TrackMode.MODE2_2352}
#: The ``MODE`` of a ``[TRACK N]`` section, by track mode (for writers).
MODE_NUMBERS = {mode: n for n, mode in MODES.items()}
_SECTION = re.compile(r"^\[(.+)\]$")
_ENTRY_KEYS = ("Session", "Point", "ADR", "Control", "PLBA")


@dataclass
class _Section:
    name: str
    line: int
    values: dict[str, tuple[str, int]] = field(default_factory=dict)  # key -> (value, line)


class _Reader:
    def __init__(self, path: Path, roots: Sequence[Path] | None) -> None:
        self.path = path
        self.named = NamedFiles(path, roots)
        raw = read_small_file(path, MAX_CCD, "a CloneCD description")
        self.text = raw.decode("latin-1")
        self.sections: dict[str, _Section] = {}

    def fail(self, line: int, reason: str) -> ImageError:
        return ImageError(self.path, f"line {line}", reason)

    def parse(self) -> None:
        current: _Section | None = None
        for lineno, text in enumerate(self.text.splitlines(), 1):
            line = text.strip().lstrip("\ufeff")
            if not line or line.startswith(";"):
                continue
            m = _SECTION.match(line)
            if m:
                name = " ".join(m.group(1).split()).upper()
                if name in self.sections:
                    raise self.fail(lineno, f"section [{m.group(1)}] appears twice")
                current = self.sections[name] = _Section(name, lineno)
                continue
            if current is None:
                raise self.fail(lineno, "a value before any [section]")
            key, eq, value = line.partition("=")
            if not eq:
                raise self.fail(lineno, f"expected key=value, not {line!r}")
            current.values[" ".join(key.split()).upper()] = (value.strip(), lineno)

    def section(self, name: str, line: int = 1) -> _Section:
        found = self.sections.get(name.upper())
        if found is None:
            raise self.fail(line, f"no [{name}] section")
        return found

    def number(self, section: _Section, key: str, default: int | None = None) -> int:
        found = section.values.get(key.upper())
        if found is None:
            if default is not None:
                return default
            raise self.fail(section.line, f"[{section.name}] has no {key}")
        text, line = found
        if len(text) > 12:
            raise self.fail(line, f"{key}={text[:20]!r}... is too large a number")
        try:
            return int(text, 16) if text.lower().startswith("0x") else int(text, 10)
        except ValueError:
            raise self.fail(line, f"{key}={text!r} is not a number") from None

    def load(self) -> Disc:
        self.parse()
        self.section("CloneCD")
        disc = self.section("Disc")
        entries = self.number(disc, "TocEntries")
        sessions = self.number(disc, "Sessions")
        if self.number(disc, "DataTracksScrambled", 0):
            raise self.fail(disc.line, "scrambled data tracks are not supported")
        if not 1 <= sessions <= 99 or not 1 <= entries <= 1000:
            raise self.fail(disc.line, f"{sessions} sessions, {entries} TOC entries")
        catalog = disc.values.get("CATALOG")
        if catalog is not None and not (len(catalog[0]) == 13 and catalog[0].isdigit()):
            raise self.fail(catalog[1], f"CATALOG {catalog[0]!r} is not 13 digits")
        points: list[tuple[int, int, int, int, _Section]] = []  # session, point, control, LBA
        leadouts: dict[int, int] = {}
        for n in range(entries):
            entry = self.section(f"Entry {n}", disc.line)
            session, point, adr, control, plba = (self.number(entry, k) for k in _ENTRY_KEYS)
            if not 1 <= session <= sessions:
                raise self.fail(entry.line, f"[Entry {n}] is in session {session} of {sessions}")
            if adr != 1:
                continue  # B0h/C0h multisession pointers (ADR 5) say nothing the layout needs
            if point == LEADOUT_POINT:
                leadouts[session] = plba
            elif 1 <= point <= 99:
                points.append((session, point, control, plba, entry))
        points.sort(key=lambda p: p[3])
        if sorted(leadouts) != list(range(1, sessions + 1)):
            raise self.fail(
                disc.line, f"not every one of the {sessions} sessions has a lead-out entry"
            )
        img = self.named.sibling(".img", f"line {disc.line}")
        if img is None:
            raise self.fail(disc.line, f"no {self.path.stem}.img next to the description")
        sub = self.named.sibling(".sub", f"line {disc.line}")
        planned: list[PlannedTrack] = []
        file_at = 0  # sectors of the IMG before the current session's
        session_start = 0  # LBA of the current session's first index 1
        for i, (session, number, control, start, entry) in enumerate(points):
            track = self.sections.get(f"TRACK {number}")
            if track is None:
                raise self.fail(entry.line, f"track {number} has no [TRACK {number}] section")
            mode_number = self.number(track, "MODE")
            mode = MODES.get(mode_number)
            if mode is None:
                raise self.fail(track.line, f"[TRACK {number}] MODE={mode_number} is not 0, 1 or 2")
            if not control_fits(mode, control):
                raise self.fail(entry.line, f"Control={control} does not fit track {number}'s MODE")
            index1 = self.number(track, "INDEX 1", start)
            if index1 != start:
                raise self.fail(
                    track.line, f"[TRACK {number}] INDEX 1={index1}, its TOC entry {start}"
                )
            first_in_session = i == 0 or points[i - 1][0] != session
            default_pregap = 0 if i == 0 else start - DEFAULT_PREGAP
            pregap = self.number(track, "INDEX 0", default_pregap if first_in_session else start)
            nxt = points[i + 1] if i + 1 < len(points) else None
            same_session_next = nxt is not None and nxt[0] == session
            end = leadouts[session]
            if same_session_next and nxt is not None:
                next_track = self.sections.get(f"TRACK {nxt[1]}")
                if next_track is not None:
                    end = self.number(next_track, "INDEX 0", nxt[3])
            indexes: list[int] = []
            k = 2
            while f"INDEX {k}" in track.values:
                indexes.append(self.number(track, f"INDEX {k}"))
                k += 1
            isrc = track.values.get("ISRC")
            planned_track = PlannedTrack(
                number,
                session,
                mode,
                pregap,
                start,
                end,
                f"line {track.line}",
                control=control,
                indexes=tuple(indexes),
                isrc=isrc[0] if isrc else None,
            )
            if first_in_session:
                if i:
                    file_at += leadouts[points[i - 1][0]] - session_start
                session_start = start
            lo = max(pregap, session_start)
            if end > lo:
                planned_track.runs.append(
                    self.run(img, sub, lo, end - lo, file_at + lo - session_start)
                )
            planned.append(planned_track)
        if not planned:
            raise self.fail(disc.line, "no track entry")
        return assemble(
            self.path,
            "ccd",
            planned,
            [leadouts[s] for s in range(1, sessions + 1)],
            catalog=catalog[0] if catalog else None,
        )

    def run(self, img: Path, sub: Path | None, start: int, count: int, file_at: int) -> StoredRun:
        stored = (
            StoredSubchannel(sub, file_at * SUB_SECTOR, SUB_SECTOR, linear=True)
            if sub is not None
            else None
        )
        return StoredRun(
            start, count, img, file_at * RAW_SECTOR, file_type="IMG", subchannel=stored
        )


def load_ccd(path: Path, allowed_roots: Sequence[Path] | None = None) -> Disc:
    """The disc of a CloneCD description, its IMG and SUB (opened, ready to read)."""
    disc = _Reader(path, allowed_roots).load()
    return disc.open_for(path)
