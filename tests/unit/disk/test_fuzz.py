"""Random CDBs against a disk: always an answer, always well-formed, refusals change nothing."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from devemu.disk.device import Disk
from devemu.scsi.command import Status
from devemu.scsi.sense import SenseKey, parse_sense
from devemu.tcmu.abi import cdb_length
from tests.unit.disk.disk_fixtures import execute, make_disk, make_image, unmap_list

BLOCKS = 64
OPCODES = sorted({spec.opcode for spec in Disk.commands} | {0x02, 0x3B, 0x7F, 0xA0, 0xFF})
#: Opcodes whose data-out is COUNT blocks, twice that, or one block.
BLOCKS_OUT = {0x0A, 0x2A, 0xAA, 0x8A, 0x2E, 0x8E, 0x2F, 0x8F}
FLAGS = [0, 0x02, 0x06, 0x08, 0x09, 0x10, 0x12, 0x18]


@dataclass
class Step:
    cdb: bytes
    data_out: bytes | None
    data_in: int
    pieces: int


@st.composite
def steps(draw: st.DrawFn, block_size: int) -> Step:
    op = draw(st.sampled_from(OPCODES))
    length = cdb_length(op) or draw(st.sampled_from([6, 10, 12, 16]))
    pieces = draw(st.integers(1, 3))
    data_in = draw(st.integers(0, 12 * block_size))
    if draw(st.integers(0, 3)) == 0:
        # Anything at all after the opcode, sometimes too short, with any data.
        cdb = bytes([op]) + draw(st.binary(min_size=0, max_size=length - 1))
        data = draw(st.one_of(st.none(), st.binary(max_size=4 * block_size)))
        return Step(cdb, data, data_in, pieces)
    body = bytearray(length)
    body[0] = op
    body[1] = draw(st.sampled_from(FLAGS)) if draw(st.integers(0, 5)) else draw(st.integers(0, 255))
    lba = draw(st.integers(0, BLOCKS + 2))
    count = draw(st.integers(0, 10))
    if length == 6:
        body[1] = (lba >> 16) & 0x1F
        body[2:4] = lba.to_bytes(2, "big")
        body[4] = count if op in (0x08, 0x0A) else draw(st.sampled_from([0, 1, 4, 0x21, 0x30]))
        count = count or 256
    elif length == 10:
        body[2:6] = lba.to_bytes(4, "big")
        body[7:9] = count.to_bytes(2, "big")
    elif length == 12:
        body[2:6] = lba.to_bytes(4, "big")
        body[6:10] = count.to_bytes(4, "big")
    else:
        body[2:10] = lba.to_bytes(8, "big")
        body[10:14] = count.to_bytes(4, "big")
        if op == 0x89:
            body[10:14] = bytes([0, 0, 0, count])
        if op == 0x9E:
            body[1] = draw(st.sampled_from([0x10, 0x12, 0x11]))
            body[10:14] = data_in.to_bytes(4, "big")
    fill = draw(st.sampled_from([0, 0x5A]))
    matching: bytes | None = None
    if op in BLOCKS_OUT:
        matching = bytes([fill]) * (count * block_size)
    elif op == 0x89:
        matching = bytes(2 * count * block_size)
    elif op in (0x41, 0x93):
        matching = bytes([fill]) * block_size
    elif op == 0x42:
        matching = unmap_list(*[(draw(st.integers(0, BLOCKS)), draw(st.integers(0, 8)))])
        body[7:9] = len(matching).to_bytes(2, "big")
    data = draw(st.one_of(st.just(matching), st.none(), st.binary(max_size=2 * block_size)))
    return Step(bytes(body), data, data_in, pieces)


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[int, bool, list[Step]]:
    block_size = draw(st.sampled_from([512, 4096]))
    read_only = draw(st.integers(0, 3)) == 0
    return block_size, read_only, draw(st.lists(steps(block_size), min_size=1, max_size=6))


def well_formed(sense: bytes) -> SenseKey:
    assert len(sense) >= 8
    assert sense[0] & 0x7F in (0x70, 0x72)
    code, _ = parse_sense(sense)
    return code.key


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=scenarios())
def test_random_cdbs(scenario: tuple[int, bool, list[Step]]) -> None:
    block_size, read_only, sequence = scenario
    with tempfile.TemporaryDirectory() as tmp:
        path = make_image(Path(tmp) / "fuzz.img", block_size, BLOCKS)
        dev = make_disk(path, block_size, read_only=read_only)
        try:
            for step in sequence:
                before = path.read_bytes()
                data_in = 0 if step.data_out is not None else step.data_in
                answer = execute(dev, step.cdb, step.data_out, data_in, pieces=step.pieces)
                event(answer.status.name)
                assert answer.status in (Status.GOOD, Status.CHECK_CONDITION, Status.CONDITION_MET)
                if answer.status == Status.CHECK_CONDITION:
                    key = well_formed(answer.sense)
                    assert key != SenseKey.HARDWARE_ERROR, (step, answer)
                    assert path.read_bytes() == before, step
                else:
                    assert answer.sense == b""
                    if answer.data_in_length is not None:
                        room = data_in if step.data_out is None else len(step.data_out)
                        assert 0 <= answer.data_in_length <= room
                if read_only:
                    assert path.read_bytes() == before
        finally:
            dev.close()
