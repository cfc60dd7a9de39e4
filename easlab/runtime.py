"""Runtime files: how the CLI and notebooks find a running kernel, and its admin token.

Every kernel writes ``$EASLAB_HOME/runtime/kernel-<pid>.json`` once it listens
(as Jupyter writes ``jpserver-<pid>.json``) and removes it when it stops:
``{"endpoint", "pid", "state_dir", "started_at", "admin_token", "python"}``.
``$EASLAB_HOME/kernel.json`` (default ``~/.easlab/kernel.json``) holds the same
for the *default* kernel: the first one started stays the default while it
lives, and it is removed only by the kernel it names.

These files hold the control plane's admin token, so they are created with
mode 0600 inside 0700 directories: only the user who started the kernel can
read them (README, "How the kernel is protected").
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import sys
import tempfile
from pathlib import Path
from typing import Any

from easlab.errors import UnwritableDirError

#: the environment variable a client or kernel takes its admin token from
ADMIN_TOKEN_ENV = "EASLAB_ADMIN_TOKEN"


def easlab_home() -> Path:
    """``$EASLAB_HOME``, default ``~/.easlab``."""
    home = os.environ.get("EASLAB_HOME")
    return Path(home).expanduser() if home else Path("~/.easlab").expanduser()


def runtime_file() -> Path:
    return easlab_home() / "kernel.json"


def runtime_dir() -> Path:
    """Where every live kernel has its own ``kernel-<pid>.json``."""
    return easlab_home() / "runtime"


def kernel_file(pid: int) -> Path:
    return runtime_dir() / f"kernel-{pid}.json"


def default_state_dir() -> Path:
    """Where a kernel keeps logs and downloaded models unless told otherwise."""
    return easlab_home() / "state"


def workdir(name: str, fresh: bool = False) -> Path:
    """A folder of this user's for a notebook's models and code, at the same place on
    every run: ``$EASLAB_HOME/work/<name>``, created if missing; ``fresh`` empties it
    first of what an earlier run left (a run stopped half-way).

    A notebook run again from the top (after a restart, or an error half-way) then
    describes its services as before, so ``%%eas create`` finds the one it deployed
    (and loads a model saved again there) instead of refusing one at a new temporary
    path, with a 409 naming ``model_path``. What it holds stays until deleted.
    """
    if not isinstance(name, str) or not name.strip() or name in (".", ".."):
        raise ValueError(f"workdir takes a folder name, e.g. workdir('quickstart'); got {name!r}")
    if "/" in name or "\\" in name:
        raise ValueError(
            f"workdir takes one folder name, not a path ({name!r}): e.g. workdir('quickstart')"
        )
    path = easlab_home() / "work" / name
    if fresh and path.is_dir():
        import shutil

        shutil.rmtree(path)
    return private_dir(path)


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) readable by this user only.

    An existing directory of ours is tightened to 0700 as well: it may hold
    secrets from now on, whatever it was made with before. One that cannot be
    written is an ``UnwritableDirError`` saying where to point easlab instead, now,
    rather than a bare errno from the first file written in it (a kernel's lock, its
    log) later.
    """
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".easlab-write-check-", dir=path)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    try:
        if path.stat().st_uid == os.getuid() and stat.S_IMODE(path.stat().st_mode) & 0o077:
            path.chmod(0o700)
    except (OSError, AttributeError):  # AttributeError: os.getuid on Windows
        pass
    return path


