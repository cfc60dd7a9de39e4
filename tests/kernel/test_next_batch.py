"""Under load the next batch waits in the instance behind the running one.

While an instance runs a batch of several calls, the next batch closes as soon as
as many calls wait as that batch holds, and goes to the same instance, so that the
model starts it without waiting for the kernel to hear the answer and send it
(issue 16). At most one batch waits behind the running one, fewer calls keep
waiting in the kernel, and a running call alone (a batch of one) never has one
sent behind it. Observed through an instance stand-in (the kernel's real Service,
Kernel and queue; no timing); tests/kernel/test_batching.py runs it end to end.
"""

from __future__ import annotations

from types import SimpleNamespace

from service_standin import call, instance, run, service

from easlab.kernel.control import Kernel
from easlab.kernel.service import Service


def _one_instance(
    loop, folder, name: str, lone_callers: bool = False, **settings
) -> tuple[Service, SimpleNamespace, list[str]]:
    """A batching service with one ready instance stand-in, and what it is sent;
    ``lone_callers`` False: callers come together, no lone caller's direct path."""
    svc = service(Kernel(folder, loop), folder, name, **settings)
    sent: list[str] = []
    inst = instance(sent)
    svc.instances = [inst]
    svc._lone_callers = lone_callers
    return svc, inst, sent


def test_the_next_batch_goes_behind_the_running_one_once_as_many_calls_wait(tmp_path):
    def test(loop):
        svc, inst, sent = _one_instance(loop, tmp_path, "next_batch")
        for name in "abc":  # one pass: they go together to the idle instance
            svc.submit(call(name))
        svc._scheduled_pump()
        assert sent == ["batch a,b,c"] and inst.busy == 1
        svc.submit(call("d"))
        svc.submit(call("e"))
        svc._scheduled_pump()
        # two wait, the running batch holds three: they stay in the kernel's queue
        assert sent == ["batch a,b,c"] and len(svc.queue) == 2
        svc.submit(call("f"))
        svc._scheduled_pump()
        assert sent == ["batch a,b,c", "batch d,e,f"] and inst.busy == 2
        assert svc.queue.closes == {"full": 0, "timeout": 0, "idle": 1, "next": 1}
        # with one batch behind the running one, the rest wait in the kernel
        for name in "ghi":
            svc.submit(call(name))
        svc._scheduled_pump()
        assert len(sent) == 2 and len(svc.queue) == 3
        inst.busy = 1  # a,b,c answered: d,e,f runs, g,h,i are as many: they go behind
        svc.pump()
        assert sent[-1] == "batch g,h,i" and inst.busy == 2
        assert svc.queue.closes["next"] == 2
        assert svc.stats.batch_sizes == {3: 3}

    run(test)


def test_a_call_running_alone_gets_no_batch_behind_it(tmp_path):
    def test(loop):
        svc, inst, sent = _one_instance(loop, tmp_path, "next_after_one", lone_callers=True)
        svc.submit(call("a"))  # a lone caller: straight to the idle instance
        for name in "bcd":
            svc.submit(call(name))
        svc._scheduled_pump()
        # behind a batch of one the next would be a batch of one: they wait and join
        assert sent == ["request a"] and len(svc.queue) == 3
        inst.busy = 0
        svc.pump()
        assert sent[-1] == "batch b,c,d"
        assert svc.queue.closes["next"] == 0

    run(test)


def test_a_full_batch_waits_behind_the_running_one_even_with_one_worker_thread(tmp_path):
    def test(loop):
        svc, inst, sent = _one_instance(loop, tmp_path, "next_full", max_batch_size=2)
        svc.spec.metadata.worker_threads = 1
        for name in "ab":
            svc.submit(call(name))
        svc._scheduled_pump()
        assert sent == ["batch a,b"]
        for name in "cd":
            svc.submit(call(name))
        svc._scheduled_pump()
        # full: it goes behind the running batch (before, it waited for the one thread)
        assert sent[-1] == "batch c,d" and inst.busy == 2
        assert svc.queue.closes == {"full": 2, "timeout": 0, "idle": 0, "next": 0}
        for name in "ef":
            svc.submit(call(name))
        svc._scheduled_pump()
        assert sent[-1] == "batch c,d" and len(svc.queue) == 2  # never a third

    run(test)


def test_a_full_queue_still_answers_450_while_a_batch_waits_behind_the_running_one(tmp_path):
    # rpc.max_queue_size bounds the calls in the kernel's queue; the batch that went
    # to wait in the instance is the instance's (ARCHITECTURE.md), so three more fit
    def test(loop):
        svc, inst, sent = _one_instance(loop, tmp_path, "next_queue_full", max_queue_size=3)
        answers: list[tuple[str, int]] = []
        for name in "abc":
            svc.submit(call(name, answers))
        svc._scheduled_pump()
        for name in "def":
            svc.submit(call(name, answers))
        svc._scheduled_pump()
        assert sent == ["batch a,b,c", "batch d,e,f"] and not svc.queue
        for name in "ghi":
            svc.submit(call(name, answers))
        assert answers == [] and len(svc.queue) == 3
        svc.submit(call("j", answers))
        assert answers == [("j", 450)]  # answered at once; nothing else was answered
        svc._scheduled_pump()
        assert len(sent) == 2 and len(svc.queue) == 3

    run(test)
