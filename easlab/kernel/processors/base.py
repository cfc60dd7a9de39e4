"""The one processor interface every serving backend plugs into.

A processor runs inside an instance process and knows nothing about HTTP: it
gets request bytes and answers ``(bytes, status)``. The kernel's server,
router, batching and instance supervision live elsewhere (easlab/kernel/).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from easlab.allspark import as_bytes, normalize_status
from easlab.kernel.packed import Packed


@dataclass
class ProcessorContext:
    """What an instance knows when it builds its processor."""

    service_name: str
    spec: dict[str, Any]  # the service.json of this version (unknown keys kept)
    model_path: Path | None = None  # local, resolved: a directory or a file
    model_entry: Path | None = None  # model_path/model_entry when given, else model_path
    model_config: Any = None  # text or object, as in service.json
    processor_path: Path | None = None  # local, resolved directory of a custom processor
    processor_entry: str | None = None  # app.py / libprocessor.so
    worker_threads: int = 5
    instance_index: int = 0
    gpu_devices: list[int] = field(default_factory=list)
    instance_count: int = 1  # instances of the service (metadata.instance)
    model_threads: int | None = None  # metadata.model_threads, if set
    batching: bool = False  # rpc.batching: the instance runs one batch at a time


#: the most intra-op threads an instance takes unless ``metadata.model_threads`` says
#: more (``model_threads`` says why)
DEFAULT_THREADS_CAP = 4


def model_threads(ctx: ProcessorContext) -> tuple[int, str]:
    """Intra-op threads for this instance's model runtime, and why that many.

    onnxruntime and torch each start one compute thread per core by default, in
    every instance. With ``n`` instances on ``c`` cores that is ``n * c`` busy
    threads fighting over ``c`` cores, on top of the worker threads and the
    kernel: each run is slowed by context switches and the threads of one
    runtime wait for each other at every parallel section (a stalled thread
    stalls the operator). So the instances share ``cores - 1`` cores: one core
    stays with the kernel's event loop (HTTP, batching) and the instances'
    worker threads (decoding and encoding requests), which run in every
    request's path. On 2 cores a pool of 2 threads measured a c=1 p99 of 5 ms
    (its second thread waiting for a core the kernel held) against 0.5 ms with
    1, and 25% fewer requests/s at c=16 (BENCHMARKS.md, "Real models").

    The share is split again between the calls an instance runs at once: its
    ``worker_threads`` without batching (each runs the model on its own
    request), one batch at a time with ``rpc.batching``. And it stops at
    ``DEFAULT_THREADS_CAP``: on a 16-core machine (benchmarks/FINDINGS.md,
    2026-12-04) a pool of 15 threads lost to a pool of 1 on every figure of the
    benchmark's models (calls of 0.05-0.5 ms): c=1 p99 3.05 ms against 0.37 ms,
    c=16 batched 14.3k against 22.9k req/s (MLP, onnx), as a pool's threads
    spin between operators on cores the kernel and the decoding threads need.
    A model whose calls take many milliseconds gains from more threads:
    ``metadata.model_threads`` sets them (and wins over all of this);
    ``metadata.cpu``, the cores EAS gives an instance, caps the default too.
    """
    if ctx.model_threads:
        return int(ctx.model_threads), "metadata.model_threads"
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    calls = 1 if ctx.batching else max(1, ctx.worker_threads)
    cpu = (ctx.spec.get("metadata") or {}).get("cpu")
    if not isinstance(cpu, (int, float)) or isinstance(cpu, bool) or cpu < 1:
        cpu = None
    return share_of_cores(cores, max(1, ctx.instance_count), calls, cpu)


def share_of_cores(
    cores: int, instances: int, calls: int, cpu: float | None = None
) -> tuple[int, str]:
    """``(cores - 1) // (instances * calls)``, at least 1, at most the cap and ``cpu``."""
    threads = max(1, (cores - 1) // (instances * calls))
    why = f"({cores} cores - 1 for the kernel) / {instances} instance(s)"
    if calls > 1:
        why += f" / {calls} calls at once (worker_threads, no batching)"
    if threads > DEFAULT_THREADS_CAP:
        threads = DEFAULT_THREADS_CAP
        why += f", at most {DEFAULT_THREADS_CAP} unless metadata.model_threads says more"
    if cpu is not None and cpu < threads:
        threads = int(cpu)
        why += f", capped by metadata.cpu={cpu:g}"
    return threads, why


def packed_answers(results: list[tuple[Any, Any]]) -> tuple[list[int], Packed]:
    """``(body, status)`` answers as ``answer_batch`` returns them (bytes, HTTP statuses)."""
    return [normalize_status(status) for _, status in results], Packed.of(
        [as_bytes(body) for body, _ in results]
    )


class ProcessorError(Exception):
    """Raised by a processor to answer a specific status with a message."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Processor:
    """Base class: override ``initialize`` and ``process`` (and optionally the rest)."""

    #: wire format of tensor processors, published in the GET signature as "format"
    #: ("tf", "torch", "blade", "onnx", "json"); None for byte-in/byte-out processors.
    request_format: str | None = None
    #: whether one batch keeps the instance's cores busy on its own (a model runtime's
    #: intra-op threads): the worker then keeps reading in the thread that runs a
    #: batch instead of waking another thread for the next frame (worker.py). False for
    #: code that may wait on I/O, whose batches gain from running side by side.
    batch_fills_cores: bool = False
    #: whether ``process`` takes an ``HttpRequest`` and answers an ``HttpAnswer``
    #: (processors/http.py; the target is in ``HTTP_AWARE``): the worker then answers
    #: an exception of ``process`` as an ``HttpAnswer`` too
    http_aware: bool = False

    def __init__(self, ctx: ProcessorContext) -> None:
        self.ctx = ctx

    def initialize(self) -> None:
        """Load the model; called once per instance process before any request."""

    def process(self, data: bytes) -> tuple[bytes, int]:
        """Answer one request: ``(body, status)``; 0 and 200 mean success."""
        raise NotImplementedError

    def setting_notes(self) -> list[str]:
        """After ``initialize``: where a service setting does not do for this model what
        it says (``rpc.batching`` that cannot join its requests). The kernel adds each
        to the service's warnings (``desc``, the create's answer) and its log."""
        return []

    def process_batch(self, requests: list[bytes]) -> list[tuple[bytes, int]]:
        """Answer a batch gathered by ``rpc.batching``; default: one at a time."""
        return [self.process(data) for data in requests]

    def answer_batch(self, batch: Packed) -> tuple[list[int], Packed]:
        """A batch's statuses and answer bodies, from its bodies as the frame holds them.

        What the instance calls (worker.py): ``process_batch`` on the bodies as
        ``bytes``, its answers checked and normalized. The tensor processors read and
        write a uniform batch in place instead (tensor.py).
        """
        bodies = batch.bodies()
        results = self.process_batch(bodies)
        if len(results) != len(bodies):
            raise RuntimeError(
                f"process_batch answered {len(results)} results for {len(bodies)} requests"
            )
        return packed_answers(results)

    @property
    def lone_batch_is_process(self) -> bool:
        """Whether ``process_batch([x])`` answers what ``process(x)`` does. The kernel
        then sends a lone caller's batch as a plain request, which skips the batch
        path on both sides (issue 16); true when ``process_batch`` is this default.
        A processor with its own ``process_batch`` says so itself."""
        return type(self).process_batch is Processor.process_batch

    def signature(self) -> dict[str, Any] | None:
        """The signature JSON served on ``GET /api/predict/{name}``, if any."""
        return None

    def close(self) -> None:
        """Release resources when the instance stops."""
