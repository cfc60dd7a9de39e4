"""A tensor processor's shortcut: a request laid out like the last one, answered in a few steps.

The layout caches (``easlab/wire/layout.py``) already read a repeated request
with ``np.frombuffer`` and write its answer around the raw values. Between the
two, the general path still decodes into a request object, looks up the
signature, checks every input, picks the fetched outputs and builds the
encoder's output list: microseconds back to back, but a served model is not
called back to back. Its call streams the model through the core's caches (an
MLP of 784-512-512-10 is 2.6 MB of weights, more than this machine's 2 MB L2),
so every Python step between two calls runs cold. Measured in-process on that
MLP with onnxruntime (issue 16): decode, check and encode cost 6 µs in a loop
of their own, but added 50 µs to each call of a loop that also ran the model
(one request: 210 µs against the model's 150 µs); for a batch of 8 the general
path added 110 µs to the model's 190 µs.

So, once a request has gone through the general path (the second of its layout
in a row: ``TensorProcessor._layout_of``), :class:`Shortcut` remembers what that
path worked out for its layout, and a later body of the same layout takes the
fewest steps that give the same answer, byte for byte: compare the bytes around
the values, read the values, run the model, write the answer cache's headers
around the output values. Anything the shortcut did
not learn (another layout, a cast, an output of another shape or dtype) takes
the general path, which the processor finishes with the same outputs.

What makes a request's steps the same as the learnt one's:

* its body matches the layout (``RequestLayout``): the same signature, input
  names, dtypes, shapes and fetch list, only the values differ;
* ``check`` handed the model the request's own arrays (no cast: the dtypes
  already fit), keyed by name; what it does depends on names, shapes and
  dtypes only, so it does the same for every body of the layout;
* the outputs have the names, dtypes and shapes of the learnt answer, stored
  as the wire writes them (native little-endian, C order): the answer is then
  the cached headers around their bytes, as ``AnswerCache.encode`` writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from easlab.wire.layout import RequestLayout

Buffer = Any  # bytes, or a memoryview of a BATCH frame's bodies


def per_row(outputs: dict[str, Any], rows: int, fixed: frozenset[int] = frozenset()) -> bool:
    """Every output has one row per input row, so that a joined batch's answers can
    be split back by rows; else each request of the batch runs alone. The one rule
    for the general path (tensor.py) and the shortcut. ``fixed``: the signature's
    ``fixed_rows``; a batch of that many rows is ambiguous, so never split (each
    caller would get rows computed from the others' inputs)."""
    return rows not in fixed and all(
        isinstance(x, np.ndarray) and x.ndim > 0 and x.shape[0] == rows for x in outputs.values()
    )


class Shortcut:
    """The learnt steps for one request layout (module doc).

    ``reads``: for each input the model takes, in the order ``check`` gave them,
    ``(name, index in the layout, wire dtype, native dtype, value count, offset,
    shape)``. ``writes``: for each output the answer carries, in the encoder's
    order, ``(name, dtype, shape of one request's rows)``; ``headers`` the
    answer's bytes around them; ``order`` the model's output names in its order
    when the answer carries them all (no fetch list), None otherwise.
    ``batchable``: the signature joins these requests along axis 0, so a batch
    of them is one model call (``TensorProcessor._batch_key``).
    """

    __slots__ = (
        "sig",
        "run",
        "size",
        "fixed",
        "reads",
        "writes",
        "headers",
        "order",
        "batchable",
        "template",
        "names",
        "rows",
    )

    def __init__(
        self,
        sig: Any,
        run: Callable[[dict[str, np.ndarray]], dict[str, np.ndarray]],
        layout: RequestLayout,
        reads: list[tuple[str, int, str, Any, int, int, tuple[int, ...]]],
        writes: list[tuple[str, np.dtype[Any], tuple[int, ...]]],
        headers: tuple[bytes, ...],
        order: tuple[str, ...] | None,
        batchable: bool,
        template: Any,
        names: tuple[str, ...],
        rows: int,
    ) -> None:
        self.sig = sig
        #: the model call (``TensorProcessor.runner``)
        self.run = run
        self.size = layout.size
        self.fixed = layout.fixed
        self.reads = reads
        self.writes = writes
        self.headers = headers
        self.order = order
        self.batchable = batchable
        #: the decoder's request without its arrays, and its input names in layout
        #: order: with ``arrays`` they rebuild the request the general path decodes
        self.template = template
        self.names = names
        #: the rows of a request's first input: a batch's outputs must have that many
        #: a request, every one of them, to be split back (else each runs alone)
        self.rows = rows

    def read(self, buffer: Buffer, count: int) -> dict[str, np.ndarray] | None:
        """The model's inputs for ``count`` bodies of ``size`` bytes back to back in
        ``buffer``, each input's rows stacked along axis 0; None unless every body has
        the layout."""
        size = self.size
        if len(buffer) != size * count:
            return None
        for a, b, chunk in self.fixed:
            for at in range(0, size * count, size):
                if buffer[at + a : at + b] != chunk:
                    return None
        inputs = {}
        for name, _, wire, native, values, at, shape in self.reads:
            if count == 1:
                raw = np.frombuffer(buffer, wire, values, at)
            else:  # the same span of every body: one row each, a body apart
                raw = np.ndarray((count, values), wire, buffer, at, (size, raw_width(wire)))
            # one copy, as the layout cache's read makes (aligned, owned, writable)
            inputs[name] = raw.astype(native).reshape((shape[0] * count, *shape[1:]))
        return inputs

    def write(self, outputs: dict[str, np.ndarray], count: int) -> bytes | None:
        """The ``count`` answers, back to back, each what the general path writes for
        its share of the rows; None when an output is not as learnt."""
        arrays = []
        for name, dtype, shape in self.writes:
            x = outputs.get(name)
            if (
                type(x) is not np.ndarray
                or x.dtype != dtype
                or x.shape != (shape[0] * count, *shape[1:])
                or not x.flags.c_contiguous
            ):
                return None
            arrays.append(x)
        if self.order is not None and tuple(outputs) != self.order:
            return None  # the answer carries every output, in the model's order
        if count > 1 and not per_row(outputs, self.rows * count, self.sig.fixed_rows):
            return None  # the general path runs each request alone: so must this
        headers = self.headers
        last = headers[-1]
        if count == 1:
            parts: list[Any] = []
            for header, x in zip(headers, arrays, strict=False):
                parts += (header, x)
            parts.append(last)
            return b"".join(parts)
        views = [x.data.cast("B") for x in arrays]
        widths = [len(view) // count for view in views]
        parts = []
        for i in range(count):
            for header, view, width in zip(headers, views, widths, strict=False):
                parts += (header, view[i * width : (i + 1) * width])
            parts.append(last)
        return b"".join(parts)

    def arrays(self, inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
        """The request's arrays in layout order, from the inputs ``read`` gave."""
        arrays: list[Any] = [None] * len(self.names)
        for read in self.reads:
            arrays[read[1]] = inputs[read[0]]
        return arrays


def raw_width(wire: str) -> int:
    """Bytes a value of wire dtype ``"<f4"`` / ``"<f8"`` takes."""
    return int(wire[-1])
