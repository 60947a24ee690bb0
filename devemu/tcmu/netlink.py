"""TCMU's generic netlink family: device events from the kernel and our replies.

Protocol (``drivers/target/target_core_user.c``, Linux 6.1)
-----------------------------------------------------------
The family is ``TCM-USER`` (version 2) with one multicast group,
``config``. When a backstore is enabled, removed, or has ``dev_config``,
``dev_size`` or ``emulate_write_cache`` changed while enabled, the kernel
multicasts ``ADDED_DEVICE``, ``REMOVED_DEVICE`` or ``RECONFIG_DEVICE``
carrying the UIO name (``TCMU_ATTR_DEVICE``), the UIO minor and the LIO
device index (``TCMU_ATTR_DEVICE_ID``); a reconfiguration also carries the
new ``TCMU_ATTR_DEV_CFG``, ``TCMU_ATTR_DEV_SIZE`` or ``TCMU_ATTR_WRITECACHE``.

The kernel waits for an answer only when two things hold: some daemon
enabled replies globally with ``SET_FEATURES`` +
``TCMU_ATTR_SUPP_KERN_CMD_REPLY=1``, and the backstore's own
``nl_reply_supported`` (shown in its ``attrib`` folder) is positive.
Then it blocks the configfs write that caused the event until a
``*_DONE`` command arrives with ``TCMU_ATTR_DEVICE_ID`` and
``TCMU_ATTR_CMD_STATUS`` (0 or a negative errno: a failed RECONFIG
refuses the change, a failed ADDED fails the enable). It waits without a
timeout, so devemu never turns the global switch on itself (a daemon that
died would leave every later enable hanging); it answers whenever the
backstore says a reply is expected, and creates its own backstores with
``nl_reply_supported=-1``.

Messages are declared and parsed with pyroute2's netlink message classes.
The socket itself is a plain ``socket.socket``: pyroute2's sockets run
their own asyncio loop, and the daemon multiplexes this socket with the
UIO devices and the control socket in one ``selectors`` loop. pyroute2 is
imported on first use: importing it costs more than the rest of devemu
together, which matters on a slow machine before the first LUN is up.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass
from functools import cache
from typing import Any

from devemu.errors import DevemuError
from devemu.tcmu.abi import GENL_FAMILY, GENL_MCGRP_CONFIG, GENL_VERSION, GenlAttribute, GenlCommand

#: ``NETLINK_ADD_MEMBERSHIP`` socket option of ``SOL_NETLINK`` (linux/netlink.h).
_NETLINK_ADD_MEMBERSHIP = 1
_SOL_NETLINK = 270
_NLMSG_HEADER = struct.Struct("=IHHII")
#: ``NETLINK_GENERIC`` protocol number (linux/netlink.h); not exported by every Python build.
_NETLINK_GENERIC = 16


#: ``enum tcmu_genl_cmd``, as the daemon names it.
TcmuCommand = GenlCommand


#: The reply that completes each event.
DONE_OF = {
    TcmuCommand.ADDED_DEVICE: TcmuCommand.ADDED_DEVICE_DONE,
    TcmuCommand.REMOVED_DEVICE: TcmuCommand.REMOVED_DEVICE_DONE,
    TcmuCommand.RECONFIG_DEVICE: TcmuCommand.RECONFIG_DEVICE_DONE,
}


_NLM_F_REQUEST = 1

#: pyroute2's NLA type of each attribute that carries a value.
_NLA_TYPES = {
    GenlAttribute.DEVICE: "asciiz",
    GenlAttribute.MINOR: "uint32",
    GenlAttribute.DEV_CFG: "asciiz",
    GenlAttribute.DEV_SIZE: "uint64",
    GenlAttribute.WRITECACHE: "uint8",
    GenlAttribute.CMD_STATUS: "int32",
    GenlAttribute.DEVICE_ID: "uint32",
    GenlAttribute.SUPP_KERN_CMD_REPLY: "uint8",
}

#: ``enum tcmu_genl_attr``, in order, with pyroute2's NLA types.
ATTRIBUTES = tuple((f"TCMU_ATTR_{a.name}", _NLA_TYPES.get(a, "none")) for a in GenlAttribute)


@cache
def message_class() -> Any:
    """The pyroute2 message class of a TCM-USER message (genlmsghdr + attributes)."""
    from pyroute2.netlink import genlmsg  # noqa: PLC0415 - see the module docstring

    return type("TcmuMessage", (genlmsg,), {"__slots__": (), "nla_map": ATTRIBUTES})


class NetlinkError(DevemuError):
    """The TCM-USER family cannot be reached."""


@dataclass(frozen=True, slots=True)
class DeviceEvent:
    """One ADDED/REMOVED/RECONFIG_DEVICE notification."""

    command: TcmuCommand
    uio_name: str
    minor: int
    device_id: int
    dev_config: str | None = None
    dev_size: int | None = None
    write_cache: int | None = None


def decode_events(data: bytes, family_id: int) -> list[DeviceEvent]:
    """Every device event in one received datagram; other messages are skipped."""
    events = []
    offset = 0
    while offset + _NLMSG_HEADER.size <= len(data):
        length, msg_type, _flags, _seq, _pid = _NLMSG_HEADER.unpack_from(data, offset)
        if length < _NLMSG_HEADER.size or offset + length > len(data):
            break
        if msg_type == family_id:
            msg = message_class()(data[offset : offset + length])
            msg.decode()
            command = msg["cmd"]
            if command in DONE_OF:
                events.append(
                    DeviceEvent(
                        command=TcmuCommand(command),
                        uio_name=msg.get_attr("TCMU_ATTR_DEVICE") or "",
                        minor=msg.get_attr("TCMU_ATTR_MINOR") or 0,
                        device_id=msg.get_attr("TCMU_ATTR_DEVICE_ID") or 0,
                        dev_config=msg.get_attr("TCMU_ATTR_DEV_CFG"),
                        dev_size=msg.get_attr("TCMU_ATTR_DEV_SIZE"),
                        write_cache=msg.get_attr("TCMU_ATTR_WRITECACHE"),
                    )
                )
        offset += (length + 3) & ~3
    return events


def _encode(
    family_id: int, command: TcmuCommand, attrs: list[tuple[str, int | str]], seq: int
) -> bytes:
    msg = message_class()()
    msg["cmd"] = int(command)
    msg["version"] = GENL_VERSION
    msg["attrs"] = [list(a) for a in attrs]
    msg["header"]["type"] = family_id
    msg["header"]["flags"] = _NLM_F_REQUEST
    msg["header"]["sequence_number"] = seq
    msg["header"]["pid"] = 0
    msg.encode()
    return bytes(msg.data)


def encode_event(event: DeviceEvent, family_id: int, seq: int = 0) -> bytes:
    """The kernel's own encoding of ``event`` (used to test the decoder and the daemon)."""
    attrs: list[tuple[str, int | str]] = [
        ("TCMU_ATTR_DEVICE", event.uio_name),
        ("TCMU_ATTR_MINOR", event.minor),
        ("TCMU_ATTR_DEVICE_ID", event.device_id),
    ]
    if event.dev_config is not None:
        attrs.append(("TCMU_ATTR_DEV_CFG", event.dev_config))
    if event.dev_size is not None:
        attrs.append(("TCMU_ATTR_DEV_SIZE", event.dev_size))
    if event.write_cache is not None:
        attrs.append(("TCMU_ATTR_WRITECACHE", event.write_cache))
    return _encode(family_id, event.command, attrs, seq)


