"""The daemon's configuration file: one TOML document, every device in it.

Schema::

    [daemon]                                   # optional
    control_socket = "/run/devemu/control.sock"
    state_dir = "/var/lib/devemu"              # relative paths: against the file's folder
    fabric = "loopback"                        # "loopback" (tcm_loop LUNs) or "none"
    wwn = "naa.5001405xxxxxxxxx"               # optional tcm_loop target WWN
    cmd_time_out = 30                          # seconds the kernel waits for an answer

    [[disk]]                                   # any number of each family,
    name = "disk0"                             # keys defined by devemu.<family>.config
    [[cdrom]]
    [[library]]

Each array is handed, table by table, to its family's ``from_config``
(``disk`` -> :mod:`devemu.disk.config`, ``cdrom`` -> :mod:`devemu.cdrom.config`,
``library`` -> :mod:`devemu.changer.config`), imported only when the file uses
it. Everything is checked before the daemon creates anything in the
kernel: TOML syntax (with line and column), the ``[daemon]`` keys, unknown
sections, the families' own keys, and names unique across the file. Every
refusal is a :class:`~devemu.errors.ConfigError` naming the file, the key
and the reason.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from devemu.config_table import NAME_PATTERN, TableReader
from devemu.errors import ConfigError
from devemu.served import ServedDevice

DEFAULT_CONTROL_SOCKET = Path("/run/devemu/control.sock")
DEFAULT_STATE_DIR = Path("/var/lib/devemu")
SOCKET_ENV = "DEVEMU_SOCKET"

#: Section name -> module providing ``from_config``.
FAMILIES: dict[str, str] = {
    "disk": "devemu.disk.config",
    "cdrom": "devemu.cdrom.config",
    "library": "devemu.changer.config",
}

Fabric = Literal["loopback", "none"]
FABRICS: tuple[Fabric, ...] = ("loopback", "none")
DAEMON_KEYS = ("control_socket", "state_dir", "fabric", "wwn", "cmd_time_out")

_WWN_PATTERN = re.compile(r"^naa\.5001405[0-9a-f]{9}$")
_TOML_PLACE = re.compile(r"\(at line (\d+), column (\d+)\)")

FromConfig = Callable[..., list[ServedDevice]]


@dataclass(frozen=True, slots=True)
class Section:
    """One ``[[family]]`` table: where it is and what it says."""

    family: str
    index: int
    table: dict[str, Any]

    @property
    def key(self) -> str:
        return f"{self.family}[{self.index}]"


@dataclass
class Config:
    """A checked configuration file; ``devices`` is filled by :func:`build_devices`."""

    path: Path
    control_socket: Path = DEFAULT_CONTROL_SOCKET
    state_dir: Path = DEFAULT_STATE_DIR
    fabric: Fabric = "loopback"
    wwn: str | None = None
    #: The backstores' ``attrib/cmd_time_out``: how long the kernel waits for
    #: an answer before it fails the command itself, and so how long a
    #: restarted daemon has to come back. Set before the LUN is linked (the
    #: kernel refuses it afterwards).
    cmd_time_out: int = 30
    sections: list[Section] = field(default_factory=list)
    devices: list[ServedDevice] = field(default_factory=list)

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def parse_text(text: str, path: Path) -> Config:
    """Check ``text`` (the contents of ``path``) without importing any family."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        message = str(err)
        match = _TOML_PLACE.search(message)
        where = f"line {match[1]}, column {match[2]}" if match else None
        reason = _TOML_PLACE.sub("", message).strip()
        raise ConfigError(path, where, f"TOML syntax error: {reason}") from err

    config = Config(path=path)
    base = path.parent
    daemon = data.pop("daemon", {})
    if not isinstance(daemon, dict):
        raise ConfigError(path, "daemon", "must be a table: [daemon]")
    r = TableReader(daemon, path=path, key="daemon", known=DAEMON_KEYS)
    config.control_socket = r.file_path("control_socket", base, str(DEFAULT_CONTROL_SOCKET))
    config.state_dir = r.file_path("state_dir", base, str(DEFAULT_STATE_DIR))
    fabric = daemon.get("fabric", "loopback")
    if fabric not in FABRICS:
        raise r.error("fabric", f"must be one of {', '.join(FABRICS)}, not {fabric!r}")
    config.fabric = cast(Fabric, fabric)
    wwn = daemon.get("wwn")
    if wwn is not None and (not isinstance(wwn, str) or not _WWN_PATTERN.match(wwn)):
        raise r.error("wwn", f"must look like naa.5001405 + 9 lowercase hex digits, not {wwn!r}")
    config.wwn = wwn
    cmd_time_out = daemon.get("cmd_time_out", config.cmd_time_out)
    if type(cmd_time_out) is not int or not 1 <= cmd_time_out <= 3600:
        raise r.error("cmd_time_out", f"must be whole seconds from 1 to 3600, not {cmd_time_out!r}")
    config.cmd_time_out = cmd_time_out

    for family, tables in data.items():
        if family not in FAMILIES:
            known = ", ".join(["daemon", *FAMILIES])
            raise ConfigError(path, family, f"unknown section (known: {known})")
        if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
            raise ConfigError(path, family, f"must be an array of tables: [[{family}]]")
        for index, table in enumerate(tables):
            config.sections.append(Section(family, index, table))
    return config


def parse_file(path: Path | str) -> Config:
    """Read and check ``path``; no family is imported yet."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(path, None, f"cannot read: {err.strerror}") from err
    except UnicodeDecodeError as err:
        raise ConfigError(path, f"offset {err.start}", "not UTF-8 text") from err
    return parse_text(text, path.resolve())


def family_loader(family: str, path: Path) -> FromConfig:
    """Import ``devemu.<family>.config`` and return its ``from_config``."""
    module_name = FAMILIES[family]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            path, family, f"[[{family}]] needs {module_name}, which cannot be imported: {err}"
        ) from err
    loader = getattr(module, "from_config", None)
    if not callable(loader):
        raise ConfigError(path, family, f"{module_name} has no from_config()")
    return cast(FromConfig, loader)


def build_devices(
    config: Config, loader: Callable[[str, Path], FromConfig] = family_loader
) -> list[ServedDevice]:
    """Turn every section into served devices; on any error close what was built."""
    devices: list[ServedDevice] = []
    names: dict[str, str] = {}
    try:
        for section in config.sections:
            from_config = loader(section.family, config.path)
            built = from_config(
                dict(section.table),
                path=config.path,
                key=section.key,
                base_dir=config.base_dir,
                state_dir=config.state_dir,
            )
            for device in built:
                if not NAME_PATTERN.match(device.name):
                    raise ConfigError(
                        config.path,
                        f"{section.key}.name",
                        f"{device.name!r} must be 1-64 of A-Z, a-z, 0-9, '_' and '-'",
                    )
                if device.name in names:
                    raise ConfigError(
                        config.path,
                        f"{section.key}.name",
                        f"{device.name!r} is already used by {names[device.name]}",
                    )
                names[device.name] = section.key
                devices.append(device)
    except BaseException:
        # The original error is what the user must see; a failing close is secondary.
        for device in devices:
            with contextlib.suppress(Exception):
                device.close()
        raise
    config.devices = devices
    return devices


def load(path: Path | str) -> Config:
    """Parse, check and build every device of ``path``."""
    config = parse_file(path)
    build_devices(config)
    return config


def default_socket() -> Path:
    """``$DEVEMU_SOCKET`` or :data:`DEFAULT_CONTROL_SOCKET`."""
    env = os.environ.get(SOCKET_ENV)
    return Path(env) if env else DEFAULT_CONTROL_SOCKET
