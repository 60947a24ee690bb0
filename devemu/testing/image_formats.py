"""Writers of NRG, MDS/MDF, CloneCD and cdrdao TOC images from a disc description.

Test fixtures are built here from the published descriptions of each
format (see the loaders :mod:`devemu.cdrom.nrg`, :mod:`devemu.cdrom.mds`,
:mod:`devemu.cdrom.ccd`, :mod:`devemu.cdrom.cdrdao_toc`), never taken from
elsewhere. A :class:`DiscSpec` is sessions of Mode 1 data and audio
tracks; :func:`plan` gives every track its addresses by the rules of
MMC-6 4.2.3 (track 1 at LBA 0, a session after the lead-out and lead-in
of the one before), and :meth:`Layout.raw_sector` the 2352 bytes each
sector must read back as, :meth:`Layout.subchannel` the 96 interleaved
P-W bytes a writer stores for it (its real Q, and R-W bits that tell one
sector from another, so that a test sees stored bytes, not generated ones).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path

from devemu.cdrom import ccd, cdrdao_toc, mds, nrg
from devemu.cdrom.disc import (
    DEFAULT_PREGAP,
    FIRST_LEADOUT_LENGTH,
    LEADIN_LENGTH,
    NEXT_LEADOUT_LENGTH,
    TrackMode,
)
from devemu.cdrom.msf import lba_to_msf, to_bcd
from devemu.cdrom.sector import mode1_sector
from devemu.cdrom.subchannel import deinterleave, q_subchannel

RAW = 2352
USER = 2048


@dataclass(frozen=True)
class TrackSpec:
    """A track: ``AUDIO`` (``data`` is 2352-byte sectors of little-endian PCM) or
    ``MODE1_2048`` (``data`` is 2048-byte user data sectors); ``pregap``
    sectors of silence or empty data come before its index 1."""

    mode: TrackMode
    data: bytes
    pregap: int = DEFAULT_PREGAP
    isrc: str | None = None

    @property
    def sectors(self) -> int:
        return len(self.data) // (RAW if self.mode.is_audio else USER)


@dataclass(frozen=True)
class DiscSpec:
    sessions: tuple[tuple[TrackSpec, ...], ...]
    catalog: str | None = None


@dataclass(frozen=True)
class PlacedTrack:
    number: int
    session: int
    spec: TrackSpec
    pregap: int  # LBA of index 0 (negative for track 1)
    start: int  # LBA of index 1
    end: int

    @property
    def control(self) -> int:
        return 0 if self.spec.mode.is_audio else 0x04

    @property
    def adr_control(self) -> int:
        """The ADR/CONTROL byte of a Q sub-channel frame: CONTROL high, ADR 1 low."""
        return (self.control << 4) | 1


@dataclass(frozen=True)
class Layout:
    spec: DiscSpec
    tracks: tuple[PlacedTrack, ...]
    leadouts: tuple[int, ...]

    def session_tracks(self, session: int) -> list[PlacedTrack]:
        return [t for t in self.tracks if t.session == session]

    def track_at(self, lba: int) -> PlacedTrack:
        return next(t for t in self.tracks if t.pregap <= lba < t.end)

    def raw_sector(self, lba: int) -> bytes:
        """The 2352 bytes of sector ``lba`` as the disc holds it."""
        t = self.track_at(lba)
        i = lba - t.start
        if t.spec.mode.is_audio:
            return t.spec.data[i * RAW : (i + 1) * RAW] if i >= 0 else bytes(RAW)
        user = t.spec.data[i * USER : (i + 1) * USER] if i >= 0 else bytes(USER)
        return bytes(mode1_sector(lba, user))

    def user_sector(self, lba: int) -> bytes:
        """What a writer of cooked sectors stores: 2048 user bytes, or 2352 of audio."""
        t = self.track_at(lba)
        raw = self.raw_sector(lba)
        return raw if t.spec.mode.is_audio else raw[16:2064]

    def subchannel(self, lba: int) -> bytes:
        """96 interleaved P-W bytes: the sector's Q, a pause flag in P, a pattern in R-W."""
        t = self.track_at(lba)
        index = 0 if lba < t.start else 1
        q = q_subchannel(t.control, t.number, index, abs(lba - t.start), lba)
        bits = int.from_bytes(q, "big")
        p = 0x80 if index == 0 else 0
        return bytes(
            p | (((bits >> (95 - i)) & 1) << 6) | ((lba * 7 + i) & 0x3F) for i in range(96)
        )

    def sectors(self, first: int, end: int, *, cooked: bool, sub: bool) -> bytes:
        out = bytearray()
        for lba in range(first, end):
            out += self.user_sector(lba) if cooked else self.raw_sector(lba)
            if sub:
                out += self.subchannel(lba)
        return bytes(out)


