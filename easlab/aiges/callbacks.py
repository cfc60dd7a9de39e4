"""The results a session wrapper hands back through ``callback(r, sid)``: each running
session's queue, by sid (session.py opens and closes them).

A module of its own, importing nothing of easlab's: ``aiges.dto.callback`` (dto.py)
delivers to it, and session.py, which runs the sessions, imports dto. It is also what
a wrapper gets as ``aiges.callback`` (the gRPC plugin's module, whose
``callback(r, handle, sid)`` this ``callback`` takes as well).
"""

from __future__ import annotations

import queue
import sys
import threading
from typing import Any

_sessions: dict[str, queue.Queue[Any]] = {}
_lock = threading.Lock()


def open_session(sid: str) -> queue.Queue[Any] | None:
    """The queue of the new session ``sid``'s results; None when one with that sid runs."""
    with _lock:
        if sid in _sessions:
            return None
        mine: queue.Queue[Any] = queue.Queue()
        _sessions[sid] = mine
        return mine


def close_session(sid: str) -> None:
    """Session ``sid`` ended: a result for it from now on is dropped (``callback``)."""
    with _lock:
        _sessions.pop(sid, None)


def callback(resp: Any, sid: Any, *more: Any) -> int:
    """``aiges.dto.callback(r, sid)`` / ``aiges_embed.callback(r, usrTag)``: a result of the
    session ``sid`` (the gRPC loader's ``callback(r, handle, sid)`` form is taken too).

    A result for no running session (one that came after its request failed or timed
    out, or a wrong sid) is dropped with a line in the log and ``-1`` returned, as the
    loader drops it: raising would end the wrapper's worker thread, and with it every
    later session that thread was to serve."""
    key = str(more[-1]) if more else str(sid)
    with _lock:
        target = _sessions.get(key)
    if target is None:
        print(
            f"callback(response, {key!r}) dropped: no session {key!r} is running (it ended, "
            "or this is not the sid wrapperCreate(params, sid) received)",
            file=sys.stderr,
            flush=True,
        )
        return -1
    target.put(resp)
    return 0
