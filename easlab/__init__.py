"""easlab: a notebook-first toolkit for PAI-EAS.

``import easlab`` stays cheap: every public name below is resolved lazily on
first use, so pandas, matplotlib, ipywidgets and the kernel are imported only
when a notebook actually needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from easlab._lazy import lazy_exports

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    # errors
    "EaslabError": "easlab.errors",
    "PredictException": "easlab.errors",
    "RequestError": "easlab.errors",
    "ShapeError": "easlab.errors",
    "DTypeError": "easlab.errors",
    "SpecError": "easlab.errors",
    "KernelError": "easlab.errors",
    "KernelNotRunning": "easlab.errors",
    # requests and responses (wire)
    "TFRequest": "easlab.wire.tf",
    "TFResponse": "easlab.wire.tf",
    "TorchRequest": "easlab.wire.torch",
    "TorchResponse": "easlab.wire.torch",
    "BladeRequest": "easlab.wire.blade",
    "BladeResponse": "easlab.wire.blade",
    "BladeTFRequest": "easlab.wire.blade",
    "CaffeRequest": "easlab.wire.caffe",
    "CaffeResponse": "easlab.wire.caffe",
    "StringRequest": "easlab.wire.string",
    "StringResponse": "easlab.wire.string",
    "JsonRequest": "easlab.wire.json",
    "JsonResponse": "easlab.wire.json",
    "OnnxRequest": "easlab.wire.onnx",
    "OnnxResponse": "easlab.wire.onnx",
    "EasyRecRequest": "easlab.wire.easyrec",
    "EasyRecResponse": "easlab.wire.easyrec",
    "TorchRecRequest": "easlab.wire.torchrec",
    "TorchRecResponse": "easlab.wire.torchrec",
    # the official package's module-valued names (``from eas_prediction import OnnxDataHelper``)
    "OnnxData": "easlab.eas_prediction",
    "OnnxDataHelper": "easlab.eas_prediction",
    # client
    "PredictClient": "easlab.client.predict_client",
    "QueueClient": "easlab.client.queue",
    "Watcher": "easlab.client.queue",
    "AsyncPredictor": "easlab.client.async_predictor",
    "ENDPOINT_TYPE_DEFAULT": "easlab.client.predict_client",
    "ENDPOINT_TYPE_GATEWAY": "easlab.client.predict_client",
    "ENDPOINT_TYPE_DIRECT": "easlab.client.predict_client",
    "ENDPOINT_TYPE_VIPSERVER": "easlab.client.predict_client",
    "Latency": "easlab.client.latency",
    # local kernel and its control plane
    "LocalKernel": "easlab.client.local",
    "KernelClient": "easlab.client.control",
    "Service": "easlab.client.control",
    "connect": "easlab.client.connect",
    "workdir": "easlab.runtime",
    # eascmd's verbs as functions (the CLI and the magics call these)
    "create": "easlab.ops",
    "ls": "easlab.ops",
    "desc": "easlab.ops",
    "w": "easlab.ops",
    "modify": "easlab.ops",
    "version": "easlab.ops",
    "stop": "easlab.ops",
    "start": "easlab.ops",
    "delete": "easlab.ops",
    "release": "easlab.ops",
    "logs": "easlab.ops",
    "gpu": "easlab.ops",
    "queue": "easlab.ops",
    "SpecDiff": "easlab.ops",
    # notebook layer
    "debug": "easlab.notebook.debug",
    "bench": "easlab.notebook.loadtest",
    "monitor": "easlab.notebook.monitor",
    "Monitor": "easlab.notebook.monitor",
    "BenchResult": "easlab.notebook.loadtest",
    "plot_latency": "easlab.notebook.plots",
    "plot_sweep": "easlab.notebook.plots",
    "plot_traffic": "easlab.notebook.plots",
    "Plot": "easlab.notebook.plots",
    "load_ipython_extension": "easlab.notebook.magics",
    "unload_ipython_extension": "easlab.notebook.magics",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


if TYPE_CHECKING:  # pragma: no cover
    from easlab.errors import (  # noqa: F401
        DTypeError,
        EaslabError,
        KernelError,
        PredictException,
        RequestError,
        ShapeError,
        SpecError,
    )

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, tuple(__all__))
