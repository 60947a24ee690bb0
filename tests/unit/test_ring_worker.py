"""Ring workers: rings served in parallel, device state touched only by its worker."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from devemu.config import Config
from devemu.control import call
from devemu.daemon import Daemon
from devemu.ring_worker import RingWorker
from devemu.scsi.command import Command, Result, Status
from devemu.scsi.device import ScsiDevice
from devemu.served import ServedDevice
from tests.unit.test_daemon import INQUIRY, TUR, Recorder, SimBackend, _until, while_stepping


class Gate(Recorder):
    """Holds every command until :attr:`go` is set; remembers the threads it ran on."""

    def __init__(self) -> None:
        super().__init__()
        self.go = threading.Event()
        self.entered = threading.Event()
        self.threads: set[str] = set()

    def execute(self, cmd: Command) -> Any:
        self.threads.add(threading.current_thread().name)
        self.entered.set()
        assert self.go.wait(10)
        return super().execute(cmd)


def _served(name: str, device: Any, **kw: Any) -> ServedDevice:
    return ServedDevice(name, "disk", cast(ScsiDevice, device), **kw)


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Daemon, SimBackend, Gate, Recorder, list[str]]]:
    gate, other = Gate(), Recorder()
    seen: list[str] = []

    def whoami(args: dict[str, Any]) -> dict[str, Any]:
        seen.append(threading.current_thread().name)
        return {"thread": threading.current_thread().name}

    config = Config(path=tmp_path / "lab.toml", control_socket=tmp_path / "c.sock")
    config.devices = [
        _served("slow", gate),
        _served("fast", other, control={"whoami": whoami}),
        _served("drive", Recorder(), group="library"),
        _served("changer", Recorder(), group="library"),
    ]
    backend = SimBackend()
    served = Daemon(config, backend)
    served.export = False
    served.start()
    yield served, backend, gate, other, seen
    gate.go.set()
    served.request_stop("test")
    served.shutdown()
    served.close()


def test_a_busy_ring_does_not_hold_up_another(
    daemon: tuple[Daemon, SimBackend, Gate, Recorder, list[str]],
) -> None:
    served, backend, gate, other, _seen = daemon
    held = backend.sims["slow"].submit(TUR)
    backend.channels["slow"].kick()
    assert gate.entered.wait(5)
    answered = backend.sims["fast"].submit(INQUIRY, data_in_length=36)
    backend.channels["fast"].kick()
    _until(served, lambda: answered.done)
    assert not held.done
    gate.go.set()
    _until(served, lambda: held.done)
    assert held.result is not None and held.result.status == Status.GOOD
    assert gate.threads == {"devemu-slow"}
    assert other.seen == [INQUIRY]


def test_control_operations_run_on_the_devices_worker(
    daemon: tuple[Daemon, SimBackend, Gate, Recorder, list[str]],
) -> None:
    served, _backend, _gate, _other, seen = daemon
    answer = while_stepping(served, lambda: call(served.config.control_socket, "fast", "whoami"))
    assert seen == ["devemu-fast"]
    assert answer["thread"] == "devemu-fast"


def test_a_group_shares_one_worker_and_others_have_their_own(
    daemon: tuple[Daemon, SimBackend, Gate, Recorder, list[str]],
) -> None:
    served = daemon[0]
    workers = {name: item.worker for name, item in served.served.items()}
    assert workers["drive"] is workers["changer"]
    assert len({id(w) for w in workers.values()}) == 3
    assert sorted(served.workers) == ["fast", "library", "slow"]
    assert served.workers["library"].rings == 2


def test_a_ring_that_went_away_is_detached_by_the_main_thread(
    daemon: tuple[Daemon, SimBackend, Gate, Recorder, list[str]],
) -> None:
    served, backend, _gate, _other, _seen = daemon
    channel = backend.channels["fast"]
    channel.gone = True
    channel.kick()
    _until(served, lambda: channel.closed)
    assert served.served["fast"].channel is None
    assert served.workers["fast"].rings == 0
    # The device still answers its control operations (directly on its worker).
    assert served.served["fast"].status() == {}


def test_ring_workers_caps_the_threads_and_groups_share_them_in_turn(tmp_path: Path) -> None:
    config = Config(path=tmp_path / "lab.toml", control_socket=tmp_path / "c.sock")
    config.ring_workers = 2
    config.devices = [_served(f"d{k}", Recorder()) for k in range(3)] + [
        _served("drive", Recorder(), group="library"),
        _served("changer", Recorder(), group="library"),
    ]
    served = Daemon(config, SimBackend())
    served.export = False
    served.start()
    try:
        workers = {name: item.worker for name, item in served.served.items()}
        assert sorted(served.workers) == ["d0", "d1"]
        assert workers["d2"] is workers["d0"]
        assert workers["drive"] is workers["changer"] is workers["d1"]
        handle = cast(SimBackend, served.backend).sims["d2"].submit(TUR)
        cast(SimBackend, served.backend).channels["d2"].kick()
        _until(served, lambda: handle.done)
    finally:
        served.request_stop("test")
        served.shutdown()
        served.close()


def test_work_posted_after_the_worker_stopped_runs_in_the_caller() -> None:
    worker = RingWorker("w")
    assert worker.call(lambda: threading.current_thread().name) == "devemu-w"
    worker.stop()
    assert worker.call(lambda: threading.current_thread().name) == threading.current_thread().name
    failed = worker.post(lambda: 1 // 0)
    with pytest.raises(ZeroDivisionError):
        failed.result()


def test_a_result_error_on_the_worker_reaches_the_caller() -> None:
    worker = RingWorker("w")
    try:
        with pytest.raises(ValueError, match="bad"):
            worker.call(lambda: (_ for _ in ()).throw(ValueError("bad")))
        assert worker.call(lambda: Result().status) == Status.GOOD
    finally:
        worker.stop()
