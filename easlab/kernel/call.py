"""``Call``: one request in flight through the kernel, from the HTTP side to an instance."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from easlab.kernel.instance import Instance


def _answered(status: int, body: bytes | bytearray) -> None:
    """A finished call's respond: later answers go nowhere."""


class Call:
    """One request in flight through the kernel: its body and where its answer goes."""

    __slots__ = (
        "body",
        "respond",
        "done",
        "deadline",
        "retried",
        "instance",
        "batch",
        "queued_at",
        "rid",
        "sent",
        "alone",
        "orphaned",
        "by_kernel",
    )

    def __init__(self, body: bytes, respond: Callable[[int, bytes | bytearray], None]) -> None:
        self.body = body
        self.respond = respond
        self.done = False
        self.deadline = 0.0  # loop time of its 408 (rpc.keepalive after arrival)
        self.retried = False
        self.instance: Instance | None = None
        self.batch: list[int] | None = None  # its batch's flag, [1] until the batch is answered
        self.queued_at = 0.0
        self.rid = 0
        self.sent = (
            0.0  # perf_counter() when it left for its instance (uvloop's clock has ms steps)
        )
        self.alone = False  # the kernel's only request, from a lone client (awake.py)
        #: answered 502 because its instance died holding it (Service.on_calls_orphaned):
        #: no answer of the model's; an async feeder feeds it again
        self.orphaned = False
        #: answered by the kernel (``refuse``: 408, 450, 502, 503), not by its processor;
        #: a processor may answer 450 or 503 itself, and that is its answer
        self.by_kernel = False

    def finish(self, status: int, body: bytes | bytearray) -> None:
        """Answer the caller once; later answers (after a 408) are dropped."""
        if self.done:
            return
        self.done = True
        respond, self.respond = self.respond, _answered
        self.body = b""  # the service may hold the call a while longer; not its body
        respond(status, body)

    def withdraw(self) -> None:
        """Its caller takes it back before an instance got it: no answer goes anywhere
        (the queue it waits in drops it as it drops a call answered 408)."""
        self.done = True
        self.respond = _answered
        self.body = b""

    def refuse(self, status: int, message: bytes) -> None:
        """The kernel's own answer (408, 450, 502, 503): the call did not get, or will
        not get, its processor's; ``by_kernel`` tells the caller so."""
        if not self.done:
            self.by_kernel = True
        self.finish(status, message)


class HttpCall(Call):
    """A call to an HTTP-aware processor (processors/http.py): its processor answers an
    ``HttpAnswer``, the kernel's refusals (``refuse``) a text; ``by_kernel`` tells which
    answer the caller got, with no guess from the status or the body."""

    __slots__ = ()
