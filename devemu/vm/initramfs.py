"""A small initramfs that turns the host's own root into the guest's root.

The image holds a static busybox, the virtio, 9p and overlay modules of
the unpacked kernel, and ``/init``. ``/init`` mounts the host's ``/``
read-only over 9p and lays a tmpfs overlay on it (the guest may write
anywhere; nothing reaches the host), with the optional bytecode layer of
:mod:`devemu.vm.bytecode` (another read-only share) between the two,
puts tmpfs on ``/tmp`` and ``/run``, mounts the run's control share at
``/run/devemu-vm`` (and an optional read-write share at its host path),
loads ``target_core_user``, ``tcm_loop`` and the SCSI upper drivers with
the host's ``modprobe -d <unpacked kernel>``, mounts configfs, and runs
the script in a chroot of that tree with its output on the second serial
port. Its exit status lands in the control share, then the guest powers
off.

Control share protocol (files in ``/run/devemu-vm``), written by the host:
``script.sh``, ``env.sh``, ``kernel-root``, ``modules``, optional
``share-path``, ``mounts`` (one ``TAG PATH`` line per extra read-only
share, mounted at PATH: what the guest runs from a host folder it hides
under its own tmpfs); written by the guest: ``boot-uptime`` (seconds since the
kernel started when the script began), ``exit-code``, or ``setup-error``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
from dataclasses import dataclass
from pathlib import Path

from devemu.vm import newc
from devemu.vm.errors import VmSetupError
from devemu.vm.kernel import Kernel, module_load_order

#: Modules ``/init`` loads from the initramfs to reach the 9p root and overlay it.
INITRAMFS_MODULES = ("virtio_pci", "virtio_mmio", "9pnet_virtio", "9p", "overlay")

#: Busybox applets ``/init`` calls by name.
APPLETS = (
    "sh",
    "cat",
    "chroot",
    "echo",
    "insmod",
    "mkdir",
    "mount",
    "mv",
    "poweroff",
    "stty",
    "sync",
)

CONTROL_TAG = "devemuctl"
ROOT_TAG = "hostroot"
SHARE_TAG = "devemushare"
BYTECODE_TAG = "devemupyc"
EXPORT_TAG_PREFIX = "devemuro"
CONTROL_DIR = "/run/devemu-vm"
SCRIPT_TTY = "/dev/ttyS1"
MSIZE = 512000

INIT = f"""#!/bin/sh
export PATH=/bin
R=/newroot
C=$R{CONTROL_DIR}
fail() {{
    echo "devemu-vm: $*" >&2
    [ -d "$C" ] && echo "$*" > "$C/setup-error"
    sync
    poweroff -f
}}
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in $(cat /modules.order); do
    insmod "/lib/modules/$m" || fail "insmod $m failed"
done
O=trans=virtio,version=9p2000.L,msize={MSIZE}
mkdir -p $R /host /rw /bytecode
mount -t 9p -o "$O,ro,cache=loose" {ROOT_TAG} /host || fail "cannot mount the host root over 9p"
L=/host
if mount -t 9p -o "$O,ro,cache=loose" {BYTECODE_TAG} /bytecode 2>/dev/null; then
    L=/bytecode:/host
fi
mount -t tmpfs -o mode=755 tmpfs /rw
mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=$L,upperdir=/rw/upper,workdir=/rw/work overlay $R \
    || fail "cannot put a writable overlay on the host root"
mount -t tmpfs -o mode=1777 tmpfs $R/tmp || fail "cannot mount /tmp"
mount -t tmpfs -o mode=755 tmpfs $R/run || fail "cannot mount /run"
mkdir -p "$C"
mount -t 9p -o "$O,cache=none" {CONTROL_TAG} "$C" || fail "cannot mount the control share"
mount --move /proc $R/proc
mount --move /sys $R/sys
mount --move /dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs tmpfs $R/dev/shm
if [ -s "$C/mounts" ]; then
    while read -r tag path; do
        mkdir -p "$R$path" || fail "cannot create the mount point $path"
        mount -t 9p -o "$O,ro,cache=loose" "$tag" "$R$path" || fail "cannot mount $path"
    done < "$C/mounts"
fi
if [ -s "$C/share-path" ]; then
    S=$(cat "$C/share-path")
    mkdir -p "$R$S" || fail "cannot create the share mount point $S"
    mount -t 9p -o "$O,cache=none" {SHARE_TAG} "$R$S" || fail "cannot mount the share at $S"
