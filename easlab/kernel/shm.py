"""Shared-memory rings for large bodies between the kernel and an instance.

A body of ``SHM_MIN`` bytes or more crosses in shared memory instead of the
socket: the sender copies it into its ring and sends a small frame whose kind
carries the ``SHM`` flag and whose payload is the body's place in the ring
(``SLOT``: position, length); the receiver copies it out. Over the socket a
600 KB body takes several system calls and wake-ups each way (the socket
buffer holds a part of it at a time); through the ring it is one copy in, one
copy out and one small frame.

Each instance has two rings, one per direction, made by the kernel with
``memfd_create`` and inherited by the instance process: anonymous memory with
no name in ``/dev/shm``, freed by the system once both processes have let go
of it, so a SIGKILLed instance leaves nothing behind (the kernel unmaps its
side when the channel closes). A ring is a byte buffer with a 64-byte header;
positions grow without end (a slot is at ``position % size``). Each ring has
one writer and one reader that take slots in the order the frames travel:
the writer keeps its next position to itself, the reader writes the end of
the last slot it copied out into the header, which frees every slot before
it. A body that does not fit (ring full, or larger than half the ring) goes
over the socket as before, as do bodies under ``SHM_MIN``.

Shared by instance.py and worker.py; standard library only (a packaged
environment's worker imports it).
"""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Sequence

#: bodies from this size on cross in shared memory (smaller ones: the socket is cheaper)
SHM_MIN = 64 * 1024
#: bytes of each ring (one per direction per instance; pages are touched as used)
RING_SIZE = 16 * 1024 * 1024
#: flag on a frame's kind: the payload is a SLOT in the sender's ring
SHM = 0x80
#: a frame's place in the ring: position (grows without end), length
SLOT = struct.Struct("=QI")
_HEAD = 64
_CONSUMED = struct.Struct("=Q")  # at offset 0 of the header, written by the reader only


class Ring:
    """One direction's ring over a shared file descriptor (module doc)."""

    def __init__(self, fd: int, size: int) -> None:
        self.size = size
        self.mm: mmap.mmap | None = mmap.mmap(fd, _HEAD + size)
        self.head = 0  # the writer's next position
        self.slots = 0  # bodies that crossed through this ring (either side counts its own)

    @classmethod
    def create(cls, name: str, size: int = RING_SIZE) -> tuple[Ring, int] | None:
        """A new ring and its descriptor (to pass to the instance); None where memfd is missing."""
        make = getattr(os, "memfd_create", None)
        if make is None:
            return None
        try:
            fd = make(name, getattr(os, "MFD_CLOEXEC", 1))
            os.ftruncate(fd, _HEAD + size)
            return cls(fd, size), fd
        except OSError:
            return None

    def put(self, parts: Sequence[bytes | bytearray | memoryview]) -> bytes | None:
        """Copy ``parts`` into the ring as one slot; its SLOT payload, or None when full."""
        mm = self.mm
        n = sum(len(p) for p in parts)
        if mm is None or n > self.size // 2:
            return None
        pos = self.head
        off = pos % self.size
        if off + n > self.size:  # not enough room before the end: the slot starts at 0
            pos += self.size - off
            off = 0
        (consumed,) = _CONSUMED.unpack_from(mm, 0)
        if pos + n - consumed > self.size:
            return None  # the reader has not caught up: the socket carries this one
        at = _HEAD + off
        for part in parts:
            size = len(part)
            mm[at : at + size] = part
            at += size
        self.head = pos + n
        self.slots += 1
        return SLOT.pack(pos, n)

    def take(self, slot: bytes | bytearray) -> bytes:
        """Copy a slot's bytes out and free it (and every slot before it)."""
        mm = self.mm
        if mm is None:
            raise ValueError("the shared-memory ring is closed")
        pos, n = SLOT.unpack(slot)
        at = _HEAD + pos % self.size
        data = mm[at : at + n]
        _CONSUMED.pack_into(mm, 0, pos + n)
        self.slots += 1
        return data

    def close(self) -> None:
        mm, self.mm = self.mm, None
        if mm is not None:
            mm.close()
