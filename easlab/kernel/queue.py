"""Queue services: a durable stream of records, consumer groups and watchers (SPEC §4).

A ``Queue`` keeps its records in SQLite (WAL, ``synchronous=FULL``): a put is
acknowledged with its index only once it is on disk, so a kernel killed right
after still has it. The kernel keeps each record's index, tags and size in
memory (``Entry``, index order) for gets, searches and deliveries; its data stays
on disk and is read when the record is delivered, so a full queue does not fill
the kernel's memory (a record just put is handed to its watchers from memory).
Each consumer group (``gid``) sees every record;
inside a group, records go round robin to its watchers (one per ``uid``), at
most ``window`` uncommitted ones per watcher; a watch with tags gets only the
records that have them (the group keeps the others for a watcher that takes
them); a watcher that goes away hands
its uncommitted records back to the group, which delivers them again. A
commit is the group's "done" whenever it comes: a record committed before the
group delivered it (read by a get, say) is never delivered to that group.

A record put with ``_priority_=1`` (the EAS manual's "send priority data") is
urgent: each group delivers the urgent records waiting in it (not delivered yet,
or given back) before any other, in index order, then the rest in index order.
Its index is still the next one, and a get still reads in index order: priority
changes what is delivered first, not where a record is. A group keeps the urgent
records that wait in it in a small sorted list (``Group.urgent``), so puts and
deliveries with none waiting cost what they did; one delivered ahead of the
group's cursor is ``jumped`` until committed, then ``ahead`` (done, passed over).

What a restart must not lose is on disk too: each record's put time, each
group's cursor (table ``groups``) and, for records one group has committed while
another still needs them, that group's acknowledgement (table ``acks``). A
kernel started again delivers, per group, every record below the cursor that is
still stored and not acknowledged: delivered-but-uncommitted records come again
(at least once), committed ones do not. The ``_priority_`` tag is on disk with the
record, so urgent records still waiting go first after a restart too.

A put is idempotent per ``requestId`` (SPEC §4: the official client retries a put
whose answer it did not get, and so may a user after a lost connection). A put
that repeats one of the queue's ``RECENT_PUTS`` latest puts with a requestId (the
same requestId, data and tags) is that put again: answered with its index, stored
and delivered once, even once its record was consumed (an async service does not
run the model for it again). This memory (table ``recent_puts``) is written with
the put and survives a restart; a put costs one row more, whatever the queue holds.
"""

from __future__ import annotations

import asyncio
import bisect
import hashlib
import json
import os
import sqlite3
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from easlab.spec import QUEUE_LIMITS
from easlab.wire.proto import queue_pb2

DEFAULT_MAX_LENGTH = 1_000_000
DEFAULT_MAX_PAYLOAD = 8 * 1024 * 1024
#: the most data one get answers (a get with a huge ``_length_`` read the whole queue
#: into the kernel's memory, and into one answer); the client gets the rest next time
MAX_GET_BYTES = 64 * 1024 * 1024
REQUEST_ID = "requestId"
#: the put's query field (kept as a tag) that makes a record high-priority: ``_priority_=1``
#: (the EAS manual's "send priority data"); such a record is delivered before the
#: records waiting in each group, and ``0`` or none is a normal record
PRIORITY = "_priority_"
#: the tag of an async service's answer that names its input record (async_inference.py)
SOURCE_INDEX = "sourceIndex"
#: a group with no watcher for this long stops holding records back (see _expire_idle)
GROUP_IDLE_EXPIRY_S = 600.0
#: the group an async service's feeder consumes its input queue in
#: (async_inference.GROUP): it never expires, a stopped service still needs its inputs
FEEDER_GROUP = "easlab-async"
#: the bounds of an index, a length or a window: SQLite's INTEGER (int64)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
#: how many records one SELECT reads back (SQLite's limit on parameters is 32766)
_LOAD_CHUNK = 500
#: how many of a queue's latest puts with a requestId it remembers, consumed or not, to
#: answer a retried one with its first index (``Queue.recent``): ~300 bytes each
RECENT_PUTS = 10_000


class QueueError(Exception):
    """A queue call refused with an HTTP status (the text is the answer's body)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(slots=True)
class Entry:
    """What the kernel keeps in memory of a stored record; its data stays on disk."""

    index: int
    tags: dict[str, str]
    size: int  # bytes of data
    put_at: float = 0.0  # time.time() of the put

    @property
    def request_id(self) -> str:
        return self.tags.get(REQUEST_ID, "")

    @property
    def urgent(self) -> bool:
        """Put with ``_priority_=1``: delivered ahead of the records that wait."""
        return self.tags.get(PRIORITY) == "1"


@dataclass
class Record:
    """A record with its data, as a get, a watcher or a feeder receives it."""

    index: int
    tags: dict[str, str]
    data: bytes
    put_at: float = 0.0  # time.time() of the put

    @property
    def request_id(self) -> str:
        return self.tags.get(REQUEST_ID, "")

    def proto(self, index_only: bool = False) -> Any:
        df = queue_pb2.DataFrameProto(index=self.index)  # type: ignore[attr-defined]
        df.tags.update(self.tags)
        if not index_only:
            df.data = self.data
        return df


#: what ``Queue.put_soon`` calls once the record is on disk (or could not be written)
PutDone = Callable[[Record | QueueError], None]


class Consumer(Protocol):
    """Who a group delivers to: a websocket watcher or an async service's feeder."""

    uid: str
    #: what the group may deliver to it now (0 while it cannot take more)
    window: int
    #: the window its watch asked for (``_window_``): what attributes() shows
    full_window: int
    index_only: bool
    auto_commit: bool
    pending: set[int]
    #: a watch with tags takes only the records that have them (empty: every record)
    tags: dict[str, str]

    def deliver(self, record: Record) -> None: ...


@dataclass
class Group:
    gid: str
    cursor: int = 0  # records below this index were delivered once in this group
    consumers: list[Consumer] = field(default_factory=list)
    pending: dict[int, Consumer] = field(default_factory=dict)
    redeliver: list[int] = field(default_factory=list)  # sorted
    #: records at or past the cursor that a client committed before they were delivered
    #: in this group (read by get, say): done in this group, never delivered to it
    ahead: set[int] = field(default_factory=set)
    turn: int = 0
    idle_since: float | None = None  # time.monotonic() when its last watcher left
    #: records a consumer gave back with a delay (``release``): still its own, until then
    held: dict[int, object] = field(default_factory=dict)
    #: by a watch's tags (``_sig``): every record in ``redeliver`` up to this index has
    #: none of them, so a dispatch need not look at those again (a watch with tags and
    #: a long backlog of records it does not take made each put scan the backlog)
    vain: dict[tuple[tuple[str, str], ...], int] = field(default_factory=dict)
    #: by consumer uid: the index last delivered to it (or where its watch started) and
    #: time.monotonic() of its last delivery, commit or attach (attributes' Index, Idle)
    activity: dict[str, tuple[int, float]] = field(default_factory=dict)
    #: by uid: how many watches in a row replaced a live watcher of that uid (a
    #: reconnect does so once; two clients that share a uid do so for ever: queue_http)
    replaced: dict[str, int] = field(default_factory=dict)
    #: the urgent records (``_priority_=1``) that wait in this group, sorted: delivered
    #: before the others. Kept as they come (a put, a record given back), so a dispatch
    #: with none waiting costs nothing more; an entry no longer waiting (delivered
    #: meanwhile, committed) is dropped when a dispatch comes to it (``Queue._waits``).
    urgent: list[int] = field(default_factory=list)
    #: urgent records at or past the cursor delivered ahead of their turn and not yet
    #: committed: the cursor passes over them (they are pending, as any delivered record);
    #: once committed they are ``ahead`` (done in this group, never delivered to it again)
    jumped: set[int] = field(default_factory=set)
    #: ``vain`` for ``urgent``: by a watch's tags, every record in ``urgent`` up to this
    #: index has none of them (a sink's urgent answers left for other watches were
    #: looked at again on every put)
    urgent_vain: dict[tuple[tuple[str, str], ...], int] = field(default_factory=dict)

    def redelivers(self, index: int) -> bool:
        """Whether record ``index`` waits in ``redeliver`` (sorted: looked up, not scanned)."""
        pos = bisect.bisect_left(self.redeliver, index)
        return pos < len(self.redeliver) and self.redeliver[pos] == index

    def give_back(self, index: int) -> None:
        """Record ``index`` is to be delivered again in this group."""
        bisect.insort(self.redeliver, index)
        _not_vain(self.vain, index)

    def wait_urgent(self, index: int) -> None:
        """Urgent record ``index`` waits in this group again (given back)."""
        pos = bisect.bisect_left(self.urgent, index)
        if pos == len(self.urgent) or self.urgent[pos] != index:
            self.urgent.insert(pos, index)
            _not_vain(self.urgent_vain, index)


