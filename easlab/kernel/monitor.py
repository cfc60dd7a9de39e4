"""Service monitoring: a request ring written on the hot path, aggregated on read.

Per request the kernel does what ``Stats.record`` does and nothing more: bump
a counter and write four numbers into preallocated arrays (arrival-to-answer
time, latency, status, instance index). Every 50 ms (``control.FOLD_S``: short
pauses of the event loop, not one long one a second) and before any read,
``fold`` moves what was written since into per-second buckets (counts by
status, a log-spaced latency histogram, by instance) with numpy; the buckets
keep 15 minutes. Memory is fixed: the ring (``RING`` entries, 2 MiB) plus at
most ``HISTORY_S`` buckets, whatever the traffic and however long the kernel
runs. Should more than ``RING`` answers arrive between two folds, the oldest
are counted in ``dropped`` and left out of the windows (the totals by status
stay exact: they are the hot path's own counters).

Latency percentiles come from the histogram: bins grow by 12% (``_RATIO``),
so a percentile is within about 6% of the exact value.
"""

from __future__ import annotations

import math
import time
from array import array
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["RING", "HISTORY_S", "WINDOWS", "Stats", "Bucket", "summarize"]

RING = 1 << 17  # answers between two folds before any is dropped (~4 s at 30k req/s)
_MASK = RING - 1
HISTORY_S = 900  # 15 minutes of per-second buckets
WINDOWS = (1, 60, 900)  # the sliding windows every summary reports, in seconds
#: the status codes counted on their own besides the classes (SPEC §1: 401 token,
#: 408 rpc.keepalive, 450 queue full)
NAMED = (401, 408, 450)

_LO = 1e-5  # 10 µs: the first bin's upper edge
_RATIO = 1.12
_BINS = 160  # up to _LO * _RATIO**159 ≈ 680 s
_LOG_LO = math.log(_LO)
_LOG_RATIO = math.log(_RATIO)
#: a bin's representative latency (geometric middle), seconds
_MID = np.array([_LO * _RATIO ** (i - 0.5) for i in range(_BINS)])
_MID[0] = _LO / 2
_NO_INSTANCE = -1  # answered by the kernel itself (450, 503) or before reaching one


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


