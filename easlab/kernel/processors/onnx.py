"""``onnx``: an ONNX model through onnxruntime.

Two request protocols (SPEC §3):

* the TensorFlow one (``TFRequest`` feeds by input name, fetches by output
  name); its ``signature_name`` is not checked, since an ONNX graph has a
  single signature (published as ``serving_default``);
* the ``hie.processor.DataProto`` one the official ``OnnxRequest`` sends; the
  answer is then a ``DataProto`` too.

``model_config`` picks one with ``{"protocol": "tf"}`` or ``{"protocol":
"onnx"}``; by default (``"auto"``) both are tried, TF first, by the tensor
processors' one rule (``decode_first`` in tensor_codecs.py: the first that reads the
body with inputs wins, else the most specific error, so a TF request with an
impossible shape is told about its shape), and each request is answered in
its own protocol. The signature comes from the session's inputs
and outputs; symbolic or unknown dimensions are published as ``-1``.

The CPU provider runs the model; the CUDA provider is put first when the
instance has GPUs and onnxruntime was built with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from easlab.kernel.processors.base import ProcessorError, model_threads
from easlab.kernel.processors.signature import (
    TensorSignature,
    TensorSpec,
    find_model_file,
    model_config,
    other_model_kind,
)
from easlab.kernel.processors.tensor import TensorProcessor
from easlab.kernel.processors.tensor_codecs import TensorRequest
from easlab.wire.dtypes import is_string_dtype

ONNX_SUFFIXES = (".onnx",)
_AUTO_FORMATS = ("tf", "onnx")  # TF first: the format the signature advertises
SIGNATURE_NAME = "serving_default"

# onnxruntime's type strings ("tensor(float)") → numpy
_ORT_TYPES = {
    "float": np.float32,
    "double": np.float64,
    "float16": np.float16,
    "int8": np.int8,
    "int16": np.int16,
    "int32": np.int32,
    "int64": np.int64,
    "uint8": np.uint8,
    "uint16": np.uint16,
    "uint32": np.uint32,
    "uint64": np.uint64,
    "bool": np.bool_,
    "string": object,
}


def _ort_dtype(type_str: str) -> np.dtype[Any] | None:
    if type_str.startswith("tensor(") and type_str.endswith(")"):
        np_type = _ORT_TYPES.get(type_str[len("tensor(") : -1])
        return np.dtype(np_type) if np_type is not None else None
    return None  # seq(...), map(...): not a tensor


def _ort_shape(shape: Any) -> tuple[int, ...] | None:
    if shape is None:
        return None
    return tuple(d if isinstance(d, int) and d >= 0 else -1 for d in shape)


#: the batch sizes ``outputs_not_per_row`` infers the graph's shapes at: two, so that an
#: output of a fixed size that is one of them is not taken for one row per input row
_PROBE_ROWS = (7, 11)
#: ONNX ops whose output's length can come from the values of their inputs, not their
#: shapes (NonZero's indices, a Reshape to a computed shape, a Loop's iterations ...)
_ROWS_FROM_VALUES = frozenset(
    """NonZero Unique Compress NonMaxSuppression TopK Range ConstantOfShape Expand Tile
    Reshape Slice Resize Pad OneHot Loop Scan If Split SplitToSequence SequenceAt
    ConcatFromSequence StringSplit RoiAlign MaxRoiPool CenterCropPad Col2Im Upsample
    Squeeze Unsqueeze GatherND ScatterND""".split()
)
#: op domains whose ops are ONNX's own (ai.onnx.ml: Scaler, LinearClassifier,
#: TreeEnsemble... map each row of their input to one row); any other is a custom op
_KNOWN_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})


def outputs_not_per_row(path: Path, session: Any) -> dict[str, str]:
    """The outputs whose first dimension is free but not shown to be the batch's, each
    with why: ``TensorSignature.not_per_row`` (batching never joins requests then).

    An output whose first dimension has the name of the inputs' (``"batch"``) has one
    row per input row. One with another name or none (``["n", 2]``: NonZero's indices
    transposed) may be the batch's under another name (torch's ``dynamic_axes`` given
    as lists names each tensor's own), or something else, which a batch could not
    tell from rows when its length happens to equal the batch's rows (was: split by
    rows, each caller getting rows computed from the others' inputs). So ONNX's
    shape inference is asked at two batch sizes: an output whose first dimension is
    the batch size at both has one row per input row; one it sizes otherwise has
    not. One it cannot size is not split when an op it comes from can take its
    length from values (``_ROWS_FROM_VALUES``, a custom op); else (sklearn's tree
    ensembles, whose ai.onnx.ml ops inference does not size) its rows are compared
    with the batch's at each batch, as before.
    """
    metas = session.get_inputs()
    if not metas or any(not m.shape or isinstance(m.shape[0], int) for m in metas):
        return {}  # not batchable anyway (TensorSignature.batchable)
    batch = {m.shape[0] for m in metas if isinstance(m.shape[0], str)}
    suspects = {
        o.name: o.shape[0]
        for o in session.get_outputs()
        if o.shape and not isinstance(o.shape[0], int) and o.shape[0] not in batch
    }
    if not suspects:
        return {}
    named = ", ".join(f"'{b}'" for b in sorted(batch)) or "unnamed"
    try:
        import onnx

        model = onnx.load(str(path), load_external_data=False)
        found = [_inferred_first_dims(model, rows) for rows in _PROBE_ROWS]
        deciders = _rows_deciders(model, set(suspects))
        unknown = ""
    except Exception as exc:  # no onnx package, a graph its inference refuses
        found = [{} for _ in _PROBE_ROWS]
        deciders = {}
        unknown = f"; ONNX shape inference could not tell ({type(exc).__name__}: {exc})"
    out = {}
    for name, dim in suspects.items():
        sizes = [rows.get(name) for rows in found]
        if sizes == list(_PROBE_ROWS):
            continue
        decider = deciders.get(name)
        if not unknown and sizes == [None] * len(sizes) and decider is None:
            continue  # rows compared at each batch (docstring)
        why = unknown or (
            f"; its length can come from the values of op {decider}" if decider else ""
        )
        shown = f"'{dim}'" if dim else "unnamed"
        out[name] = (
            f"output {name!r}: its first dimension ({shown}) is not the inputs' batch "
            f"dimension ({named}) and is not shown to follow it{why}. If it has one row "
            "per input row, name it as the inputs' in the graph (torch.onnx.export's "
            "dynamic_axes as a dict with the same name for both)"
        )
    return out


def _inferred_first_dims(model: Any, rows: int) -> dict[str, int]:
    """The first dimension ONNX's shape inference finds for each graph output when
    every input's free first dimension is ``rows`` (outputs it cannot size: absent)."""
    import onnx
    from onnx import shape_inference

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    graph = probe.graph
    weights = {t.name for t in graph.initializer}
    for value in graph.input:
        if value.name in weights or not value.type.HasField("tensor_type"):
            continue
        dims = value.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].dim_value = rows  # replaces its dim_param (a oneof)
    for value in graph.output:
        if value.type.HasField("tensor_type"):
            value.type.tensor_type.ClearField("shape")  # inferred, not as declared
    inferred = shape_inference.infer_shapes(probe, strict_mode=False, data_prop=True)
    found = {}
    for value in inferred.graph.output:
        tensor = value.type.tensor_type
        if tensor.HasField("shape") and tensor.shape.dim:
            first = tensor.shape.dim[0]
            if first.HasField("dim_value"):
                found[value.name] = int(first.dim_value)
    return found


