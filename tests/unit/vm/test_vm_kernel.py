"""Kernel package choice and module ordering, from apt and depmod output."""

from __future__ import annotations

import pytest

from devemu.vm.errors import VmSetupError
from devemu.vm.kernel import kernel_version, module_load_order, pick_image_package

APT_CACHE_DEPENDS = """linux-image-amd64
  Depends: linux-image-6.1.0-56-amd64
"""

APT_CACHE_DEPENDS_ALTERNATIVES = """linux-image-amd64
 |Depends: linux-image-6.1.0-9-amd64
  Depends: linux-image-6.1.0-28-amd64
  Depends: firmware-linux-free
"""

MODULES_DEP = """kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko \
kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko \
kernel/drivers/virtio/virtio_ring.ko
kernel/fs/netfs/netfs.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/net/9p/9pnet.ko:
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko \
kernel/drivers/virtio/virtio_ring.ko
kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
""".replace("\\\n", "")


def test_pick_single_dependency() -> None:
    assert pick_image_package(APT_CACHE_DEPENDS) == "linux-image-6.1.0-56-amd64"


def test_pick_newest_by_number_not_by_text() -> None:
    assert pick_image_package(APT_CACHE_DEPENDS_ALTERNATIVES) == "linux-image-6.1.0-28-amd64"


def test_pick_without_image_dependency_fails() -> None:
    with pytest.raises(VmSetupError, match="no linux-image"):
        pick_image_package("linux-image-amd64\n  Depends: firmware-linux-free\n")


def test_kernel_version() -> None:
    assert kernel_version("linux-image-6.1.0-56-amd64") == "6.1.0-56-amd64"


@pytest.mark.parametrize("name", ["linux-image-amd64", "linux-image-6.1.0-56-arm64", "bash"])
def test_kernel_version_rejects_other_packages(name: str) -> None:
    with pytest.raises(VmSetupError):
        kernel_version(name)


def test_load_order_puts_dependencies_first_once() -> None:
    order = module_load_order(MODULES_DEP, ["virtio_pci", "9pnet_virtio", "9p"])
    assert order == [
        "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
        "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
        "kernel/drivers/virtio/virtio_ring.ko",
        "kernel/drivers/virtio/virtio.ko",
        "kernel/drivers/virtio/virtio_pci.ko",
        "kernel/net/9p/9pnet.ko",
        "kernel/net/9p/9pnet_virtio.ko",
        "kernel/fs/netfs/netfs.ko",
        "kernel/fs/fscache/fscache.ko",
        "kernel/fs/9p/9p.ko",
    ]


def test_load_order_unknown_module_fails() -> None:
    with pytest.raises(VmSetupError, match=r"'virtio_blk' is not in modules\.dep"):
        module_load_order(MODULES_DEP, ["virtio_blk"])
