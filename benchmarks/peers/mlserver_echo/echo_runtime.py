"""MLServer custom runtime that answers a V2 inference request with its inputs."""

from __future__ import annotations

from mlserver import MLModel
from mlserver.types import InferenceRequest, InferenceResponse, ResponseOutput


class EchoRuntime(MLModel):
    async def load(self) -> bool:
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        outputs = [
            ResponseOutput(
                name=tensor.name,
                shape=tensor.shape,
                datatype=tensor.datatype,
                data=tensor.data,
            )
            for tensor in payload.inputs
        ]
        return InferenceResponse(model_name=self.name, outputs=outputs)
