"""TapeAlert of the medium changer: the library's own flags (SMC-3 5.x, TapeAlert log page).

Theory of operation
-------------------
A library's changer has TapeAlert flags of its own, numbered like a
drive's (01h-40h) but with the library's meanings (the TapeAlert
specification's media changer flags, which SMC-3 refers to and library
SCSI references list: IBM TS3500/TS4300, Quantum Scalar i, Oracle SL150,
HPE MSL). The host reads them in the TapeAlert log page (2Eh, the
layout of :func:`devemu.tape.tapealert.tapealert_log_page`). SMC-3
defines no TapeAlert Supported Flags VPD page and no TapeAlert Response
log page for a changer: the libraries answer 00h and 2Eh (Oracle SL150
Interface Reference, LOG SENSE), and so does this one.

The flags this library raises are conditions that last, each set while
its condition holds (the libraries' manuals: "internally cleared when
the door is closed"): the log page shows a flag while its condition
holds and, if the host has not read the page since the flag was raised,
after the condition ended until it does (SSC-5 4.2's rule: reading
clears). A flag is raised (and an informational exception
reported as page 1Ch says, :mod:`devemu.scsi.informational_exceptions`)
when its condition begins.

=====  ======================  =========================================================
flag   name                    raised while
=====  ======================  =========================================================
10h    Library Door            the library's door is open (``devemu fault LIB door-open``):
                               media cannot be moved
16h    Library Drive Offline   a drive of the library is offline (``devemu fault DRIVE
                               offline``)
=====  ======================  =========================================================
"""

from __future__ import annotations

from enum import IntEnum


class LibraryTapeAlertFlag(IntEnum):
    """The TapeAlert flags a media changer raises (TapeAlert media changer flags)."""

    LIBRARY_DOOR = 0x10
    LIBRARY_DRIVE_OFFLINE = 0x16


#: When each flag is raised (the changer's code is the authority; this is its index).
FLAG_CAUSES: dict[LibraryTapeAlertFlag, str] = {
    LibraryTapeAlertFlag.LIBRARY_DOOR: "the library's door is open (door-open fault)",
    LibraryTapeAlertFlag.LIBRARY_DRIVE_OFFLINE: "a drive of the library is offline",
}
