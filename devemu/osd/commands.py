"""The OSD-2 service actions and their table (OSD-2 6).

Every command is one entry keyed by (7Fh, service action) with the same
CDB declaration (:data:`devemu.osd.cdb.OsdCdb`); each entry lists the
fields its command does not use as unsupported, so a non-zero value there
is INVALID FIELD IN CDB with the field pointer, and REPORT SUPPORTED
OPERATION CODES shows each command's own usage data. The handlers take
the partition id, the object id, and bytes 32-39 and 40-47 (length or
allocation length or number of objects, and starting byte address or
initial object id), and hand the rest to
:meth:`devemu.osd.device.OsdDevice.perform`, which checks what every
command shares (the CDB length, the capability, the attribute parameters)
and runs the set and get attributes parts around the command function.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from devemu.osd.cdb import OsdCdb
from devemu.osd.service_actions import ServiceAction
from devemu.scsi.command import Command
from devemu.scsi.table import Access, CommandSpec, Data, HandlerResult

if TYPE_CHECKING:
    from devemu.osd.device import OsdDevice

VARIABLE_LENGTH = 0x7F
FIELDS = ("partition_id", "object_id", "length", "starting_address")
_SA = ServiceAction
#: LIST_ATTR (bit 6 of byte 11) means something to LIST and LIST COLLECTION only.
_NO_LIST_ATTR = "command_options.list_attr"


def _handler(action: ServiceAction) -> Callable[..., HandlerResult]:
    def run(
        device: OsdDevice,
        cmd: Command,
        partition_id: int,
        object_id: int,
        length: int,
        starting_address: int,
    ) -> HandlerResult:
        return device.perform(cmd, action, partition_id, object_id, length, starting_address)

    run.__name__ = action.name.lower()
    return run


def _spec(
    action: ServiceAction,
    data: Data,
    access: Access,
    unused: tuple[str, ...] = (),
    *,
    idempotent: bool | None = None,
    list_attr: bool = False,
) -> CommandSpec:
    return CommandSpec(
        name=action.name.replace("_", " "),
        opcode=VARIABLE_LENGTH,
        cdb=OsdCdb,
        handler=_handler(action),
        service_action=int(action),
        fields=FIELDS,
        unsupported=frozenset(unused if list_attr else (*unused, _NO_LIST_ATTR)),
        data=data,
        access=access,
        idempotent=idempotent,
    )


_NO_RANGE = ("length", "starting_address")
_NO_LIST = ("list_identifier",)
_NO_SPECIFIC = ("command_options.command_specific",)
_ROOT_ONLY = ("partition_id", "object_id")

OSD_COMMANDS: tuple[CommandSpec, ...] = (
    _spec(
        _SA.FORMAT_OSD,
        Data.NONE,
        Access.WRITE,
        (*_ROOT_ONLY, "starting_address", *_NO_LIST, *_NO_SPECIFIC),
        idempotent=True,
    ),
    _spec(_SA.CREATE, Data.NONE, Access.WRITE, ("starting_address", *_NO_LIST, *_NO_SPECIFIC)),
    _spec(_SA.LIST, Data.IN, Access.READ, ("object_id", *_NO_SPECIFIC), list_attr=True),
    _spec(_SA.PUNCH, Data.NONE, Access.WRITE, (*_NO_LIST, *_NO_SPECIFIC), idempotent=True),
    # READ, WRITE, CREATE AND WRITE: bytes 48-51 are CDB CONTINUATION LENGTH (OSD-2 5.3).
    _spec(_SA.READ, Data.IN, Access.READ, _NO_SPECIFIC),
    _spec(_SA.WRITE, Data.OUT, Access.WRITE, _NO_SPECIFIC, idempotent=True),
    _spec(_SA.APPEND, Data.OUT, Access.WRITE, ("starting_address", *_NO_LIST, *_NO_SPECIFIC)),
    # FLUSH: a range in LENGTH and STARTING BYTE ADDRESS with FLUSH SCOPE 2 (OSD-2 6.10).
    _spec(_SA.FLUSH, Data.NONE, Access.NONE, _NO_LIST),
    _spec(_SA.CLEAR, Data.NONE, Access.WRITE, (*_NO_LIST, *_NO_SPECIFIC), idempotent=True),
    _spec(_SA.REMOVE, Data.NONE, Access.WRITE, (*_NO_RANGE, *_NO_LIST, *_NO_SPECIFIC)),
    _spec(
        _SA.CREATE_PARTITION,
        Data.NONE,
        Access.WRITE,
        ("object_id", *_NO_RANGE, *_NO_LIST, *_NO_SPECIFIC),
    ),
    _spec(
        _SA.REMOVE_PARTITION,
        Data.NONE,
        Access.WRITE,
        ("object_id", *_NO_RANGE, *_NO_LIST),  # byte 11 bits 2-0: REMOVE SCOPE
    ),
    _spec(_SA.GET_ATTRIBUTES, Data.NONE, Access.NONE, (*_NO_RANGE, *_NO_LIST, *_NO_SPECIFIC)),
    _spec(
        _SA.SET_ATTRIBUTES,
        Data.NONE,
        Access.WRITE,
        (*_NO_RANGE, *_NO_LIST, *_NO_SPECIFIC),
        idempotent=True,
    ),
    _spec(_SA.CREATE_AND_WRITE, Data.OUT, Access.WRITE, _NO_SPECIFIC),
    _spec(_SA.CREATE_COLLECTION, Data.NONE, Access.WRITE, (*_NO_RANGE, *_NO_LIST, *_NO_SPECIFIC)),
    _spec(_SA.REMOVE_COLLECTION, Data.NONE, Access.WRITE, (*_NO_RANGE, *_NO_LIST)),
    _spec(_SA.LIST_COLLECTION, Data.IN, Access.READ, _NO_SPECIFIC, list_attr=True),
    _spec(_SA.FLUSH_COLLECTION, Data.NONE, Access.NONE, (*_NO_RANGE, *_NO_LIST)),
    _spec(_SA.FLUSH_PARTITION, Data.NONE, Access.NONE, ("object_id", *_NO_RANGE, *_NO_LIST)),
    _spec(_SA.FLUSH_OSD, Data.NONE, Access.NONE, (*_ROOT_ONLY, *_NO_RANGE, *_NO_LIST)),
    # OSD-2 6.26: bytes 24-51 hold KEY VERSION, KEY IDENTIFIER and SEED.
    _spec(_SA.SET_KEY, Data.NONE, Access.WRITE, idempotent=True),
)

#: Which entry's data direction each service action has (the device reads it).
DIRECTION: dict[int, Data] = {spec.service_action or 0: spec.data for spec in OSD_COMMANDS}
