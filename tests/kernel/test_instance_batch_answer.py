"""A batch's first answer frees its instance before any of its callers is answered.

The worker sends a batch's answers only once ``process_batch`` has returned, all
in one send, so the first answer means the model is free. ``Instance.on_frame``
then takes the batch off the instance and pumps the service, so that the next
batch leaves before the kernel writes this batch's HTTP answers (issue 16). The
order is observed through a service stand-in that records its pumps and calls
that record their answers (the kernel's parts around one instance, not timed).
"""

from __future__ import annotations

from types import SimpleNamespace

from easlab.kernel.call import Call
from easlab.kernel.frames import RESPONSE
from easlab.kernel.instance import Instance


def _instance(events: list[str]) -> Instance:
    service = SimpleNamespace(name="svc", pump=lambda: events.append("pump"))
    return Instance(service, 0, version=None, gpus=[])  # type: ignore[arg-type]


def _call(events: list[str], name: str) -> Call:
    return Call(b"body", lambda status, body: events.append(f"answer {name} {status} {body!r}"))


def test_the_first_answer_of_a_batch_frees_the_instance_before_answering():
    events: list[str] = []
    inst = _instance(events)
    batch = [1]  # what send_batch shares among a batch's calls
    calls = {rid: _call(events, f"r{rid}") for rid in (1, 2, 3)}
    for rid, call in calls.items():
        call.batch, call.instance, call.rid = batch, inst, rid
    inst.calls = dict(calls)
    inst.busy = 1  # a batch is one frame

    inst.on_frame(RESPONSE, 1, 200, b"a")
    assert events == ["pump", "answer r1 200 b'a'"]  # freed, pumped, then answered
    assert inst.busy == 0 and batch == [0]

    events.clear()
    inst.on_frame(RESPONSE, 2, 200, b"b")
    inst.on_frame(RESPONSE, 3, 400, b"c")
    # the rest only answer: the instance was freed once, and pumped once
    assert events == ["answer r2 200 b'b'", "answer r3 400 b'c'"]
    assert inst.busy == 0 and inst.calls == {}
    assert all(call.instance is None for call in calls.values())


def test_a_single_request_frees_its_slot_once_and_is_answered():
    events: list[str] = []
    inst = _instance(events)
    call = _call(events, "r7")
    call.batch, call.instance, call.rid = None, inst, 7
    inst.calls = {7: call}
    inst.busy = 1
    inst.on_frame(RESPONSE, 7, 200, b"x")
    assert events == ["answer r7 200 b'x'", "pump"]
    assert inst.busy == 0 and call.instance is None
    inst.on_frame(RESPONSE, 7, 200, b"again")  # an answer for no call: ignored
    assert events == ["answer r7 200 b'x'", "pump"]
