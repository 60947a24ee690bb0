"""The iSCSI initiator's PDUs against a minimal target that hands commands to the ring simulator.

The target here is a test double of LIO's (RFC 7143 as LIO applies it:
a login in two stages, the CDB's tail in an extended CDB AHS, data-out
only against R2Ts of at most its MaxRecvDataSegmentLength, data-in in
several PDUs, status in a SCSI Response with the sense data). The real
target is the VM tier's (tests/vm/test_osd_iscsi_vm.py).
"""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from devemu.osd.device import OsdDevice
from devemu.testing.iscsi_initiator import IscsiError, IscsiTransport
from devemu.testing.osd import OsdClient, OsdError
from devemu.testing.simulator import RingSimulator

TARGET = "iqn.2026-12.org.devemu.test:fake"
MAX_RECV = 4096  # the target's MaxRecvDataSegmentLength: data-out comes in pieces


def _recv(conn: socket.socket, n: int) -> bytes:
    out = b""
    while len(out) < n:
        chunk = conn.recv(n - len(out))
        if not chunk:
            raise EOFError
        out += chunk
    return out


def _pdu(conn: socket.socket) -> tuple[bytes, bytes, bytes]:
    bhs = _recv(conn, 48)
    ahs = _recv(conn, bhs[4] * 4) if bhs[4] else b""
    n = int.from_bytes(bhs[5:8], "big")
    data = _recv(conn, (n + 3) & ~3)[:n] if n else b""
    return bhs, ahs, data


def _send(conn: socket.socket, bhs: bytearray, data: bytes = b"") -> None:
    bhs[5:8] = len(data).to_bytes(3, "big")
    conn.sendall(bytes(bhs) + data + bytes(-len(data) % 4))


class FakeTarget:
    def __init__(self, sim: RingSimulator, accept_name: str = TARGET) -> None:
        self.sim = sim
        self.accept_name = accept_name
        self.server = socket.socket()
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(1)
        self.port = self.server.getsockname()[1]
        self.cdb_lengths: list[int] = []
        self.statsn = 100
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self) -> None:
        conn, _ = self.server.accept()
        try:
            while True:
                bhs, ahs, data = _pdu(conn)
                op = bhs[0] & 0x3F
                if op == 0x03:
                    self.login(conn, bhs, data)
                elif op == 0x01:
                    self.command(conn, bhs, ahs)
                elif op == 0x06:
                    out = bytearray(48)
                    out[0], out[1] = 0x26, 0x80
                    out[16:20] = bhs[16:20]
                    _send(conn, out)
                    return
        except EOFError:
            return
        finally:
            conn.close()

    def login(self, conn: socket.socket, bhs: bytes, data: bytes) -> None:
        keys = dict(k.split("=", 1) for k in data.decode().split("\0") if k)
        out = bytearray(48)
        out[0], out[1] = 0x23, bhs[1]
        out[8:14] = bhs[8:14]
        out[16:20] = bhs[16:20]
        struct.pack_into(">I", out, 24, self.statsn)
        answer = b""
        if "TargetName" in keys and keys["TargetName"] != self.accept_name:
            out[36], out[37] = 0x02, 0x03  # initiator error: not found
        elif bhs[1] & 0x0C == 0:
            answer = b"AuthMethod=None\0"
        elif "X-Test-Proposal" not in keys:
            # LIO's way: a key of the target's own, and no transit until it is answered.
            out[1] = bhs[1] & ~0x80
            answer = b"X-Test-Proposal=Yes,No\0TargetPortalGroupTag=1\0"
        else:
            assert keys["X-Test-Proposal"] == "Yes" and "TargetPortalGroupTag" not in keys
            out[14:16] = (7).to_bytes(2, "big")
            answer = f"MaxRecvDataSegmentLength={MAX_RECV}\0".encode()
        _send(conn, out, answer)

    def command(self, conn: socket.socket, bhs: bytes, ahs: bytes) -> None:
        cdb = bhs[32:48]
        if ahs:
            length, kind = struct.unpack_from(">HB", ahs)
            assert kind == 0x01
            cdb += ahs[4 : 3 + length]
        self.cdb_lengths.append(len(cdb))
        itt = bhs[16:20]
        expected = struct.unpack_from(">I", bhs, 20)[0]
        data_out = None
        if bhs[1] & 0x20:
            got = bytearray()
            while len(got) < expected:
                r2t = bytearray(48)
                r2t[0], r2t[1] = 0x31, 0x80
                r2t[16:20] = itt
                struct.pack_into(">II", r2t, 20, 0x55, self.statsn)
                struct.pack_into(">II", r2t, 40, len(got), expected - len(got))
                _send(conn, r2t)
                while True:
                    out_bhs, _, piece = _pdu(conn)
                    assert out_bhs[0] & 0x3F == 0x05 and len(piece) <= MAX_RECV
                    assert struct.unpack_from(">I", out_bhs, 40)[0] == len(got)
                    got += piece
                    if out_bhs[1] & 0x80:
                        break
            data_out = bytes(got)
        done = self.sim.execute(cdb, data_out, expected if bhs[1] & 0x40 else 0)
        data = bytes(done.data)
        for at in range(0, len(data), 1000):  # data-in in several PDUs
            din = bytearray(48)
            din[0], din[1] = 0x25, 0x00
            din[16:20] = itt
            struct.pack_into(">I", din, 40, at)
            _send(conn, din, data[at : at + 1000])
        self.statsn += 1
        rsp = bytearray(48)
        rsp[0], rsp[1], rsp[3] = 0x21, 0x80, int(done.status)
        rsp[16:20] = itt
        struct.pack_into(">I", rsp, 24, self.statsn)
        sense = bytes(done.sense)
        _send(conn, rsp, (len(sense).to_bytes(2, "big") + sense) if sense else b"")


@pytest.fixture
def target(device: OsdDevice) -> Iterator[FakeTarget]:
    sim = RingSimulator()
    sim.attach(device)
    sim.execute(bytes(6))
    fake = FakeTarget(sim)
    yield fake
    fake.server.close()


def test_a_whole_sequence_over_the_wire(target: FakeTarget) -> None:
    transport = IscsiTransport("127.0.0.1", target.port, TARGET, "iqn.2026-12.test:client")
    osd = OsdClient(transport)
    osd.format(1 << 30)
    pid = osd.create_partition()
    oid = osd.create(pid)
    data = bytes(range(256)) * 100  # 25600 bytes: seven R2T pieces of 4096
    osd.write(pid, oid, data)
    assert osd.read(pid, oid, len(data)) == data
    with pytest.raises(OsdError) as err:
        osd.read(pid, 0x99999, 4)
    assert err.value.sense is not None and err.value.sense.field_pointer == 24
    transport.close()
    assert set(target.cdb_lengths) == {236}


def test_a_refused_login_is_an_error(device: OsdDevice) -> None:
    fake = FakeTarget(RingSimulator(), accept_name="iqn.other")
    with pytest.raises(IscsiError, match="login refused: status class 2"):
        IscsiTransport("127.0.0.1", fake.port, TARGET, "iqn.2026-12.test:client")
    fake.server.close()
