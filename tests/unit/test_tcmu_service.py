"""The org.kernel.TCMUService1 objects: method calls in, replies out (no bus)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jeepney import DBusAddress, HeaderFields, Message, MessageType, new_method_call

from devemu.tcmu_service import (
    BUS_NAME,
    INTERFACE,
    OBJECT_MANAGER,
    PROPERTIES,
    ROOT_PATH,
    TcmuService,
    check_devemu_config,
    devemu_handler,
)

CONFIG = Path("/etc/devemu/lab.toml")
HANDLER = f"{ROOT_PATH}/devemu"


def service(attached: dict[str, bool] | None = None) -> TcmuService:
    state = {"disk0": True, "tc0": False} if attached is None else attached
    return TcmuService([devemu_handler(CONFIG, list(state), lambda: state)], "0123abcd")


def call(
    svc: TcmuService,
    path: str,
    interface: str | None,
    member: str,
    signature: str | None = None,
    body: tuple[Any, ...] = (),
) -> Message:
    msg = new_method_call(DBusAddress(path, BUS_NAME, interface), member, signature, body)
    msg.header.serial = 3  # as the sender's connection numbers it
    reply = svc.handle(msg)
    assert reply is not None
    return reply


def error_name(reply: Message) -> str | None:
    if reply.header.message_type is not MessageType.error:
        return None
    return str(reply.header.fields[HeaderFields.error_name])


@pytest.mark.parametrize(
    ("cfgstring", "valid", "message"),
    [
        ("devemu/tc0", True, "success"),
        ("devemu/disk0", False, "disk0 is already served by devemu (one backstore per device)"),
        (
            "devemu/nope",
            False,
            "'nope' is not a device of /etc/devemu/lab.toml (devices: disk0, tc0)",
        ),
        ("devemu/", False, "give the name of a device of /etc/devemu/lab.toml (disk0, tc0)"),
        ("devemu/devemu/tc0", False, "'devemu/tc0' is not a device of"),
        ("devemu/../../etc/passwd", False, "'../../etc/passwd' is not a device of"),
        ("rbd/pool/image", False, "'rbd/pool/image' does not start with devemu/"),
        ("devemu", False, "'devemu' does not start with devemu/"),
        ("devemu/" + "x" * 500, False, "'" + "x" * 80 + "...' is not a device of"),
    ],
)
def test_check_config(cfgstring: str, valid: bool, message: str) -> None:
    state = {"disk0": True, "tc0": False}
    ok, why = check_devemu_config(cfgstring, CONFIG, lambda: state)
    assert ok is valid
    assert why.startswith(message), why


def test_check_config_over_the_interface() -> None:
    svc = service()
    assert call(svc, HANDLER, INTERFACE, "CheckConfig", "s", ("devemu/tc0",)).body == (
        True,
        "success",
    )
    reply = call(svc, HANDLER, INTERFACE, "CheckConfig", "s", ("devemu/disk0",))
    assert reply.header.fields[HeaderFields.signature] == "bs"
    assert reply.body[0] is False
    reply = call(svc, HANDLER, INTERFACE, "CheckConfig", "u", (5,))
    assert error_name(reply) == "org.freedesktop.DBus.Error.InvalidArgs"
    reply = call(svc, ROOT_PATH, INTERFACE, "CheckConfig", "s", ("devemu/tc0",))
    assert error_name(reply) == "org.freedesktop.DBus.Error.UnknownMethod"


def test_the_object_manager_lists_the_handler_as_gdbus_would() -> None:
    reply = call(service(), ROOT_PATH, OBJECT_MANAGER, "GetManagedObjects")
    assert reply.header.fields[HeaderFields.signature] == "a{oa{sa{sv}}}"
    (objects,) = reply.body
    assert list(objects) == [HANDLER]
    (desc_sig, desc) = objects[HANDLER][INTERFACE]["ConfigDesc"]
    assert desc_sig == "s"
    assert desc.startswith("The name of a device of /etc/devemu/lab.toml (disk0, tc0)")
    # It is a message the bus can carry: it serialises.
    assert reply.serialise(serial=7)


def test_properties() -> None:
    svc = service()
    (props,) = call(svc, HANDLER, PROPERTIES, "GetAll", "s", (INTERFACE,)).body
    assert set(props) == {"ConfigDesc"}
    (value,) = call(svc, HANDLER, PROPERTIES, "Get", "ss", (INTERFACE, "ConfigDesc")).body
    assert value[0] == "s"
    assert call(svc, ROOT_PATH, PROPERTIES, "GetAll", "s", (OBJECT_MANAGER,)).body == ({},)
    assert call(svc, HANDLER, PROPERTIES, "GetAll", "s", ("org.example.Other",)).body == ({},)
    refused = call(svc, HANDLER, PROPERTIES, "Set", "ssv", (INTERFACE, "ConfigDesc", ("s", "x")))
    assert error_name(refused) == "org.freedesktop.DBus.Error.PropertyReadOnly"
    missing = call(svc, HANDLER, PROPERTIES, "Get", "ss", (INTERFACE, "Nope"))
    assert error_name(missing) == "org.freedesktop.DBus.Error.UnknownProperty"
    wrong = call(svc, HANDLER, PROPERTIES, "Get", "s", (INTERFACE,))
    assert error_name(wrong) == "org.freedesktop.DBus.Error.InvalidArgs"


def test_introspection_walks_down_to_the_handler() -> None:
    svc = service()
    for path, child in [
        ("/", "org"),
        ("/org", "kernel"),
        ("/org/kernel", "TCMUService1"),
        (ROOT_PATH, "devemu"),
    ]:
        (xml,) = call(svc, path, "org.freedesktop.DBus.Introspectable", "Introspect").body
        assert f'<node name="{child}"/>' in xml
    (xml,) = call(svc, HANDLER, "org.freedesktop.DBus.Introspectable", "Introspect").body
    assert '<method name="CheckConfig">' in xml
    assert '<property name="ConfigDesc" type="s" access="read"/>' in xml
    gone = call(svc, "/org/other", "org.freedesktop.DBus.Introspectable", "Introspect")
    assert error_name(gone) == "org.freedesktop.DBus.Error.UnknownObject"


def test_peer_and_unknowns() -> None:
    svc = service()
    assert call(svc, HANDLER, "org.freedesktop.DBus.Peer", "Ping").body == ()
    assert call(svc, HANDLER, "org.freedesktop.DBus.Peer", "GetMachineId").body == ("0123abcd",)
    unknown = call(svc, f"{ROOT_PATH}/rbd", INTERFACE, "CheckConfig", "s", ("rbd/x",))
    assert error_name(unknown) == "org.freedesktop.DBus.Error.UnknownObject"
    method = call(svc, HANDLER, INTERFACE, "ChangeMedium", "sts", ("a", 1, "b"))
    assert error_name(method) == "org.freedesktop.DBus.Error.UnknownMethod"


def test_no_reply_where_none_is_expected() -> None:
    svc = service()
    msg = new_method_call(DBusAddress(HANDLER, BUS_NAME, INTERFACE), "CheckConfig", "s", ("x",))
    msg.header.flags |= 1  # NO_REPLY_EXPECTED
    assert svc.handle(msg) is None
