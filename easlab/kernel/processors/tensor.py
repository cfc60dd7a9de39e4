"""What every tensor processor shares: decode, check against the signature, run, encode.

A tensor processor (TensorFlow, PyTorch, Blade, ONNX) only loads its model,
describes its signatures and implements :meth:`TensorProcessor.run` on numpy
arrays. Everything between the wire and ``run`` lives here:

* decoding the request of the processor's wire format (SPEC §3):
  ``tensor_codecs.py``, with its one rule for a processor that accepts several
  formats (``decode_first``);
* checking every input against the signature, TF Serving style
  (``signature.py``: a 400 names the input, what was expected and what came);
* the fetch list (``output_filter``): empty means every output (SPEC §3), an
  unknown name answers 400 naming it;
* batching (``rpc.batching``): requests with the same signature and the same
  non-batch shapes are concatenated along axis 0, run once, and the outputs
  are split back by each request's batch size. A request that fails its
  checks gets its own 400 while the others are batched.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from functools import partial
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
from easlab.kernel.processors.signature import (
    TensorSignature,
    TensorSpec,
    apply_conform,
    conform_plan,
    dtype_name,
)
from easlab.kernel.processors.tensor_codecs import (
    DECODERS,
    CachedDecoder,
    TensorRequest,
    blade_outputs,
    decode_first,
    decode_tf_layout,
    decode_torch_layout,
    filled_request,
    torch_outputs,
)
from easlab.wire import blade as blade_wire
from easlab.wire import onnx as onnx_wire
from easlab.wire import tf as tf_wire
from easlab.wire import torch as torch_wire
from easlab.wire.base import WireError
from easlab.wire.layout import AnswerCache


def describe_array(arr: np.ndarray) -> str:
    return "[" + ", ".join(map(str, arr.shape)) + "] " + dtype_name(arr.dtype)


def describe_inputs(inputs: Mapping[str, Any]) -> str:
    """``'x' [2, 784] DT_DOUBLE, 'y' [2] DT_INT64``: what a model call was given."""
    return ", ".join(
        f"{name!r} {describe_array(arr)}" if isinstance(arr, np.ndarray) else repr(name)
        for name, arr in inputs.items()
    )


_TORCHSCRIPT_TRACEBACK = "The following operation failed in the TorchScript interpreter"


def runtime_reason(exc: BaseException, seen: dict[str, int] | None = None) -> str:
    """Why a model runtime refused a call, in one line a caller can act on.

    TorchScript wraps the reason (``mat1 and mat2 must have the same dtype``, a
    model's ``assert``) in both of its tracebacks, whose paths and code mean
    nothing to the caller and bury the reason at the very end: the caller gets
    the last line, and the whole traceback goes to the service log (the
    instance's stderr). With ``seen`` (reason -> count, the processor's), a
    reason's traceback is logged the first time only, then a line at its 10th,
    100th ... time, as the worker logs a processor's exceptions: a client
    repeating a bad request (and a batch, which fails joined, then alone) wrote
    some 20 lines a call.
    """
    text = str(exc)
    if _TORCHSCRIPT_TRACEBACK in text:
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        if lines:
            reason = lines[-1]
            count = 1
            if seen is not None:
                if len(seen) >= _PLAN_CACHE_SIZE and reason not in seen:
                    seen.clear()
                count = seen[reason] = seen.get(reason, 0) + 1
            if count == 1:
                print(f"model call failed: {type(exc).__name__}: {text}", file=sys.stderr)
            elif math.log10(count).is_integer():
                print(f"model call failed again ({count} times so far): {reason}", file=sys.stderr)
            sys.stderr.flush()
            return reason
    return f"{type(exc).__name__}: {text}"


# how many (signature, inputs) layouts check() and _batch_key() remember per processor
_PLAN_CACHE_SIZE = 256


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
            **DECODERS,
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
        # how often each model failure's reason was met (runtime_reason logs it once)
        self._failures: dict[str, int] = {}

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
                request = filled_request(shortcut.template, shortcut.names, shortcut.arrays(inputs))
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
                request = filled_request(shortcut.template, shortcut.names, shortcut.arrays(inputs))
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
        if (
            self._batch_key(sig, inputs, -1) == ("alone", -1)
            or total % callers
            or not sig.may_join(total)
        ):
            return None
        try:
            outputs = self._run(sig, inputs)
        except ProcessorError:
            outputs = None
        answers = self._uniform_answers(batch, sig, joined, inputs, outputs)
        if (
            decoder._last is not None
            and outputs is not None
            and per_row(outputs, total, sig.fixed_rows)
        ):
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
        if outputs is None or not per_row(outputs, total, sig.fixed_rows):
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
                self._encode({n: o[:size] for n, o in outputs.items()}, request)
                rows = cache.encode_packed(arrays, size)
            if rows is not None:
                return Packed([rows], [rows.shape[1]] * callers)
        # _encode: an output one caller's rows cannot be sent as (uint64 past int64) is a
        # ProcessorError, which _uniform_answers answers to that caller alone
        return Packed.of(
            [
                self._encode({n: o[i * size : (i + 1) * size] for n, o in outputs.items()}, request)
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
            if sig.unservable:  # "all of them" includes one that cannot be answered
                raise ProcessorError(400, next(iter(sig.unservable.values())))
            return outputs
        picked = {}
        for name in request.fetch:
            if name in sig.unservable:
                raise ProcessorError(400, sig.unservable[name])
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
        if self.signatures.get(sig.name) is not sig:
            return  # the call that ran showed an output not per row (_check_rows)
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
        # a batch of the shortcut's joins is not checked by _check_rows: only once the
        # signature's outputs are known per row (a batch of this size could be a table)
        batchable = self._batch_key(sig, inputs, -1) != ("alone", -1) and sig.per_row_seen is None
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

    def setting_notes(self) -> list[str]:
        if not self.ctx.batching:
            return []
        return [_unbatchable(s) for s in self.signatures.values() if s.unbatchable is not None]

    def _run(self, sig: TensorSignature, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        outputs = self._call_model(self.run, sig, inputs)
        if self.ctx.batching and sig.batchable:
            self._check_rows(sig, inputs, outputs)
        return outputs

    def _check_rows(
        self, sig: TensorSignature, inputs: dict[str, np.ndarray], outputs: dict[str, np.ndarray]
    ) -> None:
        """A call whose output has other than one row per input row shows that output
        is not split by rows (a TorchScript or TensorFlow model does not say it): from
        then on the signature's requests are never joined (``not_per_row``). Else a
        batch of as many rows as that output happens to have would be split as if it
        had one per caller, each getting rows computed from the others' inputs. A call
        whose every output is per row is counted (``TensorSignature.per_row_seen``)."""
        sizes = {a.shape[0] if a.ndim else None for a in inputs.values()}
        rows = sizes.pop() if len(sizes) == 1 else None
        if rows is None:
            return
        for name, out in outputs.items():
            if isinstance(out, np.ndarray) and out.ndim and out.shape[0] == rows:
                continue
            got = f"shape {list(out.shape)}" if isinstance(out, np.ndarray) else "no array"
            why = (
                f"output {name!r} came out with {got} for a call of {rows} row(s), not one "
                "row per input row, so a joined batch cannot be split back by rows"
            )
            learnt = dataclasses.replace(sig, not_per_row={**sig.not_per_row, name: why})
            self.signatures = {k: learnt if v is sig else v for k, v in self.signatures.items()}
            self._shortcut = None  # learnt from the old signature: it would join
            print(_unbatchable(learnt), flush=True)  # the instance's log: found mid-run
            return
        shown = sig.seen_per_row(rows)
        if shown is not sig:  # joins may start (or grow): the shortcut learns them anew
            self.signatures = {k: shown if v is sig else v for k, v in self.signatures.items()}
            self._shortcut = None

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
            f"the model failed on this request: {runtime_reason(exc, self._failures)} "
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
        if not sig.batchable or not sig.may_join(-1) or len(sizes) != 1:
            return None
        return (sig.name,) + tuple((n, a.shape[1:], a.dtype.str) for n, a in sorted(inputs.items()))

    def _run_group(
        self, members: list[tuple[int, TensorRequest, dict[str, np.ndarray]]]
    ) -> Iterable[tuple[int, tuple[bytes, int]]]:
        sig = self.select_signature(members[0][1])
        sizes = [next(iter(inputs.values())).shape[0] for _, _, inputs in members]
        total = sum(sizes)
        if len(members) > 1 and sig.may_join(total):
            joined = {
                name: join_rows([inputs[name] for _, _, inputs in members], total)
                for name in members[0][2]
            }
            try:
                outputs = self._run(sig, joined)
            except ProcessorError:
                outputs = None  # one request broke the batch: answer each on its own below
            if outputs is not None and per_row(outputs, total, sig.fixed_rows):
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


def _unbatchable(sig: TensorSignature) -> str:
    return f"rpc.batching: requests run one at a time, never joined: {sig.unbatchable}"


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
