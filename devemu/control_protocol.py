"""The control protocol without I/O: one request line in, one answer out.

A request is a JSON object with exactly the fields ``op`` (a string),
``device`` (a string; only ``status`` may leave it out, to ask about every
device) and ``args`` (an object, optional). The answer is
``{"ok": true, "result": {...}}`` or ``{"ok": false, "error": "..."}``.

Everything a client sends is hostile, and nothing it sends may end the
daemon or make it say more than the client already knows:

- the nesting of a line is measured before it is parsed (without
  recursion), so ``[[[[...`` cannot exhaust the parser's stack;
- every field is type-checked, and unknown fields and ops are named in
  the refusal; an op declared with :func:`control_op` checks its
  arguments the same way (``"force": "false"`` is not a boolean);
- an op that fails with a user error (:class:`~devemu.errors.DevemuError`)
  answers its message, except an :class:`~devemu.errors.ImageError`: that
  one is about the contents of a file the client named, so the answer
  says only that the image is not usable (and why it could not be opened,
  if it could not) and the reason goes to the daemon's log;
- anything else an op or the encoder raises is our bug: it is logged with
  its traceback and answered as an internal error, naming only its type.

:func:`answer` is the whole of it and never raises an ``Exception``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from devemu.errors import DevemuError, ImageError

if TYPE_CHECKING:  # the daemon's side: a client imports none of it
    from devemu.served import ServedDevice

log = logging.getLogger("devemu.control")

#: Deepest nesting of arrays and objects accepted in a request (real ones use 2).
MAX_DEPTH = 32
#: The fields a request may carry.
REQUEST_FIELDS = ("op", "device", "args")
#: The op every device answers, and the only one that works without a device.
STATUS = "status"
#: The op that turns its connection into a stream of executed commands
#: (:mod:`devemu.trace`): ``{"op": "trace", "args": {filters}}``, no device.
TRACE = "trace"

#: JSON strings (with their escapes), cut out before brackets are counted.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*+"?')
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


class ControlError(DevemuError):
    """A control request that failed; the message says why."""


class ArgumentError(ControlError):
    """A request argument of the wrong name or type."""


def too_deep(line: bytes) -> bool:
    """Whether arrays and objects nest deeper than :data:`MAX_DEPTH` in ``line``.

    A linear scan of the brackets outside strings (an unterminated string
    runs to the end of the line), so no input can make it recurse.
    """
    brackets = _STRING.sub(b"", line).translate(None, _NOT_BRACKETS)
    if brackets.count(b"[") + brackets.count(b"{") <= MAX_DEPTH:
        return False
    depth = 0
    for byte in brackets:
        depth = depth + 1 if byte in b"[{" else max(depth - 1, 0)
        if depth > MAX_DEPTH:
            return True
    return False


def decode(line: bytes) -> Any:
    """The JSON value of one request line; :class:`ControlError` if it is not one."""
    if too_deep(line):
        raise ControlError(f"request nested deeper than {MAX_DEPTH} levels")
    try:
        return json.loads(line)
    except ValueError as err:  # UnicodeDecodeError and JSONDecodeError included
        raise ControlError(f"not JSON: {err}") from None


def encode(reply: Mapping[str, Any]) -> bytes:
    """One answer line."""
    return json.dumps(reply, default=str).encode() + b"\n"


def refusal(error: str) -> dict[str, Any]:
    """The answer to a request that failed."""
    return {"ok": False, "error": error}


# ------------------------------------------------------------------ arguments

#: What a declared argument may be, by the Python type that holds it.
_KINDS: dict[type, str] = {bool: "true or false", int: "an integer", str: "a string"}


def json_kind(value: Any) -> str:
    """What a decoded JSON value is, in the protocol's words."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    for kind, words in ((str, "a string"), (list, "an array"), (dict, "an object")):
        if isinstance(value, kind):
            return words
    return "null"


