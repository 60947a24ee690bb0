"""``devemu serve`` and ``devemu status``.

::

    devemu serve CONFIG [--ready-file PATH] [--socket PATH] [--log-level LEVEL]
    devemu serve --check CONFIG
    devemu status [--socket PATH] [--json]

``serve`` checks, then acts, in three steps: the whole configuration,
in a pure pass that creates nothing (:func:`devemu.config.check`); then
the host (root, configfs, the TCMU and loopback modules), refused in one
line that says what to run; only then are images, cartridges and state
created and the devices served until SIGTERM or SIGINT (see
:mod:`devemu.daemon`). ``--check`` stops after the first step: it needs
neither root nor TCMU. ``status`` asks
a running daemon, through its control socket, what it serves. The socket
is ``--socket``, else ``$DEVEMU_SOCKET``, else (for ``serve``) the
configuration's ``daemon.control_socket``, else ``/run/devemu/control.sock``.

``serve`` logs to stderr from ``--log-level`` up (default ``info``:
what it creates, serves, links and removes; ``debug`` with ``-v``), one
line per record with the time and the logger's name.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from devemu import config as config_module
from devemu.control import call
from devemu.daemon import serve
from devemu.tcmu.backend import KernelBackend
from devemu.tcmu.host import check_host

log = logging.getLogger(__name__)

#: ``--log-level`` choices, from the most said to the least.
LOG_LEVELS = ("debug", "info", "warning", "error")
#: One line per record: time, level, logger, message.
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


@contextlib.contextmanager
def serve_logging(level: str) -> Iterator[logging.Handler]:
    """The daemon's log on stderr from ``level`` up, in :data:`LOG_FORMAT`, while serving.

    It takes the place of the command line's own stderr handler (a plain
    :class:`logging.StreamHandler`); both the handlers and the level are
    as before once serving ends.
    """
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    replaced = [h for h in root.handlers if type(h) is logging.StreamHandler]
    before = root.level
    for old in replaced:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for old in replaced:
            root.addHandler(old)
        root.setLevel(before)


def _serve(args: argparse.Namespace) -> int:
    level = args.log_level or ("debug" if getattr(args, "verbose", 0) else "info")
    with serve_logging(level):
        return _serve_logged(args)


def _serve_logged(args: argparse.Namespace) -> int:
    log.debug("reading %s", args.config)
    config = config_module.parse_file(args.config)
    if args.socket is not None:
        config.control_socket = args.socket
    elif os.environ.get(config_module.SOCKET_ENV):
        config.control_socket = config_module.default_socket()
    config_module.check(config)
    if args.check:
        print(check_summary(config))
        return 0
    check_host(fabric=config.fabric)
    # Reads the journal of LIO objects a previous run left: refused before anything exists.
    backend = KernelBackend(config)
    config.state_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    config_module.build_devices(config)
    log.info("%d device(s) built in %.2f s", len(config.devices), time.monotonic() - started)
    return serve(config, ready_file=args.ready_file, backend=backend)


def check_summary(config: config_module.Config) -> str:
    """What ``serve --check`` prints: the file, then one line per table."""
    names = [name for _, plan in config.plans for name in plan.names]
    lines = [f"{config.path}: ok, {len(names)} device(s), state in {config.state_dir}"]
    width = max((len(section.key) for section, _ in config.plans), default=0)
    for section, plan in config.plans:
        lines.append(f"  {section.key:<{width}}  {', '.join(plan.names)}: {plan.summary}")
    if config.iscsi is not None:
        who = f"{len(config.iscsi.initiators)} initiator(s)" + (
            ", any other in demo mode" if config.iscsi.allow_any_initiator else ""
        )
        portals = ", ".join(str(p) for p in config.iscsi.portals)
        lines.append(f"  iscsi target {config.iscsi.target} on {portals}; {who}")
    return "\n".join(lines)


def _detail(key: str, value: Any) -> str | None:
    """One fact of a device for the status table; None for nothing worth a column."""
    if value is None:
        return None
    if isinstance(value, bool):
        return f"{key}={'yes' if value else 'no'}"
    if isinstance(value, dict):
        inner = value.get("image", value.get("name"))
        return f"{key}={inner}" if inner is not None else None
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        kinds = [str(v["kind"]) for v in value if "kind" in v]
        if len(kinds) == len(value):  # faults: their kinds, not a count
            return f"{key}={','.join(kinds)}"
    if isinstance(value, list):
        return f"{key}={len(value)}" if value or key != "faults" else None
    return f"{key}={value}"


def status_table(devices: list[dict[str, Any]]) -> str:
    """What ``devemu status`` prints: one aligned row per device (NAME, KIND, STATE)."""
    rows = [("NAME", "KIND", "STATE")]
    for device in devices:
        facts = (
            _detail(key, value)
            for key, value in device.items()
            if key not in ("name", "kind", "ops")
        )
        state = ", ".join(fact for fact in facts if fact is not None) or "-"
        rows.append((str(device.get("name", "?")), str(device.get("kind", "?")), state))
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(
        f"{name:<{widths[0]}}  {kind:<{widths[1]}}  {state}" for name, kind, state in rows
    )


def _status(args: argparse.Namespace) -> int:
    socket_path = args.socket or config_module.default_socket()
    result = call(socket_path, None, "status")
    if args.json:
        print(json.dumps(result, indent=2, default=str))
        return 0
    devices = result.get("devices", [])
    print(status_table(devices) if devices else "no devices served")
    fabric = result.get("fabric")
    if isinstance(fabric, dict):
        print(fabric_lines(fabric))
    return 0


def fabric_lines(fabric: dict[str, Any]) -> str:
    """The fabric under the device table: the iSCSI target, then one line per session."""
    sessions = fabric.get("sessions", [])
    portals = ", ".join(str(p) for p in fabric.get("portals", []))
    lines = [f"{fabric.get('fabric', '?')} target {fabric.get('target', '?')} on {portals}"]
    lines.append(f"  {len(sessions)} session(s)")
    for session in sessions:
        address = session.get("address") or "address unknown"
        lines.append(f"  {session.get('initiator', '?')}  {address}")
    return "\n".join(lines)


def add_parser(subparsers: Any) -> None:
    """Add ``serve`` and ``status`` to the ``devemu`` command."""
    serve_parser = subparsers.add_parser(
        "serve",
        help="serve the devices of a configuration file through TCMU",
        description="Create the LIO objects of CONFIG, serve every device, "
        "remove what was created on SIGTERM or SIGINT.",
    )
    serve_parser.add_argument("config", type=Path, metavar="CONFIG", help="TOML configuration")
    serve_parser.add_argument(
        "--check",
        action="store_true",
        help="only check CONFIG (creates nothing, needs neither root nor TCMU)",
    )
    serve_parser.add_argument(
        "--ready-file",
        type=Path,
        metavar="PATH",
        help="create PATH once every device is linked",
    )
    serve_parser.add_argument(
        "--socket", type=Path, metavar="PATH", help="control socket (overrides the configuration)"
    )
    serve_parser.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        help="log from this level up on stderr (default: info; debug with -v)",
    )
    serve_parser.set_defaults(func=_serve)

    status_parser = subparsers.add_parser(
        "status",
        help="list the devices a running daemon serves",
    )
    status_parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    status_parser.set_defaults(func=_status)
