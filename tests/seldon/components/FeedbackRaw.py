# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept): the
# send_feedback_raw hook gets a Feedback message and returns a SeldonMessage.
from seldon_core.proto import prediction_pb2


class FeedbackRaw:
    def send_feedback_raw(self, feedback):
        request = feedback.request
        parts = [
            f"reward={feedback.reward}",
            f"str={request.strData}",
            f"names={list(request.data.names)}",
            f"shape={list(request.data.tensor.shape)}",
            f"truth_str={feedback.truth.strData!r}",
            f"puid={request.meta.puid!r}",
        ]
        return prediction_pb2.SeldonMessage(strData=" ".join(parts))

    def predict(self, X, names, meta=None):
        return X
