"""The daemon's configuration file: one TOML document, every device in it.

Schema::

    [daemon]                                   # optional
    control_socket = "/run/devemu/control.sock"
    state_dir = "/var/lib/devemu"              # relative paths: against the file's folder
    fabric = "loopback"                        # "loopback" (tcm_loop LUNs), "iscsi" or "none"
    wwn = "naa.5001405xxxxxxxxx"               # optional tcm_loop target WWN
    cmd_time_out = 30                          # seconds the kernel waits for an answer
    external_backstores = ["disk1"]            # made by targetcli: served when they appear
    ring_workers = 0                           # threads serving rings; 0: one per device
    ring_processes = 0                         # processes serving rings; 0: none (threads)

    [iscsi]                                    # with fabric = "iscsi" only:
    portals = ["127.0.0.1:3260"]               # keys in devemu.iscsi_config

    [[disk]]                                   # any number of each family,
    name = "disk0"                             # keys defined by devemu.<family>.config
    [[cdrom]]
    [[library]]
    [[osd]]

Each array is handed, table by table, to its family's ``check``
(``disk`` -> :mod:`devemu.disk.config`, ``cdrom`` -> :mod:`devemu.cdrom.config`,
``library`` -> :mod:`devemu.changer.config`, ``osd`` -> :mod:`devemu.osd.config`),
imported only when the file uses it.

Two passes, so that a refused file leaves nothing behind:

1. :func:`check` is pure: TOML syntax (with line and column), the
   ``[daemon]`` keys, unknown sections, the families' own keys and the
   files they name, names unique across the file, and whether ``state_dir``
   and the control socket's folder are (or can become) folders. It reads
   files at most and creates nothing, so it runs anywhere, as any user
   (``devemu serve --check``).
2. :func:`build_devices`, once the host has been checked too, creates what
   is missing (images, cartridges, state) and builds the devices.

Every refusal is a :class:`~devemu.errors.ConfigError` naming the file, the
key and the reason.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, cast

from devemu.config_table import (
    NAME_PATTERN,
    NAME_RULE,
    DevicePlan,
    TableReader,
    folder_problem,
)
from devemu.errors import ConfigError
from devemu.iscsi_config import IscsiSettings, check_secrets
from devemu.iscsi_config import parse as parse_iscsi
from devemu.served import ServedDevice

DEFAULT_CONTROL_SOCKET = Path("/run/devemu/control.sock")
DEFAULT_STATE_DIR = Path("/var/lib/devemu")
SOCKET_ENV = "DEVEMU_SOCKET"

#: Section name -> module providing ``from_config``.
FAMILIES: dict[str, str] = {
    "disk": "devemu.disk.config",
    "cdrom": "devemu.cdrom.config",
    "library": "devemu.changer.config",
    "osd": "devemu.osd.config",
}

Fabric = Literal["loopback", "iscsi", "none"]
FABRICS: tuple[Fabric, ...] = ("loopback", "iscsi", "none")
DAEMON_KEYS = (
    "control_socket",
    "state_dir",
    "fabric",
    "wwn",
    "cmd_time_out",
    "external_backstores",
    "ring_workers",
    "ring_processes",
)

_WWN_PATTERN = re.compile(r"^naa\.5001405[0-9a-f]{9}$")
_TOML_PLACE = re.compile(r"\(at line (\d+), column (\d+)\)")
#: ``sun_path`` of a Unix socket address holds 107 bytes and a NUL (unix(7)).
SOCKET_PATH_MAX = 107

#: A family's ``check(table, *, path, key, base_dir, state_dir) -> DevicePlan``.
CheckTable = Callable[..., DevicePlan]


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
    """A parsed configuration file.

    ``plans`` is filled by :func:`check`, ``devices`` by :func:`build_devices`.
    """

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
    #: The ``[iscsi]`` table, with ``fabric = "iscsi"`` only.
    iscsi: IscsiSettings | None = None
    #: Devices whose backstore someone else makes (``targetcli
    #: /backstores/user:devemu create ... cfgstring=<name>``, or LIO's saved
    #: configuration restored at boot): the daemon creates and links none for
    #: them, and serves each one's ring once its backstore appears.
    external_backstores: tuple[str, ...] = ()
    #: Most threads serving rings (:mod:`devemu.ring_worker`); 0: one per
    #: device group. Fewer workers than groups share them out in turn.
    ring_workers: int = 0
    #: Processes serving rings (:mod:`devemu.worker_process`); 0: the rings
    #: are served by threads of the daemon's own process.
    ring_processes: int = 0
    sections: list[Section] = field(default_factory=list)
    plans: list[tuple[Section, DevicePlan]] = field(default_factory=list)
    devices: list[ServedDevice] = field(default_factory=list)
    #: The index in ``plans`` of the plan that built each device, by name.
    built_by: dict[str, int] = field(default_factory=dict)

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
    external = daemon.get("external_backstores", [])
    if not isinstance(external, list) or not all(isinstance(n, str) for n in external):
        raise r.error("external_backstores", f"must be a list of device names, not {external!r}")
    config.external_backstores = tuple(external)
    ring_workers = daemon.get("ring_workers", config.ring_workers)
    if type(ring_workers) is not int or not 0 <= ring_workers <= 1024:
        raise r.error("ring_workers", f"must be a count from 0 to 1024, not {ring_workers!r}")
    config.ring_workers = ring_workers
    ring_processes = daemon.get("ring_processes", config.ring_processes)
    if type(ring_processes) is not int or not 0 <= ring_processes <= 256:
        raise r.error("ring_processes", f"must be a count from 0 to 256, not {ring_processes!r}")
    config.ring_processes = ring_processes
    config.iscsi = parse_iscsi(data.pop("iscsi", None), path=path, fabric=config.fabric)

    for family, tables in data.items():
        if family not in FAMILIES:
            known = ", ".join(["daemon", "iscsi", *FAMILIES])
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


def family_loader(family: str, path: Path) -> CheckTable:
    """Import ``devemu.<family>.config`` and return its ``check``."""
    module_name = FAMILIES[family]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise ConfigError(
            path, family, f"[[{family}]] needs {module_name}, which cannot be imported: {err}"
        ) from err
    checker = getattr(module, "check", None)
    if not callable(checker):
        raise ConfigError(path, family, f"{module_name} has no check()")
    return cast(CheckTable, checker)


def _check_places(config: Config) -> None:
    """``state_dir`` and the control socket: folders that are, or can become, folders."""
    problem = folder_problem(config.state_dir)
    if problem:
        raise ConfigError(config.path, "daemon.state_dir", problem)
    sock = config.control_socket
    if len(os.fsencode(sock)) > SOCKET_PATH_MAX:
        raise ConfigError(
            config.path,
            "daemon.control_socket",
            f"{sock} is longer than the {SOCKET_PATH_MAX} bytes a socket address holds",
        )
    problem = folder_problem(sock.parent)
    with contextlib.suppress(PermissionError):
        if problem is None and sock.is_dir():
            problem = f"{sock} is a folder, not a socket"
    if problem:
        raise ConfigError(config.path, "daemon.control_socket", problem)


def check(
    config: Config, loader: Callable[[str, Path], CheckTable] = family_loader
) -> list[DevicePlan]:
    """The pure pass: check every section and the daemon's places; create nothing."""
    _check_places(config)
    check_secrets(config.iscsi, config.path)
    plans: list[tuple[Section, DevicePlan]] = []
    names: dict[str, str] = {}
    for section in config.sections:
        checker = loader(section.family, config.path)
        plan = checker(
            dict(section.table),
            path=config.path,
            key=section.key,
            base_dir=config.base_dir,
            state_dir=config.state_dir,
        )
        for name in plan.names:
            if not NAME_PATTERN.match(name):
                raise ConfigError(config.path, f"{section.key}.name", f"{name!r}: {NAME_RULE}")
            if name in names:
                raise ConfigError(
                    config.path,
                    f"{section.key}.name",
                    f"{name!r} is already used by {names[name]}",
                )
            names[name] = section.key
        plans.append((section, plan))
    for name in config.external_backstores:
        if name not in names:
            known = ", ".join(names) or "none"
            raise ConfigError(
                config.path,
                "daemon.external_backstores",
                f"{name!r} is not a device of this file (devices: {known})",
            )
    config.plans = plans
    return [plan for _, plan in plans]


