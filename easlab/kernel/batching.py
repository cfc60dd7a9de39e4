"""A service's request queue, which also gathers batches (``rpc.batching``).

Requests wait here when every instance slot is busy. ``rpc.max_queue_size``
bounds the waiting requests (beyond it the kernel answers 450). With batching
on, ``take`` hands out up to ``max_batch_size`` requests at once, but only
when that many are waiting or the oldest has waited ``max_batch_timeout``.
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

    def push_front(self, call: Any) -> None:
        """Put back a call whose instance died (it goes first, over the limit if need be)."""
        self._items.appendleft(call)

    def ready(self, now: float | None = None) -> bool:
        """True when ``take`` would hand out a batch now."""
        self._prune()
        if not self._items:
            return False
        if self.batch_size == 1:
            return True
        if len(self._items) >= self.batch_size and len(self) >= self.batch_size:
            return True
        now = time.monotonic() if now is None else now
        return now - self._items[0].queued_at >= self.timeout_s

    def deadline(self) -> float | None:
        """When the oldest waiting call's batch is due (monotonic seconds)."""
        self._prune()
        if not self._items:
            return None
        return float(self._items[0].queued_at) + self.timeout_s

    def take(self) -> list[Any]:
        """Up to ``batch_size`` waiting calls, oldest first."""
        batch: list[Any] = []
        items = self._items
        while items and len(batch) < self.batch_size:
            call = items.popleft()
            if not call.done:
                batch.append(call)
        return batch

    def drain(self) -> list[Any]:
        """Every waiting call (the service is stopping)."""
        calls = [call for call in self._items if not call.done]
        self._items.clear()
        return calls
