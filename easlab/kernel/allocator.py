"""How an instance's C allocator (glibc malloc) keeps the memory of a model's calls.

glibc adapts two thresholds while a process runs: a block of at least the mmap
threshold gets a mapping of its own, unmapped when freed, and the top of a heap
is given back to the system once more than the trim threshold of it is free. A
model allocates and frees the same large buffers on every call (a CNN's
activations at batch 8: several MiB). In an instance, whose worker threads take
turns at reading (each thread with its own malloc arena), glibc gave those pages
back after a call and the next call faulted them in again, zeroed: on the models
bench's CNN served by torch at c=16, 47,900 page faults in 5 s (about 10 a
batch) against 1,700 with the thresholds fixed. Interleaved with the code before
(``benchmarks/ab_trees.py``, c=16, batching on), requests/s: that CNN +9% (9 of 10
pairs; +2% in a first run of 6), the MLP served by torch +6% (6 of 6), the CNN
served by onnxruntime +3% (4 of 6; it keeps its own arena and barely faulted).

So the worker fixes them before it loads the processor: 16 MiB (own mapping)
and 32 MiB (kept free at the top of an arena). That is within the range glibc's
own adaptation reaches (32 and 64 MiB at most), so an instance holds no more
memory than glibc could have chosen to hold by itself; blocks of 16 MiB or more
are still mapped and unmapped on their own. Both or neither: fixing one turns
off the adaptation of both, and either alone faulted 6-15 times more than
glibc's default on the pattern of tests/kernel/test_allocator.py.

It is done with ``mallopt`` in the worker, not with ``GLIBC_TUNABLES`` in its
environment: glibc 2.36's loader cuts that variable down to its first tunable in
the process's own environment, so a process the processor started would have
inherited only one of the two. A user who sets malloc's thresholds (or top pad,
or mapping count) for the kernel, as glibc's ``MALLOC_*_`` variables or as
``glibc.malloc.*`` tunables, gets exactly that: the worker then leaves malloc
alone. (The cut-down variable shows the first tunable only, so one of theirs
is seen when it comes first, or as a ``MALLOC_*_`` variable.)
"""

from __future__ import annotations

import ctypes
import os
import platform
from collections.abc import Mapping

#: mallopt's parameters (malloc.h) and the values an instance gets (module doc)
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 16 * 1024 * 1024
TRIM_THRESHOLD = 32 * 1024 * 1024

#: the user's own say over the same thing: a glibc tunable, or an older variable
USER_TUNABLES = (
    "glibc.malloc.mmap_threshold",
    "glibc.malloc.trim_threshold",
    "glibc.malloc.top_pad",
    "glibc.malloc.mmap_max",
)
USER_VARIABLES = (
    "MALLOC_MMAP_THRESHOLD_",
    "MALLOC_TRIM_THRESHOLD_",
    "MALLOC_TOP_PAD_",
    "MALLOC_MMAP_MAX_",
)


def user_set_malloc(environ: Mapping[str, str]) -> str | None:
    """The malloc setting of the user's that ``environ`` shows, if any (module doc)."""
    for name in USER_VARIABLES:
        if environ.get(name):
            return name
    for item in environ.get("GLIBC_TUNABLES", "").split(":"):
        name = item.partition("=")[0]
        if name in USER_TUNABLES:
            return name
    return None


def keep_model_memory(environ: Mapping[str, str] = os.environ) -> str:
    """Fix this process's malloc thresholds (module doc); what was done, for the log."""
    if platform.libc_ver()[0] != "glibc":
        return "malloc: not glibc, left as it is"
    mine = user_set_malloc(environ)
    if mine is not None:
        return f"malloc: left as {mine} sets it"
    libc = ctypes.CDLL(None)
    # mallopt answers 1 on success; both or neither (module doc)
    if libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1:
        return "malloc: mallopt refused the mmap threshold, left as it is"
    if libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return "malloc: mallopt refused the trim threshold (the mmap threshold is fixed)"
    return (
        f"malloc: blocks from {MMAP_THRESHOLD >> 20} MiB mapped on their own, up to "
        f"{TRIM_THRESHOLD >> 20} MiB kept free for the next call"
    )


def for_the_log(note: str) -> str | None:
    """``keep_model_memory``'s note as the service's log shows it, or None: the usual
    thresholds (and a libc that is not glibc) are the kernel's business, shown by ``w``,
    not a line among the user's own output; the user's own malloc setting kept, or
    mallopt refusing, is said as the kernel's."""
    if not note.startswith(("malloc: left as", "malloc: mallopt refused")):
        return None
    return "C allocator of the instance: " + note.removeprefix("malloc: ")