def _is(value: Any, kind: type) -> bool:
    # bool is an int in Python, never in the protocol.
    return isinstance(value, kind) and (kind is bool or not isinstance(value, bool))


@dataclass(frozen=True, slots=True)
class DeclaredOp:
    """A control op that names its arguments and their types.

    Called with a request's ``args``, it refuses unknown names and values of
    another type (:class:`ArgumentError`), then runs ``run``. Whether an
    argument is required stays with ``run``, which says what it needs.
    """

    run: Callable[[dict[str, Any]], dict[str, Any]]
    arguments: Mapping[str, tuple[type, ...]]

    def check(self, args: Mapping[str, Any]) -> None:
        """Refuse an argument this op does not take or of a type it does not accept."""
        for name, value in args.items():
            kinds = self.arguments.get(name)
            if kinds is None:
                known = ", ".join(self.arguments) or "none"
                raise ArgumentError(f"unknown argument {name!r} (arguments: {known})")
            if not any(_is(value, kind) for kind in kinds):
                wanted = " or ".join(_KINDS[kind] for kind in kinds)
                raise ArgumentError(f"{name!r} must be {wanted}, not {json_kind(value)}")

    def __call__(self, args: dict[str, Any]) -> dict[str, Any]:
        self.check(args)
        return self.run(args)


def control_op(
    **arguments: type | tuple[type, ...],
) -> Callable[[Callable[[dict[str, Any]], dict[str, Any]]], DeclaredOp]:
    """Declare a control op's arguments: ``@control_op(image=str, force=bool)``."""
    table = {
        name: kinds if isinstance(kinds, tuple) else (kinds,) for name, kinds in arguments.items()
    }
    for kinds in table.values():
        unknown = [kind for kind in kinds if kind not in _KINDS]
        if unknown:
            raise TypeError(f"control arguments are bool, int or str, not {unknown}")

    def declare(run: Callable[[dict[str, Any]], dict[str, Any]]) -> DeclaredOp:
        return DeclaredOp(run, table)

    return declare


# ------------------------------------------------------------------- dispatch


def ops(device: ServedDevice) -> list[str]:
    """The ops ``device`` answers, each once (``status`` is built in)."""
    return [STATUS, *(op for op in device.control if op != STATUS)]


def _status(device: ServedDevice) -> dict[str, Any]:
    status = {"name": device.name, "kind": device.kind, "ops": ops(device)}
    status.update(device.status())
    return status


def _status_or_error(device: ServedDevice) -> dict[str, Any]:
    """One device's entry in the status of all: a failing device does not hide the others."""
    try:
        return _status(device)
    except Exception as err:
        log.exception("%s: status failed", device.name)
        return {"name": device.name, "kind": device.kind, "error": _internal(err)}


def _internal(err: BaseException) -> str:
    return f"internal error ({type(err).__name__}); the daemon's log has the details"


def image_refusal(err: ImageError) -> str:
    """What a client may learn of an image it named: whether it could be opened, no more.

    The reason an opened image is refused (a size, an offset, a word of a
    CUE sheet) tells about the file's contents, and the daemon may read
    files the client cannot: that reason goes to the log only.
    """
    cause = err.__context__
    opened = cause.filename if isinstance(cause, OSError) else None
    if isinstance(cause, OSError) and opened is not None and Path(opened) == err.path:
        return f"cannot open the image: {cause.strerror}"
    return "not a usable image (the daemon's log and `devemu image info` say why)"


