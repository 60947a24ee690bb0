"""The guest's environment and what it can see of the host."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from devemu.vm.cache import CACHE_ENV, cache_dir
from devemu.vm.errors import VmBootError, VmSetupError
from devemu.vm.kernel import Kernel
from devemu.vm.runner import (
    env_script,
    exported_paths,
    guest_environment,
    package_root,
    run,
    visible_in_guest,
    write_control,
)


def test_env_script_round_trips_through_sh() -> None:
    env = {"A": "plain", "B": 'it\'s $HOME `x` "q"', "C": "multi\nline"}
    script = env_script(env) + 'printf "%s\\0" "$A" "$B" "$C"'
    out = subprocess.run(["sh", "-c", script], capture_output=True, check=True).stdout
    assert out.split(b"\0")[:3] == [v.encode() for v in env.values()]


def test_env_script_rejects_bad_names() -> None:
    with pytest.raises(VmSetupError, match="not valid in a shell"):
        env_script({"A-B": "x"})


def test_guest_environment_runs_host_interpreter_and_package() -> None:
    env = guest_environment({"EXTRA": "1"})
    assert env["PATH"].split(":")[0] == str(Path(sys.executable).parent)
    assert env["PYTHONPATH"] == str(package_root())
    assert (package_root() / "devemu" / "__init__.py").is_file()
    assert env["DEVEMU_VM_PYTHON"] == sys.executable
    assert env["EXTRA"] == "1"


@pytest.mark.parametrize(
    ("path", "share", "visible"),
    [
        ("/work/main/x.toml", None, True),
        ("/tmp/x.toml", None, False),
        ("/run/a", None, False),
        ("/tmp/share/x.toml", "/tmp/share", True),
        ("/tmp/other/x.toml", "/tmp/share", False),
    ],
)
def test_visible_in_guest(path: str, share: str | None, visible: bool) -> None:
    assert visible_in_guest(Path(path), Path(share) if share else None) is visible


def test_cache_dir_honours_environment(tmp_path: Path) -> None:
    assert cache_dir({CACHE_ENV: str(tmp_path)}) == tmp_path
    assert cache_dir({"XDG_CACHE_HOME": "/c"}) == Path("/c/devemu/vm")


def test_boot_error_shows_console_and_output_tails() -> None:
    error = VmBootError("guest stopped", output="o1\no2", console="k1\nk2")
    text = str(error)
    assert text.startswith("guest stopped")
    assert "k2" in text and "o2" in text


def test_paths_under_guest_tmpfs_are_exported_once_each() -> None:
    needed = [
        Path("/tmp/ci/checkout/.venv/bin"),
        Path("/tmp/ci/checkout/.venv"),
        Path("/tmp/ci/checkout"),
        Path("/run/cache/root"),
        Path("/usr/bin"),
        Path("/tmp/share/pkg"),
    ]
    assert exported_paths(needed, Path("/tmp/share")) == (
        Path("/run/cache/root"),
        Path("/tmp/ci/checkout"),
    )


def test_paths_under_dev_proc_sys_cannot_be_exported() -> None:
    with pytest.raises(VmSetupError, match="cannot see /dev/shm/venv"):
        exported_paths([Path("/dev/shm/venv")])


def test_control_folder_lists_the_exports(tmp_path: Path) -> None:
    kernel = Kernel("linux-image-6.1.0-1-amd64", "6.1.0-1-amd64", Path("/tmp/cache/root"))
    write_control(
        tmp_path / "control",
        "true\n",
        kernel=kernel,
        modules=["sg"],
        share=None,
        exports=[Path("/tmp/cache/root"), Path("/tmp/my venv")],
    )
    mounts = (tmp_path / "control" / "mounts").read_text()
    assert mounts == "devemuro0 /tmp/cache/root\ndevemuro1 /tmp/my venv\n"
    assert not (tmp_path / "control" / "share-path").exists()


def test_share_replacing_guest_tmp_is_refused() -> None:
    with pytest.raises(VmSetupError, match="would replace the guest's own /tmp"):
        run("true", share=Path("/tmp"))
