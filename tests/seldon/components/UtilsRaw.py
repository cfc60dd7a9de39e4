# ruff: noqa
# A component as users write it for seldon-core: its predict_raw builds the answer with
# seldon_core.utils (the star import public components use), as under seldon-core's REST.
import numpy as np
from seldon_core.utils import *


class UtilsRaw:
    def tags(self):
        return {"static": 1}

    def class_names(self):
        return ["double"]

    def predict_raw(self, request):
        features, meta, datadef, data_type = extract_request_parts_json(request)
        if data_type == "strData":
            datadef = array_to_rest_datadef("tensor", np.array([[1.5, 2.0]]), ["a", "b"])
            return {"data": datadef, "meta": {"requestPath": get_request_path()}}
        if data_type == "jsonData":
            flags = {
                "flag": getenv_as_bool("UTILS_RAW_UNSET", default=True),
                "env": getenv("UTILS_RAW_UNSET", "UTILS_RAW_UNSET_TOO", default="d"),
            }
            return {"jsonData": flags}
        if data_type == "binData":
            # the proto round trip some components do: numbers come back as floats
            message = json_to_seldon_message(
                {"data": {"ndarray": [[1, 2]]}, "meta": {"tags": {"n": 3}}}
            )
            array = get_data_from_proto(message)
            return {
                "jsonData": {"sum": float(array.sum()), "back": seldon_message_to_json(message)}
            }
        metric = [{"type": "COUNTER", "key": "utils_raw_calls", "value": 1}]
        return construct_response_json(
            self, False, request, np.asarray(features) * 2, meta, metric, {"rt": "x"}
        )
