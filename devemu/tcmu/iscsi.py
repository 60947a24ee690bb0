"""LIO's iSCSI target fabric (``iscsi_target_mod``) through configfs.

Theory of operation
-------------------
One target (``iscsi/<iqn>``) with one target portal group (``tpgt_1``)
is made from the ``[iscsi]`` table (:mod:`devemu.iscsi_config`)::

    iscsi/<iqn>/tpgt_1/np/<address:port>          one per portal
    iscsi/<iqn>/tpgt_1/acls/<initiator>/          one node ACL per initiator
        auth/userid, password, userid_mutual, password_mutual   (CHAP)
        attrib/authentication                      1: this initiator must use CHAP
        lun_N/<link> -> tpgt_1/lun/lun_N           the LUN mapped for it
    iscsi/<iqn>/tpgt_1/lun/lun_N/<link> -> core/user_0/<device>
    iscsi/<iqn>/tpgt_1/enable                       1 once the rest is there

The TPG's own ``attrib/authentication`` stays 0 so that discovery needs no
CHAP; each node ACL says whether its initiator must authenticate (the
kernel takes the ACL's value over the TPG's). A kernel whose ACLs lack
that switch gets the TPG's set to 1 when any initiator uses CHAP. With ``allow_any_initiator``
the TPG runs in LIO's demo mode (``generate_node_acls=1``,
``cache_dynamic_acls=1``, ``demo_mode_write_protect=0``): any initiator
logs in, without CHAP, and sees every LUN.

Every object goes through :class:`~devemu.tcmu.configfs.Lio`, so it is
journalled like the loopback fabric's: the target, portals and ACLs under
:attr:`IscsiFabric.OWNER`, each LUN and its mapping into every ACL under
the device's ``lun:<name>`` owner (removed first, newest first, when the
device is unexported). A restarted daemon adopts the journal and only
creates what is missing; objects of an earlier configuration (another
target name, a portal or initiator no longer listed) are removed.

Logged-in sessions come from the kernel's own text: each node ACL's
``info`` (initiator name, then one ``Address`` line per connection) and
the TPG's ``dynamic_sessions`` (demo-mode initiators, names only).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path
from typing import Any

from devemu.iscsi_config import CLEARED, Initiator, IscsiSettings, read_secret
from devemu.tcmu.configfs import SUBTYPE, Backstore, Lio, LioError, Step, linked_backstore

log = logging.getLogger(__name__)

#: The only target portal group devemu makes.
TPG = "tpgt_1"

_INFO_NAME = re.compile(r"^InitiatorName:\s*(\S+)", re.M)
_INFO_ADDRESS = re.compile(r"^\s*Address\s+(\S+)\s+(\S+)", re.M)
_INFO_NONE = "No active iSCSI Session"


def parse_acl_info(text: str) -> list[dict[str, str]]:
    """The sessions a node ACL's ``info`` describes: name and address of each connection."""
    if _INFO_NONE in text:
        return []
    sessions: list[dict[str, str]] = []
    blocks = re.split(r"(?=^InitiatorName:)", text, flags=re.M)
    for block in blocks:
        name = _INFO_NAME.search(block)
        if name is None:
            continue
        addresses = [m[1] for m in _INFO_ADDRESS.finditer(block)]
        for address in addresses or [""]:
            sessions.append({"initiator": name[1], "address": address})
    return sessions


