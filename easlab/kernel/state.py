"""What a kernel remembers across restarts: its services, as EAS does.

One kernel at a time serves a state dir: it holds an exclusive lock on
``STATE_DIR/kernel.lock`` while it runs (``StateLock``), so a second kernel on
the same dir refuses to start rather than serve its own copy of the queues.

One private file per service under ``STATE_DIR/services/`` (directory 0700,
files 0600: they hold tokens): the service.json as created, its token and
whether it was running. Queue contents live in the queues' own SQLite files
(queue.py). A kernel started on the same state dir creates them again;
``easlab serve --fresh`` forgets them first.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

from easlab.runtime import _write_private, private_dir


class ServiceRecords:
    """The service records of one state dir.

    A record is ``{"spec": service.json as created (with its token), "running",
    "created": sequence, "versions": {number: service.json}, "current": number,
    "blue_green_of", "released_into", "weight"}``; a queue service's has only
    ``spec``, ``running`` and ``created``.
    """

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "services"

    def _file(self, name: str) -> Path:
        return self.folder / (name.replace("/", "__") + ".json")

    def save(self, name: str, spec: dict[str, Any], token: str, running: bool = True) -> None:
        """A new record (create): the spec as created, its token, running."""
        private_dir(self.folder)
        _write_private(
            self._file(name),
            {"spec": {**spec, "token": token}, "running": running, "created": time.time()},
        )

    def update(self, name: str, **fields: Any) -> None:
        """Change fields of an existing record (a deleted service's record stays gone)."""
        file = self._file(name)
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError):
            return
        data.update(fields)
        _write_private(file, data)

    def set_running(self, name: str, running: bool) -> None:
        self.update(name, running=running)

    def remove(self, name: str) -> None:
        self._file(name).unlink(missing_ok=True)

    def load(self) -> list[dict[str, Any]]:
        """Every record, oldest first (siblings after what they were created from)."""
        if not self.folder.is_dir():
            return []
        out = []
        for file in self.folder.glob("*.json"):
            try:
                data = json.loads(file.read_text())
            except (OSError, ValueError):
                continue  # a half-written record cannot exist (atomic writes); a foreign file
            if isinstance(data, dict):
                data.setdefault("created", file.stat().st_mtime)
                out.append(data)
        out.sort(key=lambda r: float(r.get("created") or 0))
        return out


def forget_everything(state_dir: Path) -> None:
    """``--fresh``: no services and no queue contents from an earlier run."""
    for sub in ("services", "queues"):
        shutil.rmtree(state_dir / sub, ignore_errors=True)


LOCK_FILE = "kernel.lock"


class StateDirInUse(Exception):
    """Another live kernel serves this state dir (the message names it and how to stop it)."""


class StateLock:
    """The exclusive lock a kernel holds on its state dir while it runs.

    ``flock`` on ``STATE_DIR/kernel.lock``: the system drops it when the process
    ends, however it ends (SIGKILL too), so a lock file left behind by a dead
    kernel never blocks the next one. The file says who holds it: ``{"pid",
    "endpoint"}``. The descriptor is not inherited (close-on-exec), so the
    instances a kernel spawns never hold it. Where ``fcntl`` is missing
    (Windows) nothing is locked.
    """

    def __init__(self, state_dir: Path) -> None:
        self.file = state_dir / LOCK_FILE
        self.fd: int | None = None

    def acquire(self) -> None:
        """Take the lock, or raise StateDirInUse naming the kernel that holds it."""
        try:
            import fcntl
        except ImportError:  # Windows
            return
        fd = os.open(self.file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = self.holder()
            os.close(fd)
            raise StateDirInUse(_in_use_message(self.file.parent, holder)) from None
        self.fd = fd
        self.note()

    def note(self, endpoint: str = "") -> None:
        """Write down who holds the lock (this process, listening on ``endpoint``)."""
        if self.fd is None:
            return
        data = json.dumps({"pid": os.getpid(), "endpoint": endpoint}).encode()
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def holder(self) -> dict[str, Any]:
        """What the lock file says about the kernel holding it (``{}`` if unreadable)."""
        try:
            data = json.loads(self.file.read_text() or "{}")
        except (OSError, ValueError):
            return {}
        return data if isinstance(data, dict) else {}

    def release(self) -> None:
        """Give the lock up (a kernel stopping); the file stays, unlocked."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def _in_use_message(state_dir: Path, holder: dict[str, Any]) -> str:
    pid, endpoint = holder.get("pid"), holder.get("endpoint")
    who = "another easlab kernel"
    if pid:
        who += f" (pid {pid}" + (f", {endpoint})" if endpoint else ")")
    if endpoint:
        stop = f"`easlab kernel stop --endpoint {endpoint}`"
    else:
        stop = f"`kill {pid}`" if pid else "`easlab kernel stop`"
    return (
        f"state dir {state_dir} is in use by {who}: two kernels on one state dir would "
        f"each serve their own copy of its services and queues. Stop that kernel with "
        f"{stop}, or give this one another state dir (--state-dir, or EASLAB_HOME)"
    )
