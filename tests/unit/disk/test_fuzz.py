"""Random CDBs against a disk: always an answer, always well-formed, refusals change nothing."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from devemu.disk.device import Disk
from devemu.scsi.command import Status
from devemu.scsi.sense import SenseKey, parse_sense
from devemu.scsi.table import cdb_length
from tests.unit.disk.conftest import execute, make_disk, make_image

BLOCKS = 64
OPCODES = sorted({spec.opcode for spec in Disk.commands} | {0x02, 0x3B, 0x7F, 0xA0, 0xFF})


@st.composite
def cdbs(draw: st.DrawFn) -> bytes:
    op = draw(st.sampled_from(OPCODES))
    length = cdb_length(op) or draw(st.sampled_from([6, 10, 12, 16]))
    if draw(st.booleans()):
        # Anything at all after the opcode, sometimes too short.
        rest = draw(st.binary(min_size=0, max_size=length - 1))
        return bytes([op]) + rest
    # A plausible CDB: small LBA and length, random flag bits, zero control byte.
    body = bytearray(length)
    body[0] = op
    body[1] = (
        draw(st.integers(0, 255))
        if draw(st.booleans())
        else draw(st.sampled_from([0, 2, 6, 8, 9, 0x10, 0x12]))
    )
    if op == 0x9E:
        body[1] = draw(st.sampled_from([0x10, 0x12, 0x11]))
    lba = draw(st.integers(0, BLOCKS + 2))
    count = draw(st.integers(0, 10))
    if length == 6:
        body[1] &= 0x1F if draw(st.booleans()) else 0xFF
        body[2:4] = lba.to_bytes(2, "big")
        body[4] = count if op in (0x08, 0x0A) else draw(st.integers(0, 255))
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
            body[10:13] = b"\0\0\0"
            body[13] = count
    return bytes(body)


commands = st.lists(
    st.tuples(
        cdbs(),
        st.one_of(
            st.none(),
            st.binary(max_size=12 * 512),
            st.just(b"\x00" * 24),
            st.builds(
                lambda n, unit, byte: bytes([byte]) * (n * unit),
                st.integers(0, 8),
                st.sampled_from([512, 4096]),
                st.sampled_from([0, 0x5A]),
            ),
        ),
        st.integers(0, 8192),
        st.integers(1, 3),
    ),
    min_size=1,
    max_size=6,
)


def well_formed(sense: bytes) -> SenseKey:
    assert len(sense) >= 8
    assert sense[0] & 0x7F in (0x70, 0x72)
    code, _ = parse_sense(sense)
    return code.key


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=commands, block_size=st.sampled_from([512, 4096]), read_only=st.booleans())
def test_random_cdbs(
    sequence: list[tuple[bytes, bytes | None, int, int]], block_size: int, read_only: bool
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = make_image(Path(tmp) / "fuzz.img", block_size, BLOCKS)
        dev = make_disk(path, block_size, read_only=read_only)
        try:
            for cdb, data_out, data_in, pieces in sequence:
                before = path.read_bytes()
                answer = execute(
                    dev, cdb, data_out, 0 if data_out is not None else data_in, pieces=pieces
                )
                assert answer.status in (Status.GOOD, Status.CHECK_CONDITION, Status.CONDITION_MET)
                event(f"{answer.status.name}")
                if answer.status == Status.CHECK_CONDITION:
                    key = well_formed(answer.sense)
                    assert key != SenseKey.HARDWARE_ERROR, (cdb.hex(), answer)
                    assert path.read_bytes() == before, cdb.hex()
                else:
                    assert answer.sense == b""
                    if answer.data_in_length is not None:
                        assert (
                            0
                            <= answer.data_in_length
                            <= (data_in if data_out is None else len(data_out))
                        )
                if read_only:
                    assert path.read_bytes() == before
        finally:
            dev.close()
