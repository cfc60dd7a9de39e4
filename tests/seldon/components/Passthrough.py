# ruff: noqa
# A component written for PAYLOAD_PASSTHROUGH=true: predict_raw gets the request's bytes
# (or the text of a ``json`` form field or query argument) and answers what it returns.
import json


class Passthrough:
    def predict_raw(self, request):
        text = request.decode("utf-8") if isinstance(request, bytes) else request
        if not isinstance(text, str):  # a multipart form arrives parsed, as a dict
            return {"form": sorted(text)}
        if text.startswith("as-dict"):
            return {"kind": type(request).__name__, "keys": 1}
        if text.startswith("as-status"):
            return {"status": {"code": 422, "info": "refused", "status": "FAILURE"}}
        if text.startswith("as-none"):
            return None
        if text.startswith("as-str"):
            return "ünïcode text"
        if text.startswith("as-list"):
            return [b"a", "b"]
        if text.startswith("as-fail"):
            raise ValueError("no " + text)
        return request  # the bytes as they came