def plan(spec: DiscSpec) -> Layout:
    """Every track's addresses (MMC-6 4.2.3)."""
    tracks: list[PlacedTrack] = []
    leadouts: list[int] = []
    lba = 0
    number = 1
    for s, session in enumerate(spec.sessions, 1):
        if s > 1:
            lba += (FIRST_LEADOUT_LENGTH if s == 2 else NEXT_LEADOUT_LENGTH) + LEADIN_LENGTH
        for i, t in enumerate(session):
            if s == 1 and i == 0:
                pregap, start = -t.pregap, 0
            else:
                pregap, start = lba, lba + t.pregap
            end = start + t.sectors
            tracks.append(PlacedTrack(number, s, t, pregap, start, end))
            number += 1
            lba = end
        leadouts.append(lba)
    return Layout(spec, tuple(tracks), tuple(leadouts))


# --- Nero NRG --------------------------------------------------------------------------------


def write_nrg(
    spec: DiscSpec,
    path: Path,
    *,
    version: int = 2,
    raw: bool = False,
    sub: bool = False,
    tao: bool = False,
    cdtext: bytes | None = None,
) -> Layout:
    """A disc-at-once NRG: every track from its index 0 in the file, as Nero writes it
    (track 1's 150-sector pregap at the start of the file).

    Data tracks are stored as 2048-byte user data, or raw (``raw``) with
    the sub-channel (``sub``); audio as 2352 bytes, or 2448 with ``sub``.
    ``tao`` writes track-at-once sessions instead (``ETNF``/``ETN2``: only
    the tracks from index 1, their pregaps generated). ``cdtext`` packs go
    in a ``CDTX`` chunk.
    """
    if tao:
        return _write_nrg_tao(spec, path, version=version)
    layout = plan(spec)
    wide = version == 2
    body = bytearray()
    chunks = bytearray()
    for s in range(1, len(spec.sessions) + 1):
        tracks = layout.session_tracks(s)
        cues = bytearray()
        first = tracks[0]
        cues += _cue_point(first.adr_control, 0, 0, first.pregap, wide)
        blocks = bytearray()
        for t in tracks:
            audio = t.spec.mode.is_audio
            mode = (
                TrackMode.AUDIO
                if audio
                else (TrackMode.MODE1_2352 if raw or sub else TrackMode.MODE1_2048)
            )
            code = nrg.CODES[(mode, sub and mode.stored_size == RAW)]
            size = nrg.MODES[code].sector_size
            stored_from = t.pregap  # index 0 on, track 1's two seconds included
            index0 = len(body)
            body += layout.sectors(stored_from, t.start, cooked=size == USER, sub=size > RAW)
            index1 = len(body)
            body += layout.sectors(t.start, t.end, cooked=size == USER, sub=size > RAW)
            end = len(body)
            cues += _cue_point(t.adr_control, t.number, 0, t.pregap, wide)
            cues += _cue_point(t.adr_control, t.number, 1, t.start, wide)
            isrc = (t.spec.isrc or "").encode().ljust(12, b"\0")
            fmt = nrg.DAO_TRACK_V2 if wide else nrg.DAO_TRACK_V1
            blocks += fmt.pack(isrc, size, code, index0, index1, end)
        cues += _cue_point(0x01, 0xAA, 1, layout.leadouts[s - 1], wide)
        chunks += _chunk(b"CUEX" if wide else b"CUES", bytes(cues))
        mcn = (spec.catalog or "").encode().ljust(13, b"\0")
        header = nrg.DAO_HEADER.pack(
            nrg.DAO_HEADER.size + len(blocks), mcn, 0, 0, 0, tracks[0].number, tracks[-1].number
        )
        chunks += _chunk(b"DAOX" if wide else b"DAOI", header + bytes(blocks))
    for s in range(1, len(spec.sessions) + 1):
        chunks += _chunk(b"SINF", nrg.SINF.pack(len(layout.session_tracks(s))))
    if cdtext is not None:
        chunks += _chunk(b"CDTX", cdtext)
    chunks += _chunk(b"MTYP", struct.pack(">I", 1))
    chunks += _chunk(b"END!", b"")
    first_chunk = len(body)
    footer = (
        nrg.V2_FOOTER + struct.pack(">Q", first_chunk)
        if wide
        else nrg.V1_FOOTER + struct.pack(">I", first_chunk)
    )
    path.write_bytes(bytes(body) + bytes(chunks) + footer)
    return layout


