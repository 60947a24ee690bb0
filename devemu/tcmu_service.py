"""The ``org.kernel.TCMUService1`` objects targetcli looks for, as D-Bus messages in and out.

Theory of operation
-------------------
A TCMU backstore is made by one program (targetcli, through rtslib) and
served by another (tcmu-runner, or devemu). The two meet on the system
bus under the name tcmu-runner takes, ``org.kernel.TCMUService1``
(tcmu-runner's ``main.c`` and ``tcmu-handler.xml``; targetcli-fb's
``ui_backstore.py``):

- ``/org/kernel/TCMUService1`` implements ``org.freedesktop.DBus.ObjectManager``:
  ``GetManagedObjects() -> a{oa{sa{sv}}}`` lists one object per handler,
  ``/org/kernel/TCMUService1/<subtype>``, with the properties of its
  interfaces. targetcli shows each as ``/backstores/user:<subtype>``.
- Each handler object implements ``org.kernel.TCMUService1``: the
  read-only property ``ConfigDesc`` (``s``: what the configuration
  string holds; ``help create`` prints it) and the method
  ``CheckConfig(s configstr) -> (b is_valid, s message)``, called by
  ``create`` with ``<subtype>/<cfgstring>`` before anything exists in
  configfs; a refusal is shown as ``cfgstring invalid: <message>`` and
  nothing is created. tcmu-runner answers ``(true, "success")``.
- Both answer ``org.freedesktop.DBus.Properties`` (``Get``, ``GetAll``;
  ``Set`` refused: the property is read-only),
  ``org.freedesktop.DBus.Introspectable`` (``Introspect``, for
  ``busctl``/``gdbus introspect``) and ``org.freedesktop.DBus.Peer``.

tcmu-runner's ``HandlerManager1`` interface (handlers living in other
processes registering with tcmu-runner) is not offered: devemu's handler
is its own.

For devemu the configuration string is the path part of ``dev_config``,
the name of a device of the daemon's configuration: the daemon serves a
backstore whose ``dev_config`` is ``devemu/<name>`` (see
:mod:`devemu.tcmu.uio`). :func:`check_devemu_config` accepts a name the
configuration has and no backstore serves yet.

:class:`TcmuService` only turns a method call into its reply: no socket
here (:mod:`devemu.dbus_service` owns the connection). Every string from
the bus is hostile: it is compared with names, never used as a path, and
quoted shortened in answers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jeepney import HeaderFields, Message, MessageFlag, MessageType, new_error, new_method_return

from devemu.config_table import NAME_PATTERN
from devemu.tcmu.configfs import SUBTYPE

BUS_NAME = "org.kernel.TCMUService1"
ROOT_PATH = "/org/kernel/TCMUService1"
INTERFACE = "org.kernel.TCMUService1"
OBJECT_MANAGER = "org.freedesktop.DBus.ObjectManager"
PROPERTIES = "org.freedesktop.DBus.Properties"
INTROSPECTABLE = "org.freedesktop.DBus.Introspectable"
PEER = "org.freedesktop.DBus.Peer"

#: What tcmu-runner answers for a valid configuration string.
VALID = "success"

_ERROR = "org.freedesktop.DBus.Error."
#: Longest piece of a caller's string quoted back in an answer.
_QUOTE = 80

#: ``CheckConfig(s) -> (bs)``: the configuration string; is it valid and why not.
CheckConfig = Callable[[str], tuple[bool, str]]


@dataclass(frozen=True)
class Handler:
    """One ``/org/kernel/TCMUService1/<subtype>`` object."""

    subtype: str
    config_desc: str
    check_config: CheckConfig

    @property
    def path(self) -> str:
        return f"{ROOT_PATH}/{self.subtype}"


def _quote(text: str) -> str:
    return repr(text if len(text) <= _QUOTE else text[:_QUOTE] + "...")


def check_devemu_config(
    cfgstring: str, config_path: Path, attached: Callable[[], Mapping[str, bool]]
) -> tuple[bool, str]:
    """``CheckConfig`` of the ``devemu`` handler: ``devemu/<name>``, a device not served yet.

    ``attached`` says, per device of the configuration at ``config_path``,
    whether a backstore of it is served now (a device has one backstore).
    """
    subtype, slash, name = cfgstring.partition("/")
    devices = attached()
    known = ", ".join(devices) or "none"
    if subtype != SUBTYPE or not slash:
        return False, f"{_quote(cfgstring)} does not start with {SUBTYPE}/"
    if not name:
        return False, f"give the name of a device of {config_path} ({known})"
    if not NAME_PATTERN.match(name) or name not in devices:
        return False, f"{_quote(name)} is not a device of {config_path} (devices: {known})"
    if devices[name]:
        return False, f"{name} is already served by devemu (one backstore per device)"
    return True, VALID


def devemu_handler(
    config_path: Path, names: list[str], attached: Callable[[], Mapping[str, bool]]
) -> Handler:
    """The ``devemu`` handler of the daemon serving the devices ``names`` of ``config_path``."""
    desc = (
        f"The name of a device of {config_path} ({', '.join(names) or 'none'}); "
        "devemu serves it on the new backstore."
    )
    return Handler(SUBTYPE, desc, lambda s: check_devemu_config(s, config_path, attached))


def _introspection(interfaces: str, children: list[str]) -> str:
    nodes = "".join(f'  <node name="{child}"/>\n' for child in children)
    return (
        '<!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"\n'
        ' "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">\n'
        f"<node>\n{interfaces}{nodes}</node>\n"
    )


_STANDARD_XML = f"""\
  <interface name="{INTROSPECTABLE}">
    <method name="Introspect"><arg type="s" name="xml_data" direction="out"/></method>
  </interface>
  <interface name="{PEER}">
    <method name="Ping"/>
    <method name="GetMachineId"><arg type="s" name="machine_uuid" direction="out"/></method>
  </interface>
  <interface name="{PROPERTIES}">
    <method name="Get">
      <arg type="s" name="interface_name" direction="in"/>
      <arg type="s" name="property_name" direction="in"/>
      <arg type="v" name="value" direction="out"/>
    </method>
    <method name="GetAll">
      <arg type="s" name="interface_name" direction="in"/>
      <arg type="a{{sv}}" name="properties" direction="out"/>
    </method>
    <method name="Set">
      <arg type="s" name="interface_name" direction="in"/>
      <arg type="s" name="property_name" direction="in"/>
      <arg type="v" name="value" direction="in"/>
    </method>
    <signal name="PropertiesChanged">
      <arg type="s" name="interface_name"/>
      <arg type="a{{sv}}" name="changed_properties"/>
      <arg type="as" name="invalidated_properties"/>
    </signal>
  </interface>
