"""The queue service's HTTP and websocket protocol (SPEC §4) over a ``Queue``.

Parses what the official ``QueueClient`` sends (query flags such as ``_index_``,
``_attrs_``, ``_watch_``; identity headers) and answers as EAS does: the index as
text with the request id in ``X-Eas-Queueservice-Request-Id``, records as a
DataFrameListProto, a 404 ``no data in stream`` for a search that finds nothing.
"""

from __future__ import annotations

import asyncio
import json
import traceback
import uuid
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from easlab._auth import verify
from easlab.kernel.http import APPLICATION_JSON, OCTET_STREAM, HttpConnection, Request
from easlab.kernel.queue import INT64_MAX, INT64_MIN, PRIORITY, Queue, QueueError, Record
from easlab.kernel.websocket import WS_VERSION, WebSocket, handshake
from easlab.wire.duration import duration_s
from easlab.wire.proto import queue_pb2

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

UID = b"x-eas-queueservice-redis-uid"
GID = b"x-eas-queueservice-redis-gid"
REQUEST_ID_HEADER = b"X-Eas-Queueservice-Request-Id"
PROTOBUF = b"application/vnd.google.protobuf"
#: how many watches in a row may replace a live watcher of their uid (the official
#: Watcher's reconnect does once); past it two clients share the uid, and the next is refused
MAX_REPLACEMENTS = 3
#: an empty long poll is answered this long before its ``_timeout_``: the official
#: client's HTTP timeout (5000 ms) equals the default ``_timeout_=5s`` (SPEC §4)
EARLY_S = 0.5
_FLAGS = {
    "_index_",
    "_length_",
    "_timeout_",
    "_raw_",
    "_auto_delete_",
    "_attrs_",
    "_search_",
    "_trunc_",
    "_indexes_",
    "_watch_",
    "_window_",
    "_index_only_",
    "_auto_commit_",
}


def _seconds(text: str) -> float:
    """``_timeout_`` in seconds (a Go duration such as ``1m30s``); QueueError 400 if not one."""
    try:
        return duration_s(text or "")
    except ValueError as exc:
        raise QueueError(400, f"_timeout_={exc}") from None


def _int(query: dict[str, str], key: str, default: int) -> int:
    """An integer flag, within SQLite's INTEGER (an index above it cannot be stored)."""
    text = query.get(key)
    if text is None or text == "":
        return default
    return _int64(text, key)


