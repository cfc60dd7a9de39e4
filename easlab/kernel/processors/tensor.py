"""What every tensor processor shares: decode, check against the signature, run, encode.

A tensor processor (TensorFlow, PyTorch, Blade, ONNX) only loads its model,
describes its signatures and implements :meth:`TensorProcessor.run` on numpy
arrays. Everything between the wire and ``run`` lives here:

* decoding the request of the processor's wire format (SPEC §3) with the
  server-side codecs in ``easlab/wire``. A processor that accepts several
  formats (ONNX's ``auto``: TF, then DataProto) follows one rule,
  :func:`decode_first`: the formats are tried in their order and the first
  that reads the body and finds inputs in it wins. When none does, the most
  specific failure is answered: a message that parsed but contradicts itself
  (``input 'x': shape [2, 3] needs 6 values, the message carries 4``) before a
  message with no inputs, before bytes that are no message of any format;
* checking every input against the signature, TF Serving style: an unknown
  input name, a missing input, a wrong dtype or a shape that does not fit
  (``-1`` matches any size) answers 400 naming the input, what was expected and
  what came, e.g. ``input 'images': expected shape [-1, 784] DT_FLOAT, got
  [1, 783] DT_FLOAT``. Dtypes are strict with one allowance: a value of the
  same kind (float64 for a float32 input, int64 for int32 when every value
  fits) or one numpy casts safely (uint8 → int32) is cast, so numpy users
  need not spell float32 everywhere; float for int, int for bool and the
  like are refused;
* the fetch list (``output_filter``): empty means every output (SPEC §3), an
  unknown name answers 400 naming it;
* batching (``rpc.batching``): requests with the same signature and the same
  non-batch shapes are concatenated along axis 0, run once, and the outputs
  are split back by each request's batch size. A request that fails its
  checks gets its own 400 while the others are batched.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from easlab.kernel.packed import Packed
from easlab.kernel.processors.base import (
    Processor,
    ProcessorContext,
    ProcessorError,
    packed_answers,
)
from easlab.kernel.processors.shortcut import Shortcut, per_row
from easlab.wire import blade as blade_wire
from easlab.wire import onnx as onnx_wire
from easlab.wire import tf as tf_wire
from easlab.wire import torch as torch_wire
from easlab.wire.base import InconsistentMessage, WireError
from easlab.wire.dtypes import NUMPY_TO_TF, TF_DTYPE_NAMES, TF_WIRE, is_string_dtype, numpy_dtype
from easlab.wire.layout import AnswerCache

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

    def to_json(self, fmt: str) -> dict[str, Any]:
        return {
            "signature_name": self.name,
            "inputs": [s.to_json() for s in self.inputs],
            "outputs": [s.to_json() for s in self.outputs],
            "format": fmt,
        }

    @property
    def batchable(self) -> bool:
        """Every input has a known shape whose first dim is the batch dim (-1)."""
        return bool(self.inputs) and all(
            s.shape is not None and len(s.shape) > 0 and s.shape[0] == -1 for s in self.inputs
        )

    def input_names(self) -> str:
        return ", ".join(s.name for s in self.inputs) or "(none)"


@dataclass
class TensorRequest:
    """A decoded request, whatever its wire format."""

    fmt: str  # "tf", "torch", "blade", "onnx": how to answer
    inputs: dict[str, np.ndarray]
    signature_name: str | None = None
    fetch: list[str] = field(default_factory=list)
    fetch_dtypes: dict[str, int] = field(default_factory=dict)  # Blade output_info codes


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


def describe_array(arr: np.ndarray) -> str:
    return "[" + ", ".join(map(str, arr.shape)) + "] " + dtype_name(arr.dtype)


def describe_inputs(inputs: Mapping[str, Any]) -> str:
    """``'x' [2, 784] DT_DOUBLE, 'y' [2] DT_INT64``: what a model call was given."""
    return ", ".join(
        f"{name!r} {describe_array(arr)}" if isinstance(arr, np.ndarray) else repr(name)
        for name, arr in inputs.items()
    )


_TORCHSCRIPT_TRACEBACK = "The following operation failed in the TorchScript interpreter"


def runtime_reason(exc: BaseException) -> str:
    """Why a model runtime refused a call, in one line a caller can act on.

    TorchScript wraps the reason (``mat1 and mat2 must have the same dtype``, a
    model's ``assert``) in both of its tracebacks, whose paths and code mean
    nothing to the caller and bury the reason at the very end: the caller gets
    the last line, and the whole traceback goes to the service log (the
    instance's stderr).
    """
    text = str(exc)
    if _TORCHSCRIPT_TRACEBACK in text:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            print(f"model call failed: {type(exc).__name__}: {text}", file=sys.stderr, flush=True)
            return lines[-1]
    return f"{type(exc).__name__}: {text}"


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
    return ProcessorError(400, f"input {spec.name!r}: expected shape {spec.describe()}, got {got}")


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


# how many (signature, inputs) layouts check() and _batch_key() remember per processor
_PLAN_CACHE_SIZE = 256


class CachedDecoder:
    """One wire format's decoder with the request-layout cache (``easlab/wire/layout.py``).

    It remembers the layout of the last body it parsed with the full parser,
    with what that body decoded to besides its arrays (format, signature name,
    fetch list, input names). A body the layout reads is answered from it;
    any other takes the full parser, whose layout then replaces the cached one.
    """

    def __init__(self, parse: Any) -> None:
        # parse(data) -> (TensorRequest, RequestLayout | None), the layout reading the
        # request's inputs in their dict order
        self._parse = parse
        self._last: tuple[Any, TensorRequest, tuple[str, ...]] | None = None
        self.hits = 0
        #: whether the last body was read by the cached layout (a repeated layout)
        self.repeated = False

    def __call__(self, data: bytes) -> TensorRequest:
        last = self._last
        if last is not None:
            layout, template, names = last
            arrays = layout.read(data)
            if arrays is not None:
                self.hits += 1
                self.repeated = True
                return _filled(template, names, arrays)
        self.repeated = False
        request, layout = self._parse(data)
        if layout is not None and request.inputs and len(layout.slots) == len(request.inputs):
            template = TensorRequest(
                request.fmt,
                {},
                request.signature_name,
                list(request.fetch),
                dict(request.fetch_dtypes),
            )
            self._last = (layout, template, tuple(request.inputs))
        return request

    def read_packed(self, batch: Packed) -> TensorRequest | None:
        """One request holding every body's inputs stacked along axis 0, when all bodies
        have the cached layout and fixed-width tensors (``RequestLayout.read_packed``);
        each body alone would decode to the same request with its own rows. Else None."""
        last = self._last
        if last is None:
            return None
        layout, template, names = last
        if batch.width() != layout.size:
            return None
        arrays = layout.read_packed(batch.joined(), len(batch))
        if arrays is None:
            return None
        self.hits += len(batch)
        return _filled(template, names, arrays)


def _filled(template: TensorRequest, names: Sequence[str], arrays: list[Any]) -> TensorRequest:
    """The cached request ``template`` with these input arrays (its lists copied)."""
    return TensorRequest(
        template.fmt,
        dict(zip(names, arrays, strict=True)),
        template.signature_name,
        list(template.fetch),
        dict(template.fetch_dtypes),
    )


class TensorProcessor(Processor):
    """Base of the tensor processors: subclasses fill ``signatures`` and implement ``run``."""

    request_format: str | None = "tf"
    # The runtime's intra-op threads run a batch on every core the instance has: a
    # second batch at the same time only fights over them (measured: no gain), while
    # waking a thread for it on every batch cost 10-30% of c=16 throughput (issue 16).
    batch_fills_cores = True
    # process_batch([x]) == process(x), byte for byte (tests/kernel/test_batch_assembly.py)
    lone_batch_is_process = True

    def __init__(self, ctx: ProcessorContext) -> None:
        super().__init__(ctx)
        self.signatures: dict[str, TensorSignature] = {}
        self.default_signature: str = ""
        # the layout caches (wire/layout.py) and what check/_batch_key work out per
        # (signature, input names, shapes, dtypes): a repeat request looks them up
        self._decoders: dict[str, Any] = {
            **_DECODERS,
            "tf": CachedDecoder(decode_tf_layout),
            "torch": CachedDecoder(decode_torch_layout),
        }
        self._answers = {"tf": AnswerCache(), "torch": AnswerCache()}
        self._check_plans: dict[Any, tuple[TensorSignature, list[tuple[TensorSpec, int]]]] = {}
        self._batch_keys: dict[Any, tuple[TensorSignature, Any]] = {}
        # the steps learnt for the last request layout (shortcut.py), and the
        # requests it answered
        self._shortcut: Shortcut | None = None
        self.shortcut_hits = 0

    @property
    def decode_cache_hits(self) -> int:
        """Requests decoded by the request-layout cache, the shortcut's included (for
        tests and benchmarks): the shortcut reads a body by its layout too."""
        decoders = self._decoders.values()
        return sum(c.hits for c in decoders if isinstance(c, CachedDecoder)) + self.shortcut_hits

    @property
    def encode_cache_hits(self) -> int:
        """Answers encoded by the answer-layout cache, the shortcut's included (it
        writes the cache's headers)."""
        return sum(c.hits for c in self._answers.values()) + self.shortcut_hits

    # -- what subclasses implement -------------------------------------------

    def run(
        self, signature: TensorSignature, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        """Run the model on checked inputs; every output by name."""
        raise NotImplementedError

    def runner(
        self, signature: TensorSignature
    ) -> Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]]:
        """The model call the shortcut makes for requests of ``signature`` (shortcut.py):
        ``run`` itself, unless the processor has a leaner call giving the same outputs
        for the inputs the shortcut passes (fixed-width floats, checked once)."""
        return partial(self.run, signature)

    # -- the interface -------------------------------------------------------

    def signature(self) -> dict[str, Any] | None:
        sig = self.signatures.get(self.default_signature)
        return sig.to_json(self.request_format or "tf") if sig is not None else None

    def process(self, data: bytes) -> tuple[bytes, int]:
        shortcut = self._shortcut
        if shortcut is not None:
            inputs = shortcut.read(data, 1)
            if inputs is not None:
                self.shortcut_hits += 1
                outputs = self._run_shortcut(shortcut, inputs)
                answer = shortcut.write(outputs, 1)
                if answer is not None:
                    return answer, 200
                request = _filled(shortcut.template, shortcut.names, shortcut.arrays(inputs))
                return self._encode(self.fetch(shortcut.sig, outputs, request), request), 200
        request = self.decode(data)
        sig = self.select_signature(request)
        inputs = self.check(sig, request)
        outputs = self._run(sig, inputs)
        fetched = self.fetch(sig, outputs, request)
        answer = self._encode(fetched, request)
        last = self._layout_of(data, request)
        if last is not None:
            self._learn(last, request, sig, inputs, outputs, fetched, 1)
        return answer, 200

    def process_batch(self, requests: list[bytes]) -> list[tuple[bytes, int]]:
        statuses, answers = self.answer_batch(Packed.of(requests))
        return list(zip(answers.bodies(), statuses, strict=True))

    def answer_batch(self, batch: Packed) -> tuple[list[int], Packed]:
        if len(batch) > 1:
            answers = self._answer_uniform(batch)
            if answers is not None:
                return answers
        return packed_answers(self._process_grouped(batch.bodies(), join=True))

    def _process_grouped(self, requests: list[bytes], join: bool) -> list[tuple[bytes, int]]:
        """Any batch: each request decoded and checked alone (a bad one gets its own
        answer), the rest grouped by what can be joined and, with ``join``, run once
        per group."""
        answers: list[tuple[bytes, int] | None] = [None] * len(requests)
        groups: dict[Any, list[tuple[int, TensorRequest, dict[str, np.ndarray]]]] = {}
        for i, data in enumerate(requests):
            try:
                request = self.decode(data)
                sig = self.select_signature(request)
                inputs = self.check(sig, request)
            except ProcessorError as exc:
                answers[i] = (exc.message.encode(), exc.status)
                continue
            except Exception as exc:  # noqa: BLE001 - one body's fault, answered to it alone
                # A decoder bug met by one caller's body must not fail the batch: the
                # other callers' requests are valid.
                answers[i] = unreadable_answer(exc)
                continue
            key = self._batch_key(sig, inputs, i) if join else ("alone", i)
            groups.setdefault(key, []).append((i, request, inputs))
        for members in groups.values():
            for i, answer in self._run_group(members):
                answers[i] = answer
        return [
            a if a is not None else (b"internal error: request left unanswered", 500)
            for a in answers
        ]

    def _answer_uniform(self, batch: Packed) -> tuple[list[int], Packed] | None:
        """The common batch, one client's requests: every body laid out like the last
        one the decoder learnt (same signature, inputs, shapes, fetch list; only the
        values differ). Its inputs are read from the frame's buffer straight into the
        joined ones, the decode, check and batch key are done once for the batch
        instead of once per request, and the answers are written into one array
        (issue 16). None when the batch is not uniform; ``_process_grouped`` then
        answers it, request by request.

        Every body matching the layout decodes to the same request but for its
        values (``CachedDecoder``), so the checks of one are the checks of all; the
        joined request differs from each only in its first dimension, which the
        batch key's signature leaves free (``-1``).
        """
        callers = len(batch)
        shortcut = self._shortcut
        if shortcut is not None and shortcut.batchable and batch.width() == shortcut.size:
            inputs = _read_or_none(shortcut.read, batch.joined(), callers)
            if inputs is not None:
                self.shortcut_hits += callers
                try:
                    outputs = self._run_shortcut(shortcut, inputs)
                except ProcessorError:
                    outputs = None
                rows = shortcut.write(outputs, callers) if outputs is not None else None
                if rows is not None:
                    return [200] * callers, Packed([rows], [len(rows) // callers] * callers)
                request = _filled(shortcut.template, shortcut.names, shortcut.arrays(inputs))
                return self._uniform_answers(batch, shortcut.sig, request, inputs, outputs)
        decoder = self._decoders.get(self.formats[0])
        if not isinstance(decoder, CachedDecoder):
            return None
        joined = _read_or_none(decoder.read_packed, batch)
        if joined is None:
            return None
        try:
            sig = self.select_signature(joined)
            inputs = self.check(sig, joined)
        except ProcessorError:
            return None  # the general path answers each request with its own message
        total = next(iter(inputs.values())).shape[0]
        if self._batch_key(sig, inputs, -1) == ("alone", -1) or total % callers:
            return None
        try:
            outputs = self._run(sig, inputs)
        except ProcessorError:
            outputs = None
        answers = self._uniform_answers(batch, sig, joined, inputs, outputs)
        if decoder._last is not None and outputs is not None and per_row(outputs, total):
            self._learn(decoder._last, joined, sig, inputs, outputs, None, callers)
        return answers

    def _uniform_answers(
        self,
        batch: Packed,
        sig: TensorSignature,
        joined: TensorRequest,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray] | None,
    ) -> tuple[list[int], Packed]:
        """The answers of a uniform batch whose model call gave ``outputs`` (None: it
        failed), as the general path writes them."""
        callers = len(batch)
        total = next(iter(inputs.values())).shape[0]
        if outputs is None or not per_row(outputs, total):
            # the batch broke (one request?) or its outputs are not per row: each alone
            return packed_answers(self._process_grouped(batch.bodies(), join=False))
        try:
            return [200] * callers, self._encode_rows(
                self.fetch(sig, outputs, joined), joined, callers
            )
        except ProcessorError:  # each caller's answer says it, as the general path does
            size = total // callers
            return packed_answers(
                [
                    self._answer(
                        sig, {n: o[i * size : (i + 1) * size] for n, o in outputs.items()}, joined
                    )
                    for i in range(callers)
                ]
            )

    # -- steps, overridable per format --------------------------------------

    @property
    def formats(self) -> tuple[str, ...]:
        """The wire formats ``decode`` tries, in order (``decode_first``)."""
        return (self.request_format or "tf",)

    def decode(self, data: bytes) -> TensorRequest:
        """Parse the request bytes of this processor's wire format; bad bytes → 400."""
        return decode_first(data, self.formats, self._decoders)

    def encode(self, outputs: dict[str, np.ndarray], request: TensorRequest) -> bytes:
        """Serialize the outputs in the request's wire format."""
        if request.fmt == "blade":
            return blade_wire.encode_blade_response(blade_outputs(outputs, request.fetch_dtypes))
        if request.fmt == "onnx":
            return onnx_wire.encode_onnx_response(outputs)
        cache, arrays, build = self._cached_answer(outputs, request)
        return cache.encode(arrays, build)

    def _cached_answer(
        self, outputs: dict[str, np.ndarray], request: TensorRequest
    ) -> tuple[AnswerCache, list[tuple[Any, np.ndarray]], Any]:
        """For the formats with an answer cache (Torch, TF): the cache, the outputs as
        ``(key, array)`` in the order its encoder writes them, and the full encoder."""
        if request.fmt == "torch":
            listed, named = torch_outputs(outputs)
            return (
                self._answers["torch"],
                [*enumerate(listed), *named.items()],
                lambda: torch_wire.torch_response_parts(listed, map_outputs=named or None),
            )
        return (
            self._answers["tf"],
            list(outputs.items()),
            lambda: tf_wire.tf_response_parts(outputs),
        )

    def _encode_rows(
        self, outputs: dict[str, np.ndarray], request: TensorRequest, callers: int
    ) -> Packed:
        """The answers of a uniform batch's ``callers``, each its share of the rows of
        ``outputs``: what ``encode`` gives for each caller's rows, written into one
        array with the answer cache's headers (``AnswerCache.encode_packed``)."""
        total = next(iter(outputs.values())).shape[0] if outputs else 0
        size = total // callers
        if request.fmt in ("tf", "torch") and size:
            cache, arrays, _ = self._cached_answer(outputs, request)
            rows = cache.encode_packed(arrays, size)
            if rows is None:  # the cache holds another layout: learn this one
                self.encode({n: o[:size] for n, o in outputs.items()}, request)
                rows = cache.encode_packed(arrays, size)
            if rows is not None:
                return Packed([rows], [rows.shape[1]] * callers)
        return Packed.of(
            [
                self.encode({n: o[i * size : (i + 1) * size] for n, o in outputs.items()}, request)
                for i in range(callers)
            ]
        )

    def select_signature(self, request: TensorRequest) -> TensorSignature:
        name = request.signature_name or self.default_signature
        sig = self.signatures.get(name)
        if sig is None:
            raise ProcessorError(
                400,
                f"unknown signature {name!r}; the model has: {', '.join(sorted(self.signatures))}",
            )
        return sig

    def check(self, sig: TensorSignature, request: TensorRequest) -> dict[str, np.ndarray]:
        """Every input known, present, and of a fitting shape and dtype (module doc)."""
        key = (sig.name, tuple((n, a.shape, a.dtype) for n, a in request.inputs.items()))
        cached = self._check_plans.get(key)
        if cached is None or cached[0] is not sig:
            cached = (sig, self._check_plan(sig, request))
            if len(self._check_plans) >= _PLAN_CACHE_SIZE:
                self._check_plans.clear()
            self._check_plans[key] = cached
        inputs = request.inputs
        return {spec.name: apply_conform(spec, inputs[spec.name], plan) for spec, plan in cached[1]}

    def _check_plan(
        self, sig: TensorSignature, request: TensorRequest
    ) -> list[tuple[TensorSpec, int]]:
        specs = {s.name: s for s in sig.inputs}
        for name in request.inputs:
            if name not in specs:
                raise ProcessorError(
                    400,
                    f"unknown input {name!r}; signature {sig.name!r} takes: {sig.input_names()}",
                )
        plans: list[tuple[TensorSpec, int]] = []
        for spec in sig.inputs:
            arr = request.inputs.get(spec.name)
            if arr is None:
                raise ProcessorError(
                    400,
                    f"missing input {spec.name!r} (expected shape {spec.describe()}); "
                    f"signature {sig.name!r} takes: {sig.input_names()}",
                )
            try:
                plan = conform_plan(spec, arr.shape, arr.dtype)
            except ProcessorError:
                # inputs are checked in signature order: an earlier input's
                # out-of-range values are reported first, as conform() one by one does
                for earlier, p in plans:
                    apply_conform(earlier, request.inputs[earlier.name], p)
                raise
            plans.append((spec, plan))
        return plans

    def fetch(
        self, sig: TensorSignature, outputs: dict[str, np.ndarray], request: TensorRequest
    ) -> dict[str, np.ndarray]:
        """The outputs the request asked for; all of them when it named none (SPEC §3)."""
        if not request.fetch:
            return outputs
        picked = {}
        for name in request.fetch:
            if name not in outputs:
                raise ProcessorError(
                    400,
                    f"unknown output {name!r} in the fetch list; signature {sig.name!r} "
                    f"outputs: {', '.join(outputs) or '(none)'}",
                )
            picked[name] = outputs[name]
        return picked

    # -- internals -----------------------------------------------------------

    def _layout_of(self, data: bytes, request: TensorRequest) -> Any:
        """The decoder's cached (layout, template, names) when ``decode`` read ``data``
        by it, in the format a batch is read in (``formats[0]``): a layout seen twice
        in a row is learnt, so that requests of layouts taking turns (which the
        decoder's one-layout cache misses too) are not learnt and forgotten each time
        (that cost ~12 µs a request, measured)."""
        if request.fmt != self.formats[0] or request.fmt not in self._answers:
            return None
        decoder = self._decoders.get(request.fmt)
        if not isinstance(decoder, CachedDecoder) or not decoder.repeated:
            return None
        last = decoder._last
        return last if last is not None and last[0].matches(data) else None

    def _learn(
        self,
        last: tuple[Any, TensorRequest, tuple[str, ...]],
        request: TensorRequest,
        sig: TensorSignature,
        inputs: dict[str, np.ndarray],
        outputs: dict[str, np.ndarray] | None,
        fetched: dict[str, np.ndarray] | None,
        callers: int,
    ) -> None:
        """Remember the steps a request of ``last``'s layout took (``Shortcut``), when the
        shortcut gives the same answer: ``check`` passed the request's own arrays, every
        input is a fixed-width float span, and the answer cache holds the headers of
        float outputs written as they lie in memory."""
        if request.fmt not in self._answers or outputs is None:
            return
        layout, template, names = last
        if len(names) != len(request.inputs) or len(inputs) != len(names):
            return
        given = [request.inputs.get(name) for name in names]
        reads = []
        for run_name, arr in inputs.items():
            index = next((j for j, a in enumerate(given) if a is arr), None)
            if index is None:  # cast or rebuilt by check: not the request's own array
                return
            fast = layout.slots[index].fast
            if fast is None or not fast[4]:
                return
            reads.append((run_name, index, *fast))
        if sorted(read[1] for read in reads) != list(range(len(names))):
            return
        if fetched is None:
            try:
                fetched = self.fetch(sig, outputs, request)
            except ProcessorError:
                return
        cache, arrays, _ = self._cached_answer(fetched, request)
        if not all(isinstance(x, np.ndarray) and x.ndim for _, x in arrays):
            return  # an output with no rows to share out
        one = [(k, x[: x.shape[0] // callers]) for k, x in arrays] if callers > 1 else arrays
        learnt = cache.learnt(one)
        if learnt is None:
            return
        headers, wire_dtypes = learnt
        writes = []
        for (_, x), (_, part), wire in zip(arrays, one, wire_dtypes, strict=True):
            name = next((n for n, o in fetched.items() if o is x), None)
            if name is None or x.dtype != np.dtype(wire):
                return  # a byte order or type the wire rewrites: the general path does
            writes.append((name, x.dtype, part.shape))
        order = None if request.fetch else tuple(outputs)
        batchable = self._batch_key(sig, inputs, -1) != ("alone", -1)
        self._shortcut = Shortcut(
            sig,
            self.runner(sig),
            layout,
            reads,
            writes,
            headers,
            order,
            batchable,
            template,
            names,
            rows=reads[0][-1][0],
        )

    def _run(self, sig: TensorSignature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._call_model(self.run, sig, inputs)

    def _run_shortcut(
        self, shortcut: Shortcut, inputs: dict[str, np.ndarray]
    ) -> dict[str, np.ndarray]:
        return self._call_model(shortcut.run, inputs)

    def _call_model(
        self, run: Callable[..., dict[str, np.ndarray]], *args: Any
    ) -> dict[str, np.ndarray]:
        try:
            return run(*args)
        except ProcessorError:
            raise
        except Exception as exc:  # the runtime refused the inputs: tell the caller why
            raise ProcessorError(400, self.model_failure(exc, args[-1])) from exc

    def model_failure(self, exc: Exception, inputs: Mapping[str, np.ndarray]) -> str:
        """The 400 message of a model call that raised: the runtime's own reason and the
        inputs it was given, so a caller sees what to change (a dtype, a shape).

        Not in the request's path: only a failed call gets here.
        """
        return (
            f"the model failed on this request: {runtime_reason(exc)} "
            f"(inputs: {describe_inputs(inputs)})"
        )

    def _encode(self, outputs: dict[str, np.ndarray], request: TensorRequest) -> bytes:
        try:
            return self.encode(outputs, request)
        except WireError as exc:  # an output the wire format cannot carry: the model's side
            raise ProcessorError(
                500, f"cannot send the model's outputs as {request.fmt}: {exc}"
            ) from exc

    def _batch_key(self, sig: TensorSignature, inputs: dict[str, np.ndarray], index: int) -> Any:
        shapes = tuple((n, a.shape, a.dtype) for n, a in inputs.items())
        cached = self._batch_keys.get((sig.name, shapes))
        if cached is None or cached[0] is not sig:
            cached = (sig, self._group_key(sig, inputs))
            if len(self._batch_keys) >= _PLAN_CACHE_SIZE:
                self._batch_keys.clear()
            self._batch_keys[(sig.name, shapes)] = cached
        return cached[1] if cached[1] is not None else ("alone", index)

    @staticmethod
    def _group_key(sig: TensorSignature, inputs: dict[str, np.ndarray]) -> Any:
        """What requests batched together share; None: cannot be concatenated with others."""
        sizes = {a.shape[0] if a.ndim else None for a in inputs.values()}
        if not sig.batchable or len(sizes) != 1:
            return None
        return (sig.name,) + tuple((n, a.shape[1:], a.dtype.str) for n, a in sorted(inputs.items()))

    def _run_group(
        self, members: list[tuple[int, TensorRequest, dict[str, np.ndarray]]]
    ) -> Iterable[tuple[int, tuple[bytes, int]]]:
        sig = self.select_signature(members[0][1])
        if len(members) > 1:
            sizes = [next(iter(inputs.values())).shape[0] for _, _, inputs in members]
            total = sum(sizes)
            joined = {
                name: join_rows([inputs[name] for _, _, inputs in members], total)
                for name in members[0][2]
            }
            try:
                outputs = self._run(sig, joined)
            except ProcessorError:
                outputs = None  # one request broke the batch: answer each on its own below
            if outputs is not None and all(
                o.ndim > 0 and o.shape[0] == total for o in outputs.values()
            ):
                start = 0
                for size, (i, request, _) in zip(sizes, members, strict=True):
                    # each caller's rows are a view of the batch's output: no copy before encode
                    part = {n: o[start : start + size] for n, o in outputs.items()}
                    start += size
                    yield i, self._answer(sig, part, request)
                return
        for i, request, inputs in members:
            try:
                yield i, self._answer(sig, self._run(sig, inputs), request)
            except ProcessorError as exc:
                yield i, (exc.message.encode(), exc.status)

    def _answer(
        self, sig: TensorSignature, outputs: dict[str, np.ndarray], request: TensorRequest
    ) -> tuple[bytes, int]:
        try:
            return self._encode(self.fetch(sig, outputs, request), request), 200
        except ProcessorError as exc:
            return exc.message.encode(), exc.status


def _read_or_none(read: Callable[..., Any], *args: Any) -> Any:
    """``read(*args)``, or None when it raises: a uniform batch whose bodies the
    cached layout cannot read goes down the general path, where each body is
    decoded alone and a body that breaks its decoder gets its own 400."""
    try:
        return read(*args)
    except Exception:  # noqa: BLE001 - never the batch's answer
        return None


def unreadable_answer(exc: Exception) -> tuple[bytes, int]:
    """The 400 of one body whose decoding raised something other than a ProcessorError
    (a decoder bug): that caller's answer alone, with the traceback in the service log
    (an instance's stderr), as the worker does for a request alone."""
    traceback.print_exception(exc, file=sys.stderr)
    message = f"cannot read this request: {type(exc).__name__}: {exc}"
    return message.encode("utf-8", "replace"), 400


def join_rows(arrays: Sequence[np.ndarray], total: int) -> np.ndarray:
    """Stack arrays of equal row shape and dtype along axis 0 into one new buffer.

    One ``np.empty`` of all the rows, each request copied into its place: one
    allocation and one copy per request, where ``np.concatenate`` of many small
    arrays first checks and promotes every part (issue 16). String inputs (object
    arrays of bytes) are joined the same way, by reference.
    """
    first = arrays[0]
    out = np.empty((total,) + first.shape[1:], dtype=first.dtype)
    start = 0
    for arr in arrays:
        end = start + arr.shape[0]
        out[start:end] = arr
        start = end
    return out


# -- per-format decoding --------------------------------------------------------


def decode_tf(data: bytes) -> TensorRequest:
    return decode_tf_layout(data)[0]


def decode_tf_layout(data: bytes) -> tuple[TensorRequest, Any]:
    """``decode_tf`` and the body's layout (``CachedDecoder``)."""
    req, layout = tf_wire.parse_tf_request_layout(data)
    request = TensorRequest(
        fmt="tf",
        inputs=dict(req.inputs),
        signature_name=req.signature_name or None,
        fetch=list(req.output_filter),
    )
    return request, layout


def decode_torch(data: bytes) -> TensorRequest:
    """Torch inputs are positional: input i is named ``str(i)``; ``map_inputs`` keep their names."""
    return decode_torch_layout(data)[0]


def decode_torch_layout(data: bytes) -> tuple[TensorRequest, Any]:
    """``decode_torch`` and the body's layout (``CachedDecoder``)."""
    req, layout = torch_wire.parse_torch_request_layout(data)
    inputs = {str(i): arr for i, arr in enumerate(req.inputs)}
    for name, arr in req.map_inputs.items():
        if name in inputs:
            raise ProcessorError(400, f"map input {name!r} clashes with positional input {name}")
        inputs[name] = arr
    request = TensorRequest(fmt="torch", inputs=inputs, fetch=[str(i) for i in req.output_filter])
    return request, layout


def decode_blade(data: bytes) -> TensorRequest:
    req = blade_wire.parse_blade_request(data)
    return TensorRequest(
        fmt="blade",
        inputs=dict(req.inputs),
        signature_name=req.signature_name or None,
        fetch=[name for name, _ in req.output_info],
        fetch_dtypes={name: code for name, code in req.output_info},
    )


def decode_onnx(data: bytes) -> TensorRequest:
    return TensorRequest(fmt="onnx", inputs=dict(onnx_wire.parse_onnx_request(data)))


_DECODERS = {"tf": decode_tf, "torch": decode_torch, "blade": decode_blade, "onnx": decode_onnx}


def decode_first(
    data: bytes, formats: Sequence[str], decoders: Mapping[str, Any] | None = None
) -> TensorRequest:
    """Decode a body that may be in any of ``formats``, tried in that order (module doc).

    The first format that reads the body and finds inputs wins. Otherwise the
    answer is, in this order: a 400 with the first format's message that parsed
    but is inconsistent (it names the input and its shape); the first request
    that parsed with no inputs (the signature check then names what is missing);
    a 400 with why the body is none of the formats. ``decoders`` (default: the
    full parsers) may replace a format's decoder by its ``CachedDecoder``.
    """
    table = _DECODERS if decoders is None else decoders
    inconsistent: tuple[str, WireError] | None = None
    empty: TensorRequest | None = None
    unreadable: list[tuple[str, WireError]] = []
    for fmt in formats:
        try:
            request = table[fmt](data)
        except InconsistentMessage as exc:
            inconsistent = inconsistent or (fmt, exc)
            continue
        except WireError as exc:
            unreadable.append((fmt, exc))
            continue
        if request.inputs:
            return request
        empty = empty or request
    if inconsistent is not None:
        raise ProcessorError(400, f"cannot parse the {inconsistent[0]} request: {inconsistent[1]}")
    if empty is not None:
        return empty
    if len(unreadable) == 1:
        message = f"cannot parse the {unreadable[0][0]} request: {unreadable[0][1]}"
    else:
        message = f"cannot parse the request as any of {', '.join(formats)}: " + "; ".join(
            f"as {fmt}: {error}" for fmt, error in unreadable
        )
    raise ProcessorError(400, message + _json_hint(data, formats))


# what the serialized request of each format is built with (the hint for a JSON body)
_REQUEST_CLASSES = {
    "tf": "TFRequest",
    "torch": "TorchRequest",
    "blade": "BladeRequest",
    "onnx": "OnnxRequest",
}


def _json_hint(data: bytes, formats: Sequence[str]) -> str:
    """For a body that is JSON (a DataFrame or dict sent as JSON, a curl example of
    another service): what a tensor service takes instead. Only failed bodies get here."""
    head = bytes(data[:64]).lstrip()
    if head[:1] not in (b"{", b"["):
        return ""
    try:
        json.loads(bytes(data))
    except ValueError:
        return ""
    classes = " / ".join(_REQUEST_CLASSES.get(fmt, fmt) for fmt in formats)
    return (
        f". The body is JSON; this tensor service takes a serialized protobuf request "
        f"({classes}): send numpy arrays through easlab's client (e.g. "
        "client.predict({name: array}) builds it from the service's signature) or build "
        f"a {classes.split(' / ')[0]} with eas_prediction"
    )


# -- per-format encoding helpers ------------------------------------------------


def torch_outputs(outputs: dict[str, np.ndarray]) -> tuple[list[np.ndarray], dict[str, np.ndarray]]:
    """Ordinal names ("0", "1", ...) go in ``outputs``, any other name in ``map_outputs``.

    The list keeps the dict's order: the model's order, or the fetch order when
    the request filtered (``add_fetch(2)`` answers a one-element list).
    """
    listed = [a for n, a in outputs.items() if n.isdigit()]
    named = {n: a for n, a in outputs.items() if not n.isdigit()}
    return listed, named


def encode_torch_outputs(outputs: dict[str, np.ndarray]) -> bytes:
    """The Torch answer for ``outputs`` (``torch_outputs`` says where each goes)."""
    listed, named = torch_outputs(outputs)
    return torch_wire.encode_torch_response(listed, map_outputs=named or None)


# Blade's DataType codes (SPEC §3) → numpy; DT_UNKNOWN (0) leaves the choice to the encoder.
_BLADE_CODE_DTYPE: dict[int, np.dtype[Any]] = {
    1: np.dtype(np.float32),
    2: np.dtype(np.int32),
    3: np.dtype(np.int64),
}
_BLADE_STRING = 4


def blade_outputs(outputs: dict[str, np.ndarray], dtypes: dict[str, int]) -> dict[str, np.ndarray]:
    """Cast each output to the dtype its ``output_info`` asked for."""
    out = {}
    for name, arr in outputs.items():
        code = dtypes.get(name, 0)
        if code == _BLADE_STRING and not is_string_dtype(arr.dtype):
            raise ProcessorError(
                400,
                f"output {name!r} is {dtype_name(arr.dtype)}; it cannot be fetched as DT_STRING",
            )
        want = _BLADE_CODE_DTYPE.get(code)
        if want is not None and arr.dtype != want:
            if is_string_dtype(arr.dtype):
                raise ProcessorError(
                    400, f"output {name!r} is DT_STRING; it cannot be fetched as {dtype_name(want)}"
                )
            arr = arr.astype(want)
        out[name] = arr
    return out
