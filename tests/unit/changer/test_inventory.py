"""The inventory file: round trip, refusals, and crash safety.

A kill at any instant must leave either the complete old version or the
complete new one. Two ways of checking: every step of the write fails in
turn (in process), and a child process saving in a loop is killed with
SIGKILL at random moments while the parent reads the file after each kill.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from devemu.changer.inventory import InventoryState, Occupant, load_state, save_state
from devemu.errors import ImageError

OLD = InventoryState({0x400: Occupant("A00001L8", "A00001L8.tape")}, {"X00001L8"})
NEW = InventoryState(
    {
        0x100: Occupant("A00001L8", "A00001L8.tape", 0x400),
        0x300: Occupant("B1", "B1.tape", None, True),
    }
)


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "s" / "lib.json"
    assert load_state(path) is None
    save_state(path, NEW)
    assert load_state(path) == NEW
    save_state(path, OLD)
    assert load_state(path) == OLD


def test_golden_file(tmp_path: Path) -> None:
    path = tmp_path / "lib.json"
    path.write_text(
        '{"format": "devemu-library", "version": 1, "elements": ['
        '{"address": 256, "barcode": "A00001L8", "file": "A00001L8.tape",'
        ' "source": 1024, "operator_placed": false},'
        '{"address": 768, "barcode": "B1", "file": "B1.tape",'
        ' "source": null, "operator_placed": true}], "exported": []}'
    )
    assert load_state(path) == NEW
    assert NEW.to_json()["elements"][0] == {
        "address": 256,
        "barcode": "A00001L8",
        "file": "A00001L8.tape",
        "source": 1024,
        "operator_placed": False,
    }


@pytest.mark.parametrize(
    ("text", "where", "reason"),
    [
        (
            '{"format": "devemu-library",\n "version": 1,\n "elements": [}',
            "line 3, column 15",
            "Expecting value",
        ),
        ('{"format": "other", "version": 1}', None, "not a devemu-library state file"),
        ('{"format": "devemu-library", "version": 9, "elements": []}', None, "version 9"),
        ('{"format": "devemu-library", "version": 1, "elements": {}}', "elements", "list"),
        (
            '{"format": "devemu-library", "version": 1, "elements": [{"address": 70000,'
            ' "barcode": "A", "file": "A.tape"}]}',
            "elements[0]",
            "bad element address",
        ),
        (
            '{"format": "devemu-library", "version": 1, "elements": [{"address": 1,'
            ' "barcode": "A", "file": "../A.tape"}]}',
            "elements[0]",
            "bad cartridge file name",
        ),
        (
            '{"format": "devemu-library", "version": 1, "elements": ['
            '{"address": 1, "barcode": "A", "file": "A.tape"},'
            '{"address": 2, "barcode": "A", "file": "A.tape"}]}',
            "elements[1]",
            "barcode A is in two elements",
        ),
        (
            '{"format": "devemu-library", "version": 1, "elements": ['
            '{"address": 1, "barcode": "A", "file": "A.tape"},'
            '{"address": 1, "barcode": "B", "file": "B.tape"}]}',
            "elements[1]",
            "listed twice",
        ),
    ],
)
def test_bad_files_name_the_place(
    tmp_path: Path, text: str, where: str | None, reason: str
) -> None:
    path = tmp_path / "lib.json"
    path.write_text(text)
    with pytest.raises(ImageError, match=reason) as info:
        load_state(path)
    assert info.value.path == path
    assert info.value.where == where


@pytest.mark.parametrize("step", ["write", "fsync", "replace", "dir_fsync"])
def test_failure_at_any_step_leaves_old_or_new(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    path = tmp_path / "lib.json"
    save_state(path, OLD)
    real_fsync = os.fsync
    fsyncs = []

    def boom(*args: object) -> None:
        raise OSError("killed here")

    if step == "dir_fsync":

        def fsync(fd: int) -> None:
            fsyncs.append(fd)
            if len(fsyncs) == 2:
                raise OSError("killed here")
            real_fsync(fd)

        monkeypatch.setattr(os, "fsync", fsync)
    else:
        monkeypatch.setattr(os, step, boom)
    with pytest.raises(OSError, match="killed here"):
        save_state(path, NEW)
    monkeypatch.undo()
    assert load_state(path) == (NEW if step == "dir_fsync" else OLD)
    save_state(path, NEW)  # a leftover temporary does not get in the way
    assert load_state(path) == NEW


CHILD = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from devemu.changer.inventory import InventoryState, Occupant, save_state

    path = Path(sys.argv[1])
    i = 0
    print("ready", flush=True)
    while True:
        i += 1
        occupants = {0x400 + (i % 50): Occupant(f"T{i:07d}", f"T{i:07d}.tape", i % 7)}
        occupants.update({0x100 + k: Occupant(f"K{k}", f"K{k}.tape") for k in range(20)})
        save_state(path, InventoryState(occupants, {f"X{i}"}))
    """
)


def test_sigkill_while_saving_leaves_a_complete_version(tmp_path: Path) -> None:
    path = tmp_path / "lib.json"
    rng = random.Random(1234)
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[3]))
    last = 0
    for _ in range(6):
        child = subprocess.Popen(
            [sys.executable, "-c", CHILD, str(path)], stdout=subprocess.PIPE, env=env
        )
        assert child.stdout is not None
        assert child.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.01, 0.08))
        child.send_signal(signal.SIGKILL)
        child.wait()
        state = load_state(path)
        if state is None:
            continue
        (exported,) = state.exported
        i = int(exported[1:])
        assert i >= 1
        assert state.occupants[0x400 + (i % 50)] == Occupant(f"T{i:07d}", f"T{i:07d}.tape", i % 7)
        assert len(state.occupants) == 21
        last = i
    assert last > 0
