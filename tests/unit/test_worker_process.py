"""Worker processes (``[daemon] ring_processes``): real forks over the ring simulator.

The simulator's mapping is anonymous shared memory, so a forked worker
walks the same ring the test (the kernel's side) fills; the test reaps
the answers itself (``irqcontrol``), since the worker rings the doorbell
of its own copy of the simulator.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from devemu import worker_process
from devemu.config import Config, Section, build_devices
from devemu.config_table import DevicePlan
from devemu.control import call
from devemu.control_protocol import ControlError
from devemu.daemon import Daemon
from devemu.scsi.command import Command
from devemu.scsi.device import ScsiDevice
from devemu.served import ServedDevice
from devemu.tcmu.backend import NoBackstoreYetError
from devemu.tcmu.netlink import DeviceEvent, TcmuCommand
from devemu.testing import EchoCdbDevice
from devemu.testing.simulator import Handle
from devemu.trace import TraceRecord
from devemu.worker_process import MAX_RESTARTS, deal
from tests.unit.test_daemon import INQUIRY, SimBackend, SimChannel, while_stepping


class Echo(EchoCdbDevice):
    """Echoes the CDB; a command found in the ring after a restart may run again."""

    def may_replay(self, cmd: Command) -> bool:
        return True


class SharedChannel(SimChannel):
    """The worker's doorbell rings nothing: the test reaps (its simulator is the kernel)."""

    def notify(self) -> None:
        pass

    notify_soon = notify


class SharedBackend(SimBackend):
    """Rings in shared memory; the backstores named in ``later`` appear once ``made``."""

    def __init__(self, later: tuple[str, ...] = ()) -> None:
        super().__init__()
        self.later = set(later)

    def attach(self, device: ServedDevice) -> SimChannel:
        if device.name in self.later:
            raise NoBackstoreYetError(f"{device.name}: no backstore yet")
        super().attach(device)
        channel = self.channels[device.name] = SharedChannel(self.sims[device.name])
        return channel


def _where(args: dict[str, Any]) -> dict[str, Any]:
    if args.get("fail"):
        raise ControlError("refused as asked")
    time.sleep(args.get("sleep", 0))
    return {"pid": os.getpid(), "args": args}


def _plan(name: str, marks: Path, *, broken: bool = False) -> DevicePlan:
    def build() -> list[ServedDevice]:
        if broken and os.getpid() != _MAIN_PID:
            raise OSError("the image went away")
        return [
            ServedDevice(
                name,
                "disk",
                cast(ScsiDevice, Echo()),
                status=lambda: {"pid": os.getpid()},
                control={"where": _where},
                # Built and closed in the same process: the mark names it.
                close=(marks / f"{name}.closed.{os.getpid()}").touch,
            )
        ]

    return DevicePlan((name,), name, build)


_MAIN_PID = os.getpid()


@pytest.fixture
def make(tmp_path: Path) -> Iterator[Callable[..., tuple[Daemon, SimBackend]]]:
    made: list[Daemon] = []

    def daemon(
        names: tuple[str, ...] = ("d0", "d1"),
        broken: str = "",
        processes: int = 2,
        external: tuple[str, ...] = (),
    ) -> tuple[Daemon, SharedBackend]:
        config = Config(
            path=tmp_path / "lab.toml",
            control_socket=tmp_path / "c.sock",
            state_dir=tmp_path,
            ring_processes=processes,
            external_backstores=external,
        )
        config.plans = [
            (Section("disk", i, {}), _plan(n, tmp_path, broken=n == broken))
            for i, n in enumerate(names)
        ]
        build_devices(config)
        backend = SharedBackend(external)
        made.append(Daemon(config, backend, ready_file=tmp_path / "ready"))
        made[-1].start()
        _until(made[-1], (tmp_path / "ready").exists)
        return made[-1], backend

    yield daemon
    for d in made:
        if not d.stopping:
            d.request_stop("test")
            d.shutdown()
        d.close()