"""

_MANAGER_XML = f"""\
  <interface name="{OBJECT_MANAGER}">
    <method name="GetManagedObjects">
      <arg type="a{{oa{{sa{{sv}}}}}}" name="object_paths_interfaces_and_properties"
           direction="out"/>
    </method>
    <signal name="InterfacesAdded">
      <arg type="o" name="object_path"/>
      <arg type="a{{sa{{sv}}}}" name="interfaces_and_properties"/>
    </signal>
    <signal name="InterfacesRemoved">
      <arg type="o" name="object_path"/>
      <arg type="as" name="interfaces"/>
    </signal>
  </interface>
"""

_HANDLER_XML = f"""\
  <interface name="{INTERFACE}">
    <property name="ConfigDesc" type="s" access="read"/>
    <method name="CheckConfig">
      <arg type="s" name="configstr" direction="in"/>
      <arg type="b" name="is_valid" direction="out"/>
      <arg type="s" name="message" direction="out"/>
    </method>
  </interface>
"""


class TcmuService:
    """The object tree under :data:`ROOT_PATH`: a method call in, its reply out."""

    def __init__(self, handlers: list[Handler], machine_id: str = "") -> None:
        self.handlers = {handler.path: handler for handler in handlers}
        self.machine_id = machine_id

    # --------------------------------------------------------------- objects

    def _properties(self, path: str) -> dict[str, dict[str, tuple[str, Any]]] | None:
        """Interface -> property -> (signature, value) of the object at ``path``."""
        if path == ROOT_PATH:
            return {OBJECT_MANAGER: {}}
        handler = self.handlers.get(path)
        if handler is None:
            return None
        return {INTERFACE: {"ConfigDesc": ("s", handler.config_desc)}}

    def managed_objects(self) -> dict[str, dict[str, dict[str, tuple[str, Any]]]]:
        """``GetManagedObjects``: every handler object, its interfaces and properties."""
        return {path: self._properties(path) or {} for path in self.handlers}

    def _children(self, path: str) -> list[str]:
        """The next path element of every object below ``path``."""
        prefix = "/" if path == "/" else path + "/"
        below = {
            p[len(prefix) :].split("/", 1)[0]
            for p in (ROOT_PATH, *self.handlers)
            if p.startswith(prefix)
        }
        return sorted(below)

    def introspect(self, path: str) -> str | None:
        if path == ROOT_PATH:
            return _introspection(_STANDARD_XML + _MANAGER_XML, self._children(path))
        if path in self.handlers:
            return _introspection(_STANDARD_XML + _HANDLER_XML, [])
        children = self._children(path)
        return _introspection(_STANDARD_XML, children) if children else None

    # -------------------------------------------------------------- dispatch

    def handle(self, msg: Message) -> Message | None:
        """The reply to ``msg``; None for what needs none (signals, no-reply calls)."""
        if msg.header.message_type is not MessageType.method_call:
            return None
        reply = self._answer(msg)
        if msg.header.flags & MessageFlag.no_reply_expected:
            return None
        return reply

    def _answer(self, msg: Message) -> Message:
        fields = msg.header.fields
        path = str(fields.get(HeaderFields.path, ""))
        interface = fields.get(HeaderFields.interface)
        member = str(fields.get(HeaderFields.member, ""))
        signature = str(fields.get(HeaderFields.signature, ""))
        body = msg.body
        call = (interface, member)

        if member == "Introspect" and interface in (INTROSPECTABLE, None) and not signature:
            xml = self.introspect(path)
            if xml is None:
                return new_error(msg, _ERROR + "UnknownObject", "s", (f"no object {path}",))
            return new_method_return(msg, "s", (xml,))
        if interface in (PEER, None) and member == "Ping" and not signature:
            return new_method_return(msg)
        if interface in (PEER, None) and member == "GetMachineId" and not signature:
            return new_method_return(msg, "s", (self.machine_id,))

        properties = self._properties(path)
        if properties is None:
            return new_error(msg, _ERROR + "UnknownObject", "s", (f"no object {_quote(path)}",))
        handler = self.handlers.get(path)

        if call in ((INTERFACE, "CheckConfig"), (None, "CheckConfig")) and handler is not None:
            if signature != "s":
                return self._invalid_args(msg, "CheckConfig takes one string (s)")
            valid, why = handler.check_config(body[0])
            return new_method_return(msg, "bs", (valid, why))
        if call in ((OBJECT_MANAGER, "GetManagedObjects"), (None, "GetManagedObjects")):
            if path != ROOT_PATH or signature:
                return self._unknown_method(msg, interface, member)
            return new_method_return(msg, "a{oa{sa{sv}}}", (self.managed_objects(),))
        if interface == PROPERTIES:
            return self._property_call(msg, properties, member, signature, body)
        return self._unknown_method(msg, interface, member)

    def _property_call(
        self,
        msg: Message,
        properties: dict[str, dict[str, tuple[str, Any]]],
        member: str,
        signature: str,
        body: tuple[Any, ...],
    ) -> Message:
        if member == "GetAll" and signature == "s":
            return new_method_return(msg, "a{sv}", (properties.get(body[0], {}),))
        if member == "Get" and signature == "ss":
            value = properties.get(body[0], {}).get(body[1])
            if value is None:
                return new_error(
                    msg,
                    _ERROR + "UnknownProperty",
                    "s",
                    (f"no property {_quote(body[1])} in {_quote(body[0])}",),
                )
            return new_method_return(msg, "v", (value,))
        if member == "Set" and signature == "ssv":
            return new_error(
                msg, _ERROR + "PropertyReadOnly", "s", (f"{_quote(body[1])} is read-only",)
            )
        if member in ("Get", "GetAll", "Set"):
            return self._invalid_args(msg, f"wrong arguments ({signature or 'none'}) for {member}")
        return self._unknown_method(msg, PROPERTIES, member)

    def failed(self, msg: Message) -> Message | None:
        """The answer to a call whose handling raised (our bug, logged by the caller)."""
        if msg.header.message_type is not MessageType.method_call:
            return None
        if msg.header.flags & MessageFlag.no_reply_expected:
            return None
        return new_error(msg, _ERROR + "Failed", "s", ("internal error; see devemu's log",))

    def _invalid_args(self, msg: Message, why: str) -> Message:
        return new_error(msg, _ERROR + "InvalidArgs", "s", (why,))

    def _unknown_method(self, msg: Message, interface: str | None, member: str) -> Message:
        return new_error(
            msg,
            _ERROR + "UnknownMethod",
            "s",
            (f"no method {_quote(member)} of {_quote(str(interface))} here",),
        )
