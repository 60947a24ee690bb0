"""The wheel installs in a clean environment and runs there (marker ``wheel``).

``python -m build`` makes the sdist and, from it, the wheel, as a release
would; the wheel is installed with pip into a fresh venv that sees no
system site-packages (its dependencies come from pip's cache or the
package index, as for any user), and the installed ``devemu`` must answer
``--version``, import from the venv rather than this checkout, carry the
example configuration, and check that configuration. Every step is
bounded; the whole takes about a minute.
"""

from __future__ import annotations

import filecmp
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

import devemu

pytestmark = pytest.mark.wheel

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = Path("share/devemu/examples/lab.toml")
#: Seconds for building, for making the venv, for installing into it.
BUILD_TIMEOUT = 300
VENV_TIMEOUT = 120
INSTALL_TIMEOUT = 300


def run(argv: list[str | Path], cwd: Path, timeout: float) -> str:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    done = subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{argv}: {done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and the wheel built from this checkout."""
    out = tmp_path_factory.mktemp("dist")
    run([sys.executable, "-m", "build", "--outdir", out, ROOT], out, BUILD_TIMEOUT)
    (sdist,) = out.glob("devemu-*.tar.gz")
    (wheel,) = out.glob("devemu-*.whl")
    return sdist, wheel


@pytest.fixture(scope="module")
def venv(built: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel installed."""
    where = tmp_path_factory.mktemp("venv")
    run([sys.executable, "-m", "venv", where / "env"], where, VENV_TIMEOUT)
    pip: list[str | Path] = [where / "env/bin/python", "-m", "pip", "--disable-pip-version-check"]
    run([*pip, "install", "-q", built[1]], where, INSTALL_TIMEOUT)
    return where / "env"


def test_packages_carry_the_example(built: tuple[Path, Path]) -> None:
    sdist, wheel = built
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
    assert f"devemu-{devemu.__version__}.data/data/{EXAMPLE}" in names
    assert f"devemu-{devemu.__version__}.data/data/lib/systemd/system/devemu@.service" in names
    assert f"devemu-{devemu.__version__}.data/data/share/devemu/dbus/devemu.conf" in names
    assert "devemu/cli.py" in names
    assert not [n for n in names if n.startswith("tests/")]
    with tarfile.open(sdist) as tf:
        assert f"devemu-{devemu.__version__}/examples/lab.toml" in tf.getnames()


def test_installed_devemu_runs(venv: Path, tmp_path: Path) -> None:
    version = run([venv / "bin/devemu", "--version"], tmp_path, 60)
    assert version == f"devemu {devemu.__version__}\n"
    where = run(
        [venv / "bin/python", "-c", "import devemu.cli; print(devemu.__file__)"], tmp_path, 60
    )
    assert Path(where.strip()).is_relative_to(venv)
    assert not Path(where.strip()).is_relative_to(ROOT)
    assert "_ARGCOMPLETE" in run([venv / "bin/devemu", "completion", "bash"], tmp_path, 60)
    assert run([venv / "bin/devemu", "man"], tmp_path, 60).startswith(".TH DEVEMU 1 ")


def test_installed_example_config_checks(venv: Path, tmp_path: Path) -> None:
    example = venv / EXAMPLE
    assert filecmp.cmp(example, ROOT / "examples/lab.toml", shallow=False)
    lab = tmp_path / "lab.toml"
    lab.write_bytes(example.read_bytes())
    out = run([venv / "bin/devemu", "serve", "--check", lab], tmp_path, 60)
    assert out.startswith(f"{lab}: ok, 5 device(s)")


def test_installed_devemu_makes_an_image(venv: Path, tmp_path: Path) -> None:
    image = tmp_path / "d.img"
    run([venv / "bin/devemu", "disk", "create", image, "--size", "1M"], tmp_path, 60)
    info = json.loads(run([venv / "bin/devemu", "--json", "disk", "info", image], tmp_path, 60))
    assert (info["size"], info["block_size"]) == (1 << 20, 512)
