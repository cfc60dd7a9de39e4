"""The ``seldon`` processor: a Seldon Core Python component (or an inference graph of
them) behind the Seldon REST contract under the service's path (SPEC §6).

HTTP-aware (processors/http.py): it gets the method, sub-path, query and body, and
answers with the status, content type and body the microservice would (``pong`` is
``text/html; charset=utf-8`` as flask sends it, the rest JSON); a plain ``GET`` of the service path answers the signature
``{"format": "seldon", ...}`` (easlab/seldon/app.py ``seldon_signature``); the kernel keeps
the token check, queueing and instance supervision.

A class without ``seldon.graph`` runs as a one-node graph named as the service
(easlab/seldon/graph.py), as Seldon's executor runs a one-node SeldonDeployment: the
executor's paths answer for it as the executor (``/api/v1.0/metadata``,
``/api/v1.0/metadata/{service}``, ``/ready``, ``/prometheus``, ...), and a MODEL (the
default ``seldon.service_type``) answers every other path as the microservice itself,
its predictions passed on as the executor passes them. Another ``seldon.service_type``
runs the class as a node of that type: a TRANSFORMER's ``transform_input`` answers the predictions paths
(the service root included), an OUTPUT_TRANSFORMER's ``transform_output``; a ROUTER
or COMBINER with no children passes the request through. The component's own paths
(``/transform-input``, ``/route``, ...) answer as always.

Concurrency: seldon-core's microservice calls a component one request at a time (one
gunicorn worker with ``GUNICORN_THREADS=1``), and components are written for that
(TF1 sessions, ``self.n += 1``). The kernel runs ``rpc.worker_threads`` (5) requests
of an instance at once, so this processor lets at most ``seldon.threads`` of them into
the component at a time: 1 unless the service opts in, e.g.
``"seldon": {"threads": 4}`` (gunicorn's ``--threads``; ``rpc.worker_threads`` still
caps it). More copies of the component, each serial, are ``metadata.instance``
(gunicorn's ``--workers``).

Custom metrics (``metrics()``, ``SeldonResponse(metrics=...)``, feedback rewards) are
recorded as seldon-core records them (easlab/seldon/metrics.py) and reach the kernel's
``/metrics`` by :meth:`SeldonProcessor.take_metrics`: after a call that recorded some,
the worker sends the instance's series to the kernel ahead of the call's answer
(worker.py, frames.METRICS). A graph's nodes are told apart by ``model_name`` (the node's
name: seldon-core's label for a graph unit). A component without custom metrics sends
nothing.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
from typing import Any

from easlab.kernel.processors.base import Processor, ProcessorContext, ProcessorError
from easlab.kernel.processors.http import HttpAnswer, HttpRequest
from easlab.spec import seldon_threads

logger = logging.getLogger(__name__)


class SeldonProcessor(Processor):
    """Loads ``processor_path/<processor_mainclass>.py``, builds the class with the
    ``seldon.parameters``, calls ``load()`` once, then serves the REST paths."""

    http_aware = True

    def __init__(self, ctx: ProcessorContext) -> None:
        super().__init__(ctx)
        self.app: Any = None
        self.slots = threading.BoundedSemaphore(1)  # initialize() sizes it: seldon.threads
        #: the custom metrics' stores, each with the labels that tell it apart
        self._stores: list[tuple[dict[str, str], Any]] = []
        self._sent = 0  # the stores' version last taken (take_metrics)

    def initialize(self) -> None:
        from easlab.seldon.app import SeldonApp
        from easlab.seldon.component import build_component, load_component_class
        from easlab.seldon.graph import GraphApp

        spec = self.ctx.spec
        seldon = spec.get("seldon") or {}
        self.slots = threading.BoundedSemaphore(seldon_threads(seldon))
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
        # /seldon.json names where the kernel serves the service, and that it needs the token
        base = f"/api/predict/{self.ctx.service_name}"
        graph = seldon.get("graph")
        if graph:
            self.app = GraphApp.from_spec(graph, folder, self.ctx.processor_entry)
            self.app.name = self.ctx.service_name
            self.app.root.app.serve_under(base, True)
            self._stores = [
                ({"model_name": node.name}, node.app.metrics) for node in self.app.nodes()
            ]
            return
        main = spec.get("processor_mainclass")
        if not main:
            raise ProcessorError(400, "a seldon processor needs `processor_mainclass` (the class)")
        cls = load_component_class(folder, main, self.ctx.processor_entry)
        app = SeldonApp(build_component(cls, seldon.get("parameters") or []))
        app.serve_under(base, True)
        self._stores = [({}, app.metrics)]
        kind = str(seldon.get("service_type") or "MODEL").upper()
        # a graph of one node named as the service, as the executor runs a one-node
        # SeldonDeployment; a MODEL answers the paths the executor lacks as its microservice
        self.app = GraphApp.one_node(self.ctx.service_name, kind, main, app)

    def process(self, data: bytes) -> tuple[bytes, int]:
        request = HttpRequest.decode(data)
        if request.method == "GET" and request.path in ("", "/") and not request.query:
            # GET /api/predict/{name}: the service's signature, as every EAS service has
            # one; format "seldon" is how clients know to send Seldon messages
            # (easlab/wire/seldon.py). Seldon's own paths are all below it.
            from easlab.seldon.app import seldon_signature

            return HttpAnswer(200, "application/json", seldon_signature(self.app)).reply()
        content_type = request.content_type
        if request.path in ("", "/") and (content_type or "").split(";")[0].strip() in (
            "",
            "application/octet-stream",
        ):
            # a plain POST to the service path, as EAS clients send it (no content type,
            # or the SDK's octet-stream): the body is read as the JSON it is. Seldon's own
            # paths keep seldon-core's rule (application/json, else 400).
            content_type = "application/json"
        # "/api/predict/{name}/" is the service root too; the app's "/" is the
        # microservice's root, no route of seldon-core's
        path = "" if request.path == "/" else request.path
        with self.slots:  # seldon.threads calls in the component at once (1 by default)
            answer = self.app.handle(
                request.method, path, request.query, content_type, request.body
            )
        return HttpAnswer(answer.status, answer.content_type, answer.body, answer.headers).reply()

    def take_metrics(self) -> bytes | None:
        """The custom metrics' series as JSON (``SeldonMetrics.series``, with the stores'
        labels) when something was recorded since the last call, else None."""
        version = sum(store.version for _, store in self._stores)
        if version == self._sent:
            return None
        self._sent = version
        series = [
            {**item, "labels": {**item["labels"], **labels}}
            for labels, store in self._stores
            for item in store.series()
        ]
        try:
            return json.dumps(series, default=float).encode()
        except (TypeError, ValueError) as exc:  # a value that is no number (np.int64 is)
            logger.error("custom metrics left out of the kernel's /metrics: %s", exc)
            return None
