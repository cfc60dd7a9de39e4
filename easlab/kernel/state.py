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
from pathlib import Path
from typing import Any

from easlab.runtime import _write_private, private_dir


class ServiceRecords:
    """The service records of one state dir."""

    def __init__(self, state_dir: Path) -> None:
        self.folder = state_dir / "services"

    def _file(self, name: str) -> Path:
        return self.folder / (name.replace("/", "__") + ".json")

    def save(self, name: str, spec: dict[str, Any], token: str, running: bool = True) -> None:
        private_dir(self.folder)
        _write_private(
            self._file(name),
            {"spec": {**spec, "token": token}, "running": running},
        )

    def set_running(self, name: str, running: bool) -> None:
        file = self._file(name)
        if file.exists():
            data = json.loads(file.read_text())
            data["running"] = running
            _write_private(file, data)

    def remove(self, name: str) -> None:
        self._file(name).unlink(missing_ok=True)

    def load(self) -> list[dict[str, Any]]:
        """Every record, oldest first (siblings after what they were created from)."""
        if not self.folder.is_dir():
            return []
        files = sorted(self.folder.glob("*.json"), key=lambda f: f.stat().st_mtime)
        out = []
        for file in files:
            try:
                out.append(json.loads(file.read_text()))
            except (OSError, ValueError):
                continue  # a half-written record cannot exist (atomic writes); a foreign file
        return out


def forget_everything(state_dir: Path) -> None:
    """``--fresh``: no services and no queue contents from an earlier run."""
    for sub in ("services", "queues"):
        shutil.rmtree(state_dir / sub, ignore_errors=True)
