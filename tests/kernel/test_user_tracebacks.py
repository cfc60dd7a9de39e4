"""The user's traceback, where they look: a processor's exception is in the service log
with their file and line (easlab's own frames left out), and the answer says where."""

from __future__ import annotations

import pytest
import requests
from kernel_helpers import app_spec, wait_for

from easlab.errors import KernelError

RAISES = """\
import allspark


class App(allspark.BaseProcessor):
    def initialize(self):
        self.table = {"a": 1}

    def process(self, data):
        key = data.decode()
        return str(self.table[key]).encode(), 200  # line 10: KeyError for an unknown key
"""

FAILS_TO_START = """\
import allspark


class App(allspark.BaseProcessor):
    def initialize(self):
        open("/nonexistent/model.bin")  # line 6

    def process(self, data):
        return data, 200
"""


def test_a_raising_process_logs_the_users_frames_and_answers_where(kernel, python_service):
    svc = python_service("tb_raises", RAISES, token="tb-token-" + "x" * 10)
    headers = {"Authorization": svc.token}
    resp = requests.post(svc.url, data=b"a", headers=headers, timeout=10)
    assert resp.status_code == 200 and resp.content == b"1"
    resp = requests.post(svc.url, data=b"b", headers=headers, timeout=10)
    assert resp.status_code == 400
    assert resp.text == "KeyError: 'b' (traceback in the service log: easlab logs tb_raises)"

    def logged() -> str:
        return "\n".join(kernel.client.logs("tb_raises", 0))

    wait_for(lambda: "line 10, in process" in logged(), what="the traceback in the log")
    text = logged()
    assert "process() raised KeyError:" in text and 'app.py", line 10, in process' in text
    assert "self.table[key]" in text and "KeyError: 'b'" in text
    assert "easlab/kernel" not in text  # none of easlab's own frames
    for _ in range(9):  # repeats are counted, not logged again in full
        requests.post(svc.url, data=b"b", headers=headers, timeout=10)
    wait_for(lambda: "again (10 times so far)" in logged(), what="the repeat count")
    assert logged().count("line 10, in process") == 1
    kernel.client.delete("tb_raises")


def start_failure(kernel, spec: dict) -> str:
    """The message of a service that fails to start (deleted again)."""
    svc = kernel.create(spec)
    try:
        assert svc.status == "Failed"
        return str(svc.desc["message"])
    finally:
        kernel.client.delete(spec["name"])


def test_creating_again_over_a_failed_create_says_it_failed(kernel, make_app):
    # the usual next step after a failed create: fix the cell, run it again
    spec = app_spec("tb_again", make_app("tb_again", FAILS_TO_START))
    assert kernel.create(spec).status == "Failed"
    try:
        with pytest.raises(KernelError) as info:
            kernel.create(spec)
        assert info.value.status == 409
        assert "service 'tb_again' already exists (it failed to start: desc and logs say why)" in (
            info.value.message
        )
    finally:
        kernel.client.delete("tb_again")


def test_a_failing_initialize_shows_the_users_frames(kernel, make_app):
    message = start_failure(kernel, app_spec("tb_init", make_app("tb_init", FAILS_TO_START)))
    assert "initialize() failed with FileNotFoundError" in message
    assert 'app.py", line 6, in initialize' in message
    assert "easlab/kernel" not in message


NO_PROCESSOR_CLASS = """\
import allspark

TABLE = {"a": 1}
"""


def test_a_model_that_a_built_in_processor_refuses_shows_its_message_alone(kernel, tmp_path):
    # A text file named .onnx: onnxruntime refuses it in easlab's onnx processor. Its
    # frames are easlab's own and say nothing to the user: the message alone, and the
    # traceback in the service log.
    folder = tmp_path / "bad_onnx"
    folder.mkdir()
    (folder / "model.onnx").write_text("not a model\n")
    spec = {"name": "tb_bad_onnx", "processor": "onnx", "model_path": str(folder)}
    svc = kernel.create({**spec, "metadata": {"instance": 1}})
    try:
        assert svc.status == "Failed"
        message = svc.desc["message"]
        assert "initialize() failed with RuntimeError: onnxruntime cannot load" in message
        assert "Traceback" not in message and "easlab/kernel" not in message
        assert "(traceback in the service log: easlab logs tb_bad_onnx)" in message

        def logged() -> str:
            return "\n".join(kernel.client.logs("tb_bad_onnx", 0))

        wait_for(lambda: "Traceback" in logged(), what="the traceback in the log")
        assert "easlab/kernel/processors/onnx.py" in logged()
    finally:
        kernel.client.delete("tb_bad_onnx")


def test_an_app_without_a_processor_class_gets_the_message_alone(kernel, make_app):
    folder = make_app("tb_noclass", NO_PROCESSOR_CLASS)
    message = start_failure(kernel, app_spec("tb_noclass", folder))
    # initialize() never ran: what failed is finding the class (pysdk audit)
    assert message.startswith("finding the processor class in app.py failed with ProcessorError: ")
    assert "app.py defines no subclass of allspark.BaseProcessor" in message
    assert "Traceback" not in message and "easlab.kernel" not in message


SYNTAX_ERROR = """\
import allspark


class App(allspark.BaseProcessor):
    def initialize(self)
        pass
"""


def test_an_app_with_a_syntax_error_names_loading_it_and_the_line(kernel, make_app):
    # was "initialize() failed", under frames of <frozen importlib._bootstrap_external>
    message = start_failure(kernel, app_spec("tb_syntax", make_app("tb_syntax", SYNTAX_ERROR)))
    assert message.startswith("loading app.py failed with SyntaxError:\n")
    assert 'app.py", line 5' in message and "def initialize(self)" in message
    assert "<frozen" not in message and "Traceback" not in message
    assert "easlab/kernel" not in message


def test_an_app_whose_import_fails_names_loading_it(kernel, make_app):
    app = "import allspark\nimport not_installed_here  # line 2\n"
    message = start_failure(kernel, app_spec("tb_import", make_app("tb_import", app)))
    assert message.startswith("loading app.py failed with ModuleNotFoundError:")
    assert 'app.py", line 2, in <module>' in message and "<frozen" not in message
