"""CRC-32C (Castagnoli, RFC 3720 B.4) by the fastest code the processor runs.

The tape format's record checksum and SSC logical block protection
(SSC-5 4.2.23, the CRC32C method) are CRC-32C. The ``crc32c`` package
computes it with the processor's CRC32 instruction (SSE 4.2, ARMv8) where
CPUID offers one, else with its table-driven software code, and chooses
once, when its extension loads (``CRC32C_SW_MODE``: ``auto``, ``force``,
``none``).

One processor offers the instruction and runs it slowly: QEMU's TCG, the
software emulator (no KVM), which executes CRC32 one bit at a time. A
256 KiB record took 1.75 ms there against 0.6 ms by the table code (11 us
on the host), a fifth of a tape WRITE's time in such a guest, where
devemu runs as a CI fixture. So when the CPU names itself a TCG CPU
(``/proc/cpuinfo``'s model name, which ``-cpu max`` and the default
models carry) and the user has not chosen, the package loads in software
mode. The choice is not left in the environment: programs devemu starts
choose for themselves.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from types import ModuleType
from typing import Protocol

#: What QEMU's TCG puts in its CPUs' model name (``QEMU TCG CPU version ...``).
TCG_MODEL = "QEMU TCG CPU"

#: The package's switch, read when its extension loads.
MODE_VARIABLE = "CRC32C_SW_MODE"


class CrcFunction(Protocol):
    """A checksum of ``data`` continuing from ``value``, as ``zlib.crc32``."""

    def __call__(self, data: bytes | bytearray | memoryview, value: int = 0, /) -> int: ...


def emulated_by_tcg(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True if the first ``model name`` in ``cpuinfo`` is a QEMU TCG CPU's."""
    try:
        with cpuinfo.open(encoding="ascii", errors="replace") as lines:
            for line in lines:
                if line.startswith("model name"):
                    return TCG_MODEL in line
    except OSError:
        pass
    return False


def software_mode(environ: Mapping[str, str], cpuinfo: Path = Path("/proc/cpuinfo")) -> str | None:
    """The ``CRC32C_SW_MODE`` to load the package with, None to leave it as it is."""
    if MODE_VARIABLE in environ:
        return None  # the user's choice
    return "force" if emulated_by_tcg(cpuinfo) else None


def _load() -> ModuleType:
    mode = software_mode(os.environ)
    if mode is not None:
        os.environ[MODE_VARIABLE] = mode
    try:
        import crc32c  # noqa: PLC0415 - after the switch is set
    finally:
        if mode is not None:
            del os.environ[MODE_VARIABLE]
    return crc32c


_package = _load()

#: True if the processor's instruction computes it.
hardware_based: bool = bool(_package.hardware_based)

#: CRC-32C of ``data``, continuing from ``value`` (as ``zlib.crc32``); the
#: package's function itself, called directly on every WRITE's path.
crc32c_of: CrcFunction = _package.crc32c