def _rows_deciders(model: Any, outputs: set[str]) -> dict[str, str]:
    """For each of ``outputs``, an op it comes from whose output's length can come from
    values (``_ROWS_FROM_VALUES``) or that is a custom op, as ``'NonZero' (node n)``."""
    producer = {out: node for node in model.graph.node for out in node.output}
    found: dict[str, str] = {}
    for name in outputs:
        seen = {name}  # tensors looked at: a node feeding many is looked at once
        todo = [name]
        while todo:
            node = producer.get(todo.pop())
            if node is None:
                continue  # a graph input or a weight
            if node.op_type in _ROWS_FROM_VALUES or node.domain not in _KNOWN_DOMAINS:
                found[name] = f"'{node.op_type}'" + (f" ({node.name})" if node.name else "")
                break
            fresh = [i for i in node.input if i and i not in seen]
            seen.update(fresh)
            todo.extend(fresh)
    return found


def _refuse_unservable_types(path: Path, session: Any) -> None:
    """A graph input or output whose tensor type onnxruntime's Python API cannot pass
    as a numpy array (``tensor(bfloat16)``, the float8 and 4-bit types): the model
    would load, then fail every request with a runtime message that blamed the
    caller (``No corresponding Numpy type``, ``Numpy_type 256 can't be converted``).
    The create fails instead, naming the tensor and what to change in the graph."""
    for kind, metas in (("input", session.get_inputs()), ("output", session.get_outputs())):
        for meta in metas:
            if meta.type.startswith("tensor(") and _ort_dtype(meta.type) is None:
                raise RuntimeError(
                    f"{path.name}: graph {kind} {meta.name!r} is a {meta.type}, which "
                    "onnxruntime cannot take or give as a numpy array, so no request could "
                    f"be served; export the model with a {kind} of float32 or float16 "
                    f"(a Cast node {'after' if kind == 'input' else 'before'} it)"
                )


