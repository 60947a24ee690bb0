"""The ``[iscsi]`` table: who may log in to devemu's iSCSI target, and where.

Schema (read only with ``[daemon] fabric = "iscsi"``)::

    [iscsi]
    target = "iqn.2026-12.org.example:lab"   # optional; default from host and file name
    portals = ["127.0.0.1:3260"]            # default ["0.0.0.0:3260"]; "[::1]:3260" for IPv6
    allow_any_initiator = false             # true: demo mode, any initiator, no CHAP
    [[iscsi.initiator]]
    name = "iqn.1993-08.org.debian:01:backup1"
    chap_user = "backup1"                   # optional; with chap_secret_file
    chap_secret_file = "secrets/backup1"    # mode 0600 (or stricter)
    mutual_user = "lab"                     # optional mutual CHAP; needs chap_user
    mutual_secret_file = "secrets/lab"

Names follow RFC 3720 3.2.6.3 (``iqn.``, ``eui.`` or ``naa.`` forms, at
most 223 bytes). Secrets never sit in the TOML: each lives in its own file,
relative paths taken from the configuration file's folder, and a file that
its group or others may read is refused with its path. Nothing is open by
default: without any ``[[iscsi.initiator]]`` and without
``allow_any_initiator = true`` the file is refused.

:func:`parse` reads the table (pure); :func:`check_secrets` looks at the
secret files (the pure pass of ``devemu serve --check`` may read them);
:func:`read_secret` is what the daemon uses when it writes them to LIO.
"""

from __future__ import annotations

import ipaddress
import re
import socket
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devemu.config_table import TableReader
from devemu.errors import ConfigError

TABLE = "iscsi"
TABLE_KEYS = ("target", "portals", "allow_any_initiator", "initiator")
INITIATOR_KEYS = ("name", "chap_user", "chap_secret_file", "mutual_user", "mutual_secret_file")

#: The well-known iSCSI port (RFC 7143 13.2).
ISCSI_PORT = 3260
DEFAULT_PORTAL = f"0.0.0.0:{ISCSI_PORT}"

#: An iSCSI name is at most 223 bytes (RFC 3720 3.2.6.1).
NAME_MAX = 223
_IQN = re.compile(r"^iqn\.\d{4}-(0[1-9]|1[0-2])\.[a-z0-9]([a-z0-9.-]*[a-z0-9])?(:[\x21-\x7e]+)?$")
_EUI = re.compile(r"^eui\.[0-9a-f]{16}$")
_NAA = re.compile(r"^naa\.([0-9a-f]{16}|[0-9a-f]{32})$")
NAME_RULE = "an iSCSI name: iqn.YYYY-MM.reversed.domain[:id], eui.<16 hex> or naa.<16|32 hex>"

#: Naming authority of the names devemu makes up (LIO's own, as targetcli's defaults).
DEFAULT_AUTHORITY = "iqn.2003-01.org.linux-iscsi"

#: CHAP user names and secrets LIO stores: at most 255 bytes of printable ASCII.
CHAP_MAX = 255
_CHAP_TEXT = re.compile(r"^[\x21-\x7e]+$")
#: What LIO reads as "no user name / no secret" in a node ACL's ``auth`` files.
CLEARED = "NULL"


@dataclass(frozen=True, slots=True)
class Portal:
    """One network portal: an address and a TCP port."""

    address: ipaddress.IPv4Address | ipaddress.IPv6Address
    port: int

    def __str__(self) -> str:
        """The portal as LIO names its ``np`` folder: ``1.2.3.4:3260``, ``[::1]:3260``."""
        if self.address.version == 6:
            return f"[{self.address}]:{self.port}"
        return f"{self.address}:{self.port}"


@dataclass(frozen=True, slots=True)
class Initiator:
    """One initiator allowed to log in, with its CHAP credentials if any."""

    name: str
    chap_user: str | None = None
    chap_secret_file: Path | None = None
    mutual_user: str | None = None
    mutual_secret_file: Path | None = None

    @property
    def chap(self) -> bool:
        return self.chap_user is not None


