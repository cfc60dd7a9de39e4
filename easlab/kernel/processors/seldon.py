"""The ``seldon`` processor: a Seldon Core Python component (or an inference graph of
them) behind the Seldon REST contract under the service's path (SPEC §6).

HTTP-aware (processors/http.py): it gets the method, sub-path, query and body, and
answers JSON; a plain ``GET`` of the service path answers the signature
``{"format": "seldon", ...}`` (easlab/seldon/app.py ``seldon_signature``); the kernel keeps the token check, queueing and instance supervision.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from easlab.kernel.processors.base import Processor, ProcessorContext, ProcessorError
from easlab.kernel.processors.http import HttpRequest


class SeldonProcessor(Processor):
    """Loads ``processor_path/<processor_mainclass>.py``, builds the class with the
    ``seldon.parameters``, calls ``load()`` once, then serves the REST paths."""

    def __init__(self, ctx: ProcessorContext) -> None:
        super().__init__(ctx)
        self.app: Any = None

    def initialize(self) -> None:
        from easlab.seldon.app import SeldonApp
        from easlab.seldon.component import build_component, load_component_class

        spec = self.ctx.spec
        seldon = spec.get("seldon") or {}
        folder = self.ctx.processor_path
        if folder is None:
            raise ProcessorError(
                400, "a seldon processor needs `processor_path` (the module folder)"
            )
        if folder.is_file():
            folder = folder.parent
        # the component opens relative files and imports its neighbours, as in its image
        sys.path.insert(0, str(folder))
        os.chdir(folder)
        graph = seldon.get("graph")
        if graph:
            from easlab.seldon.graph import GraphApp

            self.app = GraphApp.from_spec(graph, folder, self.ctx.processor_entry)
            return
        main = spec.get("processor_mainclass")
        if not main:
            raise ProcessorError(400, "a seldon processor needs `processor_mainclass` (the class)")
        cls = load_component_class(folder, main, self.ctx.processor_entry)
        self.app = SeldonApp(build_component(cls, seldon.get("parameters") or []))

    def process(self, data: bytes) -> tuple[bytes, int]:
        request = HttpRequest.decode(data)
        if request.method == "GET" and request.path in ("", "/") and not request.query:
            # GET /api/predict/{name}: the service's signature, as every EAS service has
            # one; format "seldon" is how clients know to send Seldon messages
            # (easlab/wire/seldon.py). Seldon's own paths are all below it.
            from easlab.seldon.app import seldon_signature

            return seldon_signature(self.app), 200
        content_type = request.content_type
        if request.path in ("", "/") and (content_type or "").split(";")[0].strip() in (
            "",
            "application/octet-stream",
        ):
            # a plain POST to the service path, as EAS clients send it (no content type,
            # or the SDK's octet-stream): the body is read as the JSON it is. Seldon's own
            # paths keep seldon-core's rule (application/json, else 400).
            content_type = "application/json"
        answer = self.app.handle(
            request.method, request.path, request.query, content_type, request.body
        )
        return answer.body, answer.status
