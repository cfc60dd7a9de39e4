"""When the kernel waits awake for what comes next (a lone client's request, an answer).

At concurrency 1 the kernel spins up to 50 µs for the next event instead of
sleeping in the event loop's poll (http.py ``_await_next``, instance.py
``_Channel.poll``): falling asleep and being woken costs more than the wait.
A wait that ends empty-handed is pure loss, and worse on a shared core: the
process it waits for (the client, the instance) may be the one kept off the
core by the spin. So after two misses in a row the kernel stops waiting, and
only tries again now and then to notice when waiting would pay again.

How often it tries again decides the latency tail. Trying on every 64th
request, as before, put a lost wait (50 µs plus the delayed peer) on 1.6% of
the requests of a run that had fallen into the missing mode, which is the p99
exactly; whether a run fell into it depended on where the scheduler placed the
processes (same core or not), so p99 at c=1 came out bimodal from run to run
(0.08 or 0.31 ms). Now each further miss doubles the gap between tries, from
128 up to 4096 requests: a run that keeps missing spends at most 0.8%, then
quickly under 0.1%, of its requests on tries, out of the p99, while a hit
resets the count and waiting resumes at once.

A caller alone in the kernel (the only request in flight, from a connection
that has sent ``ALONE_AFTER`` requests in a row: a client at concurrency 1)
has its instance's answer waited for awake even when the model takes longer
than the 50 µs wait: up to twice the instance's last answer time plus 50 µs,
and never more than ``LONG_WAIT_S`` (instance.py ``Instance.awake_wait``).
Asleep, the kernel reads the answer only once the event loop's poll has
woken it; awake, the moment it comes (on the 2-core VM of benchmarks/FINDINGS.md, the
served p50 at concurrency 1 came out 5-18% lower for three of four models).
The wait blocks the event loop, which is why it is kept for a caller alone: a
request from another client during it waits at most until the answer, and
makes the next caller no longer alone.

Whether an idle CPU wakes fast (``wakes_fast``) decides one more thing: a lone
caller's frame to an idle instance is marked ``frames.ALONE``, so that the
instance keeps its reading thread instead of handing it over (worker.py). Where
idle CPUs wake within microseconds that took 14-18% off a served model's c=1
p50 (benchmarks/FINDINGS.md). On a VM whose idle vCPUs halt at once, the hand-over keeps
the instance's core busy a few microseconds past its answer, and the client
woken by that answer then runs beside the kernel instead of on a halted vCPU
(~45 µs to wake there): keeping the reader cost 18-27% there, so it is not done.
"""

from __future__ import annotations

import functools
from pathlib import Path

#: requests in a row on one connection before its requests count as a lone client's
ALONE_AFTER = 8
#: the longest wait awake for a lone caller's answer (instance.py); a model slower
#: than this is answered through the event loop's poll, as before
LONG_WAIT_S = 1e-3

#: misses in a row after which the kernel stops waiting on every request
MISSES = 2
#: the first gap between tries once stopped (requests), doubled by each further miss
FIRST_GAP = 128
#: the largest gap
LAST_GAP = 4096


def gap(misses: int) -> int:
    """Requests between tries after ``misses`` misses in a row (1: wait every time)."""
    if misses < MISSES:
        return 1
    return min(LAST_GAP, FIRST_GAP << min(misses - MISSES, 6))


def due(misses: int, count: int) -> bool:
    """Whether to wait awake for event number ``count`` after ``misses`` misses in a row."""
    return misses < MISSES or count % gap(misses) == 0


#: the guest halt-poll window of a KVM guest with the haltpoll cpuidle driver
HALT_POLL_NS = Path("/sys/module/haltpoll/parameters/guest_halt_poll_ns")


@functools.cache
def wakes_fast(halt_poll: Path = HALT_POLL_NS, cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """Whether an idle CPU here wakes within microseconds: a KVM guest whose idle
    vCPUs poll before they halt (guest halt polling on), or a machine that is no
    virtual machine at all. False where idle vCPUs halt at once, and where it cannot
    be told (not Linux). Read once per kernel: a later change of the setting counts
    from the next kernel on."""
    try:
        return int(halt_poll.read_text().strip()) > 0
    except (OSError, ValueError):
        pass
    try:
        flags = next(
            (line for line in cpuinfo.read_text().splitlines() if line.startswith("flags")), ""
        )
    except OSError:
        return False
    return "hypervisor" not in flags.split()
