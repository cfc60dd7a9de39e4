"""Which processors say that ``process_batch([x])`` answers what ``process(x)`` does.

The kernel sends a lone caller's batch as a plain request to those (issue 16), so
the flag must be true only where the two agree: the default ``process_batch``, the
tensor processors (their batch of one equals the request alone byte for byte:
test_batch_assembly.py), and a python app without its own ``process_batch``.
"""

from __future__ import annotations

from types import SimpleNamespace

from easlab.kernel.processors.base import Processor, ProcessorContext
from easlab.kernel.processors.python import PythonProcessor
from easlab.kernel.processors.tensor import TensorProcessor


def _ctx() -> ProcessorContext:
    return ProcessorContext(service_name="s", spec={})


class Echo(Processor):
    def process(self, data):
        return data, 200


class OwnBatch(Echo):
    def process_batch(self, requests):
        return [(b"%d" % len(requests), 200) for _ in requests]


def test_the_default_process_batch_is_process_and_an_override_is_not():
    assert Echo(_ctx()).lone_batch_is_process
    assert not OwnBatch(_ctx()).lone_batch_is_process


def test_tensor_processors_say_so():
    assert TensorProcessor(_ctx()).lone_batch_is_process


def test_a_python_app_says_so_only_without_its_own_process_batch():
    proc = PythonProcessor(_ctx())
    proc.app = SimpleNamespace(process=lambda data: data)
    assert proc.lone_batch_is_process
    proc.app = SimpleNamespace(process=lambda data: data, process_batch=lambda datas: datas)
    assert not proc.lone_batch_is_process
