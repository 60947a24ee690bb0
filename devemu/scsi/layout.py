"""What a construct declaration of a CDB says, as bit positions.

A CDB is declared once, with construct, next to the command it belongs to
(SPC-5 4.2.5: byte 0 the operation code, then fields at fixed bit
positions, the CONTROL byte last). Everything the per-command path needs
is derived from that declaration here, never written a second time:

- :func:`leaves`: every field with its bit offset and width, named by its
  path (``"flags.fua"`` for the FUA bit inside the ``flags`` byte);
- :func:`usage_data`: the CDB usage data of SPC-5 6.35.3 (table 244) for
  the fields a device interprets, which is both what REPORT SUPPORTED
  OPERATION CODES reports and the mask the dispatcher uses to refuse a
  reserved bit;
- :func:`decoder`: a function that takes the CDB bytes and returns chosen
  fields as a tuple. Byte-aligned fields of 1, 2, 4 or 8 bytes come out
  of one precompiled :class:`struct.Struct`; anything narrower is
  shifted and masked out of the integer of its bytes. A unit test proves,
  for every command of every device type, that the decoder and
  construct's own parse agree.

Names that mark bits no device interprets: ``reserved``, ``obsolete``
(with an optional number: ``reserved2``), unnamed padding, and the
CONTROL byte when it is declared as a plain byte (NACA and linked
commands are not supported, SAM-5 5.2). Every other field counts as
interpreted unless the command lists it as unsupported.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Collection
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

from construct import (
    BitsInteger,
    BytesInteger,
    Construct,
    FormatField,
    Padded,
    Renamed,
    Struct,
    Transformed,
)

#: A CDB field decoder: CDB bytes in, the chosen fields out.
Decoder = Callable[[bytes], tuple[int, ...]]

_UNINTERPRETED = re.compile(r"^(reserved|obsolete)\d*$")
_STRUCT_CODES = {8: "B", 16: "H", 32: "I", 64: "Q"}


@dataclass(frozen=True, slots=True)
class Leaf:
    """One field of a declaration: its path, first bit (0 = MSB of byte 0) and width in bits."""

    path: str
    offset: int
    width: int
    #: A named group of bit fields (a ``BitStruct``), not a field of its own.
    group: bool = False
    #: A two's complement number (SPACE's COUNT, SSC-5 7.9).
    signed: bool = False

    @property
    def name(self) -> str:
        """The last part of the path: ``"fua"`` for ``"flags.fua"``."""
        return self.path.rpartition(".")[2]

    @property
    def byte_aligned(self) -> bool:
        return self.offset % 8 == 0 and self.width % 8 == 0

    def mask(self, total_bits: int) -> int:
        """The field's bits as an integer over ``total_bits`` (big-endian)."""
        return ((1 << self.width) - 1) << (total_bits - self.offset - self.width)


def leaves(declaration: Construct) -> tuple[Leaf, ...]:
    """Every field of ``declaration`` in order, padding as unnamed leaves (path ``""``)."""
    return tuple(leaf for leaf in _all(declaration) if not leaf.group)


def _all(declaration: Construct) -> list[Leaf]:
    """Leaves and bit-field groups, in order."""
    found: list[Leaf] = []
    _walk(declaration, "", 0, 8, found)
    return found


def _walk(con: Construct, path: str, offset: int, unit: int, out: list[Leaf]) -> int:
    """Append the leaves of ``con`` at bit ``offset``; return the offset after it.

    ``unit`` is the size of one construct "byte" in bits: 8 at byte level,
    1 inside a ``BitStruct`` (construct's ``Bitwise`` turns each bit into a byte).
    """
    if isinstance(con, Renamed):
        name = con.name or ""
        inner = f"{path}.{name}" if path and name else name or path
        return _walk(con.subcon, inner, offset, unit, out)
    if isinstance(con, Struct):
        for sub in con.subcons:
            offset = _walk(sub, path, offset, unit, out)
        return offset
    if isinstance(con, Transformed) and unit == 8 and isinstance(con.subcon, Struct):
        # BitStruct: the inner Struct counts bits.
        bits = int(con.sizeof()) * 8
        if path:
            out.append(Leaf(path, offset, bits, group=True))
        end = _walk(con.subcon, path, offset, 1, out)
        if end - offset != bits:
            covered = end - offset
            raise ValueError(f"bit fields of {path or 'a CDB'} cover {covered} of {bits} bits")
        return end
    width = int(con.sizeof()) * unit
    if isinstance(con, Padded):
        path = ""
    out.append(Leaf(path, offset, width, signed=_signed(con)))
    return offset + width


