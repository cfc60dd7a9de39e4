"""Jupyter Server handlers under ``/easlab-lab/api``: the panel's calls, proxied to the kernel.

Jupyter's own login and XSRF checks guard them (``APIHandler`` +
``@authenticated``; every action, revealing a token included, is a POST, so it
needs the XSRF token too); the kernel's admin token is added here, server side.
Blocking client calls run in a worker thread.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from easlab.lab.backend import PanelBackend, PanelError

__all__ = ["setup_handlers"]


class _Base(APIHandler):
    backend: PanelBackend

    def initialize(self, backend: PanelBackend) -> None:
        self.backend = backend

    async def _answer(self, fn: Any, *args: Any) -> None:
        try:
            result = await asyncio.to_thread(fn, *args)
        except PanelError as exc:
            self._refuse(exc.status, exc.message)
            return
        except Exception as exc:  # a bug or an answer no check foresaw: JSON the panel shows
            # Jupyter's own answer would be {"message": "Unhandled error"}, which the panel
            # showed as a bare "HTTP 500"; the traceback goes to this server's log only
            self.log.exception("easlab-lab: %s failed", self.request.path)
            self._refuse(
                500,
                f"the panel's server side failed ({type(exc).__name__}); the Jupyter "
                "server's log has the traceback. `easlab kernel status` says whether the "
                "recorded kernel is an easlab kernel that answers",
            )
            return
        self.finish(json.dumps(result))

    def _refuse(self, status: int, message: str) -> None:
        # {"error": ...} is what the panel shows (extensions/easlab-lab: api())
        self.set_status(status)
        self.finish(json.dumps({"error": message}))


class StateHandler(_Base):
    @tornado.web.authenticated
    async def get(self) -> None:
        raw = self.get_argument("window", "60")
        try:
            window = int(raw)
        except ValueError:
            self._refuse(400, f"window must be whole seconds from 1 to 900, got {raw!r}")
            return
        await self._answer(self.backend.state, max(1, min(window, 900)))


class KernelHandler(_Base):
    @tornado.web.authenticated
    async def post(self) -> None:
        await self._answer(self.backend.start_kernel)


class ServiceHandler(_Base):
    @tornado.web.authenticated
    async def post(self, name: str, action: str) -> None:
        try:
            body = json.loads(self.request.body) if self.request.body else {}
        except ValueError as exc:
            self._refuse(400, f"the body of {action!r} must be a JSON object: {exc}")
            return
        if not isinstance(body, dict):
            self._refuse(400, f"the body of {action!r} must be a JSON object, got {body!r:.40}")
            return
        await self._answer(self.backend.act, name, action, body)


def setup_handlers(web_app: Any, backend: PanelBackend | None = None) -> None:
    backend = backend or PanelBackend()
    base = url_path_join(web_app.settings["base_url"], "easlab-lab", "api")
    args = {"backend": backend}
    web_app.add_handlers(
        ".*$",
        [
            (url_path_join(base, "state"), StateHandler, args),
            (url_path_join(base, "kernel"), KernelHandler, args),
            (
                url_path_join(base, r"services/([^/]+)/(stop|start|delete|scale|workers|token)"),
                ServiceHandler,
                args,
            ),
        ],
    )
