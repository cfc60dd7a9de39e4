"""``pytorch_cpu_*`` / ``pytorch_gpu_*``: a TorchScript model behind the Torch wire format.

Torch requests address inputs by position (SPEC §3 ``inputs``), so input *i*
is named ``"i"`` in the signature and in error messages; outputs likewise: a
model returning a tensor answers one output, a tuple or list answers them in
order, and a ``Dict[str, Tensor]`` answers ``map_outputs``. A model whose
``forward`` takes a single ``Dict[str, Tensor]`` is fed the request's
``map_inputs`` (``TorchRequest.add_feed_map``) by name.

A TorchScript file records how many tensors ``forward`` takes, not their
shapes or dtypes, so without help only the input count is checked. Give the
signature in ``model_config`` to have every request checked (and batched)::

    "model_config": {"inputs": [{"shape": [-1, 4], "type": "DT_FLOAT"}],
                     "outputs": [{"shape": [-1, 2], "type": "DT_FLOAT"}]}

Entries are positional; a ``"name"`` is only used for dict-input models.
The model runs on ``cuda:0`` (the first device the instance was given through
``CUDA_VISIBLE_DEVICES``) when the instance has GPUs and torch sees CUDA, else
on the CPU.
"""

from __future__ import annotations

import dataclasses
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from easlab.kernel.processors.base import ProcessorContext, ProcessorError, model_threads
from easlab.kernel.processors.signature import (
    TensorSignature,
    TensorSpec,
    config_specs,
    find_model_file,
    model_config,
    other_model_kind,
)
from easlab.kernel.processors.tensor import TensorProcessor
from easlab.wire.dtypes import is_string_dtype

TORCHSCRIPT_SUFFIXES = (".pt", ".pth", ".torchscript", ".jit")
_SAVE_HOW = "torch.jit.save(torch.jit.script(model) or torch.jit.trace(model, example), path)"