def encode_reply(event: DeviceEvent, status: int, family_id: int, seq: int = 0) -> bytes:
    """The ``*_DONE`` answer to ``event``: 0 or a negative errno."""
    attrs: list[tuple[str, int | str]] = [
        ("TCMU_ATTR_CMD_STATUS", status),
        ("TCMU_ATTR_DEVICE_ID", event.device_id),
    ]
    return _encode(family_id, DONE_OF[event.command], attrs, seq)


def encode_set_features(reply_supported: bool, family_id: int, seq: int = 0) -> bytes:
    """``SET_FEATURES``: whether the kernel should wait for ``*_DONE`` replies."""
    attrs: list[tuple[str, int | str]] = [
        ("TCMU_ATTR_SUPP_KERN_CMD_REPLY", int(reply_supported)),
    ]
    return _encode(family_id, TcmuCommand.SET_FEATURES, attrs, seq)


def resolve_family() -> tuple[int, int]:
    """The TCM-USER family id and its ``config`` group id (CTRL_CMD_GETFAMILY)."""
    from pyroute2.netlink.generic import GenericNetlinkSocket  # noqa: PLC0415

    probe = GenericNetlinkSocket()
    try:
        probe.bind(GENL_FAMILY, message_class())
        family_id = int(probe.prid)
        groups = dict(probe.mcast_groups)
    except Exception as err:
        raise NetlinkError(
            f"generic netlink family {GENL_FAMILY} not found: is target_core_user loaded? ({err})"
        ) from err
    finally:
        probe.close()
    if GENL_MCGRP_CONFIG not in groups:
        raise NetlinkError(f"{GENL_FAMILY} has no multicast group {GENL_MCGRP_CONFIG!r}")
    return family_id, int(groups[GENL_MCGRP_CONFIG])


class TcmuNetlink:
    """A non-blocking socket subscribed to TCM-USER's ``config`` group."""

    def __init__(self, family_id: int | None = None, group_id: int | None = None) -> None:
        if family_id is None or group_id is None:
            family_id, group_id = resolve_family()
        self.family_id = family_id
        self.group_id = group_id
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_GENERIC)
        try:
            self.sock.bind((0, 0))
            self.sock.setsockopt(_SOL_NETLINK, _NETLINK_ADD_MEMBERSHIP, group_id)
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise
        self._seq = 0

    def fileno(self) -> int:
        return self.sock.fileno()

    def read_events(self) -> list[DeviceEvent]:
        """Drain the socket; return the device events received."""
        events: list[DeviceEvent] = []
        while True:
            try:
                data = self.sock.recv(65536)
            except BlockingIOError:
                return events
            events.extend(decode_events(data, self.family_id))

    def reply(self, event: DeviceEvent, status: int = 0) -> None:
        self._seq += 1
        self.sock.sendto(encode_reply(event, status, self.family_id, self._seq), (0, 0))

    def close(self) -> None:
        self.sock.close()
