"""Every command of every device type: what is derived from its CDB declaration.

For each table entry: the fast decoder picks the same values out of the
same bytes as construct's own parse of the declaration, the handler's
parameters are named after the fields it is handed, the usage data has
the declaration's length, and the facts the reservation engine and the
replay policy read are consistent with one another.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devemu.scsi.layout import find, leaves
from devemu.scsi.table import Access, CommandSpec, Conflict
from tests.unit.scsi.device_types import ALL_DEVICE_TYPES

SPECS = [
    pytest.param(spec, id=f"{cls.__name__}:{spec.name}")
    for cls in ALL_DEVICE_TYPES
    for spec in cls.commands
]


def _value(parsed: Any, path: str) -> Any:
    for part in path.split("."):
        parsed = parsed[part]
    return parsed


@pytest.mark.parametrize("spec", SPECS)
@settings(max_examples=40, deadline=None)
@given(data=st.data())
def test_decoder_agrees_with_the_declaration(spec: CommandSpec, data: st.DataObject) -> None:
    if spec.decode is None:
        return
    cdb = data.draw(st.binary(min_size=spec.length, max_size=spec.length))
    parsed = spec.cdb.parse(cdb)
    decoded = spec.decode(cdb)
    assert len(decoded) == len(spec.fields)
    for path, value in zip(spec.fields, decoded, strict=True):
        leaf = find(spec.cdb, path)
        if leaf.group:
            # A whole bit-field group comes out as the integer of its bytes.
            start = leaf.offset // 8
            expected = int.from_bytes(cdb[start : start + leaf.width // 8], "big")
        else:
            expected = int(_value(parsed, path))
        assert value == expected, path


@pytest.mark.parametrize("spec", SPECS)
def test_handler_parameters_are_the_fields(spec: CommandSpec) -> None:
    params = list(inspect.signature(spec.handler).parameters)
    names = [path.rpartition(".")[2] for path in spec.fields]
    assert params[2:] == names, f"{spec.name}: handler takes {params[2:]}, entry names {names}"


@pytest.mark.parametrize("spec", SPECS)
def test_usage_data_has_the_declared_length(spec: CommandSpec) -> None:
    width = sum(leaf.width for leaf in leaves(spec.cdb))
    assert width == 8 * spec.length == 8 * spec.cdb.sizeof()
    assert spec.usage[0] == spec.opcode
    # No bit is interpreted in the control byte but the vendor-specific ones a
    # command declares by name (SAM-5 5.2: NACA and LINK are not supported).
    # A variable-length CDB has its control byte at byte 1 (SPC-5 4.2.3).
    control = 1 if spec.opcode == 0x7F else -1
    assert spec.usage[control] & 0x07 == 0


@pytest.mark.parametrize("spec", SPECS)
def test_facts_agree(spec: CommandSpec) -> None:
    changes = spec.access in (Access.WRITE, Access.CONTROL)
    if changes:
        # Whatever changes the medium or the device conflicts with every
        # reservation type another nexus holds, persistent reservation
        # commands (answered by the reservation engine itself) aside.
        assert spec.conflict in (Conflict.ALWAYS, Conflict.RESERVE), spec.name
    else:
        assert spec.conflict is not Conflict.ALWAYS, spec.name
    if spec.access is Access.NONE:
        assert spec.idempotent, f"{spec.name} changes nothing, so it can run twice"
