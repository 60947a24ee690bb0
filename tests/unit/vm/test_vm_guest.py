"""A guest that stays up, without booting: run folders, names, crash detection, the CLI."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from devemu.vm import guest_cli
from devemu.vm.errors import VmError, VmSetupError
from devemu.vm.guest import (
    RUN_ENV,
    RunFolder,
    check_name,
    find_guest,
    guest_script,
    list_guests,
    run_base,
)
from devemu.vm.qemu import MachineSpec, qemu_command


def test_run_base_order() -> None:
    assert run_base({RUN_ENV: "/r", "XDG_RUNTIME_DIR": "/x"}) == Path("/r")
    assert run_base({"XDG_RUNTIME_DIR": "/x"}) == Path("/x/devemu/vm")
    assert run_base({"XDG_CACHE_HOME": "/c"}) == Path("/c/devemu/vm/run")


@pytest.mark.parametrize("name", ["", "../x", "a/b", "-x", "x" * 65, "a b"])
def test_bad_names_are_refused(name: str) -> None:
    with pytest.raises(VmSetupError):
        check_name(name)


def test_good_name() -> None:
    assert check_name("lab-1.ci_x") == "lab-1.ci_x"


def _folder(base: Path, name: str, pid: int) -> RunFolder:
    folder = RunFolder(base / name)
    folder.path.mkdir(parents=True)
    folder.pid_file.write_text(f"{pid}\n")
    folder.console_log.write_text("Kernel panic - not syncing\n")
    return folder


def test_a_dead_qemu_is_a_crashed_guest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUN_ENV, str(tmp_path))
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    _folder(tmp_path, "gone", process.pid)
    with pytest.raises(VmError, match="stopped unexpectedly") as caught:
        find_guest("gone")
    assert "Kernel panic" in str(caught.value)
    (state,) = list_guests()
    assert (state.name, state.running) == ("gone", False)


def test_a_live_process_that_is_not_our_qemu_is_not_the_guest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(RUN_ENV, str(tmp_path))
    process = subprocess.Popen(["sleep", "30"])
    try:
        folder = _folder(tmp_path, "reused", process.pid)
        assert not folder.alive()
    finally:
        process.kill()
        process.wait()


def test_no_such_guest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(RUN_ENV, str(tmp_path))
    with pytest.raises(VmError, match="no guest called lab"):
        find_guest("lab")


def test_stop_cleans_up_after_a_crashed_guest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(RUN_ENV, str(tmp_path))
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    folder = _folder(tmp_path, "gone", process.pid)
    assert guest_cli.run_action(["stop", "--name", "gone"]) == 0
    assert not folder.path.exists()
    assert "killed" in capsys.readouterr().out
    assert guest_cli.run_action(["list"]) == 0
    assert "no guests" in capsys.readouterr().out


def test_exec_on_a_missing_guest_fails_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv(RUN_ENV, str(tmp_path))
    assert guest_cli.run_action(["exec", "--name", "x", "--", "true"]) == 1
    assert "no guest called x" in capsys.readouterr().err


def test_exec_needs_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert guest_cli.run_action(["exec", "--"]) == 2


def test_guest_script_serves_then_runs_the_agent() -> None:
    script = guest_script(Path("/srv/lab.toml"), ready_timeout=30)
    assert script.index("serve_start /srv/lab.toml") < script.index("-m devemu.vm.agent")
    assert "kill -TERM" in script
    bare = guest_script(None, ready_timeout=30)
    assert "serve_start" not in bare and "-m devemu.vm.agent" in bare
    check = subprocess.run(["sh", "-n"], check=False, input=script, text=True, capture_output=True)
    assert check.returncode == 0, check.stderr


def test_the_agent_reaches_the_socket_the_configuration_names() -> None:
    script = guest_script(
        Path("/srv/lab.toml"), ready_timeout=30, control_socket=Path("/run/lab/c.sock")
    )
    assert (
        "-m devemu.vm.agent --ready-file /run/devemu-vm/ready --control-socket /run/lab/c.sock"
        in (script)
    )
    assert "--control-socket" not in guest_script(None, ready_timeout=30)


def test_qemu_gets_the_agent_port_and_the_output_file(tmp_path: Path) -> None:
    spec = MachineSpec(
        vmlinuz=tmp_path / "vmlinuz",
        initramfs=tmp_path / "initrd",
        control_dir=tmp_path / "control",
        console_log=tmp_path / "console.log",
        output_log=tmp_path / "output.log",
        agent_socket=tmp_path / "agent.sock",
        exports=(Path("/tmp/venv"),),
    )
    argv = qemu_command(spec)
    joined = " ".join(argv)
    assert f"file:{tmp_path / 'output.log'}" in argv
    assert f"socket,id=agent,path={tmp_path / 'agent.sock'},server=on,wait=off" in argv
    assert "virtserialport,chardev=agent,name=devemu.agent" in argv
    assert "path=/tmp/venv," in joined and "mount_tag=devemuro0" in joined


def test_vm_actions_reach_the_guest_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from devemu import cli  # noqa: PLC0415

    monkeypatch.setenv(RUN_ENV, str(tmp_path))
    assert cli.main(["vm", "list"]) == 0
    assert cli.main(["vm", "stop", "--name", "nothing"]) == 1


def test_a_guest_started_for_a_test_run_dies_with_it() -> None:
    """The plugin's QEMU gets SIGKILL when the process that started it is killed."""
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "from devemu.vm.guest import _kill_when_parent_dies\n"
            "child = subprocess.Popen(['sleep', '60'], start_new_session=True,"
            " preexec_fn=_kill_when_parent_dies)\n"
            "print(child.pid, flush=True)\n"
            "time.sleep(60)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child}").exists() and "Z" not in _state(child):
        assert time.monotonic() < deadline, "the child outlived its parent"
        time.sleep(0.05)


def _state(pid: int) -> str:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return "gone"
    return next(line for line in status.splitlines() if line.startswith("State:"))
