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

Messages are declared with construct, from ``include/uapi/linux/netlink.h``
and ``genetlink.h``: the netlink header, the generic netlink header and
the attributes (``struct nlattr``, each padded to 4 bytes). The socket is
a plain ``socket.socket`` the daemon multiplexes with the UIO devices and
the control socket in one ``selectors`` loop; the family's id and its
``config`` group are asked of the generic netlink controller
(``CTRL_CMD_GETFAMILY``, ``genetlink.h``) over that kind of socket too.
A general netlink library would cost more to import than the rest of
devemu together (pyroute2: about 125 ms on a current x86 host, seconds
under QEMU's TCG), and the daemon opens this socket while its ring workers
already serve: an import holds the GIL that every worker needs back after
each system call. The tests check these codecs against pyroute2's.
"""

from __future__ import annotations

import errno
import socket
from dataclasses import dataclass
from typing import Any

from construct import (
    ConstructError,
    CString,
    Int8un,
    Int16un,
    Int32sn,
    Int32un,
    Int64un,
    Struct,
)

from devemu.errors import DevemuError
from devemu.tcmu.abi import GENL_FAMILY, GENL_MCGRP_CONFIG, GENL_VERSION, GenlAttribute, GenlCommand

#: ``NETLINK_ADD_MEMBERSHIP`` socket option of ``SOL_NETLINK`` (linux/netlink.h).
_NETLINK_ADD_MEMBERSHIP = 1
_SOL_NETLINK = 270
#: ``NETLINK_GENERIC`` protocol number (linux/netlink.h); not exported by every Python build.
_NETLINK_GENERIC = 16

#: ``struct nlmsghdr`` (netlink.h), host byte order.
NetlinkHeader = Struct(
    "length" / Int32un,
    "type" / Int16un,
    "flags" / Int16un,
    "seq" / Int32un,
    "pid" / Int32un,
)
#: ``struct genlmsghdr`` (genetlink.h).
GenlHeader = Struct("cmd" / Int8un, "version" / Int8un, "reserved" / Int16un)
#: ``struct nlattr`` (netlink.h): length counts the header, not the padding.
AttributeHeader = Struct("length" / Int16un, "type" / Int16un)

_NLM_F_REQUEST = 1
#: ``NLMSG_ERROR`` (netlink.h): the body is a negative errno and the request's header.
_NLMSG_ERROR = 2
#: ``NLA_TYPE_MASK`` (netlink.h): the attribute type without the nested/byte-order flags.
_NLA_TYPE_MASK = 0x3FFF

#: The generic netlink controller (genetlink.h): its fixed id, commands and attributes.
GENL_ID_CTRL = 0x10
CTRL_CMD_NEWFAMILY = 1
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
CTRL_ATTR_MCAST_GROUPS = 7
CTRL_ATTR_MCAST_GRP_NAME = 1
CTRL_ATTR_MCAST_GRP_ID = 2


#: ``enum tcmu_genl_cmd``, as the daemon names it.
TcmuCommand = GenlCommand


#: The reply that completes each event.
DONE_OF = {
    TcmuCommand.ADDED_DEVICE: TcmuCommand.ADDED_DEVICE_DONE,
    TcmuCommand.REMOVED_DEVICE: TcmuCommand.REMOVED_DEVICE_DONE,
    TcmuCommand.RECONFIG_DEVICE: TcmuCommand.RECONFIG_DEVICE_DONE,
}

#: The value of each TCM-USER attribute that carries one (``target_core_user.c``'s policy).
ATTRIBUTE_VALUES: dict[GenlAttribute, Any] = {
    GenlAttribute.DEVICE: CString("utf8"),
    GenlAttribute.MINOR: Int32un,
    GenlAttribute.DEV_CFG: CString("utf8"),
    GenlAttribute.DEV_SIZE: Int64un,
    GenlAttribute.WRITECACHE: Int8un,
    GenlAttribute.CMD_STATUS: Int32sn,
    GenlAttribute.DEVICE_ID: Int32un,
    GenlAttribute.SUPP_KERN_CMD_REPLY: Int8un,
}


def _pad(n: int) -> int:
    """``NLMSG_ALIGN``/``NLA_ALIGN``: ``n`` rounded up to 4."""
    return (n + 3) & ~3


def encode_attribute(kind: int, payload: bytes) -> bytes:
    """One ``struct nlattr`` with its payload, padded to 4 bytes."""
    head = AttributeHeader.build({"length": AttributeHeader.sizeof() + len(payload), "type": kind})
    raw = bytes(head) + payload
    return raw + bytes(_pad(len(raw)) - len(raw))


def _records(data: bytes, header: Any) -> list[tuple[Any, bytes]]:
    """(header, payload) of each record of ``data`` that opens with ``header``.

    Netlink messages and attributes alike: the header's first field is the
    record's length, header included; the next record starts at that length
    rounded up to 4. The walk stops at a record that overruns ``data``.
    """
    out = []
    offset = 0
    size = header.sizeof()
    while offset + size <= len(data):
        head = header.parse(data[offset : offset + size])
        if head.length < size or offset + head.length > len(data):
            break
        out.append((head, data[offset + size : offset + head.length]))
        offset += _pad(head.length)
    return out


def attributes(data: bytes) -> list[tuple[int, bytes]]:
    """(type without flags, payload) of each attribute in ``data``."""
    return [
        (head.type & _NLA_TYPE_MASK, payload) for head, payload in _records(data, AttributeHeader)
    ]


def messages(data: bytes) -> list[tuple[Any, bytes]]:
    """(netlink header, body) of each message in one datagram."""
    return _records(data, NetlinkHeader)


def encode_message(
    msg_type: int, command: int, version: int, attrs: bytes, seq: int = 0, flags: int = 0
) -> bytes:
    """A generic netlink message: both headers, then ``attrs``."""
    body = bytes(GenlHeader.build({"cmd": command, "version": version, "reserved": 0})) + attrs
    header = NetlinkHeader.build(
        {
            "length": NetlinkHeader.sizeof() + len(body),
            "type": msg_type,
            "flags": flags,
            "seq": seq,
            "pid": 0,
        }
    )
    return bytes(header) + body


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


def _value(kind: GenlAttribute, payload: bytes) -> Any:
    """The attribute's value, or None when its payload does not hold one."""
    try:
        return ATTRIBUTE_VALUES[kind].parse(payload)
    except (ConstructError, UnicodeDecodeError):
        return None


def decode_events(data: bytes, family_id: int) -> list[DeviceEvent]:
    """Every device event in one received datagram; other messages are skipped."""
    events = []
    for header, body in messages(data):
        if header.type != family_id or len(body) < GenlHeader.sizeof():
            continue
        command = GenlHeader.parse(body).cmd
        if command not in DONE_OF:
            continue
        values: dict[GenlAttribute, Any] = {}
        for kind, payload in attributes(body[GenlHeader.sizeof() :]):
            if kind in ATTRIBUTE_VALUES:
                values[GenlAttribute(kind)] = _value(GenlAttribute(kind), payload)
        events.append(
            DeviceEvent(
                command=TcmuCommand(command),
                uio_name=values.get(GenlAttribute.DEVICE) or "",
                minor=values.get(GenlAttribute.MINOR) or 0,
                device_id=values.get(GenlAttribute.DEVICE_ID) or 0,
                dev_config=values.get(GenlAttribute.DEV_CFG),
                dev_size=values.get(GenlAttribute.DEV_SIZE),
                write_cache=values.get(GenlAttribute.WRITECACHE),
            )
        )
    return events


def _encode(
    family_id: int,
    command: TcmuCommand,
    attrs: list[tuple[GenlAttribute, int | str]],
    seq: int,
) -> bytes:
    body = b"".join(
        encode_attribute(kind, ATTRIBUTE_VALUES[kind].build(value)) for kind, value in attrs
    )
    return encode_message(family_id, command, GENL_VERSION, body, seq, _NLM_F_REQUEST)


def encode_event(event: DeviceEvent, family_id: int, seq: int = 0) -> bytes:
    """The kernel's own encoding of ``event`` (used to test the decoder and the daemon)."""
    attrs: list[tuple[GenlAttribute, int | str]] = [
        (GenlAttribute.DEVICE, event.uio_name),
        (GenlAttribute.MINOR, event.minor),
        (GenlAttribute.DEVICE_ID, event.device_id),
    ]
    if event.dev_config is not None:
        attrs.append((GenlAttribute.DEV_CFG, event.dev_config))
    if event.dev_size is not None:
        attrs.append((GenlAttribute.DEV_SIZE, event.dev_size))
    if event.write_cache is not None:
        attrs.append((GenlAttribute.WRITECACHE, event.write_cache))
    return _encode(family_id, event.command, attrs, seq)


def encode_reply(event: DeviceEvent, status: int, family_id: int, seq: int = 0) -> bytes:
    """The ``*_DONE`` answer to ``event``: 0 or a negative errno."""
    attrs: list[tuple[GenlAttribute, int | str]] = [
        (GenlAttribute.CMD_STATUS, status),
        (GenlAttribute.DEVICE_ID, event.device_id),
    ]
    return _encode(family_id, DONE_OF[event.command], attrs, seq)


def encode_set_features(reply_supported: bool, family_id: int, seq: int = 0) -> bytes:
    """``SET_FEATURES``: whether the kernel should wait for ``*_DONE`` replies."""
    attrs: list[tuple[GenlAttribute, int | str]] = [
        (GenlAttribute.SUPP_KERN_CMD_REPLY, int(reply_supported)),
    ]
    return _encode(family_id, TcmuCommand.SET_FEATURES, attrs, seq)


def encode_get_family(name: str = GENL_FAMILY, seq: int = 1) -> bytes:
    """``CTRL_CMD_GETFAMILY`` for the family called ``name`` (genetlink.h)."""
    attrs = encode_attribute(CTRL_ATTR_FAMILY_NAME, CString("utf8").build(name))
    return encode_message(GENL_ID_CTRL, CTRL_CMD_GETFAMILY, 1, attrs, seq, _NLM_F_REQUEST)


def _groups(payload: bytes) -> dict[str, int]:
    """``CTRL_ATTR_MCAST_GROUPS``: one nested attribute per group, its name and id inside."""
    groups = {}
    for _index, entry in attributes(payload):
        fields = dict(attributes(entry))
        name, gid = fields.get(CTRL_ATTR_MCAST_GRP_NAME), fields.get(CTRL_ATTR_MCAST_GRP_ID)
        if name is not None and gid is not None and len(gid) >= Int32un.sizeof():
            groups[name.split(b"\0", 1)[0].decode("utf8", "replace")] = Int32un.parse(gid[:4])
    return groups


def decode_family(data: bytes, group: str = GENL_MCGRP_CONFIG) -> tuple[int, int]:
    """The family id and the id of multicast ``group`` from the controller's answer.

    Raises :class:`NetlinkError` for an error answer (``NLMSG_ERROR``:
    ENOENT when no such family is registered), an answer without the
    family id, or a family without that group.
    """
    for header, body in messages(data):
        if header.type == _NLMSG_ERROR and len(body) >= Int32sn.sizeof():
            code = -Int32sn.parse(body[:4])
            raise NetlinkError(
                f"generic netlink family {GENL_FAMILY} not found: is target_core_user loaded? "
                f"({errno.errorcode.get(code, code)})"
            )
        if header.type != GENL_ID_CTRL or len(body) < GenlHeader.sizeof():
            continue
        if GenlHeader.parse(body).cmd != CTRL_CMD_NEWFAMILY:
            continue
        fields = dict(attributes(body[GenlHeader.sizeof() :]))
        family = fields.get(CTRL_ATTR_FAMILY_ID, b"")
        if len(family) < Int16un.sizeof():
            break
        groups = _groups(fields.get(CTRL_ATTR_MCAST_GROUPS, b""))
        if group not in groups:
            raise NetlinkError(f"{GENL_FAMILY} has no multicast group {group!r}")
        return Int16un.parse(family[:2]), groups[group]
    raise NetlinkError(f"generic netlink family {GENL_FAMILY}: no answer from the controller")


def resolve_family(timeout: float = 5.0) -> tuple[int, int]:
    """The TCM-USER family id and its ``config`` group id (``CTRL_CMD_GETFAMILY``)."""
    try:
        with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_GENERIC) as probe:
            probe.settimeout(timeout)
            probe.bind((0, 0))
            probe.sendto(encode_get_family(), (0, 0))
            return decode_family(probe.recv(65536))
    except OSError as err:
        raise NetlinkError(f"generic netlink family {GENL_FAMILY}: {err}") from err


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
