"""Idle shutdown: a kernel with no services and no requests for a while stops by itself.

As Jupyter culls idle kernels: a background kernel (``connect(start=True)``)
outlives the notebook that started it, so one forgotten after a notebook
restart must not serve nothing for days. ``easlab serve --idle-timeout S``
(0, the default for a foreground ``serve``, never stops). It leaves a note in
``$EASLAB_HOME/last-stop.json`` so that the next ``connect(start=True)`` says
what happened instead of silently starting another.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from typing import Any

from easlab import runtime

#: default idle timeout of a background kernel, seconds ($EASLAB_IDLE_TIMEOUT overrides)
BACKGROUND_IDLE_S = 3600.0


async def watch(kernel: Any, app: Any, idle_timeout: float) -> None:
    """Request the kernel's shutdown once it has had no service and no request for
    ``idle_timeout`` seconds."""
    if idle_timeout <= 0:
        return
    step = min(30.0, max(0.05, idle_timeout / 4))
    seen = app.requests
    idle_since = time.monotonic()
    while not kernel.shutdown_requested.is_set():
        await asyncio.sleep(step)
        busy = kernel.services or kernel.queue_services or app.in_flight or app.requests != seen
        seen = app.requests
        now = time.monotonic()
        if busy:
            idle_since = now
        elif now - idle_since >= idle_timeout:
            runtime.note_stop(
                kernel.endpoint,
                f"stopped by itself after {_duration(idle_timeout)} with no services "
                "and no requests (idle timeout)",
            )
            print(f"easlab kernel: idle for {_duration(idle_timeout)}, stopping", flush=True)
            kernel.shutdown_requested.set()
            return


#: how often a kernel started for one command looks whether that command still runs
OWNER_POLL_S = 0.5


async def watch_owner(kernel: Any, pid: int) -> None:
    """Request the kernel's shutdown once process ``pid`` has ended (``--exit-with``):
    ``easlab test`` starts its kernel in a session of its own, so that a Ctrl-C reaches
    only the command, which stops the kernel; a command killed outright (SIGKILL, the
    OOM killer) cannot, and its kernel served on with nobody to stop it."""
    if pid <= 0:
        return
    while not kernel.shutdown_requested.is_set():
        await asyncio.sleep(OWNER_POLL_S)
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            runtime.note_stop(
                kernel.endpoint, f"stopped: the command that started it (pid {pid}) ended"
            )
            print(f"easlab kernel: pid {pid}, which started it, ended; stopping", flush=True)
            kernel.shutdown_requested.set()
            return
        except PermissionError:  # alive, another user's: a pid reused
            pass


def _duration(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g} h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """``--idle-timeout`` for ``easlab serve`` and ``python -m easlab.kernel``."""
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="stop after this long with no services and no requests (default 0: never; "
        f"background kernels of connect(start=True) use {BACKGROUND_IDLE_S:g} s, "
        "or $EASLAB_IDLE_TIMEOUT)",
    )
    parser.add_argument(
        "--exit-with",
        type=int,
        default=0,
        metavar="PID",
        help="stop when process PID ends (easlab test's kernel goes with the command)",
    )