class Queue:
    """One queue: its store, its records' index in memory, its groups and long-polling gets."""

    def __init__(
        self,
        name: str,
        path: Path,
        token: str,
        max_length: int = DEFAULT_MAX_LENGTH,
        max_payload: int = DEFAULT_MAX_PAYLOAD,
    ) -> None:
        self.name = name
        self.path = path
        self.token = token
        self.max_length = max_length
        self.max_payload = max_payload
        #: where service.json sets this queue's limits, for the messages that name them:
        #: an asynchronous service's sink has its own (``settings_of(raw, "sink")``)
        self.limits_field = "queue.sink." if name.endswith("/sink") else "queue."
        self.max_get_bytes = MAX_GET_BYTES
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # 0600 from its first byte (sqlite would create it with the umask's mode; its
        # -wal and -shm files take the database file's mode)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
        os.chmod(path, 0o600)  # a file made by an older easlab may be 0644
        self.db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS records (idx INTEGER PRIMARY KEY AUTOINCREMENT, "
            "request_id TEXT UNIQUE, tags TEXT NOT NULL, data BLOB NOT NULL, put_at REAL)"
        )
        columns = {row[1] for row in self.db.execute("PRAGMA table_info(records)")}
        if "put_at" not in columns:
            # a queue file from before put times were kept: its records count from now
            self.db.execute("ALTER TABLE records ADD COLUMN put_at REAL")
            self.db.execute("UPDATE records SET put_at = ?", (time.time(),))
        self.db.execute("CREATE TABLE IF NOT EXISTS groups (gid TEXT PRIMARY KEY, cursor INTEGER)")
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS acks (gid TEXT, idx INTEGER, PRIMARY KEY (gid, idx))"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS recent_puts (key TEXT PRIMARY KEY, "
            "idx INTEGER NOT NULL, digest BLOB NOT NULL)"
        )
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS consumed (request_id TEXT NOT NULL, "
            "source_index INTEGER NOT NULL, PRIMARY KEY (request_id, source_index))"
        )
        #: an async service's sink: the input queue its answers are for (the kernel sets
        #: it). Its answers consumed while their input's commit is not on disk are
        #: remembered (``consumed``), so that a kernel killed in between does not answer
        #: that input a second time (``answered``).
        self.answers_for: Queue | None = None
        #: (requestId, the input record's index) of such consumed answers
        self.consumed: set[tuple[str, int]] = {
            (str(rid), int(idx))
            for rid, idx in self.db.execute("SELECT request_id, source_index FROM consumed")
        }
        self.records: dict[int, Entry] = {}
        self.order: list[int] = []
        #: the stored urgent records (``_priority_=1``), sorted: what a new group, or a
        #: group restored, starts its ``urgent`` from
        self.urgent: list[int] = []
        #: requestId -> the indexes of the records with it (several in a sink: one
        #: answer per input, and two inputs may share a requestId, put one after the other)
        self.by_request: dict[str, list[int]] = {}
        #: what makes a put the same record again (``_key``) -> its index
        self.by_key: dict[str, int] = {}
        #: the latest ``recent_limit`` puts with a requestId, stored or consumed, oldest
        #: first (so in index order): key (``_key``) -> (index, digest of data and tags).
        #: A put that repeats one is that put again (``_admit``).
        self.recent_limit = RECENT_PUTS
        self.recent: OrderedDict[str, tuple[int, bytes]] = OrderedDict(
            (str(key), (int(idx), bytes(digest)))
            for key, idx, digest in self.db.execute(
                "SELECT key, idx, digest FROM recent_puts ORDER BY idx"
            )
        )
        # length() of a BLOB is read from the row's header: the data stays on disk
        rows = self.db.execute("SELECT idx, tags, length(data), put_at FROM records ORDER BY idx")
        for idx, tags, size, put_at in rows:
            self._remember(Entry(idx, json.loads(tags), int(size or 0), float(put_at or 0.0)))
        # records just put, handed to watchers from memory while _accept dispatches them
        self._fresh: dict[int, Record] = {}
        row = self.db.execute("SELECT seq FROM sqlite_sequence WHERE name='records'").fetchone()
        self.last_index = int(row[0]) if row else 0
        self.groups: dict[str, Group] = {}
        self._restore_groups()
        self._changed = asyncio.Event()
        self._saved_cursor: dict[str, int] = {g.gid: g.cursor for g in self.groups.values()}
        # consumed in memory, not yet in the file (_write_consumption_soon)
        self._unwritten_gone: list[int] = []
        self._unwritten_acks: list[tuple[str, int]] = []
        self._unwritten_consumed: list[tuple[str, int]] = []
        self._unwritten_cursors: set[str] = set()
        self._write_scheduled = False
        self.group_expiry = GROUP_IDLE_EXPIRY_S
        self._pending_puts: list[tuple[bytes, dict[str, str], PutDone]] = []
        #: the keys (``_key``) of those with a requestId: a repeat is found without a scan
        self._pending_keys: set[str] = set()
        #: (key, index, digest) of the puts with a requestId the open transaction wrote
        self._noted: list[tuple[str, int, bytes]] = []
        self.put_writes = 0  # transactions that stored puts (group commit: fewer than puts)
        self._expiry_check_at = 0.0

    def _restore_groups(self) -> None:
        """Groups as a previous kernel left them: what each has yet to see, or to see again."""
        acked: dict[str, set[int]] = {}
        for gid, idx in self.db.execute("SELECT gid, idx FROM acks"):
            acked.setdefault(gid, set()).add(int(idx))
        for gid, cursor in self.db.execute("SELECT gid, cursor FROM groups"):
            group = Group(gid, cursor=int(cursor))
            done = acked.get(gid, set())
            # delivered before the restart and never committed: delivered again
            group.redeliver = [i for i in self.order if i < group.cursor and i not in done]
            group.ahead = {i for i in done if i >= group.cursor and i in self.records}
            # urgent records it has not had, or is to have again, still go first; one a
            # previous kernel delivered ahead of its turn and never saw committed is one
            # of those (at or past the cursor, not acknowledged)
            group.urgent = [
                i
                for i in self.urgent
                if (i not in group.ahead if i >= group.cursor else group.redelivers(i))
            ]
            group.idle_since = time.monotonic()  # no watcher yet in this kernel
            self.groups[gid] = group

    @property
    def puts(self) -> int:
        """Records ever accepted (indexes are never reused, SQLite AUTOINCREMENT)."""
        return self.last_index

    def stats(self) -> dict[str, Any]:
        """Depth, in flight, oldest record's age and totals: what ``%eas queue`` shows."""
        oldest = self.records[self.order[0]].put_at if self.order else None
        return {
            "length": len(self.records),
            "in_flight": self._in_flight(),
            "oldest_age_s": None if oldest is None else round(max(time.time() - oldest, 0.0), 3),
            "puts": self.puts,
            # every record accepted is stored until committed, deleted or truncated
            "consumed": self.puts - len(self.records),
            "last_index": self.last_index,
            "max_length": self.max_length,
            "max_payload_bytes": self.max_payload,
        }

    def _in_flight(self) -> int:
        """Records a consumer is processing (a record given back with a delay is not)."""
        return sum(len(g.pending) - len(g.held) for g in self.groups.values())

    def _remember(self, entry: Entry) -> None:
        self.records[entry.index] = entry
        self.order.append(entry.index)
        if entry.urgent:
            self.urgent.append(entry.index)  # the newest record: still sorted
        if entry.request_id:
            self.by_request.setdefault(entry.request_id, []).append(entry.index)
            self.by_key[self._key(entry.tags)] = entry.index

    def _key(self, tags: dict[str, str]) -> str:
        """What makes a put the same record again: its ``requestId`` (the official client
        retries a put); in an async service's sink, the requestId and the input's index:
        one answer per input, and an input put again later under the same requestId has
        an answer of its own (it was dropped as a repeat of the first one's)."""
        request_id = tags.get(REQUEST_ID, "")
        source = tags.get(SOURCE_INDEX)
        if source and self.name.endswith("/sink"):
            return f"{request_id}/{source}"
        return request_id

    def load(self, entries: list[Entry]) -> list[Record]:
        """The records of ``entries`` with their data, read from disk (in their order).

        A record deleted meanwhile is left out. A record is in memory only once it
        is on disk, and leaves memory before its row is deleted, so every entry a
        caller holds without yielding to the loop has its row.
        """
        fresh = self._fresh
        data: dict[int, bytes] = {}
        wanted = [e.index for e in entries if e.index not in fresh]
        for start in range(0, len(wanted), _LOAD_CHUNK):
            chunk = wanted[start : start + _LOAD_CHUNK]
            marks = ",".join("?" * len(chunk))
            rows = self.db.execute(f"SELECT idx, data FROM records WHERE idx IN ({marks})", chunk)
            data.update((int(idx), bytes(blob)) for idx, blob in rows)
        out = []
        for e in entries:
            record = fresh.get(e.index)
            if record is None and e.index in data:
                record = Record(e.index, e.tags, data[e.index], e.put_at)
            if record is not None:
                out.append(record)
        return out

    def close(self) -> None:
        for group in self.groups.values():
            for consumer in list(group.consumers):
                closer = getattr(consumer, "close", None)
                if closer is not None:
                    closer()
        try:
            self._write_puts()  # clients waiting for their index get it
            self._unwritten_cursors.update(self.groups)
            self._write_consumption()
        except sqlite3.Error:
            pass  # the cursors saved at the last commit stand
        self.db.close()

    # -- writes ----------------------------------------------------------------------

    def put(self, data: bytes, tags: dict[str, str]) -> Record:
        """Store one record (on disk before this returns); idempotent per ``requestId`` tag."""
        known = self._admit(data, tags)
        if known is not None:
            return known
        self._noted = []
        try:
            with self.db:
                self.db.execute("BEGIN")
                record = self._insert(data, tags)
                forget = self._forget_oldest_puts()
        except BaseException:
            self._noted = []  # rolled back: nothing to remember
            raise
        self.put_writes += 1
        self._note_puts(forget)
        self._accept([record])
        return record

    def put_soon(self, data: bytes, tags: dict[str, str], done: PutDone) -> None:
        """Store one record, calling ``done(record)`` once it is on disk.

        The puts of one event-loop pass (several clients' requests read together)
        share one transaction and so one fsync: group commit, as databases do.
        Every put is still on disk before it is answered. A refused put raises
        QueueError at once, as ``put`` does; a write that fails calls
        ``done(QueueError(500, ...))``.
        """
        known = self._admit(data, tags)
        if known is not None:
            done(known)
            return
        first = not self._pending_puts
        self._pending_puts.append((data, dict(tags), done))
        if tags.get(REQUEST_ID):
            self._pending_keys.add(self._key(tags))
        if first:
            try:
                asyncio.get_running_loop().call_soon(self._write_puts)
            except RuntimeError:  # outside the kernel's loop (a tool, a test): write now
                self._write_puts()

    def _admit(self, data: bytes, tags: dict[str, str]) -> Record | None:
        """The record this put repeats (same ``requestId``), or None; QueueError if refused."""
        request_id = tags.get(REQUEST_ID)
        key = self._key(tags)
        if request_id:
            known = self._repeated(key, data, tags)
            if known is not None:
                return known
        if request_id and key in self._pending_keys:
            raise QueueError(409, f"a put with requestId {request_id!r} is being written; retry")
        if len(data) > self.max_payload:
            field_ = f"{self.limits_field}max_payload_size_kb"
            raise QueueError(
                413,
                f"record of {len(data)} bytes is above the limit of queue '{self.name}', "
                f"{self.max_payload} bytes ({field_} {self.max_payload // 1024}): put a "
                f"smaller record, or raise {field_} in service.json",
            )
        if len(self.records) + len(self._pending_puts) >= self.max_length:
            raise QueueError(450, self._full_message())
        self._expire_idle()
        return None

    def bad_token(self, missing: bool) -> bytes:
        """The body of a 401: which token, the header it goes in, where it is found."""
        service = self.name.split("/", 1)[0]  # an async service's sink takes its token
        why = "missing" if missing else "wrong"
        return (
            f"{why} token for queue '{self.name}': send the token of service '{service}' "
            "as the Authorization header, or an EAS signature (QueueClient.set_token); "
            f"it is the Token of `easlab desc {service}` (easlab.desc({service!r})['token'])"
        ).encode()

    def _full_message(self) -> str:
        """Why a put is refused with 450: who holds the records, and the ways out.

        A consumer that never commits is the usual cause: each record it was given
        stays stored (at least once) until it is committed, so the message counts
        the records delivered and not committed, by group and consumer.
        """
        field_ = f"{self.limits_field}max_length"
        text = (
            f"queue '{self.name}' is full ({self.max_length} records, {field_} {self.max_length})"
        )
        feeder = self.groups.get(FEEDER_GROUP)
        if feeder is not None:
            # an async service's input queue: its service is the consumer, and commits
            # each record once the model answered it
            service = self.name
            at_model = sum(1 for i in feeder.pending if i in self.records)
            if not feeder.consumers:
                why = f"service '{service}' is not consuming it (not Running): start it"
            else:
                why = (
                    f"service '{service}' consumes it as its model answers ({at_model} at "
                    f"the model now): add instances (easlab modify {service} "
                    "-Dmetadata.instance=N)"
                )
            return f"{text}: {why}, or raise {field_} in service.json"
        held: dict[tuple[str, str], int] = {}
        uncommitted: set[int] = set()
        for group in self.groups.values():
            for index, consumer in group.pending.items():
                if index in self.records:
                    uncommitted.add(index)
                    key = (group.gid, consumer.uid)
                    held[key] = held.get(key, 0) + 1
            for index in group.redeliver:
                if index in self.records:
                    uncommitted.add(index)
                    key = (group.gid, "")
                    held[key] = held.get(key, 0) + 1
        if uncommitted:
            by = sorted(held.items(), key=lambda kv: (-kv[1], kv[0]))
            shown = [
                f"{n} by consumer '{uid}' of group '{gid}'"
                if uid
                else f"{n} given back in group '{gid}' by a consumer that left"
                for (gid, uid), n in by[:5]
            ]
            more = f" and {len(by) - 5} more" if len(by) > 5 else ""
            text += (
                f": {len(uncommitted)} of its records were delivered and never committed "
                f"({', '.join(shown)}{more}); a record stays until it is committed. "
                "Commit what was processed (QueueClient.commit(index), "
                "PUT ?_indexes_=...), or watch with auto_commit=True"
            )
        else:
            text += ": consume its records (get, or watch and commit)"
        return text + f", delete or truncate records, or raise {field_} in service.json"

    def _repeated(self, key: str, data: bytes, tags: dict[str, str]) -> Record | None:
        """The put this one repeats (its ``requestId``'s, with the same data and tags),
        or None for a new put; QueueError 409 for another put under a stored one's id.

        The official client retries every non-2xx answer: a put whose answer was lost
        after its record was stored comes again, maybe after the record was consumed.
        It is answered with the first put's index, and nothing is stored again.
        """
        seen = self.recent.get(key)
        stored = self.by_key.get(key)
        if seen is None and stored is None:
            return None  # a requestId not seen lately: nothing to compare (no hashing)
        digest = _digest(data, tags)
        if stored is not None:
            entry = self.records[stored]
            if seen is not None and seen[0] == stored:
                same = seen[1] == digest
            else:  # put before the queue remembered it: compared with the record itself
                known = self.load([entry])
                same = bool(known) and _digest(known[0].data, known[0].tags) == digest
            if same:
                return Record(stored, dict(entry.tags), data, entry.put_at)
            raise QueueError(
                409,
                f"queue '{self.name}' holds record {stored} with requestId "
                f"{tags.get(REQUEST_ID, '')!r} and other data or tags: a put under the "
                "requestId of a stored record is taken for a retry of it. Put this one "
                f"under another requestId (or once record {stored} is consumed)",
            )
        if seen is not None and seen[1] == digest:
            # consumed since: the same put again, answered as the first one was
            return Record(seen[0], dict(tags), data)
        # never put, or forgotten, or the requestId reused for other data: a new put
        return None

    def _insert(self, data: bytes, tags: dict[str, str]) -> Record:
        """INSERT one record inside the caller's transaction."""
        given = bool(tags.get(REQUEST_ID))
        digest = _digest(data, tags) if given else b""
        tags = dict(tags)
        tags[REQUEST_ID] = tags.get(REQUEST_ID) or str(uuid.uuid4())
        now = time.time()
        cur = self.db.execute(
            "INSERT INTO records (request_id, tags, data, put_at) VALUES (?, ?, ?, ?)",
            (self._key(tags), json.dumps(tags), data, now),
        )
        record = Record(int(cur.lastrowid or 0), tags, data, now)
        if given:  # a put with no requestId cannot be told from a new one: not remembered
            key = self._key(tags)
            self.db.execute(
                "INSERT OR REPLACE INTO recent_puts (key, idx, digest) VALUES (?, ?, ?)",
                (key, record.index, digest),
            )
            self._noted.append((key, record.index, digest))
        return record

    def _forget_oldest_puts(self) -> list[str]:
        """Inside the put transaction, once its records are inserted: delete the rows of
        the remembered puts that the ones being written push out (oldest first); the
        keys, for memory to follow once the transaction is on disk (``_note_puts``)."""
        noted = {key for key, _, _ in self._noted}
        recent = self.recent
        over = len(recent) + sum(1 for key in noted if key not in recent) - self.recent_limit
        if over <= 0:
            return []
        forget: list[str] = []
        for key in recent:  # oldest first: looks at no more than ``over`` + the batch
            if len(forget) >= over:
                break
            if key not in noted:
                forget.append(key)
        self.db.executemany("DELETE FROM recent_puts WHERE key = ?", [(k,) for k in forget])
        return forget

    def _note_puts(self, forget: list[str]) -> None:
        """The puts just written are remembered, the oldest ones forgotten (``recent``)."""
        recent = self.recent
        for key in forget:
            recent.pop(key, None)
        for key, index, digest in self._noted:
            recent.pop(key, None)
            recent[key] = (index, digest)
        self._noted = []

    def _write_puts(self) -> None:
        pending, self._pending_puts = self._pending_puts, []
        self._pending_keys = set()
        if pending:
            self._write_batch(pending)

    def _write_batch(self, pending: list[tuple[bytes, dict[str, str], PutDone]]) -> None:
        self._noted = []
        try:
            with self.db:  # one transaction, one fsync for every put of this pass
                self.db.execute("BEGIN")
                records = [self._insert(data, tags) for data, tags, _ in pending]
                forget = self._forget_oldest_puts()
            self.put_writes += 1
            self._note_puts(forget)
        except sqlite3.IntegrityError as exc:
            self._noted = []  # rolled back: nothing to remember
            if len(pending) > 1:  # one put the file refuses must not fail the others
                for one in pending:
                    self._write_batch([one])
                return
            request_id = pending[0][1].get(REQUEST_ID, "")
            pending[0][2](
                QueueError(
                    409,
                    f"queue '{self.name}' already stores a record with requestId "
                    f"{request_id!r} ({exc}): put it with another requestId",
                )
            )
            return
        except sqlite3.Error as exc:  # disk full, file gone: each waiting client is told
            self._noted = []
            failure = QueueError(500, f"queue '{self.name}' could not store the record: {exc}")
            for _, _, done in pending:
                done(failure)
            return
        self._accept(records)
        for record, (_, _, done) in zip(records, pending, strict=True):
            done(record)

    def _accept(self, records: list[Record]) -> None:
        """Records now on disk become visible: gets, watchers, stats."""
        for record in records:
            self.last_index = record.index
            entry = Entry(record.index, record.tags, len(record.data), record.put_at)
            self._remember(entry)
            if entry.urgent:
                for group in self.groups.values():
                    if entry.index >= group.cursor:  # not past it already (watch(index=N))
                        group.urgent.append(entry.index)  # the newest record: still sorted
        # the watchers that take them now get them without reading them back
        self._fresh = {record.index: record for record in records}
        try:
            self._wake()
        finally:
            self._fresh = {}

    def delete(self, indexes: list[int], dispatch: bool = True) -> int:
        gone = [i for i in indexes if i in self.records]
        if gone:
            consumed = self._consumed_answers(gone)
            with self.db:  # one transaction: one fsync
                self.db.execute("BEGIN")
                self.db.executemany("DELETE FROM records WHERE idx = ?", [(i,) for i in gone])
                self.db.executemany("DELETE FROM acks WHERE idx = ?", [(i,) for i in gone])
                if consumed:
                    self._write_consumed(consumed)
            self.consumed.update(consumed)
        self._forget(gone)
        if gone and dispatch:
            self._wake()
        return len(gone)

    def _forget(self, gone: list[int]) -> None:
        """Drop deleted records from memory (and from every group's pending)."""
        for i in gone:
            record = self.records.pop(i)
            if record.request_id:
                same = self.by_request.get(record.request_id, [])
                if i in same:
                    same.remove(i)
                if not same:
                    self.by_request.pop(record.request_id, None)
                key = self._key(record.tags)
                if self.by_key.get(key) == i:
                    del self.by_key[key]
            _drop(self.order, i)
            if record.urgent:
                _drop(self.urgent, i)
            for group in self.groups.values():
                consumer = group.pending.pop(i, None)
                if consumer is not None:
                    consumer.pending.discard(i)
                    group.held.pop(i, None)
                if group.ahead:
                    group.ahead.discard(i)
                if record.urgent:
                    _drop(group.urgent, i)
                    group.jumped.discard(i)

    def truncate(self, index: int) -> int:
        return self.delete(self.order[: bisect.bisect_left(self.order, index)])

    # -- reads -----------------------------------------------------------------------

    def select(
        self, index: int, length: int, request_id: str | None, tags: dict[str, str]
    ) -> list[Entry]:
        """Up to ``length`` records from ``index`` on with ``tags``, their data at most
        ``max_get_bytes`` together (one record at least: a get always makes progress).

        The records are walked from ``index`` until enough are found, never all of
        them: a get of one record from a deep queue is as cheap as from a short one.
        With ``tags`` or ``request_id`` only the ``length`` records from ``index`` on
        are looked at, and those that match answered, as the EAS manual says of
        ``get(tags=...)`` ("从指定index开始遍历length条数据,返回包含指定tags的数据": from
        index, go through length records, return those that have the tags) and of
        ``get(request_id=...)`` ("从index开始查询length个数据": SPEC §4's
        ``[index, index+length)``). A client after a record by id anywhere in the
        queue says so: ``index=0, length=<meta.maxLength>``.
        """
        order, records = self.order, self.records
        start = bisect.bisect_left(order, max(index, 0))
        # with tags or a request id, a window of ``length`` records: a record past it
        # is not answered even when those in it do not match
        stop = min(start + length, len(order)) if tags or request_id is not None else len(order)
        candidates: Iterable[Entry]
        if request_id is not None:
            # the records with this id (index order), looked up rather than walked to:
            # each is answered if its place in the queue is inside the window
            found = self.by_request.get(request_id, [])
            candidates = [records[i] for i in found if start <= bisect.bisect_left(order, i) < stop]
        else:
            candidates = (records[order[pos]] for pos in range(start, stop))
        out: list[Entry] = []
        size = 0
        for record in candidates:
            if all(record.tags.get(k) == v for k, v in tags.items()):
                if out and size + record.size > self.max_get_bytes:
                    break  # the rest comes with the next get
                out.append(record)
                size += record.size
                if len(out) >= length:
                    break
        return out

    async def get(
        self,
        index: int,
        length: int,
        timeout: float,
        auto_delete: bool,
        request_id: str | None,
        tags: dict[str, str],
        gone: Callable[[], bool] | None = None,
    ) -> list[Record]:
        """Up to ``length`` records from ``index`` on, waiting up to ``timeout`` s for one.

        ``gone`` tells whether the caller has gone away (its connection closed):
        then the wait ends with nothing taken. Whoever can tell that the caller left
        calls ``wake_waiters`` then, so the wait ends at once (queue_http registers it
        with the connection). ``gone`` is asked again right before the
        records are read and deleted (nothing yields in between), so a long poll its
        client gave up never deletes a record nobody will receive.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            if gone is not None and gone():
                return []
            found = self.select(index, length, request_id, tags)
            left = deadline - loop.time()
            if found or left <= 0:
                break
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), left)
            except asyncio.TimeoutError:
                pass
        records = self.load(found)
        if records and auto_delete:
            self.delete([r.index for r in records])
        return records

    def attributes(self) -> dict[str, str]:
        first = self.order[0] if self.order else 0
        return {
            "meta.name": self.name,
            "meta.maxPayloadBytes": str(self.max_payload),
            "meta.maxLength": str(self.max_length),
            "stream.length": str(len(self.records)),
            "stream.firstEntry": str(first),
            "stream.lastEntry": str(self.last_index),
            "stream.approxMaxLength": str(self.max_length),
            "stream.groups": str(len(self.groups)),
            "stream.consumers": str(sum(len(g.consumers) for g in self.groups.values())),
            "stream.pending": str(self._in_flight()),
            **self._consumer_attributes(),
        }

    def _consumer_attributes(self) -> dict[str, str]:
        """Each attached consumer as EAS's attributes list them (``consumers.list.[i]``).

        The columns and their spelling are the EAS manual's ("Queue service
        subscription and push"): ``Id`` (group.uid), ``Index`` (the record it is on),
        ``Pending`` (delivered, not committed), ``Status``, ``Idle`` (since its last
        delivery or commit), ``Window``, ``Slots`` (room left in the window),
        ``AutoCommit``, and ``Tags`` for a watch with tags. A consumer that left is
        no longer listed: every one listed is ``Running``.
        """
        now = time.monotonic()
        out: dict[str, str] = {}
        n = 0
        for group in self.groups.values():
            for consumer in group.consumers:
                index, since = group.activity.get(consumer.uid, (0, now))
                line = (
                    f"Id: {group.gid}.{consumer.uid}, Index: {index}, "
                    f"Pending: {len(consumer.pending)}, Status: Running, "
                    f"Idle: {max(now - since, 0.0):.3f}s, Window: {consumer.full_window}, "
                    f"Slots: {max(consumer.window - len(consumer.pending), 0)}, "
                    f"AutoCommit: {str(consumer.auto_commit).lower()}"
                )
                if consumer.tags:
                    pairs = ",".join(f"{k}={v}" for k, v in sorted(consumer.tags.items()))
                    line += f", Tags: tags[{pairs}]"
                out[f"consumers.list.[{n}]"] = line
                n += 1
        out["consumers.stats.total"] = str(n)
        return out

    def search(self, index: int) -> dict[str, Any] | None:
        """Who is processing record ``index`` (``IsPending``), or how many wait before it.

        A record its consumer gave back with a delay (``release``: an async service
        scaled to zero refused it) is nobody's until delivered again: it waits, as a
        record not delivered yet does, and counts as waiting before later ones.
        Urgent records (``_priority_=1``) go first: before an urgent record wait only
        the urgent ones put before it; before a normal one, those put before it and
        every urgent one put after it.
        """
        entry = self.records.get(index)
        if entry is None:
            return None
        for group in self.groups.values():
            consumer = group.pending.get(index)
            if consumer is not None and index not in group.held:
                return {"ConsumerId": consumer.uid, "IsPending": True, "WaitCount": 0}
        pending = {i for g in self.groups.values() for i in g.pending if i not in g.held}
        urgent = self.urgent
        if entry.urgent:
            ahead = bisect.bisect_left(urgent, index)
            out = sum(1 for i in pending if i < index and self.records[i].urgent)
        else:
            ahead = bisect.bisect_left(self.order, index)
            ahead += len(urgent) - bisect.bisect_right(urgent, index)
            out = sum(1 for i in pending if i < index or (i > index and self.records[i].urgent))
        return {"ConsumerId": "", "IsPending": False, "WaitCount": ahead - out}

    # -- groups ------------------------------------------------------------------------

    def attach(self, gid: str, consumer: Consumer, index: int) -> None:
        group = self.groups.get(gid)
        if group is None:
            group = self.groups[gid] = Group(gid, cursor=max(index, 0))
            group.urgent = self.urgent[bisect.bisect_left(self.urgent, group.cursor) :]
            self._save_cursor(group)  # a group outlives a restart, as on EAS
        group.consumers.append(consumer)
        group.idle_since = None
        # a reconnect (same uid) carries on where it was
        last = group.activity.get(consumer.uid, (max(index, 0), 0.0))[0]
        group.activity[consumer.uid] = (last, time.monotonic())
        self._dispatch(group)

    def detach(self, gid: str, consumer: Consumer) -> None:
        group = self.groups.get(gid)
        if group is None or consumer not in group.consumers:
            return
        group.consumers.remove(consumer)
        back = sorted(consumer.pending)
        consumer.pending.clear()
        for i in back:
            group.pending.pop(i, None)
            group.held.pop(i, None)
            self._give_back_to(group, i)
        if consumer.tags and _sig(consumer) not in {_sig(c) for c in group.consumers}:
            # one watch per request id (a sink read by requestId) would grow it forever
            group.vain.pop(_sig(consumer), None)
            group.urgent_vain.pop(_sig(consumer), None)
        if all(c.uid != consumer.uid for c in group.consumers):
            group.activity.pop(consumer.uid, None)
        if not group.consumers:
            group.idle_since = time.monotonic()
        self._dispatch(group)

    def release(self, gid: str, consumer: Consumer, index: int, delay: float) -> None:
        """``consumer`` gives a record back uncommitted: delivered again after ``delay`` s.

        Until then the record stays the consumer's (pending, in its window): given
        back at once, a record refused during its own delivery (an async service
        scaled to zero answers the feeder 503 before ``deliver`` returns) was
        delivered again in the same dispatch loop, refused again, and so on forever,
        with the kernel's event loop stuck in it.
        """
        group = self.groups.get(gid)
        if group is None or group.pending.get(index) is not consumer:
            return
        mark = group.held[index] = object()
        asyncio.get_running_loop().call_later(delay, self._give_back, group, consumer, index, mark)

    def _give_back(self, group: Group, consumer: Consumer, index: int, mark: object) -> None:
        """A released record's delay is over: the group delivers it again."""
        if group.held.get(index) is not mark:
            return  # committed, deleted, or given back (detach) meanwhile
        del group.held[index]
        if self.groups.get(group.gid) is not group or group.pending.get(index) is not consumer:
            return
        del group.pending[index]
        consumer.pending.discard(index)
        self._give_back_to(group, index)
        self._dispatch(group)

    def _give_back_to(self, group: Group, index: int) -> None:
        """Record ``index``, pending in ``group``, waits there again (first, if urgent)."""
        if index in group.jumped:
            group.jumped.discard(index)  # past the cursor: it waits where it was
        else:
            group.give_back(index)
        entry = self.records.get(index)
        if entry is not None and entry.urgent:
            group.wait_urgent(index)

    def commit(self, gid: str, indexes: list[int]) -> int:
        """Mark records processed in ``gid``; records every group has committed are deleted."""
        self._expire_idle()
        group = self.groups.get(gid)
        done = []
        for i in dict.fromkeys(indexes):
            if group is not None:
                consumer = group.pending.pop(i, None)
                if consumer is not None:
                    consumer.pending.discard(i)
                    group.held.pop(i, None)
                    if i in group.jumped:  # delivered ahead of its turn: the cursor passes it
                        group.jumped.discard(i)
                        group.ahead.add(i)
                    last = group.activity.get(consumer.uid)
                    if last is not None:
                        group.activity[consumer.uid] = (last[0], time.monotonic())
                elif i >= group.cursor:
                    # not delivered in this group yet: done, so never delivered to it
                    if i in self.records:
                        group.ahead.add(i)
                elif group.redeliver:
                    # given back by a watcher that went away, then committed by its client
                    # (commit is HTTP, not the websocket): done, not to be delivered again
                    pos = bisect.bisect_left(group.redeliver, i)
                    if pos < len(group.redeliver) and group.redeliver[pos] == i:
                        del group.redeliver[pos]
            # an index never put or already gone is not counted ("committed 0"), as
            # delete answers "deleted 0" for it
            if i in self.records:
                done.append(i)
        self._collect(done, group)
        if group is not None:
            self._dispatch(group)
        return len(done)

    def _collect(self, indexes: list[int], group: Group | None) -> None:
        """Delete what every group has committed; remember ``group``'s commit of the rest.

        A record committed by one group is kept while another group has yet to pass
        it; the commit is written down (``acks``) so that a restart does not deliver
        it to this group again. The group's cursor is saved in the same transaction.
        """
        groups = self.groups.values()
        gone, kept = [], []
        for i in indexes:
            if i not in self.records:
                continue
            if all(
                i in g.ahead or (g.cursor > i and i not in g.pending and not g.redelivers(i))
                for g in groups
            ):
                gone.append(i)
            else:
                kept.append(i)
        if group is not None:
            self._unwritten_acks += [(group.gid, i) for i in kept]
            if self._saved_cursor.get(group.gid) != group.cursor:
                self._unwritten_cursors.add(group.gid)
        self._unwritten_gone += gone
        consumed = self._consumed_answers(gone)
        self._unwritten_consumed += consumed
        self.consumed.update(consumed)
        self._forget(gone)
        self._write_consumption_soon()

    # -- an async service's sink: answers consumed before their input was committed --

    def settled(self, gid: str, index: int) -> bool:
        """Whether group ``gid`` is done with record ``index`` on disk: a kernel started
        again would not deliver it to that group (committed and written, or gone)."""
        if index in self._unwritten_gone or (gid, index) in self._unwritten_acks:
            return False  # committed, not written yet
        group = self.groups.get(gid)
        if index not in self.records or group is None:
            return index not in self.records
        return index in group.ahead or (
            group.cursor > index and index not in group.pending and not group.redelivers(index)
        )

    def _consumed_answers(self, indexes: list[int]) -> list[tuple[str, int]]:
        """Of the sink records ``indexes`` (about to be deleted), the (requestId, input
        index) of those whose input the feeder has not settled: what a kernel killed now
        would feed, and answer, again."""
        source = self.answers_for
        if source is None:
            return []
        out = []
        for i in indexes:
            entry = self.records.get(i)
            text = entry.tags.get(SOURCE_INDEX, "") if entry is not None else ""
            if entry is not None and text.isdecimal() and entry.request_id:
                if not source.settled(FEEDER_GROUP, int(text)):
                    out.append((entry.request_id, int(text)))
        return out

    def _write_consumed(self, consumed: list[tuple[str, int]]) -> None:
        self.db.executemany(
            "INSERT OR IGNORE INTO consumed (request_id, source_index) VALUES (?, ?)", consumed
        )

    def answered(self, request_id: str, index: int) -> bool:
        """Whether this sink has (or had, and a client consumed) the answer to input
        record ``index`` with ``request_id``: the record was answered before a kernel
        death kept its commit from the disk, and is not to be answered again."""
        if not request_id:
            return False
        return (request_id, index) in self.consumed or f"{request_id}/{index}" in self.by_key

    def forget_consumed(self) -> None:
        """Drop what ``answered`` remembers of inputs the feeder has settled since."""
        source = self.answers_for
        if source is None or not self.consumed:
            return
        done = [(rid, i) for rid, i in self.consumed if source.settled(FEEDER_GROUP, i)]
        if done:
            with self.db:
                self.db.execute("BEGIN")
                self.db.executemany(
                    "DELETE FROM consumed WHERE request_id = ? AND source_index = ?", done
                )
            self.consumed.difference_update(done)

    def _write_consumption_soon(self) -> None:
        """Write what was consumed at the end of this loop pass, in one transaction.

        A put is on disk before its index is answered; a commit need not be: one
        lost in a crash only means the record is delivered again (at least once,
        as EAS promises). So the commits of one loop pass (a watcher's window,
        auto-committed deliveries) share one transaction, written without its own
        fsync (``synchronous=NORMAL``: the next put's fsync carries it along).
        """
        if self._write_scheduled or not (
            self._unwritten_gone
            or self._unwritten_acks
            or self._unwritten_cursors
            or self._unwritten_consumed
        ):
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the kernel's loop (a tool, a test): write now
            self._write_consumption()
            return
        self._write_scheduled = True
        loop.call_soon(self._write_consumption)

    def _write_consumption(self) -> None:
        self._write_scheduled = False
        gone, acks, gids = self._unwritten_gone, self._unwritten_acks, self._unwritten_cursors
        self._unwritten_gone, self._unwritten_acks, self._unwritten_cursors = [], [], set()
        consumed, self._unwritten_consumed = self._unwritten_consumed, []
        groups = [self.groups[gid] for gid in gids if gid in self.groups]
        if not (gone or acks or groups or consumed):
            return
        self.db.execute("PRAGMA synchronous=NORMAL")
        try:
            with self.db:
                self.db.execute("BEGIN")
                if gone:
                    self.db.executemany("DELETE FROM records WHERE idx = ?", [(i,) for i in gone])
                    self.db.executemany("DELETE FROM acks WHERE idx = ?", [(i,) for i in gone])
                if acks:
                    self.db.executemany("INSERT OR IGNORE INTO acks (gid, idx) VALUES (?, ?)", acks)
                if consumed:
                    self._write_consumed(consumed)
                for group in groups:
                    self._write_cursor(group)
        finally:
            self.db.execute("PRAGMA synchronous=FULL")
        for group in groups:
            self._saved_cursor[group.gid] = group.cursor

    def _expire_idle(self) -> None:
        """Forget groups nobody has watched for ``group_expiry`` seconds.

        Every group sees every record, so a record is deleted only once each group
        has committed it. A group whose clients are gone for good (an
        ``AsyncPredictor`` closed, a script that ended) would hold every later
        record forever and fill the queue; after ``group_expiry`` seconds without a
        watcher it no longer counts. Checked at most once a second, from puts and
        commits. An async service's feeder group (``FEEDER_GROUP``) never expires: a
        service stopped for a while still has to answer what was put meanwhile.
        """
        now = time.monotonic()
        if now < self._expiry_check_at:
            return
        self._expiry_check_at = now + 1.0
        stale = [
            g
            for g in self.groups.values()
            if g.gid != FEEDER_GROUP  # a stopped async service's inputs wait for it
            and not g.consumers
            and g.idle_since is not None
            and now - g.idle_since >= self.group_expiry
        ]
        for group in stale:
            del self.groups[group.gid]
            self._saved_cursor.pop(group.gid, None)
            self._unwritten_cursors.discard(group.gid)
            with self.db:
                self.db.execute("BEGIN")
                self.db.execute("DELETE FROM groups WHERE gid = ?", (group.gid,))
                self.db.execute("DELETE FROM acks WHERE gid = ?", (group.gid,))
            if self.groups:
                # what only this group was holding back goes now; with no group left,
                # records wait for the next watcher as any unwatched record does
                self._collect(list(self.order), None)

    def _write_cursor(self, group: Group) -> None:
        self.db.execute(
            "INSERT INTO groups (gid, cursor) VALUES (?, ?) "
            "ON CONFLICT(gid) DO UPDATE SET cursor = excluded.cursor",
            (group.gid, group.cursor),
        )

    def _save_cursor(self, group: Group) -> None:
        self._write_cursor(group)
        self._saved_cursor[group.gid] = group.cursor

    def wake_waiters(self) -> None:
        """Have every waiting ``get`` look again (a caller's connection closed)."""
        self._changed.set()

    def _wake(self) -> None:
        self._changed.set()
        for group in self.groups.values():
            self._dispatch(group)

    def dispatch(self, gid: str) -> None:
        """Deliver what group ``gid`` has room for now (a watcher's client read what waited)."""
        group = self.groups.get(gid)
        if group is not None:
            self._dispatch(group)

    def _dispatch(self, group: Group) -> None:
        """Deliver what the group's watchers have room for, round robin by uid."""
        consumers = group.consumers
        if not consumers:
            return
        while True:
            ready = [c for c in consumers if len(c.pending) < c.window]
            if not ready:
                if group.urgent:
                    self._make_room(group)
                return
            picked = self._next_for(group, ready)
            if picked is None:
                return
            index, consumer = picked
            loaded = self.load([self.records[index]])
            if not loaded:
                continue  # its row is gone (cannot happen while memory follows the file)
            record = loaded[0]
            group.activity[consumer.uid] = (index, time.monotonic())
            # an urgent record delivered ahead of its turn: the cursor is not there yet
            early = index >= group.cursor
            if consumer.auto_commit:
                if early:
                    group.ahead.add(index)  # done in this group: the cursor passes it
                consumer.deliver(record)
                self._collect([index], group)
                continue
            consumer.pending.add(index)
            group.pending[index] = consumer
            if early:
                group.jumped.add(index)
            consumer.deliver(record)

    def _make_room(self, group: Group) -> None:
        """An urgent record waits and no consumer has room: one that can give back
        records it holds but has not started on (an async feeder: those still in its
        service's queue) does so, and the urgent record goes before them."""
        if not any(self._waits(group, index) for index in group.urgent):
            return
        for consumer in list(group.consumers):
            make_room = getattr(consumer, "make_room", None)
            if make_room is None:
                continue  # a watcher: what it was pushed is its client's
            back = [i for i in make_room() if group.pending.get(i) is consumer]
            if back:
                for index in back:
                    del group.pending[index]
                    consumer.pending.discard(index)
                    self._give_back_to(group, index)
                self._dispatch(group)
                return

    def _next_for(self, group: Group, ready: list[Consumer]) -> tuple[int, Consumer] | None:
        """The group's next record and the ready consumer it goes to (round robin).

        Urgent records (``_priority_=1``) that wait in the group go first, in index
        order, whether given back or not delivered yet (``_next_urgent``); then
        the records given back (``redeliver``), then the group's next ones.
        A watch with tags takes only records that have them; a record none of the
        ready consumers takes is not passed over: it waits in the group
        (``redeliver``, in index order) for one that does, and stays stored for the
        group until committed, as any record not delivered.
        """
        records = self.records
        picky = any(c.tags for c in ready)
        sigs = {_sig(c) for c in ready} if picky else set()
        if group.urgent:
            picked = self._next_urgent(group, ready, sigs)
            if picked is not None:
                return picked
        redeliver = group.redeliver
        pos = 0
        if picky:  # what none of these watches took the last time is passed at once
            pos = bisect.bisect_right(redeliver, min(group.vain.get(sig, -1) for sig in sigs))
        while pos < len(redeliver):
            index = redeliver[pos]
            if index not in records:
                del redeliver[pos]
                continue
            takers = _takers(ready, records[index]) if picky else ready
            if takers:
                del redeliver[pos]
                _vain(group.vain, sigs, index - 1)
                return index, _turn(group, takers)
            pos += 1
        if redeliver:
            _vain(group.vain, sigs, redeliver[-1])
        order = self.order
        pos = bisect.bisect_left(order, group.cursor)
        while pos < len(order):
            index = order[pos]
            group.cursor = index + 1
            pos += 1
            if group.ahead and index in group.ahead:
                group.ahead.discard(index)  # committed before its turn: passed over
                continue
            if group.jumped and index in group.jumped:
                group.jumped.discard(index)  # delivered before its turn, still pending
                continue
            takers = _takers(ready, records[index]) if picky else ready
            if takers:
                return index, _turn(group, takers)
            redeliver.append(index)  # below the cursor, above all there: still sorted
            _vain(group.vain, sigs, index)
        return None

    def _next_urgent(
        self, group: Group, ready: list[Consumer], sigs: set[tuple[tuple[str, str], ...]]
    ) -> tuple[int, Consumer] | None:
        """The group's first waiting urgent record a ready consumer takes, and that consumer.

        One at or past the cursor is delivered ahead of its turn (``_dispatch`` marks
        it ``jumped``); one below it was given back, and leaves ``redeliver``. With
        watches with tags (``sigs``), what none of them took the last time is passed.
        """
        urgent, records = group.urgent, self.records
        pos = 0
        if sigs:
            pos = bisect.bisect_right(urgent, min(group.urgent_vain.get(sig, -1) for sig in sigs))
        while pos < len(urgent):
            index = urgent[pos]
            if not self._waits(group, index):
                del urgent[pos]  # delivered or committed meanwhile
                continue
            takers = _takers(ready, records[index]) if sigs else ready
            if takers:
                del urgent[pos]
                _vain(group.urgent_vain, sigs, index - 1)
                if index < group.cursor:
                    _drop(group.redeliver, index)
                return index, _turn(group, takers)
            pos += 1  # waits for a watch with its tags
        if urgent:
            _vain(group.urgent_vain, sigs, urgent[-1])
        return None

    def _waits(self, group: Group, index: int) -> bool:
        """Whether record ``index`` waits to be delivered in ``group`` (not pending, not done)."""
        if index not in self.records or index in group.pending:
            return False
        if index < group.cursor:
            return group.redelivers(index)  # delivered once: waits only if given back
        return index not in group.ahead


