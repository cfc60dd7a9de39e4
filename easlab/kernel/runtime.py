"""The runtime file: how the CLI and notebooks find a running kernel.

``$EASLAB_HOME/kernel.json`` (default ``~/.easlab/kernel.json``) holds
``{"endpoint", "pid", "state_dir", "started_at"}``. A kernel writes it once
it listens, unless the file already names another live kernel (the first one
started stays the default), and removes it when it stops (only if it still
names itself).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def easlab_home() -> Path:
    """``$EASLAB_HOME``, default ``~/.easlab``."""
    home = os.environ.get("EASLAB_HOME")
    return Path(home).expanduser() if home else Path("~/.easlab").expanduser()


def runtime_file() -> Path:
    return easlab_home() / "kernel.json"


def default_state_dir() -> Path:
    """Where a kernel keeps logs and downloaded models unless told otherwise."""
    return easlab_home() / "state"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def write_runtime(endpoint: str, pid: int, state_dir: Path, started_at: str | None) -> Path:
    """Record a listening kernel (atomically, so readers never see half a file).

    A live kernel already recorded keeps its record: ``easlab test`` or a second
    ``easlab serve`` in the same ``$EASLAB_HOME`` would otherwise take over the
    CLI's default kernel, and drop the record when it stops. Reach the second
    kernel with ``--endpoint`` / ``$EASLAB_ENDPOINT``.
    """
    path = runtime_file()
    current = read_runtime()
    if current is not None and int(current["pid"]) != pid:
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "endpoint": endpoint,
        "pid": pid,
        "state_dir": str(state_dir),
        "started_at": started_at,
    }
    tmp = path.with_name(f".kernel.json.{pid}.tmp")
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, path)
    return path


def read_runtime() -> dict[str, Any] | None:
    """The recorded kernel if its process is alive, else None."""
    try:
        data = json.loads(runtime_file().read_text())
        pid = int(data["pid"])
        str(data["endpoint"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not pid_alive(pid):
        return None
    return dict(data)


def remove_runtime(pid: int) -> None:
    """Remove the runtime file if it still describes kernel ``pid``."""
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
