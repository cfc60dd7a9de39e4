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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from easlab.runtime import _write_private, pid_alive, private_dir

#: the record format this easlab writes. A record of a newer format (a newer easlab
#: wrote it) is left as it is and its service listed as not restored: read with this
#: easlab's rules, its new fields would be dropped at the next write
FORMAT = 1

#: fields a kernel writes into a record: (what they must be, a check)
_FIELDS: dict[str, tuple[str, Any]] = {
    "created": ("a number (seconds since 1970)", lambda v: _is_number(v)),
    "running": ("true or false", lambda v: isinstance(v, bool)),
    "cpu_fallback": ("true or false", lambda v: isinstance(v, bool)),
    "current": ("a version number", lambda v: v is None or _is_int(v)),
    "weight": ("a whole number 0-100", lambda v: v is None or (_is_int(v) and 0 <= v <= 100)),
    "blue_green_of": ("a service name or null", lambda v: v is None or isinstance(v, str)),
    "entry_deleted": ("true or false", lambda v: isinstance(v, bool)),
    "released_into": ("a service name or null", lambda v: v is None or isinstance(v, str)),
    "base_dir": ("a folder or null", lambda v: v is None or isinstance(v, str)),
    "token": ("a string", lambda v: v is None or isinstance(v, str)),
    "gpus": (
        "a list of GPU indexes",
        lambda v: isinstance(v, list) and all(_is_int(g) and g >= 0 for g in v),
    ),
    "entries": (
        "an object of entry name: token",
        lambda v: isinstance(v, dict) and all(isinstance(t, str) for t in v.values()),
    ),
    "versions": (
        "an object of version number: service.json",
        lambda v: (
            v is None
            or (
                isinstance(v, dict)
                and all(k.isdigit() and isinstance(raw, dict) for k, raw in v.items())
            )
        ),
    ),
}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclass(frozen=True)
class BadRecord:
    """A service record a kernel cannot use: which service, its file, and why."""

    name: str
    file: Path
    created: float  # the file's time: where ``ls`` lists the service
    why: str  # what is wrong and how to fix it


class ServiceRecords:
    """The service records of one state dir.

    A record is ``{"format", "spec": service.json as created (with its token),
    "running", "created": sequence, "versions": {number: service.json}, "current":
    number, "blue_green_of", "released_into", "weight", "entries", "gpus": the devices
    its instances held}``; a queue
    service's has only ``format``, ``spec``, ``running`` and ``created``.

    ``load`` never changes a record (it removes a killed kernel's temporary files). A record it cannot use (cut short, edited into
    something else, unreadable, from a newer easlab) is in ``bad`` after it, and
    stays on disk as it is: a create of that name first moves it aside
    (``NAME.json.bad``), a delete removes it.
    """

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "services"
        self.bad: dict[str, BadRecord] = {}
        #: why the services folder itself could not be read (None when it could)
        self.unreadable: str | None = None

    def _file(self, name: str) -> Path:
        return self.folder / (name.replace("/", "__") + ".json")

    def save(
        self, name: str, spec: dict[str, Any], token: str, running: bool = True, **fields: Any
    ) -> None:
        """A new record (create): the spec as created, its token, running, and ``fields``
        a restore reads from the first write on (``base_dir``, ``blue_green_of``): the
        create's later ``update`` may never come if the kernel is killed in between."""
        private_dir(self.folder)
        self._set_aside(name)
        _write_private(
            self._file(name),
            {
                "format": FORMAT,
                "spec": {**spec, "token": token},
                "running": running,
                "created": time.time(),
                **fields,
            },
        )

    def _set_aside(self, name: str) -> None:
        """Keep a record that could not be used as ``NAME.json.bad`` (the user's only copy)."""
        if self.bad.pop(name, None) is None:
            return
        file = self._file(name)
        with contextlib.suppress(FileNotFoundError):
            os.replace(file, file.with_name(file.name + ".bad"))

    def update(self, name: str, **fields: Any) -> None:
        """Change fields of an existing record (a deleted service's record stays gone)."""
        if name in self.bad:
            return  # never rewritten: it is the user's to fix
        file = self._file(name)
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError):
            return
        data.update(fields)
        _write_private(file, data)

    def remove(self, name: str) -> None:
        file = self._file(name)
        if name in self.bad and file.is_dir():
            # a folder where the record should be: not the kernel's to delete (it may
            # hold the user's files), and unlink() failed the delete with a 500
            self._set_aside(name)
            return
        self.bad.pop(name, None)
        file.unlink(missing_ok=True)

    def load(self) -> list[dict[str, Any]]:
        """Every usable record, oldest first (siblings after what they were created
        from); the others in ``bad``, the folder's own trouble in ``unreadable``."""
        self.bad = {}
        self.unreadable = None
        try:
            files = sorted(f for f in os.listdir(self.folder) if f.endswith(".json"))
        except FileNotFoundError:
            return []
        except OSError as exc:
            self.unreadable = (
                f"cannot read the services folder {self.folder}: {exc.strerror or exc}; no "
                f"service was restored. Make it readable by this user (`chmod 700 "
                f"{self.folder}`) and restart the kernel"
            )
            return []
        self._sweep_temporary()
        out = []
        for file in (self.folder / f for f in files):
            # the file's name is the service's ("/" stored as "__", a queue's old paths):
            # a record that cannot be read is listed under it as it is
            name = file.name[: -len(".json")]
            data, why = _read_record(file, name)
            if why is not None:
                try:
                    mtime = file.stat().st_mtime
                except OSError:
                    mtime = time.time()
                self.bad[name] = BadRecord(name, file, mtime, why)
                continue
            assert data is not None
            data.setdefault("created", file.stat().st_mtime)
            out.append(data)
        out.sort(key=lambda r: float(r["created"]))
        return out

    def _sweep_temporary(self) -> None:
        """Remove what a killed kernel's atomic writes left (``runtime._write_private``'s
        ``.NAME.json.PID.tmp``, a copy of a record with its token): none of it is a
        record, and nothing else would ever remove it. A live process's is kept."""
        with contextlib.suppress(OSError):
            for entry in os.scandir(self.folder):
                parts = entry.name.rsplit(".", 2)
                if not (entry.name.startswith(".") and len(parts) == 3 and parts[2] == "tmp"):
                    continue
                if parts[1].isdigit() and pid_alive(int(parts[1])):
                    continue
                with contextlib.suppress(OSError):
                    os.unlink(entry.path)


