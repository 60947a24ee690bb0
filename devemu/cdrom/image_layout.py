"""Checking and assembling the disc an image file lays out with explicit addresses.

NRG, MDS, CloneCD and cdrdao TOC files give each track's addresses (or
enough to compute them) and where its sectors lie in a file; the loaders
turn what they read into :class:`PlannedTrack` values and :func:`assemble`
checks them against each other and against the files, and builds the
:class:`~devemu.cdrom.disc.Disc`:

- tracks in order, numbered one after the other, sessions from 1 without
  a gap, each track's index 0 <= index 1 < end, its later indexes in order
  inside it, no track overlapping the one before or running past its
  session's lead-out, a later session starting after the lead-out of the
  one before (MMC-6 4.2.3);
- every stored run of sectors inside its track, in a file that holds all
  of it (and its sub-channel), the runs not overlapping;
- sectors of a track no file holds (a pregap the image does not store)
  are generated: silence or empty data sectors of the track's mode.

A failure is an :class:`~devemu.errors.ImageError` naming the image and
the place the loader gave for the track.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devemu.cdrom.disc import Disc, Extent, Session, StoredSubchannel, Track, TrackMode
from devemu.errors import ImageError

#: The raw sector sizes an image may store: the 2352 bytes of ECMA-130, 2448 with 96 of P-W.
RAW_SECTOR = 2352
RAW_WITH_SUBCHANNEL = RAW_SECTOR + 96


@dataclass(frozen=True)
class StoredRun:
    """``count`` sectors from LBA ``start`` at ``offset`` of ``path``, ``stride`` bytes apart."""

    start: int
    count: int
    path: Path
    offset: int
    stride: int = 0
    swap: bool = False
    file_type: str = "BINARY"
    subchannel: StoredSubchannel | None = None


@dataclass
class PlannedTrack:
    """A track as an image describes it, before it is checked.

    ``pregap`` is the LBA of index 0, ``start`` of index 1, ``end`` the
    first LBA after the track; ``indexes`` the LBAs of index 2 onwards;
    ``control`` the Q sub-channel CONTROL nibble (ECMA-130 22.3.1).
    ``where`` names the place in the image file that describes the track.
    """

    number: int
    session: int
    mode: TrackMode
    pregap: int
    start: int
    end: int
    where: str
    control: int = 0
    indexes: tuple[int, ...] = ()
    isrc: str | None = None
    runs: list[StoredRun] = field(default_factory=list)


def control_fits(mode: TrackMode, control: int) -> bool:
    """Whether the CONTROL data bit (04h) agrees with the track's mode."""
    return bool(control & 0x04) == (not mode.is_audio)