def _unwritable(path: Path, exc: OSError) -> UnwritableDirError:
    home = easlab_home()
    why = exc.strerror or str(exc)
    if exc.filename and path not in (Path(exc.filename), Path(exc.filename).parent):
        why += f" ({exc.filename})"  # a parent in the way, not the write check's file
    if path == home or home in path.parents:
        fix = (
            f"it is under EASLAB_HOME ({home}): set EASLAB_HOME to a directory you can "
            "write, e.g. export EASLAB_HOME=$HOME/.easlab"
        )
    else:
        fix = "give easlab a directory you can write instead (--state-dir, or EASLAB_HOME)"
    return UnwritableDirError(f"cannot write in {path}: {why}; {fix}")


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` runs (a zombie, exited but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat_file:
            # "pid (comm) S ...": the state follows the last ')' (comm may hold one)
            return stat_file.read().rpartition(b")")[2].split()[0] != b"Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): kill(0) is all there is


def _write_private(path: Path, data: dict[str, Any]) -> None:
    """Write JSON atomically (readers never see half a file), mode 0600 from the start."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.unlink()
    except FileNotFoundError:
        pass
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(json.dumps(data, indent=2) + "\n")
        os.replace(tmp, path)
    except BaseException:  # a full disk: no half-written temporary file is left behind
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise


def write_runtime(
    endpoint: str,
    pid: int,
    state_dir: Path,
    started_at: str | None,
    admin_token: str | None = None,
) -> Path:
    """Record a listening kernel: its own file, and ``kernel.json`` if no other live kernel has it.

    A live kernel already recorded in ``kernel.json`` keeps it: ``easlab test``
    or a second ``easlab serve`` in the same ``$EASLAB_HOME`` would otherwise
    take over the CLI's default kernel. The second kernel is still found by its
    endpoint (``--endpoint`` / ``$EASLAB_ENDPOINT``), with its token, through
    its own file.
    """
    data = {
        "endpoint": endpoint,
        "pid": pid,
        "state_dir": str(state_dir),
        "started_at": started_at,
        "admin_token": admin_token,
        "python": sys.executable,
    }
    private_dir(easlab_home())
    private_dir(runtime_dir())
    prune_dead_kernels()
    _write_private(kernel_file(pid), data)
    path = runtime_file()
    current = read_runtime()
    if current is not None and int(current["pid"]) != pid:
        return path
    _write_private(path, data)
    return path


def _read(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text())
        pid = int(data["pid"])
        str(data["endpoint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not pid_alive(pid):
        return None
    return dict(data)


def read_runtime() -> dict[str, Any] | None:
    """The default kernel (``kernel.json``) if its process is alive, else None."""
    return _read(runtime_file())


def live_kernels() -> list[dict[str, Any]]:
    """Every recorded kernel whose process is alive, the default one first."""
    found: dict[int, dict[str, Any]] = {}
    default = read_runtime()
    if default is not None:
        found[int(default["pid"])] = default
    try:
        paths = sorted(runtime_dir().glob("kernel-*.json"))
    except OSError:
        paths = []
    for path in paths:
        data = _read(path)
        if data is not None:
            found.setdefault(int(data["pid"]), data)
    return list(found.values())


#: bind addresses meaning "every interface": clients reach such a kernel at 127.0.0.1
WILDCARD_HOSTS = ("", "0.0.0.0", "::", "[::]")


def client_host(host: str) -> str:
    """The address a client on this machine uses for a kernel bound to ``host``."""
    return "127.0.0.1" if host in WILDCARD_HOSTS else host


def client_url(url: str) -> str:
    """``url`` with a wildcard bind address replaced by 127.0.0.1."""
    for wildcard in ("0.0.0.0", "[::]"):
        url = url.replace(f"://{wildcard}:", "://127.0.0.1:")
    return url


def same_endpoint(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        url = url.strip().rstrip("/")
        if "://" not in url:
            url = "http://" + url
        for local in ("://localhost:", "://0.0.0.0:", "://[::]:", "://[::1]:"):
            url = url.replace(local, "://127.0.0.1:")
        return url

    return norm(a) == norm(b)


def admin_token_for(endpoint: str) -> str | None:
    """The admin token of the live kernel at ``endpoint`` recorded on this machine, if any."""
    for data in live_kernels():
        if same_endpoint(str(data["endpoint"]), endpoint) and data.get("admin_token"):
            return str(data["admin_token"])
    return None


def prune_dead_kernels() -> list[int]:
    """Remove the files of kernels that died without removing their own (a SIGKILL, a
    power cut): each holds its admin token, which nothing may use any more. Returns
    the pids whose files went."""
    gone: list[int] = []
    try:
        paths = list(runtime_dir().glob("kernel-*.json"))
    except OSError:
        return gone
    for path in paths:
        try:
            pid = int(path.stem.removeprefix("kernel-"))
        except ValueError:
            continue
        if not pid_alive(pid):
            remove_runtime(pid)
            gone.append(pid)
    return gone


def remove_runtime(pid: int) -> None:
    """Remove kernel ``pid``'s own file, and ``kernel.json`` if it still describes it."""
    try:
        kernel_file(pid).unlink()
    except OSError:
        pass
    path = runtime_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    if data.get("pid") == pid:
        try:
            path.unlink()
        except OSError:
            pass


def stop_note_file() -> Path:
    """Why the last kernel of this ``$EASLAB_HOME`` stopped by itself (idle shutdown)."""
    return easlab_home() / "last-stop.json"


def note_stop(endpoint: str, reason: str) -> None:
    """Leave a note for the next ``connect(start=True)`` (kernel/idle.py)."""
    import time

    private_dir(easlab_home())
    data = {"endpoint": endpoint, "reason": reason, "at": time.strftime("%Y-%m-%d %H:%M:%S")}
    _write_private(stop_note_file(), data)


def take_stop_note() -> dict[str, Any] | None:
    """The note left by a kernel that stopped by itself, removed once read."""
    path = stop_note_file()
    try:
        data = json.loads(path.read_text())
        path.unlink()
    except (OSError, ValueError):
        return None
    return dict(data) if isinstance(data, dict) else None
