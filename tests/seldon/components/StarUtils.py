# ruff: noqa
# A component that relies on `from seldon_core.utils import *` for numpy, json, os and
# base64 (seldon-core's utils has no __all__, so its imports come along): none of its own.
from seldon_core.user_model import SeldonNotImplementedError
from seldon_core.utils import *


class StarUtils:
    def predict(self, X, names):
        return np.asarray(X) * int(os.environ.get("STAR_UTILS_UNSET", "2"))

    def predict_raw(self, request):
        if "strData" in request:
            text = json.dumps({"unit": get_model_name(), "image": get_image_name()})
            return {"strData": text + base64.b64encode(b"ok").decode()}
        if request.get("meta", {}).get("tags", {}).get("proto"):
            message = json_to_seldon_message(request)
            features, meta, datadef, kind = extract_request_parts(message)
            return {"jsonData": {"kind": kind, "features": features.tolist(), "meta": meta}}
        raise SeldonNotImplementedError("predict_raw")
