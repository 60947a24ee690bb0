"""Hostile control clients against the whole daemon loop: the rings serve on."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devemu.config import Config
from devemu.control import Limits
from devemu.daemon import Daemon
from tests.unit.control_fixtures import ask, connect, read_line
from tests.unit.test_daemon import INQUIRY, Recorder, SimBackend, _served, _until


def _broken_status() -> dict[str, Any]:
    raise RuntimeError("status bug")


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Daemon, SimBackend]]:
    config = Config(path=tmp_path / "lab.toml", control_socket=tmp_path / "c.sock")
    config.devices = [_served("d0", Recorder()), _served("bad0", Recorder(), status=_broken_status)]
    backend = SimBackend()
    served = Daemon(config, backend)
    served.export = False
    served.start()
    yield served, backend
    served.request_stop("test")
    served.shutdown()
    served.close()


def _inquiry_completes(daemon: Daemon, backend: SimBackend) -> bool:
    sim, channel = backend.sims["d0"], backend.channels["d0"]
    handle = sim.submit(INQUIRY, data_in_length=36)
    channel.kick()
    _until(daemon, lambda: handle.done)
    return handle.result is not None and handle.result.data == INQUIRY


def test_hostile_requests_leave_the_rings_serving(daemon: tuple[Daemon, SimBackend]) -> None:
    served, backend = daemon
    replies: list[dict[str, Any]] = []

    def client() -> None:
        with connect(served.config.control_socket) as sock:
            for line in (b"[" * 10_000, b'{"op": "status"}', b'{"op": "status", "device": "bad0"}'):
                replies.append(ask(sock, line))
        with connect(served.config.control_socket) as sock:
            replies.append(ask(sock, b"[" * 100_000))

    thread = threading.Thread(target=client)
    thread.start()
    _until(served, lambda: len(replies) == 4 or not thread.is_alive(), steps=400)
    thread.join()
    assert [r["ok"] for r in replies] == [False, True, False, False]
    assert not served.stopping
    assert _inquiry_completes(served, backend)


def test_the_loop_closes_idle_connections(daemon: tuple[Daemon, SimBackend]) -> None:
    served, backend = daemon
    assert served.control is not None
    served.control.limits = Limits(idle=0.2)
    with connect(served.config.control_socket) as sock:
        sock.settimeout(0.01)
        closed: list[bytes] = []

        def gone() -> bool:
            try:
                closed.append(read_line(sock))
            except TimeoutError:
                return False
            return True

        _until(served, gone)
        assert closed == [b""]
    assert _inquiry_completes(served, backend)