def _write_nrg_tao(spec: DiscSpec, path: Path, *, version: int) -> Layout:
    layout = plan(spec)
    wide = version == 2
    body = bytearray()
    chunks = bytearray()
    for s in range(1, len(spec.sessions) + 1):
        entries = bytearray()
        for t in layout.session_tracks(s):
            audio = t.spec.mode.is_audio
            code = nrg.CODES[(TrackMode.AUDIO if audio else TrackMode.MODE1_2048, False)]
            offset = len(body)
            body += layout.sectors(t.start, t.end, cooked=True, sub=False)
            fmt = nrg.ETN_V2 if wide else nrg.ETN_V1
            entries += fmt.pack(offset, len(body) - offset, code, t.start, 0)
        chunks += _chunk(b"ETN2" if wide else b"ETNF", bytes(entries))
    for s in range(1, len(spec.sessions) + 1):
        chunks += _chunk(b"SINF", nrg.SINF.pack(len(layout.session_tracks(s))))
    chunks += _chunk(b"END!", b"")
    footer = (
        nrg.V2_FOOTER + struct.pack(">Q", len(body))
        if wide
        else nrg.V1_FOOTER + struct.pack(">I", len(body))
    )
    path.write_bytes(bytes(body) + bytes(chunks) + footer)
    return layout


def _chunk(name: bytes, body: bytes) -> bytes:
    return nrg.CHUNK_HEAD.pack(name, len(body)) + body


def _cue_point(adr_ctl: int, track: int, index: int, lba: int, wide: bool) -> bytes:
    number = track if track == 0xAA else to_bcd(track)
    if wide:
        return nrg.CUE_POINT.pack(adr_ctl, number, to_bcd(index), 0, lba)
    m, s, f = lba_to_msf(lba)
    return bytes((adr_ctl, number, to_bcd(index), 0, 0, m, s, f))


# --- Alcohol 120% MDS/MDF --------------------------------------------------------------------


