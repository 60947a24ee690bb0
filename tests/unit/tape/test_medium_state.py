"""The drive's medium state table, on its own and as the drive follows it."""

from __future__ import annotations

from pathlib import Path

import pytest

from devemu.scsi.command import Command, Status, answered
from devemu.scsi.identity import Identity
from devemu.scsi.sense import (
    MEDIUM_NOT_PRESENT,
    MEDIUM_REMOVAL_PREVENTED,
    NOT_READY_TO_READY_CHANGE,
    SenseError,
    SenseKey,
    parse_sense,
)
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive
from devemu.tape.drive_state import DriveState, load_drive_state, save_drive_state
from devemu.tape.medium_state import (
    NOT_READY,
    REFUSED,
    TRANSITIONS,
    Action,
    MediumEvent,
    MediumState,
    transition,
)

IDENTITY = Identity("DEVEMU", "LTO-8 TAPE", "0100", "DRV0042")
TUR = bytes(6)
#: The LOAD UNLOAD CDB (SSC-5 7.3) of each host event: byte 4 is HOLD and LOAD.
LOAD_UNLOAD = {
    MediumEvent.LOAD: bytes([0x1B, 0, 0, 0, 0x01, 0]),
    MediumEvent.LOAD_HOLD: bytes([0x1B, 0, 0, 0, 0x09, 0]),
    MediumEvent.UNLOAD: bytes([0x1B, 0, 0, 0, 0x00, 0]),
    MediumEvent.UNLOAD_HOLD: bytes([0x1B, 0, 0, 0, 0x08, 0]),
}
#: How to bring a drive holding a cartridge into each state, from THREADED.
REACH = {
    MediumState.THREADED: [],
    MediumState.HELD: [LOAD_UNLOAD[MediumEvent.LOAD_HOLD]],
    MediumState.EJECTED: [LOAD_UNLOAD[MediumEvent.UNLOAD]],
}


@pytest.mark.parametrize("state", list(MediumState), ids=lambda s: s.name)
@pytest.mark.parametrize("event", list(MediumEvent), ids=lambda e: e.name)
def test_every_event_is_a_transition_or_a_sense(state: MediumState, event: MediumEvent) -> None:
    if event in TRANSITIONS[state]:
        assert transition(state, event) is TRANSITIONS[state][event]
    else:
        with pytest.raises(SenseError) as err:
            transition(state, event)
        assert err.value.code == REFUSED[state]


def test_every_state_has_its_not_ready_answer() -> None:
    assert set(NOT_READY) == set(MediumState) == set(TRANSITIONS)
    assert NOT_READY[MediumState.THREADED] is None


def test_only_an_unload_that_hands_the_cartridge_out_heeds_prevention() -> None:
    ejecting = {
        (state, event)
        for state, row in TRANSITIONS.items()
        for event, step in row.items()
        if step.ejects
    }
    assert ejecting == {
        (MediumState.THREADED, MediumEvent.UNLOAD),
        (MediumState.HELD, MediumEvent.UNLOAD),
    }
    assert all(TRANSITIONS[s][e].target is MediumState.EJECTED for s, e in ejecting)


def test_only_threading_announces_a_new_medium() -> None:
    for row in TRANSITIONS.values():
        for event, step in row.items():
            announced = Action.ANNOUNCE in step.actions
            assert announced == (event is MediumEvent.INSERT)


def _settle(drive: TapeDrive) -> None:
    """Take the pending unit attentions (power on, new medium)."""
    for _ in range(4):
        result = answered(drive.execute(Command(TUR, [])))
        if (
            result.status == Status.GOOD
            or parse_sense(result.sense)[0].key != SenseKey.UNIT_ATTENTION
        ):
            return
    raise AssertionError("unit attentions do not end")


@pytest.fixture
def drive(tmp_path: Path) -> TapeDrive:
    path = tmp_path / "A00042L8.tape"
    Cartridge.create(path, "A00042L8").close()
    drv = TapeDrive(IDENTITY)
    drv.load(path)
    _settle(drv)
    return drv


