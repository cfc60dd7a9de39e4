"""A tensor model's signature and the check of every input against it.

Checking is TF Serving's: an unknown input name, a missing input, a wrong
dtype or a shape that does not fit (``-1`` matches any size) answers 400
naming the input, what was expected and what came, e.g. ``input 'images':
expected shape [-1, 784] DT_FLOAT, got [1, 783] DT_FLOAT``. Dtypes are strict
with one allowance: a value of the same kind (float64 for a float32 input,
int64 for int32 when every value fits) or one numpy casts safely (uint8 →
int32) is cast, so numpy users need not spell float32 everywhere; float for
int, int for bool and the like are refused. What ``conform`` does depends on
the shape and dtype only (``conform_plan``), so processors cache it.

A signature comes from the model file or from the service's ``model_config``
(``model_config``, ``config_specs``, ``TensorSpec.from_config``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from easlab.kernel.processors.base import ProcessorContext, ProcessorError
from easlab.wire.dtypes import NUMPY_TO_TF, TF_DTYPE_NAMES, TF_WIRE, is_string_dtype, numpy_dtype

_DTYPE_NAMES: dict[np.dtype[Any], str] = {}


def dtype_name(dtype: np.dtype[Any] | None) -> str:
    """The TF name of a numpy dtype (``DT_FLOAT``); what signatures and messages show."""
    if dtype is None:
        return "any dtype"
    name = _DTYPE_NAMES.get(dtype)  # dtype.name and the string test cost microseconds
    if name is None:
        if is_string_dtype(dtype):
            name = "DT_STRING"
        else:
            code = NUMPY_TO_TF.get(dtype.name)
            name = TF_DTYPE_NAMES[code] if code is not None else f"numpy {dtype.name}"
        _DTYPE_NAMES[dtype] = name
    return name


def numpy_dtype_of(name: str) -> np.dtype[Any]:
    """The numpy dtype of a TF dtype name (``"DT_FLOAT"`` → float32), for model_config."""
    codes = {n: c for c, n in TF_DTYPE_NAMES.items()}
    code = codes.get(name.upper())
    if code is None or code not in TF_WIRE:
        raise ValueError(f"unknown tensor type {name!r}; use one of {', '.join(sorted(codes))}")
    return numpy_dtype(TF_WIRE[code][0])


@dataclass(frozen=True)
class TensorSpec:
    """One input or output: name, shape (``-1`` = any size, None = unknown rank), dtype."""

    name: str
    shape: tuple[int, ...] | None = None
    dtype: np.dtype[Any] | None = None

    def describe(self) -> str:
        shape = (
            "[" + ", ".join(map(str, self.shape)) + "]" if self.shape is not None else "any shape"
        )
        return f"{shape} {dtype_name(self.dtype)}"

    def to_json(self) -> dict[str, Any]:
        # SPEC §1: {"name", "shape", "type"}; unknown parts are null.
        return {
            "name": self.name,
            "shape": list(self.shape) if self.shape is not None else None,
            "type": dtype_name(self.dtype) if self.dtype is not None else None,
        }

    @staticmethod
    def from_config(item: dict[str, Any], default_name: str) -> TensorSpec:
        """A spec from ``model_config`` JSON: ``{"name"?, "shape": [-1, 4], "type": "DT_FLOAT"}``."""
        shape = item.get("shape")
        dtype = item.get("type") or item.get("dtype")
        return TensorSpec(
            name=str(item.get("name", default_name)),
            shape=tuple(int(d) for d in shape) if shape is not None else None,
            dtype=numpy_dtype_of(str(dtype)) if dtype else None,
        )


@dataclass(frozen=True)
class TensorSignature:
    """A named set of inputs and outputs the model can run."""

    name: str
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...] = ()
    #: outputs whose first dimension is free (``-1``) but not shown to be the batch's
    #: (an ONNX ``["n", 2]`` of NonZero's indices; onnx.py ``outputs_not_per_row``):
    #: output name -> why. A batch of as many rows as such an output happens to have
    #: would be split as if it had one row per input row, each caller getting rows
    #: computed from the others' inputs, so requests are never joined (``batchable``)
    not_per_row: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: outputs the model gives in a form no answer format carries (an ONNX ZipMap's
    #: list of dicts): output name -> what it is and what to do. The model runs
    #: without them; a request that fetches one, or every output (no fetch list), is
    #: refused naming it, so a caller fetching the others is served (``fetch``)
    unservable: Mapping[str, str] = field(default_factory=dict, hash=False)
    #: for a model that does not say which outputs have one row per input row
    #: (TorchScript, TensorFlow): the row counts of calls whose every output had one
    #: row per input row; None: the model's graph says it (ONNX), nothing to learn.
    #: A fixed table of K rows looks per row in a call of K rows, so requests are not
    #: joined before one call has shown it, nor into a batch of a count seen only so
    #: far: once two counts are seen no fixed K can match both (``may_join``)
    per_row_seen: frozenset[int] | None = None

    def to_json(self, fmt: str) -> dict[str, Any]:
        return {
            "signature_name": self.name,
            "inputs": [s.to_json() for s in self.inputs],
            "outputs": [s.to_json() for s in self.outputs],
            "format": fmt,
        }

    @cached_property
    def fixed_rows(self) -> frozenset[int]:
        """The fixed first dims the outputs declare (``[2, -1]``: 2). A joined batch of
        that many rows cannot tell such an output (NonZero's indices) from one row per
        input row, so it is not split back by rows (``shortcut.per_row``)."""
        return frozenset(
            s.shape[0]
            for s in self.outputs
            if s.shape and s.shape[0] is not None and s.shape[0] >= 0
        )

    @property
    def batchable(self) -> bool:
        """Every input has a known shape whose first dim is the batch dim (-1), and no
        output is known not to have one row per input row (``not_per_row``)."""
        return self.unbatchable is None

    @cached_property
    def unbatchable(self) -> str | None:
        """Why ``rpc.batching`` cannot join this signature's requests into one model
        call (None: it can); what the instance's log says at start."""
        declare = (
            'declare the inputs in model_config with -1 first, e.g. {"inputs": '
            '[{"shape": [-1, 4], "type": "DT_FLOAT"}]}'
        )
        if not self.inputs:
            return f"signature {self.name!r} declares no inputs: {declare}"
        for s in self.inputs:
            if s.shape is None:
                return (
                    f"input {s.name!r} has no declared shape, so its first dimension cannot "
                    f"be told to be the batch's: {declare}"
                )
            if not s.shape:
                return f"input {s.name!r} is a scalar: it has no batch dimension to join on"
            if s.shape[0] != -1:
                return (
                    f"input {s.name!r} has a fixed first dimension ({list(s.shape)}), not the "
                    "batch's: give it -1 (None in TensorFlow) there"
                )
        return next(iter(self.not_per_row.values()), None)

    def may_join(self, rows: int) -> bool:
        """Whether a joined batch of ``rows`` rows (-1: of any size) can be split back by
        rows, as far as calls so far have shown (``per_row_seen``)."""
        seen = self.per_row_seen
        return seen is None or (bool(seen) and rows not in seen)

    def seen_per_row(self, rows: int) -> TensorSignature:
        """This signature after a call of ``rows`` rows whose every output had that
        many: itself, or one that knows more (two counts seen: proven)."""
        seen = self.per_row_seen
        if seen is None or rows in seen:
            return self
        return replace(self, per_row_seen=None if seen else frozenset({rows}))

    def input_names(self) -> str:
        return ", ".join(s.name for s in self.inputs) or "(none)"


def find_model_file(ctx: ProcessorContext, suffixes: Sequence[str], what: str) -> Path:
    """The model file of a service: ``model_entry``/``model_path`` itself, or the one file
    with one of ``suffixes`` under that directory."""
    path = ctx.model_entry or ctx.model_path
    if path is None:
        raise RuntimeError(f"this processor needs model_path pointing to {what}")
    path = Path(path)
    if path.is_file():
        return path
    if not path.is_dir():
        if path.exists():  # a device, a FIFO, a socket: nothing a runtime can load
            raise RuntimeError(f"model path {path} is neither a file nor a folder")
        raise RuntimeError(f"model path {path} does not exist")
    found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in suffixes)
    if not found:
        raise RuntimeError(
            f"model path {path} holds no {what} (no {' / '.join(suffixes)} file); point "
            "model_path or model_entry at the model file"
        )
    if len(found) > 1:
        names = ", ".join(str(p.relative_to(path)) for p in found[:5])
        raise RuntimeError(
            f"model path {path} holds several candidates ({names}); set model_entry to the one to serve"
        )
    return found[0]


