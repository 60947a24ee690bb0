"""The disk on an NBD export, against a real qemu-storage-daemon each test starts.

Every mapped command (SBC-4 clause in each test's name) is checked on
what reached the server: the data read back through a second,
independent NBD connection, the allocation through ``qemu-img map``,
and the request flags through a recorder around the disk's own libnbd
handle (the requests still go to the real server).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbd
import pytest

from devemu import cli
from devemu.disk import nbd as nbd_image
from devemu.disk.config import from_config
from devemu.disk.device import Disk
from devemu.disk.nbd import NbdImage, is_nbd_uri
from devemu.disk.pages import BlockLimitsVpd
from devemu.disk.parameters import DEALLOCATED, MAPPED
from devemu.disk.storage_daemon import StorageDaemon, create
from devemu.errors import ConfigError, ImageError
from devemu.scsi.command import Status
from devemu.scsi.sense import (
    LOGICAL_UNIT_COMMUNICATION_FAILURE,
    MISCOMPARE_DURING_VERIFY_OPERATION,
    WRITE_PROTECTED,
)
from tests.unit.disk.disk_fixtures import (
    IDENTITY,
    Answer,
    execute,
    rw10,
    rw16,
    sai16,
    unmap_cdb,
    unmap_list,
)
from tests.unit.disk.nbd_server import Server, data_bytes

SIZE = 8 << 20
BS = 512
CLUSTER = 64 << 10  # qcow2's default cluster size


class Recorder:
    """Forwards every call to the libnbd handle and notes the requests with their flags."""

    def __init__(self, h: Any) -> None:
        self._h = h
        self.calls: list[tuple[str, int]] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._h, name)
        if name not in ("aio_pwrite", "aio_zero", "aio_trim", "aio_flush"):
            return attr

        def call(*args: Any, **kw: Any) -> Any:
            self.calls.append((name, kw.get("flags", 0)))
            return attr(*args, **kw)

        return call


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    image = tmp_path / "disk.qcow2"
    create(image, "qcow2", SIZE)
    srv = Server(image, tmp_path / "nbd.sock").start()
    yield srv
    srv.stop()


def open_disk(uri: str, block_size: int = BS, **kw: Any) -> Disk:
    write_cache = kw.pop("write_cache", True)
    dev = Disk(NbdImage(uri, block_size, **kw), IDENTITY, write_cache=write_cache)
    dev.unit_attentions.clear()
    return dev


@pytest.fixture
def disk(server: Server) -> Iterator[Disk]:
    dev = open_disk(server.uri)
    yield dev
    dev.close()


@pytest.fixture
def recorder(disk: Disk) -> Iterator[Recorder]:
    image = disk.image
    assert isinstance(image, NbdImage)
    rec = Recorder(image._h)
    image._h = rec
    yield rec
    if image._h is rec:
        image._h = rec._h  # the disk closes its own handle


def run(
    dev: Disk, cdb: bytes, data_out: bytes | None = None, data_in: int = 0, **kw: int
) -> Answer:
    return execute(dev, cdb, data_out, data_in, **kw)


def pattern(n: int, seed: int = 7) -> bytes:
    return bytes((i * seed + i // 251) & 0xFF for i in range(n))


def on_server(server: Server, offset: int, length: int) -> bytes:
    h = server.connect()
    try:
        data: bytes = h.pread(length, offset)
        return data
    finally:
        h.shutdown()


def write_same(lba: int, count: int, *, unmap: bool = False, ndob: bool = False) -> bytes:
    flags = (0x08 if unmap else 0) | (0x01 if ndob else 0)
    return bytes([0x93, flags]) + lba.to_bytes(8, "big") + count.to_bytes(4, "big") + b"\0\0"


def test_uri_recognised() -> None:
    assert is_nbd_uri("nbd+unix:///disk?socket=/run/x.sock")
    assert is_nbd_uri("nbd://host:10809/export")
    assert not is_nbd_uri("disk.qcow2")
    assert not is_nbd_uri("/srv/nbd://x")


# --- READ and WRITE (SBC-4 5.13-5.15, 5.42-5.44) ----------------------------------------


@pytest.mark.parametrize("pieces", [1, 3])
def test_write_then_read_through_the_export(disk: Disk, server: Server, pieces: int) -> None:
    data = pattern(48 * BS)
    assert run(disk, rw16(0x8A, 100, 48), data, pieces=pieces).status == Status.GOOD
    assert on_server(server, 100 * BS, 48 * BS) == data
    answer = run(disk, rw10(0x28, 100, 48), data_in=48 * BS, pieces=pieces)
    assert answer.status == Status.GOOD
    assert answer.data == data


def test_read_lands_in_the_callers_buffer(disk: Disk, server: Server) -> None:
    """aio_pread into an nbd.Buffer sharing the memoryview: the data is in the ring's buffer."""
    h = server.connect()
    h.pwrite(b"\xa5" * 4096, 0)
    h.shutdown()
    ring = bytearray(8192)
    view = memoryview(ring)[4096:]
    image = disk.image
    assert image.read_at([view], 0) == 4096
    assert ring[4096:] == b"\xa5" * 4096
    assert ring[:4096] == bytes(4096)