class Stats:
    """One service's request record (see the module docstring)."""

    __slots__ = (
        "requests",
        "latency_s",
        "by_status",
        "batches",
        "batched",
        "batch_sizes",
        "_t",
        "_lat",
        "_code",
        "_inst",
        "_folded",
        "_batches_folded",
        "_batched_folded",
        "dropped",
        "buckets",
        "cumulative",
        "cumulative_hist",
        "instance_version",
        "instance_name",
        "enabled",
    )

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.requests = 0  # answers recorded (the ring's write position)
        self.latency_s = 0.0
        self.by_status: dict[int, int] = {}
        self.batches = 0
        self.batched = 0
        self.batch_sizes: dict[int, int] = {}
        size = RING if enabled else 1
        self._t = array("d", bytes(8 * size))  # answer time, time.time()
        self._lat = array("d", bytes(8 * size))
        self._code = array("H", bytes(2 * size))
        self._inst = array("i", bytes(4 * size))
        self._folded = 0
        self._batches_folded = 0
        self._batched_folded = 0
        self.dropped = 0
        self.buckets: deque[Bucket] = deque(maxlen=HISTORY_S)
        #: (instance index, status) → answers, since the service began (from the folds)
        self.cumulative: dict[tuple[int, int], int] = {}
        self.cumulative_hist = np.zeros(_BINS, np.int64)
        self.instance_version: dict[int, int] = {}
        self.instance_name: dict[int, str] = {}

    # -- hot path ------------------------------------------------------------------

    def record(self, status: int, started: float, now: float, instance: int = -1) -> None:
        """One answer: ``started``/``now`` are ``time.monotonic()`` readings."""
        n = self.requests
        self.requests = n + 1
        by = self.by_status
        by[status] = by.get(status, 0) + 1
        took = now - started
        self.latency_s += took
        if self.enabled:
            i = n & _MASK
            self._t[i] = now
            self._lat[i] = took
            self._code[i] = status
            self._inst[i] = instance

    def record_batch(self, size: int) -> None:
        self.batches += 1
        self.batched += size
        self.batch_sizes[size] = self.batch_sizes.get(size, 0) + 1

    # -- aggregation (off the hot path) ----------------------------------------------

    def add_instance(self, index: int, name: str, version: int) -> None:
        self.instance_version[index] = version
        self.instance_name[index] = name

    @property
    def unfolded(self) -> bool:
        """Whether answers or batches were recorded since the last fold."""
        return self.requests != self._folded or self.batches != self._batches_folded

    def fold(
        self, queue: int | None = None, resources: dict[int, dict[str, Any]] | None = None
    ) -> None:
        """Move the answers written since the last fold into per-second buckets."""
        end = self.requests
        start = self._folded
        if end - start > RING:
            self.dropped += end - start - RING
            start = end - RING
        self._folded = end
        # monotonic → wall clock: the buckets are stamped in seconds since the epoch
        offset = time.time() - time.monotonic()
        if end > start and self.enabled:
            a, b = start & _MASK, end & _MASK
            idx = np.arange(a, a + (end - start)) & _MASK if b <= a else slice(a, b)
            t = np.frombuffer(self._t, np.float64)[idx] + offset
            lat = np.frombuffer(self._lat, np.float64)[idx]
            code = np.frombuffer(self._code, np.uint16)[idx].astype(np.int64)
            inst = np.frombuffer(self._inst, np.int32)[idx].astype(np.int64)
            bins = _bin_of(lat)
            secs = np.floor(t).astype(np.int64)
            for sec, sel in _groups(secs):
                self._add(self._bucket(sec), code[sel], bins[sel], inst[sel])
        now_s = int(time.time())
        bucket = self._bucket(now_s)
        if queue is not None:
            bucket.queue = max(bucket.queue, queue)
        if resources:
            bucket.resources.update(resources)
        bucket.batches += self.batches - self._batches_folded
        bucket.batched += self.batched - self._batched_folded
        self._batches_folded, self._batched_folded = self.batches, self.batched

    def _bucket(self, second: int) -> Bucket:
        buckets = self.buckets
        if buckets and buckets[-1].second == second:
            return buckets[-1]
        if buckets and buckets[-1].second > second:  # a late answer of an earlier second
            for bucket in reversed(buckets):
                if bucket.second == second:
                    return bucket
            return buckets[-1]
        bucket = Bucket(second)
        buckets.append(bucket)
        return bucket

    def _add(self, bucket: Bucket, code: np.ndarray, bins: np.ndarray, inst: np.ndarray) -> None:
        bucket.count += len(code)
        hist = np.bincount(bins, minlength=_BINS)
        bucket.hist += hist
        self.cumulative_hist += hist
        for i, sel in _groups(inst):
            per_code = np.bincount(code[sel])  # status codes are < 1000: a short count
            codes = np.flatnonzero(per_code)
            count, by, ihist = bucket.instances.get(i) or (0, {}, np.zeros(_BINS, np.int64))
            for c, k in zip(codes.tolist(), per_code[codes].tolist(), strict=True):
                by[c] = by.get(c, 0) + k
                bucket.by_status[c] = bucket.by_status.get(c, 0) + k
                self.cumulative[(i, c)] = self.cumulative.get((i, c), 0) + k
            ihist += (
                hist
                if isinstance(sel, slice) and sel == _ALL
                else np.bincount(bins[sel], minlength=_BINS)
            )
            bucket.instances[i] = (count + int(per_code.sum()), by, ihist)

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
        """Cumulative (upper edge in seconds, answers at or under it) since the start."""
        cum = np.cumsum(self.cumulative_hist)
        return [(_LO * _RATIO**i, int(c)) for i, c in enumerate(cum.tolist())]


_ALL = slice(None)


def _groups(keys: np.ndarray) -> list[tuple[int, slice | np.ndarray]]:
    """Each distinct key of ``keys`` with what selects its entries.

    The fold runs in the kernel's event loop, so a request in flight waits for it:
    ``np.unique`` sorts, ~0.4 ms for a second's 13k answers, several times per
    fold (a 1.7 ms stall once a second, the identity p99.9 at c=1; issue 16). The
    keys are seconds in time order and instance indexes, nearly always one value
    or sorted runs: those are found in one pass, and only keys in any other order
    are sorted.
    """
    first = keys[0]
    if keys[-1] == first and not (keys != first).any():
        return [(int(first), _ALL)]
    steps = np.diff(keys)
    if (steps >= 0).all():
        bounds = [0, *(np.flatnonzero(steps) + 1).tolist(), len(keys)]
        return [(int(keys[a]), slice(a, b)) for a, b in zip(bounds, bounds[1:], strict=False)]
    return [(int(k), keys == k) for k in np.unique(keys)]


def _bin_of(lat: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = np.ceil((np.log(np.maximum(lat, 1e-9)) - _LOG_LO) / _LOG_RATIO)
    return np.clip(raw, 0, _BINS - 1).astype(np.int64)


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
