# ruff: noqa
# A component as users write it for seldon-core: a flask error handler answering text.
import flask


class Busy(Exception):
    def __init__(self, status):
        Exception.__init__(self)
        self.status = status


class TextError:
    model_error_handler = flask.Blueprint("text_errors", __name__)

    @model_error_handler.app_errorhandler(Busy)
    def handle_busy(error):
        # a header of its own, as an API tells a client when to come back
        return f"busy ({error.status})", error.status, {"Retry-After": "3", "X-Busy": "yes"}

    def predict(self, X, features_names, **kwargs):
        raise Busy(int(X[0]))