def _read_record(file: Path, name: str) -> tuple[dict[str, Any] | None, str | None]:
    """The record in ``file``, or why it cannot be used and how to fix that."""
    forget = f"`delete {name}` to forget the service (the file goes with it)"
    again = f"create it again (the file is kept as {file.name}.bad)"
    try:
        text = file.read_text()
    except OSError as exc:
        return None, (
            f"cannot read its record {file}: {exc.strerror or exc}. Make it readable by the "
            f"user running the kernel (`chmod 600 {file}`) and restart the kernel, or {forget}"
        )
    try:
        data = json.loads(text)
    except ValueError as exc:
        where = (
            f" at line {exc.lineno} column {exc.colno}"
            if isinstance(exc, json.JSONDecodeError)
            else ""
        )
        return None, (
            f"its record {file} is not valid JSON ({getattr(exc, 'msg', exc)}{where}): it was "
            f"cut short or edited by hand. Fix the file and restart the kernel, {again}, "
            f"or {forget}"
        )
    fix = f"Fix the file and restart the kernel, {again}, or {forget}"
    if not isinstance(data, dict):
        return None, f"its record {file} is not a JSON object. {fix}"
    version = data.get("format", 1)
    if not _is_int(version) or version < 1:
        return None, (
            f"its record {file} has format {version!r}, expected a whole number from 1. {fix}"
        )
    if version > FORMAT:
        from easlab import __version__

        return None, (
            f"its record {file} was written by a newer easlab (record format {version}; "
            f"easlab {__version__} reads format {FORMAT} and older). Serve this state dir "
            f"with that newer easlab (pip install -U easlab), or {forget}"
        )
    spec = data.get("spec")
    if not isinstance(spec, dict) or spec.get("name") not in (name, name.replace("__", "/")):
        got = spec.get("name") if isinstance(spec, dict) else None
        what = f"names {got!r}" if isinstance(got, str) else "has no name"
        return None, (
            f"its record {file}: field 'spec' must be the service.json, whose name is "
            f"{name!r} as the file's, but it {what}. {fix}"
        )
    for field, (expected, valid) in _FIELDS.items():
        if field in data and not valid(data[field]):
            # a token's value is a secret, and an object may hold some (a version's
            # service.json, "entries"): of those only the type is shown
            value = data[field]
            secret = field == "token" or isinstance(value, (dict, list))
            shown = type(value).__name__ if secret else repr(value)
            if len(shown) > 60:
                shown = shown[:57] + "..."
            return None, (
                f"its record {file}: field '{field}' is {shown}, expected {expected}. {fix}"
            )
    current, versions = data.get("current"), data.get("versions")
    if current and versions and str(current) not in versions:
        # restored, it would serve another version than the one it last served
        known = ", ".join(sorted(versions, key=int))
        return None, (
            f"its record {file}: field 'current' is {current}, but 'versions' holds "
            f"{known}: set 'current' to one of them. {fix}"
        )
    return data, None


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
