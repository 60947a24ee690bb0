"""TCM-USER generic netlink messages, checked against hand-built bytes both ways."""

from __future__ import annotations

import struct

import pytest

from devemu.tcmu.netlink import (
    DeviceEvent,
    TcmuCommand,
    decode_events,
    encode_event,
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
