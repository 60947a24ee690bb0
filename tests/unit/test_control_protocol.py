"""The control protocol without a socket: any line gets exactly one answer line."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devemu.control_protocol import MAX_DEPTH, answer, control_op, too_deep
from devemu.scsi.device import ScsiDevice
from devemu.served import ServedDevice


@control_op(name=str, count=int, flag=bool, slot=(int, str))
def _echo(args: dict[str, Any]) -> dict[str, Any]:
    return dict(args)


DEVICES = {"d0": ServedDevice("d0", "disk", cast(ScsiDevice, object()), control={"echo": _echo})}

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def _one_answer(line: bytes) -> dict[str, Any]:
    out = answer(DEVICES, line)
    assert out.endswith(b"\n") and out.count(b"\n") == 1
    reply: dict[str, Any] = json.loads(out)
    assert isinstance(reply["ok"], bool)
    return reply


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=512))
def test_any_bytes_get_one_answer(line: bytes) -> None:
    _one_answer(line.replace(b"\n", b""))


@settings(max_examples=300, deadline=None)
@given(_json, _json)
def test_any_json_request_gets_one_answer(op: Any, args: Any) -> None:
    for request in (
        {"op": op, "device": "d0", "args": args},
        {"op": "echo", "device": "d0", "args": args},
    ):
        _one_answer(json.dumps(request).encode())


@settings(max_examples=300, deadline=None)
@given(_json)
def test_too_deep_agrees_with_the_parser(value: Any) -> None:
    line = json.dumps(value).encode()

    def depth(v: Any) -> int:
        if isinstance(v, list):
            return 1 + max(map(depth, v), default=0)
        if isinstance(v, dict):
            return 1 + max(map(depth, v.values()), default=0)
        return 0

    assert too_deep(line) == (depth(value) > MAX_DEPTH)


@pytest.mark.parametrize(
    ("line", "deep"),
    [
        (b"[" * MAX_DEPTH + b"]" * MAX_DEPTH, False),
        (b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1), True),
        (b"[]" * 10_000, False),
        (b'["' + b"[" * 1000 + b'"]', False),
        (b'["\\"' + b"[" * 1000 + b'"]', False),
        (b'["\\\\"' + b"[" * 1000, True),
    ],
    ids=["at the limit", "past it", "wide", "in a string", "escaped quote", "escaped backslash"],
)
def test_too_deep(line: bytes, deep: bool) -> None:
    assert too_deep(line) is deep


def test_declared_arguments() -> None:
    ok = {"name": "a", "count": 3, "flag": False, "slot": "2"}
    assert _one_answer(json.dumps({"op": "echo", "device": "d0", "args": ok}).encode()) == {
        "ok": True,
        "result": ok,
    }
    for args, error in (
        ({"count": True}, "'count' must be an integer, not a boolean"),
        ({"count": 1.5}, "'count' must be an integer, not a number"),
        ({"slot": [1]}, "'slot' must be an integer or a string, not an array"),
        ({"other": 1}, "unknown argument 'other' (arguments: name, count, flag, slot)"),
    ):
        line = json.dumps({"op": "echo", "device": "d0", "args": args}).encode()
        assert _one_answer(line) == {"ok": False, "error": f"d0: echo: {error}"}


def test_only_simple_argument_types_can_be_declared() -> None:
    with pytest.raises(TypeError, match="bool, int or str"):
        control_op(when=float)
