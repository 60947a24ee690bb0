"""``devemu image iso``: names, collisions, links and special files, labels, overwriting."""

from __future__ import annotations

import io
import json
import os
import socket
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pycdlib
import pytest
from pycdlib.dr import DirectoryRecord

from devemu.cdrom.iso_names import iso_name, joliet_name, unique_names
from devemu.cdrom.iso_writer import make_iso
from devemu.cli import main

LONG = "a" * 62


@contextmanager
def opened(path: Path) -> Iterator[pycdlib.PyCdlib]:
    iso = pycdlib.PyCdlib()
    iso.open(str(path))
    try:
        yield iso
    finally:
        iso.close()


def _joliet_names(iso: pycdlib.PyCdlib, folder: str = "/") -> set[str]:
    return {
        c.file_identifier().decode("utf-16_be")
        for c in iso.list_children(joliet_path=folder)
        if not (c.is_dot() or c.is_dotdot())
    }


def _iso_names(iso: pycdlib.PyCdlib, folder: str = "/") -> set[str]:
    return {
        c.file_identifier().decode()
        for c in iso.list_children(iso_path=folder)
        if not (c.is_dot() or c.is_dotdot())
    }


def _read(iso: pycdlib.PyCdlib, **path: str) -> bytes:
    out = io.BytesIO()
    iso.get_file_from_iso_fp(out, **path)
    return out.getvalue()


@pytest.mark.parametrize(
    ("entries", "expected"),
    [
        # names that agree in their first 64 characters: the second gets a suffix
        (
            [(LONG + "-one.txt", False), (LONG + "-two.txt", False)],
            [("A" * 26 + ".TXT", "a" * 60 + ".txt"), ("A" * 24 + "_1.TXT", "a" * 58 + "~1.txt")],
        ),
        # Joliet names are compared regardless of case, ISO names are uppercase
        ([("README", False), ("readme", False)], [("README", "README"), ("README_1", "readme~1")]),
        # a suffix never takes a name another entry has naturally
        (
            [("a.txt", False), ("A.txt", False), ("a~1.txt", False)],
            [("A.TXT", "a.txt"), ("A_2.TXT", "A~2.txt"), ("A_1.TXT", "a~1.txt")],
        ),
        # forbidden Joliet characters, dots of a folder, a name with no stem
        (
            [(".hidden", False), ("dir.d", True), ("what?.txt", False)],
            [(".HIDDEN", ".hidden"), ("DIR_D", "dir.d"), ("WHAT_.TXT", "what_.txt")],
        ),
    ],
)
def test_unique_names(entries: list[tuple[str, bool]], expected: list[tuple[str, str]]) -> None:
    got = unique_names(entries)
    assert got == expected
    assert len({i for i, _ in got}) == len({j.casefold() for _, j in got}) == len(got)
    assert all(len(j.encode()) <= 64 and len(i) <= 30 for i, j in got)


def test_joliet_limit_counts_utf8_bytes_and_keeps_the_extension() -> None:
    name = "é" * 40 + ".flac"
    short = joliet_name(name)
    assert short.endswith(".flac") and len(short.encode()) <= 64 and short.startswith("é")
    assert iso_name("x" * 40 + ".tar.gz", directory=False) == "X" * 30


def _tree(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "d").mkdir(parents=True)
    (src / f"{LONG}-one.txt").write_bytes(b"one")
    (src / f"{LONG}-two.txt").write_bytes(b"two")
    (src / "README").write_bytes(b"upper")
    (src / "readme").write_bytes(b"lower")
    (src / "d" / "link").symlink_to("../README")
    os.mkfifo(src / "d" / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(src / "d" / "sock"))
    sock.close()
    return src


