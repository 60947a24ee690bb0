"""Where SPACE and LOCATE leave the tape, as pure functions, SSC-5 4.2 and 7.

A partition is a run of logical objects numbered from 0 (BOP): data blocks
and filemarks, then end of data (EOD) at ``eod`` = the number of objects.
A position is the number of the object the next READ would return, so
position ``eod`` is where the next WRITE lands.

Each function returns a :class:`Motion`: the new position, why the motion
stopped early (if it did) and the residual ``requested - actual`` count
that goes in the INFORMATION field (SSC-5 7.x SPACE: negative when the
requested count was negative, so a backwards SPACE stopped two short
reports -2).

- spacing forward over blocks stops *after* a filemark (FILEMARK) and at
  EOD (BLANK CHECK); backwards it stops *before* a filemark, i.e. on its
  BOP side, and at BOP (EOM, BEGINNING-OF-PARTITION/MEDIUM DETECTED);
- spacing over filemarks forwards ends after the n-th one, backwards on
  the BOP side of it; running into EOD or BOP stops early;
- LOCATE to an object or file past EOD ends at EOD (BLANK CHECK).
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass
from enum import Enum
from typing import Protocol


class Stop(Enum):
    """Why a motion ended before its count ran out."""

    NONE = "none"
    FILEMARK = "filemark"
    EOD = "end of data"
    BOP = "beginning of partition"


@dataclass(frozen=True, slots=True)
class Motion:
    position: int
    stop: Stop = Stop.NONE
    residual: int = 0


class TapeMap(Protocol):
    """What positioning needs from a partition: its end and its filemarks."""

    @property
    def eod(self) -> int: ...

    filemarks: list[int]


def space_blocks(part: TapeMap, position: int, count: int) -> Motion:
    """SPACE over ``count`` logical blocks (negative: towards BOP)."""
    fms = part.filemarks
    if count >= 0:
        i = bisect_left(fms, position)
        if i < len(fms) and fms[i] < position + count:
            done = fms[i] - position
            return Motion(fms[i] + 1, Stop.FILEMARK, count - done)
        if position + count > part.eod:
            return Motion(part.eod, Stop.EOD, count - (part.eod - position))
        return Motion(position + count)
    want = -count
    i = bisect_left(fms, position) - 1
    if i >= 0 and fms[i] >= position - want:
        done = position - 1 - fms[i]
        return Motion(fms[i], Stop.FILEMARK, count + done)
    if position - want < 0:
        return Motion(0, Stop.BOP, count + position)
    return Motion(position - want)


def space_filemarks(part: TapeMap, position: int, count: int) -> Motion:
    """SPACE over ``count`` filemarks (negative: towards BOP)."""
    fms = part.filemarks
    before = bisect_left(fms, position)
    if count >= 0:
        target = before + count - 1
        if count == 0:
            return Motion(position)
        if target < len(fms):
            return Motion(fms[target] + 1)
        return Motion(part.eod, Stop.EOD, count - (len(fms) - before))
    target = before + count
    if target >= 0:
        return Motion(fms[target])
    return Motion(0, Stop.BOP, count + before)


def space_sequential_filemarks(part: TapeMap, position: int, count: int) -> Motion:
    """SPACE to the first run of ``count`` adjacent filemarks, forwards only.

    The position ends after the run; no run before EOD ends at EOD.
    """
    if count == 0:
        return Motion(position)
    fms = part.filemarks
    i = bisect_left(fms, position)
    run = 0
    for j in range(i, len(fms)):
        run = run + 1 if run and fms[j] == fms[j - 1] + 1 else 1
        if run == count:
            return Motion(fms[j] + 1)
    return Motion(part.eod, Stop.EOD, count)


def space_to_eod(part: TapeMap) -> Motion:
    return Motion(part.eod)


def locate_object(part: TapeMap, target: int) -> Motion:
    """LOCATE to logical object ``target`` (SSC-5 7.3, DEST_TYPE 000b)."""
    if target > part.eod:
        return Motion(part.eod, Stop.EOD)
    return Motion(target)


def locate_file(part: TapeMap, file_number: int) -> Motion:
    """LOCATE to the start of logical file ``file_number`` (DEST_TYPE 001b).

    File 0 starts at BOP; file n just after the n-th filemark.
    """
    if file_number == 0:
        return Motion(0)
    fms = part.filemarks
    if file_number <= len(fms):
        return Motion(fms[file_number - 1] + 1)
    return Motion(part.eod, Stop.EOD)
