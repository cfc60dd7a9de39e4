"""A model that raises on a caller's request: a 400 that says why, in one line.

TorchScript wraps the reason (a dtype mismatch, the model's own ``assert``) in two
tracebacks of generated code and file paths; the caller gets the reason and what
the model was given, the service log gets the traceback (tensor.runtime_reason).
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from easlab.kernel.processors.base import ProcessorContext, ProcessorError  # noqa: E402
from easlab.kernel.processors.pytorch import PyTorchProcessor  # noqa: E402
from easlab.wire.torch import TorchRequest, TorchResponse  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

BATCHED = {"inputs": [{"shape": [-1, 4], "type": "DT_FLOAT"}]}


class NonNegative(torch.nn.Module):
    def forward(self, x: torch.Tensor):
        assert bool((x >= 0).all()), "negative input"
        return x * 2


def _save(tmp_path, module, example=None):
    folder = tmp_path / "model"
    folder.mkdir()
    scripted = torch.jit.trace(module, example) if example is not None else torch.jit.script(module)
    torch.jit.save(scripted, str(folder / "model.pt"))
    return folder


def _processor(folder, config=None) -> PyTorchProcessor:
    proc = PyTorchProcessor(
        ProcessorContext(
            "p", {}, model_path=folder, model_entry=folder, model_config=config, model_threads=1
        )
    )
    proc.initialize()
    return proc


def _body(x: np.ndarray) -> bytes:
    req = TorchRequest()
    req.add_feed(0, x)
    return req.to_string()


def test_a_dtype_the_model_refuses_is_one_line_naming_the_input(tmp_path, capfd):
    torch.manual_seed(0)
    folder = _save(tmp_path, torch.nn.Linear(4, 2).eval(), torch.zeros(1, 4))
    proc = _processor(folder)  # no model_config: nothing checks the dtype before the model
    with pytest.raises(ProcessorError) as caught:
        proc.process(_body(np.ones((2, 4))))  # float64 for a float32 model
    message = caught.value.message
    assert caught.value.status == 400
    assert "Traceback" not in message and "code/__torch__" not in message and "\n" not in message
    assert "must have the same dtype" in message
    assert "'0' [2, 4] DT_DOUBLE" in message
    assert "model_config" in message  # how to have such requests checked
    assert "TorchScript interpreter" in capfd.readouterr().err  # the whole story, in the log


def test_a_models_assert_reaches_the_caller_and_spares_the_batch(tmp_path, capfd):
    proc = _processor(_save(tmp_path, NonNegative()), BATCHED)
    good = np.arange(8, dtype=np.float32).reshape(2, 4)
    with pytest.raises(ProcessorError) as caught:
        proc.process(_body(-good))
    message = caught.value.message
    assert "AssertionError: negative input" in message and "\n" not in message
    assert "'0' [2, 4] DT_FLOAT" in message
    assert "model_config" not in message  # the inputs are declared: no hint
    # one caller's bad values break the joined call; each caller then gets its own answer
    answers = proc.process_batch([_body(good), _body(-good), _body(good + 1)])
    assert [status for _, status in answers] == [200, 400, 200]
    np.testing.assert_array_equal(TorchResponse(answers[0][0])[0], good * 2)
    np.testing.assert_array_equal(TorchResponse(answers[2][0])[0], (good + 1) * 2)
    assert b"AssertionError: negative input" in answers[1][0]
    assert b"Traceback" not in answers[1][0]
    capfd.readouterr()


def test_other_runtime_errors_keep_their_type_and_text():
    from easlab.kernel.processors.tensor import runtime_reason

    assert runtime_reason(ValueError("bad rank")) == "ValueError: bad rank"


@pytest.mark.parametrize(
    "where, said",
    [("/dev/null", "is neither a file nor a folder"), ("/no/such/model", "does not exist")],
)
def test_a_model_path_that_is_no_file_says_which(where, said):
    # /dev/null (or a FIFO) exists: "does not exist" sent the user looking for a typo
    from types import SimpleNamespace

    from easlab.kernel.processors.signature import find_model_file

    ctx = SimpleNamespace(model_entry=None, model_path=where)
    with pytest.raises(RuntimeError, match=f"model path {where} {said}"):
        find_model_file(ctx, (".onnx",), "an ONNX model")


def test_a_repeated_failure_logs_its_traceback_once_then_counts(tmp_path, capfd):
    # every failing call printed both TorchScript tracebacks (~20 lines), a batch's
    # twice (joined, then alone): a client repeating a bad request flooded the log
    proc = _processor(_save(tmp_path, NonNegative()), BATCHED)
    bad = _body(-np.ones((1, 4), np.float32))
    for _ in range(10):
        with pytest.raises(ProcessorError, match="AssertionError: negative input"):
            proc.process(bad)
    assert [status for _, status in proc.process_batch([bad, bad])] == [400, 400]
    err = capfd.readouterr().err
    assert err.count("TorchScript interpreter") == 1
    assert "model call failed again (10 times so far): RuntimeError: AssertionError: " in err
