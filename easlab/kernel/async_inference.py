"""Asynchronous inference: a service fed from its input queue, its answers in the sink.

EAS pairs an input queue (the service's own path), the inference processor that
consumes it and a sink queue (``NAME/sink``) where each answer lands tagged with
the input's ``requestId`` (SPEC §4). Here a ``Feeder`` is one consumer of the
input queue's group ``easlab-async``: it sends each record to the service as a
prediction call and, once answered, puts the answer into the sink and commits
the input record; at most ``window`` records are at the service at once.

The feeder consumes only while the service serves (the kernel starts it once
the service is Running and stops it with the service): a record is never
answered "service is Creating". An answer the service gives because it cannot
take the record now (450 queue full, 503 not serving) is not a result: the record
goes back to the group and is delivered again a little later. The group's cursor
is on disk (queue.py), so after a restart the feeder carries on where it was and
records delivered but not answered before the kill are fed again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from easlab.kernel.call import Call
from easlab.kernel.queue import REQUEST_ID, Queue, QueueError, Record

if TYPE_CHECKING:
    from easlab.kernel.service import Service

GROUP = "easlab-async"
#: answers that mean "not now" rather than a result, and how long until the record comes back
RETRY_STATUSES = frozenset({450, 503})
RETRY_AFTER_S = 0.2


class Feeder:
    """The consumer that carries an input queue's records through a service to its sink."""

    auto_commit = False
    index_only = False

    def __init__(self, service: Service, source: Queue, sink: Queue, window: int) -> None:
        self.service = service
        self.source = source
        self.sink = sink
        self.window = max(window, 1)
        self.uid = f"{service.name}-feeder"
        self.pending: set[int] = set()
        self.answered = 0
        self.attached = False

    def start(self) -> None:
        """Consume the input queue (again); nothing if already consuming."""
        if not self.attached:
            self.attached = True
            self.source.attach(GROUP, self, 0)

    def stop(self) -> None:
        """Stop consuming; records at the service go back to the group."""
        if self.attached:
            self.attached = False
            self.source.detach(GROUP, self)

    def deliver(self, record: Record) -> None:
        index, request_id, tags = record.index, record.request_id, record.tags

        def answer(status: int, body: bytes | bytearray) -> None:
            if not self.attached:
                return  # stopped (or deleted) meanwhile: detach gave the record back already
            if status in RETRY_STATUSES:
                self.source.release(GROUP, self, index, RETRY_AFTER_S)
                return
            out = {REQUEST_ID: request_id, "status": str(status), "sourceIndex": str(index)}
            out.update({k: v for k, v in tags.items() if k not in out})

            def stored(record: Record | QueueError) -> None:
                if isinstance(record, QueueError):
                    refused(record)
                    return
                self.answered += 1
                self.source.commit(GROUP, [index])  # the answer is on disk: the input is done

            def refused(exc: QueueError) -> None:
                # the sink is full: the input record goes back and is fed again later
                self.service.log("kernel", f"async: sink refused record {index}: {exc.message}")
                if self.attached:
                    self.source.release(GROUP, self, index, 1.0)

            try:
                # the answers of one loop pass share one fsync (queue.py, put_soon)
                self.sink.put_soon(bytes(body), out, stored)
            except QueueError as exc:
                refused(exc)

        self.service.submit(Call(record.data, answer))
