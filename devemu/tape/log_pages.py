"""The log pages of a tape drive, SPC-5 7.3 and SSC-5 8.2.

- 0x02 write error counter and 0x03 read error counter (SPC-5 7.3.21,
  7.3.16): no errors ever, but the bytes processed are real;
- 0x0C sequential-access device (SSC-5 8.2.3): bytes from and to the
  initiator and to and from the medium, capacities in megabytes;
- 0x12 TapeAlert response and 0x2E TapeAlert: :mod:`devemu.tape.tapealert`;
- 0x31 tape capacity (vendor specific, as LTO drives report it):
  remaining and maximum capacity of partitions 0 and 1 in megabytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from devemu.scsi.log_sense import log_page, log_parameter

WRITE_ERROR_COUNTER = 0x02
READ_ERROR_COUNTER = 0x03
SEQUENTIAL_ACCESS_DEVICE = 0x0C
TAPE_CAPACITY = 0x31

#: Counter parameters use FORMAT AND LINKING 00b (bounded data counter).
_COUNTER = 0x00

MB = 1_000_000


@dataclass(slots=True)
class TapeCounters:
    """Cumulative counters since power on or the last LOG SELECT reset."""

    bytes_from_host: int = 0
    bytes_to_host: int = 0
    bytes_written: int = 0
    bytes_read: int = 0

    def reset(self) -> None:
        self.bytes_from_host = self.bytes_to_host = 0
        self.bytes_written = self.bytes_read = 0


def error_counter_page(page_code: int, processed: int) -> bytes:
    """Write (0x02) or read (0x03) error counters: parameters 0000h-0006h."""
    values = [0, 0, 0, 0, 0, processed, 0]
    params = b"".join(
        log_parameter(code, v.to_bytes(8, "big"), _COUNTER) for code, v in enumerate(values)
    )
    return log_page(page_code, params)


def sequential_access_page(
    c: TapeCounters, *, used: int, early_warning: int, margin: int, position_bytes: int
) -> bytes:
    """SSC-5 8.2.3 table 84 parameters 0000h-0008h and 0100h."""
    params = b"".join(
        log_parameter(code, v.to_bytes(8, "big"), _COUNTER)
        for code, v in (
            (0x0000, c.bytes_from_host),
            (0x0001, c.bytes_written),
            (0x0002, c.bytes_read),
            (0x0003, c.bytes_to_host),
        )
    )
    params += b"".join(
        log_parameter(code, (v // MB).to_bytes(4, "big"), _COUNTER)
        for code, v in (
            (0x0004, used),
            (0x0005, early_warning),
            (0x0006, margin),
            (0x0007, position_bytes),
            (0x0008, 0),
        )
    )
    params += log_parameter(0x0100, bytes(8), _COUNTER)
    return log_page(SEQUENTIAL_ACCESS_DEVICE, params)


def tape_capacity_page(remaining: list[int], maximum: list[int]) -> bytes:
    """Parameters 1-2 remaining, 3-4 maximum capacity of partitions 0 and 1 (MB)."""
    rem = [*remaining[:2], 0, 0][:2]
    top = [*maximum[:2], 0, 0][:2]
    params = b"".join(
        log_parameter(code, (v // MB).to_bytes(4, "big"))
        for code, v in ((1, rem[0]), (2, rem[1]), (3, top[0]), (4, top[1]))
    )
    return log_page(TAPE_CAPACITY, params)
