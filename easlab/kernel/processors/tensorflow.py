"""``tensorflow_cpu_*`` / ``tensorflow_gpu_*``: a SavedModel through TensorFlow 2.

``model_path`` (or ``model_entry``) is a SavedModel directory, a directory
holding one (an unpacked archive), or a TF Serving version layout
(``model/1/``, ``model/2/``: the highest version is served). Every signature
of the SavedModel can be called: the request's ``signature_name`` selects one,
an empty name means ``serving_default`` (or the only signature). The GET
signature publishes the default one.

Inputs and outputs come from each signature's ``structured_input_signature``
and ``structured_outputs``; ``None`` dimensions are published as ``-1``.

TensorFlow is imported in :meth:`TensorFlowProcessor.initialize` only (it
takes seconds). An instance without GPUs hides them from TensorFlow; one with
GPUs (``CUDA_VISIBLE_DEVICES`` set by the kernel) lets TensorFlow allocate
their memory as needed rather than all at once.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from easlab.kernel.processors.signature import TensorSignature, TensorSpec
from easlab.kernel.processors.tensor import TensorProcessor
from easlab.wire.dtypes import is_string_dtype

DEFAULT_SIGNATURE = "serving_default"


def find_saved_model(path: Path) -> Path:
    """The SavedModel directory at or under ``path`` (the highest numeric version wins)."""
    if (path / "saved_model.pb").is_file() or (path / "saved_model.pbtxt").is_file():
        return path
    found = sorted(
        {p.parent for pat in ("saved_model.pb", "saved_model.pbtxt") for p in path.rglob(pat)}
    )
    if not found:
        raise RuntimeError(
            f"{path} holds no SavedModel (no saved_model.pb); export one with "
            "tf.saved_model.save(model, dir) and point model_path at dir"
        )
    if len(found) == 1:
        return found[0]
    if all(p.parent == found[0].parent and p.name.isdigit() for p in found):
        return max(found, key=lambda p: int(p.name))  # TF Serving layout: model/<version>/
    names = ", ".join(str(p.relative_to(path)) for p in found[:5])
    raise RuntimeError(
        f"{path} holds several SavedModels ({names}); set model_entry to one of them"
    )


def _spec(name: str, tf_spec: Any) -> TensorSpec:
    shape = tf_spec.shape
    dims = (
        None if shape.rank is None else tuple(-1 if d is None else int(d) for d in shape.as_list())
    )
    dtype = tf_spec.dtype
    np_dtype = np.dtype(object) if dtype.name == "string" else np.dtype(dtype.as_numpy_dtype)
    return TensorSpec(name, dims, np_dtype)


class TensorFlowProcessor(TensorProcessor):
    """Serve a TensorFlow SavedModel (processor codes ``tensorflow_cpu_*``, ``tensorflow_gpu_*``)."""

    request_format = "tf"

    def initialize(self) -> None:
        import tensorflow as tf

        self._tf = tf
        self._configure_devices(tf)
        root = self.ctx.model_entry or self.ctx.model_path
        if root is None:
            raise RuntimeError("this processor needs model_path pointing to a SavedModel directory")
        path = find_saved_model(Path(root))
        try:
            self._model = tf.saved_model.load(str(path))
        except Exception as exc:
            raise RuntimeError(f"TensorFlow cannot load the SavedModel at {path}: {exc}") from exc
        self._functions = dict(self._model.signatures)
        if not self._functions:
            raise RuntimeError(
                f"the SavedModel at {path} has no signatures; save it with "
                "tf.saved_model.save(model, dir, signatures={'serving_default': fn})"
            )
        for name, fn in self._functions.items():
            _, kwargs = fn.structured_input_signature
            outputs = fn.structured_outputs
            if not isinstance(outputs, dict):
                outputs = {"output_0": outputs}
            self.signatures[name] = TensorSignature(
                name,
                tuple(_spec(k, s) for k, s in sorted(kwargs.items())),
                tuple(_spec(k, s) for k, s in sorted(outputs.items())),
                # a -1 first dim is per row or a count the call decides (tf.where)
                per_row_seen=frozenset(),
            )
        self.default_signature = (
            DEFAULT_SIGNATURE
            if DEFAULT_SIGNATURE in self.signatures
            else sorted(self.signatures)[0]
        )

    def _configure_devices(self, tf: Any) -> None:
        try:
            gpus = tf.config.list_physical_devices("GPU")
            if not self.ctx.gpu_devices:
                tf.config.set_visible_devices([], "GPU")
            else:
                for gpu in gpus:
                    tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            pass  # devices already initialised in this process: keep TensorFlow's choice

    def run(
        self, signature: TensorSignature, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        tf = self._tf
        fn = self._functions[signature.name]
        feeds = {}
        for name, arr in inputs.items():
            if is_string_dtype(arr.dtype) and arr.dtype.kind == "O":
                feeds[name] = tf.constant(arr.tolist() if arr.ndim else arr.item(), dtype=tf.string)
            else:
                feeds[name] = tf.convert_to_tensor(arr)
        out = fn(**feeds)
        if not isinstance(out, dict):
            out = {"output_0": out}
        return {name: _to_numpy(t) for name, t in out.items()}


def _to_numpy(tensor: Any) -> np.ndarray:
    arr = tensor.numpy()
    return np.asarray(arr) if not isinstance(arr, np.ndarray) else arr
