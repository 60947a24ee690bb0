"""The cartridge in a tape drive: its states, the events that move it, as a table.

Theory of operation
-------------------
A drive holds at most one cartridge, and the cartridge is in one of four
states (SSC-5 4.2.1 and 7.3). Each answers TEST UNIT READY (and every
command that needs the medium) in its own way:

==========  =========================================  ==========================================
state       what it is                                 not ready because
==========  =========================================  ==========================================
EMPTY       no cartridge                               NOT READY, MEDIUM NOT PRESENT
THREADED    loaded and threaded: the tape can move     (ready; INCOMPATIBLE MEDIUM INSTALLED for a
                                                       generation the drive cannot read)
HELD        in the drive, not threaded (HOLD=1)        NOT READY, INITIALIZING COMMAND REQUIRED
EJECTED     unloaded by the host: a robot or a hand    NOT READY, MEDIUM NOT PRESENT
            may take it out
==========  =========================================  ==========================================

Six events move it. Two come from outside the SCSI path: INSERT (a robot
or the operator puts a cartridge in, :meth:`TapeDrive.load`; inserting
the cartridge already in the drive threads it again) and REMOVE (it is
taken out, :meth:`TapeDrive.unload`). Four are the forms of LOAD UNLOAD
(SSC-5 7.3 table 39), LOAD and HOLD bits: LOAD (``LOAD=1 HOLD=0``),
LOAD_HOLD, UNLOAD and UNLOAD_HOLD.

:data:`TRANSITIONS` gives, for each state and event, the next state and
the actions taken on the way, in this order: SYNCHRONISE (make everything
written durable: LOAD UNLOAD is a synchronising command), RECORD_UNLOAD
(add the load's megabytes to the cartridge's MAM), then the new state,
TO_BOP (beginning of partition 0), RECORD_LOAD (count the load in the MAM
and start the load's counters) and ANNOUNCE (unit attention NOT READY TO
READY CHANGE, SPC-5 5.14). A transition marked ``ejects`` hands the
cartridge out: it is refused with MEDIUM REMOVAL PREVENTED while the host
prevents removal (SPC-5 6.15); an UNLOAD of a cartridge already ejected
does nothing at all. An event missing from a state's row is refused with
the sense :data:`REFUSED` names for that state: with no cartridge, every
LOAD UNLOAD is NOT READY, MEDIUM NOT PRESENT. :func:`transition` is the
one function that reads the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, Flag, auto

from devemu.scsi.sense import (
    LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED,
    MEDIUM_NOT_PRESENT,
    SenseCode,
    SenseError,
)


class MediumState(Enum):
    """Where the cartridge is (see the module text)."""

    EMPTY = "empty"
    THREADED = "threaded"
    HELD = "held"
    EJECTED = "ejected"


class MediumEvent(Enum):
    """What happens to the cartridge: a robot's hand or a LOAD UNLOAD form."""

    INSERT = "insert"
    REMOVE = "remove"
    LOAD = "load"
    LOAD_HOLD = "load, hold"
    UNLOAD = "unload"
    UNLOAD_HOLD = "unload, hold"


class Action(Flag):
    """What a transition does besides changing the state, in this order."""

    NONE = 0
    SYNCHRONISE = auto()
    RECORD_UNLOAD = auto()
    TO_BOP = auto()
    RECORD_LOAD = auto()
    ANNOUNCE = auto()


@dataclass(frozen=True, slots=True)
class Transition:
    """The next state, the actions on the way, and whether the cartridge leaves."""

    target: MediumState
    actions: Action = Action.NONE
    ejects: bool = False


EMPTY, THREADED, HELD, EJECTED = MediumState
INSERT, REMOVE, LOAD, LOAD_HOLD, UNLOAD, UNLOAD_HOLD = MediumEvent
SYNCHRONISE, RECORD_UNLOAD, TO_BOP, RECORD_LOAD, ANNOUNCE = (
    Action.SYNCHRONISE,
    Action.RECORD_UNLOAD,
    Action.TO_BOP,
    Action.RECORD_LOAD,
    Action.ANNOUNCE,
)

#: Threading a cartridge put into the drive (again).
_THREAD = Transition(THREADED, TO_BOP | RECORD_LOAD | ANNOUNCE)
#: The host's LOAD and LOAD with HOLD, the same from every state holding a cartridge.
_HOST_LOAD = {LOAD: Transition(THREADED, TO_BOP), LOAD_HOLD: Transition(HELD, SYNCHRONISE)}

TRANSITIONS: dict[MediumState, dict[MediumEvent, Transition]] = {
    EMPTY: {INSERT: _THREAD},
    THREADED: {
        INSERT: _THREAD,
        REMOVE: Transition(EMPTY, RECORD_UNLOAD),
        **_HOST_LOAD,
        UNLOAD: Transition(EJECTED, SYNCHRONISE | RECORD_UNLOAD | TO_BOP, ejects=True),
        UNLOAD_HOLD: Transition(HELD, SYNCHRONISE | RECORD_UNLOAD | TO_BOP),
    },
    HELD: {
        INSERT: _THREAD,
        REMOVE: Transition(EMPTY, RECORD_UNLOAD),
        **_HOST_LOAD,
        UNLOAD: Transition(EJECTED, SYNCHRONISE | TO_BOP, ejects=True),
        UNLOAD_HOLD: Transition(HELD, SYNCHRONISE | TO_BOP),
    },
    EJECTED: {
        INSERT: _THREAD,
        REMOVE: Transition(EMPTY, RECORD_UNLOAD),
        **_HOST_LOAD,
        UNLOAD: Transition(EJECTED),
        UNLOAD_HOLD: Transition(EJECTED),
    },
}

#: The sense for an event a state has no row for (SSC-5 7.3).
REFUSED: dict[MediumState, SenseCode] = {EMPTY: MEDIUM_NOT_PRESENT}

#: Why a command that needs the medium is refused in each state (SSC-5 4.2.1).
NOT_READY: dict[MediumState, SenseCode | None] = {
    EMPTY: MEDIUM_NOT_PRESENT,
    THREADED: None,
    HELD: LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED,
    EJECTED: MEDIUM_NOT_PRESENT,
}


def transition(state: MediumState, event: MediumEvent) -> Transition:
    """The row of :data:`TRANSITIONS` for ``event`` in ``state``, or the sense refusing it."""
    step = TRANSITIONS[state].get(event)
    if step is None:
        raise SenseError(REFUSED[state])
    return step