def _drop(indexes: list[int], index: int) -> None:
    """Remove ``index`` from the sorted list ``indexes`` if it is there (looked up)."""
    pos = bisect.bisect_left(indexes, index)
    if pos < len(indexes) and indexes[pos] == index:
        del indexes[pos]


def _digest(data: bytes | bytearray, tags: dict[str, str]) -> bytes:
    """What tells a retried put from another put under the same requestId: its data and
    tags (a retry sends both again as they were)."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(json.dumps(tags, sort_keys=True, separators=(",", ":")).encode())
    digest.update(b"\0")
    digest.update(data)
    return digest.digest()


def _sig(consumer: Consumer) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(consumer.tags.items()))


def _vain(
    vain: dict[tuple[tuple[str, str], ...], int],
    sigs: set[tuple[tuple[str, str], ...]],
    upto: int,
) -> None:
    """No record of a group's list (``redeliver``, ``urgent``) up to ``upto`` has any
    of the tags ``sigs``: ``vain`` is that list's (``Group.vain``, ``Group.urgent_vain``)."""
    for sig in sigs:
        if vain.get(sig, -1) < upto:
            vain[sig] = upto


def _not_vain(vain: dict[tuple[tuple[str, str], ...], int], index: int) -> None:
    """Record ``index`` joined the list ``vain`` is of: not looked at for any tags yet."""
    for sig, upto in vain.items():
        if upto >= index:
            vain[sig] = index - 1


