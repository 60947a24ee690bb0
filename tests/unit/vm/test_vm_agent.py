"""The agent protocol without a VM: framing, bounds, resync, multiplexing, the agent itself."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from devemu.control_protocol import ControlError
from devemu.vm import agent as agent_module
from devemu.vm.agent import MAX_COMMANDS, Agent, exec_request, find_port
from devemu.vm.agent_client import AgentClient, CommandTimeoutError
from devemu.vm.agent_protocol import (
    CHUNK,
    HEADER,
    MAGIC,
    MAX_PAYLOAD,
    Decoder,
    Frame,
    Kind,
    ProtocolError,
    encode,
    encode_data,
    encode_json,
)

# ---------------------------------------------------------------- framing


def test_header_layout_is_fixed() -> None:
    frame = encode(Kind.STDOUT, 0x01020304, b"xyz")
    assert frame == b"dV" + bytes([6]) + bytes([1, 2, 3, 4]) + (3).to_bytes(4, "big") + b"xyz"
    assert HEADER.size == 11


def test_frames_survive_any_split() -> None:
    stream = b"".join(
        [
            encode_json(Kind.EXEC, 1, {"argv": ["true"]}),
            encode(Kind.STDIN, 1, b"dV" * 10),
            encode(Kind.STDIN_EOF, 1),
        ]
    )
    for cut in range(len(stream) + 1):
        decoder = Decoder()
        frames = decoder.feed(stream[:cut]) + decoder.feed(stream[cut:])
        assert [f.kind for f in frames] == [Kind.EXEC, Kind.STDIN, Kind.STDIN_EOF]
        assert frames[1].payload == b"dV" * 10
        assert decoder.discarded == 0


def test_junk_before_a_frame_is_skipped_and_counted() -> None:
    decoder = Decoder()
    frames = decoder.feed(b"\x00garbage d" + encode(Kind.STDOUT, 5, b"ok"))
    assert frames == [Frame(Kind.STDOUT, 5, b"ok")]
    assert decoder.discarded == len(b"\x00garbage d")


def test_a_torn_frame_is_dropped_when_its_connection_ends() -> None:
    decoder = Decoder()
    torn = encode(Kind.STDIN, 1, b"A" * 100)[:40]
    assert decoder.feed(torn) == []
    assert decoder.pending == 40
    decoder.reset()
    assert decoder.feed(encode(Kind.EXIT, 1, b"{}")) == [Frame(Kind.EXIT, 1, b"{}")]


def test_oversized_length_is_not_buffered() -> None:
    decoder = Decoder(max_payload=16)
    header = HEADER.pack(MAGIC, Kind.STDOUT, 1, 17)
    assert decoder.feed(header + b"x" * 17) == []
    assert decoder.pending < HEADER.size
    assert decoder.feed(encode(Kind.STDOUT, 1, b"ok")) == [Frame(Kind.STDOUT, 1, b"ok")]


def test_unknown_kind_is_skipped() -> None:
    decoder = Decoder()
    bad = HEADER.pack(MAGIC, 200, 1, 0)
    assert decoder.feed(bad + encode(Kind.STDERR, 2, b"e")) == [Frame(Kind.STDERR, 2, b"e")]


def test_encode_refuses_oversized_payload_and_bad_channel() -> None:
    with pytest.raises(ProtocolError):
        encode(Kind.STDIN, 1, b"x" * (MAX_PAYLOAD + 1))
    with pytest.raises(ProtocolError):
        encode(Kind.STDIN, -1)


def test_data_is_chunked() -> None:
    frames = encode_data(Kind.STDIN, 3, b"x" * (CHUNK * 2 + 1))
    assert len(frames) == 3
    assert encode_data(Kind.STDIN, 3, b"") == []


@given(st.binary(max_size=2000))
def test_decoder_never_raises_and_stays_bounded(junk: bytes) -> None:
    decoder = Decoder(max_payload=64)
    decoder.feed(junk)
    assert decoder.pending <= HEADER.size + 64
    assert decoder.feed(encode(Kind.STDOUT, 9, b"z")) != [] or decoder.pending > 0


@pytest.mark.parametrize(
    "payload",
    [
        b"not json",
        b"[1]",
        b'{"argv": []}',
        b'{"argv": "ls"}',
        b'{"argv": ["a\\u0000b"]}',
        b'{"argv": ["ls"], "env": {"A=B": "x"}}',
        b'{"argv": ["ls"], "env": {"A": 1}}',
        b'{"argv": ["ls"], "cwd": 3}',
        b'{"argv": ["ls"], "stdin": "yes"}',
        b'{"argv": ["ls"], "shell": true}',
    ],
)
def test_bad_exec_requests_are_refused(payload: bytes) -> None:
    with pytest.raises(ProtocolError):
        exec_request(Frame(Kind.EXEC, 1, payload))


def test_find_port_by_name(tmp_path: Path) -> None:
    for index, name in enumerate(["org.qemu.guest_agent.0", "devemu.agent"]):
        (tmp_path / f"vport1p{index}").mkdir()
        (tmp_path / f"vport1p{index}" / "name").write_text(name + "\n")
    assert find_port("devemu.agent", tmp_path, Path("/dev")) == Path("/dev/vport1p1")
    with pytest.raises(FileNotFoundError):
        find_port("other", tmp_path)


# ------------------------------------------------------ agent and client


@pytest.fixture
def agent_socket() -> Iterator[Path]:
    """A Unix socket served by an agent (as QEMU's chardev would hand it the port)."""
    folder = Path(tempfile.mkdtemp(prefix="dva"))
    path = folder / "a.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(path))
    listener.listen(1)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                Agent(conn.fileno(), conn.fileno(), control_socket=str(folder / "c.sock")).serve()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path
    listener.close()


def test_run_keeps_streams_and_status_apart(agent_socket: Path) -> None:
    with AgentClient(agent_socket) as client:
        result = client.run(["sh", "-c", "echo out; echo err >&2; exit 3"], timeout=10)
    assert (result.returncode, result.stdout, result.stderr) == (3, b"out\n", b"err\n")


def test_stdin_env_and_cwd(agent_socket: Path, tmp_path: Path) -> None:
    with AgentClient(agent_socket) as client:
        fed = client.run(["cat"], stdin=b"x" * (CHUNK * 3), timeout=10)
        env = client.run(["sh", "-c", "echo $DEVEMU_T; pwd"], env={"DEVEMU_T": "v"}, cwd="/")
    assert fed.stdout == b"x" * (CHUNK * 3)
    assert env.stdout == b"v\n/\n"


def test_output_streams_to_sinks_as_it_comes(agent_socket: Path) -> None:
    seen: list[bytes] = []
    with AgentClient(agent_socket) as client:
        result = client.run(["sh", "-c", "printf a; sleep 0.2; printf b"], on_stdout=seen.append)
    assert b"".join(seen) == result.stdout == b"ab"
    assert len(seen) == 2


def test_missing_program_is_127(agent_socket: Path) -> None:
    with AgentClient(agent_socket) as client:
        result = client.run(["/nonexistent/x"])
    assert result.returncode == 127 and b"/nonexistent/x" in result.stderr


def test_timeout_kills_the_process_group(agent_socket: Path) -> None:
    with AgentClient(agent_socket) as client:
        with pytest.raises(CommandTimeoutError):
            client.run(["sh", "-c", "sleep 30 & sleep 30"], timeout=0.5)
        assert client.run(["true"], timeout=10).returncode == 0


def test_commands_are_multiplexed_by_channel(agent_socket: Path) -> None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(agent_socket))
    sock.settimeout(10)
    sock.sendall(encode_json(Kind.HELLO, 0, {"nonce": "n"}))
    for channel, word in ((7, "seven"), (8, "eight")):
        request = {"argv": ["sh", "-c", f"sleep 0.1; echo {word}"], "stdin": False}
        sock.sendall(encode_json(Kind.EXEC, channel, request))
    decoder = Decoder()
    exits: dict[int, int] = {}
    output: dict[int, bytes] = {7: b"", 8: b""}
    while len(exits) < 2:
        for frame in decoder.feed(sock.recv(65536)):
            if frame.kind is Kind.STDOUT:
                output[frame.channel] += frame.payload
            elif frame.kind is Kind.EXIT:
                exits[frame.channel] = frame.json()["status"]
    sock.close()
    assert exits == {7: 0, 8: 0}
    assert output == {7: b"seven\n", 8: b"eight\n"}