def _reach(drive: TapeDrive, state: MediumState) -> None:
    for cdb in REACH[state]:
        assert answered(drive.execute(Command(cdb, []))).status == Status.GOOD
    assert drive.medium_state is state


@pytest.mark.parametrize("state", list(REACH), ids=lambda s: s.name)
@pytest.mark.parametrize("event", list(LOAD_UNLOAD), ids=lambda e: e.name)
def test_load_unload_moves_the_drive_as_the_table_says(
    drive: TapeDrive, state: MediumState, event: MediumEvent
) -> None:
    _reach(drive, state)
    result = answered(drive.execute(Command(LOAD_UNLOAD[event], [])))
    assert result.status == Status.GOOD, parse_sense(result.sense)
    assert drive.medium_state is TRANSITIONS[state][event].target
    tur = answered(drive.execute(Command(TUR, [])))
    expected = NOT_READY[drive.medium_state]
    if expected is None:
        assert tur.status == Status.GOOD
    else:
        assert parse_sense(tur.sense)[0] == expected


@pytest.mark.parametrize("event", list(LOAD_UNLOAD), ids=lambda e: e.name)
def test_load_unload_without_a_cartridge_is_refused(event: MediumEvent) -> None:
    drv = TapeDrive(IDENTITY)
    _settle(drv)
    result = answered(drv.execute(Command(LOAD_UNLOAD[event], [])))
    assert result.status == Status.CHECK_CONDITION
    assert parse_sense(result.sense)[0] == REFUSED[MediumState.EMPTY] == MEDIUM_NOT_PRESENT
    assert drv.medium_state is MediumState.EMPTY


@pytest.mark.parametrize("state", [MediumState.THREADED, MediumState.HELD], ids=lambda s: s.name)
def test_prevented_removal_refuses_the_eject_and_keeps_the_state(
    drive: TapeDrive, state: MediumState
) -> None:
    _reach(drive, state)
    assert answered(drive.execute(Command(bytes([0x1E, 0, 0, 0, 1, 0]), []))).status == Status.GOOD
    result = answered(drive.execute(Command(LOAD_UNLOAD[MediumEvent.UNLOAD], [])))
    assert parse_sense(result.sense)[0] == MEDIUM_REMOVAL_PREVENTED
    assert drive.medium_state is state


def test_inserting_the_same_cartridge_threads_it_again_and_says_so(drive: TapeDrive) -> None:
    _reach(drive, MediumState.EJECTED)
    path = drive.loaded_path
    assert path is not None
    drive.load(path)
    assert drive.medium_state is MediumState.THREADED
    tur = answered(drive.execute(Command(TUR, [])))
    assert parse_sense(tur.sense)[0] == NOT_READY_TO_READY_CHANGE


def test_removing_empties_the_drive(drive: TapeDrive) -> None:
    path = drive.unload()
    assert path is not None and drive.medium_state is MediumState.EMPTY
    assert drive.cartridge is None and drive.unload() is None


# --- the drive's state file ---------------------------------------------------------------


def test_drive_state_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "state" / "drive-X.json"
    state = DriveState(tmp_path / "A.tape", block_length=512, buffered_mode=0)
    save_drive_state(path, state)
    assert load_drive_state(path) == state
    assert load_drive_state(tmp_path / "none.json") is None


@pytest.mark.parametrize(
    "text",
    ['{"cartridge": 7}', '{"block_length": "big"}', "[1, 2]", "{not json"],
)
def test_an_unreadable_drive_state_is_a_value_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "drive-X.json"
    path.write_text(text)
    with pytest.raises(ValueError):
        load_drive_state(path)


def test_a_drive_ignores_an_unreadable_state_file(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / f"drive-{IDENTITY.serial}.json").write_text('{"cartridge": 7}')
    drv = TapeDrive(IDENTITY, state_dir=tmp_path)
    assert drv.cartridge is None
    assert "ignoring unreadable drive state" in caplog.text