def _takers(consumers: list[Consumer], entry: Entry) -> list[Consumer]:
    """The consumers whose watch's tags record ``entry`` has."""
    tags = entry.tags
    return [c for c in consumers if all(tags.get(k) == v for k, v in c.tags.items())]


def _turn(group: Group, takers: list[Consumer]) -> Consumer:
    consumer = takers[group.turn % len(takers)]
    group.turn += 1
    return consumer


class QueueHub:
    """Every queue of a kernel, by the path its clients address (``NAME``, ``NAME/sink``)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.queues: dict[str, Queue] = {}

    def get(self, path: str) -> Queue | None:
        return self.queues.get(path.strip("/"))

    def file_for(self, path: str) -> Path:
        """The SQLite file of the queue at ``path``: ``NAME.sqlite``, ``NAME.sink.sqlite``.

        A service name has no ``.`` (``[a-z][a-z0-9_]*``), so no two paths share a
        file (``asy/sink`` and a queue service ``asy__sink`` once did).
        """
        return self.folder / (path.replace("/", ".") + ".sqlite")

    def clash(self, path: str) -> str | None:
        """The open queue, other than ``path``'s own, whose file ``path`` would use."""
        file = self.file_for(path)
        return next(
            (q.name for q in self.queues.values() if q.path == file and q.name != path), None
        )

    def open(self, path: str, token: str, settings: dict[str, Any] | None = None) -> Queue:
        """Open (or create) the queue at ``path``; QueueError 400 for a bad limit."""
        settings = settings or {}
        max_length = _limit(settings.get("max_length", DEFAULT_MAX_LENGTH), "queue.max_length")
        kb = settings.get("max_payload_size_kb")
        max_payload = (
            _limit(kb, "queue.max_payload_size_kb") * 1024
            if kb is not None
            else DEFAULT_MAX_PAYLOAD
        )
        other = self.clash(path)
        if other is not None:
            raise QueueError(
                409,
                f"queue '{path}' would share the file {self.file_for(path)} with queue '{other}'",
            )
        file = self.file_for(path)
        self._migrate(path, file)
        queue = Queue(path, file, token, max_length, max_payload)
        self.queues[path] = queue
        return queue

    def _migrate(self, path: str, file: Path) -> None:
        """Rename a sink's file from the old naming (``NAME__sink.sqlite``) to ``file``.

        A state dir written before the naming changed keeps its sinks' records. The
        old file is left alone while a queue has it open: then it is that queue's
        (a queue service named ``NAME__sink``), not the sink's.
        """
        if "/" not in path or file.exists():
            return
        old = self.folder / (path.replace("/", "__") + ".sqlite")
        if not old.exists() or any(q.path == old for q in self.queues.values()):
            return
        for suffix in ("-wal", "-shm", ""):  # the main file last: it is what marks "migrated"
            source = Path(str(old) + suffix)
            if source.exists():
                source.rename(Path(str(file) + suffix))

    def remove(self, path: str, drop: bool = True) -> None:
        queue = self.queues.pop(path, None)
        if queue is None:
            return
        queue.close()
        if drop:
            for suffix in ("", "-wal", "-shm"):
                Path(str(queue.path) + suffix).unlink(missing_ok=True)

    def close(self) -> None:
        for queue in self.queues.values():
            queue.close()