@dataclass(frozen=True, slots=True)
class IscsiSettings:
    """The ``[iscsi]`` table, checked."""

    target: str
    portals: tuple[Portal, ...] = (Portal(ipaddress.IPv4Address("0.0.0.0"), ISCSI_PORT),)
    allow_any_initiator: bool = False
    initiators: tuple[Initiator, ...] = field(default_factory=tuple)


def valid_name(name: str) -> bool:
    """Whether ``name`` is an iSCSI name in one of the three forms (RFC 3720 3.2.6.3)."""
    if len(name.encode()) > NAME_MAX:
        return False
    return bool(_IQN.match(name) or _EUI.match(name) or _NAA.match(name))


def default_target(config_path: Path, hostname: str | None = None) -> str:
    """``iqn.2003-01.org.linux-iscsi.<host>:devemu.<configuration name>``, lowercase."""
    host = (hostname if hostname is not None else socket.gethostname()).split(".")[0]
    host = re.sub(r"[^a-z0-9-]+", "-", host.lower()).strip("-") or "localhost"
    stem = re.sub(r"[^a-z0-9.-]+", "-", config_path.stem.lower()).strip("-.") or "devemu"
    return f"{DEFAULT_AUTHORITY}.{host}:devemu.{stem}"[:NAME_MAX]


def parse_portal(text: str) -> Portal:
    """``address:port``, IPv6 in brackets (``[::1]:3260``); ValueError says why not."""
    match = re.match(r"^\[([^\]]+)\]:(\d+)$", text) or re.match(r"^([^:\[\]]+):(\d+)$", text)
    if match is None:
        raise ValueError("must be address:port, [IPv6]:port for IPv6")
    address = ipaddress.ip_address(match[1])
    if address.version == 6 and not text.startswith("["):
        raise ValueError("an IPv6 address goes in brackets: [address]:port")
    port = int(match[2])
    if not 1 <= port <= 65535:
        raise ValueError(f"port {port} is not from 1 to 65535")
    return Portal(address, port)


def _chap_text(r: TableReader, key: str) -> str | None:
    if key not in r.table:
        return None
    value = r.string(key)
    if len(value) > CHAP_MAX or not _CHAP_TEXT.match(value):
        raise r.error(key, f"must be 1 to {CHAP_MAX} printable ASCII characters without spaces")
    if value == CLEARED:
        raise r.error(key, f"{CLEARED!r} is LIO's word for no value")
    return value


def _initiator(item: Any, *, path: Path, key: str, base: Path) -> Initiator:
    if not isinstance(item, dict):
        raise ConfigError(path, key, "must be a table: [[iscsi.initiator]]")
    r = TableReader(item, path=path, key=key, known=INITIATOR_KEYS)
    name = r.string("name")
    if not valid_name(name):
        raise r.error("name", f"{name!r} is not {NAME_RULE}")
    chap_user = _chap_text(r, "chap_user")
    mutual_user = _chap_text(r, "mutual_user")
    chap_file = r.file_path("chap_secret_file", base) if "chap_secret_file" in item else None
    mutual_file = r.file_path("mutual_secret_file", base) if "mutual_secret_file" in item else None
    if (chap_user is None) != (chap_file is None):
        missing = "chap_secret_file" if chap_file is None else "chap_user"
        raise r.error(
            missing, "is required with " + ("chap_user" if chap_user else "chap_secret_file")
        )
    if (mutual_user is None) != (mutual_file is None):
        missing = "mutual_secret_file" if mutual_file is None else "mutual_user"
        raise r.error(
            missing, "is required with " + ("mutual_user" if mutual_user else "mutual_secret_file")
        )
    if mutual_user is not None and chap_user is None:
        raise r.error("mutual_user", "mutual CHAP needs chap_user and chap_secret_file too")
    return Initiator(name, chap_user, chap_file, mutual_user, mutual_file)


