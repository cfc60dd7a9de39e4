"""TorchScriptModel's edges (processors/pytorch.py): how inputs become tensors and outputs arrays.

Issue 16 trimmed the per-call steps (no ``dtype.name``, no ``.to``/``.cpu``/``detach``
where they change nothing); these pin what each step still does for the inputs and
outputs that need it.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from easlab.kernel.processors.base import ProcessorError  # noqa: E402
from easlab.kernel.processors.pytorch import TorchScriptModel  # noqa: E402


class _Double(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float() * 2


class _Weight(torch.nn.Module):
    """Returns its own parameter (requires_grad) beside a computed output."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(3))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return x + 1, self.weight


class _Half(torch.nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.to(torch.bfloat16)


def _load(module: torch.nn.Module, tmp_path) -> TorchScriptModel:
    path = tmp_path / "model.pt"
    with warnings.catch_warnings():  # torch 2.x deprecates TorchScript (EAS still uses it)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.jit.save(torch.jit.script(module), str(path))
    return TorchScriptModel(path, [])


def test_a_strided_input_runs_as_its_contiguous_copy(tmp_path):
    model = _load(_Double(), tmp_path)
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    strided = x.T  # not C-contiguous
    assert not strided.flags.c_contiguous
    np.testing.assert_array_equal(model([strided])["0"], np.ascontiguousarray(strided) * 2)
    np.testing.assert_array_equal(model([x])["0"], x * 2)


def test_a_parameter_returned_as_it_is_comes_back_as_an_array(tmp_path):
    model = _load(_Weight(), tmp_path)
    out = model([np.zeros(3, np.float32)])
    np.testing.assert_array_equal(out["0"], np.ones(3, np.float32))
    np.testing.assert_array_equal(out["1"], np.ones(3, np.float32))


def test_a_string_input_is_refused_with_its_name(tmp_path):
    model = _load(_Double(), tmp_path)
    with pytest.raises(ProcessorError, match="input '0': TorchScript takes no string tensors"):
        model([np.array([b"a", b"b"], dtype=object)])


def test_bfloat16_in_and_out(tmp_path):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    doubled = _load(_Double(), tmp_path)
    x = np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16)
    np.testing.assert_array_equal(doubled([x])["0"], np.array([3.0, -4.0], np.float32))
    half = _load(_Half(), tmp_path)
    out = half([np.array([0.5, 8.0], np.float32)])["0"]
    assert out.dtype == np.float32  # numpy has no bfloat16 of its own: widened
    np.testing.assert_array_equal(out, np.array([0.5, 8.0], np.float32))
