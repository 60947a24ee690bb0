"""Where an OSD keeps its objects: files and folders, and an SQLite table.

Theory of operation
-------------------
The store lives in one folder the configuration names. Each partition
is a folder ``<partition id>`` (16 hex digits), each user object a file
``<partition id>/<object id>`` and each collection a folder
``<partition id>/<collection id>.collection``; the bytes of a user
object are the bytes of its file, so its logical length is the file's
size and PUNCH punches a hole in it (``fallocate`` with
``FALLOC_FL_PUNCH_HOLE``). Every path is built from numbers: nothing
from a CDB ever names a file.

Which objects exist, when they were made, and every attribute that is
not derived from a file (user names, application-defined pages,
quotas, collection membership) are rows of ``osd.sqlite3`` in the same
folder, opened in WAL mode with ``synchronous=FULL``: a committed
transaction survives a kill -9 and a power cut, and a torn one is rolled
back when the database is opened again.

Order makes the pair crash-safe. Creating commits the row first and then
makes the file or folder; removing commits the row's deletion and then
removes the file. So after a crash the table is the truth, and
:meth:`ObjectStore.open` settles the files to it: a row without its file
gets an empty one (the create had not got that far), a file without a
row is removed (the remove had not got that far). Data written into an
object goes straight to its file with ``os.pwritev``; a kill -9 loses
nothing the kernel took, FUA and FLUSH add ``fdatasync``.

The daemon builds the store in its main thread and serves the ring in a
worker thread, so the connection is opened with ``check_same_thread``
off; one thread at a time runs the device's commands.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from devemu.errors import ImageError
from devemu.iov import pwrite_all
from devemu.osd.cdb import ObjectType

DATABASE = "osd.sqlite3"
#: OSD-2 4.6.4, 4.6.5: partition and object ids below 10000h are reserved.
FIRST_ID = 0x10000
#: Object ids of the root and of a partition itself in the table (OSD-2 4.6).
ROOT_ID = 0
PARTITION_OBJECT_ID = 0
_OPEN_FILES = 64
_FALLOC_FL_KEEP_SIZE = 0x01
_FALLOC_FL_PUNCH_HOLE = 0x02

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS objects (
    pid INTEGER NOT NULL, oid INTEGER NOT NULL, type INTEGER NOT NULL,
    created INTEGER NOT NULL, PRIMARY KEY (pid, oid));
CREATE TABLE IF NOT EXISTS attributes (
    pid INTEGER NOT NULL, oid INTEGER NOT NULL, page INTEGER NOT NULL,
    number INTEGER NOT NULL, value BLOB NOT NULL, PRIMARY KEY (pid, oid, page, number));
CREATE TABLE IF NOT EXISTS secret_keys (
    pid INTEGER NOT NULL, slot INTEGER NOT NULL, identifier BLOB NOT NULL,
    seed BLOB NOT NULL, PRIMARY KEY (pid, slot));
"""


def _sql(value: int) -> int:
    """A 64-bit unsigned id as SQLite's signed INTEGER."""
    return value - (1 << 64) if value >= 1 << 63 else value


def _unsql(value: int) -> int:
    return value + (1 << 64) if value < 0 else value


class StoreError(ImageError):
    """The store's database cannot be used: the file and the reason, on one line."""


