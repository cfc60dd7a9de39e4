"""Asynchronous inference: a service fed from its input queue, its answers in the sink.

EAS pairs an input queue (the service's own path), the inference processor that
consumes it and a sink queue (``NAME/sink``) where each answer lands tagged with
the input's ``requestId`` (SPEC §4). Here a ``Feeder`` is one consumer of the
input queue's group ``easlab-async``: it sends each record to the service as a
prediction call and, once answered, puts the answer into the sink and commits
the input record; at most ``window`` records are at the service at once
(instances x rpc.worker_threads x 2: those the workers run and as many waiting in the
service's queue, so a worker never idles between records).

An urgent record (``_priority_=1``) goes before every record the group has not
delivered, and before those the feeder holds but the model has not started: when
one is put with the window full, the feeder takes back its records still in the
service's queue (``make_room``) and they are fed again after it. Records a worker
runs, and those already sent to a quick instance's pipe (service.py, PIPELINE),
are not taken back: they are answered first.

The feeder consumes only while the service serves (the kernel starts it once
the service is Running and stops it with the service): a record is never
answered "service is Creating". An answer the kernel gives because the service cannot
take the record now (450 queue full, 503 not serving) is not a result: the record
goes back to the group and is delivered again a little later. Neither is an
instance that died holding the record: as the manual says, the record is fed
again (one record at a time until those it held are through, at most
INSTANCE_DEATH_RETRIES times). An answer the sink refuses for good (413, above
its max_payload_size_kb) is replaced by a short failure record with that status,
so the client hears of it; one refused for now (450 full) is kept and put again a
second later, and no record is fed until the sink took it (the model does not run
again for it, nor for records whose answers would not fit either).

A Seldon or aiges service (an HTTP-aware processor, processors/http.py) gets each
record as a POST of its data to the service's path, and its sink the answer's body.

The group's cursor is on disk (queue.py), so after a restart the feeder carries
on where it was and records delivered but not answered before the kill are fed
again. A record answered before a kill that came ahead of its commit is not: its
answer is in the sink (idempotent per requestId), or a client consumed it and the
sink remembers that (``Queue.answered``); the record is committed, the model not run.
"""

from __future__ import annotations

import os
import signal
import time
from typing import TYPE_CHECKING

from easlab.kernel.call import Call, HttpCall
from easlab.kernel.processors.http import HTTP_AWARE, HttpAnswer, HttpRequest
from easlab.kernel.queue import FEEDER_GROUP, REQUEST_ID, SOURCE_INDEX, Queue, QueueError, Record

if TYPE_CHECKING:
    from easlab.kernel.service import Service

GROUP = FEEDER_GROUP  # the consumer group a feeder reads in (never expired: queue.py)
#: the kernel's refusals that mean "not now" rather than a result (a processor's own 450
#: or 503 is its answer, stored), and how long until the record comes back
RETRY_STATUSES = frozenset({450, 503})
RETRY_AFTER_S = 0.2
#: sink refusals that mean "not now" (409 that requestId being written, 450 full, 500 not
#: written): the answer is kept and put again later, no record is fed meanwhile. Any other (413: the answer is above the sink's
#: max_payload_size_kb) would come again every time: a failure record takes its place.
SINK_RETRY_STATUSES = frozenset({409, 450, 500})
SINK_RETRY_AFTER_S = 1.0
#: how many times a record is fed again after the instance holding it died
INSTANCE_DEATH_RETRIES = 3
#: tests only: a kernel started with this set to 1 kills itself (SIGKILL) once an answer
#: is on disk in the sink, before its input record is committed
KILL_AFTER_ANSWER_ENV = "EASLAB_TEST_KILL_AFTER_ANSWER_STORED"
_KILL_AFTER_ANSWER = os.environ.get(KILL_AFTER_ANSWER_ENV) == "1"  # read at import


def _answer_body(status: int, body: bytes | bytearray) -> bytes | bytearray:
    """The body of an HTTP-aware processor's answer (what a client of the service path
    would have read); one that is no HttpAnswer is stored as it came."""
    try:
        return HttpAnswer.decode(status, body).body
    except ValueError:
        return body