def other_model_kind(path: Path, wanted: str) -> str:
    """For a model file its runtime refused: what the file looks like when it is a
    model of another processor (or empty), and which processor serves it, as
    ``"; <path> is ..."``; empty when nothing is known. Only a failed load gets here."""
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError:
        return ""
    if not head:
        return f"; {path.name} is empty (a copy or upload that did not finish?)"
    kinds = [
        (
            "torch",
            head.startswith(b"PK\x03\x04"),
            "a zip archive, as torch.jit.save writes (a TorchScript model): serve it "
            "with processor pytorch_cpu_1.6 (or pytorch_gpu_*)",
        ),
        (
            "pmml",
            b"<PMML" in head or head.lstrip().startswith(b"<?xml"),
            "an XML (PMML) document: serve it with processor pmml",
        ),
        (
            "onnx",
            path.suffix.lower() == ".onnx",
            "named as an ONNX model: serve it with processor onnx",
        ),
    ]
    for kind, matches, what in kinds:
        if matches and kind != wanted:
            return f"; {path.name} is {what}"
    return ""


def model_config(ctx: ProcessorContext) -> dict[str, Any]:
    """``model_config`` as a dict: an object as given, a JSON text parsed, empty when absent."""
    cfg = ctx.model_config
    if cfg is None or cfg == "":
        return {}
    if isinstance(cfg, str):
        try:
            cfg = json.loads(cfg)
        except ValueError as exc:
            raise RuntimeError(f"model_config is not valid JSON: {exc}") from exc
    if not isinstance(cfg, dict):
        raise RuntimeError(f"model_config must be a JSON object, got {type(cfg).__name__}")
    return cfg


