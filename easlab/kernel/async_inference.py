"""Asynchronous inference: a service fed from its input queue, its answers in the sink.

EAS pairs an input queue (the service's own path), the inference processor that
consumes it and a sink queue (``NAME/sink``) where each answer lands tagged with
the input's ``requestId`` (SPEC §4). Here a ``Feeder`` is one consumer of the
input queue's group ``easlab-async``: it sends each record to the service as a
prediction call and, once answered, puts the answer into the sink and commits
the input record; at most ``window`` records are at the service at once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from easlab.kernel.call import Call
from easlab.kernel.queue import REQUEST_ID, Queue, QueueError, Record

if TYPE_CHECKING:
    from easlab.kernel.service import Service

GROUP = "easlab-async"


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

    def start(self) -> None:
        self.source.attach(GROUP, self, 0)

    def stop(self) -> None:
        self.source.detach(GROUP, self)

    def deliver(self, record: Record) -> None:
        index, request_id, tags = record.index, record.request_id, record.tags

        def answer(status: int, body: bytes | bytearray) -> None:
            out = {REQUEST_ID: request_id, "status": str(status), "sourceIndex": str(index)}
            out.update({k: v for k, v in tags.items() if k not in out})
            try:
                self.sink.put(bytes(body), out)
            except QueueError as exc:
                # the sink is full: the input record stays pending and is retried later
                self.service.log("kernel", f"async: sink refused record {index}: {exc.message}")
                return
            self.answered += 1
            self.source.commit(GROUP, [index])

        self.service.submit(Call(record.data, answer))
