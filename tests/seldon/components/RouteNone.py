# ruff: noqa
# A router as users write it for seldon-core: -2 routes to no child (the executor then
# answers with the router's own input, unchanged).
class RouteNone:
    def __init__(self):
        self.seen = []

    def route(self, features, feature_names):
        return -2

    def send_feedback(self, features, feature_names, reward, truth, routing=None):
        self.seen.append([routing, reward])
