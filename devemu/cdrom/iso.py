"""ISO 9660 images: 2048-byte user data sectors, one data track.

An ISO image is the user data of a single Mode 1 track (ECMA-119 on
ECMA-130), or of a DVD or BD with the same 2048-byte logical blocks.
pycdlib reads its volume descriptors and directory tree, which both
checks the image and tells the volume label and which extensions are
present (Joliet, Rock Ridge, UDF, El Torito).
"""

from __future__ import annotations

from pathlib import Path

from devemu.cdrom.disc import Disc, Extent, IsoInfo, Session, Track, TrackMode
from devemu.errors import ImageError

SECTOR = 2048
#: The first volume descriptor sits at sector 16 (ECMA-119 6.2.1).
VOLUME_DESCRIPTORS = 16 * SECTOR


def probe_iso(path: Path) -> IsoInfo:
    """Read the volume descriptors of an ISO 9660 image with pycdlib."""
    # Imported on first use: a drive without a disc (and the daemon's start) does without.
    import pycdlib  # noqa: PLC0415
    from pycdlib.pycdlibexception import PyCdlibException  # noqa: PLC0415

    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(path))
    except PyCdlibException as err:
        raise ImageError(
            path, f"offset 0x{VOLUME_DESCRIPTORS:x}", f"not an ISO 9660 image: {err}"
        ) from None
    try:
        label = iso.pvd.volume_identifier.decode("ascii", "replace").rstrip(" \0")
        return IsoInfo(
            label=label,
            joliet=iso.has_joliet(),
            rock_ridge=iso.has_rock_ridge(),
            udf=iso.has_udf(),
            el_torito=iso.eltorito_boot_catalog is not None,
        )
    finally:
        iso.close()


def load_iso(path: Path) -> Disc:
    """A one-track disc from an ISO 9660 image file (opened, ready to read)."""
    try:
        size = path.stat().st_size
    except OSError as err:
        raise ImageError(path, None, f"cannot open: {err.strerror}") from None
    if size == 0 or size % SECTOR:
        raise ImageError(
            path, f"offset 0x{size:x}", f"size {size} is not a whole number of 2048-byte sectors"
        )
    info = probe_iso(path)
    sectors = size // SECTOR
    track = Track(1, 1, TrackMode.MODE1_2048, start=0, end=sectors, pregap=0, indexes=(0,))
    extent = Extent(0, sectors, TrackMode.MODE1_2048, path, 0)
    disc = Disc(path, "iso", (Session(1, (track,), sectors),), (extent,), iso=info)
    return disc.open()
