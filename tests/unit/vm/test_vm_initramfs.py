"""Initramfs content and caching, built from a fake kernel tree."""

from __future__ import annotations

import stat
import struct
import subprocess
from pathlib import Path

import pytest

from devemu.vm import newc
from devemu.vm.initramfs import (
    APPLETS,
    INIT,
    InitramfsInputs,
    collect_inputs,
    ensure_initramfs,
    is_static_elf,
    members,
)
from devemu.vm.kernel import Kernel

VERSION = "6.1.0-99-amd64"
MODULES = {
    "kernel/drivers/virtio/virtio_ring.ko": [],
    "kernel/drivers/virtio/virtio.ko": ["kernel/drivers/virtio/virtio_ring.ko"],
    "kernel/drivers/virtio/virtio_pci.ko": [
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_ring.ko",
    ],
    "kernel/drivers/virtio/virtio_mmio.ko": ["kernel/drivers/virtio/virtio.ko"],
    "kernel/net/9p/9pnet.ko": [],
    "kernel/net/9p/9pnet_virtio.ko": ["kernel/net/9p/9pnet.ko"],
    "kernel/fs/9p/9p.ko": ["kernel/net/9p/9pnet.ko"],
    "kernel/fs/overlayfs/overlay.ko": [],
    "kernel/drivers/target/tcm_loop.ko": [],
}


def _elf(*, interp: bool) -> bytes:
    """A minimal ELF64 header with one program header (PT_INTERP or PT_LOAD)."""
    header = bytearray(64)
    header[:6] = b"\x7fELF\x02\x01"
    struct.pack_into("<Q", header, 0x20, 64)  # e_phoff
    struct.pack_into("<HH", header, 0x36, 56, 1)  # e_phentsize, e_phnum
    program = bytearray(56)
    struct.pack_into("<I", program, 0, 3 if interp else 1)
    return bytes(header + program)


@pytest.fixture
def kernel(tmp_path: Path) -> Kernel:
    fake = Kernel(f"linux-image-{VERSION}", VERSION, tmp_path / "root")
    lines = []
    for rel, deps in MODULES.items():
        (fake.modules_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        (fake.modules_dir / rel).write_bytes(f"module {rel}".encode())
        lines.append(f"{rel}: {' '.join(deps)}".rstrip())
    (fake.modules_dir / "modules.dep").write_text("\n".join(lines) + "\n")
    return fake


@pytest.fixture
def busybox(tmp_path: Path) -> Path:
    path = tmp_path / "busybox"
    path.write_bytes(_elf(interp=False) + b"busybox body")
    return path


def test_static_elf_detection() -> None:
    assert is_static_elf(_elf(interp=False))
    assert not is_static_elf(_elf(interp=True))
    assert not is_static_elf(b"#!/bin/sh\n")


def test_host_busybox_is_static() -> None:
    assert is_static_elf(Path("/bin/busybox").read_bytes())


def test_inputs_take_only_the_9p_and_overlay_chain(kernel: Kernel, busybox: Path) -> None:
    inputs = collect_inputs(kernel, busybox)
    names = [rel for rel, _ in inputs.modules]
    assert names == [
        "kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_pci.ko",
        "kernel/drivers/virtio/virtio_mmio.ko",
        "kernel/net/9p/9pnet.ko",
        "kernel/net/9p/9pnet_virtio.ko",
        "kernel/fs/9p/9p.ko",
        "kernel/fs/overlayfs/overlay.ko",
    ]


def test_listing(kernel: Kernel, busybox: Path) -> None:
    inputs = collect_inputs(kernel, busybox)
    by_name = {m.name: m for m in members(inputs)}
    init = by_name["init"]
    assert stat.S_ISREG(init.mode) and init.mode & 0o111
    assert init.data == INIT.encode()
    console = by_name["dev/console"]
    assert stat.S_ISCHR(console.mode) and console.rdev == (5, 1)
    assert by_name["bin/busybox"].data == busybox.read_bytes()
    for applet in APPLETS:
        assert by_name[f"bin/{applet}"] == newc.Member.symlink(f"bin/{applet}", "busybox")
    order = by_name["modules.order"].data.decode().split()
    assert order == [rel for rel, _ in inputs.modules]
    for rel in order:
        assert by_name[f"lib/modules/{rel}"].data == (kernel.modules_dir / rel).read_bytes()
    assert "lib/modules/kernel/drivers/target/tcm_loop.ko" not in by_name


def test_directories_come_before_their_files(kernel: Kernel, busybox: Path) -> None:
    names = [m.name for m in members(collect_inputs(kernel, busybox))]
    for index, name in enumerate(names):
        parent = str(Path(name).parent)
        if parent != ".":
            assert parent in names[:index], name


def test_init_script_is_valid_shell() -> None:
    subprocess.run(["sh", "-n"], input=INIT.encode(), check=True)


def test_init_mounts_what_the_guest_needs() -> None:
    for needle in (
        "-t 9p",
        "ro,cache=loose",
        "hostroot",
        "-t overlay -o lowerdir=$L,upperdir=/rw/upper,workdir=/rw/work overlay $R",
        "L=/bytecode:/host",
        "devemupyc /bytecode",
        "-t tmpfs -o mode=1777 tmpfs $R/tmp",
        "-t configfs configfs $R/sys/kernel/config",
        "/sbin/modprobe -d",
        "poweroff -f",
    ):
        assert needle in INIT


def test_cached_image_reused_and_rebuilt_on_change(
    kernel: Kernel, busybox: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = ensure_initramfs(kernel, cache, busybox)
    assert ensure_initramfs(kernel, cache, busybox) == first
    assert newc.parse(first.read_bytes()) == members(collect_inputs(kernel, busybox))
    busybox.write_bytes(busybox.read_bytes() + b"changed")
    second = ensure_initramfs(kernel, cache, busybox)
    assert second != first
    assert second.name.startswith(VERSION)


def test_inputs_record_what_was_read(kernel: Kernel, busybox: Path) -> None:
    inputs = collect_inputs(kernel, busybox)
    assert isinstance(inputs, InitramfsInputs)
    assert inputs.kernel == kernel
