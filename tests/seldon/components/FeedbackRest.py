# ruff: noqa
# A component with the deprecated send_feedback_rest hook (the Feedback as JSON text),
# which seldon-core 1.18.2 still calls.
import json


class FeedbackRest:
    def send_feedback_rest(self, request_json):
        d = json.loads(request_json)
        return {"strData": "got reward %s of %s" % (d.get("reward"), sorted(d))}

    def predict(self, X, names):
        return X