def write_mds(
    spec: DiscSpec, path: Path, *, sub: bool = False, mdf_name: str = "*.mdf", wide: bool = False
) -> Layout:
    """An MDS descriptor and its MDF: raw 2352-byte sectors (2448 with ``sub``), no pregaps.

    ``mdf_name`` is the name the filename block holds (``*.mdf``: the
    descriptor's own name), in UTF-16 when ``wide``.
    """
    layout = plan(spec)
    mdf = bytearray()
    offsets: dict[int, int] = {}
    for t in layout.tracks:
        offsets[t.number] = len(mdf)
        mdf += layout.sectors(t.start, t.end, cooked=False, sub=sub)
    sessions = len(spec.sessions)
    sessions_at = mds.HEADER_SIZE
    header = bytearray(mds.HEADER_SIZE)
    mds.HEADER.pack_into(header, 0, mds.SIGNATURE, 1, 3, 0x00, sessions)
    mds.SESSIONS_OFFSET.pack_into(header, mds.SESSIONS_OFFSET_AT, sessions_at)
    tracks_at = sessions_at + sessions * mds.SESSION.size
    count = len(layout.tracks) + 3 * sessions
    extras_at = tracks_at + count * mds.TRACK.size
    filename_at = extras_at + len(layout.tracks) * mds.EXTRA.size
    name_at = filename_at + mds.FILENAME.size
    session_blocks = bytearray()
    track_blocks = bytearray()
    extras = bytearray()
    block = tracks_at
    for s in range(1, sessions + 1):
        tracks = layout.session_tracks(s)
        session_blocks += mds.SESSION.pack(
            tracks[0].pregap,
            layout.leadouts[s - 1],
            s,
            len(tracks) + 3,
            3,
            tracks[0].number,
            tracks[-1].number,
            0,
            block,
        )
        for point, pmin in ((0xA0, tracks[0].number), (0xA1, tracks[-1].number)):
            track_blocks += _mds_block(
                0, 0, 0x10 | tracks[0].control, point, (pmin, 0, 0), 0, 0, 0, 0, 0
            )
        lm, ls, lf = lba_to_msf(layout.leadouts[s - 1])
        track_blocks += _mds_block(
            0, 0, 0x10 | tracks[0].control, 0xA2, (lm, ls, lf), 0, 0, 0, 0, 0
        )
        for t in tracks:
            extra = extras_at + (t.number - 1) * mds.EXTRA.size
            pm, ps, pf = lba_to_msf(t.start)
            mode_byte = mds.MODE_BYTES[
                TrackMode.AUDIO if t.spec.mode.is_audio else TrackMode.MODE1_2352
            ]
            track_blocks += _mds_block(
                mode_byte,
                mds.SUBCHANNEL_PW if sub else 0,
                0x10 | t.control,
                t.number,
                (pm, ps, pf),
                extra,
                RAW + 96 if sub else RAW,
                t.start,
                offsets[t.number],
                filename_at,
            )
            extras += mds.EXTRA.pack(
                t.start - max(t.pregap, t.start - t.spec.pregap), t.end - t.start
            )
        block += (len(tracks) + 3) * mds.TRACK.size
    name = mdf_name.encode("utf-16-le") + b"\0\0" if wide else mdf_name.encode("latin-1") + b"\0"
    data = (
        bytes(header)
        + bytes(session_blocks)
        + bytes(track_blocks)
        + bytes(extras)
        + mds.FILENAME.pack(name_at, 1 if wide else 0)
        + name
    )
    path.write_bytes(data)
    target = path.with_suffix(".mdf") if mdf_name.startswith("*.") else path.parent / mdf_name
    target.write_bytes(bytes(mdf))
    return layout


def _mds_block(
    mode: int,
    sub: int,
    adr_ctl: int,
    point: int,
    pmsf: tuple[int, int, int],
    extra: int,
    size: int,
    start: int,
    offset: int,
    filename: int,
) -> bytes:
    return mds.TRACK.pack(
        mode,
        sub,
        adr_ctl,
        0,
        point,
        0,
        0,
        0,
        0,
        *pmsf,
        extra,
        size,
        start,
        offset,
        1 if point <= 99 else 0,
        filename,
    )


# --- CloneCD CCD/IMG/SUB ---------------------------------------------------------------------