def test_collisions_are_resolved_and_both_files_kept(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    built = make_iso(src, tmp_path / "o.iso", label="COLLIDE")
    with opened(tmp_path / "o.iso") as iso:
        joliet = _joliet_names(iso)
        assert {"a" * 60 + ".txt", "a" * 58 + "~1.txt", "README", "readme~1", "d"} == joliet
        assert _iso_names(iso) == {
            "A" * 26 + ".TXT;1",
            "A" * 24 + "_1.TXT;1",
            "README;1",
            "README_1;1",
            "D",
        }
        assert _read(iso, joliet_path="/" + "a" * 58 + "~1.txt") == b"two"
        assert _read(iso, iso_path="/" + "A" * 24 + "_1.TXT;1") == b"two"
        assert _read(iso, iso_path="/README_1;1") == b"lower"
        assert _read(iso, rr_path=f"/{LONG}-two.txt") == b"two"
        assert _read(iso, rr_path="/readme") == b"lower"
    renamed = [n for n in built.notes if "name" in n]
    assert f"{LONG}-two.txt: Joliet name '{'a' * 58}~1.txt' (another name" in renamed[1]
    assert any(n.startswith(f"{LONG}-two.txt: ISO 9660 name '{'A' * 24}_1.TXT'") for n in renamed)
    assert any(n.startswith("readme: Joliet name 'readme~1'") for n in renamed)


def test_links_are_rock_ridge_symlinks_and_special_files_are_told(tmp_path: Path) -> None:
    src = _tree(tmp_path)
    built = make_iso(src, tmp_path / "o.iso", label="LINKS")
    assert "d/fifo: skipped, a FIFO cannot go on a disc" in built.notes
    assert "d/sock: skipped, a socket cannot go on a disc" in built.notes
    assert any(
        n.startswith("d/link: stored as a Rock Ridge symbolic link to '../README'")
        for n in built.notes
    )
    with opened(tmp_path / "o.iso") as iso:
        record = iso.get_record(rr_path="/d/link")
        assert isinstance(record, DirectoryRecord)
        assert record.rock_ridge is not None and record.rock_ridge.is_symlink()
        assert record.rock_ridge.symlink_path() == b"../README"
        assert _joliet_names(iso, "/d") == set()
        assert {
            c.rock_ridge.name()
            for c in iso.list_children(rr_path="/d")
            if c.rock_ridge and not (c.is_dot() or c.is_dotdot())
        } == {b"link"}


@pytest.mark.parametrize(
    ("label", "pvd", "joliet", "note"),
    [
        ("DEVEMU_1", "DEVEMU_1", "DEVEMU_1", None),
        (
            "my disc",
            "MY_DISC",
            "my disc",
            "label 'my disc' is 'MY_DISC' in the ISO 9660 volume descriptor (ECMA-119 8.4.5: "
            "A-Z, 0-9 and _ only); the Joliet label keeps 'my disc'",
        ),
        (
            "HOLIDAY_PHOTOS_2026_SUMMER",
            "HOLIDAY_PHOTOS_2026_SUMMER",
            "HOLIDAY_PHOTOS_2",
            "label 'HOLIDAY_PHOTOS_2026_SUMMER': the Joliet label is 'HOLIDAY_PHOTOS_2' "
            "(16 characters at most)",
        ),
    ],
)
def test_label_changes_are_told(
    tmp_path: Path, label: str, pvd: str, joliet: str, note: str | None
) -> None:
    (tmp_path / "src").mkdir()
    built = make_iso(tmp_path / "src", tmp_path / "o.iso", label=label)
    assert list(built.notes) == ([note] if note else [])
    with opened(tmp_path / "o.iso") as iso:
        assert iso.pvd.volume_identifier.decode().rstrip() == pvd
        assert iso.joliet_vd is not None
        assert iso.joliet_vd.volume_identifier.decode("utf-16_be").rstrip() == joliet


def test_existing_output_is_refused_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    src = _tree(tmp_path)
    out = tmp_path / "o.iso"
    out.write_bytes(b"precious")
    assert main(["image", "iso", str(src), str(out)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"devemu: {out}: already exists; not overwriting it (--force does)\n"
    assert captured.out == "" and out.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.iso", "src"]
    assert main(["image", "iso", str(src), str(out), "--force"]) == 0
    captured = capsys.readouterr()
    assert captured.out == f"{out}: {out.stat().st_size} bytes\n"
    assert "devemu: note: d/fifo: skipped, a FIFO cannot go on a disc\n" in captured.err
    with opened(out) as iso:
        assert _read(iso, rr_path="/README") == b"upper"
    assert main(["image", "iso", str(src), str(out), "--force", "--json"]) == 0
    reply = json.loads(capsys.readouterr().out)
    assert reply["image"] == str(out) and reply["size"] == out.stat().st_size
    assert "d/fifo: skipped, a FIFO cannot go on a disc" in reply["notes"]


def test_output_appearing_during_the_build_is_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = _tree(tmp_path)
    out = tmp_path / "o.iso"
    real_write = pycdlib.PyCdlib.write

    def write_and_race(self: pycdlib.PyCdlib, filename: str, **kw: object) -> None:
        real_write(self, filename, **kw)  # type: ignore[arg-type]
        out.write_bytes(b"someone else's")

    monkeypatch.setattr(pycdlib.PyCdlib, "write", write_and_race)
    with pytest.raises(Exception, match="appeared while the image was built"):
        make_iso(src, out)
    assert out.read_bytes() == b"someone else's"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.iso", "src"]


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_on_a_terminal_ends_with_the_whole_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for i in range(200):
        (src / f"f{i}").write_bytes(b"x" * 4096)
    tty = FakeTty()
    monkeypatch.setattr(sys, "stderr", tty)
    assert main(["image", "iso", str(src), str(tmp_path / "o.iso")]) == 0
    drawn = tty.getvalue()
    # 200 files written in well under a second: the first drawing and the last
    assert 1 <= drawn.count("\r") <= 3, drawn
    assert drawn.endswith("\x1b[K\n") and " 100%" in drawn.rsplit("\r", 1)[1]


def test_an_image_replaced_inside_its_own_source_is_left_out(tmp_path: Path) -> None:
    (tmp_path / "f").write_bytes(b"data")
    out = tmp_path / "self.iso"
    make_iso(tmp_path, out)
    built = make_iso(tmp_path, out, force=True)
    assert built.notes == ("self.iso: skipped, the image being replaced",)
    with opened(out) as iso:
        assert _joliet_names(iso) == {"f"}