def build_devices(config: Config) -> list[ServedDevice]:
    """Build the devices of :func:`check`'s plans; on any error close what was built.

    This is where images, cartridges and state are created: call it only
    once the configuration and the host have both been checked.
    """
    if not config.plans and config.sections:
        check(config)
    devices = build_plans(config, range(len(config.plans)))
    config.devices = devices
    config.built_by = {
        name: index for index, (_section, plan) in enumerate(config.plans) for name in plan.names
    }
    return devices


def build_plans(config: Config, indexes: Iterable[int]) -> list[ServedDevice]:
    """Build the devices of the plans at ``indexes``; on any error close what was built.

    A worker process builds its own devices again this way
    (:mod:`devemu.worker_process`), from the images and state files the
    first build made.
    """
    devices: list[ServedDevice] = []
    try:
        for index in indexes:
            devices.extend(config.plans[index][1].build())
    except BaseException:
        # The original error is what the user must see; a failing close is secondary.
        for device in devices:
            with contextlib.suppress(Exception):
                device.close()
        raise
    return devices


def check_file(path: Path | str) -> Config:
    """Parse and check ``path`` (the pure pass): nothing is created."""
    config = parse_file(path)
    check(config)
    return config


def load(path: Path | str) -> Config:
    """Parse, check and build every device of ``path``."""
    config = check_file(path)
    build_devices(config)
    return config


def default_socket() -> Path:
    """``$DEVEMU_SOCKET`` or :data:`DEFAULT_CONTROL_SOCKET`."""
    env = os.environ.get(SOCKET_ENV)
    return Path(env) if env else DEFAULT_CONTROL_SOCKET
