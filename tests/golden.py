"""Golden-bytes checks shared by every test of a construct declaration."""

from __future__ import annotations

from typing import Any


def plain(value: Any) -> Any:
    """A parsed construct Container as plain dicts, without private keys."""
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def check_both_ways(struct: Any, golden: bytes, fields: dict[str, Any]) -> None:
    """``struct`` builds ``golden`` from ``fields``, parses it back to them, and has its size."""
    assert struct.build(fields) == golden
    assert plain(struct.parse(golden)) == fields
    assert struct.sizeof() == len(golden)
