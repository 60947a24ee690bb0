"""The kernel backend: LIO objects through configfs, rings through UIO, events through netlink.

:class:`KernelBackend` is what ``devemu serve`` plugs into the daemon's
loop (:class:`devemu.daemon.Backend`). It checks the host, creates (or
adopts) one TCMU backstore of subtype ``devemu`` per device, opens its
ring (:class:`~devemu.tcmu.channel.UioChannel`), links it to a LUN of
the configured fabric, and removes on the way out exactly the objects
this daemon, or its previous incarnation, created: every configfs step
is written to a journal in ``state_dir`` before the next one. A device
whose ring the kernel marks broken (:mod:`devemu.tcmu.kmsg` notices) gets
a new backstore (:meth:`KernelBackend.recreate`) while the others serve on.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from devemu.atomic_file import write_atomic
from devemu.config import Config
from devemu.errors import DevemuError
from devemu.served import ServedDevice
from devemu.tcmu.channel import UioChannel
from devemu.tcmu.configfs import (
    DEFAULT_ROOT,
    SUBTYPE,
    Backstore,
    BackstoreSpec,
    Configfs,
    Journal,
    Lio,
    LioError,
    LoopbackFabric,
)
from devemu.tcmu.host import ServeError, check_host
from devemu.tcmu.iscsi import IscsiFabric
from devemu.tcmu.kmsg import KMSG, RingWatch
from devemu.tcmu.netlink import DeviceEvent, TcmuCommand, TcmuNetlink
from devemu.tcmu.uio import DEFAULT_DEV, DEFAULT_SYSFS, UioDevice, UioName, find_devices

log = logging.getLogger(__name__)

JOURNAL_NAME = "lio.json"


class NoBackstoreYetError(DevemuError):
    """A device of ``external_backstores`` whose backstore nobody has made yet."""


class KernelBackend:
    """LIO through configfs, rings through UIO, events through netlink."""

    def __init__(
        self,
        config: Config,
        *,
        configfs_root: Path = DEFAULT_ROOT,
        sysfs: Path = DEFAULT_SYSFS,
        dev: Path = DEFAULT_DEV,
        use_netlink: bool = True,
        kmsg: Path = KMSG,
    ) -> None:
        self.config = config
        self.configfs_root = configfs_root
        self.sysfs = sysfs
        self.dev = dev
        self.use_netlink = use_netlink
        self.kmsg = kmsg
        self.journal_path = config.state_dir / JOURNAL_NAME
        self.lio = Lio(Configfs(configfs_root), self._load_journal())
        self.fabric = self._fabric()
        self.backstores: dict[str, Backstore] = {}
        self._replies: dict[str, bool] = {}

    def _fabric(self) -> LoopbackFabric | IscsiFabric | None:
        if self.config.fabric == "loopback":
            return LoopbackFabric(self.lio, str(self.config.state_dir), self.config.wwn)
        if self.config.fabric == "iscsi" and self.config.iscsi is not None:
            return IscsiFabric(self.lio, self.config.iscsi)
        return None

    def _load_journal(self) -> Journal:
        try:
            text = self.journal_path.read_text()
        except FileNotFoundError:
            return Journal()
        try:
            journal = Journal.loads(text)
        except (ValueError, KeyError, TypeError) as err:
            raise ServeError(f"{self.journal_path}: unreadable journal ({err}); remove it") from err
        log.info("adopting %d LIO object(s) from %s", len(journal.steps), self.journal_path)
        return journal

    def _save_journal(self) -> None:
        if not self.lio.journal.steps:
            self.journal_path.unlink(missing_ok=True)
            return
        self.journal_path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(self.journal_path, self.lio.journal.dumps().encode())

    def preflight(self) -> None:
        check_host(self.configfs_root, self.sysfs, fabric=self.config.fabric)
        self.lio.forget_missing()
        self._forget_other_fabrics()
        # Objects a previous run made for devices no longer configured go now.
        configured = {d.name for d in self.config.devices}
        for owner in reversed(self.lio.journal.owners()):
            name = owner.removeprefix("lun:")
            if ":" not in name and name != "hba" and name not in configured:
                log.info("removing %s, left by a previous run and no longer configured", owner)
                self.lio.remove_owner(owner)
        self._save_journal()

    def _forget_other_fabrics(self) -> None:
        """Remove what a previous run exported on a fabric this configuration does not use."""
        for name in ("loopback", "iscsi"):
            if name == self.config.fabric:
                continue
            root = self.lio.fs.target / name
            steps = [s for s in self.lio.journal.steps if Path(s.path).is_relative_to(root)]
            if steps:
                log.info("removing %d %s object(s) left by a previous run", len(steps), name)
                self.lio._undo(steps)

    def fabric_status(self) -> dict[str, Any] | None:
        """The fabric's part of ``devemu status`` (the iSCSI target and its sessions)."""
        if isinstance(self.fabric, IscsiFabric):
            return self.fabric.status()
        return None

    def _find_uio(self, device: ServedDevice) -> UioDevice | None:
        for uio in find_devices(SUBTYPE, sysfs=self.sysfs, dev=self.dev):
            if uio.name.path == device.name:
                return uio
        return None

    def attach(self, device: ServedDevice) -> UioChannel:
        uio = self._find_uio(device)
        if uio is None and device.name in self.config.external_backstores:
            raise NoBackstoreYetError(
                f"{device.name}: no backstore with dev_config {SUBTYPE}/{device.name} yet; "
                "serving it once one is made (targetcli /backstores/user:devemu create "
                f"... cfgstring={device.name})"
            )
        if uio is None:
            existing = self.lio.find_backstore(device.name)
            if existing is not None:
                raise LioError(
                    existing.path,
                    "exists but is not an enabled devemu backstore "
                    f"(dev_config {existing.dev_config or 'unset'!r}); "
                    "remove it or rename the device",
                )
            spec = BackstoreSpec(
                name=device.name,
                dev_size=device.size,
                hw_block_size=device.block_size,
                serial=device.device.identity.serial,
                cmd_time_out=self.config.cmd_time_out,
                pgr_support=self.config.fabric == "iscsi",
                tmr_notification=getattr(device.device, "hears_resets", False),
            )
            try:
                backstore = self.lio.create_backstore(spec)
            finally:
                self._save_journal()
            self.backstores[device.name] = backstore
            uio = self._find_uio(device)
            if uio is None:
                raise LioError(backstore.path, "enabled, but no UIO device appeared")
        else:
            hba_path = self.lio.backstore_path(uio.name.backstore, uio.name.hba)
            self.backstores[device.name] = Backstore(
                hba_path,
                uio.name.backstore,
                uio.name.hba,
                f"{uio.name.subtype}/{uio.name.path}",
                self.lio.journal.owned(hba_path),
            )
            log.info("%s: attaching to existing %s", device.name, uio.name)
            self._reservations_by_lio(self.backstores[device.name].path)
        self._replies[str(uio.name)] = self._nl_reply(self.backstores[device.name].path)
        return UioChannel(uio)

    def _reservations_by_lio(self, backstore: Path) -> None:
        """On iSCSI, LIO must answer reservations: switch an adopted backstore over."""
        if self.config.fabric != "iscsi":
            return
        attr = backstore / "attrib" / "pgr_support"
        try:
            if self.lio.fs.read(attr) == "1":
                return
            self.lio.fs.write(attr, "1")
        except LioError as err:
            raise LioError(
                backstore,
                f"reservations would reach devemu, which cannot tell initiators apart ({err}); "
                "remove the backstore",
            ) from err
        log.info("%s: LIO answers reservations from now on (pgr_support=1)", backstore)

    def _nl_reply(self, backstore: Path) -> bool:
        attr = backstore / "attrib" / "nl_reply_supported"
        try:
            return int(self.lio.fs.read(attr)) > 0
        except (LioError, ValueError):
            return False

    def export(self, device: ServedDevice, lun: int) -> None:
        if self.fabric is None:
            return
        backstore = self.backstores[device.name]
        if not self.lio.journal.owned(backstore.path):
            log.info(
                "%s: %s was made elsewhere; its exports are left as they are",
                device.name,
                backstore.path,
            )
            return
        try:
            self.fabric.export(backstore, lun, f"lun:{device.name}")
        finally:
            self._save_journal()

    def unexport(self, device: ServedDevice, lun: int) -> None:
        self.lio.remove_owner(f"lun:{device.name}")
        self._save_journal()

    def release(self, device: ServedDevice) -> None:
        self.lio.remove_owner(device.name)
        self._save_journal()

    def recreate(self, device: ServedDevice) -> UioChannel:
        """Remove the backstore of ``device`` and make it anew; its new ring.

        For a ring the kernel marked broken: nothing but a new backstore
        (or a reset) makes the kernel queue commands to it again. The LUN
        must be unlinked first (:meth:`unexport`, in the worker) and is
        linked again by :meth:`export`. Only a backstore this daemon
        created is removed; one made elsewhere is refused.
        """
        backstore = self.backstores.get(device.name)
        if backstore is None or not self.lio.journal.owned(backstore.path):
            path = backstore.path if backstore else self.lio.backstore_path(device.name)
            raise LioError(path, "was not created by devemu serve; not recreated")
        problems = self.lio.remove_owner(f"lun:{device.name}")
        problems += self.lio.remove_owner(device.name)
        self._save_journal()
        if problems:
            raise LioError(backstore.path, "cannot remove: " + "; ".join(problems))
        del self.backstores[device.name]
        log.info("%s: removed %s; creating it again", device.name, backstore.path)
        return self.attach(device)

    def ring_watch(self) -> RingWatch | None:
        """The kernel log, followed for broken rings (None if it cannot be read)."""
        try:
            return RingWatch(self.kmsg)
        except OSError as err:
            log.warning("%s: %s; broken rings will not be noticed", self.kmsg, err)
            return None

    def events(self) -> TcmuNetlink | None:
        if not self.use_netlink:
            return None
        try:
            return TcmuNetlink()
        except Exception as err:  # the daemon serves without events rather than not at all
            log.warning("no netlink device events: %s", err)
            return None

    def reply_expected(self, event: DeviceEvent) -> bool:
        if event.uio_name in self._replies:
            return self._replies[event.uio_name]
        name = UioName.parse(event.uio_name)
        if name is None or event.command is TcmuCommand.REMOVED_DEVICE:
            return False
        return self._nl_reply(self.lio.backstore_path(name.backstore, name.hba))

    def close(self) -> None:
        problems = self.lio.remove_all()
        for problem in problems:
            log.error("left behind: %s", problem)
        self._save_journal()
