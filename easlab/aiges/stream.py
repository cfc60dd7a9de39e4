"""``aiges.stream``: the SDK's helpers for session (stream) wrappers, as easlab implements them.

The SDK's stream template keeps a pool of worker threads, one per session
handle: ``self.session.init_handle_pool(mode, n, MyThread)`` in ``wrapperInit``,
``get_idle_handle()`` / ``get_session(handle)`` in ``wrapperCreate``,
``session.in_q.put(req)`` in ``wrapperWrite``; each worker runs the wrapper's
``StreamHandleThread`` subclass, which reads ``in_q`` and answers through
``session_thread.callback_fn(response, sid)`` (easlab/aiges/session.py routes
that to the request). ``WrapperBase`` gives every wrapper ``self.session``.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

from easlab.aiges.types import PROCESS_MODE, THREAD_MODE


class StreamHandleThread(threading.Thread):
    """Base of a wrapper's stream worker: override ``run`` (read ``in_q``, answer through
    ``session_thread.callback_fn``); ``session_thread`` is its WorkerThread."""

    def __init__(self, session_thread: WorkerThread, in_q: queue.Queue[Any], out_q: Any) -> None:
        super().__init__(daemon=True)
        self.is_stopping = False
        self.session_thread = session_thread
        self.in_q = in_q
        self.out_q = out_q

    def init_model(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError("implement init_model in your StreamHandleThread")

    def stop(self) -> None:
        self.is_stopping = True

    def run(self) -> None:
        self.init_model(self.session_thread.handle)


class WorkerThread(threading.Thread):
    """One session slot: its ``handle``, the session's ``sid``, ``params`` and
    ``callback_fn``, and the queues its StreamHandleThread reads and writes."""

    def __init__(self, handle: str) -> None:
        super().__init__(daemon=True, name=f"aiges-session-{handle}")
        self.handle = handle
        self.sid = ""
        self.params: dict[str, Any] = {}
        self.is_stopping = False
        self.is_idle = True
        self.in_q: queue.Queue[Any] = queue.Queue()
        self.out_q: queue.Queue[Any] = queue.Queue()
        self.callback_fn: Any = None
        self.StreamHandleThreadClass: type = StreamHandleThread

    @property
    def idle(self) -> bool:
        return self.is_idle

    def setup_sid(self, sid: str) -> None:
        self.sid = sid

    def setup_params(self, params: dict[str, Any]) -> None:
        self.params = params
        self.is_idle = False

    def setup_callback_fn(self, callback: Any) -> None:
        self.callback_fn = callback

    def setStreamHandleThreadClass(self, cls: type) -> None:
        self.StreamHandleThreadClass = cls

    def reset(self) -> None:
        """Free the slot for the next session: its sid, params and queued data dropped."""
        self.sid = ""
        self.params = {}
        for q in (self.in_q, self.out_q):
            with q.mutex:
                q.queue.clear()
        self.is_idle = True

    def stop(self) -> None:
        self.is_stopping = True

    def run(self) -> None:
        worker = self.StreamHandleThreadClass(self, self.in_q, self.out_q)
        worker.start()
        worker.join()


class SessionManager:
    """The session slots of a wrapper (``self.session``), made by ``init_handle_pool``."""

    def __init__(self, config: dict[str, Any] | None = None, mode: Any = THREAD_MODE) -> None:
        self.initialized = False
        self.code = 0
        self.workers: dict[str, WorkerThread] = {}
        self.wrapperConfig: dict[str, Any] = dict(config or {})
        self.lock = threading.Lock()

    def init_wrapper_config(self, config: dict[str, Any] | None = None) -> None:
        self.wrapperConfig = dict(config or {})

    def init_handle_pool(self, mode: Any, nums: int, ReqThreadCls: type) -> None:
        """``nums`` slots, each a WorkerThread running ``ReqThreadCls`` (threads in every
        mode: the SDK's process mode is marked unusable there and falls back the same)."""
        del mode  # THREAD_MODE, PROCESS_MODE or the template's "thread": threads all
        for i in range(int(nums)):
            handle = f"Process-0-Thread-{i}"
            worker = WorkerThread(handle)
            worker.setStreamHandleThreadClass(ReqThreadCls)
            worker.start()
            self.workers[handle] = worker
        self.initialized = True

    def get_session(self, handle: str) -> WorkerThread | None:
        return self.workers.get(handle)

    def get_idle_handle(self) -> str | None:
        """A free slot's handle, taken (None when every slot is busy)."""
        with self.lock:
            for handle, worker in self.workers.items():
                if worker.is_idle:
                    worker.is_idle = False
                    return handle
        return None

    def set_idle_session(self, handle: str) -> None:
        worker = self.workers.get(handle)
        if worker is not None:
            worker.is_idle = True

    def reset_session(self, handle: str) -> None:
        worker = self.workers.get(handle)
        if worker is not None:
            worker.reset()

    def push_back(self, handle: str) -> None:
        self.set_idle_session(handle)
        self.reset_session(handle)


__all__ = [
    "StreamHandleThread",
    "WorkerThread",
    "SessionManager",
    "THREAD_MODE",
    "PROCESS_MODE",
    "queue",
    "threading",
]
