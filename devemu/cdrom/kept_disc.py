"""A disc the drive recorded, read from the folder it is kept in: what ``devemu image info``
shows of it.

A DVD or BD recorded session after session (:mod:`devemu.cdrom.sequential`)
is kept as one ``disc.iso`` holding every session at its LBA. Read as a
plain ISO image, that file shows only its first session (the volume
descriptors at sector 16); the drive, and a restarted daemon, serve every
session from ``state.json``. So ``devemu image info`` of the folder, or of
its ``disc.iso`` with ``state.json`` beside it, reads the state too
(:func:`devemu.cdrom.recording.read_recording`, which opens and changes
nothing) and reports each session's start and length, and the volume each
session's descriptors name (ECMA-119 8.4, 8.5: the primary volume
descriptor's label and a Joliet supplementary one's, as cd-info reads them
from the drive).

Linux mounts the last session of a drive by itself (it asks the drive for
the last session's start, READ TOC format 0001b); a loop device has no
sessions, so the kernel's ``sbsector=N`` option names it: the ISO 9660
volume whose descriptors start at sector ``N + 16`` of the file (Linux
isofs, ``sbsector`` in 2048-byte blocks). Its directories address blocks
of the whole disc, which the loop device is, so the mount shows the last
session's tree as the drive does. The output says the command.

Why not one ISO file a session: a later session's volume is not a volume
of its own (growisofs and xorriso write only the new files and point at
the earlier sessions' blocks), so no single session can stand alone.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from construct import Bytes, Const, Int8ub, Int32ub, Int32ul, Struct

from devemu.cdrom.disc import Disc
from devemu.cdrom.image import load_image
from devemu.cdrom.iso import DESCRIPTOR_SECTOR, SECTOR, joliet_volume_label, volume_label
from devemu.cdrom.recording import CUE, ISO, STATE, Recording, disc_status_name, read_recording
from devemu.errors import ImageError
from devemu.image_files import regular_file

#: Volume descriptors a session may have before its terminator (a bound for hostile data).
MAX_DESCRIPTORS = 32
#: Volume descriptor types (ECMA-119 8.1.1): primary, supplementary, terminator.
PRIMARY = 1
SUPPLEMENTARY = 2
TERMINATOR = 255
#: Joliet's escape sequences of a supplementary descriptor: UCS-2 levels 1, 2 and 3.
JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")

#: ECMA-119 8.4 / 8.5: the head of a primary or supplementary volume descriptor, up to its
#: escape sequences (the system and volume identifiers, the volume space size both ways).
VolumeDescriptorHead = Struct(
    "type" / Int8ub,
    "standard_id" / Const(b"CD001"),
    "version" / Int8ub,
    "flags" / Int8ub,
    "system_id" / Bytes(32),
    "volume_id" / Bytes(32),
    "unused" / Bytes(8),
    "space_size_le" / Int32ul,
    "space_size_be" / Int32ub,
    "escape_sequences" / Bytes(32),
)


@dataclass(frozen=True, slots=True)
class SessionVolume:
    """The ISO 9660 volume a session's descriptors name."""

    label: str
    joliet_label: str | None
    blocks: int


def kept_folder(path: Path) -> Path | None:
    """The recording folder ``path`` names: the folder holding ``state.json``, or the
    ``disc.iso`` of one (None for any other image)."""
    if path.is_dir():
        return path if (path / STATE).is_file() else None
    if path.name == ISO and (path.parent / STATE).is_file():
        return path.parent
    return None


def volume_at(image: Path, start: int) -> SessionVolume | None:
    """The volume whose descriptor set starts at block ``start + 16`` of ``image``, None
    when no primary volume descriptor is there."""
    fd = os.open(image, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    try:
        label: str | None = None
        joliet: str | None = None
        blocks = 0
        for n in range(MAX_DESCRIPTORS):
            raw = os.pread(
                fd, VolumeDescriptorHead.sizeof(), (start + DESCRIPTOR_SECTOR + n) * SECTOR
            )
            if len(raw) < VolumeDescriptorHead.sizeof() or raw[1:6] != b"CD001":
                break
            head = VolumeDescriptorHead.parse(raw)
            if head.type == TERMINATOR:
                break
            if head.type == PRIMARY and label is None:
                label = volume_label(head.volume_id)
                blocks = head.space_size_le
            elif head.type == SUPPLEMENTARY and head.escape_sequences[:3] in JOLIET_ESCAPES:
                joliet = joliet_volume_label(head.volume_id)
    finally:
        os.close(fd)
    return None if label is None else SessionVolume(label, joliet, blocks)


def mount_command(image: Path, start: int) -> str:
    """The command that loop-mounts the session starting at ``start`` (Linux isofs)."""
    return f"mount -o loop,ro,sbsector={start} {image} MOUNTPOINT"


def load_kept(folder: Path) -> tuple[Recording, Disc]:
    """The recording of ``folder`` and its readable disc (opened, read only): a DVD or BD
    recorded sequentially from its state, any other from its kept image (``disc.iso``,
    else ``disc.cue``), which already tells every session."""
    rec = read_recording(folder)
    if not rec.tracks:
        return rec, rec.disc()
    if not rec.shared_file:
        iso = folder / ISO
        return rec, load_image(iso if iso.is_file() else folder / CUE)
    image = folder / ISO
    regular_file(image, "a kept disc image")
    try:
        return rec, rec.disc()
    except OSError as err:
        raise ImageError(image, None, f"cannot open: {err.strerror}") from None


def describe_kept(rec: Recording, disc: Disc) -> dict[str, Any]:
    """What the state adds to :func:`devemu.cdrom.image.describe`: the medium and its
    state, and for a disc kept as one ``disc.iso``, each session's start, length and
    volume and the command that mounts the last one."""
    out: dict[str, Any] = {
        "folder": str(rec.folder),
        "medium": rec.medium.label,
        "status": disc_status_name(rec),
    }
    if not rec.shared_file or not disc.sessions:
        return out
    sessions: list[dict[str, Any]] = []
    for s in disc.sessions:
        start = s.tracks[0].start
        volume = volume_at(rec.folder / ISO, start)
        sessions.append(
            {
                "number": s.number,
                "start": start,
                "length": s.tracks[-1].end - start,
                "volume": None
                if volume is None
                else {
                    "label": volume.label,
                    "joliet_label": volume.joliet_label,
                    "blocks": volume.blocks,
                },
            }
        )
    out["sessions"] = sessions
    out["mount_last_session"] = mount_command(rec.folder / ISO, int(sessions[-1]["start"]))
    return out


def kept_lines(kept: dict[str, Any]) -> list[str]:
    """The text form of :func:`describe_kept`."""
    lines = [f"  recorded {kept['medium']} ({kept['status']}), state in {kept['folder']}"]
    for s in kept.get("sessions", []):
        volume = s["volume"]
        if volume is None:
            what = "no ISO 9660 volume"
        else:
            joliet = volume["joliet_label"]
            shown = (
                f" (Joliet {joliet!r})" if joliet is not None and joliet != volume["label"] else ""
            )
            what = f"volume {volume['label']!r}{shown} of {volume['blocks']} blocks"
        lines.append(f"  session {s['number']}: start {s['start']}, length {s['length']}, {what}")
    if "mount_last_session" in kept:
        lines.append(f"  last session: {kept['mount_last_session']}")
    return lines
