"""Debian's stock kernel, fetched and unpacked for the VM tier.

The guest runs ``linux-image-<version>-amd64`` exactly as Debian ships it.
The package is fetched with ``apt-get download`` (no system-wide install),
unpacked with ``dpkg -x`` into the cache and given the ``modules.dep`` the
``.deb`` lacks with ``depmod -b``. The unpacked tree is then the module
directory both for the initramfs (virtio and 9p) and for ``modprobe -d``
inside the guest (target_core_user, tcm_loop, sd/sr/st/ch/sg).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from devemu.vm.errors import VmSetupError

META_PACKAGE = "linux-image-amd64"
PACKAGE_ENV = "DEVEMU_VM_KERNEL_PACKAGE"
_IMAGE_PACKAGE = re.compile(r"^linux-image-(\d+\.\d+\.\d+-\d+-amd64)$")
_COMPLETE_MARKER = ".complete"


@dataclass(frozen=True)
class Kernel:
    """An unpacked kernel package: ``root`` holds ``boot/`` and ``lib/modules/``."""

    package: str
    version: str
    root: Path

    @property
    def vmlinuz(self) -> Path:
        return self.root / "boot" / f"vmlinuz-{self.version}"

    @property
    def modules_dir(self) -> Path:
        return self.root / "lib" / "modules" / self.version


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))


def kernel_version(package: str) -> str:
    """``linux-image-6.1.0-56-amd64`` -> ``6.1.0-56-amd64``."""
    match = _IMAGE_PACKAGE.match(package)
    if match is None:
        raise VmSetupError(f"{package!r} is not a Debian amd64 kernel image package")
    return match.group(1)


def pick_image_package(apt_cache_depends: str) -> str:
    """Choose the kernel image package from ``apt-cache depends linux-image-amd64``.

    Every ``Depends:`` (or ``|Depends:``) line naming a versioned image
    package is a candidate; the newest wins.
    """
    candidates: list[str] = []
    for line in apt_cache_depends.splitlines():
        key, _, value = line.strip().lstrip("|").partition(":")
        name = value.strip()
        if key == "Depends" and _IMAGE_PACKAGE.match(name):
            candidates.append(name)
    if not candidates:
        raise VmSetupError(
            f"no linux-image-<version>-amd64 dependency in `apt-cache depends {META_PACKAGE}`"
        )
    return max(candidates, key=lambda name: _version_key(kernel_version(name)))


def module_load_order(modules_dep: str, names: Iterable[str]) -> list[str]:
    """Relative module paths to ``insmod`` for ``names``, dependencies first.

    ``modules_dep`` is the text of ``modules.dep``: ``path: dep dep ...``
    where each line lists every (transitive) dependency. A name that is
    not there is an error: the initramfs cannot do without it.
    """
    deps: dict[str, list[str]] = {}
    by_name: dict[str, str] = {}
    for line in modules_dep.splitlines():
        path, sep, rest = line.partition(":")
        if not sep:
            continue
        deps[path] = rest.split()
        module = Path(path).name.split(".ko")[0]
        by_name[module] = path
        by_name.setdefault(module.replace("-", "_"), path)
    order: list[str] = []

    def visit(path: str) -> None:
        if path in order:
            return
        for dep in deps.get(path, []):
            visit(dep)
        order.append(path)

    for name in names:
        found = by_name.get(name) or by_name.get(name.replace("-", "_"))
        if found is None:
            raise VmSetupError(f"kernel module {name!r} is not in modules.dep")
        visit(found)
    return order


def _run(argv: list[str], *, cwd: Path | None = None) -> str:
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, check=False, timeout=600
        )
    except FileNotFoundError as exc:
        raise VmSetupError(f"{argv[0]} is not installed: {exc}") from exc
    if done.returncode != 0:
        raise VmSetupError(
            f"`{' '.join(argv)}` failed with status {done.returncode}: {done.stderr.strip()}"
        )
    return done.stdout


def _cached_kernels(kernels_dir: Path) -> list[Kernel]:
    found: list[Kernel] = []
    if not kernels_dir.is_dir():
        return found
    for entry in kernels_dir.iterdir():
        if (entry / _COMPLETE_MARKER).is_file() and _IMAGE_PACKAGE.match(entry.name):
            found.append(Kernel(entry.name, kernel_version(entry.name), entry / "root"))
    return sorted(found, key=lambda k: _version_key(k.version))


def _wanted_package(environ: Mapping[str, str], kernels_dir: Path) -> str:
    pinned = environ.get(PACKAGE_ENV)
    if pinned:
        kernel_version(pinned)
        return pinned
    try:
        return pick_image_package(_run(["apt-cache", "depends", META_PACKAGE]))
    except VmSetupError:
        cached = _cached_kernels(kernels_dir)
        if cached:
            return cached[-1].package
        raise


def ensure_kernel(cache: Path, environ: Mapping[str, str] | None = None) -> Kernel:
    """Return the unpacked kernel, fetching and unpacking it on first use.

    ``$DEVEMU_VM_KERNEL_PACKAGE`` pins the image package; otherwise the one
    ``linux-image-amd64`` depends on is used (or, without apt, the newest
    already cached).
    """
    env: Mapping[str, str] = os.environ if environ is None else environ
    kernels_dir = cache / "kernels"
    package = _wanted_package(env, kernels_dir)
    version = kernel_version(package)
    home = kernels_dir / package
    kernel = Kernel(package, version, home / "root")
    if (home / _COMPLETE_MARKER).is_file():
        return kernel

    downloads = cache / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    debs = sorted(downloads.glob(f"{package}_*.deb"))
    if not debs:
        _run(["apt-get", "download", package], cwd=downloads)
        debs = sorted(downloads.glob(f"{package}_*.deb"))
    if not debs:
        raise VmSetupError(f"`apt-get download {package}` left no .deb in {downloads}")

    kernels_dir.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{package}.", dir=kernels_dir))
    try:
        _run(["dpkg", "-x", str(debs[-1]), str(staging / "root")])
        _run([_depmod(), "-b", str(staging / "root"), version])
        if not (staging / "root" / "boot" / f"vmlinuz-{version}").is_file():
            raise VmSetupError(f"{debs[-1]} holds no boot/vmlinuz-{version}")
        (staging / _COMPLETE_MARKER).write_text(f"{debs[-1].name}\n")
        if home.exists() and not (home / _COMPLETE_MARKER).is_file():
            shutil.rmtree(home)
        try:
            staging.rename(home)
        except OSError:
            if not (home / _COMPLETE_MARKER).is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    for deb in debs:
        deb.unlink(missing_ok=True)
    return kernel


def _depmod() -> str:
    for candidate in ("depmod", "/usr/sbin/depmod", "/sbin/depmod"):
        found = shutil.which(candidate)
        if found:
            return found
    raise VmSetupError("depmod is not installed (Debian package kmod)")
