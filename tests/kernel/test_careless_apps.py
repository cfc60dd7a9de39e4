"""What a careless data scientist's app and lifecycle calls get told.

Each test here failed before its fix: a wrong ``process()`` answer named only a
type, ``sys.exit()`` in ``process()`` left its caller waiting for the 408 (and the
instance for the stuck-call kill), a ``process_batch`` with the wrong number of
answers said neither what it must return nor what came, a status like 999 became
400 with no word anywhere, a stopped service's 503 said nothing of ``easlab
start``, and a stop or delete waited a whole ``rpc.keepalive`` (often 10 min) for a
hung call, past its client's 60 s, while the caller hung on.
"""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest
from kernel_helpers import post, wait_for
from service_standin import service as _service

from easlab.allspark import answer_of, normalize_status
from easlab.kernel.call import Call
from easlab.kernel.control import Kernel
from easlab.kernel.processors.python import PythonProcessor
from easlab.kernel.service import STOP_GRACE_S

TOKEN = "tok-" + "x" * 8

CARELESS_APP = """
import sys
import allspark

class Careless(allspark.BaseProcessor):
    def process(self, data):
        if data == b"none":
            return None
        if data == b"three":
            return b"x", 200, "extra"
        if data == b"exit":
            sys.exit(4)
        return b"fine", 200
"""


def test_a_wrong_process_answer_says_what_came_and_what_to_return(kernel, python_service):
    svc = python_service("careless_answers", CARELESS_APP)
    none = post(svc.url, b"none", TOKEN)
    three = post(svc.url, b"three", TOKEN)
    assert none.status_code == three.status_code == 400
    assert "process() must return (data, status_code), e.g. `return b'ok', 200`" in none.text
    assert "it returned None (a missing return statement?)" in none.text
    assert "it returned a tuple of 3 item(s), not 2" in three.text
    kernel.delete("careless_answers")


def test_sys_exit_in_process_answers_at_once_and_the_instance_serves_on(kernel, python_service):
    svc = python_service("careless_exit", CARELESS_APP, rpc__keepalive=20000)
    started = time.monotonic()
    resp = post(svc.url, b"exit", TOKEN)
    assert time.monotonic() - started < 5  # not the 408 after rpc.keepalive (20 s)
    assert resp.status_code == 400
    assert "process() raised SystemExit(4)" in resp.text
    assert "return (message, status)" in resp.text
    assert post(svc.url, b"again", TOKEN).text == "fine"
    assert kernel.client.workers("careless_exit")[0]["restarts"] == 0
    kernel.delete("careless_exit")


def _processor(app: Any) -> PythonProcessor:
    processor = PythonProcessor.__new__(PythonProcessor)
    processor.app = app
    return processor


def test_process_batch_with_the_wrong_number_of_answers_says_what_it_must_return():
    class Short:
        def process_batch(self, requests: list[bytes]) -> list[tuple[bytes, int]]:
            return [(b"one", 200)]

    class Nothing:
        def process_batch(self, requests: list[bytes]) -> None:
            return None

    with pytest.raises(TypeError) as short:
        _processor(Short()).process_batch([b"a", b"b", b"c"])
    assert str(short.value) == (
        "process_batch() must return a list of one (data, status_code) per request, "
        "in order: it got 3 request(s) and returned 1 answer(s)"
    )
    with pytest.raises(TypeError, match="it got 2 request.s. and returned NoneType$"):
        _processor(Nothing()).process_batch([b"a", b"b"])


def test_keyboard_interrupt_in_process_batch_is_an_error_the_worker_answers():
    class Interrupted:
        def process_batch(self, requests: list[bytes]) -> list[tuple[bytes, int]]:
            raise KeyboardInterrupt

    with pytest.raises(RuntimeError, match=r"^process_batch\(\) raised KeyboardInterrupt: "):
        _processor(Interrupted()).process_batch([b"a"])


def test_an_unknown_status_is_400_and_the_service_log_says_why_once(capsys):
    assert answer_of((b"x", 999)) == (b"x", 400)
    assert normalize_status(999) == 400
    err = capsys.readouterr().err
    assert err.count("a processor answered status 999") == 1
    assert "the caller gets 400" in err


def _answering(answers: list[tuple[int, bytes]]) -> Call:
    return Call(b"x", lambda status, body: answers.append((status, bytes(body))))


def test_a_stopped_or_failed_service_answers_503_with_what_to_do(tmp_path):
    answers: list[tuple[int, bytes]] = []

    async def main() -> None:
        svc = _service(Kernel(tmp_path, asyncio.get_running_loop()), tmp_path, "halted")
        svc.status = "Stopped"
        svc.submit(_answering(answers))
        svc.status, svc.message = "Failed", "instance halted-0 exited with code 1"
        svc.submit(_answering(answers))
        svc.status = "Creating"
        svc.submit(_answering(answers))

    asyncio.run(main())
    assert answers == [
        (503, b"service 'halted' is Stopped; start it: easlab start halted"),
        (
            503,
            b"service 'halted' is Failed: instance halted-0 exited with code 1; "
            b"see `easlab logs halted`",
        ),
        (
            503,
            b"service 'halted' is Creating (its instances are starting); retry in a "
            b"moment, `easlab w halted` shows them",
        ),
    ]