def settings_of(raw: dict[str, Any], which: str) -> dict[str, int]:
    """Queue limits from service.json: ``queue.{max_length,max_payload_size_kb}``, per ``source``/``sink``.

    Each is a positive whole number; QueueError 400 naming the field if not.

    >>> settings_of({"queue": {"max_length": 100, "sink": {"max_length": 5}}}, "sink")
    {'max_length': 5}
    """
    conf = raw.get("queue") or {}
    meta = raw.get("metadata") or {}
    # "metadata": {"queue": {...}} nested, as "metadata": {"rpc": {...}} is
    nested = meta.get("queue") if isinstance(meta, dict) else None
    out: dict[str, int] = {}
    for key in QUEUE_LIMITS:  # the spec names any other key as unknown (spec.py)
        sources = [(meta, "metadata."), (conf, "queue.")]
        if isinstance(nested, dict):
            sources.insert(1, (nested, "metadata.queue."))
            sources.insert(2, (nested.get(which) or {}, f"metadata.queue.{which}."))
        if isinstance(conf, dict):
            sources.append((conf.get(which) or {}, f"queue.{which}."))
        for source, prefix in sources:
            if not isinstance(source, dict):
                continue
            for spelling in (key, f"queue.{key}", f"queue.{which}.{key}"):
                if source.get(spelling) is not None:
                    out[key] = _limit(source[spelling], prefix + spelling)
                    break
    return out


