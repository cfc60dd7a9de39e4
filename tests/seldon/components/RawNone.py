# ruff: noqa
# A component as users write it for seldon-core: *_raw hooks that answer None.
class RawNone:
    def predict_raw(self, request):
        return None

    def transform_input_raw(self, request):
        return None

    def route_raw(self, request):
        return None

    def aggregate_raw(self, request):
        return None
