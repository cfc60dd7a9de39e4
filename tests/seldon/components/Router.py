# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
class Router:
    def route(self, features, feature_names):
        if features[0][0] < 0:
            return "left"  # not an int: seldon-core answers 400
        return 1 if features[0][0] > 5 else 0