class ObjectStore:
    """Partitions, collections and user objects of one OSD logical unit."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.database_path = root / DATABASE
        try:
            self.db = sqlite3.connect(
                self.database_path, isolation_level=None, check_same_thread=False
            )
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise StoreError(self.database_path, None, str(err)) from None
        self._files: OrderedDict[tuple[int, int], int] = OrderedDict()
        self._settle()

    # --- the table -----------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One SQLite transaction: committed whole or not at all."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def _meta(self, key: str, default: int = 0) -> int:
        row = self.db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return default if row is None else int(row[0])

    def _set_meta(self, db: sqlite3.Connection, key: str, value: int) -> None:
        db.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    @property
    def formatted(self) -> bool:
        return bool(self._meta("formatted"))

    @property
    def capacity(self) -> int:
        """The formatted capacity in bytes (FORMAT OSD, OSD-2 6.9)."""
        return self._meta("capacity")

    # --- paths ---------------------------------------------------------------------

    def partition_path(self, pid: int) -> Path:
        return self.root / f"{pid:016x}"

    def object_path(self, pid: int, oid: int) -> Path:
        return self.partition_path(pid) / f"{oid:016x}"

    def collection_path(self, pid: int, cid: int) -> Path:
        return self.partition_path(pid) / f"{cid:016x}.collection"

    def _settle(self) -> None:
        """Make the files agree with the table after a crash (see the module text)."""
        rows = self.db.execute("SELECT pid, oid, type FROM objects").fetchall()
        known: dict[int, dict[str, ObjectType]] = {}
        for pid_s, oid_s, kind in rows:
            pid, oid = _unsql(pid_s), _unsql(oid_s)
            names = known.setdefault(pid, {})
            if kind == ObjectType.USER:
                names[f"{oid:016x}"] = ObjectType.USER
            elif kind == ObjectType.COLLECTION:
                names[f"{oid:016x}.collection"] = ObjectType.COLLECTION
        for entry in os.scandir(self.root):
            if entry.name == DATABASE or entry.name.startswith(DATABASE):
                continue
            try:
                pid = int(entry.name, 16)
            except ValueError:
                continue
            if len(entry.name) != 16 or pid not in known:
                shutil.rmtree(entry.path, ignore_errors=True)
        for pid, names in known.items():
            folder = self.partition_path(pid)
            folder.mkdir(exist_ok=True)
            for entry in os.scandir(folder):
                if entry.name not in names:
                    if entry.is_dir(follow_symlinks=False):
                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        os.unlink(entry.path)
            for name, kind in names.items():
                path = folder / name
                if kind is ObjectType.COLLECTION:
                    path.mkdir(exist_ok=True)
                elif not path.exists():
                    path.touch()

    # --- formatting and partitions -------------------------------------------------

    def format(self, capacity: int) -> None:
        """FORMAT OSD (OSD-2 6.9): every partition and object gone, a new capacity."""
        self.close_files()
        with self.transaction() as db:
            db.execute("DELETE FROM objects")
            db.execute("DELETE FROM attributes")
            db.execute("DELETE FROM secret_keys")
            db.execute("DELETE FROM meta")
            self._set_meta(db, "formatted", 1)
            self._set_meta(db, "capacity", capacity)
            self._set_meta(db, "created", int(time.time() * 1000))
        self._settle()

    def partitions(self, start: int = 0) -> list[int]:
        rows = self.db.execute(
            "SELECT pid FROM objects WHERE type = ? ORDER BY pid", (ObjectType.PARTITION,)
        )
        return [p for p in (_unsql(r[0]) for r in rows) if p >= start]

    def object_type(self, pid: int, oid: int) -> ObjectType | None:
        """What ``(pid, oid)`` is, or None when it does not exist (root: (0, 0))."""
        if pid == ROOT_ID and oid == ROOT_ID:
            return ObjectType.ROOT if self.formatted else None
        row = self.db.execute(
            "SELECT type FROM objects WHERE pid = ? AND oid = ?", (_sql(pid), _sql(oid))
        ).fetchone()
        return None if row is None else ObjectType(row[0])

    def created(self, pid: int, oid: int) -> int:
        """Creation time in milliseconds since 1970 (root: when it was formatted)."""
        if pid == ROOT_ID and oid == ROOT_ID:
            return self._meta("created")
        row = self.db.execute(
            "SELECT created FROM objects WHERE pid = ? AND oid = ?", (_sql(pid), _sql(oid))
        ).fetchone()
        return 0 if row is None else int(row[0])

    def _next_id(self, db: sqlite3.Connection, key: str, taken: Iterable[int]) -> int:
        candidate = max(self._meta(key, FIRST_ID), FIRST_ID)
        used = set(taken)
        while candidate in used:
            candidate += 1
        self._set_meta(db, key, candidate + 1)
        return candidate

    def create_partition(self, requested: int) -> int:
        """CREATE PARTITION (OSD-2 6.7); 0 lets the store choose. Raises KeyError when taken."""
        with self.transaction() as db:
            if requested:
                if self.object_type(requested, PARTITION_OBJECT_ID) is not None:
                    raise KeyError(requested)
                pid = requested
            else:
                pid = self._next_id(db, "next_pid", self.partitions())
            db.execute(
                "INSERT INTO objects VALUES (?, ?, ?, ?)",
                (_sql(pid), PARTITION_OBJECT_ID, ObjectType.PARTITION, int(time.time() * 1000)),
            )
        self.partition_path(pid).mkdir(exist_ok=True)
        return pid

    def remove_partition(self, pid: int) -> None:
        """REMOVE PARTITION (OSD-2 6.20): the partition and whatever it still holds."""
        for key in [k for k in self._files if k[0] == pid]:
            self._close(*key)
        with self.transaction() as db:
            db.execute("DELETE FROM objects WHERE pid = ?", (_sql(pid),))
            db.execute("DELETE FROM attributes WHERE pid = ?", (_sql(pid),))
            db.execute("DELETE FROM secret_keys WHERE pid = ?", (_sql(pid),))
        shutil.rmtree(self.partition_path(pid), ignore_errors=True)

    # --- objects -------------------------------------------------------------------

    def objects(self, pid: int, start: int = 0, kind: ObjectType | None = None) -> list[int]:
        """Ids of the user objects and collections of ``pid`` from ``start``, in order."""
        sql = "SELECT oid FROM objects WHERE pid = ? AND oid != 0"
        args: list[int] = [_sql(pid)]
        if kind is not None:
            sql += " AND type = ?"
            args.append(kind)
        ids = sorted(_unsql(r[0]) for r in self.db.execute(sql, args))
        return [i for i in ids if i >= start]

    def create_objects(self, pid: int, requested: int, count: int, kind: ObjectType) -> list[int]:
        """CREATE / CREATE COLLECTION (OSD-2 6.4, 6.5): ``count`` new ids from ``requested``.

        ``requested`` 0 lets the store choose. KeyError names an id in use.
        """
        with self.transaction() as db:
            existing = self.objects(pid)
            if requested:
                ids = list(range(requested, requested + count))
                taken = set(existing).intersection(ids)
                if taken:
                    raise KeyError(min(taken))
                self._set_meta(
                    db, f"next_oid.{pid}", max(self._meta(f"next_oid.{pid}"), ids[-1] + 1)
                )
            else:
                ids = []
                used = set(existing)
                for _ in range(count):
                    oid = self._next_id(db, f"next_oid.{pid}", used)
                    used.add(oid)
                    ids.append(oid)
            now = int(time.time() * 1000)
            db.executemany(
                "INSERT INTO objects VALUES (?, ?, ?, ?)",
                [(_sql(pid), _sql(oid), kind, now) for oid in ids],
            )
        for oid in ids:
            if kind is ObjectType.COLLECTION:
                self.collection_path(pid, oid).mkdir(exist_ok=True)
            else:
                self.object_path(pid, oid).touch()
        return ids

    def remove_object(self, pid: int, oid: int) -> None:
        """REMOVE / REMOVE COLLECTION (OSD-2 6.19, 6.21): the row, then the file."""
        kind = self.object_type(pid, oid)
        self._close(pid, oid)
        with self.transaction() as db:
            db.execute("DELETE FROM objects WHERE pid = ? AND oid = ?", (_sql(pid), _sql(oid)))
            db.execute("DELETE FROM attributes WHERE pid = ? AND oid = ?", (_sql(pid), _sql(oid)))
        if kind is ObjectType.COLLECTION:
            shutil.rmtree(self.collection_path(pid, oid), ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.object_path(pid, oid))

    # --- data ----------------------------------------------------------------------

    def fd(self, pid: int, oid: int) -> int:
        """An open read-write descriptor of a user object's file (a few kept open)."""
        key = (pid, oid)
        fd = self._files.get(key)
        if fd is not None:
            self._files.move_to_end(key)
            return fd
        fd = os.open(self.object_path(pid, oid), os.O_RDWR | os.O_CLOEXEC)
        self._files[key] = fd
        if len(self._files) > _OPEN_FILES:
            _, old = self._files.popitem(last=False)
            os.close(old)
        return fd

    def _close(self, pid: int, oid: int) -> None:
        fd = self._files.pop((pid, oid), None)
        if fd is not None:
            os.close(fd)

    def close_files(self) -> None:
        while self._files:
            os.close(self._files.popitem()[1])

    def close(self) -> None:
        self.close_files()
        self.db.close()

    def logical_length(self, pid: int, oid: int) -> int:
        return os.fstat(self.fd(pid, oid)).st_size

    def partition_bytes(self, pid: int) -> int:
        """The logical lengths of a partition's user objects, added up (capacity quota)."""
        total = 0
        with os.scandir(self.partition_path(pid)) as entries:
            for entry in entries:
                if entry.is_file(follow_symlinks=False):
                    total += entry.stat(follow_symlinks=False).st_size
        return total

    def used_capacity(self, pid: int, oid: int) -> int:
        return os.fstat(self.fd(pid, oid)).st_blocks * 512

    def write(self, pid: int, oid: int, offset: int, buffers: Sequence[memoryview]) -> int:
        return pwrite_all(self.fd(pid, oid), buffers, offset)

    def read(self, pid: int, oid: int, offset: int, buffers: Sequence[memoryview]) -> int:
        return os.preadv(self.fd(pid, oid), list(buffers), offset)

    def sync(self, pid: int, oid: int) -> None:
        os.fdatasync(self.fd(pid, oid))

    def sync_all(self, pid: int | None = None) -> None:
        for (p, _o), fd in list(self._files.items()):
            if pid is None or p == pid:
                os.fdatasync(fd)

    def truncate(self, pid: int, oid: int, length: int) -> None:
        os.ftruncate(self.fd(pid, oid), length)

    def punch(self, pid: int, oid: int, offset: int, length: int) -> None:
        """PUNCH (OSD-2 6.16): deallocate a range; it reads back as zeros."""
        fd = self.fd(pid, oid)
        end = min(offset + length, os.fstat(fd).st_size)
        if end <= offset:
            return
        try:
            _fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, end - offset)
        except OSError:
            self.clear(pid, oid, offset, end - offset)

    def clear(self, pid: int, oid: int, offset: int, length: int) -> None:
        """CLEAR (OSD-2 6.3): zeros over a range, within the logical length."""
        fd = self.fd(pid, oid)
        end = min(offset + length, os.fstat(fd).st_size)
        chunk = bytes(min(1 << 20, max(end - offset, 0)))
        at = offset
        while at < end:
            at += os.pwrite(fd, chunk[: end - at], at)

    # --- attributes ----------------------------------------------------------------

    def attribute(self, pid: int, oid: int, page: int, number: int) -> bytes | None:
        row = self.db.execute(
            "SELECT value FROM attributes WHERE pid = ? AND oid = ? AND page = ? AND number = ?",
            (_sql(pid), _sql(oid), page, number),
        ).fetchone()
        return None if row is None else bytes(row[0])

    def attribute_pair(
        self, first: tuple[int, int, int, int], second: tuple[int, int, int, int]
    ) -> tuple[bytes | None, bytes | None]:
        """Two attributes, each (pid, oid, page, number), in one query (the quotas of a write)."""
        keys = [(_sql(p), _sql(o), pg, n) for p, o, pg, n in (first, second)]
        rows = self.db.execute(
            "SELECT pid, oid, page, number, value FROM attributes WHERE"
            " (pid = ? AND oid = ? AND page = ? AND number = ?) OR"
            " (pid = ? AND oid = ? AND page = ? AND number = ?)",
            (*keys[0], *keys[1]),
        ).fetchall()
        found = {(r[0], r[1], r[2], r[3]): bytes(r[4]) for r in rows}
        return found.get(keys[0]), found.get(keys[1])

    def page_attributes(self, pid: int, oid: int, page: int) -> dict[int, bytes]:
        rows = self.db.execute(
            "SELECT number, value FROM attributes WHERE pid = ? AND oid = ? AND page = ?",
            (_sql(pid), _sql(oid), page),
        )
        return {int(n): bytes(v) for n, v in rows}

    def pages(self, pid: int, oid: int) -> list[int]:
        rows = self.db.execute(
            "SELECT DISTINCT page FROM attributes WHERE pid = ? AND oid = ? ORDER BY page",
            (_sql(pid), _sql(oid)),
        )
        return [int(r[0]) for r in rows]

    def set_attributes(
        self, db: sqlite3.Connection, pid: int, oid: int, values: Iterable[tuple[int, int, bytes]]
    ) -> None:
        """Store (page, number, value) triples inside a :meth:`transaction`; b"" removes one."""
        for page, number, value in values:
            key = (_sql(pid), _sql(oid), page, number)
            if value:
                db.execute(
                    "INSERT OR REPLACE INTO attributes VALUES (?, ?, ?, ?, ?)", (*key, value)
                )
            else:
                db.execute(
                    "DELETE FROM attributes WHERE pid = ? AND oid = ? AND page = ? AND number = ?",
                    key,
                )

    # --- secret keys (SET KEY, OSD-2 6.26) -------------------------------------------

    def set_key(
        self, pid: int, slot: int, identifier: bytes, seed: bytes, attribute: tuple[int, int]
    ) -> None:
        """Keep a key's identifier and seed, and show the identifier as ``attribute``.

        ``slot`` tells the root key, the partition key and the working keys
        apart; the seed stays in a table no attribute reads, the identifier
        goes to the policy/security page in the same transaction.
        """
        page, number = attribute
        with self.transaction() as db:
            db.execute(
                "INSERT OR REPLACE INTO secret_keys VALUES (?, ?, ?, ?)",
                (_sql(pid), slot, identifier, seed),
            )
            self.set_attributes(db, pid, 0, [(page, number, identifier)])

    def key(self, pid: int, slot: int) -> tuple[bytes, bytes] | None:
        """(identifier, seed) of a key SET KEY stored, or None."""
        row = self.db.execute(
            "SELECT identifier, seed FROM secret_keys WHERE pid = ? AND slot = ?", (_sql(pid), slot)
        ).fetchone()
        return None if row is None else (bytes(row[0]), bytes(row[1]))

    def holders(self, pid: int, page: int, value: bytes) -> list[int]:
        """Objects of ``pid`` with an attribute of ``page`` equal to ``value`` (collections)."""
        rows = self.db.execute(
            "SELECT DISTINCT oid FROM attributes WHERE pid = ? AND page = ? AND value = ?",
            (_sql(pid), page, value),
        )
        return sorted(_unsql(r[0]) for r in rows)