def _exchange(agent_socket: Path, *frames: bytes, quiet: float = 1.0) -> list[Frame]:
    """Send HELLO and ``frames``; return what comes back within a short while."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(str(agent_socket))
    sock.sendall(encode_json(Kind.HELLO, 0, {"nonce": "n"}) + b"".join(frames))
    sock.settimeout(quiet)
    decoder = Decoder()
    got: list[Frame] = []
    try:
        while data := sock.recv(65536):
            got += decoder.feed(data)
    except TimeoutError:
        pass
    sock.close()
    return got


def test_hostile_frames_get_errors_and_the_agent_serves_on(agent_socket: Path) -> None:
    got = _exchange(
        agent_socket,
        b"junk" * 100,
        encode(Kind.EXEC, 1, b"{nope"),
        encode(Kind.STDIN, 99, b"x"),
        encode(Kind.STDOUT, 1, b"x"),
        encode_json(Kind.SIGNAL, 98, {"signal": 9}),
        encode_json(Kind.EXEC, 0, {"argv": ["true"]}),
    )
    errors = [f for f in got if f.kind is Kind.ERROR]
    assert [f.channel for f in errors] == [1, 99, 1, 98, 0]
    with AgentClient(agent_socket) as client:
        assert client.run(["true"]).returncode == 0


def test_a_taken_channel_is_refused(agent_socket: Path) -> None:
    long = encode_json(Kind.EXEC, 5, {"argv": ["sleep", "5"]})
    got = _exchange(agent_socket, long, long)
    assert any(f.kind is Kind.ERROR and "taken" in f.json()["error"] for f in got)


def test_commands_at_once_are_bounded(agent_socket: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert MAX_COMMANDS == 64
    monkeypatch.setattr(agent_module, "MAX_COMMANDS", 3)
    frames = [encode_json(Kind.EXEC, channel, {"argv": ["sleep", "5"]}) for channel in range(1, 5)]
    got = _exchange(agent_socket, *frames, quiet=2.0)
    refused = [f for f in got if f.kind is Kind.ERROR]
    assert [f.channel for f in refused] == [4]
    assert "3 commands run already" in refused[0].json()["error"]


def test_a_new_connection_kills_what_the_previous_left(agent_socket: Path) -> None:
    marker = Path(tempfile.mkdtemp()) / "survived"
    _exchange(
        agent_socket, encode_json(Kind.EXEC, 1, {"argv": ["sh", "-c", f"sleep 1; touch {marker}"]})
    )
    with AgentClient(agent_socket) as client:
        client.run(["sleep", "1.5"])
    assert not marker.exists()


def test_control_is_forwarded_to_the_daemon_socket(agent_socket: Path) -> None:
    daemon = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    daemon.bind(str(agent_socket.parent / "c.sock"))
    daemon.listen(1)
    seen: list[bytes] = []

    def answer() -> None:
        conn, _ = daemon.accept()
        with conn:
            seen.append(conn.recv(65536))
            conn.sendall(b'{"ok": true, "result": {"tray": "open"}}\n')

    threading.Thread(target=answer, daemon=True).start()
    with AgentClient(agent_socket) as client:
        assert client.control("cd0", "eject", force=True) == {"tray": "open"}
    assert json.loads(seen[0]) == {"op": "eject", "args": {"force": True}, "device": "cd0"}
    daemon.close()


def test_control_without_a_daemon_is_a_control_error(agent_socket: Path) -> None:
    with AgentClient(agent_socket) as client, pytest.raises(ControlError, match="in the guest"):
        client.control(None, "status")


def test_shutdown_ends_the_agent() -> None:
    ours, theirs = socket.socketpair()
    agent = Agent(theirs.fileno(), theirs.fileno())
    ours.sendall(encode_json(Kind.SHUTDOWN, 0, {}))
    assert agent.serve() == 0
    frames = Decoder().feed(ours.recv(65536))
    assert frames == [Frame(Kind.EXIT, 0, b'{"status":0}')]
    ours.close()
    theirs.close()


def test_agent_ends_when_the_stream_closes_without_reconnect() -> None:
    ours, theirs = socket.socketpair()
    ours.close()
    assert Agent(theirs.fileno(), theirs.fileno()).serve() == 0
    theirs.close()
    assert os.getpid() > 0


def test_a_host_that_resets_the_connection_ends_serving_as_an_end_of_stream() -> None:
    """A peer that closes with our bytes unread resets the stream (ECONNRESET): not an error."""
    ours, host = socket.socketpair()
    with ours:
        ours.send(b"unread by the host")
        host.close()  # with data unread: the next read on ours is ECONNRESET
        assert Agent(ours.fileno(), ours.fileno()).serve() == 0
