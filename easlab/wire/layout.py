"""Layout caches: read a body, or write an answer, shaped like the last one.

Clients send the same request again and again (same signature, same input
names, dtypes and shapes, same fetch list); only the tensor values differ.
The server's answers repeat their layout the same way. So:

* :class:`RequestLayout` remembers where the packed numeric values of a body
  the full parser read lie (``tensor.scan_array_proto``) and every byte around
  them. A body of the same length whose bytes outside those value spans are
  identical is read with ``np.frombuffer`` at the known offsets.
* :class:`AnswerCache` remembers the encoded bytes around each float output's
  values; an answer whose outputs have the same names, dtypes and shapes
  reuses them and appends the raw little-endian values.

Anything else takes the full codec, which then refreshes the cache; the caches
never change an answer (tests/wire/test_layout.py compares them with the full
codec over a fuzz of requests).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from easlab.wire import dtypes as d
from easlab.wire.base import Buffer, WireError
from easlab.wire.tensor import ArrayLayout

__all__ = ["RequestLayout", "AnswerCache"]

# the value fields whose packed payload np.frombuffer reads as is, by wire dtype
_FIXED_WIDTH = {("float32", d.FLOAT_VAL): "<f4", ("float64", d.DOUBLE_VAL): "<f8"}


class _Slot:
    """How to read one tensor of a body that matched its layout."""

    __slots__ = ("layout", "wire", "fast")

    def __init__(self, layout: ArrayLayout, wire: Any) -> None:
        self.layout = layout
        self.wire = wire
        # The common case (one packed float32/float64 span that fills the shape):
        # (wire dtype, native dtype, count, offset, shape), read with no Python
        # beyond one frombuffer; anything else is read by the full codec's own
        # value step (ArrayLayout.decode, then to_numpy).
        self.fast: tuple[str, Any, int, int, tuple[int, ...]] | None = None
        if layout.shape is None or layout.strings or len(layout.spans) != 1:
            return
        ((field, spans),) = layout.spans.items()
        wire_dtype = _FIXED_WIDTH.get(wire.get(layout.code, ("", 0)))
        if wire_dtype is None or wire[layout.code][1] != field or len(spans) != 1:
            return
        (a, b), count = spans[0], math.prod(layout.shape)
        if count * int(wire_dtype[-1]) == b - a:
            native = np.float32 if wire_dtype == "<f4" else np.float64
            self.fast = (wire_dtype, native, count, a, tuple(layout.shape))

    def read(self, data: bytes) -> np.ndarray:
        fast = self.fast
        if fast is not None:
            wire_dtype, native, count, a, shape = fast
            # the same frombuffer + astype (one copy: aligned, owned) as tensor._raw_field
            return np.frombuffer(data, wire_dtype, count, a).astype(native).reshape(shape)
        return self.layout.decode(data, self.wire).to_numpy(self.layout.label)


class RequestLayout:
    """The layout of one parsed body: its size, the bytes outside its value spans,
    and how to read each tensor from the spans.

    Why a match is the same parse: the protobuf reader (``base.iter_fields``)
    walks tags and length prefixes and skips each length-delimited payload
    without looking inside; the value spans are exactly the payloads of packed
    numeric fields (their tags and length varints lie *outside* the spans, in
    the compared bytes). So two bodies of the same length whose bytes agree
    everywhere outside the spans are walked identically: same fields, same
    names, dtype codes, shapes, fetch list and same span offsets; only the
    values differ, and those are read by the same steps as the full parse.
    Where the value count depends on the values (packed varints: int and bool
    tensors), ``to_numpy`` re-checks it and a mismatch falls back to the full
    parser, which then reports exactly what it always did. String tensors are
    never cached (their bytes are not spans).
    """

    __slots__ = ("size", "fixed", "slots")

    def __init__(self, data: bytes, tensors: Sequence[ArrayLayout], wire: Any) -> None:
        self.size = len(data)
        spans = sorted(s for t in tensors for field in t.spans.values() for s in field)
        fixed: list[tuple[int, int, bytes]] = []
        pos = 0
        for a, b in spans:
            if a > pos:
                fixed.append((pos, a, data[pos:a]))
            pos = b
        if pos < self.size:
            fixed.append((pos, self.size, data[pos:]))
        self.fixed = tuple(fixed)
        self.slots = tuple(_Slot(t, wire) for t in tensors)

    def matches(self, data: bytes) -> bool:
        """``data`` has this layout: same length, same bytes outside the value spans."""
        if len(data) != self.size:
            return False
        for a, b, chunk in self.fixed:
            if data[a:b] != chunk:  # a bytes comparison: memcmp
                return False
        return True

    def read(self, data: bytes) -> list[np.ndarray] | None:
        """The tensors of ``data`` in layout order, or None when ``data`` has another layout."""
        if not self.matches(data):
            return None
        try:
            return [slot.read(data) for slot in self.slots]
        except WireError:  # e.g. packed varints that hold another count: the full parser says
            return None

    def read_packed(self, buffer: Buffer, count: int) -> list[np.ndarray] | None:
        """Each tensor of the ``count`` bodies lying back to back in ``buffer``, stacked
        along axis 0, in layout order; None unless every body has this layout and
        every tensor is a fixed-width one (``_Slot.fast``).

        What ``read`` of each body and then stacking the results give, in a few
        numpy steps for the whole batch (the bodies as the rows of one byte matrix):
        the bytes outside the spans compared column-wise, each tensor's values
        copied out in one go (a batch of one client's requests, issue 16).
        """
        fast = [slot.fast for slot in self.slots]
        if count < 1 or any(f is None or not f[4] for f in fast):
            return None
        if len(buffer) != count * self.size:
            return None
        rows = np.frombuffer(buffer, np.uint8, count * self.size).reshape(count, self.size)
        for a, b, chunk in self.fixed:
            if not (rows[:, a:b] == np.frombuffer(chunk, np.uint8)).all():
                return None
        joined = []
        for wire_dtype, native, values, a, shape in fast:  # type: ignore[misc]
            width = values * int(wire_dtype[-1])
            block = rows[:, a : a + width].view(wire_dtype)  # each row one body's values
            joined.append(block.astype(native, order="C").reshape((shape[0] * count,) + shape[1:]))
        return joined


def _answer_key(arrays: Sequence[tuple[Hashable, Any]]) -> tuple[Any, ...] | None:
    """(key, shape, dtype) of every output when all are non-empty float32/float64 arrays."""
    key = []
    for name, x in arrays:
        if type(x) is not np.ndarray or x.dtype.char not in "fd" or not x.size:
            return None
        key.append((name, x.shape, x.dtype))
    return tuple(key)


class AnswerCache:
    """Encode answers, reusing the last answer's bytes around the float values.

    ``encode(arrays, build)``: ``arrays`` are the outputs as ``(key, array)`` in
    the order the full encoder writes them, ``build()`` the full encoder's parts.
    The parts of a float output's values are the only memoryviews among them
    (``base.le_view``); everything between depends only on the names, dtypes
    and shapes, which is what the cache is keyed on.
    """

    def __init__(self) -> None:
        self._last: tuple[tuple[Any, ...], tuple[bytes, ...], tuple[str, ...]] | None = None
        self.hits = 0

    def encode(
        self, arrays: Sequence[tuple[Hashable, Any]], build: Callable[[], list[Buffer]]
    ) -> bytes:
        key = _answer_key(arrays)
        last = self._last
        if key is not None and last is not None and last[0] == key:
            self.hits += 1
            headers, wire_dtypes = last[1], last[2]
            parts: list[Any] = []
            for header, (_, x), wire_dtype in zip(headers, arrays, wire_dtypes, strict=False):
                parts += (header, np.ascontiguousarray(x, wire_dtype))
            parts.append(headers[-1])
            return b"".join(parts)
        built = build()
        if key is not None:
            self._learn(key, arrays, built)
        return b"".join(built)

    def encode_packed(self, arrays: Sequence[tuple[Hashable, Any]], size: int) -> np.ndarray | None:
        """The answers for rows ``[0:size]``, ``[size:2*size]``, ... of ``arrays`` (whole
        batch outputs, in encoder order) as the rows of one uint8 array, when such a
        part has the cached layout: row ``i`` is what ``encode`` of part ``i`` gives,
        the headers written column-wise, each output's values in one copy. None
        when the cache holds another layout (the caller encodes each part)."""
        last = self._last
        key = _answer_key([(k, x[:size]) for k, x in arrays])
        if key is None or last is None or last[0] != key:
            return None
        headers, wire_dtypes = last[1], last[2]
        total = arrays[0][1].shape[0]
        if any(x.shape[0] != total for _, x in arrays) or total % size:
            return None
        parts = total // size
        # each output's values in wire order, as bytes: part i's are row i
        values = [
            np.ascontiguousarray(x, wire_dtype).view(np.uint8).reshape(parts, -1)
            for (_, x), wire_dtype in zip(arrays, wire_dtypes, strict=True)
        ]
        width = sum(len(h) for h in headers) + sum(v.shape[1] for v in values)
        out = np.empty((parts, width), np.uint8)
        at = 0
        for header, v in zip(headers, [*values, None], strict=True):
            out[:, at : at + len(header)] = np.frombuffer(header, np.uint8)
            at += len(header)
            if v is not None:
                out[:, at : at + v.shape[1]] = v
                at += v.shape[1]
        self.hits += parts
        return out

    def learnt(
        self, arrays: Sequence[tuple[Hashable, Any]]
    ) -> tuple[tuple[bytes, ...], tuple[str, ...]] | None:
        """The cached headers and wire dtypes when they are for ``arrays``'s layout."""
        key = _answer_key(arrays)
        last = self._last
        if key is None or last is None or last[0] != key:
            return None
        return last[1], last[2]

    def _learn(
        self, key: tuple[Any, ...], arrays: Sequence[tuple[Hashable, Any]], parts: list[Buffer]
    ) -> None:
        cuts = [i for i, p in enumerate(parts) if isinstance(p, memoryview)]
        if len(cuts) != len(arrays):
            return
        wire_dtypes = tuple("<f4" if x.dtype.char == "f" else "<f8" for _, x in arrays)
        if any(len(parts[i]) != x.nbytes for i, (_, x) in zip(cuts, arrays, strict=True)):
            return
        headers = []
        start = 0
        for i in cuts:
            headers.append(b"".join(parts[start:i]))
            start = i + 1
        headers.append(b"".join(parts[start:]))
        self._last = (key, tuple(headers), wire_dtypes)