def _limit(value: Any, name: str) -> int:
    """``value`` as a positive whole number: a queue limit (``name``); QueueError 400 if not."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdecimal():
        number = int(value.strip())
    if number is None or not 0 < number <= INT64_MAX:
        raise QueueError(
            400,
            f"{name} must be a positive whole number (at least 1), got {value!r}: "
            f'e.g. "queue": {{"max_length": 10000, "max_payload_size_kb": 8192}}',
        )
    return number


def queue_kind(raw: dict[str, Any]) -> str | None:
    """``"queue"`` or ``"async"`` for a queue service or an async service's service.json."""
    meta = raw.get("metadata")
    kind = meta.get("type") if isinstance(meta, dict) else None
    return kind.lower() if isinstance(kind, str) and kind.lower() in ("queue", "async") else None


def queue_desc(queue: Queue, endpoint: str, create_time: str | None = None) -> dict[str, Any]:
    """A queue service as the control API describes it (``ls``, ``desc``)."""
    path = f"/api/predict/{queue.name}"
    return {
        "name": queue.name,
        "status": "Running",
        "type": "Queue",
        "message": "",
        "endpoint": endpoint,
        "service_path": path,
        "url": endpoint + path,
        "token": queue.token,
        "processor": "queue",
        "total_instance": 0,
        "running_instance": 0,
        "pending_instance": 0,
        "weight": 100,
        "create_time": create_time,
        "update_time": create_time,
        "attributes": queue.attributes(),
        "queues": {queue.name: queue.stats()},
    }
