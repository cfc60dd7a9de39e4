# ruff: noqa
# A component as users write it for seldon-core (the guide's style kept).
class Health:
    def predict(self, X, features_names):
        return X

    def health_status(self):
        response = self.predict([1, 2], ["f1", "f2"])
        assert len(response) == 2, "health check returning bad predictions"
        return response
