"""Named steps framed in one script, run here by the host's sh."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from devemu.vm.steps import Step, parse_steps, steps_script


def _run(script: str) -> str:
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, check=True).stdout


def test_each_step_reports_status_and_output(tmp_path: Path) -> None:
    script = steps_script(
        {
            "ok": "echo one\necho two >&2",
            "fails": "echo before\nfalse\necho never",
            "silent": "true",
            "no_newline": "printf abc",
            "reads_stdin": "cat",
        },
        folder=str(tmp_path),
    )
    steps = parse_steps(_run(script))
    assert steps == {
        "ok": Step("ok", 0, "one\ntwo\n"),
        "fails": Step("fails", 1, "before\n"),
        "silent": Step("silent", 0, ""),
        "no_newline": Step("no_newline", 0, "abc"),
        "reads_stdin": Step("reads_stdin", 0, ""),
    }


def test_snippet_text_is_taken_literally(tmp_path: Path) -> None:
    snippet = "echo '$HOME' \"(\" ')'\nexit 5"
    steps = parse_steps(_run(steps_script([("odd", snippet)], folder=str(tmp_path))))
    assert steps["odd"] == Step("odd", 5, "$HOME ( )\n")


def test_cut_short_step_is_absent() -> None:
    assert parse_steps("@@devemu-step-begin a\npartial output") == {}


@pytest.mark.parametrize("name", ["has space", "a/b", ""])
def test_bad_names_rejected(name: str) -> None:
    with pytest.raises(ValueError, match="step name"):
        steps_script({name: "true"})


def test_duplicate_names_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        steps_script([("a", "true"), ("a", "false")])