def _signed(con: Construct) -> bool:
    """Is this integer field signed? (``Int24sb``, ``Int64sb``, ...)."""
    if isinstance(con, FormatField):
        return con.fmtstr[-1:].islower() and con.fmtstr[-1:] not in ("x", "c", "s", "p", "?")
    if isinstance(con, BytesInteger | BitsInteger):
        return bool(con.signed)
    return False


def interpreted(leaf: Leaf) -> bool:
    """Does a device interpret this field by default? (see the module text)."""
    return bool(leaf.path) and leaf.path != "control" and not _UNINTERPRETED.match(leaf.name)


def find(declaration: Construct, path: str) -> Leaf:
    """The field (or bit-field group) at ``path``; KeyError names the path when there is none."""
    for leaf in _all(declaration):
        if leaf.path == path:
            return leaf
    raise KeyError(f"no field {path!r} in this declaration")


def usage_data(
    declaration: Construct,
    opcode: int,
    *,
    service_action: int | None = None,
    unsupported: Collection[str] = (),
) -> bytes:
    """CDB usage data (SPC-5 6.35.3) of a command declared as ``declaration``.

    Byte 0 is the operation code; a SERVICE ACTION field holds the service
    action itself; every other bit is one where the device interprets the
    field (:func:`interpreted`, less ``unsupported``).
    """
    all_leaves = leaves(declaration)
    total = sum(leaf.width for leaf in all_leaves)
    known = {leaf.path for leaf in all_leaves}
    missing = set(unsupported) - known
    if missing:
        raise KeyError(f"unsupported fields not in the declaration: {sorted(missing)}")
    bits = 0
    for leaf in all_leaves[1:]:
        shift = total - leaf.offset - leaf.width
        if leaf.name == "service_action" and service_action is not None:
            bits |= service_action << shift
        elif interpreted(leaf) and leaf.path not in unsupported:
            bits |= leaf.mask(total)
    length = total // 8
    return bytes([opcode]) + bits.to_bytes(length, "big")[1:]


def decoder(declaration: Construct, fields: Collection[str]) -> Decoder:
    """A fast decoder of ``fields`` (paths) from CDB bytes, in the given order.

    When every field is byte-aligned and 1, 2, 4 or 8 bytes wide, the decoder
    is the ``unpack_from`` of one precompiled :class:`struct.Struct`.
    Otherwise it is generated: one ``struct`` unpack of the bytes that hold
    the fields, then a shift and a mask for each narrower field.
    """
    by_path = {leaf.path: leaf for leaf in _all(declaration)}
    chosen = []
    for path in fields:
        if path not in by_path:
            raise KeyError(f"no field {path!r} in this declaration")
        chosen.append(by_path[path])
    in_order = all(a.offset < b.offset for a, b in pairwise(chosen))
    if in_order and all(leaf.byte_aligned and leaf.width in _STRUCT_CODES for leaf in chosen):
        return _struct_decoder(chosen)
    return _generated_decoder(chosen)


def _struct_decoder(chosen: list[Leaf]) -> Decoder:
    fmt = [">"]
    at = 0
    for leaf in chosen:
        start = leaf.offset // 8
        if start > at:
            fmt.append(f"{start - at}x")
        code = _STRUCT_CODES[leaf.width]
        fmt.append(code.lower() if leaf.signed else code)
        at = start + leaf.width // 8
    unpack: Decoder = struct.Struct("".join(fmt)).unpack_from
    return unpack


def _twos_complement(value: int, width: int) -> int:
    return value - (1 << width) if value >> (width - 1) else value


def _generated_decoder(chosen: list[Leaf]) -> Decoder:
    parts = []
    for leaf in chosen:
        first = leaf.offset // 8
        last = (leaf.offset + leaf.width - 1) // 8
        span = last - first + 1
        shift = span * 8 - (leaf.offset - first * 8) - leaf.width
        mask = (1 << leaf.width) - 1
        word = f"cdb[{first}]" if span == 1 else f"_from_bytes(cdb[{first}:{last + 1}], 'big')"
        expr = f"({word} >> {shift})" if shift else word
        if leaf.width < span * 8:
            expr = f"({expr} & {mask:#x})"
        if leaf.signed:
            expr = f"_signed({expr}, {leaf.width})"
        parts.append(expr)
    source = f"def decode(cdb):\n    return ({', '.join(parts)}{',' if len(parts) == 1 else ''})\n"
    namespace: dict[str, Any] = {"_from_bytes": int.from_bytes, "_signed": _twos_complement}
    exec(compile(source, "<cdb decoder>", "exec"), namespace)
    decode: Decoder = namespace["decode"]
    return decode
