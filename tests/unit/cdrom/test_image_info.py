"""``devemu image info``: every CUE field in the text and the JSON, sizes as the files hold them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devemu.cdrom.cdtext import cdtext_packs, read_cdtext
from devemu.cdrom.cue import parse_cue
from devemu.cli import main

SHEET = """\
CATALOG 1234567890123
TITLE "Album"
PERFORMER "Band"
SONGWRITER "Writer"
FILE "disc.bin" BINARY
  TRACK 01 MODE1/2352
    FLAGS DCP
    INDEX 01 00:00:00
    POSTGAP 00:00:10
  TRACK 02 AUDIO
    TITLE "Song"
    PERFORMER "Singer"
    SONGWRITER "Author"
    ISRC GBAAA2600001
    FLAGS DCP 4CH PRE SCMS
    PREGAP 00:00:20
    INDEX 00 00:00:30
    INDEX 01 00:00:35
    INDEX 02 00:00:40
"""


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    (tmp_path / "disc.bin").write_bytes(bytes(50 * 2352))
    path = tmp_path / "disc.cue"
    path.write_text(SHEET)
    return path


def _info(argv: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["image", "info", *argv]) == 0
    return capsys.readouterr().out


def _leaves(value: Any) -> Iterator[str | int]:
    if isinstance(value, dict):
        for item in value.values():
            yield from _leaves(item)
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item)
    elif not isinstance(value, bool) and value is not None:
        yield value


def test_every_cue_field_in_json_and_text(sheet: Path, capsys: pytest.CaptureFixture[str]) -> None:
    info = json.loads(_info(["--json", str(sheet)], capsys))
    text = _info([str(sheet)], capsys)
    folder = sheet.parent
    assert (info["catalog"], info["title"], info["performer"], info["songwriter"]) == (
        "1234567890123",
        "Album",
        "Band",
        "Writer",
    )
    assert info["files"] == [{"path": str(folder / "disc.bin"), "type": "BINARY"}]
    # the files hold 50 raw sectors of 2352 bytes: 30 of track 1, 20 of track 2
    assert info["size"] == 50 * 2352 == (folder / "disc.bin").stat().st_size
    t1, t2 = info["sessions"][0]["tracks"]
    assert (t1["mode"], t1["flags"], t1["postgap"], t1["size"]) == (
        "MODE1/2352",
        ["DCP"],
        10,
        30 * 2352,
    )
    # user data: 30 sectors + a 10-sector POSTGAP of 2048 bytes
    assert t1["user_data"] == 40 * 2048
    assert t1["indexes"] == [{"number": 1, "lba": 0, "msf": "00:02:00"}]
    assert t2 | {"indexes": None} == {
        "number": 2,
        "session": 1,
        "mode": "AUDIO",
        "start": 65,
        "msf": "00:02:65",
        "length": 15,
        "pregap": 25,
        "generated_pregap": 20,
        "postgap": 0,
        "indexes": None,
        "flags": ["DCP", "4CH", "PRE", "SCMS"],
        "files": [str(folder / "disc.bin")],
        "size": 20 * 2352,
        "user_data": 40 * 2352,
        "isrc": "GBAAA2600001",
        "title": "Song",
        "performer": "Singer",
        "songwriter": "Author",
    }
    assert [(i["number"], i["lba"]) for i in t2["indexes"]] == [(0, 40), (1, 65), (2, 70)]
    assert info["user_data"] == 40 * 2048 + 40 * 2352
    # the text holds every value of the JSON
    missing = [v for v in _leaves(info) if str(v) not in text]
    assert missing == []
    for line in (
        "disc: catalog '1234567890123', title 'Album', performer 'Band', songwriter 'Writer'",
        "flags DCP 4CH PRE SCMS, PREGAP 20, POSTGAP 0, in ",
        "index 00 at 40 (00:02:40), 01 at 65 (00:02:65), 02 at 70 (00:02:70)",
        "isrc 'GBAAA2600001', title 'Song', performer 'Singer', songwriter 'Author'",
        f"{sheet}: cue, 80 sectors, 117600 bytes in its files, 176000 bytes of user data",
    ):
        assert line in text, (line, text)


def test_cdtext_file_is_decoded_in_both_outputs(
    sheet: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    packs = cdtext_packs(parse_cue(sheet, SHEET))
    assert read_cdtext(packs) == {
        0: {"TITLE": "Album", "PERFORMER": "Band", "SONGWRITER": "Writer"},
        2: {"TITLE": "Song", "PERFORMER": "Singer", "SONGWRITER": "Author"},
    }
    (sheet.parent / "disc.cdt").write_bytes(packs)
    other = sheet.with_name("cdtext.cue")
    other.write_text('CDTEXTFILE "disc.cdt"\n' + SHEET.replace('TITLE "Album"\n', ""))
    info = json.loads(_info(["--json", str(other)], capsys))
    assert info["cdtext"] == {
        "0": {"TITLE": "Album", "PERFORMER": "Band", "SONGWRITER": "Writer"},
        "2": {"TITLE": "Song", "PERFORMER": "Singer", "SONGWRITER": "Author"},
    }
    assert "title" not in info
    text = _info([str(other)], capsys)
    assert (
        "  CD-TEXT (CDTEXTFILE) disc: title 'Album', performer 'Band', songwriter 'Writer'" in text
    )
    assert (
        "  CD-TEXT (CDTEXTFILE) track 2: title 'Song', performer 'Singer', songwriter 'Author'"
        in text
    )


def test_cdtext_tab_repeats_the_previous_track() -> None:
    from devemu.cdrom.cdtext import _pack  # noqa: PLC0415

    stream = b"Album\0Same\0\t\0".ljust(24, b"\0")
    packs = _pack(0x81, 0, 0, 0, stream[:12]) + _pack(0x81, 2, 1, 1, stream[12:])
    assert read_cdtext(packs) == {
        0: {"PERFORMER": "Album"},
        1: {"PERFORMER": "Same"},
        2: {"PERFORMER": "Same"},
    }


def test_iso_info_tells_both_labels_and_bytes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_bytes(b"x" * 5000)
    assert (
        main(["image", "iso", str(tmp_path / "src"), str(tmp_path / "o.iso"), "--label", "My Disc"])
        == 0
    )
    capsys.readouterr()
    info = json.loads(_info(["--json", str(tmp_path / "o.iso")], capsys))
    size = (tmp_path / "o.iso").stat().st_size
    assert (info["label"], info["joliet_label"], info["size"], info["user_data"]) == (
        "MY_DISC",
        "My Disc",
        size,
        size,
    )
    text = _info([str(tmp_path / "o.iso")], capsys)
    assert "  label 'MY_DISC' (Joliet 'My Disc'), extensions: joliet, rock_ridge\n" in text
    assert f"{size} bytes in its files, {size} bytes of user data" in text


def _burn_two_sessions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, int]:
    """A DVD+R of two sessions, each an ISO 9660 volume of its own label; its folder and
    the second session's start."""
    from tests.unit.cdrom.test_burn import Burner  # noqa: PLC0415
    from tests.unit.cdrom.test_burn_sequential import write_ok  # noqa: PLC0415

    images = []
    for label in ("first", "second"):
        (tmp_path / label).mkdir()
        (tmp_path / label / f"{label}.txt").write_text(label)
        out = tmp_path / f"{label}.iso"
        assert main(["image", "iso", str(tmp_path / label), str(out), "--label", label]) == 0
        images.append(out.read_bytes())
    capsys.readouterr()
    b = Burner(tmp_path / "discs", "dvd+r", 40000)
    write_ok(b, 0, images[0])
    b.sync()
    b.close(2)
    nwa = b.nwa()
    write_ok(b, nwa, images[1])
    b.sync()
    b.close(2)
    rec = b.device.recording
    assert rec is not None
    return rec.folder, nwa


