"""The daemon's single loop, served over the ring simulator instead of /dev/uioN."""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest

from devemu.config import Config
from devemu.control import call
from devemu.daemon import MAX_RECOVERIES, Daemon, RingState
from devemu.scsi.command import Command, Result, Status
from devemu.scsi.device import ScsiDevice
from devemu.scsi.sense import COMMAND_ABORTED, parse_sense
from devemu.served import ServedDevice
from devemu.tcmu.host import ServeError, check_host
from devemu.tcmu.loop import DEFERRED
from devemu.tcmu.netlink import DeviceEvent, TcmuCommand
from devemu.testing import EchoCdbDevice, RingSimulator

T = TypeVar("T")

TUR = bytes(6)
INQUIRY = bytes([0x12, 0, 0, 0, 36, 0])


class SimChannel:
    """A simulated ring whose doorbell is a pipe, as /dev/uioN is a file descriptor."""

    def __init__(self, sim: RingSimulator) -> None:
        self.sim = sim
        self.mapping = sim.mapping
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self.gone = False
        self.closed = False

    def kick(self) -> None:
        """The kernel's uio_event_notify."""
        os.write(self._w, b"\1\0\0\0")

    def fileno(self) -> int:
        return self._r

    def acknowledge(self) -> bool:
        with contextlib.suppress(BlockingIOError):
            os.read(self._r, 4096)
        return not self.gone

    def wait(self, timeout: float | None = None) -> bool:
        return False

    def notify(self) -> None:
        self.sim.irqcontrol()
        if self.sim.events:
            self.sim.events = 0
            self.kick()

    def close(self) -> None:
        self.closed = True
        os.close(self._r)
        os.close(self._w)


