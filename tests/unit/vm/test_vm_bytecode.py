"""The bytecode layer: compiled on the host where the host has none, at the guest's paths."""

from __future__ import annotations

import importlib.util
import marshal
import os
import py_compile
import sys
from pathlib import Path

from devemu.vm.bytecode import (
    SKIPPED_FOLDERS,
    default_roots,
    ensure_bytecode,
    guest_cache_path,
    is_fresh,
    layer_path,
    source_files,
)

TAG = sys.implementation.cache_tag


def _tree(tmp_path: Path) -> Path:
    package = tmp_path / "src" / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = 1\n")
    (package / "sub" / "mod.py").write_text("def f():\n    return 42\n")
    (package / "tests").mkdir()
    (package / "tests" / "test_x.py").write_text("X = 1\n")
    (package / "broken.py").write_text("def (:\n")
    (package / "data.txt").write_text("not python\n")
    return package


def test_guest_cache_path_is_the_standard_one(tmp_path: Path) -> None:
    source = tmp_path / "a" / "mod.py"
    assert guest_cache_path(source) == tmp_path / "a" / "__pycache__" / f"mod.{TAG}.pyc"


def test_layer_mirrors_absolute_paths(tmp_path: Path) -> None:
    assert layer_path(tmp_path / "layer", Path("/work/x/__pycache__/m.pyc")) == (
        tmp_path / "layer" / "work" / "x" / "__pycache__" / "m.pyc"
    )


def test_source_files_skip_test_folders_and_other_files(tmp_path: Path) -> None:
    package = _tree(tmp_path)
    found = {p.relative_to(package).as_posix() for p in source_files(package)}
    assert found == {"__init__.py", "sub/mod.py", "broken.py"}
    assert "tests" in SKIPPED_FOLDERS
    assert list(source_files(package / "sub" / "mod.py")) == [package / "sub" / "mod.py"]


def test_compiles_into_the_layer_only_and_loads(tmp_path: Path) -> None:
    package = _tree(tmp_path)
    layer = tmp_path / "layer"
    assert ensure_bytecode(layer, [package]) == 2  # __init__ and sub/mod; broken is left
    assert not (package / "__pycache__").exists()
    pyc = layer_path(layer, guest_cache_path(package / "sub" / "mod.py"))
    data = pyc.read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    namespace: dict[str, object] = {}
    exec(marshal.loads(data[16:]), namespace)
    assert namespace["f"]() == 42  # type: ignore[operator]
    assert not layer_path(layer, guest_cache_path(package / "broken.py")).exists()


def test_recompiles_only_what_changed(tmp_path: Path) -> None:
    package = _tree(tmp_path)
    layer = tmp_path / "layer"
    ensure_bytecode(layer, [package])
    assert ensure_bytecode(layer, [package]) == 0
    module = package / "sub" / "mod.py"
    module.write_text("def f():\n    return 43\n")
    stat = module.stat()
    os.utime(module, (stat.st_atime, stat.st_mtime + 5))
    assert ensure_bytecode(layer, [package]) == 1
    pyc = layer_path(layer, guest_cache_path(module))
    assert is_fresh(pyc, module.stat())


def test_host_bytecode_that_is_fresh_is_not_duplicated(tmp_path: Path) -> None:
    package = _tree(tmp_path)
    for source in (package / "__init__.py", package / "sub" / "mod.py"):
        py_compile.compile(str(source), cfile=str(guest_cache_path(source)), doraise=True)
    assert ensure_bytecode(tmp_path / "layer", [package]) == 0
    assert not (tmp_path / "layer").exists()


def test_is_fresh_checks_magic_mtime_and_size(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("A = 1\n")
    pyc = tmp_path / "m.pyc"
    assert not is_fresh(pyc, source.stat())
    py_compile.compile(str(source), cfile=str(pyc), doraise=True)
    assert is_fresh(pyc, source.stat())
    source.write_text("A = 12\n")
    assert not is_fresh(pyc, source.stat())
    py_compile.compile(str(source), cfile=str(pyc), doraise=True)
    pyc.write_bytes(b"\0\0\0\0" + pyc.read_bytes()[4:])
    assert not is_fresh(pyc, source.stat())


def test_hash_based_bytecode_is_taken_as_it_is(tmp_path: Path) -> None:
    source = tmp_path / "m.py"
    source.write_text("A = 1\n")
    pyc = tmp_path / "m.pyc"
    py_compile.compile(
        str(source),
        cfile=str(pyc),
        doraise=True,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )
    source.write_text("A = 2\n")
    assert is_fresh(pyc, source.stat())


def test_default_roots_cover_devemu_its_dependencies_and_stdlib() -> None:
    names = [root.name for root in default_roots()]
    assert names[0] == "devemu"
    assert {"construct", "pycdlib"} <= set(names)
    assert (default_roots()[-1] / "os.py").is_file()
