"""A service's request queue, which also gathers batches (``rpc.batching``).

Requests wait here when every instance slot is busy. ``rpc.max_queue_size``
bounds the waiting requests (beyond it the kernel answers 450). With batching
on, ``take`` hands out up to ``max_batch_size`` requests at once, when that
many are waiting, when the oldest has waited ``max_batch_timeout``, or at once
when an instance sits idle (the service asks with ``ready(idle=True)``).

Why the idle rule (adaptive batching): a batch is worth waiting for only while
the model is busy, since the calls that arrive meanwhile would wait anyway.
With an idle instance, waiting for company makes a lone caller pay the whole
``max_batch_timeout`` on every call (the benchmark measured 95 req/s against
187 without batching). So the batch closes as soon as the calls that arrived
in the same pass of the event loop are in (the service defers its pump to the
pass's end) and goes to the idle instance; under load the instances are busy,
calls pile up while they work and go as one batch the moment one is free (or
when ``max_batch_size`` are in, or after ``max_batch_timeout``).
While callers come one at a time (the last batch held one call), the service
skips even the end-of-pass wait: a call that finds the queue empty and an
instance idle goes to it at once, as that batch of one (``Service.submit``).
Under load the model should never wait for the kernel either: between two
batches the kernel has to hear the answer and send the next, two wake-ups
(~15% of the worker's time at 16 connections on 2 cores, issue 16). So while
an instance runs one batch, the next closes as soon as as many calls wait as
that batch holds, and goes to the same instance, where it waits in the socket
until the running one is done (``next``); a batch that closes meanwhile because
it is full or timed out waits there too. The size rule keeps batches whole:
sending whatever waits as soon as the model is busy formed smaller batches and
gained nothing (measured). This way only one batch goes behind the running one.
``closes`` counts why each batch closed, so tests and the metrics can tell.
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any


class BatchQueue:
    """FIFO of pending calls with lazy removal of calls already answered (408)."""

    def __init__(self, max_size: int, batch_size: int = 1, timeout_ms: float = 0.0) -> None:
        self.max_size = max(1, int(max_size))
        self.batch_size = max(1, int(batch_size))
        self.timeout_s = max(0.0, float(timeout_ms) / 1000.0)
        self._items: deque[Any] = deque()
        #: why each batch closed: full (max_batch_size in), timeout (the oldest
        #: waited max_batch_timeout), idle (an instance was idle: no waiting),
        #: next (as many as the running batch holds: it waits behind that one)
        self.closes: dict[str, int] = {"full": 0, "timeout": 0, "idle": 0, "next": 0}
        #: why the batch ``ready`` announced closes (a key of ``closes``)
        self.closing = "idle"

    def configure(self, max_size: int, batch_size: int, timeout_ms: float) -> None:
        self.max_size = max(1, int(max_size))
        self.batch_size = max(1, int(batch_size))
        self.timeout_s = max(0.0, float(timeout_ms) / 1000.0)

    def _prune(self) -> None:
        items = self._items
        while items and items[0].done:
            items.popleft()

    def __len__(self) -> int:
        return sum(1 for call in self._items if not call.done)

    def __bool__(self) -> bool:
        self._prune()
        return bool(self._items)

    def push(self, call: Any, elsewhere: int = 0) -> bool:
        """Queue a call; False when ``max_size`` calls already wait (answer 450).

        ``elsewhere`` calls wait outside this queue (inside instances) and count too.
        """
        room = self.max_size - elsewhere
        if len(self._items) >= room:
            self._items = deque(c for c in self._items if not c.done)
            if len(self._items) >= room:
                return False
        self._items.append(call)
        return True

    def ready(self, now: float | None = None, idle: bool = False, behind: int = 0) -> bool:
        """True when ``take`` should hand out a batch now; ``closing`` says why.

        ``idle``: an instance has nothing in flight, so a partial batch goes at once.
        ``behind``: the calls in the batch an instance is running (0: none runs
        alone); once as many wait, they go to wait behind it (module doc).
        """
        self._prune()
        if not self._items:
            return False
        if self.batch_size == 1:
            return True
        if len(self._items) >= self.batch_size and len(self) >= self.batch_size:
            self.closing = "full"
            return True
        now = time.monotonic() if now is None else now
        if now - self._items[0].queued_at >= self.timeout_s:
            self.closing = "timeout"
            return True
        if idle:
            self.closing = "idle"
            return True
        if behind > 1 and len(self._items) >= behind and len(self) >= behind:
            self.closing = "next"
            return True
        return False

    def deadline(self) -> float | None:
        """When the oldest waiting call's batch is due (monotonic seconds)."""
        self._prune()
        if not self._items:
            return None
        return float(self._items[0].queued_at) + self.timeout_s

    def closed_idle(self) -> None:
        """Count a batch of one that went to an idle instance without being queued."""
        self.closes["idle"] += 1

    def take(self) -> list[Any]:
        """Up to ``batch_size`` waiting calls, oldest first."""
        batch: list[Any] = []
        items = self._items
        while items and len(batch) < self.batch_size:
            call = items.popleft()
            if not call.done:
                batch.append(call)
        if batch and self.batch_size > 1:
            self.closes[self.closing] += 1
        return batch

    def withdraw(self, call: Any) -> bool:
        """Take back ``call`` if it waits here (not at an instance, not answered): it is
        dropped without an answer. False if it is not waiting here."""
        if call.done or call not in self._items:
            return False
        call.withdraw()
        return True

    def drain(self) -> list[Any]:
        """Every waiting call (the service is stopping)."""
        calls = [call for call in self._items if not call.done]
        self._items.clear()
        return calls
