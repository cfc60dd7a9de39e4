"""A batch's first answer frees its instance before any of its callers is answered.

The worker sends a batch's answers only once ``process_batch`` has returned, all
in one ANSWERS frame, so the first answer means the model is free. ``Instance.on_frame``
then takes the batch off the instance and pumps the service, so that the next
batch leaves before the kernel writes this batch's HTTP answers (issue 16). The
order is observed through a service stand-in that records its pumps and calls
that record their answers (the kernel's parts around one instance, not timed).
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from easlab.kernel.call import Call
from easlab.kernel.frames import ANSWERS, RESPONSE, answers_index, read_answers
from easlab.kernel.instance import Instance


def _instance(events: list[str]) -> Instance:
    service = SimpleNamespace(
        name="svc",
        pump=lambda: events.append("pump"),
        log=lambda source, text: events.append(f"log {source}: {text}"),
    )
    return Instance(service, 0, version=None, gpus=[])  # type: ignore[arg-type]


def _answers(*answers: tuple[int, int, bytes]) -> bytes:
    ids, statuses, bodies = zip(*answers, strict=True)
    return answers_index(ids, statuses, [len(b) for b in bodies]) + b"".join(bodies)


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

    inst.on_frame(ANSWERS, 0, 0, _answers((1, 200, b"a"), (2, 200, b"b"), (3, 400, b"c")))
    # freed and pumped once, before the first answer; the rest only answer
    assert events == [
        "pump",
        "answer r1 200 b'a'",
        "answer r2 200 b'b'",
        "answer r3 400 b'c'",
    ]
    assert inst.busy == 0 and batch == [0] and inst.calls == {}
    assert all(call.instance is None for call in calls.values())


def test_an_answers_frame_reads_back_what_was_packed():
    frame = _answers((5, 200, b"five"), (6, 450, b""), (7, 400, b"x" * 70_000))
    assert read_answers(frame) == [(5, 200, b"five"), (6, 450, b""), (7, 400, b"x" * 70_000)]
    assert read_answers(memoryview(frame)) == read_answers(frame)


@pytest.mark.parametrize(
    "frame, why",
    [
        (b"\x00\x00", "has no count"),
        (answers_index([1, 2], [200, 200], [1, 1])[:20], "cannot index 2 answers"),
        (_answers((1, 200, b"ab")) + b"extra", "do not add up"),
        (_answers((1, 200, b"ab"))[:-1], "do not add up"),
    ],
)
def test_a_malformed_answers_frame_is_refused(frame, why):
    with pytest.raises(ValueError, match=why):
        read_answers(frame)


def test_a_malformed_answers_frame_kills_the_instance_and_answers_no_call():
    # Only a broken instance process can send one: its channel can no longer be
    # trusted, so the instance is killed (its calls go back through the supervisor's
    # orphan handling) and nothing is answered from the frame.
    events: list[str] = []
    inst = _instance(events)
    killed = []
    inst.kill = lambda: killed.append(True)  # type: ignore[method-assign]
    call = _call(events, "r1")
    call.batch, call.instance, call.rid = [1], inst, 1
    inst.calls = {1: call}
    inst.busy = 1
    inst.on_frame(ANSWERS, 0, 0, _answers((1, 200, b"ab"))[:-1])
    assert killed == [True]
    assert events == [
        "log svc-0: killing the instance: the 1 answers' sizes do not add up to their frame"
    ]
    assert inst.calls == {1: call} and inst.busy == 1


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
