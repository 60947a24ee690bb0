"""``devemu trace``: the daemon's loop, a real disk on the ring simulator, trace clients."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devemu import cli
from devemu.config import Config
from devemu.control import STREAM_CHUNK, ControlError, Limits, stream
from devemu.control_protocol import ControlError as ProtocolError
from devemu.control_protocol import trace_request
from devemu.daemon import Daemon
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage, create_image
from devemu.scsi.command import Command, Result, Status
from devemu.scsi.identity import Identity
from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field
from devemu.served import ServedDevice
from devemu.trace import (
    TracedDevice,
    TraceFilterError,
    TraceHub,
    TraceRecord,
    decode_sense,
    parse_filter,
    record_json,
    sense_name,
    status_code,
    tables_of,
)
from devemu.trace_cli import format_event
from tests.unit.control_fixtures import Serving, ask_once, connect, read_line
from tests.unit.test_daemon import (
    INQUIRY,
    TUR,
    Recorder,
    SimBackend,
    _served,
    _until,
    while_stepping,
)

READ10 = bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0])
UNKNOWN = bytes([0xFF, 0, 0, 0, 0, 0])
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def daemon(tmp_path: Path) -> Iterator[tuple[Daemon, SimBackend]]:
    create_image(tmp_path / "d.img", 1 << 20, 512)
    disk = Disk(DiskImage(tmp_path / "d.img"), Identity("DEVEMU", "DISK", "0100", "T1"))
    config = Config(path=tmp_path / "lab.toml", control_socket=tmp_path / "c.sock")
    config.devices = [ServedDevice("disk0", "disk", disk), _served("echo0", Recorder())]
    backend = SimBackend()
    served = Daemon(config, backend)
    served.export = False
    served.start()
    yield served, backend
    served.request_stop("test")
    served.shutdown()
    served.close()


class Tracer:
    """A trace client in a thread: the stream's objects, as they come."""

    def __init__(self, daemon: Daemon, **filters: Any) -> None:
        self.events: list[dict[str, Any]] = []
        self.opened: dict[str, Any] | None = None
        self.sock = connect(daemon.config.control_socket)
        self.sock.sendall(json.dumps({"op": "trace", "args": filters}).encode() + b"\n")
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        _until(daemon, lambda: self.opened is not None)

    def _read(self) -> None:
        with contextlib.suppress(OSError), self.sock.makefile("rb") as lines:
            reply = json.loads(lines.readline())
            assert reply["ok"] is True, reply
            self.opened = reply["result"]
            self.sock.settimeout(None)
            for line in lines:
                self.events.append(json.loads(line))

    def commands(self) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == "command"]

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self._thread.join(5)
        self.sock.close()


def run(daemon: Daemon, backend: SimBackend, name: str, cdb: bytes, length: int = 0) -> Any:
    """Submit one command to ``name``'s ring and step the loop until it is answered."""
    handle = backend.sims[name].submit(cdb, data_in_length=length)
    backend.channels[name].kick()
    _until(daemon, lambda: handle.done)
    daemon.step(0)  # the ring worker's records reach the subscribers on the main thread
    return handle.result


def own_device(daemon: Daemon, name: str) -> bool:
    item = daemon.served[name]
    return item.ring is not None and item.ring.device is item.device.device


def test_every_command_shows_with_its_fields(daemon: tuple[Daemon, SimBackend]) -> None:
    served, backend = daemon
    assert own_device(served, "disk0") and own_device(served, "echo0")
    tracer = Tracer(served)
    assert tracer.opened == {"devices": ["disk0", "echo0"], "queue": Limits().trace_records}
    assert isinstance(served.served["disk0"].ring.device, TracedDevice)  # type: ignore[union-attr]
    before = time.time()
    run(served, backend, "disk0", TUR)  # the power-on unit attention
    run(served, backend, "disk0", INQUIRY, 36)
    run(served, backend, "disk0", UNKNOWN)
    run(served, backend, "echo0", READ10, 512)
    _until(served, lambda: len(tracer.commands()) == 4)
    attention, inquiry, unknown, echo = tracer.commands()

    assert attention["name"] == "TEST UNIT READY"
    assert attention["status"] == "CHECK_CONDITION" and attention["status_code"] == 2
    assert attention["sense"]["key"] == "UNIT_ATTENTION"
    assert (attention["sense"]["asc"], attention["sense"]["ascq"]) == (0x29, 0x00)
    assert attention["sense"]["name"] == "POWER ON RESET OR BUS DEVICE RESET"

    assert inquiry == {
        "event": "command",
        "time": inquiry["time"],
        "device": "disk0",
        "opcode": 0x12,
        "name": "INQUIRY",
        "cdb": "120000002400",
        "length": 36,
        "data_in": 36,
        "status": "GOOD",
        "status_code": 0,
        "sense": None,
        "latency_us": inquiry["latency_us"],
    }
    assert before - 1 <= inquiry["time"] <= time.time() + 1
    assert 0 < inquiry["latency_us"] < 1e6

    assert unknown["opcode"] == 0xFF and unknown["name"] is None
    assert unknown["sense"]["key"] == "ILLEGAL_REQUEST"
    assert unknown["sense"]["name"] == "INVALID COMMAND OPERATION CODE"
    # A device without a command table: commands are shown, unnamed.
    assert echo["device"] == "echo0" and echo["name"] is None and echo["data_in"] == 10
    tracer.close()
    _until(served, lambda: not served.tracing.subscribers)


