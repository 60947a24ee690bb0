"""A real qemu-storage-daemon for the NBD tests, started and stopped by the test itself."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import nbd

#: The export name the test servers use.
EXPORT = "disk"


class Server:
    """qemu-storage-daemon exporting ``image`` (a raw file or a qcow2) on a Unix socket.

    ``layers`` are extra block nodes stacked on the format node (each a dict
    without ``node-name`` and ``image``), e.g. blkdebug to impose block sizes;
    a layer whose child option is not ``image`` names it in ``"child"`` (the
    throttle filter's is ``file``). ``objects`` are ``--object`` definitions
    (a throttle group). ``nodes`` replaces the file and format nodes (a
    ``null-co`` node with a latency, which keeps no data).
    """

    def __init__(
        self,
        image: Path,
        socket: Path,
        *,
        fmt: str = "qcow2",
        writable: bool = True,
        layers: tuple[dict[str, Any], ...] = (),
        objects: tuple[dict[str, Any], ...] = (),
        nodes: tuple[dict[str, Any], ...] = (),
    ) -> None:
        self.image = image
        self.socket = socket
        self.fmt = fmt
        self.writable = writable
        self.layers = layers
        self.objects = objects
        self.nodes = nodes
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def uri(self) -> str:
        return f"nbd+unix:///{EXPORT}?socket={self.socket}"

    def start(self) -> Server:
        ro = not self.writable
        nodes: list[dict[str, Any]] = [
            {"driver": "file", "node-name": "n0", "filename": str(self.image), "read-only": ro},
            {"driver": self.fmt, "node-name": "n1", "file": "n0", "read-only": ro},
        ]
        if self.nodes:
            nodes = [{**n, "node-name": f"n{i}"} for i, n in enumerate(self.nodes)]
        for layer in self.layers:
            i = len(nodes)
            child = layer.get("child", "image")
            extra = {k: v for k, v in layer.items() if k != "child"}
            nodes.append({**extra, "node-name": f"n{i}", child: f"n{i - 1}", "read-only": ro})
        for node in nodes:
            node["discard"] = "unmap"
        args = ["qemu-storage-daemon"]
        for obj in self.objects:
            args += ["--object", json.dumps(obj)]
        for node in nodes:
            args += ["--blockdev", json.dumps(node)]
        args += ["--nbd-server", json.dumps({"addr": {"type": "unix", "path": str(self.socket)}})]
        export = {
            "type": "nbd",
            "id": "e",
            "node-name": nodes[-1]["node-name"],
            "name": EXPORT,
            "writable": self.writable,
        }
        args += ["--export", json.dumps(export)]
        self.socket.unlink(missing_ok=True)
        self.process = subprocess.Popen(args, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "qemu-storage-daemon exited"
            try:
                self.connect().shutdown()
                return self
            except nbd.Error:
                time.sleep(0.02)
        raise AssertionError("qemu-storage-daemon did not listen")

    def connect(self) -> Any:
        """An independent libnbd handle on the export, to check what the disk did."""
        h = nbd.NBD()
        h.add_meta_context("base:allocation")
        h.connect_uri(self.uri)
        return h

    def kill(self) -> None:
        """SIGKILL: the server goes away without a word."""
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


def qemu_img_map(image: Path) -> list[dict[str, Any]]:
    """``qemu-img map`` of an image a server holds (shared, read-only)."""
    out = subprocess.run(
        ["qemu-img", "map", "-U", "--output=json", str(image)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: list[dict[str, Any]] = json.loads(out)
    return result


def data_bytes(server: Server, start: int, length: int) -> int:
    """How many bytes of [start, start + length) ``qemu-img map`` shows holding data
    (after a flush, which writes qcow2's cached metadata to the file)."""
    h = server.connect()
    h.flush()
    h.shutdown()
    total = 0
    for ext in qemu_img_map(server.image):
        if not ext["data"]:
            continue
        lo = max(start, ext["start"])
        hi = min(start + length, ext["start"] + ext["length"])
        total += max(0, hi - lo)
    return total