def parse(table: Any, *, path: Path, fabric: str) -> IscsiSettings | None:
    """The ``[iscsi]`` table of ``path`` (None when the fabric is not iSCSI)."""
    if fabric != "iscsi":
        if table is not None:
            raise ConfigError(path, TABLE, f'is read only with fabric = "iscsi", not {fabric!r}')
        return None
    table = {} if table is None else table
    if not isinstance(table, dict):
        raise ConfigError(path, TABLE, "must be a table: [iscsi]")
    r = TableReader(table, path=path, key=TABLE, known=TABLE_KEYS)
    target = r.string("target", default_target(path))
    if not valid_name(target):
        raise r.error("target", f"{target!r} is not {NAME_RULE}")
    raw_portals = table.get("portals", [DEFAULT_PORTAL])
    if not isinstance(raw_portals, list) or not raw_portals:
        raise r.error("portals", f'must be a non-empty list of "address:port", not {raw_portals!r}')
    portals: list[Portal] = []
    for index, text in enumerate(raw_portals):
        place = f"portals[{index}]"
        if not isinstance(text, str):
            raise r.error(place, f'must be a string "address:port", not {text!r}')
        try:
            portal = parse_portal(text)
        except ValueError as err:
            raise r.error(place, f"{text!r}: {err}") from None
        if portal in portals:
            raise r.error(place, f"{text!r} is listed twice")
        portals.append(portal)
    allow_any = r.boolean("allow_any_initiator", False)
    raw_initiators = table.get("initiator", [])
    if not isinstance(raw_initiators, list):
        raise r.error("initiator", "must be an array of tables: [[iscsi.initiator]]")
    initiators: list[Initiator] = []
    for index, item in enumerate(raw_initiators):
        key = f"{TABLE}.initiator[{index}]"
        initiator = _initiator(item, path=path, key=key, base=path.parent)
        if any(other.name == initiator.name for other in initiators):
            raise ConfigError(path, f"{key}.name", f"{initiator.name!r} is listed twice")
        initiators.append(initiator)
    if not initiators and not allow_any:
        raise ConfigError(
            path,
            TABLE,
            "no [[iscsi.initiator]] and allow_any_initiator is not true: "
            "nobody could log in (list the initiators, or set allow_any_initiator = true)",
        )
    return IscsiSettings(target, tuple(portals), allow_any, tuple(initiators))


def secret_problem(secret_file: Path) -> str | None:
    """Why ``secret_file`` cannot hold a CHAP secret; None when it can (or cannot be looked at)."""
    try:
        info = secret_file.stat()
    except FileNotFoundError:
        return f"{secret_file} does not exist"
    except PermissionError:
        return None  # the serving user may see it; the daemon reads it again
    except OSError as err:
        return f"{secret_file}: {err.strerror}"
    if not stat.S_ISREG(info.st_mode):
        return f"{secret_file} is not a regular file"
    if info.st_mode & 0o077:
        mode = stat.S_IMODE(info.st_mode)
        return (
            f"{secret_file} is readable by group or others (mode {mode:04o}): "
            f"run `chmod 600 {secret_file}`"
        )
    try:
        _secret_text(secret_file)
    except PermissionError:
        return None
    except ValueError as err:
        return str(err)
    except OSError as err:
        return f"{secret_file}: {err.strerror}"
    return None


def _secret_text(secret_file: Path) -> str:
    data = secret_file.read_bytes()
    text = data.decode("ascii", errors="replace").removesuffix("\n")
    if not text or len(text) > CHAP_MAX or not _CHAP_TEXT.match(text) or text == CLEARED:
        raise ValueError(
            f"{secret_file} must hold one CHAP secret: 1 to {CHAP_MAX} printable ASCII "
            "characters without spaces, on one line"
        )
    return text


def read_secret(secret_file: Path) -> str:
    """The CHAP secret in ``secret_file``; ValueError says why it cannot be used."""
    problem = secret_problem(secret_file)
    if problem is not None:
        raise ValueError(problem)
    try:
        return _secret_text(secret_file)
    except OSError as err:
        raise ValueError(f"{secret_file}: cannot read: {err.strerror}") from err


def check_secrets(settings: IscsiSettings | None, path: Path) -> None:
    """Refuse a secret file that is missing, not private, or holds no usable secret."""
    if settings is None:
        return
    for index, initiator in enumerate(settings.initiators):
        for key in ("chap_secret_file", "mutual_secret_file"):
            secret_file: Path | None = getattr(initiator, key)
            if secret_file is None:
                continue
            problem = secret_problem(secret_file)
            if problem is not None:
                raise ConfigError(path, f"{TABLE}.initiator[{index}].{key}", problem)
