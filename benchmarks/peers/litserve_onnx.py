"""LitServe serving an ONNX file with onnxruntime and LitServe's batching (the models bench).

Run: python litserve_onnx.py PORT MODEL.onnx INTRA_OP_THREADS MAX_BATCH BATCH_TIMEOUT_S

The body is ``{"input": [flat float32 values of one row]}``; the answer is
``{"output": [the row's outputs]}``.
"""

# No `from __future__ import annotations`: LitServe reads decode_request's
# annotation at runtime to decide how to parse the body (see litserve_echo.py).
import sys
from typing import Any

import litserve as ls
import numpy as np
import onnxruntime as ort


class OnnxAPI(ls.LitAPI):
    def __init__(self, path: str, threads: int, **batching: Any) -> None:
        super().__init__(**batching)
        self.path = path
        self.threads = threads

    def setup(self, device: str) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(self.path, options, providers=["CPUExecutionProvider"])
        model_input = self.session.get_inputs()[0]
        self.input_name = model_input.name
        # one row: the model's shape with its batch dimension set to 1
        self.row_shape = [1] + [int(d) for d in model_input.shape[1:]]

    def decode_request(self, request: dict[str, Any]) -> Any:
        return np.asarray(request["input"], dtype=np.float32).reshape(self.row_shape)

    def batch(self, inputs: list[Any]) -> Any:
        return np.concatenate(inputs, axis=0)

    def predict(self, x: Any) -> Any:
        return self.session.run(None, {self.input_name: x})[0]

    def unbatch(self, output: Any) -> list[Any]:
        return [output[i : i + 1] for i in range(len(output))]

    def encode_response(self, output: Any) -> dict[str, Any]:
        return {"output": output.ravel().tolist()}


if __name__ == "__main__":
    port, path, threads, max_batch, timeout_s = sys.argv[1:6]
    api = OnnxAPI(path, int(threads), max_batch_size=int(max_batch), batch_timeout=float(timeout_s))
    server = ls.LitServer(api, accelerator="cpu", workers_per_device=1)
    server.run(host="127.0.0.1", port=int(port), num_api_servers=1, access_log=False)
