# ruff: noqa
# A router that learns from feedback (the multi-armed bandit pattern): route() picks a
# child by the first feature, send_feedback() records the routing it is told of.
class FeedbackRouter:
    def __init__(self):
        self.seen = []

    def route(self, features, feature_names):
        return 1 if features[0][0] > 5 else 0

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        self.seen.append([routing, reward])