class OnnxModel:
    """An onnxruntime session with its inputs and outputs as TensorSpecs (shared with Blade)."""

    def __init__(self, path: Path, gpu_devices: list[int], threads: int = 0) -> None:
        import onnxruntime as ort

        providers = ["CPUExecutionProvider"]
        if gpu_devices and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, "CUDAExecutionProvider")
        options = ort.SessionOptions()
        if threads > 0:
            # base.model_threads says why: one pool per instance, sized to its share of
            # the cores. Inter-op threads only serve the parallel execution mode, which
            # the session does not use (sequential): one is enough.
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self.session = ort.InferenceSession(
                str(path), sess_options=options, providers=providers
            )
        except Exception as exc:
            raise RuntimeError(
                f"onnxruntime cannot load {path}: {exc}" + other_model_kind(path, "onnx")
            ) from exc
        _refuse_unservable_types(path, self.session)
        self.inputs = tuple(
            TensorSpec(i.name, _ort_shape(i.shape), _ort_dtype(i.type))
            for i in self.session.get_inputs()
        )
        self.outputs = tuple(
            TensorSpec(o.name, _ort_shape(o.shape), _ort_dtype(o.type))
            for o in self.session.get_outputs()
        )
        self._output_types = {o.name: o.type for o in self.session.get_outputs()}
        #: TensorSignature.not_per_row: outputs a batch is not split by rows
        self.not_per_row = outputs_not_per_row(path, self.session)
        #: TensorSignature.unservable: outputs that are not tensors (a ZipMap's
        #: sequence of maps); the session runs without them
        tensors = [n for n, kind in self._output_types.items() if kind.startswith("tensor(")]
        self.unservable = {
            name: (
                f"output {name!r} is a {kind}, not a tensor, and no answer format carries "
                f"it: fetch the other outputs ({', '.join(tensors) or 'none'}: predict(..., "
                f"fetch={tensors!r}), %%eas predict --fetch {','.join(tensors)}, "
                "TFRequest.add_fetch), or export the model with tensor outputs only "
                "(skl2onnx: options={id(model): {'zipmap': False}})"
            )
            for name, kind in self._output_types.items()
            if name not in tensors
        }
        self._output_names = [o.name for o in self.outputs if o.name not in self.unservable]

    def __call__(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        if any(is_string_dtype(arr.dtype) for arr in inputs.values()):
            # The wire carries bytes; onnxruntime's string tensors take str.
            inputs = {name: _texts(name, arr) for name, arr in inputs.items()}
        names = self._output_names
        values = self.session.run(names, inputs)
        return {name: self._array(name, v) for name, v in zip(names, values, strict=True)}

    def plain_call(self) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]] | None:
        """The session's own call, without the Python wrapper's per-call steps, when it
        returns what ``__call__`` returns: a CPU session whose inputs and outputs are
        all tensors of numbers. None otherwise.

        ``InferenceSession.run`` checks that every input is fed and falls back to the
        CPU when another provider fails; ``__call__`` converts string inputs and
        checks the outputs. For the shortcut's requests (the inputs of a request
        that passed all of that, fixed-width floats) none of it can change the
        outputs, and skipping it took ~20 µs off each batch of the served MLP
        (shortcut.py says why so much).
        """
        binding = getattr(self.session, "_sess", None)
        if binding is None or self.session.get_providers() != ["CPUExecutionProvider"]:
            return None
        metas = [*self.session.get_inputs(), *self.session.get_outputs()]
        if any(not m.type.startswith("tensor(") or m.type == "tensor(string)" for m in metas):
            return None
        names = list(self._output_names)
        run = binding.run

        def call(inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
            return dict(zip(names, run(names, inputs, None), strict=True))

        return call

    def _array(self, name: str, value: Any) -> np.ndarray:
        if isinstance(value, np.ndarray):
            if value.dtype.kind == "U":
                return value.astype(object)
            return value
        raise ProcessorError(
            500,
            f"output {name!r} is a {self._output_types.get(name)}, not a tensor; export the model "
            "with tensor outputs only (skl2onnx: options={id(model): {'zipmap': False}})",
        )


def _text(value: Any) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


def _texts(name: str, arr: np.ndarray) -> np.ndarray:
    """A string input as onnxruntime takes it (str objects); any other input as it is.

    Bytes that are not UTF-8 are the caller's to fix, named as such: the decode
    error was answered as "the model failed on this request", which it never ran.
    """
    if not is_string_dtype(arr.dtype):
        return arr
    try:
        return np.vectorize(_text, otypes=[object])(arr) if arr.size else arr.astype(object)
    except UnicodeDecodeError:
        flat = arr.ravel().tolist()
        i, value = next((i, v) for i, v in enumerate(flat) if not _is_utf8(v))
        raise ProcessorError(
            400,
            f"input {name!r}: element {i} ({value[:40]!r}) is not UTF-8; the model's string "
            "inputs are text: send it UTF-8 encoded",
        ) from None


def _is_utf8(value: Any) -> bool:
    try:
        _text(value)
    except UnicodeDecodeError:
        return False
    return True


class OnnxProcessor(TensorProcessor):
    """Serve an ONNX model (processor code ``onnx``)."""

    request_format = "tf"

    def initialize(self) -> None:
        cfg = model_config(self.ctx)
        self.protocol = str(cfg.get("protocol", "auto")).lower()
        if self.protocol not in ("auto", "tf", "onnx"):
            raise RuntimeError(
                f"model_config.protocol {self.protocol!r} is not one of auto, tf, onnx"
            )
        if self.protocol == "onnx":
            self.request_format = "onnx"
        path = find_model_file(self.ctx, ONNX_SUFFIXES, "an ONNX model (.onnx)")
        threads, why = model_threads(self.ctx)
        self.model = OnnxModel(path, self.ctx.gpu_devices, threads)
        self.threads = {"runtime": "onnxruntime", "intra_op": threads, "inter_op": 1, "why": why}
        print(f"onnxruntime: {threads} intra-op thread(s), 1 inter-op ({why})", flush=True)
        self.signatures = {
            SIGNATURE_NAME: TensorSignature(
                SIGNATURE_NAME,
                self.model.inputs,
                self.model.outputs,
                self.model.not_per_row,
                self.model.unservable,
            )
        }
        self.default_signature = SIGNATURE_NAME

    @property
    def formats(self) -> tuple[str, ...]:
        return _AUTO_FORMATS if self.protocol == "auto" else super().formats

    def select_signature(self, request: TensorRequest) -> TensorSignature:
        return self.signatures[SIGNATURE_NAME]  # one graph, one signature (module doc)

    def run(
        self, signature: TensorSignature, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        return self.model(inputs)

    def runner(
        self, signature: TensorSignature
    ) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
        return self.model.plain_call() or super().runner(signature)
