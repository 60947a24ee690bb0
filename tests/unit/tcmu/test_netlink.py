"""TCM-USER generic netlink messages, checked against hand-built bytes and pyroute2."""

from __future__ import annotations

import contextlib
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyroute2.netlink import genlmsg

from devemu.tcmu.abi import GenlAttribute
from devemu.tcmu.netlink import (
    DONE_OF,
    DeviceEvent,
    NetlinkError,
    TcmuCommand,
    decode_events,
    decode_family,
    encode_event,
    encode_get_family,
    encode_reply,
    encode_set_features,
)

FAMILY = 0x1E


def _attr(kind: int, payload: bytes) -> bytes:
    raw = struct.pack("=HH", 4 + len(payload), kind) + payload
    return raw + bytes(-len(raw) % 4)


def _message(
    cmd: int, attrs: bytes, *, seq: int = 0, flags: int = 1, family: int = FAMILY
) -> bytes:
    body = struct.pack("=BBH", cmd, 2, 0) + attrs
    return struct.pack("=IHHII", 16 + len(body), family, flags, seq, 0) + body


UIO = b"tcm-user/0/disk0/devemu/disk0\0"
ADDED = _message(
    1,
    _attr(1, UIO) + _attr(2, struct.pack("=I", 3)) + _attr(8, struct.pack("=I", 7)),
)
ADDED_EVENT = DeviceEvent(TcmuCommand.ADDED_DEVICE, "tcm-user/0/disk0/devemu/disk0", 3, 7)


def test_added_device_decodes() -> None:
    assert decode_events(ADDED, FAMILY) == [ADDED_EVENT]


def test_added_device_encodes_as_the_kernel_does() -> None:
    assert encode_event(ADDED_EVENT, FAMILY) == ADDED


@pytest.mark.parametrize(
    ("extra", "fields"),
    [
        (_attr(4, b"devemu/other\0"), {"dev_config": "devemu/other"}),
        (_attr(5, struct.pack("=Q", 1 << 33)), {"dev_size": 1 << 33}),
        (_attr(6, b"\x01"), {"write_cache": 1}),
    ],
)
def test_reconfig_carries_one_change(extra: bytes, fields: dict[str, object]) -> None:
    base = _attr(1, UIO) + _attr(2, struct.pack("=I", 3)) + _attr(8, struct.pack("=I", 7))
    raw = _message(3, base + extra)
    event = DeviceEvent(
        TcmuCommand.RECONFIG_DEVICE,
        "tcm-user/0/disk0/devemu/disk0",
        3,
        7,
        **fields,  # type: ignore[arg-type]
    )
    assert decode_events(raw, FAMILY) == [event]
    assert encode_event(event, FAMILY) == raw


def test_pad_attribute_before_a_u64_is_skipped() -> None:
    attrs = _attr(1, UIO) + _attr(3, b"") + _attr(5, struct.pack("=Q", 4096))
    (event,) = decode_events(_message(3, attrs), FAMILY)
    assert event.dev_size == 4096


def test_several_messages_in_one_datagram_and_foreign_ones_skipped() -> None:
    removed = _message(2, _attr(1, UIO) + _attr(8, struct.pack("=I", 7)), seq=2)
    other_family = _message(1, _attr(1, UIO), family=0x10)
    done = _message(4, _attr(8, struct.pack("=I", 7)))  # a reply someone else sent
    events = decode_events(ADDED + other_family + removed + done + b"\0\0", FAMILY)
    assert [e.command for e in events] == [TcmuCommand.ADDED_DEVICE, TcmuCommand.REMOVED_DEVICE]


def test_truncated_datagram_stops_cleanly() -> None:
    assert decode_events(ADDED[:-6], FAMILY) == []


@pytest.mark.parametrize(
    ("command", "done"),
    [
        (TcmuCommand.ADDED_DEVICE, 4),
        (TcmuCommand.REMOVED_DEVICE, 5),
        (TcmuCommand.RECONFIG_DEVICE, 6),
    ],
)
def test_replies_carry_status_and_device_id(command: TcmuCommand, done: int) -> None:
    event = DeviceEvent(command, "tcm-user/0/d/devemu/d", 1, 42)
    expected = _message(
        done, _attr(7, struct.pack("=i", -22)) + _attr(8, struct.pack("=I", 42)), seq=9
    )
    assert encode_reply(event, -22, FAMILY, seq=9) == expected


def test_set_features() -> None:
    assert encode_set_features(True, FAMILY, seq=1) == _message(7, _attr(9, b"\x01"), seq=1)


# --- the generic netlink controller (genetlink.h) ---------------------------