def test_unsubscribing_gives_each_ring_its_own_device_back(
    daemon: tuple[Daemon, SimBackend],
) -> None:
    served, backend = daemon
    tracer = Tracer(served, devices=["echo0"])
    assert tracer.opened is not None and tracer.opened["devices"] == ["echo0"]
    assert own_device(served, "disk0")  # not traced: untouched
    assert not own_device(served, "echo0")
    second = Tracer(served)
    assert not own_device(served, "disk0")
    second.close()
    _until(served, lambda: own_device(served, "disk0"))
    assert not own_device(served, "echo0")
    tracer.close()
    _until(served, lambda: own_device(served, "echo0"))
    assert served.tracing.subscribers == []
    # Untraced again: commands run, nobody hears them.
    result = run(served, backend, "echo0", TUR)
    assert result.status == Status.GOOD


def test_a_ring_recreated_while_traced_is_traced(daemon: tuple[Daemon, SimBackend]) -> None:
    served, backend = daemon
    tracer = Tracer(served, devices=["echo0"])
    served.recover("echo0")
    _until(served, lambda: backend.calls.count("recreate echo0") == 1 and own_ring(served))
    run(served, backend, "echo0", INQUIRY, 36)
    _until(served, lambda: len(tracer.commands()) == 1)
    tracer.close()
    _until(served, lambda: own_device(served, "echo0"))


def own_ring(daemon: Daemon) -> bool:
    item = daemon.served["echo0"]
    return item.ring is not None and isinstance(item.ring.device, TracedDevice)


@pytest.mark.parametrize(
    ("filters", "shown"),
    [
        ({"opcodes": ["0x12"]}, ["disk0 INQUIRY"]),
        ({"opcodes": ["12h", "TEST_UNIT_READY"]}, ["disk0 TEST UNIT READY", "disk0 INQUIRY"]),
        ({"opcodes": ["read"]}, ["disk0 READ(10)"]),
        ({"opcodes": [0x28, "inquiry"]}, ["disk0 INQUIRY", "disk0 READ(10)", "echo0 None"]),
        ({"statuses": ["check-condition"]}, ["disk0 TEST UNIT READY", "disk0 None"]),
        ({"statuses": ["good"], "opcodes": ["read(10)"]}, ["disk0 READ(10)"]),
        ({"devices": ["echo0"]}, ["echo0 None"]),
        ({"devices": ["disk0"], "opcodes": [0xFF]}, ["disk0 None"]),
    ],
)
def test_filters(
    daemon: tuple[Daemon, SimBackend], filters: dict[str, Any], shown: list[str]
) -> None:
    served, backend = daemon
    subscriber = served.tracing.subscribe(filters, lambda: None, 100)
    for cdb, length in ((TUR, 0), (INQUIRY, 36), (READ10, 512), (UNKNOWN, 0)):
        run(served, backend, "disk0", cdb, length)
    run(served, backend, "echo0", READ10, 512)  # no command table: a name filter passes it over
    seen = [f"{r.device} {r.name}" for r in subscriber.queue if isinstance(r, TraceRecord)]
    assert seen == shown
    served.tracing.unsubscribe(subscriber)
    assert own_device(served, "disk0") and own_device(served, "echo0")


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"devices": ["nope"]}, r"trace: nope: no such device \(served: disk0, echo0\)"),
        ({"opcodes": ["READ LONG"]}, r"opcode 'READ LONG': no command of the traced devices"),
        ({"opcodes": ["28"]}, r"write it in hex \(0x28 or 28h\)"),
        ({"opcodes": [300]}, r"opcode 300 is not 0-255"),
        ({"statuses": ["fine"]}, r"unknown status 'fine' \(statuses: good, check-condition"),
        ({"colour": "red"}, r"unknown argument 'colour' \(arguments: devices, opcodes"),
        ({"devices": [True]}, r"'devices' must be a list of strings or integers"),
    ],
)
def test_a_bad_filter_is_refused_and_named(
    daemon: tuple[Daemon, SimBackend], filters: dict[str, Any], message: str
) -> None:
    served, _ = daemon
    with pytest.raises(ControlError) as refused:
        while_stepping(
            served, lambda: next(stream(served.config.control_socket, "trace", **filters))
        )
    assert re.search(message, str(refused.value)), refused.value
    assert served.tracing.subscribers == []
    assert own_device(served, "disk0")