def _int64(text: str, key: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise QueueError(400, f"{key}={text[:40]!r} is not an integer") from None
    if not INT64_MIN <= value <= INT64_MAX:
        raise QueueError(400, f"{key}={text[:40]!r} is out of range (at most {INT64_MAX})")
    return value


def _indexes(query: dict[str, str]) -> list[int]:
    # commas arrive as %2C (urlencode); parse_qsl has decoded them already
    text = query.get("_indexes_", "")
    parts = [part for part in text.replace(" ", "").split(",") if part]
    try:
        return [_int64(part, "_indexes_") for part in parts]
    except QueueError:
        raise QueueError(400, f"_indexes_={text[:80]!r} is not a list of integers") from None


def _true(query: dict[str, str], key: str, default: bool = False) -> bool:
    text = query.get(key)
    return default if text is None else text.lower() in ("true", "1", "yes")


def _frames(records: list[Record]) -> bytes:
    out = queue_pb2.DataFrameListProto()  # type: ignore[attr-defined]
    out.index.extend(r.proto() for r in records)
    return out.SerializeToString()


def serve(
    conn: HttpConnection, req: Request, queue: Queue, loop: asyncio.AbstractEventLoop
) -> None:
    """Answer one queue call (or upgrade it to a watch)."""
    auth = req.header(b"authorization")
    if queue.token and (
        not auth
        or not verify(
            queue.token,
            auth,
            req.body,
            req.header(b"content-type"),
            req.header(b"date"),
            req.path,
        )
    ):
        conn.respond(401, queue.bad_token(not auth))
        return
    query = dict(parse_qsl(req.query, keep_blank_values=True))
    tags = {k: v for k, v in query.items() if k not in _FLAGS and k != "requestId"}
    method = req.method
    try:
        if method == b"POST":

            def stored(record: Record | QueueError) -> None:
                if isinstance(record, QueueError):
                    conn.respond(record.status, record.message.encode())
                    return
                conn.respond(
                    200,
                    str(record.index).encode(),
                    extra=REQUEST_ID_HEADER + b": " + record.request_id.encode() + b"\r\n",
                )

            priority = query.get(PRIORITY)
            if priority is not None and priority not in ("0", "1"):
                raise QueueError(
                    400,
                    f"{PRIORITY}={priority[:40]!r} is not a priority: {PRIORITY}=1 puts a "
                    "high-priority record (delivered before the records that wait), "
                    f"{PRIORITY}=0 (or none) a normal one",
                )
            # answered once on disk, with the other puts of this loop pass (group commit)
            queue.put_soon(req.body, {k: v for k, v in query.items() if k not in _FLAGS}, stored)
        elif method == b"GET" and _true(query, "_watch_"):
            _watch(conn, req, queue, query)
        elif method == b"GET" and _true(query, "_attrs_"):
            conn.respond(200, json.dumps(queue.attributes()).encode(), APPLICATION_JSON)
        elif method == b"GET" and _true(query, "_search_"):
            found = queue.search(_int(query, "_index_", 0))
            if found is None:
                conn.respond(404, b"no data in stream")
            else:
                conn.respond(200, json.dumps(found).encode(), APPLICATION_JSON)
        elif method == b"GET":
            timeout = max(_seconds(query.get("_timeout_", "0s")) - EARLY_S, 0.0)
            length = _int(query, "_length_", 1)
            if length < 1:
                # taken as 1, a get(length=0, auto_delete=True) consumed a record
                raise QueueError(400, f"_length_={length} must be at least 1 (records to get)")
            wait = queue.get(
                _int(query, "_index_", 0),
                length,
                timeout,
                _true(query, "_auto_delete_", True),
                query.get("requestId"),
                tags,
                # a client that gave up (the official one retries after its HTTP
                # timeout) must not have the next record taken for nobody
                gone=lambda: conn.closed,
            )
            # a client that leaves ends its wait at once
            loop.create_task(_get(conn, wait, conn.on_close(queue.wake_waiters)))
        elif method == b"DELETE" and _true(query, "_trunc_"):
            n = queue.truncate(_int(query, "_index_", 0))
            conn.respond(200, f"truncated {n}".encode())
        elif method == b"DELETE":
            n = queue.delete(_indexes(query))
            conn.respond(200, f"deleted {n}".encode())
        elif method == b"PUT":
            gid = req.header(GID) or "eas"
            n = queue.commit(gid, _indexes(query))
            conn.respond(200, f"committed {n}".encode())
        else:
            conn.respond(405, f"{method.decode()} is not a queue call".encode())
    except QueueError as exc:
        conn.respond(exc.status, exc.message.encode())


async def _get(
    conn: HttpConnection,
    wait: Coroutine[Any, Any, list[Record]],
    unregister: Callable[[], None],
) -> None:
    try:
        records = await wait
    except QueueError as exc:
        conn.respond(exc.status, exc.message.encode())
        return
    except Exception:
        traceback.print_exc()
        conn.respond(500, b"internal error in the easlab kernel's queue (see its log)")
        return
    finally:
        unregister()  # the wait is over: a keep-alive connection need not call it later
    conn.respond(200, _frames(records), PROTOBUF)


class Watcher:
    """One websocket watch: a consumer of its group with a window of uncommitted records."""

    def __init__(
        self,
        queue: Queue,
        gid: str,
        uid: str,
        window: int,
        index_only: bool,
        auto_commit: bool,
        tags: dict[str, str] | None = None,
    ) -> None:
        self.queue = queue
        #: only records with these tags are pushed to it (``watch(tags=...)``)
        self.tags = dict(tags or {})
        self.gid = gid
        self.uid = uid
        self.full_window = max(window, 1)
        #: what the group may deliver to it now: 0 while its client does not read (flow)
        self.window = self.full_window
        self.index_only = index_only
        self.auto_commit = auto_commit
        self.pending: set[int] = set()
        self.socket: WebSocket | None = None
        #: closed because a watch with its uid took its place (not gone by itself)
        self.replaced = False

    def deliver(self, record: Record) -> None:
        if self.socket is not None:
            self.socket.send_binary(record.proto(self.index_only).SerializeToString())

    def flow(self, socket: WebSocket) -> None:
        """Deliver nothing while the client does not read what was sent, then go on.

        Without this a watcher with auto-commit (or a large window) that read nothing
        had every record of the queue loaded and written to its socket's buffer.
        """
        if socket.write_paused:
            self.window = 0
        else:
            self.window = self.full_window
            self.queue.dispatch(self.gid)

    def gone(self, _socket: WebSocket) -> None:
        self.queue.detach(self.gid, self)
        group = self.queue.groups.get(self.gid)
        if group is not None and not self.replaced:
            group.replaced.pop(self.uid, None)  # it left by itself: its uid is free

    def close(self, reason: str = "queue closed") -> None:
        if self.socket is not None:
            self.socket.close(1001, reason)


def _watch(conn: HttpConnection, req: Request, queue: Queue, query: dict[str, str]) -> None:
    key = req.header(b"sec-websocket-key")
    if not key or (req.header(b"upgrade") or "").lower() != "websocket":
        raise QueueError(400, "_watch_=true needs a websocket upgrade (ws:// URL)")
    version = (req.header(b"sec-websocket-version") or "").strip()
    if version != WS_VERSION:
        # RFC 6455 4.2.2: a version the server does not speak is refused with the
        # versions it does, before anything is upgraded
        conn.respond(
            426,
            f"Sec-WebSocket-Version {version or '(none)'} is not served: the watch speaks "
            f"websocket version {WS_VERSION} (RFC 6455), which every current websocket "
            "client sends".encode(),
            extra=f"Sec-WebSocket-Version: {WS_VERSION}\r\n".encode(),
        )
        return
    # watch(tags=...) sends its tags as query fields: this watcher is pushed only the
    # records that have them (the group keeps the others for watchers that take them)
    tags = {k: v for k, v in query.items() if k not in _FLAGS}
    gid = req.header(GID) or "eas"
    # a watch is one consumer by its uid (a reconnect with the same uid replaces it):
    # two clients that send none (the official one always does) are two consumers
    uid = req.header(UID) or f"anonymous-{uuid.uuid4().hex[:12]}"
    # every flag is read before the upgrade: once it is sent, a bad one could only
    # close the websocket without a word
    index = _int(query, "_index_", 0)
    window = _int(query, "_window_", 1)
    if window < 1:
        # taken as 1, a watch(index, 0) was pushed one record and then nothing until
        # that one was committed: a window of 0 (none pushed) or less is no window
        conn.respond(
            400,
            f"_window_={window} must be at least 1: the watch's window is how many "
            "records are pushed to this watcher before it commits them "
            "(watch(index, window=1) or more)".encode(),
        )
        return
    group = queue.groups.get(gid)
    olds = [c for c in group.consumers if c.uid == uid and isinstance(c, Watcher)] if group else []
    if group is not None and olds:
        # The official Watcher reconnects with the same uid: the old socket is gone (the
        # kernel may not have seen it close yet), so the new watch takes its place. Two
        # live clients that share a uid took each other's place for ever (each closed one
        # reconnects at once: hundreds of handshakes a second): past MAX_REPLACEMENTS in
        # a row, the watcher in place keeps it and the newcomer is refused.
        times = group.replaced.get(uid, 0) + 1
        if times > MAX_REPLACEMENTS:
            conn.respond(
                409,
                f"uid {uid!r} of group {gid!r} is watching queue '{queue.name}' already, "
                f"from another client: two clients share it (their watches replaced each "
                f"other {MAX_REPLACEMENTS} times in a row). The EAS manual lets a uid "
                "register once: give each client its own uid (QueueClient.init() without "
                "uid makes one)".encode(),
            )
            return
        group.replaced[uid] = times
        for old in olds:
            old.replaced = True
            queue.detach(gid, old)
            old.close("replaced by a new watch with the same uid")
    watcher = Watcher(
        queue,
        gid,
        uid,
        window,
        _true(query, "_index_only_"),
        _true(query, "_auto_commit_"),
        tags,
    )
    transport = conn.detach()
    if transport is None:
        return
    transport.write(handshake(key))
    # a client that reads nothing is closed after the time HTTP answers wait for theirs
    app = conn.app

    def gone(ws: WebSocket) -> None:
        app.upgraded.discard(ws)
        watcher.gone(ws)

    socket = WebSocket(transport, gone, on_flow=watcher.flow, stall_timeout=app.limits.body_timeout)
    # held open as long as the watch lasts: counted against --max-connections
    app.upgraded.add(socket)
    transport.set_protocol(socket)
    watcher.socket = socket
    queue.attach(gid, watcher, index)


__all__ = ["serve", "OCTET_STREAM"]
