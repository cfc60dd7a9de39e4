# ruff: noqa
# A component as users write it for seldon-core: routes big first features to child 1,
# predicts its input, and appends each feedback it gets to a file (one JSON line).
import json


class FeedbackLog:
    def __init__(self, path="", label=""):
        self.path = path
        self.label = label

    def route(self, features, feature_names):
        return 1 if features[0][0] > 5 else 0

    def predict(self, X, names, meta=None):
        return X

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        with open(self.path, "a") as f:
            line = {
                "node": self.label,
                "routing": routing,
                "reward": reward,
                "features": features.tolist(),
                "truth": truth.tolist(),
            }
            f.write(json.dumps(line) + "\n")
