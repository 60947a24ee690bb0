"""The MMC-6 command table of the drive.

Each entry names the CDB declaration (:mod:`devemu.cdrom.cdbs`), the
fields its handler takes, and the command's facts; the usage data (SPC-5
6.35.3) and the reserved-bit check are derived from the declaration. What
the drive refuses on purpose is listed as unsupported and so left out of
the usage data: the Format-Layer Number of START STOP UNIT, the TSR bit of
WRITE, the obsolete LOGICAL BLOCK ADDRESS and PMI of READ CAPACITY, NACA
in the READ TOC/PMA/ATIP control byte (whose vendor bits 7-6 carry the
SFF-8020i format and are interpreted).

Reservations (SPC-5 5.13.1, MMC-6): the reading and reporting commands
pass a Write Exclusive reservation held by another nexus; the commands
that move the pickup, the tray or the lock, play audio, set the speed,
write, or take part in key exchange (REPORT KEY) conflict with every
reservation type; READ CAPACITY conflicts only with RESERVE(6)/(10).

Replay after a restart: every command but START STOP UNIT, which moves
the tray, may run again (:mod:`devemu.cdrom.config`).
"""

from __future__ import annotations

from construct import Construct

from devemu.cdrom import (
    cdbs,
    dvd,
    events,
    features,
    format_unit,
    overwrite,
    performance,
    playback,
    reading,
    toc,
    tray,
    write_cdbs,
    write_commands,
)
from devemu.cdrom.opcodes import Opcode
from devemu.scsi.table import Access, CommandSpec, Conflict, Data, Handler

_O = Opcode


def _read(name: str, opcode: Opcode, cdb: Construct, handler: Handler) -> CommandSpec:
    """READ (10)/(12): 2048-byte user data."""
    return CommandSpec(
        name,
        opcode,
        cdb,
        handler,
        fields=("lba", "transfer_length"),
        data=Data.IN,
        access=Access.READ,
        needs_medium=True,
    )


def _write(name: str, opcode: Opcode, cdb: Construct, handler: Handler) -> CommandSpec:
    """WRITE (10)/(12): at the next writable address of a recordable disc; pressed
    media refuse them."""
    return CommandSpec(
        name,
        opcode,
        cdb,
        handler,
        fields=("lba", "transfer_length", "flags.fua"),
        unsupported=frozenset({"flags.tsr"}),
        data=Data.OUT,
        access=Access.WRITE,
        idempotent=False,
        needs_medium=True,
    )


def _record(
    name: str,
    opcode: Opcode,
    cdb: Construct,
    handler: Handler,
    fields: tuple[str, ...],
    *,
    data: Data = Data.NONE,
    timeout: int = 30,
    needs_medium: bool = True,
) -> CommandSpec:
    """A recording command: it changes the disc, so a restarted daemon does not run it again."""
    return CommandSpec(
        name,
        opcode,
        cdb,
        handler,
        fields=fields,
        data=data,
        access=Access.WRITE,
        idempotent=False,
        timeout=timeout,
        needs_medium=needs_medium,
    )


def _control(
    name: str,
    opcode: Opcode,
    cdb: Construct,
    handler: Handler,
    fields: tuple[str, ...] = (),
    *,
    needs_medium: bool = True,
) -> CommandSpec:
    """A command that changes the drive's state (pickup, play, speed) and may run twice."""
    return CommandSpec(
        name,
        opcode,
        cdb,
        handler,
        fields=fields,
        access=Access.CONTROL,
        idempotent=True,
        needs_medium=needs_medium,
    )


def _report(
    name: str,
    opcode: Opcode,
    cdb: Construct,
    handler: Handler,
    fields: tuple[str, ...],
    *,
    access: Access = Access.READ,
    needs_medium: bool = True,
    blocked_by_unit_attention: bool = True,
) -> CommandSpec:
    """A command that returns data and changes nothing: what the disc holds
    (:attr:`Access.READ`) or what the drive is doing (:attr:`Access.NONE`)."""
    return CommandSpec(
        name,
        opcode,
        cdb,
        handler,
        fields=fields,
        data=Data.IN,
        access=access,
        needs_medium=needs_medium,
        blocked_by_unit_attention=blocked_by_unit_attention,
    )


