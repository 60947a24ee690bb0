"""ISO 9660 images: 2048-byte user data sectors, one data track.

An ISO image is the user data of a single Mode 1 track (ECMA-119 on
ECMA-130), or of a DVD or BD with the same 2048-byte logical blocks.
pycdlib reads its volume descriptors and directory tree, which both
checks the image and tells the volume label and which extensions are
present (Joliet, Rock Ridge, UDF, El Torito).
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from devemu.cdrom.disc import Disc, Extent, IsoInfo, Session, Track, TrackMode
from devemu.errors import ImageError
from devemu.image_files import regular_file

SECTOR = 2048
#: The first volume descriptor sits at sector 16 of a volume (ECMA-119 6.2.1).
DESCRIPTOR_SECTOR = 16
VOLUME_DESCRIPTORS = DESCRIPTOR_SECTOR * SECTOR
_PVD = f"offset 0x{VOLUME_DESCRIPTORS:x}"


def probe_iso(path: Path, size: int) -> IsoInfo:
    """Read the volume descriptors and directory tree of an ISO 9660 image with pycdlib.

    Whatever pycdlib raises on a damaged image (its own exception, but
    also struct.error, ValueError, KeyError, IndexError, ...) is an
    ImageError: an image is data, and no byte of it may end the caller.
    The volume space the primary volume descriptor declares (ECMA-119
    8.4.8 volume space size times 8.4.12 logical block size) must lie in
    the file: a file cut short would otherwise answer reads past its end.
    """
    # Imported on first use: a drive without a disc (and the daemon's start) does without.
    import pycdlib  # noqa: PLC0415

    iso = pycdlib.PyCdlib()
    try:
        iso.open(str(path))
    except RecursionError:
        raise ImageError(path, _PVD, "not an ISO 9660 image: directories nest too deep") from None
    except Exception as err:  # any failure of the parser is a bad image
        raise ImageError(path, _PVD, f"not an ISO 9660 image: {_one_line(err)}") from None
    try:
        pvd = iso.pvd
        volume = pvd.space_size * pvd.log_block_size
        if volume > size:
            raise ImageError(
                path,
                _PVD,
                f"the volume holds {volume} bytes ({pvd.space_size} blocks of "
                f"{pvd.log_block_size}) but the file only {size}: it is cut short",
            )
        label = volume_label(pvd.volume_identifier)
        joliet_vd = iso.joliet_vd
        joliet_label = None
        if joliet_vd is not None:
            joliet_label = joliet_volume_label(joliet_vd.volume_identifier)
        return IsoInfo(
            label=label,
            joliet=iso.has_joliet(),
            joliet_label=joliet_label,
            rock_ridge=iso.has_rock_ridge(),
            udf=iso.has_udf(),
            el_torito=iso.eltorito_boot_catalog is not None,
        )
    except ImageError:
        raise
    except Exception as err:  # any failure of the parser is a bad image
        raise ImageError(path, _PVD, f"not an ISO 9660 image: {_one_line(err)}") from None
    finally:
        with contextlib.suppress(Exception):
            iso.close()


def volume_label(identifier: bytes) -> str:
    """A primary volume descriptor's volume identifier (ECMA-119 8.4.6, d-characters
    padded with spaces) as text."""
    return identifier.decode("ascii", "replace").rstrip(" \0")


def joliet_volume_label(identifier: bytes) -> str:
    """A Joliet supplementary volume descriptor's volume identifier (ECMA-119 8.5.6,
    UCS-2 big-endian in Joliet) as text."""
    return identifier.decode("utf-16_be", "replace").rstrip(" \0")


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text[:200]


def load_iso(path: Path) -> Disc:
    """A one-track disc from an ISO 9660 image file (opened, ready to read)."""
    size = regular_file(path, "an ISO image").st_size
    if size == 0 or size % SECTOR:
        raise ImageError(
            path, f"offset 0x{size:x}", f"size {size} is not a whole number of 2048-byte sectors"
        )
    info = probe_iso(path, size)
    sectors = size // SECTOR
    track = Track(1, 1, TrackMode.MODE1_2048, start=0, end=sectors, pregap=0, indexes=(0,))
    extent = Extent(0, sectors, TrackMode.MODE1_2048, path, 0, file_type="ISO")
    disc = Disc(path, "iso", (Session(1, (track,), sectors),), (extent,), iso=info)
    try:
        return disc.open()
    except OSError as err:
        disc.close()
        raise ImageError(path, None, f"cannot open: {err.strerror}") from None
