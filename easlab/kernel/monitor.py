"""Service monitoring: each answer counted into its second as it is recorded.

Per request the kernel does what ``Stats.record`` does and nothing more: bump the
totals, and count the answer into the open second, by instance, status and
latency bin (a few dict and list steps). When an answer belongs to a later
second, the open one is closed into a per-second bucket (counts by status, a
log-spaced latency histogram, by instance); reads close it too (``fold``). There
is no periodic pass over the answers: such a pass runs in the kernel's event loop,
and any request that comes meanwhile waits for it (issue 16: a fold every 50 ms
was the identity p99 at c=1 once the machine woke fast). Memory is fixed: the
open second's counts (one histogram per instance) plus at most ``HISTORY_S``
buckets, whatever the traffic and however long the kernel runs.

Latency percentiles come from the histogram: bins grow by 12% (``_RATIO``),
so a percentile is within about 6% of the exact value.
"""

from __future__ import annotations

import math
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["HISTORY_S", "WINDOWS", "Stats", "Bucket", "summarize"]

HISTORY_S = 900  # 15 minutes of per-second buckets
WINDOWS = (1, 60, 900)  # the sliding windows every summary reports, in seconds
#: the status codes counted on their own besides the classes (SPEC §1: 401 token,
#: 408 rpc.keepalive, 450 queue full)
NAMED = (401, 408, 450)

_LO = 1e-5  # 10 µs: the first bin's upper edge
_RATIO = 1.12
_BINS = 160  # up to _LO * _RATIO**159 ≈ 680 s
_LOG_LO = math.log(_LO)
_PER_LOG = 1 / math.log(_RATIO)
#: a bin's representative latency (geometric middle), seconds
_MID = np.array([_LO * _RATIO ** (i - 0.5) for i in range(_BINS)])
_MID[0] = _LO / 2
_log, _ceil = math.log, math.ceil
_NO_INSTANCE = -1  # answered by the kernel itself (450, 503) or before reaching one


def _bin(took: float) -> int:
    """The histogram bin of a latency in seconds: bin i holds (_LO·_RATIO^(i-1), _LO·_RATIO^i]."""
    if took <= _LO:
        return 0
    i = math.ceil((math.log(took) - _LOG_LO) * _PER_LOG)
    return i if i < _BINS else _BINS - 1


@dataclass
class Bucket:
    """One second of answers: counts, latency histogram, queue and resources."""

    second: int  # int(time.time()) of the answers in it
    count: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    hist: np.ndarray = field(default_factory=lambda: np.zeros(_BINS, np.int64))
    #: instance index → (count, by status, histogram)
    instances: dict[int, tuple[int, dict[int, int], np.ndarray]] = field(default_factory=dict)
    queue: int = 0  # queue depth sampled at the fold
    batches: int = 0
    batched: int = 0  # calls in those batches
    #: instance index → {"cpu_percent", "rss_bytes", "gpu_util", "gpu_memory_bytes"}
    resources: dict[int, dict[str, float | None]] = field(default_factory=dict)


class _Open:
    """One instance's answers in the open second: counts by status, latency bins."""

    __slots__ = ("by_status", "hist")

    def __init__(self) -> None:
        self.by_status: dict[int, int] = {}
        self.hist = [0] * _BINS