def test_a_tracer_that_reads_nothing_costs_a_bounded_queue_and_hears_of_its_drops(
    daemon: tuple[Daemon, SimBackend],
) -> None:
    served, backend = daemon
    assert served.control is not None
    served.control.limits = Limits(trace_records=16)
    sock = connect(served.config.control_socket)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.sendall(b'{"op": "trace", "args": {"devices": ["echo0"]}}\n')
    _until(served, lambda: bool(served.tracing.subscribers))
    subscriber = served.tracing.subscribers[0]
    (connection,) = [c for c in served.control.connections if c.stream is subscriber]
    sim, channel = backend.sims["echo0"], backend.channels["echo0"]
    total = 0
    largest_outbox = 0
    for _ in range(60):
        handles = [sim.submit(READ10, data_in_length=512) for _ in range(32)]
        channel.kick()
        _until(served, lambda batch=handles: all(h.done for h in batch))
        total += len(handles)
        assert len(subscriber.queue) <= 16 + 1  # records, and one count of dropped ones
        largest_outbox = max(largest_outbox, len(connection.outbox))
        # A client that sends while it streams is not read: nothing grows.
        with_ignored = sock.send(b'{"op": "status"}\n' * 10)
        assert with_ignored > 0
        assert len(connection.inbox) == 0
    assert largest_outbox <= STREAM_CHUNK + 1024
    assert subscriber.dropped_total > 0
    assert sim.outstanding == 0  # every command answered while the tracer read nothing
    assert not served.stopping and connection.open
    # Now it reads: what waited, then how many were dropped, in order.
    sock.settimeout(0.01)
    lines: list[dict[str, Any]] = []
    buffer = b""

    def drained() -> bool:
        nonlocal buffer
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    return True
                buffer += chunk
        except TimeoutError:
            pass
        return not subscriber.pending and not connection.outbox

    _until(served, drained, steps=400)
    lines = [json.loads(line) for line in buffer.splitlines()]
    assert lines[0]["ok"] is True
    commands = [e for e in lines[1:] if e["event"] == "command"]
    dropped = [e for e in lines[1:] if e["event"] == "dropped"]
    assert dropped and sum(e["count"] for e in dropped) == subscriber.dropped_total
    assert dropped[-1]["total"] == subscriber.dropped_total
    assert len(commands) + subscriber.dropped_total == total
    sock.close()
    _until(served, lambda: own_device(served, "echo0"))


def test_a_quiet_trace_outlives_the_idle_limit(daemon: tuple[Daemon, SimBackend]) -> None:
    served, backend = daemon
    assert served.control is not None
    served.control.limits = Limits(idle=0.1)
    tracer = Tracer(served)
    deadline = time.monotonic() + 0.4
    while time.monotonic() < deadline:
        served.step(0.05)
    assert served.tracing.subscribers
    run(served, backend, "disk0", INQUIRY, 36)
    _until(served, lambda: len(tracer.commands()) == 1)
    tracer.close()


