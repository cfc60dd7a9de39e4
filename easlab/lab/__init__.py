"""JupyterLab's "EAS services" panel: its server extension and its prebuilt front end.

The panel (extensions/easlab-lab, TypeScript) is shipped built in
``labextension/``; it talks only to ``/easlab-lab/api/*`` on the Jupyter
server (``handlers.py``), which calls the kernel's control API with the admin
token read on the server side, so the token never reaches the browser.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["_jupyter_labextension_paths", "_jupyter_server_extension_points"]

HERE = Path(__file__).parent


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    return [{"src": "labextension", "dest": "easlab-lab"}]


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "easlab.lab"}]


def _load_jupyter_server_extension(server_app: Any) -> None:
    from easlab.lab.handlers import setup_handlers

    setup_handlers(server_app.web_app)
    server_app.log.info("easlab: the EAS services panel's API is at /easlab-lab/api")
