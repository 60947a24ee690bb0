"""Reading what a guest script printed: ``KEY value`` lines and tagged blocks."""

from __future__ import annotations

import re

from devemu.vm.runner import VmResult
from devemu.vm.steps import Step


def value(output: str, key: str) -> str:
    """The rest of the line ``KEY value`` (stripped); the test fails if there is none."""
    match = re.search(rf"^{re.escape(key)}[ \t](.*)$", output, re.MULTILINE)
    assert match, f"{key} missing from the guest output:\n{output}"
    return match[1].strip()


def lines(output: str, tag: str) -> list[str]:
    """Every line the script tagged ``TAG ...`` (``sed 's/^/TAG /'``), tag removed."""
    return [
        line[len(tag) + 1 :]
        for line in output.splitlines()
        if line == tag or line.startswith(tag + " ")
    ]


def _items(text: str) -> dict[str, str]:
    found: dict[str, str] = {}
    for n, item in enumerate(text.split()):
        key, sep, rest = item.partition("=")
        if sep:
            found[key] = rest
        else:
            found[f"#{n}"] = item
    return found


def fields(output: str, key: str) -> dict[str, str]:
    """The ``name=value`` items of the line ``KEY ...`` (other words under ``#N``)."""
    return _items(value(output, key))


def records(output: str, tag: str) -> list[dict[str, str]]:
    """:func:`fields` of every line tagged ``TAG``, in order."""
    return [_items(line) for line in lines(output, tag)]


def step(booted: tuple[VmResult, dict[str, Step]], name: str) -> str:
    """The output of step ``name`` of a ``run_steps`` boot, which must have run and passed."""
    result, steps = booted
    assert name in steps, f"step {name} did not run:\n{result.output[-4000:]}"
    found = steps[name]
    assert found.ok, f"step {name} failed with {found.status}:\n{found.output}"
    return found.output
