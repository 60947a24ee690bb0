"""The ``[iscsi]`` table: names, portals, initiators, secret files, nothing open by default."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest
from pyfakefs.fake_filesystem import FakeFilesystem

from devemu import config as cfg
from devemu.errors import ConfigError
from devemu.iscsi_config import (
    Portal,
    default_target,
    parse_portal,
    read_secret,
    valid_name,
)

PATH = Path("/etc/devemu/lab.toml")
ISCSI = '[daemon]\nfabric = "iscsi"\n'
A = "iqn.1993-08.org.debian:01:backup1"


def parse(text: str) -> cfg.Config:
    return cfg.parse_text(text, PATH)


def refusal(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value


def secret(fs: FakeFilesystem, name: str, text: str = "s3cret-secret", mode: int = 0o600) -> None:
    fs.create_file(PATH.parent / name, contents=text + "\n")
    os.chmod(PATH.parent / name, mode)


def test_the_issue_example_is_accepted(fs: FakeFilesystem) -> None:
    secret(fs, "secrets/backup1")
    secret(fs, "secrets/lab")
    text = ISCSI + (
        '[iscsi]\ntarget = "iqn.2026-12.org.example:lab"\nportals = ["127.0.0.1:3260"]\n'
        "allow_any_initiator = false\n[[iscsi.initiator]]\n"
        f'name = "{A}"\nchap_user = "backup1"\nchap_secret_file = "secrets/backup1"\n'
        'mutual_user = "lab"\nmutual_secret_file = "secrets/lab"\n'
    )
    config = parse(text)
    cfg.check(config)
    assert config.fabric == "iscsi"
    settings = config.iscsi
    assert settings is not None
    assert settings.target == "iqn.2026-12.org.example:lab"
    assert [str(p) for p in settings.portals] == ["127.0.0.1:3260"]
    (initiator,) = settings.initiators
    assert initiator.name == A
    assert initiator.chap_secret_file == PATH.parent / "secrets/backup1"
    assert initiator.mutual_user == "lab"
    assert read_secret(PATH.parent / "secrets/backup1") == "s3cret-secret"


def test_defaults_target_from_host_and_file_and_every_address() -> None:
    config = parse(ISCSI + "[iscsi]\nallow_any_initiator = true\n")
    assert config.iscsi is not None
    assert config.iscsi.target == default_target(PATH)
    assert config.iscsi.target.endswith(":devemu.lab")
    assert [str(p) for p in config.iscsi.portals] == ["0.0.0.0:3260"]
    assert config.iscsi.allow_any_initiator


def test_default_target_is_a_valid_lowercase_name() -> None:
    name = default_target(Path("/x/My Lab_1.toml"), hostname="Build-Host.example.org")
    assert name == "iqn.2003-01.org.linux-iscsi.build-host:devemu.my-lab-1"
    assert valid_name(name)


@pytest.mark.parametrize(
    ("text", "portal"),
    [
        ("127.0.0.1:3260", Portal(ipaddress.ip_address("127.0.0.1"), 3260)),
        ("[::1]:3261", Portal(ipaddress.ip_address("::1"), 3261)),
        ("[fe80::1]:860", Portal(ipaddress.ip_address("fe80::1"), 860)),
    ],
)
def test_portals(text: str, portal: Portal) -> None:
    assert parse_portal(text) == portal
    assert str(portal) == text


@pytest.mark.parametrize(
    ("portals", "place", "reason"),
    [
        ('["::1:3260"]', "portals[0]", "address:port"),
        ('["127.0.0.1"]', "portals[0]", "address:port"),
        ('["10.0.0.300:3260"]', "portals[0]", "does not appear to be an IPv4 or IPv6"),
        ('["10.0.0.1:0"]', "portals[0]", "port 0 is not from 1 to 65535"),
        ('["1.2.3.4:3260", "1.2.3.4:3260"]', "portals[1]", "listed twice"),
        ("[]", "portals", "non-empty list"),
        ('"1.2.3.4:3260"', "portals", "non-empty list"),
        ("[3260]", "portals[0]", "must be a string"),
    ],
)
def test_bad_portals(portals: str, place: str, reason: str) -> None:
    err = refusal(ISCSI + f"[iscsi]\nallow_any_initiator = true\nportals = {portals}\n")
    assert err.key == f"iscsi.{place}"
    assert reason in err.reason


@pytest.mark.parametrize(
    "name",
    [A, "iqn.2026-12.org.example", "eui.02004567a425678d", "naa.52004567ba64678d"],
)
def test_valid_names(name: str) -> None:
    assert valid_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "iqn.93-08.org.debian:x",
        "iqn.1993-13.org.debian:x",
        "IQN.1993-08.org.debian:x",
        "iqn.1993-08.org.debian:has space",
        "eui.123",
        "naa.123456789",
        "iqn.2026-12.org.example:" + "x" * 200,
        "",
    ],
)
def test_invalid_names(name: str) -> None:
    assert not valid_name(name)


@pytest.mark.parametrize(
    ("table", "key", "reason"),
    [
        ("[iscsi]\n", "iscsi", "no [[iscsi.initiator]] and allow_any_initiator is not true"),
        ("[iscsi]\nallow_any_initiator = false\n", "iscsi", "nobody could log in"),
        ('[iscsi]\ntarget = "lab"\nallow_any_initiator = true\n', "iscsi.target", "iSCSI name"),
        ("[iscsi]\nallow_any_initiator = 1\n", "iscsi.allow_any_initiator", "true or false"),
        ('[iscsi]\nsecret = "x"\n', "iscsi.secret", "unknown key"),
        ('[[iscsi.initiator]]\nname = "bob"\n', "iscsi.initiator[0].name", "iSCSI name"),
        (
            f'[[iscsi.initiator]]\nname = "{A}"\nchap_secret = "x"\n',
            "iscsi.initiator[0].chap_secret",
            "unknown key",
        ),
        (
            f'[[iscsi.initiator]]\nname = "{A}"\nchap_user = "u"\n',
            "iscsi.initiator[0].chap_secret_file",
            "is required with chap_user",
        ),
        (
            f'[[iscsi.initiator]]\nname = "{A}"\nchap_secret_file = "s"\n',
            "iscsi.initiator[0].chap_user",
            "is required with chap_secret_file",
        ),
        (
            f'[[iscsi.initiator]]\nname = "{A}"\nmutual_user = "m"\nmutual_secret_file = "s"\n',
            "iscsi.initiator[0].mutual_user",
            "needs chap_user",
        ),
        (
            f'[[iscsi.initiator]]\nname = "{A}"\nchap_user = "two words"\nchap_secret_file = "s"\n',
            "iscsi.initiator[0].chap_user",
            "printable ASCII",
        ),
        (
            f'[[iscsi.initiator]]\nname = "{A}"\n[[iscsi.initiator]]\nname = "{A}"\n',
            "iscsi.initiator[1].name",
            "listed twice",
        ),
        ('[iscsi]\ninitiator = "x"\nallow_any_initiator = true\n', "iscsi.initiator", "array"),
    ],
)
def test_bad_iscsi_tables(table: str, key: str, reason: str) -> None:
    err = refusal(ISCSI + table)
    assert err.key == key
    assert reason in err.reason
    assert str(err).startswith(f"{PATH}: {key}: ")
    assert "\n" not in str(err)


def test_iscsi_must_be_a_table() -> None:
    err = refusal('iscsi = "x"\n' + ISCSI)
    assert (err.key, err.reason) == ("iscsi", "must be a table: [iscsi]")


def test_iscsi_table_with_another_fabric_is_refused() -> None:
    err = refusal('[daemon]\nfabric = "loopback"\n[iscsi]\nallow_any_initiator = true\n')
    assert (err.key, err.reason) == (
        "iscsi",
        "is read only with fabric = \"iscsi\", not 'loopback'",
    )
    assert parse("[daemon]\n").iscsi is None


def _with_secret(name: str = "secrets/a") -> str:
    return (
        ISCSI + f'[[iscsi.initiator]]\nname = "{A}"\nchap_user = "a"\nchap_secret_file = "{name}"\n'
    )


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_a_secret_others_may_read_is_refused_with_its_path(fs: FakeFilesystem, mode: int) -> None:
    secret(fs, "secrets/a", mode=mode)
    config = parse(_with_secret())
    with pytest.raises(ConfigError) as caught:
        cfg.check(config)
    where = PATH.parent / "secrets/a"
    assert caught.value.key == "iscsi.initiator[0].chap_secret_file"
    assert caught.value.reason == (
        f"{where} is readable by group or others (mode {mode:04o}): run `chmod 600 {where}`"
    )


@pytest.mark.parametrize(
    ("contents", "reason"),
    [
        ("", "must hold one CHAP secret"),
        ("two words", "must hold one CHAP secret"),
        ("line1\nline2", "must hold one CHAP secret"),
        ("x" * 256, "must hold one CHAP secret"),
        ("NULL", "must hold one CHAP secret"),
    ],
)
def test_unusable_secrets(fs: FakeFilesystem, contents: str, reason: str) -> None:
    secret(fs, "secrets/a", text=contents)
    with pytest.raises(ConfigError, match=reason):
        cfg.check(parse(_with_secret()))
    with pytest.raises(ValueError, match=reason):
        read_secret(PATH.parent / "secrets/a")


def test_missing_and_odd_secret_files(fs: FakeFilesystem) -> None:
    with pytest.raises(ConfigError, match="secrets/a does not exist"):
        cfg.check(parse(_with_secret()))
    fs.create_dir(PATH.parent / "secrets/a")
    with pytest.raises(ConfigError, match="is not a regular file"):
        cfg.check(parse(_with_secret()))


def test_absolute_secret_path_and_0400(fs: FakeFilesystem) -> None:
    fs.create_file("/srv/keys/a", contents="abcdefghijkl")
    os.chmod("/srv/keys/a", 0o400)
    config = parse(_with_secret("/srv/keys/a"))
    cfg.check(config)
    assert config.iscsi is not None
    assert config.iscsi.initiators[0].chap_secret_file == Path("/srv/keys/a")
    assert read_secret(Path("/srv/keys/a")) == "abcdefghijkl"


def test_serve_check_refuses_in_one_line(
    fs: FakeFilesystem, capsys: pytest.CaptureFixture[str]
) -> None:
    from devemu.cli import main  # noqa: PLC0415

    fs.create_file(PATH, contents=ISCSI + "[iscsi]\n")
    status = main(["serve", "--check", str(PATH)])
    err = capsys.readouterr().err.strip()
    assert status != 0
    assert err.count("\n") == 0
    assert str(PATH) in err and "iscsi" in err and "nobody could log in" in err