def test_stop_waits_for_calls_in_flight_at_most_the_stop_grace(tmp_path):
    """rpc.keepalive 600000 (10 min): a stop waited that long for a hung call."""
    graces: list[float] = []

    async def stop(grace_s: float) -> None:
        graces.append(grace_s)

    async def main() -> None:
        svc = _service(Kernel(tmp_path, asyncio.get_running_loop()), tmp_path, "long_calls")
        svc.instances = [SimpleNamespace(ready=True, busy=1, index=0, gpus=[], stop=stop)]
        svc.spec.metadata.keepalive_ms = 600_000
        await svc.stop()
        # a short keepalive still bounds the grace: its calls are 408 by then anyway
        svc.instances = [SimpleNamespace(ready=True, busy=1, index=0, gpus=[], stop=stop)]
        svc.spec.metadata.keepalive_ms = 2_000
        await svc.stop()

    asyncio.run(main())
    assert graces == [STOP_GRACE_S, 3.0]
    assert STOP_GRACE_S < 60  # under the control client's default wait for a stop


SWAPPED_APP = """
import allspark

class Swapped(allspark.BaseProcessor):
    def process(self, data):
        return 200, b"ok"
"""


def test_a_swapped_answer_is_named_in_one_line_without_easlabs_frames(kernel, python_service):
    # was "a processor must answer bytes or str, got int", and a traceback of easlab's
    # own frames in the log that the answer sent the user to
    svc = python_service("careless_swapped", SWAPPED_APP)
    resp = post(svc.url, b"x", TOKEN)
    assert resp.status_code == 400
    assert resp.text == (
        "TypeError: process() must return (data, status_code) with data bytes or str, "
        "e.g. `return b'ok', 200`; it returned (int, bytes): the two swapped?"
    )

    def logged() -> str:
        return "\n".join(kernel.client.logs("careless_swapped", 0))

    wait_for(lambda: "it returned (int, bytes)" in logged(), what="the line in the log")
    assert "Traceback" not in logged() and "easlab/kernel" not in logged()
    kernel.delete("careless_swapped")


PRINTING_APP = """
import sys
import allspark

class Printing(allspark.BaseProcessor):
    def process(self, data):
        n = int(data)
        print("x" * n)  # a model printing a large array, on one line
        print("done", n)
        return b"printed", 200
"""


def test_a_huge_printed_line_is_logged_cut_and_the_instance_serves_on(kernel, python_service):
    # A line past asyncio's 64 KiB readline limit ended the kernel's log reader: the
    # instance's stdout pipe then filled, and its next large print hung until it was
    # killed as stuck (408, then 502), with none of its later output in the log.
    svc = python_service("careless_printer", PRINTING_APP, rpc__keepalive=20000)
    for n in (200_000, 2_000_000, 10):
        answer = post(svc.url, str(n).encode(), TOKEN)
        assert (answer.status_code, answer.content) == (200, b"printed"), answer.text
    wait_for(
        lambda: any("done 10" in line for line in kernel.client.logs("careless_printer", n=20)),
        what="the output after the huge lines in the log",
    )
    lines = kernel.client.logs("careless_printer", n=20)
    cut = [line for line in lines if "more bytes of this line not kept" in line]
    assert len(cut) == 2
    assert cut[1].endswith(f"x ... ({2_000_000 - 8192} more bytes of this line not kept)")
    assert any("done 2000000" in line for line in lines)
    kernel.delete("careless_printer")


def test_a_services_log_file_is_bounded(tmp_path, monkeypatch):
    # only the in-memory ring was bounded: a model printing at every call filled the disk
    from easlab.kernel import service as service_module

    monkeypatch.setattr(service_module, "LOG_FILE_MAX", 10_000)

    async def main() -> None:
        svc = _service(Kernel(tmp_path, asyncio.get_running_loop()), tmp_path, "chatty")
        for i in range(2_000):
            svc.log("chatty-0", f"line {i} " + "x" * 40)
        svc.close_log()
        current, previous = svc.log_path, svc.log_path.with_name("chatty.log.1")
        assert current.stat().st_size <= 10_000 and previous.stat().st_size <= 10_100
        assert current.read_text().splitlines()[-1].endswith("line 1999 " + "x" * 40)
        assert len(svc.lines) == 2_000  # the ring, which `easlab logs` reads, is untouched

    asyncio.run(main())
