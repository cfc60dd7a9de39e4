# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
import numpy as np


class Raw:
    def predict_raw(self, request):
        data = request.get("data", {}).get("ndarray")
        if data == "fail":
            return {"status": {"code": 422, "info": "bad input", "status": "FAILURE"}}
        arr = np.array(data, dtype=np.float64)
        return {
            "data": {"names": ["sum"], "ndarray": [float(arr.sum())]},
            "meta": {"tags": {"raw": True}},
        }