class Stats:
    """One service's request record (see the module docstring)."""

    __slots__ = (
        "requests",
        "latency_s",
        "by_status",
        "batches",
        "batched",
        "batch_sizes",
        "_second",
        "_starts",
        "_ends",
        "_open",
        "_open_batches",
        "_open_batched",
        "buckets",
        "cumulative",
        "cumulative_hist",
        "instance_version",
        "instance_name",
        "enabled",
    )

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.requests = 0  # answers recorded
        self.latency_s = 0.0
        self.by_status: dict[int, int] = {}
        self.batches = 0
        self.batched = 0  # calls in those batches
        self.batch_sizes: dict[int, int] = {}
        # the open second: its wall-clock second and its bounds in time.monotonic()
        # (nothing open yet: every reading falls outside)
        self._second = 0
        self._starts = math.inf
        self._ends = -math.inf
        self._open: dict[int, _Open] = {}  # instance index → its answers in the open second
        self._open_batches = 0
        self._open_batched = 0
        self.buckets: deque[Bucket] = deque(maxlen=HISTORY_S)
        #: (instance index, status) → answers, since the service began (from the buckets)
        self.cumulative: dict[tuple[int, int], int] = {}
        self.cumulative_hist = np.zeros(_BINS, np.int64)
        self.instance_version: dict[int, int] = {}
        self.instance_name: dict[int, str] = {}

    # -- hot path ------------------------------------------------------------------

    def record(self, status: int, started: float, now: float, instance: int = -1) -> None:
        """One answer: ``started``/``now`` are ``time.monotonic()`` readings."""
        self.requests += 1
        by = self.by_status
        by[status] = by.get(status, 0) + 1
        took = now - started
        self.latency_s += took
        if not self.enabled:
            return
        if not self._starts <= now < self._ends:  # (an answer of an earlier second, from
            self._open_second(now)  # a clock read before another's, reopens that second)
        cell = self._open.get(instance)
        if cell is None:
            cell = self._open[instance] = _Open()
        by = cell.by_status
        by[status] = by.get(status, 0) + 1
        # _bin, inlined: a call costs as much as the rest of the step
        i = _ceil((_log(took) - _LOG_LO) * _PER_LOG) if took > _LO else 0
        cell.hist[i if i < _BINS else _BINS - 1] += 1

    def record_batch(self, size: int) -> None:
        self.batches += 1
        self.batched += size
        self.batch_sizes[size] = self.batch_sizes.get(size, 0) + 1
        self._open_batches += 1
        self._open_batched += size

    # -- aggregation (off the hot path) ----------------------------------------------

    def add_instance(self, index: int, name: str, version: int) -> None:
        self.instance_version[index] = version
        self.instance_name[index] = name

    def _open_second(self, now: float) -> None:
        """Close the open second into its bucket and open the one ``now`` falls in."""
        self._close()
        # monotonic → wall clock, read again each second: the buckets are stamped in
        # seconds since the epoch, and the wall clock may be stepped
        offset = time.time() - time.monotonic()
        second = math.floor(now + offset)
        self._second = second
        self._starts = second - offset
        self._ends = second + 1 - offset

    def _close(self) -> None:
        """Move the open second's counts into its bucket (the second stays open)."""
        if self._open:
            self._merge(self._bucket(self._second), self._open)
            self._open = {}
        if self._open_batches:
            bucket = self._bucket(self._second)
            bucket.batches += self._open_batches
            bucket.batched += self._open_batched
            self._open_batches = self._open_batched = 0

    def fold(
        self, queue: int | None = None, resources: dict[int, dict[str, Any]] | None = None
    ) -> None:
        """Bring the buckets up to date (before a read), and note the queue depth and
        the instances' resources in the current second's."""
        self._close()
        if queue is None and not resources:
            return
        bucket = self._bucket(int(time.time()))
        if queue is not None:
            bucket.queue = max(bucket.queue, queue)
        if resources:
            bucket.resources.update(resources)

    def _bucket(self, second: int) -> Bucket:
        """The bucket of ``second``, made where it belongs in time order if missing."""
        buckets = self.buckets
        if not buckets or buckets[-1].second < second:
            bucket = Bucket(second)
            buckets.append(bucket)
            return bucket
        at = len(buckets)
        while at > 0 and buckets[at - 1].second > second:  # an answer of an earlier second
            at -= 1
        if at > 0 and buckets[at - 1].second == second:
            return buckets[at - 1]
        if len(buckets) == buckets.maxlen:
            if at == 0:  # older than all of a full history: counted in its oldest second
                return buckets[0]
            buckets.popleft()
            at -= 1
        bucket = Bucket(second)
        buckets.insert(at, bucket)
        return bucket

    def _merge(self, bucket: Bucket, cells: dict[int, _Open]) -> None:
        for i, cell in cells.items():
            hist = np.array(cell.hist, np.int64)
            count = sum(cell.by_status.values())
            bucket.count += count
            bucket.hist += hist
            self.cumulative_hist += hist
            icount, iby, ihist = bucket.instances.get(i) or (0, {}, np.zeros(_BINS, np.int64))
            for c, k in cell.by_status.items():
                iby[c] = iby.get(c, 0) + k
                bucket.by_status[c] = bucket.by_status.get(c, 0) + k
                self.cumulative[(i, c)] = self.cumulative.get((i, c), 0) + k
            ihist += hist
            bucket.instances[i] = (icount + count, iby, ihist)

    # -- reading -------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The short form in ``ServiceDesc.stats`` and ``/api/builtin/monitor``."""
        self.fold()
        ok = self.by_status.get(200, 0)
        recent = self.window(10)
        return {
            "requests": self.requests,
            "ok": ok,
            "errors": self.requests - ok,
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "avg_latency_ms": round(1000 * self.latency_s / self.requests, 3)
            if self.requests
            else 0.0,
            "qps": round(recent["qps"], 2),
            "p99_ms": recent["p99_ms"],
        }

    def _recent(self, seconds: int, now: float | None = None) -> list[Bucket]:
        # the current second is still filling: a 1 s window is the last whole second,
        # longer ones end with the current second (a read right after a load test sees it all)
        last = int(now if now is not None else time.time()) - (1 if seconds == 1 else 0)
        first = last - seconds + 1
        return [b for b in self.buckets if first <= b.second <= last]

    def window(
        self, seconds: int, instance: int | None = None, version: int | None = None
    ) -> dict[str, Any]:
        """A summary over the last ``seconds`` whole seconds (see ``summarize``)."""
        buckets = self._recent(seconds)
        return summarize(buckets, seconds, self._instances_of(instance, version))

    def _instances_of(self, instance: int | None, version: int | None) -> set[int] | None:
        if instance is not None:
            return {instance}
        if version is not None:
            return {i for i, v in self.instance_version.items() if v == version}
        return None

    def series(self, seconds: int) -> list[dict[str, Any]]:
        """One row per second of the last ``seconds`` (empty seconds included)."""
        now = int(time.time())
        by_second = {b.second: b for b in self.buckets}
        rows = []
        for sec in range(now - seconds + 1, now + 1):  # the last one still filling
            b = by_second.get(sec)
            row = summarize([b] if b else [], 1, None)
            row["t"] = sec
            row["queue"] = b.queue if b else 0
            row["batch_mean"] = round(b.batched / b.batches, 2) if b and b.batches else None
            rows.append(row)
        return rows

    def resource_series(self, seconds: int) -> list[dict[str, Any]]:
        now = int(time.time())
        rows = []
        for b in self.buckets:
            if b.second < now - seconds:
                continue
            for index, res in sorted(b.resources.items()):
                rows.append(
                    {
                        "t": b.second,
                        "instance": self.instance_name.get(index, str(index)),
                        "version": self.instance_version.get(index),
                        **res,
                    }
                )
        return rows

    def latency_buckets(self) -> list[tuple[float, int]]:
        """Cumulative (upper edge in seconds, answers at or under it) since the start.

        The last bin also holds every longer latency (``_bin``): it has no finite edge,
        it is the ``+Inf`` bucket (the total) that the reader adds."""
        cum = np.cumsum(self.cumulative_hist[:-1])
        return [(_LO * _RATIO**i, int(c)) for i, c in enumerate(cum.tolist())]