def config_specs(cfg: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """``model_config[key]`` (``"inputs"`` / ``"outputs"``) as a checked list of tensor entries."""
    items = cfg.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise RuntimeError(
            f'model_config.{key} must be a list of objects like {{"shape": [-1, 4], "type": "DT_FLOAT"}}'
        )
    return items


def _fits(spec_shape: tuple[int, ...], shape: tuple[int, ...]) -> bool:
    return len(spec_shape) == len(shape) and all(
        e in (-1, None) or e == g for e, g in zip(spec_shape, shape, strict=True)
    )


def conform(spec: TensorSpec, arr: np.ndarray) -> np.ndarray:
    """Check one input against its spec; cast it when the cast is allowed (module doc)."""
    return apply_conform(spec, arr, conform_plan(spec, arr.shape, arr.dtype))


# What conform does to an array of a given shape and dtype (conform_plan): pass it
# through, cast it, or check its values' range and then cast it.
_PASS, _CAST, _RANGE_CAST = 0, 1, 2


def _mismatch(spec: TensorSpec, shape: tuple[int, ...], dtype: np.dtype[Any]) -> ProcessorError:
    got = "[" + ", ".join(map(str, shape)) + "] " + dtype_name(dtype)
    hint = ""
    want = spec.dtype
    if want is not None and want.kind == "u" and want.name not in NUMPY_TO_TF:
        # uint32/uint64: what a caller can send instead (conform_plan casts it)
        hint = f"; no TF or Torch request carries {want.name}: send DT_INT64 values that fit"
    return ProcessorError(
        400, f"input {spec.name!r}: expected shape {spec.describe()}, got {got}{hint}"
    )


def conform_plan(spec: TensorSpec, shape: tuple[int, ...], dtype: np.dtype[Any]) -> int:
    """What ``conform`` does to an array of ``shape`` and ``dtype`` (a 400 when it refuses).

    Everything here depends on the shape and dtype only, so processors cache it;
    the one value-dependent step (the range of integers narrowed) is ``_RANGE_CAST``.
    """
    if spec.shape is not None and not _fits(spec.shape, shape):
        raise _mismatch(spec, shape, dtype)
    want = spec.dtype
    if want is None or dtype == want:
        return _PASS
    if is_string_dtype(want) or is_string_dtype(dtype):
        if is_string_dtype(want) and is_string_dtype(dtype):
            return _PASS
        raise _mismatch(spec, shape, dtype)
    if np.can_cast(dtype, want, "safe"):
        return _CAST
    if dtype.kind == want.kind:
        return _RANGE_CAST if want.kind in "iu" else _CAST
    if dtype.kind == "i" and want.kind == "u":
        # signed integers for an unsigned input, their values checked: the only way to
        # feed a uint32 or uint64 input, which no tensor wire format carries
        return _RANGE_CAST
    raise _mismatch(spec, shape, dtype)


def apply_conform(spec: TensorSpec, arr: np.ndarray, plan: int) -> np.ndarray:
    """Do what ``conform_plan`` decided for ``arr``."""
    if plan == _PASS:
        return arr
    want = spec.dtype
    assert want is not None
    if plan == _RANGE_CAST and arr.size:
        info = np.iinfo(want)
        if arr.min() < info.min or arr.max() > info.max:
            raise ProcessorError(
                400,
                f"input {spec.name!r}: values out of range for {dtype_name(want)} "
                f"(got {dtype_name(arr.dtype)} from {arr.min()} to {arr.max()})",
            )
    return arr.astype(want)
