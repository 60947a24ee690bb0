"""Every ``devemu`` command, given bad input, answers in one line and the right exit status.

Exit status: 1 for a command that failed (bad file, host, daemon), 2 for a
bad command line. A failure is one line on stderr that names the file, key
or place, never a traceback. The commands come from the CLI's own parser,
so a new subcommand without cases here fails :func:`test_every_command_has_cases`.

Each case runs in a process of its own: ``python -m devemu`` itself for
``serve`` without root (as ``nobody`` through ``setpriv`` when the tests
run as root), and for the others a child forked, one per case, from a
single interpreter that has imported devemu once (:func:`fork_cases`; an
uncaught exception prints its traceback and exits 1, as the interpreter
does). The inputs are a folder of bad files built once; two sockets stand
in for a daemon: one refuses every request, one answers with something
that is not JSON.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devemu.cli import build_parser

NOBODY = 65534
SETPRIV = shutil.which("setpriv")
#: Seconds one command may take; every case here fails before doing real work.
TIMEOUT = 60

CONFIGS = {
    "bad-syntax.toml": '[daemon]\nfabric = "loopback"\n[[disk]\n',
    "unknown-key.toml": '[daemon]\nsocket = "/x"\n',
    "wrong-type.toml": '[[disk]]\nname = "d0"\nimage = "d0.img"\nblock_size = "512"\n',
    "state-file.toml": '[daemon]\nstate_dir = "file"\n',
    "iso-folder.toml": (
        '[daemon]\nstate_dir = "state"\n[[cdrom]]\nname = "cd0"\nimage = "folder.iso"\n'
    ),
    "cue-folder.toml": (
        '[daemon]\nstate_dir = "state"\n[[cdrom]]\nname = "cd0"\nimage = "folder.cue"\n'
    ),
    "tape-folder.toml": (
        '[daemon]\nstate_dir = "state"\n[[library]]\nname = "vtl0"\ndirectory = "."\n'
        'slots = 2\nbarcodes = ["E01002L8"]\n[[library.drives]]\nname = "vtl0-drive0"\n'
    ),
    "good.toml": (
        '[daemon]\nstate_dir = "state"\ncontrol_socket = "run/c.sock"\n'
        '[[disk]]\nname = "d0"\nimage = "d0.img"\nsize = "1M"\n'
    ),
}
#: What a refused ``serve`` must not have made in the folder.
NEVER_CREATED = ("state", "run", "d0.img")


@dataclass(frozen=True)
class Case:
    """One command line (``{w}`` is the folder of inputs) and what must come back."""

    label: str
    argv: tuple[str, ...]
    status: int
    says: str
    as_nobody: bool = False

    def command_line(self, world: Path) -> list[str]:
        return [arg.replace("{w}", str(world)) for arg in self.argv]


def case(label: str, argv: str, status: int, says: str, *, xfail: str = "") -> object:
    marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
    return pytest.param(Case(label, tuple(argv.split()), status, says), marks=marks, id=label)


#: Bad inputs per command (the leaf subcommands of the parser).
CASES: dict[str, list[object]] = {
    "serve": [
        case("no CONFIG", "serve", 2, "the following arguments are required: CONFIG"),
        case("missing", "serve {w}/missing.toml", 1, "{w}/missing.toml: cannot read"),
        case("bad TOML", "serve {w}/bad-syntax.toml", 1, "{w}/bad-syntax.toml: line 3, column"),
        case("unknown key", "serve {w}/unknown-key.toml", 1, "daemon.socket: unknown key"),
        case("wrong type", "serve {w}/wrong-type.toml", 1, "disk[0].block_size: must be an"),
        case("state_dir a file", "serve {w}/state-file.toml", 1, "daemon.state_dir: {w}/file is"),
        case("folder as ISO", "serve {w}/iso-folder.toml", 1, "cdrom[0].image: {w}/folder.iso"),
        case("folder as CUE", "serve {w}/cue-folder.toml", 1, "cdrom[0].image: {w}/folder.cue"),
        case(
            "folder as cartridge",
            "serve {w}/tape-folder.toml",
            1,
            "library[0].directory: cartridge E01002L8: {w}/E01002L8.tape is a folder",
        ),
        case("check: bad TOML", "serve --check {w}/bad-syntax.toml", 1, "line 3, column"),
        case("check: state_dir", "serve --check {w}/state-file.toml", 1, "daemon.state_dir"),
        case("log level", "serve --log-level loud {w}/good.toml", 2, "invalid choice: 'loud'"),
        pytest.param(
            Case(
                "not root",
                ("serve", "{w}/good.toml"),
                1,
                "devemu serve must run as root",
                as_nobody=True,
            ),
            id="not root",
        ),
    ],
    "status": [
        case("no daemon", "status --socket {w}/none.sock", 1, "{w}/none.sock: cannot reach"),
        case("refused", "status --socket {w}/refuse.sock", 1, "refused by this daemon"),
        case("not JSON", "status --socket {w}/garbage.sock", 1, "garbage.sock"),
        case("bad option", "status --sockets x", 2, "unrecognized arguments: --sockets"),
    ],
    "trace": [
        case("no daemon", "trace --socket {w}/none.sock", 1, "{w}/none.sock: cannot reach"),
        case("refused", "trace --socket {w}/refuse.sock", 1, "refused by this daemon"),
        case("not JSON", "trace --socket {w}/garbage.sock", 1, "garbage.sock: the answer is not"),
        case("empty opcode", "trace --opcode ()", 2, "'()' names no opcode"),
    ],
    "fault": [
        case("no kind", "fault tape0", 2, "required: KIND"),
        case("unknown kind", "fault tape0 melt", 2, "invalid choice: 'melt'"),
        case("no record", "fault tape0 read-error", 2, "fault read-error needs --record"),
        case("negative", "fault tape0 write-error --record -1", 2, "must not be negative"),
        case("stray option", "fault tape0 offline --bytes 5", 2, "offline takes no --bytes"),
        case("no daemon", "fault tape0 offline --socket {w}/none.sock", 1, "{w}/none.sock"),
        case("refused", "fault tape0 offline --socket {w}/refuse.sock", 1, "refused by this"),
        case("not JSON", "fault tape0 clear --socket {w}/garbage.sock", 1, "garbage.sock"),
    ],
    "disk create": [
        case("no size", "disk create {w}/x.img", 2, "--size"),
        case("bad size", "disk create {w}/x.img --size abc", 2, "'abc' is not a size"),
        case("size vs block", "disk create {w}/x.img --size 1000", 2, "multiple of the block"),
        case("exists", "disk create {w}/file --size 1M", 1, "{w}/file: already exists"),
        case("no folder", "disk create {w}/nowhere/x.img --size 1M", 1, "{w}/nowhere/x.img"),
    ],
    "disk info": [
        case("no path", "disk info", 2, "required: path"),
        case("missing", "disk info {w}/missing.img", 1, "{w}/missing.img: cannot open"),
        case("folder", "disk info {w}/folder.iso", 1, "{w}/folder.iso: not a regular file"),
        case("odd size", "disk info {w}/junk.iso", 1, "{w}/junk.iso: offset 5000"),
    ],
    "disk insert": [
        case("no image", "disk insert d0", 2, "required: image"),
        case("no daemon", "disk insert d0 {w}/d.img --socket {w}/none.sock", 1, "{w}/none.sock"),
        case(
            "refused",
            "disk insert d0 {w}/d.img --socket {w}/refuse.sock",
            1,
            "refused by this daemon",
        ),
    ],
    "disk eject": [
        case("no device", "disk eject", 2, "required: device"),
        case("no daemon", "disk eject d0 --socket {w}/none.sock", 1, "{w}/none.sock"),
    ],
    "disk protect": [
        case("no state", "disk protect d0", 2, "required: state"),
        case("bad state", "disk protect d0 maybe", 2, "invalid choice: 'maybe'"),
        case("no daemon", "disk protect d0 on --socket {w}/none.sock", 1, "{w}/none.sock"),
    ],
    "disk status": [
        case("no device", "disk status", 2, "required: device"),
        case("refused", "disk status d0 --socket {w}/refuse.sock", 1, "refused by this daemon"),
    ],
    "cdrom insert": [
        case("no image", "cdrom insert cd0", 2, "needs an IMAGE or --blank TYPE"),
        case("image and blank", "cdrom insert cd0 a.iso --blank cd-r", 2, "not both"),
        case("capacity alone", "cdrom insert cd0 a.iso --capacity 10M", 2, "goes with --blank"),
        case("bad blank type", "cdrom insert cd0 --blank floppy", 2, "invalid choice"),
        case(
            "no daemon",
            "cdrom insert cd0 {w}/folder.iso --socket {w}/none.sock",
            1,
            "{w}/none.sock",
        ),
        case(
            "refused",
            "cdrom insert cd0 {w}/folder.iso --socket {w}/refuse.sock",
            1,
            "refused by this daemon",
        ),
    ],
    "cdrom eject": [
        case("no device", "cdrom eject", 2, "required: device"),
        case("no daemon", "cdrom eject cd0 --socket {w}/none.sock", 1, "{w}/none.sock"),
    ],
    "cdrom status": [
        case("no device", "cdrom status", 2, "required: device"),
        case("refused", "cdrom status cd0 --socket {w}/refuse.sock", 1, "refused by this daemon"),
    ],
    "image iso": [
        case("no out", "image iso {w}/src", 2, "required: out"),
        case("no source", "image iso {w}/missing {w}/out.iso", 1, "{w}/missing: not a folder"),
        case("source a file", "image iso {w}/file {w}/out.iso", 1, "{w}/file: not a folder"),
        case("out in a file", "image iso {w}/src {w}/file/out.iso", 1, "{w}/file/"),
        case(
            "non-ASCII label",
            "image iso {w}/src {w}/label.iso --label \u00e9t\u00e9",
            2,
            "label",
        ),
        case("non-UTF-8 name", "image iso {w}/src-bytes {w}/bytes.iso", 1, "{w}/src-bytes"),
    ],
    "image info": [
        case("no image", "image info", 2, "required: image"),
        case("missing", "image info {w}/missing.iso", 1, "{w}/missing.iso: cannot open"),
        case("folder as ISO", "image info {w}/folder.iso", 1, "{w}/folder.iso"),
        case("folder as CUE", "image info {w}/folder.cue", 1, "{w}/folder.cue"),
        case("junk ISO", "image info {w}/junk.iso", 1, "{w}/junk.iso: offset"),
        case("junk CUE", "image info {w}/junk.cue", 1, "{w}/junk.cue: line 1"),
    ],
    "tape create": [
        case("bad type", "tape create A00001L8 --type LTO-99", 2, "invalid choice: 'LTO-99'"),
        case("exists", "tape create E01001L8 --dir {w}", 1, "{w}/E01001L8.tape"),
        case("dir a file", "tape create A00001L8 --dir {w}/file", 1, "{w}/file"),
    ],
    "tape info": [
        case("no file", "tape info", 2, "required: file"),
        case("missing", "tape info {w}/missing.tape", 1, "{w}/missing.tape: cannot open"),
        case("junk", "tape info {w}/junk.tape", 1, "{w}/junk.tape: offset 0"),
        case("folder", "tape info {w}/E01002L8.tape", 1, "{w}/E01002L8.tape"),
    ],
    "tape dump": [
        case("no file", "tape dump", 2, "required: file"),
        case("junk", "tape dump {w}/junk.tape", 1, "{w}/junk.tape: offset 0"),
        case("folder", "tape dump {w}/E01002L8.tape", 1, "{w}/E01002L8.tape"),
    ],
    "tape upgrade": [
        case("no file", "tape upgrade", 2, "required: FILE"),
        case("missing", "tape upgrade {w}/missing.tape", 1, "{w}/missing.tape: cannot open"),
        case("junk", "tape upgrade {w}/junk.tape", 1, "{w}/junk.tape: offset 0"),
        case("folder", "tape upgrade {w}/E01002L8.tape", 1, "{w}/E01002L8.tape"),
    ],
    "library status": [
        case("no daemon", "library --socket {w}/none.sock status", 1, "{w}/none.sock"),
        case("refused", "library --socket {w}/refuse.sock status vtl0", 1, "refused by this"),
    ],
    "library import": [
        case("no barcode", "library import", 2, "required: barcode"),
        case("no daemon", "library --socket {w}/none.sock import A00001L8", 1, "{w}/none.sock"),
    ],
    "osd info": [
        case("no root", "osd info", 2, "required: root"),
        case("no store", "osd info {w}", 1, "{w}/osd.sqlite3: no OSD store here"),
    ],
    "osd-client": [
        case("no portal", "osd-client list", 2, "required: --portal"),
        case(
            "arguments",
            "osd-client --portal 127.0.0.1:9 --target t --initiator i read 1",
            2,
            "osd-client read takes PID OID LENGTH",
        ),
        case(
            "bad portal",
            "osd-client --portal nowhere --target t --initiator i list",
            2,
            "--portal 'nowhere': expected HOST:PORT",
        ),
        case(
            "nobody there",
            "osd-client --portal 127.0.0.1:9 --target t --initiator i list",
            1,
            "127.0.0.1:9: [Errno 111] Connection refused",
        ),
    ],
    "library export": [
        case("no slot", "library export", 2, "required: slot"),
        case(
            "refused",
            "library --socket {w}/refuse.sock export 1 --library vtl0",
            1,
            "refused by this daemon",
        ),
    ],
    "completion": [
        case("no shell", "completion", 2, "required: shell"),
        case("unknown shell", "completion tcsh", 2, "invalid choice: 'tcsh'"),
        case("--json after", "completion bash --json", 2, "unrecognized arguments: --json"),
    ],
    "man": [
        case("an argument", "man devemu", 2, "unrecognized arguments: devemu"),
        case("--json", "--json man", 2, "--json: this command prints no JSON"),
    ],
    "vm": [
        case("no command", "vm --timeout 1 --", 2, "no command given"),
        case(
            "missing config", "vm --timeout 1 --config {w}/missing.toml -- true", 1, "cannot read"
        ),
        case(
            "bad config",
            "vm --timeout 1 --config {w}/bad-syntax.toml -- true",
            1,
            "{w}/bad-syntax.toml: line 3, column",
        ),
        case(
            "state_dir a file",
            "vm --timeout 1 --config {w}/state-file.toml -- true",
            1,
            "daemon.state_dir",
        ),
    ],
}
ALL_CASES = [
    pytest.param(command, *param.values, marks=param.marks, id=f"{command}: {param.id}")  # type: ignore[attr-defined]
    for command, params in CASES.items()
    for param in params
]


def leaf_commands(parser: argparse.ArgumentParser, prefix: str = "") -> Iterator[str]:
    """Every runnable command of ``parser``: ``serve``, ``disk create``, ``vm``, ..."""
    groups = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not groups:
        yield prefix
        return
    for group in groups:
        for name, sub in group.choices.items():
            yield from leaf_commands(sub, f"{prefix} {name}".strip())


#: Commands that read no file, socket or host: only their command line can be wrong.
NOTHING_TO_FAIL = {"completion", "man"}


def test_every_command_has_cases() -> None:
    assert sorted(leaf_commands(build_parser())) == sorted(CASES)
    for command, params in CASES.items():
        statuses = {param.values[0].status for param in params}  # type: ignore[attr-defined]
        assert (1 in statuses) != (command in NOTHING_TO_FAIL), command


class FakeDaemon:
    """A control socket that answers every request with ``answer``."""

    def __init__(self, path: Path, answer: bytes) -> None:
        self.answer = answer
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(path))
        os.chmod(path, 0o666)
        self.sock.listen(16)
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            with conn, contextlib.suppress(OSError):
                conn.recv(65536)
                conn.sendall(self.answer)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


def make_world(world: Path) -> None:
    """The folder of bad inputs: folders named like images, junk, a plain file, configs."""
    for folder in ("folder.iso", "folder.cue", "E01002L8.tape", "src", "src-bytes"):
        (world / folder).mkdir()
    (world / "src" / "a.txt").write_text("a\n")
    with open(os.path.join(os.fsencode(world / "src-bytes"), b"\xff.txt"), "wb") as out:
        out.write(b"b\n")
    junk = bytes(range(256)) * 19 + bytes(136)  # 5000 bytes, no sheet, no header
    for name in ("junk.iso", "junk.tape"):
        (world / name).write_bytes(junk)
    (world / "junk.cue").write_bytes(b"\x01\x02 GARBAGE\n")
    (world / "file").write_text("x\n")
    (world / "E01001L8.tape").write_text("x\n")
    for name, text in CONFIGS.items():
        (world / name).write_text(text)


@dataclass(frozen=True)
class Outcome:
    status: int
    stderr: str


def _environment() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DEVEMU_SOCKET"}


def run_devemu(case: Case, world: Path) -> Outcome:
    """``python -m devemu`` with the case's arguments, as nobody when it says so."""
    argv = [sys.executable, "-m", "devemu", *case.command_line(world)]
    if case.as_nobody and os.geteuid() == 0:
        if SETPRIV is None:
            return Outcome(-1, "setpriv is needed to run as nobody")
        argv = [SETPRIV, f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", *argv]
    done = subprocess.run(
        argv,
        cwd=world,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    return Outcome(done.returncode, done.stderr)


def fork_cases(world: Path, cases: dict[str, Case]) -> dict[str, Outcome]:
    """Run each case in its own child of one interpreter (this file run as a script)."""
    request = {key: c.command_line(world) for key, c in cases.items()}
    done = subprocess.run(
        [sys.executable, __file__],
        cwd=world,
        env=_environment(),
        input=json.dumps(request),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    answers = json.loads(done.stdout)
    return {key: Outcome(*answers[key]) for key in cases}


def _child(argv: list[str]) -> int:
    """What ``python -m devemu ARGV`` does, in a forked child."""
    from devemu.cli import main  # noqa: PLC0415

    try:
        return main(argv)
    except SystemExit as leaving:
        return leaving.code if isinstance(leaving.code, int) else 1
    except BaseException:
        traceback.print_exc()
        return 1


def _fork_server() -> None:
    """Read ``{key: argv}`` on stdin, answer ``{key: [status, stderr]}`` on stdout."""
    # Every command's modules imported once, before the forks.
    build_parser()
    import devemu.cdrom.iso_writer  # noqa: F401, PLC0415

    request: dict[str, list[str]] = json.load(sys.stdin)
    answers: dict[str, tuple[int, str]] = {}
    for key, argv in request.items():
        with tempfile.TemporaryFile() as err:
            sys.stdout.flush()
            pid = os.fork()
            if pid == 0:
                code = 1
                try:
                    null = os.open(os.devnull, os.O_WRONLY)
                    os.dup2(null, 1)
                    os.dup2(err.fileno(), 2)
                    code = _child(argv)
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
            _, wait_status = os.waitpid(pid, 0)
            err.seek(0)
            answers[key] = (os.waitstatus_to_exitcode(wait_status), err.read().decode())
    json.dump(answers, sys.stdout)


@pytest.fixture(scope="module")
def world() -> Iterator[Path]:
    # Not under pytest's tmp_path: `nobody` must be able to read it.
    folder = Path(tempfile.mkdtemp(prefix="devemu-cli-"))
    folder.chmod(0o755)
    daemons = []
    try:
        make_world(folder)
        daemons.append(
            FakeDaemon(
                folder / "refuse.sock", b'{"ok": false, "error": "refused by this daemon"}\n'
            )
        )
        daemons.append(FakeDaemon(folder / "garbage.sock", b"this is not JSON\n"))
        yield folder
    finally:
        for daemon in daemons:
            daemon.close()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def outcomes(world: Path) -> dict[str, Outcome]:
    """Every case's outcome: the forked ones in one go, ``python -m devemu`` for the rest."""
    cases = {
        f"{command}: {param.id}": param.values[0]  # type: ignore[attr-defined]
        for command, params in CASES.items()
        for param in params
    }
    forked = {key: c for key, c in cases.items() if not c.as_nobody}
    results = fork_cases(world, forked)
    for key, c in cases.items():
        if c.as_nobody:
            results[key] = run_devemu(c, world)
    return results


@pytest.mark.parametrize(("command", "case_"), ALL_CASES)
def test_bad_input_gets_one_line_and_the_right_status(
    command: str, case_: Case, world: Path, outcomes: dict[str, Outcome]
) -> None:
    outcome = outcomes[f"{command}: {case_.label}"]
    if outcome.status == -1:
        pytest.skip(outcome.stderr)
    says = case_.says.replace("{w}", str(world))
    assert "Traceback" not in outcome.stderr
    lines = outcome.stderr.splitlines()
    assert (outcome.status, says in outcome.stderr) == (case_.status, True), outcome.stderr
    if case_.status == 1:
        assert len(lines) == 1, outcome.stderr
        assert lines[0].startswith("devemu"), outcome.stderr
    else:
        assert lines[-1].startswith("devemu"), outcome.stderr


def test_refused_serve_made_nothing(world: Path, outcomes: dict[str, Outcome]) -> None:
    assert outcomes, "no case ran"
    assert [name for name in NEVER_CREATED if (world / name).exists()] == []


if __name__ == "__main__":
    _fork_server()