def _percentile(hist: np.ndarray, q: float) -> float | None:
    total = int(hist.sum())
    if total == 0:
        return None
    rank = q * total
    i = int(np.searchsorted(np.cumsum(hist), rank, side="left"))
    return round(float(_MID[min(i, _BINS - 1)]) * 1000, 3)


def summarize(buckets: list[Bucket], seconds: int, instances: set[int] | None) -> dict[str, Any]:
    """Counts, rate and percentiles of some buckets, for all instances or some."""
    count = 0
    by: dict[int, int] = {}
    hist = np.zeros(_BINS, np.int64)
    for b in buckets:
        if instances is None:
            count += b.count
            hist += b.hist
            for c, k in b.by_status.items():
                by[c] = by.get(c, 0) + k
        else:
            for i in instances:
                entry = b.instances.get(i)
                if entry is None:
                    continue
                count += entry[0]
                hist += entry[2]
                for c, k in entry[1].items():
                    by[c] = by.get(c, 0) + k
    out: dict[str, Any] = {
        "requests": count,
        "qps": round(count / seconds, 3) if seconds else 0.0,
        "2xx": sum(k for c, k in by.items() if 200 <= c < 300),
        "4xx": sum(k for c, k in by.items() if 400 <= c < 500),
        "5xx": sum(k for c, k in by.items() if 500 <= c < 600),
    }
    for c in NAMED:
        out[str(c)] = by.get(c, 0)
    out["by_status"] = {str(c): k for c, k in sorted(by.items())}
    out["p50_ms"] = _percentile(hist, 0.50)
    out["p90_ms"] = _percentile(hist, 0.90)
    out["p99_ms"] = _percentile(hist, 0.99)
    return out