class IscsiFabric:
    """Exports LUNs through LIO's iSCSI target: one IQN, one TPG, ``lun_N`` per device."""

    OWNER = "fabric:iscsi"

    def __init__(self, lio: Lio, settings: IscsiSettings) -> None:
        self.lio = lio
        self.settings = settings
        self._ready = False

    # --- places ------------------------------------------------------------------------

    @property
    def root(self) -> Path:
        return self.lio.fs.target / "iscsi"

    @property
    def tpg(self) -> Path:
        return self.root / self.settings.target / TPG

    def lun_dir(self, lun: int) -> Path:
        return self.tpg / "lun" / f"lun_{lun}"

    def acl_dir(self, initiator: Initiator) -> Path:
        return self.tpg / "acls" / initiator.name

    # --- target ------------------------------------------------------------------------

    def _forget_stale(self) -> None:
        """Remove what an earlier configuration made and this one no longer has."""
        wanted = [self.tpg / "np" / str(p) for p in self.settings.portals]
        wanted += [self.acl_dir(i) for i in self.settings.initiators]
        stale: list[Step] = []
        for step in self.lio.journal.steps:
            path = Path(step.path)
            if not path.is_relative_to(self.root) or path == self.root:
                continue
            if path.is_relative_to(self.tpg):
                relative = path.relative_to(self.tpg).parts
                if len(relative) >= 2 and relative[0] in ("np", "acls"):
                    owner_dir = self.tpg / relative[0] / relative[1]
                    if owner_dir not in wanted:
                        stale.append(step)
                continue
            if not self.tpg.is_relative_to(path):
                stale.append(step)  # another target name
        if stale:
            log.info("removing %d iSCSI object(s) no longer configured", len(stale))
            self.lio._undo(stale)

    def ensure_target(self) -> None:
        """Create the target, its portals and ACLs unless they exist; enable the TPG."""
        if self._ready:
            return
        self._forget_stale()
        fs = self.lio.fs
        with self.lio._undo_on_error() as done:
            self.lio._mkdirs(self.OWNER, self.tpg, done)
            for portal in self.settings.portals:
                np_dir = self.tpg / "np" / str(portal)
                if not np_dir.is_dir():
                    self.lio._mkdir(self.OWNER, np_dir, done)
            demo = "1" if self.settings.allow_any_initiator else "0"
            fs.write(self.tpg / "attrib" / "authentication", "0")
            fs.write(self.tpg / "attrib" / "generate_node_acls", demo)
            fs.write(self.tpg / "attrib" / "cache_dynamic_acls", demo)
            fs.write(self.tpg / "attrib" / "demo_mode_write_protect", "0")
            for initiator in self.settings.initiators:
                self._ensure_acl(initiator, done)
            if not self._per_acl_authentication() and any(i.chap for i in self.settings.initiators):
                # A kernel without the ACL's own switch: CHAP for every login.
                fs.write(self.tpg / "attrib" / "authentication", "1")
            # LIO refuses to enable a TPG that is enabled already (an adopted one).
            if fs.read(self.tpg / "enable") != "1":
                fs.write(self.tpg / "enable", "1")
        self._ready = True
        log.info(
            "iSCSI target %s on %s",
            self.settings.target,
            ", ".join(str(p) for p in self.settings.portals),
        )

    def _ensure_acl(self, initiator: Initiator, done: list[Step]) -> None:
        acl = self.acl_dir(initiator)
        if not acl.is_dir():
            self.lio._mkdir(self.OWNER, acl, done)
        values = {"userid": "", "password": "", "userid_mutual": "", "password_mutual": ""}
        try:
            if initiator.chap_user and initiator.chap_secret_file:
                values["userid"] = initiator.chap_user
                values["password"] = read_secret(initiator.chap_secret_file)
            if initiator.mutual_user and initiator.mutual_secret_file:
                values["userid_mutual"] = initiator.mutual_user
                values["password_mutual"] = read_secret(initiator.mutual_secret_file)
        except ValueError as err:
            raise LioError(acl, str(err)) from err
        for key, value in values.items():
            # An adopted ACL may hold older credentials: CLEARED clears one.
            self.lio.fs.write(acl / "auth" / key, value or CLEARED)
        if self._per_acl_authentication():
            self.lio.fs.write(acl / "attrib" / "authentication", "1" if initiator.chap else "0")

    def _per_acl_authentication(self) -> bool:
        """Whether node ACLs have their own ``attrib/authentication`` (Linux 5.16 and later)."""
        acls = [self.acl_dir(i) for i in self.settings.initiators]
        return any((acl / "attrib" / "authentication").exists() for acl in acls)

    # --- LUNs --------------------------------------------------------------------------

    def linked(self, lun: int) -> Path | None:
        """What ``lun_N`` is linked to, if it exists."""
        return linked_backstore(self.lun_dir(lun))

    def export(self, backstore: Backstore, lun: int, owner: str) -> None:
        """Link ``backstore`` as LUN ``lun`` and map it, as the same LUN, into every ACL."""
        self.ensure_target()
        existing = self.linked(lun)
        if existing is not None and existing != Path(os.path.realpath(backstore.path)):
            raise LioError(self.lun_dir(lun), f"already links {existing}")
        with self.lio._undo_on_error() as done:
            if existing is None:
                self.lio._mkdirs(owner, self.lun_dir(lun), done)
                self.lio._symlink(owner, self.lun_dir(lun) / SUBTYPE, backstore.path, done)
            for initiator in self.settings.initiators:
                mapped = self.acl_dir(initiator) / f"lun_{lun}"
                if not mapped.is_dir():
                    self.lio._mkdir(owner, mapped, done)
                if not any(entry.is_symlink() for entry in mapped.iterdir()):
                    self.lio._symlink(owner, mapped / SUBTYPE, self.lun_dir(lun), done)
        log.info("linked %s as %s", backstore.path, self.lun_dir(lun))

    # --- what the kernel says ----------------------------------------------------------

    def sessions(self) -> list[dict[str, str]]:
        """The logged-in sessions: initiator name and address (none known in demo mode)."""
        found: list[dict[str, str]] = []
        acls = self.tpg / "acls"
        if acls.is_dir():
            for acl in sorted(acls.iterdir()):
                try:
                    found += parse_acl_info(self.lio.fs.read(acl / "info"))
                except LioError as err:
                    log.debug("%s", err)
        dynamic = self.tpg / "dynamic_sessions"
        if dynamic.exists():
            try:
                names = self.lio.fs.read(dynamic).split()
            except LioError:
                names = []
            known = {s["initiator"] for s in found}
            found += [{"initiator": n, "address": ""} for n in names if n not in known]
        return found

    def status(self) -> dict[str, Any]:
        """The target as ``devemu status`` shows it."""
        return {
            "fabric": "iscsi",
            "target": self.settings.target,
            "portals": [str(p) for p in self.settings.portals],
            "sessions": self.sessions(),
        }

    def describe(self) -> dict[str, str]:
        return {"fabric": "iscsi", "target": self.settings.target}