class TorchScriptModel:
    """A TorchScript module loaded for inference (shared with the Blade processor)."""

    def __init__(self, path: Path, gpu_devices: list[int]) -> None:
        import torch

        self._torch = torch
        use_cuda = bool(gpu_devices) and torch.cuda.is_available()
        self.device = torch.device("cuda:0" if use_cuda else "cpu")
        self._on_cpu = not use_cuda
        try:
            with warnings.catch_warnings():
                # torch 2.x deprecates TorchScript; EAS's format is TorchScript all the same.
                warnings.simplefilter("ignore", DeprecationWarning)
                self.module = torch.jit.load(str(path), map_location=self.device)
        except Exception as exc:
            other = other_model_kind(path, "torch")  # an ONNX or PMML file, an empty one
            raise RuntimeError(
                f"cannot load {path} as TorchScript ({exc})"
                + (other or f"; save the model with {_SAVE_HOW}")
            ) from exc
        self.module.eval()
        self.arg_names: list[str] = []  # the tensor arguments of forward, in order
        self.required: int = 0  # how many of them have no default
        self.dict_input = False  # forward(self, inputs: Dict[str, Tensor])
        for arg in self.module.forward.schema.arguments[1:]:  # [0] is self
            kind = str(arg.type)
            if kind.startswith("Dict[str, Tensor]") and not self.arg_names:
                self.dict_input = True
                self.arg_names = [arg.name]
                self.required = 1
                break
            if kind in ("Tensor", "Optional[Tensor]"):
                self.arg_names.append(arg.name)
                if not arg.has_default_value():
                    self.required = len(self.arg_names)
            elif not arg.has_default_value():
                raise RuntimeError(
                    f"{path}: forward argument {arg.name!r} is a {kind}; EAS feeds tensors only"
                )

    def __call__(self, args: list[np.ndarray] | dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run forward; outputs named "0", "1", ... or by the model's dict keys."""
        torch = self._torch
        with torch.inference_mode():
            if isinstance(args, dict):
                out = self.module({k: self._tensor(k, v) for k, v in args.items()})
            else:
                out = self.module(*(self._tensor(str(i), a) for i, a in enumerate(args)))
        return self._outputs(out)

    def plain_call(self) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None:
        """The module's call with positional inputs ``"0"``, ``"1"``, ... and the fewest
        steps around it, returning what ``__call__`` returns: a CPU model taking
        tensors (not a dict). None otherwise.

        For the shortcut's inputs (fresh, C-ordered arrays of float32 or float64:
        shortcut.py) ``_tensor`` is ``torch.from_numpy``; a lone plain CPU tensor
        answer is ``{"0": out.numpy()}``, anything else goes through ``_outputs``.
        Skipping the rest took ~20 µs off each call of the served MLP (shortcut.py
        says why so much).
        """
        if not self._on_cpu or self.dict_input:
            return None
        torch = self._torch
        module, from_numpy, inference_mode = self.module, torch.from_numpy, torch.inference_mode
        tensor_type, bfloat16, outputs = torch.Tensor, torch.bfloat16, self._outputs

        def call(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            with inference_mode():
                out = module(*[from_numpy(inputs[str(i)]) for i in range(len(inputs))])
            if (
                type(out) is tensor_type
                and out.is_cpu
                and out.dtype != bfloat16
                and not out.requires_grad
            ):
                return {"0": out.numpy()}
            return outputs(out)

        return call

    def _outputs(self, out: Any) -> dict[str, np.ndarray]:
        """The module's answer as outputs by name (module doc)."""
        if isinstance(out, dict):
            return {str(k): self._array(str(k), v) for k, v in out.items()}
        if isinstance(out, (tuple, list)):
            return {str(i): self._array(str(i), v) for i, v in enumerate(out)}
        return {"0": self._array("0", out)}

    def _tensor(self, name: str, arr: np.ndarray) -> Any:
        # Checked by dtype.kind: dtype.name is computed in Python, ~3 µs a call (issue 16)
        if is_string_dtype(arr.dtype):
            raise ProcessorError(400, f"input {name!r}: TorchScript takes no string tensors")
        if arr.dtype.kind == "V" and arr.dtype.name == "bfloat16":  # ml_dtypes' has no torch twin
            return self._torch.from_numpy(arr.astype(np.float32)).to(
                self.device, self._torch.bfloat16
            )
        tensor = self._torch.from_numpy(
            arr if arr.flags.c_contiguous else np.ascontiguousarray(arr)
        )
        return tensor if self._on_cpu else tensor.to(self.device)

    def _array(self, name: str, value: Any) -> np.ndarray:
        torch = self._torch
        if isinstance(value, torch.Tensor):
            if value.requires_grad:  # e.g. a parameter returned as it is
                value = value.detach()
            if not self._on_cpu or value.device.type != "cpu":
                value = value.cpu()
            if value.dtype == torch.bfloat16:
                value = value.float()
            try:
                return value.numpy()
            except TypeError as exc:  # float8, complex32, a sparse layout: none is numpy's
                raise ProcessorError(
                    500,
                    f"output {name!r} is a {value.dtype} tensor ({value.layout}), which "
                    f"cannot be sent ({exc}); have the model return it as a dense tensor "
                    "of a numpy dtype (e.g. .float() or .to_dense())",
                ) from None
        if isinstance(value, (int, float, bool)):
            return np.asarray(value)
        raise ProcessorError(
            500, f"output {name!r} is a {type(value).__name__}; EAS answers tensors only"
        )


def set_torch_threads(ctx: ProcessorContext) -> dict[str, Any]:
    """Size torch's thread pools for this instance (``base.model_threads`` says why).

    ``torch.set_num_threads`` sets OpenMP's team size for the calling thread, but
    the instance runs the model in its worker threads, where OpenMP starts from its
    default, one thread per core: some TorchScript ops then ran a 2-thread team
    beside the kernel on 2 cores and spun at its barrier for whole scheduler ticks
    (served MLP: calls of 4-12 ms, 1-2% of them, p99 6-10 ms at c=1; 0.95 ms with
    the team sized for every thread). ``OMP_NUM_THREADS``, read when libgomp loads,
    sizes it for every thread, so it is set before torch is first imported here.
    The inter-op pool (``torch.jit.fork``) gets one thread, which must be set
    before any parallel work starts.
    """
    threads, why = model_threads(ctx)
    if "torch" not in sys.modules:
        os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)
    inter = 1
    try:
        torch.set_num_interop_threads(inter)
    except RuntimeError:  # already started (a model loaded earlier in this process)
        inter = torch.get_num_interop_threads()
    print(f"torch: {threads} intra-op thread(s), {inter} inter-op ({why})", flush=True)
    return {"runtime": "torch", "intra_op": torch.get_num_threads(), "inter_op": inter, "why": why}


class PyTorchProcessor(TensorProcessor):
    """Serve a TorchScript model (processor codes ``pytorch_cpu_*``, ``pytorch_gpu_*``)."""

    request_format = "torch"

    def initialize(self) -> None:
        path = find_model_file(self.ctx, TORCHSCRIPT_SUFFIXES, "a TorchScript model (.pt)")
        self.threads = set_torch_threads(self.ctx)
        self.model = TorchScriptModel(path, self.ctx.gpu_devices)
        cfg = model_config(self.ctx)
        if self.model.dict_input:
            # Named inputs (map_inputs); without a config any names are passed on.
            specs = [
                TensorSpec.from_config(c, str(i)) for i, c in enumerate(config_specs(cfg, "inputs"))
            ]
            self.open_inputs = not specs
        else:
            self.open_inputs = False
            configured = config_specs(cfg, "inputs")
            if len(configured) > len(self.model.arg_names):
                raise RuntimeError(
                    f"model_config lists {len(configured)} inputs but forward takes "
                    f"{len(self.model.arg_names)} tensors ({', '.join(self.model.arg_names)})"
                )
            specs = []
            for i in range(len(self.model.arg_names)):
                item = dict(configured[i]) if configured and i < len(configured) else {}
                item["name"] = str(i)  # Torch requests address inputs by position
                spec = TensorSpec.from_config(item, str(i))
                specs.append(spec)
        outputs = [
            TensorSpec.from_config({**c, "name": c.get("name", str(i))}, str(i))
            for i, c in enumerate(config_specs(cfg, "outputs"))
        ]
        name = "serving_default"
        self._trimmed: dict[tuple[str, int], tuple[TensorSignature, TensorSignature]] = {}
        # a TorchScript file does not say which outputs have one row per input row
        self.signatures = {
            name: TensorSignature(name, tuple(specs), tuple(outputs), per_row_seen=frozenset())
        }
        self.default_signature = name

    def select_signature(self, request: Any) -> TensorSignature:
        return self.signatures[self.default_signature]  # Torch requests name no signature

    def check(self, sig: TensorSignature, request: Any) -> dict[str, np.ndarray]:
        if self.open_inputs:
            return dict(request.inputs)
        if not self.model.dict_input:
            # Trailing inputs with defaults may be left out; the rest are required.
            given = len(request.inputs)
            if self.model.required <= given < len(sig.inputs) and all(
                str(i) in request.inputs for i in range(given)
            ):
                # one object per count: check()'s cache is keyed on the signature
                trimmed = self._trimmed.get((sig.name, given))
                if trimmed is None or trimmed[0] is not sig:
                    trimmed = (sig, dataclasses.replace(sig, inputs=sig.inputs[:given]))
                    self._trimmed[(sig.name, given)] = trimmed
                sig = trimmed[1]
        return super().check(sig, request)

    def model_failure(self, exc: Exception, inputs: Mapping[str, np.ndarray]) -> str:
        message = super().model_failure(exc, inputs)
        sig = self.signatures[self.default_signature]
        if self.open_inputs or any(s.shape is None or s.dtype is None for s in sig.inputs):
            # A TorchScript file does not say what it takes (module doc): without
            # model_config the runtime's complaint is all the caller can be told.
            message += (
                "; the model's inputs are not declared, so requests are not checked before "
                'it runs: list them in model_config, e.g. {"inputs": [{"shape": [-1, 4], '
                '"type": "DT_FLOAT"}]}'
            )
        return message

    def run(
        self, signature: TensorSignature, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        if self.model.dict_input:
            return self.model(inputs)
        return self.model([inputs[str(i)] for i in range(len(inputs))])

    def runner(
        self, signature: TensorSignature
    ) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
        return self.model.plain_call() or super().runner(signature)