class SimRingWatch:
    """The kernel log as a pipe: readable when the kernel says a ring is broken."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        self.probed: list[str] = []

    def say_broken(self) -> None:
        os.write(self._w, b"cmd_id 8 not found, ring is broken\n")

    def fileno(self) -> int:
        return self._r

    def alarmed(self) -> bool:
        with contextlib.suppress(BlockingIOError):
            return b"broken" in os.read(self._r, 4096)
        return False

    def is_broken(self, bell: Any) -> bool:
        channel = cast(SimChannel, bell)
        self.probed.append(str(channel.sim.broken))
        return channel.sim.broken is not None

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


class SimBackend:
    def __init__(self) -> None:
        self.sims: dict[str, RingSimulator] = {}
        self.channels: dict[str, SimChannel] = {}
        self.calls: list[str] = []
        self.replies: list[tuple[DeviceEvent, int]] = []
        self.expect_reply = False
        self.watch: SimRingWatch | None = None

    def preflight(self) -> None:
        self.calls.append("preflight")

    def attach(self, device: ServedDevice) -> SimChannel:
        sim = self.sims.setdefault(device.name, RingSimulator())
        channel = SimChannel(sim)
        self.channels[device.name] = channel
        self.calls.append(f"attach {device.name}")
        return channel

    def export(self, device: ServedDevice, lun: int) -> None:
        self.calls.append(f"export {device.name} {lun}")

    def unexport(self, device: ServedDevice, lun: int) -> None:
        self.calls.append(f"unexport {device.name} {lun}")

    def release(self, device: ServedDevice) -> None:
        self.calls.append(f"release {device.name}")

    def recreate(self, device: ServedDevice) -> SimChannel:
        self.calls.append(f"recreate {device.name}")
        self.sims[device.name] = RingSimulator()
        channel = SimChannel(self.sims[device.name])
        self.channels[device.name] = channel
        return channel

    def ring_watch(self) -> SimRingWatch | None:
        return self.watch

    def events(self) -> None:
        return None

    def reply_expected(self, event: DeviceEvent) -> bool:
        return self.expect_reply

    def close(self) -> None:
        self.calls.append("close")


class Recorder(EchoCdbDevice):
    #: The device's replay decision (a real device reads its command table).
    replay = True

    def may_replay(self, cmd: Command) -> bool:
        return self.replay


def _served(name: str, device: Any, **kw: Any) -> ServedDevice:
    return ServedDevice(name, "disk", cast(ScsiDevice, device), **kw)


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Daemon, SimBackend, list[str]]]:
    closed: list[str] = []
    config = Config(
        path=tmp_path / "lab.toml", control_socket=tmp_path / "c.sock", state_dir=tmp_path
    )
    config.devices = [
        _served("d0", Recorder(), close=lambda: closed.append("d0"), status=lambda: {"x": 1}),
        _served("d1", Recorder(), close=lambda: closed.append("d1")),
    ]
    backend = SimBackend()
    daemon = Daemon(config, backend, ready_file=tmp_path / "ready")
    yield daemon, backend, closed
    daemon.close()


def _until(daemon: Daemon, predicate: Any, steps: int = 100) -> None:
    """Step the daemon until ``predicate()``: at least ``steps`` steps, and at least
    ``steps`` x 50 ms, since a step returns early on activity and ring workers are
    threads that a loaded host may leave waiting."""
    deadline = time.monotonic() + steps * 0.05
    for count in itertools.count():
        if predicate():
            return
        if count >= steps and time.monotonic() > deadline:
            break
        daemon.step(0.05)
    raise AssertionError("condition never became true")


def while_stepping(daemon: Daemon, client: Callable[[], T], steps: int = 100) -> T:
    """Run ``client`` (a user of the daemon's sockets) in a thread while the daemon's
    loop steps; return its result, or raise its error."""
    outcome: list[tuple[T, None] | tuple[None, Exception]] = []

    def run() -> None:
        try:
            outcome.append((client(), None))
        except Exception as err:
            outcome.append((None, err))

    thread = threading.Thread(target=run)
    thread.start()
    _until(daemon, lambda: bool(outcome), steps)
    thread.join()
    result, error = outcome[0]
    if error is not None:
        raise error
    return cast(T, result)


def test_serves_rings_control_and_shuts_down_in_order(
    setup: tuple[Daemon, SimBackend, list[str]],
) -> None:
    daemon, backend, closed = setup
    daemon.start()
    assert daemon.ready_file is not None
    _until(daemon, daemon.ready_file.exists)
    assert backend.calls == ["attach d0", "attach d1", "export d0 0", "export d1 1"]

    sim, channel = backend.sims["d1"], backend.channels["d1"]
    handles = [sim.submit(INQUIRY, data_in_length=36) for _ in range(3)]
    channel.kick()
    _until(daemon, lambda: all(h.done for h in handles))
    assert handles[0].result is not None
    assert handles[0].result.data == INQUIRY
    device = cast(Recorder, daemon.served["d1"].device.device)
    assert device.seen == [INQUIRY] * 3

    answer = while_stepping(daemon, lambda: call(daemon.config.control_socket, "d0", "status"))
    assert answer == {"name": "d0", "kind": "disk", "ops": ["status"], "x": 1}

    daemon.request_stop("test")
    daemon.shutdown()
    assert backend.calls[4:] == [
        "unexport d1 1",
        "unexport d0 0",
        "release d0",
        "release d1",
        "close",
    ]
    assert closed == ["d0", "d1"]
    assert all(c.closed for c in backend.channels.values())
    assert not daemon.ready_file.exists()
    assert not daemon.config.control_socket.exists()


@pytest.mark.parametrize(("policy", "replayed"), [(True, True), (False, False)])
def test_restart_resumes_from_cmd_tail_with_the_replay_policy(
    tmp_path: Path, policy: Any, replayed: bool
) -> None:
    config = Config(path=tmp_path / "lab.toml", control_socket=tmp_path / "c.sock")
    device = Recorder()
    device.replay = policy
    config.devices = [_served("t0", device)]
    backend = SimBackend()
    sim = RingSimulator()
    backend.sims["t0"] = sim
    # Left in the ring by a handler that died: between cmd_tail and cmd_head.
    stale = sim.submit(TUR)
    daemon = Daemon(config, backend)
    daemon.export = False
    try:
        daemon.start()
        _until(daemon, lambda: stale.done)
        assert stale.result is not None
        if replayed:
            assert stale.result.status == Status.GOOD
            assert device.seen == [TUR]
        else:
            assert stale.result.status == Status.CHECK_CONDITION
            code, _fields = parse_sense(stale.result.sense)
            assert code == COMMAND_ABORTED
            assert device.seen == []
        # New commands after the restart run normally.
        fresh = sim.submit(TUR)
        backend.channels["t0"].kick()
        _until(daemon, lambda: fresh.done)
        assert fresh.result is not None and fresh.result.status == Status.GOOD
        assert backend.calls == ["attach t0"]
    finally:
        daemon.shutdown()
        daemon.close()


def test_in_flight_commands_drain_before_the_ring_closes(tmp_path: Path) -> None:
    class Slow:
        def __init__(self) -> None:
            self.pending: list[Command] = []

        def execute(self, cmd: Command) -> Any:
            self.pending.append(cmd)
            return DEFERRED

    config = Config(path=tmp_path / "lab.toml", control_socket=tmp_path / "c.sock")
    slow = Slow()
    config.devices = [_served("s0", slow)]
    backend = SimBackend()
    daemon = Daemon(config, backend)
    daemon.export = False
    daemon.start()
    handle = backend.sims.setdefault("s0", RingSimulator()).submit(TUR)
    backend.channels["s0"].kick()
    _until(daemon, lambda: bool(slow.pending))
    ring = daemon.served["s0"].ring
    assert ring is not None and ring.in_flight == 1

    def finish() -> None:
        ring.complete(slow.pending[0], Result())

    # A deferred command completes on the thread that owns its ring.
    worker = daemon.served["s0"].worker
    assert worker is not None
    timer = threading.Timer(0.2, lambda: worker.post(finish))
    timer.start()
    daemon.shutdown()
    timer.join()
    assert handle.done and handle.result is not None and handle.result.status == Status.GOOD
    assert backend.channels["s0"].closed
    daemon.close()


def test_netlink_events_detach_reattach_and_reply(
    setup: tuple[Daemon, SimBackend, list[str]],
) -> None:
    daemon, backend, _ = setup
    daemon.export = False
    daemon.start()

    class Replies:
        def __init__(self) -> None:
            self.sent: list[tuple[TcmuCommand, int]] = []

        def reply(self, event: DeviceEvent, status: int = 0) -> None:
            self.sent.append((event.command, status))

    replies = Replies()
    daemon.events = cast(Any, replies)
    backend.expect_reply = True
    removed = DeviceEvent(TcmuCommand.REMOVED_DEVICE, "tcm-user/0/x/devemu/d0", 0, 5)
    daemon.handle_event(removed)
    assert daemon.served["d0"].channel is None
    assert backend.channels["d0"].closed
    daemon.handle_event(DeviceEvent(TcmuCommand.ADDED_DEVICE, "tcm-user/0/x/devemu/d0", 0, 6))
    assert daemon.served["d0"].channel is not None
    daemon.handle_event(DeviceEvent(TcmuCommand.ADDED_DEVICE, "tcm-user/0/y/devemu/zz", 0, 7))
    daemon.handle_event(DeviceEvent(TcmuCommand.ADDED_DEVICE, "tcm-user/0/y/file/zz", 0, 8))
    reconfig = DeviceEvent(
        TcmuCommand.RECONFIG_DEVICE, "tcm-user/0/x/devemu/d1", 0, 9, dev_size=1 << 20
    )
    daemon.handle_event(reconfig)
    assert replies.sent == [
        (TcmuCommand.REMOVED_DEVICE, 0),
        (TcmuCommand.ADDED_DEVICE, 0),
        (TcmuCommand.ADDED_DEVICE, -2),  # ENOENT: not configured here
        (TcmuCommand.ADDED_DEVICE, 0),  # another handler's subtype: no objection
        (TcmuCommand.RECONFIG_DEVICE, 0),
    ]
    daemon.events = None
    daemon.shutdown()


def test_host_checks_say_what_to_run(tmp_path: Path) -> None:
    sysfs, configfs = tmp_path / "sys", tmp_path / "config"
    configfs.mkdir()
    with pytest.raises(ServeError, match=r"must run as root.*sudo devemu serve"):
        check_host(configfs, sysfs, euid=1000)
    with pytest.raises(ServeError, match=r"run `modprobe target_core_user`"):
        check_host(configfs, sysfs, euid=0)
    (sysfs / "module" / "target_core_user").mkdir(parents=True)
    with pytest.raises(ServeError, match=rf"run `mount -t configfs none {configfs}`"):
        check_host(configfs, sysfs, euid=0)
    (configfs / "target" / "core").mkdir(parents=True)
    with pytest.raises(ServeError, match=r"run `modprobe tcm_loop`"):
        check_host(configfs, sysfs, euid=0)
    check_host(configfs, sysfs, euid=0, fabric="none")
    (sysfs / "module" / "tcm_loop").mkdir()
    check_host(configfs, sysfs, euid=0)


def test_a_broken_ring_is_said_once_and_its_backstore_recreated_while_others_serve(
    setup: tuple[Daemon, SimBackend, list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    daemon, backend, _ = setup
    backend.watch = SimRingWatch()
    daemon.start()
    assert daemon.ready_file is not None
    _until(daemon, daemon.ready_file.exists)
    old_sim, old_channel = backend.sims["d1"], backend.channels["d1"]
    # The kernel marks d1's ring broken: it now answers every command itself.
    old_sim.broken = "cmd_id 8 not found, ring is broken"
    failed = old_sim.submit(TUR)
    assert failed.result is not None and failed.result.status == Status.CHECK_CONDITION
    backend.calls.clear()
    caplog.clear()
    backend.watch.say_broken()
    _until(daemon, lambda: daemon.served["d1"].ring_state is RingState.RECOVERING)
    _until(daemon, lambda: daemon.served["d1"].ring_state is RingState.SERVING)
    assert backend.calls == ["unexport d1 1", "recreate d1", "export d1 1"]
    assert old_channel.closed and daemon.served["d1"].exported
    said = [r for r in caplog.records if "broken" in r.getMessage()]
    assert len(said) == 1 and said[0].levelname == "ERROR"
    assert "d1: the kernel marked the ring of LUN 1 broken" in said[0].getMessage()

    # The new ring serves; d0 was never touched.
    new_sim, new_channel = backend.sims["d1"], backend.channels["d1"]
    assert new_sim is not old_sim
    fresh = new_sim.submit(INQUIRY, data_in_length=36)
    new_channel.kick()
    _until(daemon, lambda: fresh.done)
    assert fresh.result is not None and fresh.result.data == INQUIRY
    d0 = backend.sims["d0"].submit(TUR)
    backend.channels["d0"].kick()
    _until(daemon, lambda: d0.done)

    answer = while_stepping(daemon, lambda: call(daemon.config.control_socket, None, "status"))
    by_name = {d["name"]: d for d in answer["devices"]}
    assert by_name["d1"]["ring"] == {"state": "serving", "breaks": 1}
    assert by_name["d0"] == {"name": "d0", "kind": "disk", "ops": ["status"], "x": 1}
    daemon.request_stop("test")
    daemon.shutdown()


def test_a_ring_that_keeps_breaking_is_left_broken_and_shown(
    setup: tuple[Daemon, SimBackend, list[str]],
) -> None:
    daemon, backend, _ = setup
    daemon.export = False
    daemon.start()
    for _ in range(MAX_RECOVERIES + 1):
        backend.sims["d0"].broken = "broken"
        daemon.ring_broken("d0")
        _until(daemon, lambda: daemon.served["d0"].ring_state is not RingState.RECOVERING)
    item = daemon.served["d0"]
    assert item.ring_state is RingState.BROKEN
    assert item.status()["ring"] == {"state": "broken", "breaks": MAX_RECOVERIES + 1}
    assert backend.calls.count("recreate d0") == MAX_RECOVERIES
    daemon.shutdown()
