"""``blade_*``: the Blade wire format served by a TorchScript or an ONNX model.

PAI-Blade is Alibaba's inference optimizer; its EAS processor takes
``blade.Request`` messages (SPEC §3). easlab speaks that wire format but runs
the model **without Blade's optimizer**: a ``.pt`` TorchScript file through
torch, or a ``.onnx`` file through onnxruntime. Results match the
unoptimized model; latency does not reflect Blade's speed-ups.

* Inputs are matched by name (``name_in_dl_model``, as the official
  ``BladeRequest.add_feed`` sets it): the ONNX graph's input names, or the
  argument names of the TorchScript ``forward``. Each input's shape is the
  tensor's full shape (the separate ``batchsize`` field is informational).
* Outputs: the ONNX graph's output names; for TorchScript the keys of a
  returned dict, else ``"0"``, ``"1"``, ... unless ``model_config`` names them.
* ``output_info`` selects outputs (none: all) and sets the dtype each is sent
  in (DT_FLOAT, DT_INT32, DT_INT64, DT_STRING); DT_UNKNOWN, as the Blade-TF
  request sends, keeps the nearest Blade type.
* ``tf_signature_name`` is not checked: the model has one signature.

For TorchScript the shapes and dtypes are unknown unless given in
``model_config`` (then every request is checked and may be batched)::

    "model_config": {"inputs": [{"name": "x", "shape": [-1, 4], "type": "DT_FLOAT"}],
                     "outputs": [{"name": "scores", "shape": [-1, 2], "type": "DT_FLOAT"}]}
"""

from __future__ import annotations

from typing import Any

import numpy as np

from easlab.kernel.processors.base import model_threads
from easlab.kernel.processors.onnx import ONNX_SUFFIXES, OnnxModel
from easlab.kernel.processors.pytorch import (
    TORCHSCRIPT_SUFFIXES,
    TorchScriptModel,
    set_torch_threads,
)
from easlab.kernel.processors.signature import (
    TensorSignature,
    TensorSpec,
    config_specs,
    find_model_file,
    model_config,
)
from easlab.kernel.processors.tensor import TensorProcessor
from easlab.kernel.processors.tensor_codecs import TensorRequest

SIGNATURE_NAME = "serving_default"


class BladeProcessor(TensorProcessor):
    """Serve Blade-format requests with a TorchScript or ONNX model (``blade_cpu``, ``blade_cuda*``)."""

    request_format = "blade"

    def initialize(self) -> None:
        path = find_model_file(
            self.ctx,
            ONNX_SUFFIXES + TORCHSCRIPT_SUFFIXES,
            "a TorchScript (.pt) or ONNX (.onnx) model",
        )
        cfg = model_config(self.ctx)
        self._onnx: OnnxModel | None = None
        self._torch: TorchScriptModel | None = None
        self._output_names: list[str] = []
        not_per_row: dict[str, str] = {}
        unservable: dict[str, str] = {}
        if path.suffix.lower() in ONNX_SUFFIXES:
            threads, why = model_threads(self.ctx)
            self._onnx = OnnxModel(path, self.ctx.gpu_devices, threads)
            self.threads = {
                "runtime": "onnxruntime",
                "intra_op": threads,
                "inter_op": 1,
                "why": why,
            }
            inputs, outputs = self._onnx.inputs, self._onnx.outputs
            not_per_row = self._onnx.not_per_row
            unservable = self._onnx.unservable
        else:
            self.threads = set_torch_threads(self.ctx)
            self._torch = TorchScriptModel(path, self.ctx.gpu_devices)
            if self._torch.dict_input:
                raise RuntimeError(
                    f"{path}: forward takes a dict; the Blade format feeds named tensors, so "
                    "declare them as separate forward arguments"
                )
            inputs = self._torch_inputs(config_specs(cfg, "inputs"))
            outputs = tuple(
                TensorSpec.from_config(c, str(i))
                for i, c in enumerate(config_specs(cfg, "outputs"))
            )
            self._output_names = [s.name for s in outputs]
        self.signatures = {
            SIGNATURE_NAME: TensorSignature(
                SIGNATURE_NAME,
                inputs,
                outputs,
                not_per_row,
                unservable,
                # ONNX's graph says which outputs are per row; a TorchScript file does not
                per_row_seen=None if self._onnx is not None else frozenset(),
            )
        }
        self.default_signature = SIGNATURE_NAME

    def _torch_inputs(self, configured: list[dict[str, Any]]) -> tuple[TensorSpec, ...]:
        assert self._torch is not None
        names = self._torch.arg_names
        by_name = {str(c["name"]): c for c in configured if c.get("name")}
        unknown = set(by_name) - set(names)
        if unknown:
            raise RuntimeError(
                f"model_config names inputs {sorted(unknown)} that forward does not take "
                f"(it takes {', '.join(names)})"
            )
        specs = []
        for i, name in enumerate(names):
            item = by_name.get(name)
            if item is None and not by_name and i < len(configured):
                item = configured[i]  # unnamed entries are positional
            specs.append(TensorSpec.from_config({**(item or {}), "name": name}, name))
        return tuple(specs)

    def select_signature(self, request: TensorRequest) -> TensorSignature:
        return self.signatures[SIGNATURE_NAME]  # one model, one signature (module doc)

    def run(
        self, signature: TensorSignature, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        if self._onnx is not None:
            return self._onnx(inputs)
        assert self._torch is not None
        args = [inputs[s.name] for s in signature.inputs if s.name in inputs]
        out = self._torch(args)
        if self._output_names and all(n.isdigit() for n in out):
            # Name positional outputs as model_config says.
            return {
                (self._output_names[int(k)] if int(k) < len(self._output_names) else k): v
                for k, v in out.items()
            }
        return out