def write_ccd(spec: DiscSpec, path: Path, *, sub: bool = True) -> Layout:
    """A CCD description, its IMG (raw sectors from each session's first index 1) and SUB."""
    layout = plan(spec)
    img = bytearray()
    subs = bytearray()
    entries: list[dict[str, int]] = []
    for s in range(1, len(spec.sessions) + 1):
        tracks = layout.session_tracks(s)
        first = tracks[0].start
        for lba in range(first, layout.leadouts[s - 1]):
            img += layout.raw_sector(lba)
            if sub:
                subs += deinterleave(layout.subchannel(lba))
        ctl = tracks[0].control
        entries.append(_entry(s, 0xA0, ctl, 4500 * tracks[0].number - 150))
        entries.append(_entry(s, 0xA1, ctl, 4500 * tracks[-1].number - 150))
        entries.append(_entry(s, 0xA2, ctl, layout.leadouts[s - 1]))
        entries += [_entry(s, t.number, t.control, t.start) for t in tracks]
    lines = ["[CloneCD]", "Version=3", "", "[Disc]", f"TocEntries={len(entries)}"]
    lines += [f"Sessions={len(spec.sessions)}", "DataTracksScrambled=0", "CDTextLength=0"]
    if spec.catalog:
        lines.append(f"CATALOG={spec.catalog}")
    lines.append("")
    for s in range(1, len(spec.sessions) + 1):
        lines += [f"[Session {s}]", "PreGapMode=1", "PreGapSubC=0", ""]
    for n, e in enumerate(entries):
        lines.append(f"[Entry {n}]")
        m, sec, f = lba_to_msf(e["PLBA"]) if e["PLBA"] >= -150 else (0, 0, 0)
        fields = {
            "Session": e["Session"],
            "Point": f"0x{e['Point']:02x}",
            "ADR": 1,
            "Control": e["Control"],
            "TrackNo": 0,
            "AMin": 0,
            "ASec": 0,
            "AFrame": 0,
            "ALBA": -150,
            "Zero": 0,
            "PMin": m,
            "PSec": sec,
            "PFrame": f,
            "PLBA": e["PLBA"],
        }
        lines += [f"{k}={v}" for k, v in fields.items()] + [""]
    for t in layout.tracks:
        lines += [f"[TRACK {t.number}]", f"MODE={ccd.MODE_NUMBERS[_raw_mode(t)]}"]
        if t.spec.isrc:
            lines.append(f"ISRC={t.spec.isrc}")
        if t.pregap >= 0 and t.pregap != t.start:
            lines.append(f"INDEX 0={t.pregap}")
        lines += [f"INDEX 1={t.start}", ""]
    path.write_text("\r\n".join(lines))
    path.with_suffix(".img").write_bytes(bytes(img))
    if sub:
        path.with_suffix(".sub").write_bytes(bytes(subs))
    return layout


def _entry(session: int, point: int, control: int, plba: int) -> dict[str, int]:
    return {"Session": session, "Point": point, "Control": control, "PLBA": plba}


def _raw_mode(t: PlacedTrack) -> TrackMode:
    return TrackMode.AUDIO if t.spec.mode.is_audio else TrackMode.MODE1_2352


# --- cdrdao TOC ------------------------------------------------------------------------------


def write_toc(spec: DiscSpec, path: Path) -> Layout:
    """A one-session TOC file: data tracks in ``NAME_dataN.bin`` (2048-byte sectors, DATAFILE),
    audio in one ``NAME_audio.bin`` of big-endian samples (FILE with start and length),
    pregaps after track 1 as PREGAP."""
    if len(spec.sessions) != 1:
        raise ValueError("a cdrdao TOC file holds one session")
    layout = plan(spec)
    audio = bytearray()
    lines = ["CD_ROM" if any(not t.mode.is_audio for t in spec.sessions[0]) else "CD_DA", ""]
    if spec.catalog:
        lines.append(f'CATALOG "{spec.catalog}"')
    lines += ["CD_TEXT {", "  LANGUAGE_MAP { 0 : EN }", '  LANGUAGE 0 { TITLE "devemu" }', "}", ""]
    for t in layout.tracks:
        mode = t.spec.mode
        lines.append(f"// track {t.number}")
        lines.append(f"TRACK {cdrdao_toc.MODE_NAMES[mode]}")
        if t.spec.isrc:
            lines.append(f'ISRC "{t.spec.isrc}"')
        if t.number > 1 and t.start > t.pregap:
            lines.append(f"PREGAP {_msf(t.start - t.pregap)}")
        if mode.is_audio:
            first = len(audio) // RAW
            swapped = bytearray(len(t.spec.data))
            swapped[0::2] = t.spec.data[1::2]
            swapped[1::2] = t.spec.data[0::2]
            audio += swapped
            lines.append(f'FILE "{path.stem}_audio.bin" {_msf(first)} {_msf(t.end - t.start)}')
        else:
            name = f"{path.stem}_data{t.number}.bin"
            (path.parent / name).write_bytes(t.spec.data)
            lines.append(f'DATAFILE "{name}" {_msf(t.end - t.start)}')
        lines.append("")
    if audio:
        (path.parent / f"{path.stem}_audio.bin").write_bytes(bytes(audio))
    path.write_text("\n".join(lines))
    return layout


def _msf(frames: int) -> str:
    return f"{frames // 4500:02d}:{frames // 75 % 60:02d}:{frames % 75:02d}"