def _request_error(devices: Mapping[str, ServedDevice], request: Any) -> str | None:
    """Why a decoded request is malformed, or None."""
    if not isinstance(request, dict):
        return f"a request is a JSON object, not {json_kind(request)}"
    unknown = [key for key in request if key not in REQUEST_FIELDS]
    if unknown:
        return f"unknown field {unknown[0]!r} (fields: {', '.join(REQUEST_FIELDS)})"
    op, name, args = request.get("op"), request.get("device"), request.get("args", {})
    if not isinstance(op, str):
        return f"'op' must be a string, not {json_kind(op)}"
    if "device" in request and not isinstance(name, str):
        return f"'device' must be a string, not {json_kind(name)}"
    if not isinstance(args, dict):
        return f"'args' must be an object, not {json_kind(args)}"
    if op == TRACE:
        return "trace: this socket streams no commands"
    if name is None and op != STATUS:
        return f"op {op!r} needs a 'device'"
    if name is not None and name not in devices:
        known = ", ".join(devices) or "none"
        return f"{name}: no such device (served: {known})"
    if op == STATUS and args:
        return f"{name or 'status'}: status takes no arguments"
    if name is not None and op not in ops(devices[name]):
        return f"{name}: unknown op {op!r} (ops: {', '.join(ops(devices[name]))})"
    return None


#: The fabric's part of the status of all devices (iSCSI target, sessions), if any.
FabricStatus = Callable[[], dict[str, Any] | None]


def _fabric_status(fabric: FabricStatus | None) -> dict[str, Any]:
    if fabric is None:
        return {}
    try:
        found = fabric()
    except Exception:
        log.exception("fabric status failed")
        return {}
    return {"fabric": found} if found is not None else {}


def dispatch(
    devices: Mapping[str, ServedDevice], request: Any, fabric: FabricStatus | None = None
) -> dict[str, Any]:
    """Answer one decoded request; never raises an ``Exception``."""
    error = _request_error(devices, request)
    if error is not None:
        return refusal(error)
    op, name, args = request["op"], request.get("device"), request.get("args", {})
    if name is None:
        every = [_status_or_error(d) for d in devices.values()]
        return {"ok": True, "result": {"devices": every, **_fabric_status(fabric)}}
    device = devices[name]
    try:
        result = _status(device) if op == STATUS else device.control[op](args)
    except ArgumentError as err:
        return refusal(f"{name}: {op}: {err}")
    except ImageError as err:
        log.warning("%s: %s refused: %s", name, op, err)
        return refusal(f"{name}: {op}: {image_refusal(err)}")
    except DevemuError as err:
        return refusal(str(err))
    except Exception as err:
        log.exception("%s: control op %s failed", name, op)
        return refusal(f"{name}: {op} failed: {_internal(err)}")
    if not isinstance(result, dict):
        log.error("%s: control op %s returned %s", name, op, type(result).__name__)
        return refusal(f"{name}: {op} failed: {_internal(TypeError())}")
    return {"ok": True, "result": result}


def trace_request(line: bytes) -> dict[str, Any] | None:
    """The filter ``args`` of a trace request, None for a line that asks something else.

    A trace request holds ``op`` and ``args`` only (the devices are a
    filter: ``args.devices``); a malformed one raises :class:`ControlError`.
    A line that is no request at all is None too: :func:`answer` refuses it.
    """
    try:
        request = decode(line)
    except ControlError:
        return None
    if not isinstance(request, dict) or request.get("op") != TRACE:
        return None
    unknown = [key for key in request if key not in REQUEST_FIELDS]
    if unknown:
        raise ControlError(f"unknown field {unknown[0]!r} (fields: {', '.join(REQUEST_FIELDS)})")
    if "device" in request:
        raise ControlError("trace: name the devices in args.devices, not in 'device'")
    args = request.get("args", {})
    if not isinstance(args, dict):
        raise ControlError(f"'args' must be an object, not {json_kind(args)}")
    return args


def answer(
    devices: Mapping[str, ServedDevice], line: bytes, fabric: FabricStatus | None = None
) -> bytes:
    """The answer line to one request line; never raises an ``Exception``."""
    try:
        return encode(dispatch(devices, decode(line), fabric))
    except ControlError as err:
        return encode(refusal(str(err)))
    except Exception as err:
        log.exception("control request failed")
        return encode(refusal(_internal(err)))
