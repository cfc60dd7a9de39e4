"""With batching on, callers that come one at a time go straight to an idle instance.

``Service.submit`` sends such a call at once as the batch of one it would become at
the end of the loop pass, without the queue and the deferred pump (issue 16: a lone
caller with batching on should cost what it costs without). Whether callers come one
at a time is read from the last batch: one that held more than one call turns the
direct path off until a batch of one is formed again. Observed through an instance
stand-in that records what it is sent (the kernel's real Service, Kernel and queue;
no timing).
"""

from __future__ import annotations

from service_standin import call as _call
from service_standin import instance as _instance
from service_standin import run as _run
from service_standin import service as _svc

from easlab.kernel.control import Kernel


def _service(kernel, folder):
    return _svc(kernel, folder, "lone_direct")


def test_a_lone_caller_goes_to_the_idle_instance_without_the_queue(tmp_path):
    def test(loop):
        service = _service(Kernel(tmp_path, loop), tmp_path)
        sent: list[str] = []
        service.instances = [_instance(sent)]
        service.submit(_call("a"))
        # sent within submit: nothing queued, no pump left for the end of the loop pass
        assert sent == ["request a"]
        assert not service.queue and not service._pump_scheduled
        # it counts as the batch of one it is, closed because the instance was idle
        assert service.stats.batch_sizes == {1: 1}
        assert service.queue.closes == {"full": 0, "timeout": 0, "idle": 1, "next": 0}

    _run(test)


def test_an_app_with_its_own_process_batch_gets_the_lone_caller_as_a_batch_of_one(tmp_path):
    def test(loop):
        service = _service(Kernel(tmp_path, loop), tmp_path)
        sent: list[str] = []
        service.instances = [_instance(sent, lone_batch_is_process=False)]
        service.submit(_call("a"))
        assert sent == ["batch a"]

    _run(test)


def test_a_busy_instance_queues_the_call_and_a_batch_of_many_turns_the_direct_path_off(
    tmp_path,
):
    def test(loop):
        service = _service(Kernel(tmp_path, loop), tmp_path)
        sent: list[str] = []
        inst = _instance(sent)
        service.instances = [inst]
        service.submit(_call("a"))  # direct: the instance is idle
        for name in "bcd":  # the instance is busy with a: these wait
            service.submit(_call(name))
        assert sent == ["request a"] and len(service.queue) == 3
        inst.busy = 0  # a's answer came
        service.pump()
        assert sent[-1] == "batch b,c,d"
        inst.busy = 0
        # the last batch held 3 calls: callers come together now, so the next call
        # waits for the end of the loop pass, where the calls read with it join it
        service.submit(_call("e"))
        service.submit(_call("f"))
        assert sent[-1] == "batch b,c,d" and service._pump_scheduled
        service._scheduled_pump()
        assert sent[-1] == "batch e,f"
        inst.busy = 0
        service.submit(_call("g"))
        service._scheduled_pump()
        assert sent[-1] == "request g"  # a batch of one again, from the queue
        inst.busy = 0
        service.submit(_call("h"))
        assert sent[-1] == "request h" and not service.queue  # direct again
        assert service.stats.batch_sizes == {1: 3, 3: 1, 2: 1}

    _run(test)


def test_no_idle_instance_means_the_queue_even_for_a_lone_caller(tmp_path):
    def test(loop):
        service = _service(Kernel(tmp_path, loop), tmp_path)
        sent: list[str] = []
        starting = _instance(sent)
        starting.ready = False
        service.instances = [starting]
        service.submit(_call("a"))
        assert sent == [] and len(service.queue) == 1
        assert service.stats.batch_sizes == {}

    _run(test)