def _until(daemon: Daemon, predicate: Callable[[], bool], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("condition never became true")
        daemon.step(0.02)


def _served(daemon: Daemon, backend: SimBackend, name: str, count: int = 2) -> list[Handle]:
    """Queue ``count`` INQUIRYs on ``name``'s ring and reap them as the kernel would."""
    sim = backend.sims[name]
    handles = [sim.submit(INQUIRY, data_in_length=36) for _ in range(count)]
    backend.channels[name].kick()

    def reaped() -> bool:
        sim.irqcontrol()
        return all(h.done for h in handles)

    _until(daemon, reaped)
    assert [h.result.data if h.result else None for h in handles] == [INQUIRY] * count
    return handles


def _ask(daemon: Daemon, name: str, op: str, **args: Any) -> dict[str, Any]:
    """A control request from another thread while the daemon's loop runs."""
    return while_stepping(daemon, lambda: call(daemon.config.control_socket, name, op, **args))


def test_each_process_serves_its_devices_and_closes_them(
    make: Callable[..., tuple[Daemon, SimBackend]], tmp_path: Path
) -> None:
    daemon, backend = make()
    # The main process closed the copies it built to check the file.
    assert (tmp_path / f"d0.closed.{os.getpid()}").exists()

    for name in ("d0", "d1"):
        _served(daemon, backend, name)
    status = {name: _ask(daemon, name, "status") for name in ("d0", "d1")}
    pids = {name: answer["pid"] for name, answer in status.items()}
    assert len({*pids.values(), os.getpid()}) == 3
    assert status["d1"]["worker"] == {"process": "worker1", "pid": pids["d1"]}
    assert _ask(daemon, "d1", "where", x=1) == {"pid": pids["d1"], "args": {"x": 1}}
    with pytest.raises(ControlError, match="refused as asked"):
        _ask(daemon, "d0", "where", fail=True)

    daemon.request_stop("test")
    daemon.shutdown()
    for name, pid in pids.items():
        assert (tmp_path / f"{name}.closed.{pid}").exists()
        with pytest.raises(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
    assert backend.calls[-3:] == ["release d0", "release d1", "close"]
    assert all(c.closed for c in backend.channels.values())


def test_a_killed_process_is_forked_again_and_serves_what_waited(
    make: Callable[..., tuple[Daemon, SimBackend]], tmp_path: Path
) -> None:
    daemon, backend = make()
    before = {name: _ask(daemon, name, "status")["pid"] for name in ("d0", "d1")}
    os.kill(before["d0"], signal.SIGKILL)
    # Queued while the process is dead: served by the next one.
    _served(daemon, backend, "d0", count=3)
    after = _ask(daemon, "d0", "status")["pid"]
    assert after not in before.values()
    # The other process never noticed.
    assert _ask(daemon, "d1", "status")["pid"] == before["d1"]
    _served(daemon, backend, "d1")


def test_a_process_that_keeps_dying_leaves_its_devices_down(
    make: Callable[..., tuple[Daemon, SimBackend]], tmp_path: Path
) -> None:
    daemon, backend = make(broken="d1")
    process = daemon.served["d1"].process
    assert process is not None
    _until(daemon, lambda: not process.running and process.restarts > MAX_RESTARTS)
    with pytest.raises(ControlError, match="worker process not running"):
        _ask(daemon, "d1", "status")
    # The other device serves on.
    _served(daemon, backend, "d0")


def test_a_traced_device_sends_its_records_to_the_main_process(
    make: Callable[..., tuple[Daemon, SimBackend]], tmp_path: Path
) -> None:
    daemon, backend = make()
    woken: list[int] = []
    subscriber = daemon.tracing.subscribe({"devices": ["d1"]}, lambda: woken.append(1), 100)
    for name in ("d0", "d1"):
        _served(daemon, backend, name, count=2)
    _until(daemon, lambda: len(subscriber.queue) >= 2)
    records = [r for r in subscriber.queue if isinstance(r, TraceRecord)]
    assert [(r.device, r.cdb, r.name) for r in records] == [("d1", INQUIRY, None)] * 2
    assert woken
    # Untraced again: the records stop.
    daemon.tracing.unsubscribe(subscriber)
    subscriber.queue.clear()
    _served(daemon, backend, "d1")
    assert not subscriber.queue


def test_a_plans_devices_stay_in_one_process(tmp_path: Path) -> None:
    config = Config(path=tmp_path / "lab.toml", ring_processes=2)

    def plan(*names: str) -> tuple[Section, DevicePlan]:
        return Section("disk", 0, {}), DevicePlan(names, "", list)

    config.plans = [plan("d0"), plan("changer", "drive0", "drive1"), plan("d1")]
    config.built_by = {name: i for i, (_s, p) in enumerate(config.plans) for name in p.names}
    devices = [
        ServedDevice(name, "disk", cast(ScsiDevice, Echo()))
        for name in ("d0", "changer", "drive0", "drive1", "d1")
    ]
    assert deal(config, devices, 2) == [(0, 2), (1,)]
    assert deal(config, devices, 8) == [(0,), (1,), (2,)]


def test_a_process_that_does_not_answer_is_killed_and_forked_again(
    make: Callable[..., tuple[Daemon, SimBackend]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(worker_process, "REQUEST_SECONDS", 0.5)
    daemon, backend = make()
    hung = _ask(daemon, "d0", "status")["pid"]
    with pytest.raises(ControlError, match=r"no answer to control in 0\.5 s"):
        _ask(daemon, "d0", "where", sleep=30)

    def forked_again() -> bool:
        try:
            return bool(_ask(daemon, "d0", "status")["pid"] != hung)
        except ControlError:  # asked while the process ended
            return False

    _until(daemon, forked_again)
    _served(daemon, backend, "d0")


def test_a_ring_that_appears_later_is_handed_to_its_process(
    make: Callable[..., tuple[Daemon, SharedBackend]],
) -> None:
    daemon, backend = make(processes=1, external=("d1",))
    assert daemon.served["d1"].channel is None
    before = _ask(daemon, "d0", "status")["pid"]
    backend.later.clear()  # targetcli made the backstore
    daemon.handle_event(DeviceEvent(TcmuCommand.ADDED_DEVICE, "tcm-user/1/d1/devemu/d1", 1, 2))
    assert daemon.served["d1"].channel is not None
    _served(daemon, backend, "d1")
    _served(daemon, backend, "d0")
    # The one process was forked again with both rings.
    assert _ask(daemon, "d0", "status")["pid"] == _ask(daemon, "d1", "status")["pid"] != before