def test_kept_multisession_disc_tells_every_session_and_the_mount(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, nwa = _burn_two_sessions(tmp_path, capsys)
    for given in (folder, folder / "disc.iso"):
        info = json.loads(_info(["--json", str(given)], capsys))
        kept = info["recording"]
        assert kept["medium"] == "dvd+r" and kept["status"] == "incomplete"
        assert [(s["number"], s["start"]) for s in kept["sessions"]] == [(1, 0), (2, nwa)]
        assert [s["volume"]["label"] for s in kept["sessions"]] == ["FIRST", "SECOND"]
        assert [s["volume"]["joliet_label"] for s in kept["sessions"]] == ["first", "second"]
        lengths = [s["length"] for s in kept["sessions"]]
        assert lengths == [s["tracks"][0]["length"] for s in info["sessions"]]
        assert kept["mount_last_session"] == (
            f"mount -o loop,ro,sbsector={nwa} {folder / 'disc.iso'} MOUNTPOINT"
        )
        text = _info([str(given)], capsys)
        assert f"  session 2: start {nwa}, length {lengths[1]}, volume 'SECOND'" in text
        assert f"  last session: mount -o loop,ro,sbsector={nwa} " in text
    # A copy of the file without its state is a plain ISO image: its first session.
    alone = tmp_path / "alone.iso"
    alone.write_bytes((folder / "disc.iso").read_bytes())
    info = json.loads(_info(["--json", str(alone)], capsys))
    assert "recording" not in info and info["label"] == "FIRST"


def test_kept_folder_with_a_bad_state_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder, _ = _burn_two_sessions(tmp_path, capsys)
    (folder / "state.json").write_text("{")
    assert main(["image", "info", str(folder)]) != 0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "state.json" in err[0], err


def test_kept_cd_and_dvd_plus_rw_read_their_kept_image(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Media other than sequential DVD and BD keep an image that tells every session
    already (a CUE sheet, or the ISO of one data track): info reads it, with the state."""
    from tests.unit.cdrom.test_burn import Burner  # noqa: PLC0415
    from tests.unit.cdrom.test_burn_sequential import write_ok  # noqa: PLC0415

    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("f")
    assert (
        main(["image", "iso", str(tmp_path / "src"), str(tmp_path / "o.iso"), "--label", "K"]) == 0
    )
    capsys.readouterr()
    volume = (tmp_path / "o.iso").read_bytes()
    plus = Burner(tmp_path / "plus", "dvd+rw", 8192)
    plus.ok([0x04, 0x11, 0, 0, 0, 0], bytes((0, 0, 0, 8)) + bytes.fromhex("ffffffff98000000"))
    write_ok(plus, 0, volume)
    plus.sync()
    rec = plus.device.recording
    assert rec is not None
    info = json.loads(_info(["--json", str(rec.folder / "disc.iso")], capsys))
    assert info["label"] == "K" and info["recording"]["medium"] == "dvd+rw"
    assert info["recording"]["status"] == "formatted" and "sessions" not in info["recording"]
    cd = Burner(tmp_path / "cd", "cd-r")
    cd.set_params()
    write_ok(cd, 0, volume)
    cd.sync()
    rec = cd.device.recording
    assert rec is not None
    text = _info([str(rec.folder)], capsys)
    assert "  label 'K'" in text and "  recorded cd-r (incomplete)" in text