def assemble(
    path: Path,
    kind: str,
    planned: Sequence[PlannedTrack],
    leadouts: Sequence[int],
    *,
    catalog: str | None = None,
    cdtext: bytes | None = None,
    file_sizes: dict[Path, int] | None = None,
) -> Disc:
    """The disc ``planned`` lays out, every check above made; not yet opened.

    ``leadouts`` holds the LBA of each session's lead-out, session 1 first.
    """
    sizes = dict(file_sizes or {})

    def size_of(p: Path) -> int:
        if p not in sizes:
            try:
                sizes[p] = p.stat().st_size
            except OSError as err:
                raise ImageError(path, None, f"cannot open {p}: {err.strerror}") from None
        return sizes[p]

    if not planned:
        raise ImageError(path, None, "the image holds no track")
    if len(leadouts) != planned[-1].session:
        raise ImageError(
            path, None, f"{planned[-1].session} sessions but {len(leadouts)} lead-outs"
        )
    extents: list[Extent] = []
    built: list[list[Track]] = []
    prev: PlannedTrack | None = None
    for t in planned:

        def fail(reason: str, t: PlannedTrack = t) -> ImageError:
            return ImageError(path, t.where, f"track {t.number}: {reason}")

        if not 1 <= t.number <= 99:
            raise ImageError(path, t.where, f"track number {t.number} is not 1 to 99")
        if prev is not None and t.number != prev.number + 1:
            raise fail(f"follows track {prev.number}")
        before = prev.session if prev is not None else 0
        if t.session not in (before, before + 1) or (prev is None and t.session != 1):
            raise fail(f"is in session {t.session} after session {before}")
        if not t.pregap <= t.start < t.end:
            raise fail(
                f"index 0 at {t.pregap}, index 1 at {t.start}, end at {t.end} are not in order"
            )
        if t.end > 450000:
            raise fail(f"ends at LBA {t.end}, past the largest CD")
        if any(not a < b for a, b in zip((t.start, *t.indexes), t.indexes, strict=False)) or (
            t.indexes and t.indexes[-1] >= t.end
        ):
            raise fail("its indexes are not in order inside the track")
        leadout = leadouts[t.session - 1]
        if t.end > leadout:
            raise fail(f"ends at {t.end}, past its session's lead-out at {leadout}")
        if prev is not None:
            floor = prev.end if prev.session == t.session else leadouts[prev.session - 1]
            if t.pregap < floor:
                raise fail(f"starts at {t.pregap}, before {floor} where the disc before it ends")
        if t.session > len(built):
            built.append([])
        track_extents, generated = _track_extents(t, size_of, fail)
        extents += track_extents
        visible = max(t.pregap, 0)
        built[-1].append(
            Track(
                number=t.number,
                session=t.session,
                mode=t.mode,
                start=t.start,
                end=t.end,
                pregap=visible,
                indexes=(t.start, *t.indexes),
                dcp=bool(t.control & 0x02),
                four_channel=bool(t.control & 0x08),
                pre_emphasis=bool(t.control & 0x01),
                isrc=t.isrc,
                generated_pregap=generated,
            )
        )
        prev = t
    for n, (tracks, leadout) in enumerate(zip(built, leadouts, strict=True), 1):
        if tracks[-1].end != leadout:
            raise ImageError(
                path,
                planned[[p.number for p in planned].index(tracks[-1].number)].where,
                f"session {n}'s last track ends at {tracks[-1].end} "
                f"but its lead-out is at {leadout}",
            )
    sessions = tuple(Session(n, tuple(ts), leadouts[n - 1]) for n, ts in enumerate(built, 1))
    return Disc(
        path,
        kind,
        sessions,
        tuple(e for e in extents if e.end > 0),
        catalog=catalog,
        cdtext_packs=cdtext,
    )


def _track_extents(
    t: PlannedTrack, size_of: Callable[[Path], int], fail: Callable[[str], ImageError]
) -> tuple[list[Extent], int]:
    """The extents of one track (its stored runs, generated sectors between them) and
    how many generated sectors lie in its visible pregap."""
    out: list[Extent] = []
    at = t.pregap
    for run in sorted(t.runs, key=lambda r: r.start):
        if run.count <= 0:
            raise fail("a stored run of sectors is empty")
        if run.start < at:
            raise fail(f"stored sectors at {run.start} overlap the sectors before them")
        if run.start + run.count > t.end:
            raise fail(
                f"{run.count} stored sectors from {run.start} run past the track's end at {t.end}"
            )
        stride = run.stride
        if stride and (t.mode.stored_size != RAW_SECTOR or stride < RAW_SECTOR):
            raise fail(f"{stride}-byte sectors cannot hold {t.mode.label} sectors")
        size = stride or t.mode.stored_size
        need = run.offset + run.count * size
        have = size_of(run.path)
        if run.offset < 0 or need > have:
            raise fail(
                f"{run.path} holds {have} bytes, but the track's {run.count} sectors of {size} "
                f"bytes from offset {run.offset} need {need}"
            )
        sub = run.subchannel
        if sub is not None:
            sub_need = sub.offset + (run.count - 1) * sub.stride + 96
            sub_have = size_of(sub.path)
            if sub_need > sub_have:
                raise fail(
                    f"{sub.path} holds {sub_have} bytes, "
                    f"but the track's sub-channel needs {sub_need}"
                )
        if run.start > at:
            out.append(Extent(at, run.start - at, t.mode))
        out.append(
            Extent(
                run.start,
                run.count,
                t.mode,
                run.path,
                run.offset,
                run.swap,
                run.file_type,
                stride,
                sub,
            )
        )
        at = run.start + run.count
    if at < t.end:
        out.append(Extent(at, t.end - at, t.mode))
    lo = max(t.pregap, 0)
    generated = sum(max(0, min(e.end, t.start) - max(e.start, lo)) for e in out if e.path is None)
    return out, generated