@pytest.mark.parametrize("pieces", [1, 2])
def test_no_copy_of_the_data_in_python(disk: Disk, pieces: int) -> None:
    """READ lands in the caller's buffer and WRITE sends from it: no Python-side copy
    (a copy of the 4 MiB transfer would show in the peak of traced allocations)."""
    size = 4 << 20
    view = memoryview(bytearray(size))
    step = size // pieces
    iov = [view[i : i + step] for i in range(0, size, step)]
    image = disk.image
    tracemalloc.start()
    try:
        image.write_from(0, size // BS, iov)
        image.read_into(0, size // BS, iov)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 10


def test_fua_write_asks_the_server_for_fua(disk: Disk, recorder: Recorder) -> None:
    assert run(disk, rw10(0x2A, 0, 8), pattern(8 * BS)).status == Status.GOOD
    assert run(disk, rw10(0x2A, 8, 8, flags=0x08), pattern(8 * BS)).status == Status.GOOD
    assert recorder.calls == [("aio_pwrite", 0), ("aio_pwrite", nbd.CMD_FLAG_FUA)]


def test_write_cache_off_makes_every_write_fua(server: Server) -> None:
    dev = open_disk(server.uri, write_cache=False)
    image = dev.image
    assert isinstance(image, NbdImage)
    rec = Recorder(image._h)
    image._h = rec
    try:
        assert run(dev, rw10(0x2A, 0, 8), pattern(8 * BS), pieces=2).status == Status.GOOD
        assert rec.calls == [("aio_pwrite", nbd.CMD_FLAG_FUA)] * 2
    finally:
        image._h = rec._h
        dev.close()


def test_out_of_range_is_refused_before_the_server(disk: Disk, recorder: Recorder) -> None:
    answer = run(disk, rw10(0x2A, SIZE // BS - 1, 2), pattern(2 * BS))
    assert answer.status == Status.CHECK_CONDITION
    assert recorder.calls == []


# --- SYNCHRONIZE CACHE (SBC-4 5.31) ---------------------------------------------------


def test_synchronize_cache_is_a_flush(disk: Disk, recorder: Recorder) -> None:
    assert run(disk, bytes([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0])).status == Status.GOOD
    assert recorder.calls == [("aio_flush", 0)]


# --- UNMAP, WRITE SAME (SBC-4 5.32, 5.50) --------------------------------------------------


def test_unmap_frees_clusters_and_reads_zeros(
    disk: Disk, server: Server, recorder: Recorder
) -> None:
    blocks = 4 * CLUSTER // BS
    assert run(disk, rw16(0x8A, 0, blocks), b"\x5a" * (blocks * BS)).status == Status.GOOD
    assert data_bytes(server, 0, 4 * CLUSTER) == 4 * CLUSTER
    recorder.calls.clear()
    params = unmap_list((CLUSTER // BS, 2 * CLUSTER // BS))
    assert run(disk, unmap_cdb(len(params)), params).status == Status.GOOD
    # WRITE ZEROES that may punch holes (no NO_HOLE), not a TRIM: reads must give zeros.
    assert [name for name, _ in recorder.calls] == ["aio_zero"]
    assert not recorder.calls[0][1] & nbd.CMD_FLAG_NO_HOLE
    assert data_bytes(server, CLUSTER, 2 * CLUSTER) == 0
    assert data_bytes(server, 0, CLUSTER) == CLUSTER
    assert on_server(server, CLUSTER, 2 * CLUSTER) == bytes(2 * CLUSTER)


def test_write_same_unmap_frees_clusters(disk: Disk, server: Server, recorder: Recorder) -> None:
    blocks = 2 * CLUSTER // BS
    assert run(disk, rw16(0x8A, 0, blocks), b"\x33" * (blocks * BS)).status == Status.GOOD
    recorder.calls.clear()
    assert run(disk, write_same(0, blocks, unmap=True), bytes(BS)).status == Status.GOOD
    assert [name for name, _ in recorder.calls] == ["aio_zero"]
    assert data_bytes(server, 0, 2 * CLUSTER) == 0
    assert on_server(server, 0, 2 * CLUSTER) == bytes(2 * CLUSTER)


def test_write_same_zeros_keeps_blocks_allocated(disk: Disk, recorder: Recorder) -> None:
    assert run(disk, write_same(0, 16, ndob=True)).status == Status.GOOD
    assert recorder.calls == [("aio_zero", nbd.CMD_FLAG_NO_HOLE)]


def test_write_same_pattern_writes_every_block(disk: Disk, server: Server) -> None:
    block = pattern(BS, seed=3)
    assert run(disk, write_same(10, 20), block).status == Status.GOOD
    assert on_server(server, 10 * BS, 20 * BS) == block * 20


# --- GET LBA STATUS (SBC-4 5.8) --------------------------------------------------------


def lba_status(dev: Disk, lba: int) -> list[tuple[int, int, int]]:
    answer = run(dev, sai16(0x12, lba, 4096), data_in=4096)
    assert answer.status == Status.GOOD, answer
    out = []
    for pos in range(8, len(answer.data), 16):
        d = answer.data[pos : pos + 16]
        out.append((int.from_bytes(d[:8], "big"), int.from_bytes(d[8:12], "big"), d[12] & 0xF))
    return out


def test_get_lba_status_from_base_allocation(disk: Disk) -> None:
    per_cluster = CLUSTER // BS
    capacity = SIZE // BS
    assert lba_status(disk, 0) == [(0, capacity, DEALLOCATED)]
    data = b"\x01" * CLUSTER
    assert run(disk, rw16(0x8A, 2 * per_cluster, per_cluster), data).status == Status.GOOD
    assert lba_status(disk, 0) == [
        (0, 2 * per_cluster, DEALLOCATED),
        (2 * per_cluster, per_cluster, MAPPED),
        (3 * per_cluster, capacity - 3 * per_cluster, DEALLOCATED),
    ]
    assert lba_status(disk, 2 * per_cluster + 5)[0] == (2 * per_cluster + 5, per_cluster - 5, 0)


# --- COMPARE AND WRITE (SBC-4 5.3) ----------------------------------------------------------


def caw(lba: int, count: int) -> bytes:
    return bytes([0x89, 0]) + lba.to_bytes(8, "big") + bytes([0, 0, 0, count, 0, 0])


def test_compare_and_write(disk: Disk, server: Server) -> None:
    old, new = pattern(2 * BS, 3), pattern(2 * BS, 5)
    assert run(disk, rw10(0x2A, 40, 2), old).status == Status.GOOD
    assert run(disk, caw(40, 2), old + new).status == Status.GOOD
    assert on_server(server, 40 * BS, 2 * BS) == new
    wrong = bytearray(new)
    wrong[700] ^= 1
    answer = run(disk, caw(40, 2), bytes(wrong) + old)
    assert answer.status == Status.CHECK_CONDITION
    assert answer.code == MISCOMPARE_DURING_VERIFY_OPERATION
    assert answer.fields["information"] == 700
    assert on_server(server, 40 * BS, 2 * BS) == new


# --- READ CAPACITY and Block Limits (SBC-4 5.20, 6.6.4) ------------------------------------


def read_capacity_16(dev: Disk) -> tuple[int, int, int]:
    answer = run(dev, sai16(0x10, 0, 32), data_in=32)
    assert answer.status == Status.GOOD
    d = answer.data
    return int.from_bytes(d[:8], "big"), int.from_bytes(d[8:12], "big"), d[13] & 0xF


def block_limits(dev: Disk) -> Any:
    answer = run(dev, bytes([0x12, 1, 0xB0, 0, 255, 0]), data_in=255)
    assert answer.status == Status.GOOD
    return BlockLimitsVpd.parse(answer.data)


def test_capacity_and_limits_from_the_export(disk: Disk) -> None:
    # qemu-storage-daemon on a qcow2: minimum 1, preferred 4096, maximum 32 MiB.
    assert read_capacity_16(disk) == (SIZE // BS - 1, BS, 3)
    limits = block_limits(disk)
    assert limits.optimal_transfer_length_granularity == 4096 // BS
    assert limits.max_transfer_length == (16 << 20) // BS


def test_block_sizes_of_the_export(tmp_path: Path) -> None:
    image = tmp_path / "disk.raw"
    image.write_bytes(bytes(SIZE))
    layer = {"driver": "blkdebug", "align": 4096, "max-transfer": 65536}
    srv = Server(image, tmp_path / "s.sock", fmt="raw", layers=(layer,)).start()
    try:
        too_small = "minimum block size 4096 is larger than block_size 512"
        with pytest.raises(ImageError, match=too_small):
            NbdImage(srv.uri, 512)
        dev = open_disk(srv.uri, 4096)
        try:
            assert read_capacity_16(dev) == (SIZE // 4096 - 1, 4096, 0)
            assert block_limits(dev).max_transfer_length == 65536 // 4096
        finally:
            dev.close()
    finally:
        srv.stop()


# --- read-only export (SBC-4 4.11) ------------------------------------------------------


def test_read_only_export_is_write_protected(tmp_path: Path) -> None:
    image = tmp_path / "ro.qcow2"
    create(image, "qcow2", SIZE)
    srv = Server(image, tmp_path / "s.sock", writable=False).start()
    dev = open_disk(srv.uri)
    try:
        assert dev.write_protected
        answer = run(dev, rw10(0x2A, 0, 1), bytes(BS))
        assert answer.status == Status.CHECK_CONDITION
        assert answer.code == WRITE_PROTECTED
        sense = run(dev, bytes([0x1A, 0x08, 0x3F, 0, 255, 0]), data_in=255)
        assert sense.data[2] & 0x80
        assert run(dev, rw10(0x28, 0, 1), data_in=BS).status == Status.GOOD
    finally:
        dev.close()
        srv.stop()


# --- the server goes away and comes back --------------------------------------------------


def test_server_gone_then_back(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(nbd_image, "RECONNECT_INTERVAL", 0.0)
    dev = open_disk(server.uri)
    try:
        data = pattern(4 * BS)
        # FUA: on the image before GOOD, so a server killed with -9 still has it.
        assert run(dev, rw10(0x2A, 0, 4, flags=0x08), data).status == Status.GOOD
        server.kill()
        for cdb, out, size in (
            (rw10(0x28, 0, 4), None, 4 * BS),
            (rw10(0x2A, 0, 4), data, 0),
            (bytes([0x35] + [0] * 9), None, 0),
        ):
            answer = run(dev, cdb, out, size)
            assert answer.status == Status.CHECK_CONDITION
            assert answer.code == LOGICAL_UNIT_COMMUNICATION_FAILURE
        # The daemon serves on: what needs no medium access still answers.
        assert run(dev, bytes([0x12, 0, 0, 0, 96, 0]), data_in=96).status == Status.GOOD
        assert run(dev, bytes(6)).status == Status.GOOD  # TEST UNIT READY
        server.start()
        answer = run(dev, rw10(0x28, 0, 4), data_in=4 * BS)
        assert answer.status == Status.GOOD
        assert answer.data == data
    finally:
        dev.close()


def test_reconnect_waits_between_attempts(server: Server) -> None:
    dev = open_disk(server.uri)
    image = dev.image
    assert isinstance(image, NbdImage)
    try:
        server.kill()
        # The command that finds the connection dead, then one that tries again at once.
        for _ in range(2):
            answer = run(dev, rw10(0x28, 0, 1), data_in=BS)
            assert answer.code == LOGICAL_UNIT_COMMUNICATION_FAILURE
        server.start()
        # Within RECONNECT_INTERVAL of the failed attempt no new connection is tried.
        assert run(dev, rw10(0x28, 0, 1), data_in=BS).code == LOGICAL_UNIT_COMMUNICATION_FAILURE
        time.sleep(nbd_image.RECONNECT_INTERVAL)
        assert run(dev, rw10(0x28, 0, 1), data_in=BS).status == Status.GOOD
        assert image.connected
    finally:
        dev.close()


def test_silent_server_is_gone_after_the_request_timeout(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that stops answering (SIGSTOP: the socket stays open) is given
    REQUEST_TIMEOUT, for a request and for a handshake, then counts as gone."""
    monkeypatch.setattr(nbd_image, "RECONNECT_INTERVAL", 0.0)
    monkeypatch.setattr(nbd_image, "REQUEST_TIMEOUT", 0.5)
    dev = open_disk(server.uri)
    assert server.process is not None
    pid = server.process.pid
    try:
        os.kill(pid, signal.SIGSTOP)
        for _ in range(2):  # the request in flight, then a handshake that never ends
            started = time.monotonic()
            answer = run(dev, rw10(0x28, 0, 8), data_in=8 * BS)
            assert answer.code == LOGICAL_UNIT_COMMUNICATION_FAILURE
            assert time.monotonic() - started < 3
        os.kill(pid, signal.SIGCONT)
        assert run(dev, rw10(0x28, 0, 8), data_in=8 * BS).status == Status.GOOD
    finally:
        os.kill(pid, signal.SIGCONT)
        dev.close()


def test_unreachable_at_start_is_an_image_error(tmp_path: Path) -> None:
    uri = f"nbd+unix:///disk?socket={tmp_path}/none.sock"
    with pytest.raises(ImageError) as caught:
        NbdImage(uri, BS)
    reason = "cannot connect: nbd_aio_connect_uri: connect: No such file or directory"
    assert str(caught.value) == f"{uri}: {reason}"


# --- the storage daemon devemu owns -----------------------------------------------------------


def served_qcow2(tmp_path: Path, **table: Any) -> Any:
    [served] = from_config(
        {"image": "disk.qcow2", **table},
        path=tmp_path / "devemu.toml",
        key="disk[0]",
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
    )
    served.device.unit_attentions.clear()
    return served


def qsd_of(served: Any) -> StorageDaemon:
    revive = served.device.image.revive
    owner = revive.__self__
    assert isinstance(owner, StorageDaemon)
    return owner


def test_qcow2_served_through_its_own_storage_daemon(tmp_path: Path) -> None:
    served = served_qcow2(tmp_path, size="16M")
    owner = qsd_of(served)
    proc = owner.process
    assert proc is not None and proc.poll() is None
    assert (tmp_path / "disk.qcow2").read_bytes()[:4] == b"QFI\xfb"
    assert oct(owner.run_dir.stat().st_mode & 0o777) == "0o700"
    dev = served.device
    assert dev.capacity == (16 << 20) // BS
    assert run(dev, rw10(0x2A, 0, 8), pattern(8 * BS)).status == Status.GOOD
    assert served.status()["nbd"] == owner.uri
    served.close()
    assert proc.poll() is not None
    assert not owner.run_dir.exists()
    check = subprocess.run(["qemu-img", "check", str(tmp_path / "disk.qcow2")], check=False)
    assert check.returncode == 0


def test_storage_daemon_restarted_when_it_dies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(nbd_image, "RECONNECT_INTERVAL", 0.0)
    served = served_qcow2(tmp_path, size="16M")
    owner = qsd_of(served)
    dev = served.device
    try:
        data = pattern(8 * BS)
        assert run(dev, rw10(0x2A, 0, 8, flags=0x08), data).status == Status.GOOD
        assert owner.process is not None
        first = owner.process.pid
        owner.process.kill()
        owner.process.wait()
        answer = run(dev, rw10(0x28, 0, 8), data_in=8 * BS)
        assert answer.code == LOGICAL_UNIT_COMMUNICATION_FAILURE
        answer = run(dev, rw10(0x28, 0, 8), data_in=8 * BS)
        assert answer.status == Status.GOOD
        assert answer.data == data
        assert owner.process is not None and owner.process.pid != first
    finally:
        served.close()


def test_storage_daemon_never_outlives_devemu(tmp_path: Path) -> None:
    """kill -9 of the process that started it: PR_SET_PDEATHSIG ends it too."""
    create(tmp_path / "disk.qcow2", "qcow2", SIZE)
    image, run_dir = str(tmp_path / "disk.qcow2"), str(tmp_path / "run")
    script = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from devemu.disk.storage_daemon import StorageDaemon
        sd = StorageDaemon(Path({image!r}), "qcow2", Path({run_dir!r}))
        sd.start()
        print(sd.process.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid)
    check = subprocess.run(["qemu-img", "check", str(tmp_path / "disk.qcow2")], check=False)
    assert check.returncode == 0


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"format": "qed"}, r"disk\[0\]\.format: must be one of qcow2, vmdk, vhdx, raw"),
        ({"removable": True}, "removable: a removable disk serves plain image files only"),
    ],
)
def test_config_refusals(tmp_path: Path, table: dict[str, Any], message: str) -> None:
    create(tmp_path / "disk.qcow2", "qcow2", SIZE)
    with pytest.raises(ConfigError, match=message):
        served_qcow2(tmp_path, **table)


def test_config_nbd_uri_needs_a_name_and_no_size(tmp_path: Path) -> None:
    base = {"image": "nbd://localhost/x"}
    for table, message in (
        (base, r"disk\[0\]\.name: is required"),
        ({**base, "name": "d", "size": "1G"}, "size: an NBD export has the size its server"),
        ({**base, "name": "d", "format": "qcow2"}, "format: an NBD export has no image format"),
    ):
        with pytest.raises(ConfigError, match=message):
            from_config(
                table,
                path=tmp_path / "devemu.toml",
                key="disk[0]",
                base_dir=tmp_path,
                state_dir=tmp_path / "state",
            )


def test_config_nbd_uri_served(server: Server, tmp_path: Path) -> None:
    [served] = from_config(
        {"image": server.uri, "name": "remote"},
        path=tmp_path / "devemu.toml",
        key="disk[0]",
        base_dir=tmp_path,
        state_dir=tmp_path / "state",
    )
    try:
        assert served.name == "remote"
        assert isinstance(served.device, Disk)
        assert served.device.capacity == SIZE // BS
        assert served.status()["connected"] is True
    finally:
        served.close()
    assert server.process is not None and server.process.poll() is None  # not ours to stop


def test_cli_creates_a_qcow2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "new.qcow2"
    assert cli.main(["disk", "create", str(target), "--size", "1G", "--format", "qcow2"]) == 0
    info = subprocess.run(
        ["qemu-img", "info", "--output=json", str(target)], check=True, capture_output=True
    )
    assert b'"format": "qcow2"' in info.stdout
    assert b'"virtual-size": 1073741824' in info.stdout
    assert "(qcow2)" in capsys.readouterr().out
    assert cli.main(["disk", "create", str(target), "--size", "1G", "--format", "qcow2"]) != 0
    capsys.readouterr()
    assert cli.main(["disk", "info", str(target), "--json"]) == 0
    described = json.loads(capsys.readouterr().out)
    assert described["format"] == "qcow2"
    assert described["size"] == 1 << 30
    assert described["blocks"] == (1 << 30) // 512
    assert 0 < described["allocated"] < 1 << 20


def test_storage_daemon_waits_for_the_image_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A predecessor still closing the image holds its lock: the start waits, then fails."""
    image = tmp_path / "disk.qcow2"
    create(image, "qcow2", SIZE)
    holder = Server(image, tmp_path / "holder.sock").start()
    try:
        monkeypatch.setattr("devemu.disk.storage_daemon.START_TIMEOUT", 3.0)
        with pytest.raises(ImageError, match='qemu-storage-daemon: Failed to get "write" lock'):
            StorageDaemon(image, "qcow2", tmp_path / "run").start()
        monkeypatch.setattr("devemu.disk.storage_daemon.START_TIMEOUT", 20.0)
        owner = StorageDaemon(image, "qcow2", tmp_path / "run")
        stopper = threading.Timer(0.5, holder.stop)
        stopper.start()
        owner.start()
        stopper.join()
        assert owner.running
        owner.stop()
    finally:
        holder.stop()
