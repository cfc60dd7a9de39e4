"""What a kernel remembers across restarts: its services, as EAS does.

One private file per service under ``STATE_DIR/services/`` (directory 0700,
files 0600: they hold tokens): the service.json as created, its token and
whether it was running. Queue contents live in the queues' own SQLite files
(queue.py). A kernel started on the same state dir creates them again;
``easlab serve --fresh`` forgets them first.
"""

from __future__ import annotations

import json
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