class Feeder:
    """The consumer that carries an input queue's records through a service to its sink."""

    auto_commit = False
    index_only = False

    def __init__(self, service: Service, source: Queue, sink: Queue, window: int) -> None:
        self.service = service
        self.source = source
        self.sink = sink
        self.full_window = max(window, 1)
        #: what the group may have at the service now: 1 while ``deaths`` holds records
        self.window = self.full_window
        self.uid = f"{service.name}-feeder"
        self.tags: dict[str, str] = {}  # it takes every record
        self.pending: set[int] = set()
        self.answered = 0
        self.attached = False
        #: records an instance died holding, and how many times
        self.deaths: dict[int, int] = {}
        #: answers the sink had no room for (full, or not written), by input record: kept
        #: and put again every SINK_RETRY_AFTER_S (the model is not run again); no record
        #: is fed meanwhile. The value is the ``run`` they belong to.
        self.waiting: dict[int, int] = {}
        #: one per start: a stop gives the records back, and answers of an earlier run
        #: that wait for the sink are dropped (their records are fed again)
        self.run = 0
        #: the call of each record at the service now (taken back by ``make_room``)
        self.calls: dict[int, Call] = {}

    def start(self) -> None:
        """Consume the input queue (again); nothing if already consuming."""
        if not self.attached:
            self.attached = True
            self.run += 1
            self.waiting.clear()
            self._set_window()
            self.sink.forget_consumed()  # what inputs a previous run settled since
            self.source.attach(GROUP, self, 0)

    def stop(self) -> None:
        """Stop consuming; records at the service go back to the group."""
        if self.attached:
            self.attached = False
            self.waiting.clear()  # their records go back: answered again after a start
            self.calls.clear()
            self._set_window()
            self.source.detach(GROUP, self)

    def deliver(self, record: Record) -> None:
        index = record.index
        stats = self.service.stats
        if self.deaths:
            self._settle(*[i for i in self.deaths if i not in self.source.records])

        if self.sink.answered(record.request_id, index):
            # answered before the kernel died ahead of the record's commit: the answer
            # is in the sink, or a client consumed it already; the model is not run again
            self.service.kernel.loop.call_soon(self._answered_before, index)
            return

        started = time.monotonic()

        def answer(status: int, body: bytes | bytearray) -> None:
            if self.calls.get(index) is call:
                del self.calls[index]
            not_now = status in RETRY_STATUSES and call.by_kernel
            if not not_now:
                # the monitor counts the service's answers, as for a call over HTTP (the
                # record fed again after a "not now" is not a request of its own)
                inst = call.instance
                stats.record(status, started, time.monotonic(), -1 if inst is None else inst.index)
            if not self.attached:
                return  # stopped (or deleted) meanwhile: detach gave the record back already
            if not_now:
                # the kernel's "not now"; a model's own 450 or 503 is its answer
                self.source.release(GROUP, self, index, RETRY_AFTER_S)
                return
            if call.orphaned:  # the instance died holding it: no answer of the model's
                died = self.deaths.get(index, 0) + 1
                if died <= INSTANCE_DEATH_RETRIES:
                    self._feed_again(index, died)
                    return
                body = (
                    bytes(body)
                    + (
                        f" (the instance died each of the {died} times this record was fed; "
                        "it is not fed again)"
                    ).encode()
                )
            if isinstance(call, HttpCall) and not call.by_kernel:
                body = _answer_body(status, body)
            self._store(index, record.request_id, record.tags, status, body, failure=False)

        # An HTTP-aware processor (Seldon, aiges) takes an HttpRequest and answers an
        # HttpAnswer (processors/http.py): the record is a POST of its data to the
        # service's path, as a client's request would be; the sink gets the answer's body.
        if self.service.current.target in HTTP_AWARE:
            envelope = HttpRequest("POST", "", "", None, bytes(record.data)).encode()
            call: Call = HttpCall(envelope, answer)
        else:
            call = Call(record.data, answer)
        self.calls[index] = call
        self.service.submit(call)

    def make_room(self) -> list[int]:
        """An urgent record waits in the group and the window is full: take back the
        records that wait in the service's queue, the model not started on them (normal
        ones: urgent records keep their order), so that the urgent record goes first.
        Those an instance has (running, or in a quick instance's pipe) stay; the indexes
        given back, which the group delivers again after the urgent records."""
        if not self.attached:
            return []
        back = []
        for index, call in list(self.calls.items()):
            entry = self.source.records.get(index)
            if entry is not None and entry.urgent:
                continue
            if self.service.withdraw(call):
                del self.calls[index]
                back.append(index)
        return back

    def _answered_before(self, index: int) -> None:
        """Record ``index`` was answered by a kernel that died before committing it."""
        if not self.attached or index not in self.pending:
            return  # stopped meanwhile: the record went back to the group
        self.service.log(
            "kernel",
            f"async: record {index} was answered before the kernel stopped; not fed again",
        )
        self._settle(index)
        self.source.commit(GROUP, [index])

    def _feed_again(self, index: int, died: int) -> None:
        """The instance died holding record ``index``: the manual's "dispatched to other
        instances". Until the records it held are answered they go one at a time, so a
        record that kills the instance dies alone and the others come through; after
        INSTANCE_DEATH_RETRIES deaths the record's answer is the 502 (a poison input
        does not loop forever)."""
        self.deaths[index] = died
        self._set_window()
        self.service.log(
            "kernel",
            f"async: the instance died holding record {index}; feeding it again "
            f"({died} of {INSTANCE_DEATH_RETRIES})",
        )
        self.source.release(GROUP, self, index, RETRY_AFTER_S)

    def _settle(self, *indexes: int) -> None:
        """Records done with (answered, or gone from the queue): full window once none died."""
        for index in indexes:
            self.deaths.pop(index, None)
        self._set_window()

    def _set_window(self) -> None:
        """None fed while answers wait for room in the sink, one at a time while records
        an instance died holding are not through, else the full window."""
        self.window = 0 if self.waiting else 1 if self.deaths else self.full_window

    def sink_note(self) -> str:
        """Why records are not fed now (answers wait for the sink), or ""."""
        if not self.waiting:
            return ""
        return (
            f"{len(self.waiting)} answer(s) wait for room in the sink '{self.sink.name}' "
            f"(queue.sink.max_length {self.sink.max_length}); no record is fed until then: "
            f"read (or truncate) the sink, or raise queue.sink.max_length"
        )

    def _store(
        self,
        index: int,
        request_id: str,
        tags: dict[str, str],
        status: int,
        body: bytes | bytearray,
        failure: bool,
    ) -> None:
        """Put the answer to record ``index`` into the sink, then commit the record.

        ``failure``: this is the failure record that stands for an answer the sink
        refused for good.
        """
        out = {REQUEST_ID: request_id, "status": str(status), SOURCE_INDEX: str(index)}
        out.update({k: v for k, v in tags.items() if k not in out})

        run = self.run

        def stored(record: Record | QueueError) -> None:
            if isinstance(record, QueueError):
                refused(record)
                return
            self.answered += 1
            if self.waiting.pop(index, None) is not None and not self.waiting:
                self.service.log("kernel", f"async: the sink '{self.sink.name}' took the answers")
                self._set_window()
                self.source.dispatch(GROUP)  # feeding goes on
            self._settle(index)
            if _KILL_AFTER_ANSWER:
                os.kill(os.getpid(), signal.SIGKILL)  # tests: a death between the two
            self.source.commit(GROUP, [index])  # the answer is on disk: the input is done

        def again() -> None:
            if self.attached and self.waiting.get(index) == run:
                self._store(index, request_id, tags, status, body, failure)

        def refused(exc: QueueError) -> None:
            if exc.status in SINK_RETRY_STATUSES:
                # not now (the sink is full): the answer is kept and put again later (fed
                # again, the record would run the model each time), nothing else is fed
                if not self.attached or self.run != run:
                    return  # stopped meanwhile: the record was given back
                if not self.waiting:
                    self.service.log("kernel", f"async: sink refused record {index}: {exc.message}")
                self.waiting[index] = run
                self._set_window()
                self.service.kernel.loop.call_later(SINK_RETRY_AFTER_S, again)
                return
            self.service.log("kernel", f"async: sink refused record {index}: {exc.message}")
            if failure:
                # even the short failure record does not fit (a sink limit under a KB)
                self._settle(index)
                self.source.commit(GROUP, [index])
            else:
                # never: fed again, the record would be answered and refused again forever
                text = (
                    f"the answer to record {index} (status {status}, {len(body)} bytes) "
                    f"could not be stored in the sink: {exc.message}"
                ).encode()
                self._store(
                    index, request_id, tags, exc.status, text[: self.sink.max_payload], True
                )

        try:
            # the answers of one loop pass share one fsync (queue.py, put_soon)
            self.sink.put_soon(bytes(body), out, stored)
        except QueueError as exc:
            refused(exc)