fi
cat "$C/kernel-root" > /kernel-root
echo /bin/modprobe-in-root > $R/proc/sys/kernel/modprobe
chroot $R /sbin/modprobe -d "$(cat /kernel-root)" -a $(cat "$C/modules") \\
    || fail "modprobe $(cat "$C/modules") failed"
mount -t configfs configfs $R/sys/kernel/config || fail "cannot mount configfs"
stty -F $R{SCRIPT_TTY} raw -echo
cat $R/proc/uptime > "$C/boot-uptime"
chroot $R /bin/sh -c '. {CONTROL_DIR}/env.sh; cd "$DEVEMU_VM_CWD" 2>/dev/null || cd /
exec /bin/sh {CONTROL_DIR}/script.sh' < $R/dev/null > $R{SCRIPT_TTY} 2>&1
echo $? > "$C/exit-code.new"
mv "$C/exit-code.new" "$C/exit-code"
sync
poweroff -f
"""

#: The kernel's usermode modprobe (``request_module`` for filesystems and
#: the like) runs in the initramfs root; send it to the host's modprobe.
MODPROBE_IN_ROOT = """#!/bin/sh
exec /bin/busybox chroot /newroot /sbin/modprobe -d "$(/bin/busybox cat /kernel-root)" "$@"
"""

_PT_INTERP = 3


def export_tag(index: int) -> str:
    """The 9p mount tag of the ``index``-th extra read-only share."""
    return f"{EXPORT_TAG_PREFIX}{index}"


def is_static_elf(data: bytes) -> bool:
    """True when ``data`` is a 64-bit little-endian ELF with no PT_INTERP."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    (phoff,) = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    for index in range(phnum):
        (p_type,) = struct.unpack_from("<I", data, phoff + index * phentsize)
        if p_type == _PT_INTERP:
            return False
    return True


def find_busybox() -> Path:
    """Locate a statically linked busybox (Debian package busybox-static)."""
    candidates = [os.environ.get("DEVEMU_VM_BUSYBOX"), "/bin/busybox", shutil.which("busybox")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and is_static_elf(Path(candidate).read_bytes()):
            return Path(candidate)
    raise VmSetupError("no statically linked busybox found: install busybox-static")


@dataclass(frozen=True)
class InitramfsInputs:
    """Everything the image is built from."""

    kernel: Kernel
    busybox: bytes
    modules: tuple[tuple[str, bytes], ...]


def collect_inputs(kernel: Kernel, busybox: Path) -> InitramfsInputs:
    dep_text = (kernel.modules_dir / "modules.dep").read_text()
    order = module_load_order(dep_text, INITRAMFS_MODULES)
    modules = tuple((rel, (kernel.modules_dir / rel).read_bytes()) for rel in order)
    return InitramfsInputs(kernel, busybox.read_bytes(), modules)


def members(inputs: InitramfsInputs) -> list[newc.Member]:
    """The archive's members, in the order they are written."""
    out = [newc.Member.directory(d) for d in ("bin", "dev", "proc", "sys", "newroot")]
    out.append(newc.Member.char_device("dev/console", 5, 1))
    out.append(newc.Member.file("bin/busybox", inputs.busybox, 0o755))
    out += [newc.Member.symlink(f"bin/{applet}", "busybox") for applet in APPLETS]
    out.append(newc.Member.file("bin/modprobe-in-root", MODPROBE_IN_ROOT.encode(), 0o755))
    out.append(newc.Member.file("init", INIT.encode(), 0o755))
    directories: set[str] = set()
    for rel, _ in inputs.modules:
        parent = Path("lib/modules") / rel
        for ancestor in reversed(parent.parents[:-1]):
            directories.add(str(ancestor))
    out += [newc.Member.directory(d) for d in sorted(directories)]
    out += [newc.Member.file(f"lib/modules/{rel}", data) for rel, data in inputs.modules]
    order = "".join(f"{rel}\n" for rel, _ in inputs.modules)
    out.append(newc.Member.file("modules.order", order.encode()))
    return out


def ensure_initramfs(kernel: Kernel, cache: Path, busybox: Path | None = None) -> Path:
    """Build the initramfs for ``kernel`` unless an identical one is cached.

    The file name carries the hash of the archive, so any change of
    busybox, modules or ``/init`` yields a new image.
    """
    image = newc.build(members(collect_inputs(kernel, busybox or find_busybox())))
    digest = hashlib.sha256(image).hexdigest()[:16]
    target = cache / "initramfs" / f"{kernel.version}-{digest}.cpio"
    if not target.is_file():
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.with_suffix(f".tmp{os.getpid()}")
        staging.write_bytes(image)
        staging.replace(target)
    return target