def _controller_answer(family: int, groups: dict[str, int]) -> bytes:
    """CTRL_CMD_NEWFAMILY as Linux sends it: id, name, version, sizes, ops, groups."""
    nested = b"".join(
        _attr(i + 1, _attr(2, struct.pack("=I", gid)) + _attr(1, name.encode() + b"\0"))
        for i, (name, gid) in enumerate(groups.items())
    )
    attrs = (
        _attr(1, struct.pack("=H", family))
        + _attr(2, b"TCM-USER\0")
        + _attr(3, struct.pack("=I", 2))
        + _attr(4, struct.pack("=I", 0))
        + _attr(5, struct.pack("=I", 9))
        + _attr(6 | 0x8000, _attr(1, _attr(1, struct.pack("=I", 7))))
        + _attr(7 | 0x8000, nested)
    )
    body = struct.pack("=BBH", 1, 2, 0) + attrs
    return struct.pack("=IHHII", 16 + len(body), 0x10, 0, 1, 4242) + body


def test_get_family_asks_the_controller_for_tcm_user() -> None:
    request = encode_get_family()
    body = struct.pack("=BBH", 3, 1, 0) + _attr(2, b"TCM-USER\0")
    assert request == struct.pack("=IHHII", 16 + len(body), 0x10, 1, 1, 0) + body


def test_family_and_config_group_from_the_answer() -> None:
    answer = _controller_answer(0x1E, {"other": 3, "config": 11})
    assert decode_family(answer) == (0x1E, 11)


def test_family_without_the_config_group() -> None:
    with pytest.raises(NetlinkError, match="no multicast group 'config'"):
        decode_family(_controller_answer(0x1E, {"other": 3}))


def test_unknown_family_is_an_error_naming_the_module() -> None:
    error = struct.pack("=i", -2) + struct.pack("=IHHII", 28, 0x10, 1, 1, 0)
    answer = struct.pack("=IHHII", 16 + len(error), 2, 0, 1, 4242) + error
    with pytest.raises(NetlinkError, match=r"target_core_user loaded\? \(ENOENT\)"):
        decode_family(answer)


@pytest.mark.parametrize("cut", [0, 10, 20, 40])
def test_short_controller_answers_are_refused(cut: int) -> None:
    with pytest.raises(NetlinkError):
        decode_family(_controller_answer(0x1E, {"config": 11})[:cut])


# --- the same bytes as an independent implementation (pyroute2) ----------------

_text = st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=60)
_events = st.builds(
    DeviceEvent,
    command=st.sampled_from(list(DONE_OF)),
    uio_name=_text,
    minor=st.integers(0, 2**32 - 1),
    device_id=st.integers(0, 2**32 - 1),
    dev_config=st.none() | _text,
    dev_size=st.none() | st.integers(0, 2**64 - 1),
    write_cache=st.none() | st.integers(0, 1),
)


#: A TCM-USER message as pyroute2 declares one: its generic message and this family's attributes.
_Pyroute2Tcmu = type(
    "Pyroute2Tcmu",
    (genlmsg,),
    {
        "__slots__": (),
        "nla_map": tuple(
            (
                f"TCMU_ATTR_{a.name}",
                {
                    "DEVICE": "asciiz",
                    "DEV_CFG": "asciiz",
                    "MINOR": "uint32",
                    "DEVICE_ID": "uint32",
                    "DEV_SIZE": "uint64",
                    "WRITECACHE": "uint8",
                    "CMD_STATUS": "int32",
                    "SUPP_KERN_CMD_REPLY": "uint8",
                }.get(a.name, "none"),
            )
            for a in GenlAttribute
        ),
    },
)


@settings(max_examples=60, deadline=None)
@given(event=_events, seq=st.integers(0, 2**32 - 1))
def test_events_agree_with_pyroute2(event: DeviceEvent, seq: int) -> None:
    raw = encode_event(event, FAMILY, seq)
    theirs = _Pyroute2Tcmu(raw)
    theirs.decode()
    assert theirs["cmd"] == event.command
    assert theirs["header"]["sequence_number"] == seq
    assert theirs.get_attr("TCMU_ATTR_DEVICE") == event.uio_name
    assert theirs.get_attr("TCMU_ATTR_DEVICE_ID") == event.device_id
    assert theirs.get_attr("TCMU_ATTR_DEV_SIZE") == event.dev_size

    built = _Pyroute2Tcmu()
    built["cmd"] = int(event.command)
    built["version"] = 2
    built["attrs"] = [
        [f"TCMU_ATTR_{k}", v]
        for k, v in (
            ("DEVICE", event.uio_name),
            ("MINOR", event.minor),
            ("DEVICE_ID", event.device_id),
            ("DEV_CFG", event.dev_config),
            ("DEV_SIZE", event.dev_size),
            ("WRITECACHE", event.write_cache),
        )
        if v is not None
    ]
    built["header"]["type"] = FAMILY
    built["header"]["flags"] = 1
    built["header"]["sequence_number"] = seq
    built.encode()
    assert bytes(built.data) == raw
    assert decode_events(bytes(built.data), FAMILY) == [event]


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=200), family=st.integers(0, 0xFFFF))
def test_any_datagram_decodes_or_is_skipped(data: bytes, family: int) -> None:
    for event in decode_events(data, family):
        assert event.command in DONE_OF
    with contextlib.suppress(NetlinkError):
        decode_family(data)
