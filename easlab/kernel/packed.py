"""A batch's bodies back to back in one buffer, as they cross the kernel-instance socket.

A BATCH frame holds its requests' bodies one after the other, and an ANSWERS
frame its answers (frames.py). :class:`Packed` is that layout seen from the
processor: the tensor processors read every body of a uniform batch with a few
numpy steps over the one buffer, and write every answer into one array, instead
of a Python step per body (``TensorProcessor.answer_batch``, issue 16); any
other processor gets the bodies as a list of ``bytes`` (``bodies``), as always.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

Buffer = Any  # bytes, bytearray, memoryview, or a C-contiguous uint8 numpy array


def as_bytes_view(buffer: Buffer) -> memoryview:
    """``buffer`` as a flat memoryview of bytes (a numpy array's too); one already is."""
    view = buffer if type(buffer) is memoryview else memoryview(buffer)
    return view if view.format == "B" and view.ndim == 1 else view.cast("B")


class Packed:
    """``sizes[i]`` bytes for body ``i``, the bodies back to back across ``parts``.

    ``parts`` are byte buffers whose concatenation is the bodies: one buffer (a
    frame's payload from the first body on, or an array holding every answer),
    or one part per body (``Packed.of``). Nothing is copied until ``bodies`` or
    ``joined`` asks for it.
    """

    __slots__ = ("parts", "sizes")

    def __init__(self, parts: Sequence[Buffer], sizes: Sequence[int]) -> None:
        self.parts = [as_bytes_view(part) for part in parts]
        self.sizes = list(sizes)

    @classmethod
    def of(cls, bodies: Iterable[Buffer]) -> Packed:
        """The bodies as they are, one part each (no copy)."""
        parts = [as_bytes_view(body) for body in bodies]
        return cls(parts, [len(part) for part in parts])

    def __len__(self) -> int:
        return len(self.sizes)

    @property
    def nbytes(self) -> int:
        return sum(len(part) for part in self.parts)

    def width(self) -> int | None:
        """The size every body has, when they all have the same (and there is one)."""
        sizes = self.sizes
        if not sizes:
            return None
        first = sizes[0]
        return first if sizes.count(first) == len(sizes) else None

    def joined(self) -> memoryview:
        """Every body in one buffer (the one part itself when there is one)."""
        if len(self.parts) == 1:
            return self.parts[0]
        return memoryview(b"".join(self.parts))

    def bodies(self) -> list[bytes]:
        """Each body as its own ``bytes``."""
        if len(self.parts) == len(self.sizes) and all(
            len(part) == size for part, size in zip(self.parts, self.sizes, strict=True)
        ):
            return [bytes(part) for part in self.parts]
        buffer = self.joined()
        out = []
        pos = 0
        for size in self.sizes:
            out.append(bytes(buffer[pos : pos + size]))
            pos += size
        return out