def test_the_trace_op_where_nothing_streams(tmp_path: Path) -> None:
    serving = Serving(tmp_path / "c.sock", {})
    try:
        reply = ask_once(serving.path, {"op": "trace", "args": {}})
        assert reply == {"ok": False, "error": "trace: this socket streams no commands"}
    finally:
        serving.close()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b'{"op": "trace", "device": "d0"}', "name the devices in args.devices"),
        (b'{"op": "trace", "args": []}', "'args' must be an object, not an array"),
        (b'{"op": "trace", "x": 1}', "unknown field 'x'"),
    ],
)
def test_malformed_trace_requests(line: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        trace_request(line)


def test_trace_request_passes_other_lines_on() -> None:
    assert trace_request(b'{"op": "status"}') is None
    assert trace_request(b"[" * 100) is None
    assert trace_request(b'{"op": "trace"}') == {}


def test_a_malformed_trace_request_over_the_socket(daemon: tuple[Daemon, SimBackend]) -> None:
    served, _ = daemon

    def client() -> list[bytes]:
        with connect(served.config.control_socket) as sock:
            sock.sendall(b'{"op": "trace", "device": "disk0"}\n{"op": "status"}\n')
            return [read_line(sock), read_line(sock)]

    replies = while_stepping(served, client)
    assert json.loads(replies[0])["ok"] is False
    assert json.loads(replies[1])["ok"] is True


# ----------------------------------------------------------------- decoding


def test_sense_is_decoded_in_both_formats() -> None:
    error = SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 3), information=7)
    for descriptor in (False, True):
        decoded = decode_sense(error.sense_bytes(descriptor=descriptor))
        assert decoded is not None
        assert decoded["key"] == "ILLEGAL_REQUEST" and decoded["key_code"] == 5
        assert (decoded["asc"], decoded["ascq"]) == (0x24, 0)
        assert decoded["name"] == "INVALID FIELD IN CDB"
        assert decoded["information"] == 7
    assert decode_sense(b"") is None
    assert decode_sense(b"\x05junk") == {"bytes": "056a756e6b", "key": None}


def test_sense_names_come_from_the_named_codes() -> None:
    assert sense_name(0x3A, 0x00) == "MEDIUM NOT PRESENT"
    assert sense_name(0x00, 0x02) == "END OF PARTITION MEDIUM DETECTED"
    # A key kept in the constant's name to tell two apart is not part of the ASC's name.
    assert sense_name(0x3B, 0x00) == "SEQUENTIAL POSITIONING ERROR"
    assert sense_name(0x00, 0x05) == "END OF DATA DETECTED"
    assert sense_name(0x7E, 0x7E) is None


def test_status_names() -> None:
    assert status_code("check-condition") == 2
    assert status_code("RESERVATION_CONFLICT") == 0x18
    assert status_code("0x28") == 0x28
    with pytest.raises(TraceFilterError, match="unknown status"):
        status_code("bad")


def test_filters_resolve_names_in_the_traced_devices_tables(tmp_path: Path) -> None:
    tables = tables_of([("disk0", Disk), ("echo0", Recorder())])
    assert tables["echo0"] is None
    only = parse_filter({"opcodes": ["Read(16)", "synchronize-cache"]}, tables)
    assert only.names == {"READ16", "SYNCHRONIZECACHE"}
    with pytest.raises(TraceFilterError, match="no command of the traced devices"):
        parse_filter({"devices": ["echo0"], "opcodes": ["inquiry"]}, tables)


def test_a_device_that_raises_is_traced_as_the_loop_answers_it() -> None:
    class Broken:
        def execute(self, cmd: Command) -> Result:
            raise RuntimeError("bug")

    hub = TraceHub({"b0": None})
    records: list[TraceRecord] = []
    hub.publish = records.append  # type: ignore[method-assign, assignment]
    traced = TracedDevice("b0", Broken(), None, hub)
    with pytest.raises(RuntimeError):
        traced.execute(Command(TUR))
    (record,) = records
    assert record_json(record)["status"] == "CHECK_CONDITION"
    assert record_json(record)["sense"]["key"] == "HARDWARE_ERROR"


def test_the_human_form() -> None:
    record = TraceRecord(
        1_700_000_000_123_456_000,
        "disk0",
        bytes([0x12, 1, 0x80, 0, 0xFF, 0]),
        "INQUIRY",
        255,
        2,
        SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 0)).sense_bytes(),
        None,
        12_345,
    )
    line = format_event(record_json(record), 6)
    assert line.split()[1:6] == ["disk0", "12h", "INQUIRY", "12018000ff00", "255"]
    assert line.endswith("12.3us  CHECK_CONDITION  ILLEGAL_REQUEST 24h/00h INVALID FIELD IN CDB")
    assert format_event({"event": "dropped", "count": 3, "total": 9}).startswith(
        "-- 3 command(s) not shown"
    )


# ---------------------------------------------------------------------- CLI


def test_devemu_trace_json_ends_when_the_daemon_stops(
    daemon: tuple[Daemon, SimBackend], capsys: pytest.CaptureFixture[str]
) -> None:
    served, backend = daemon
    codes: list[int] = []
    argv = ["trace", "disk0", "--json", "--opcode", "inquiry", "--socket"]
    thread = threading.Thread(
        target=lambda: codes.append(cli.main([*argv, str(served.config.control_socket)]))
    )
    thread.start()
    _until(served, lambda: bool(served.tracing.subscribers))
    run(served, backend, "disk0", TUR)
    run(served, backend, "disk0", INQUIRY, 36)
    served.step(0.1)
    assert served.control is not None
    served.control.close()  # the daemon stops: the stream ends
    served.control = None
    thread.join(5)
    assert codes == [0]
    captured = capsys.readouterr()
    (line,) = captured.out.splitlines()
    assert json.loads(line)["name"] == "INQUIRY"
    assert "the daemon ended the trace" in captured.err


