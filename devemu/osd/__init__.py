"""An OSD-2 object-based storage device (T10 OSD-2, INCITS 458-2011).

Peripheral device type 11h. Every OSD command is one service action of
the variable-length CDB (opcode 7Fh, 236 bytes): :mod:`.service_actions`
names them, :mod:`.cdb` declares the CDB, its data-buffer offsets and the
capability, :mod:`.attributes` the attribute pages and lists,
:mod:`.continuation` the CDB continuation segment, :mod:`.sense` the
OSD sense descriptors, :mod:`.store` keeps partitions,
collections and user objects (files and folders, attributes and the
object table in SQLite), :mod:`.commands` answers the service actions
and :mod:`.device` is the logical unit.
"""
