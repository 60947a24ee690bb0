"""Informational exceptions: how a device reports a condition it has detected (SPC-5 5.x, 7.5).

Theory of operation
-------------------
A device that detects a condition worth telling the host about (a
TapeAlert flag raised: SSC-5 4.2, SMC-3 5.x) makes an *informational
exception*. The Informational Exceptions Control mode page (1Ch, SPC-5
7.5.10) says how it is reported. With DEXCPT set (the default, as tape
drives and libraries ship: the host polls TapeAlert) nothing more
happens. With DEXCPT clear, MRIE says how the device reports FAILURE
PREDICTION THRESHOLD EXCEEDED (5Dh/00h), once for each exception (REPORT
COUNT 0 and INTERVAL TIMER 0 read as "once"):

=====  ==========================================================
MRIE   report
=====  ==========================================================
0h     not at all
2h     UNIT ATTENTION
3h     RECOVERED ERROR, if the PER bit were set: these devices have
       no read-write error recovery page, so PER is zero: not at all
4h     RECOVERED ERROR on the next command that would end GOOD
5h     NO SENSE on the next command that would end GOOD
6h     only to REQUEST SENSE
=====  ==========================================================

:class:`InformationalExceptions` is the part of a device that does the
reporting: :meth:`~InformationalExceptions.informational_exception` when
one occurs, and :meth:`~InformationalExceptions.execute` puts a deferred
report (MRIE 4h-6h) on the command it belongs to. Nothing is added to a
command's path while no report waits.
"""

from __future__ import annotations

from devemu.scsi.command import Command, Deferred, Result, Status
from devemu.scsi.device import ScsiDevice
from devemu.scsi.mode_pages import ModePage
from devemu.scsi.opcodes import Opcode
from devemu.scsi.sense import SenseCode, SenseError, SenseKey

INFORMATIONAL_EXCEPTIONS_PAGE = 0x1C

#: SPC-5 annex D (ASC 5Dh): how an informational exception is reported.
FAILURE_PREDICTION_THRESHOLD_EXCEEDED = 0x5D, 0x00

MRIE_NONE = 0x0
MRIE_UNIT_ATTENTION = 0x2
MRIE_CONDITIONAL_RECOVERED_ERROR = 0x3
MRIE_RECOVERED_ERROR = 0x4
MRIE_NO_SENSE = 0x5
MRIE_ON_REQUEST = 0x6

#: The sense key each report carries.
_REPORT_KEY = {
    MRIE_UNIT_ATTENTION: SenseKey.UNIT_ATTENTION,
    MRIE_RECOVERED_ERROR: SenseKey.RECOVERED_ERROR,
    MRIE_NO_SENSE: SenseKey.NO_SENSE,
    MRIE_ON_REQUEST: SenseKey.NO_SENSE,
}
_DEXCPT = 0x08


def informational_exceptions_page() -> ModePage:
    """SPC-5 7.5.10: polled (DEXCPT=1), MRIE 3h once enabled; DEXCPT and MRIE changeable."""
    default = bytes([0x08, 0x03, 0, 0, 0, 0, 0, 0, 0, 0])
    changeable = bytes([0x08, 0x0F, 0, 0, 0, 0, 0, 0, 0, 0])
    return ModePage(INFORMATIONAL_EXCEPTIONS_PAGE, default, changeable)


def report_mode(page: bytes) -> int:
    """The MRIE that applies for the page's parameter bytes; MRIE_NONE when DEXCPT is set."""
    if page[0] & _DEXCPT:
        return MRIE_NONE
    return page[1] & 0x0F


def exception_sense(mrie: int) -> SenseCode | None:
    """FAILURE PREDICTION THRESHOLD EXCEEDED with the sense key ``mrie`` reports it under."""
    key = _REPORT_KEY.get(mrie)
    if key is None:
        return None
    asc, ascq = FAILURE_PREDICTION_THRESHOLD_EXCEEDED
    return SenseCode(key, asc, ascq)


class InformationalExceptions(ScsiDevice):
    """A device that reports informational exceptions as its page 1Ch says (SPC-5 7.5.10).

    The device lists :func:`informational_exceptions_page` among its
    mode pages and calls :meth:`informational_exception` when one occurs.
    """

    #: A report waiting for the command MRIE 4h-6h puts it on.
    _exception_pending: bool = False

    def informational_exception(self) -> None:
        """An exception occurred: report it now (MRIE 2h) or on a later command (4h-6h)."""
        mrie = self.exception_reporting()
        code = exception_sense(mrie)
        if code is None:
            return
        if mrie == MRIE_UNIT_ATTENTION:
            self.unit_attentions.post(code)
        else:
            self._exception_pending = True

    def exception_reporting(self) -> int:
        """The MRIE in effect (MRIE_NONE with DEXCPT set, or without page 1Ch)."""
        page = self.mode_pages.get(INFORMATIONAL_EXCEPTIONS_PAGE)
        return report_mode(bytes(page.current)) if page is not None else MRIE_NONE

    def execute(self, cmd: Command) -> Result | Deferred:
        """The SPC dispatcher, then a pending informational exception (SPC-5 7.5.10, MRIE)."""
        result = super().execute(cmd)
        if self._exception_pending and not isinstance(result, Deferred):
            return self._report_exception(cmd, result)
        return result

    def _report_exception(self, cmd: Command, result: Result) -> Result:
        """MRIE 4h/5h: CHECK CONDITION on a command that ended GOOD; 6h: REQUEST SENSE data."""
        mrie = self.exception_reporting()
        code = exception_sense(mrie)
        if code is None or mrie == MRIE_UNIT_ATTENTION:
            self._exception_pending = False
            return result
        if result.status is not Status.GOOD:
            return result
        if mrie == MRIE_ON_REQUEST:
            if cmd.cdb[0] != Opcode.REQUEST_SENSE or not _reports_no_sense(cmd, result):
                return result
            self._exception_pending = False
            sense = SenseError(code).sense_bytes(descriptor=bool(cmd.cdb[1] & 1))
            return Result(Status.GOOD, b"", cmd.data_in(sense, cmd.cdb[4]))
        self._exception_pending = False
        sense = SenseError(code).sense_bytes(descriptor=self.descriptor_sense)
        return Result(Status.CHECK_CONDITION, sense, result.data_in_length)


def _reports_no_sense(cmd: Command, result: Result) -> bool:
    """Did REQUEST SENSE report NO SENSE (no unit attention or not-ready condition first)?"""
    n = result.data_in_length or 0
    if n < 3 or not cmd.iov:
        return False
    first = cmd.iov[0]
    if len(first) < 3:
        return False
    descriptor = first[0] & 0x7F in (0x72, 0x73)
    key = first[1] if descriptor else first[2]
    return key & 0x0F == 0