def test_devemu_trace_refused_filter_exits_1(
    daemon: tuple[Daemon, SimBackend], capsys: pytest.CaptureFixture[str]
) -> None:
    served, _ = daemon
    codes: list[int] = []
    argv = ["trace", "--status", "fine", "--socket", str(served.config.control_socket)]
    thread = threading.Thread(target=lambda: codes.append(cli.main(argv)))
    thread.start()
    _until(served, lambda: bool(codes))
    thread.join()
    assert codes == [1]
    assert "unknown status 'fine'" in capsys.readouterr().err


def test_ctrl_c_ends_devemu_trace_with_status_0(daemon: tuple[Daemon, SimBackend]) -> None:
    served, backend = daemon
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    process = subprocess.Popen(
        [sys.executable, "-m", "devemu", "trace", "--socket", str(served.config.control_socket)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    lines: list[str] = []
    assert process.stdout is not None
    reader = threading.Thread(target=lambda: lines.extend(iter_lines(process.stdout)))
    reader.start()
    try:
        _until(served, lambda: bool(served.tracing.subscribers), steps=400)
        run(served, backend, "disk0", INQUIRY, 36)
        _until(served, lambda: len(lines) >= 2, steps=400)
        process.send_signal(signal.SIGINT)
        _until(served, lambda: process.poll() is not None, steps=200)
        reader.join(5)
        assert process.stderr is not None
        err = process.stderr.read()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, err
    assert lines[0].split()[:4] == ["TIME", "DEVICE", "OP", "COMMAND"]
    assert " disk0 " in lines[1] and " 12h INQUIRY " in lines[1]
    assert "Traceback" not in err.decode()
    _until(served, lambda: not served.tracing.subscribers)


def iter_lines(pipe: Any) -> Iterator[str]:
    for line in pipe:
        yield line.decode()


# -------------------------------------------------------------- log level


def test_serve_log_level(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text('[daemon]\nstate_dir = "state"\n\n[[cdrom]]\nname = "cd0"\n')
    assert cli.main(["serve", "--check", "--log-level", "debug", str(lab)]) == 0
    err = capsys.readouterr().err
    assert re.search(
        rf"^\d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d,\d{{3}} DEBUG devemu.daemon_cli: reading {lab}$",
        err,
        re.MULTILINE,
    ), err
    # The default, info, says what the daemon does; a refused file stays one line.
    assert cli.main(["serve", "--check", str(lab)]) == 0
    assert capsys.readouterr().err == ""
    assert cli.main(["-v", "serve", "--check", str(lab)]) == 0
    assert "DEBUG devemu.daemon_cli: reading" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        cli.main(["serve", "--check", "--log-level", "loud", str(lab)])
    assert exit_.value.code == 2
    assert "--log-level: invalid choice: 'loud'" in capsys.readouterr().err


def test_data_out_is_recorded_only_for_data_out_commands_and_when_asked(tmp_path: Path) -> None:
    create_image(tmp_path / "d.img", 1 << 20, 512)
    disk = Disk(DiskImage(tmp_path / "d.img"), Identity("DEVEMU", "DISK", "0100", "T1"))
    hub = TraceHub({"d0": Disk.commands})
    records: list[TraceRecord] = []
    traced = TracedDevice("d0", disk, Disk.commands, hub)
    hub.publish = records.append  # type: ignore[method-assign, assignment]
    write10 = bytes([0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0])
    block = bytes(range(256)) * 2
    traced.execute(Command(write10, [memoryview(bytearray(block))]))
    assert records[-1].data_out is None  # nobody asked
    wanted = hub.subscribe({"data_out": 16}, lambda: None, 10)
    traced.execute(Command(write10, [memoryview(bytearray(block))]))
    traced.execute(Command(READ10, [memoryview(bytearray(512))]))
    write, read = records[-2:]
    assert write.data_out == block[:16] and read.data_out is None
    assert record_json(write, 16)["data_out"] == block[:16].hex()
    assert "data_out" not in record_json(write) and "data_out" not in record_json(read, 16)
    hub.unsubscribe(wanted)
    with pytest.raises(TraceFilterError, match="data_out"):
        parse_filter({"data_out": -1}, {"d0": Disk.commands})
