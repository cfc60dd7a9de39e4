"""The machine's own settings a benchmark run depends on: guest halt polling.

On a KVM guest, a vCPU with nothing to run halts, and waking it again goes
through the host: tens of microseconds, paid by every request whose process
went idle while it waited (the kernel waiting for its instance, the instance
for the next request, wrk for the answer). Linux's ``haltpoll`` cpuidle driver
lets an idle vCPU poll for up to ``guest_halt_poll_ns`` before it halts, so a
wake-up that comes soon costs almost nothing; its default is 200 µs. This VM
boots with polling off (``haltpoll.guest_halt_poll_ns=0`` on its kernel command
line), which put 0.1-0.15 ms on every served c=1 call (issue 16). ``make bench``
runs with Linux's default and restores what it found afterwards; the ``machine``
section measures both settings side by side, so the report shows what the
setting does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from easlab.kernel.awake import HALT_POLL_NS  # the kernel reads the same setting (wakes_fast)

#: Linux's own default for guest_halt_poll_ns (drivers/cpuidle/governors/haltpoll.c)
LINUX_DEFAULT_NS = 200_000


def halt_poll_ns(path: Path = HALT_POLL_NS) -> int | None:
    """The guest halt-poll window now, in ns; None where the machine has no such setting."""
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def set_halt_poll_ns(ns: int, path: Path = HALT_POLL_NS) -> None:
    """Set the window (root only; raises OSError where it cannot be written)."""
    path.write_text(f"{ns}\n")


def booted_halt_poll_ns(cmdline: Path = Path("/proc/cmdline")) -> int | None:
    """The window the kernel command line sets, when it sets one."""
    try:
        text = cmdline.read_text()
    except OSError:
        return None
    found = re.search(r"\bhaltpoll\.guest_halt_poll_ns=(\d+)", text)
    return int(found.group(1)) if found else None


@contextmanager
def halt_polling(ns: int | None, path: Path = HALT_POLL_NS) -> Iterator[str]:
    """Run the body with the guest halt-poll window at ``ns`` (None: as found); yields the
    header line that says what the run used, and puts back what it found."""
    found = halt_poll_ns(path)
    if found is None:
        yield "guest halt polling: not on this machine (not a KVM guest with `haltpoll`)"
        return
    if ns is None or ns == found:
        yield f"guest halt polling: {found:,} ns, as found"
        return
    try:
        set_halt_poll_ns(ns, path)
    except OSError as exc:
        yield (
            f"guest halt polling: {found:,} ns, as found (setting {ns:,} failed: "
            f"{exc.strerror or exc}; it needs root)"
        )
        return
    try:
        yield (
            f"guest halt polling: {ns:,} ns for this run (`{path}`; Linux's default is "
            f"{LINUX_DEFAULT_NS:,}), {found:,} before it and put back after"
        )
    finally:
        set_halt_poll_ns(found, path)