MMC_COMMANDS: tuple[CommandSpec, ...] = (
    _record(
        "FORMAT UNIT",
        _O.FORMAT_UNIT,
        format_unit.FormatUnitCdb,
        format_unit.format_unit,
        ("flags.fmt_data", "flags.cmp_list", "flags.format_code"),
        data=Data.OUT,
        timeout=600,
    ),
    _report(
        "READ FORMAT CAPACITIES",
        _O.READ_FORMAT_CAPACITIES,
        format_unit.ReadFormatCapacitiesCdb,
        format_unit.read_format_capacities,
        ("allocation_length",),
    ),
    CommandSpec(
        "VERIFY (10)",
        _O.VERIFY_10,
        overwrite.Verify10Cdb,
        overwrite.verify_10,
        fields=("flags.bytchk", "lba", "verification_length"),
        data=Data.OUT,
        access=Access.READ,
        needs_medium=True,
    ),
    CommandSpec(
        "START STOP UNIT",
        _O.START_STOP_UNIT,
        cdbs.StartStopUnitCdb,
        tray.start_stop_unit,
        fields=("action.power_condition", "action.loej", "action.start"),
        unsupported=frozenset({"layer.format_layer_number"}),
        access=Access.CONTROL,
        idempotent=False,
        timeout=60,
    ),
    _control(
        "PREVENT ALLOW MEDIUM REMOVAL",
        _O.PREVENT_ALLOW_MEDIUM_REMOVAL,
        cdbs.PreventAllowCdb,
        tray.prevent_allow_medium_removal,
        ("flags.persistent", "flags.prevent"),
        needs_medium=False,
    ),
    CommandSpec(
        "READ CAPACITY",
        _O.READ_CAPACITY,
        cdbs.ReadCapacityCdb,
        reading.read_capacity,
        unsupported=frozenset({"lba", "pmi"}),
        data=Data.IN,
        conflict=Conflict.RESERVE,
        needs_medium=True,
    ),
    _read("READ (10)", _O.READ_10, cdbs.Read10Cdb, reading.read_10),
    _write("WRITE (10)", _O.WRITE_10, cdbs.Write10Cdb, write_commands.write_10),
    _control("SEEK (10)", _O.SEEK_10, cdbs.Seek10Cdb, reading.seek_10, ("lba",)),
    _record(
        "SYNCHRONIZE CACHE",
        _O.SYNCHRONIZE_CACHE,
        write_cdbs.SynchronizeCacheCdb,
        write_commands.synchronize_cache,
        (),
        timeout=120,
    ),
    _report(
        "READ SUB-CHANNEL",
        _O.READ_SUBCHANNEL,
        cdbs.ReadSubchannelCdb,
        playback.read_subchannel,
        (
            "flags.msf",
            "data.subq",
            "parameter_list",
            "track_number",
            "allocation_length",
        ),
    ),
    CommandSpec(
        "READ TOC/PMA/ATIP",
        _O.READ_TOC_PMA_ATIP,
        cdbs.ReadTocCdb,
        toc.read_toc,
        fields=(
            "flags.msf",
            "response.format",
            "track_session_number",
            "allocation_length",
            "control.vendor_format",
        ),
        unsupported=frozenset({"control.naca"}),
        data=Data.IN,
        access=Access.READ,
        needs_medium=True,
    ),
    _control(
        "PLAY AUDIO (10)",
        _O.PLAY_AUDIO_10,
        cdbs.PlayAudio10Cdb,
        playback.play_audio_10,
        ("lba", "play_length"),
    ),
    _report(
        "GET CONFIGURATION",
        _O.GET_CONFIGURATION,
        cdbs.GetConfigurationCdb,
        features.get_configuration,
        ("flags.rt", "starting_feature_number", "allocation_length"),
        access=Access.NONE,
        needs_medium=False,
        blocked_by_unit_attention=False,
    ),
    _control(
        "PLAY AUDIO MSF",
        _O.PLAY_AUDIO_MSF,
        cdbs.PlayAudioMsfCdb,
        playback.play_audio_msf,
        ("start", "end"),
    ),
    _report(
        "GET EVENT STATUS NOTIFICATION",
        _O.GET_EVENT_STATUS_NOTIFICATION,
        cdbs.GetEventStatusCdb,
        events.get_event_status_notification,
        ("flags.polled", "notification_class_request", "allocation_length"),
        access=Access.NONE,
        needs_medium=False,
        blocked_by_unit_attention=False,
    ),
    _control(
        "PAUSE/RESUME",
        _O.PAUSE_RESUME,
        cdbs.PauseResumeCdb,
        playback.pause_resume,
        ("flags.resume",),
    ),
    _control("STOP PLAY/SCAN", _O.STOP_PLAY_SCAN, cdbs.StopPlayScanCdb, playback.stop_play_scan),
    _report(
        "READ DISC INFORMATION",
        _O.READ_DISC_INFORMATION,
        cdbs.ReadDiscInfoCdb,
        toc.read_disc_information,
        ("flags.data_type", "allocation_length"),
    ),
    _report(
        "READ TRACK INFORMATION",
        _O.READ_TRACK_INFORMATION,
        cdbs.ReadTrackInfoCdb,
        toc.read_track_information,
        ("flags.address_type", "address", "allocation_length"),
    ),
    _record(
        "RESERVE TRACK",
        _O.RESERVE_TRACK,
        write_cdbs.ReserveTrackCdb,
        write_commands.reserve_track,
        ("flags.arsv", "reservation_size"),
    ),
    _record(
        "SEND OPC INFORMATION",
        _O.SEND_OPC_INFORMATION,
        write_cdbs.SendOpcCdb,
        write_commands.send_opc_information,
        ("flags.do_opc", "parameter_list_length"),
        data=Data.OUT,
    ),
    _record(
        "CLOSE TRACK/SESSION",
        _O.CLOSE_TRACK_SESSION,
        write_cdbs.CloseTrackSessionCdb,
        write_commands.close_track_session,
        ("flags.immed", "function.close_function", "track_number"),
        timeout=300,
    ),
    _report(
        "READ BUFFER CAPACITY",
        _O.READ_BUFFER_CAPACITY,
        write_cdbs.ReadBufferCapacityCdb,
        write_commands.read_buffer_capacity,
        ("flags.block", "allocation_length"),
        access=Access.NONE,
        needs_medium=False,
    ),
    _record(
        "SEND CUE SHEET",
        _O.SEND_CUE_SHEET,
        write_cdbs.SendCueSheetCdb,
        write_commands.send_cue_sheet,
        ("cue_sheet_size",),
        data=Data.OUT,
    ),
    _record(
        "BLANK",
        _O.BLANK,
        write_cdbs.BlankCdb,
        write_commands.blank,
        ("flags.immed", "flags.blanking_type", "start_address"),
        timeout=600,
    ),
    CommandSpec(
        # The AGID exchange of CSS authentication is state of the drive (MMC-6 4.10.2).
        "REPORT KEY",
        _O.REPORT_KEY,
        cdbs.ReportKeyCdb,
        dvd.report_key,
        fields=("key_class", "allocation_length", "key.key_format"),
        data=Data.IN,
        access=Access.CONTROL,
        idempotent=True,
    ),
    _control(
        "PLAY AUDIO (12)",
        _O.PLAY_AUDIO_12,
        cdbs.PlayAudio12Cdb,
        playback.play_audio_12,
        ("lba", "play_length"),
    ),
    _read("READ (12)", _O.READ_12, cdbs.Read12Cdb, reading.read_12),
    _write("WRITE (12)", _O.WRITE_12, cdbs.Write12Cdb, write_commands.write_12),
    _report(
        "GET PERFORMANCE",
        _O.GET_PERFORMANCE,
        cdbs.GetPerformanceCdb,
        performance.get_performance,
        ("flags.data_type", "maximum_number_of_descriptors", "type"),
        access=Access.NONE,
        needs_medium=False,
    ),
    _report(
        "READ DISC STRUCTURE",
        _O.READ_DISC_STRUCTURE,
        cdbs.ReadDiscStructureCdb,
        dvd.read_disc_structure,
        ("flags.media_type", "layer_number", "format", "allocation_length"),
    ),
    CommandSpec(
        "READ CD MSF",
        _O.READ_CD_MSF,
        cdbs.ReadCdMsfCdb,
        reading.read_cd_msf,
        fields=("flags.sector_type", "start", "end", "fields", "subchannel"),
        data=Data.IN,
        access=Access.READ,
        needs_medium=True,
    ),
    CommandSpec(
        "SET STREAMING",
        _O.SET_STREAMING,
        write_cdbs.SetStreamingCdb,
        write_commands.set_streaming,
        fields=("type", "parameter_list_length"),
        data=Data.OUT,
        access=Access.CONTROL,
        idempotent=True,
    ),
    _control(
        "SET CD SPEED",
        _O.SET_CD_SPEED,
        cdbs.SetCdSpeedCdb,
        performance.set_cd_speed,
        ("read_speed", "write_speed"),
        needs_medium=False,
    ),
    _report(
        "MECHANISM STATUS",
        _O.MECHANISM_STATUS,
        cdbs.MechanismStatusCdb,
        tray.mechanism_status,
        ("allocation_length",),
        access=Access.NONE,
        needs_medium=False,
        blocked_by_unit_attention=False,
    ),
    CommandSpec(
        "READ CD",
        _O.READ_CD,
        cdbs.ReadCdCdb,
        reading.read_cd,
        fields=("flags.sector_type", "lba", "transfer_length", "fields", "subchannel"),
        data=Data.IN,
        access=Access.READ,
        needs_medium=True,
    ),
)
