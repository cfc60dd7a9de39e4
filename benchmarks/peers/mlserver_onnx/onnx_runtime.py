"""MLServer custom runtime serving an ONNX file with onnxruntime (the models bench).

``model-settings.json`` (written by bench_models.py) gives the file as
``parameters.uri`` and the intra-op thread count as
``parameters.extra.intra_op_threads``; adaptive batching (``max_batch_size``,
``max_batch_time``) concatenates requests along the first axis before
``predict`` and splits the answer after it.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        parameters = self.settings.parameters
        assert parameters is not None and parameters.uri, "model-settings.json needs parameters.uri"
        extra = parameters.extra or {}
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(extra.get("intra_op_threads", 1))
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(
            parameters.uri, options, providers=["CPUExecutionProvider"]
        )
        self.input_name = self.session.get_inputs()[0].name
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        x = NumpyCodec.decode_input(payload.inputs[0]).astype(np.float32, copy=False)
        (y,) = self.session.run(None, {self.input_name: x})
        return InferenceResponse(model_name=self.name, outputs=[NumpyCodec.encode_output("y", y)])