def _fallocate(fd: int, mode: int, offset: int, length: int) -> None:
    import ctypes  # noqa: PLC0415
    import ctypes.util  # noqa: PLC0415

    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    if libc.fallocate(fd, mode, offset, length) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, os.strerror(errno))


def summary(root: Path) -> dict[str, object]:
    """What a store holds, read without changing anything (``devemu osd info``).

    The database is opened read-only (a serving daemon may hold it open;
    WAL lets both read); sizes come from the files.
    """
    path = root / DATABASE
    if not path.is_file():
        raise StoreError(path, None, "no OSD store here")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        rows = db.execute("SELECT pid, oid, type FROM objects ORDER BY pid, oid").fetchall()
        db.close()
    except sqlite3.DatabaseError as err:
        raise StoreError(path, None, str(err)) from None
    partitions: dict[int, dict[str, object]] = {}
    for pid_s, oid_s, kind in rows:
        pid, oid = _unsql(pid_s), _unsql(oid_s)
        part = partitions.setdefault(pid, {"partition_id": pid, "objects": [], "collections": []})
        if kind == ObjectType.PARTITION:
            continue
        if kind == ObjectType.COLLECTION:
            part["collections"].append(oid)  # type: ignore[attr-defined]
            continue
        file = root / f"{pid:016x}" / f"{oid:016x}"
        try:
            st = file.stat()
            size, used = st.st_size, st.st_blocks * 512
        except FileNotFoundError:
            size = used = 0
        part["objects"].append({"object_id": oid, "length": size, "allocated": used})  # type: ignore[attr-defined]
    return {
        "root": str(root),
        "formatted": bool(meta.get("formatted")),
        "capacity": int(meta.get("capacity", 0)),
        "partitions": list(partitions.values()),
    }
