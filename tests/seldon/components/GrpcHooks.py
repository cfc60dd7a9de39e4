# ruff: noqa
# A component written for seldon-core's older gRPC hooks (transform_input_grpc, ...):
# seldon-core 1.18.2 still calls them, over REST too, with the request's JSON dict.
class GrpcHooks:
    def transform_input_grpc(self, request):
        return {"strData": "transform_input_grpc saw %s" % sorted(request)}

    def transform_output_grpc(self, request):
        return {"strData": "transform_output_grpc saw %s" % sorted(request)}

    def route_grpc(self, request):
        return {"data": {"ndarray": [[7]]}, "meta": {"tags": {"by": "route_grpc"}}}

    def aggregate_grpc(self, request):
        return {"strData": "aggregate_grpc saw %s" % type(request).__name__}

    def predict_grpc(self, request):  # only a gRPC request reaches it
        return {"strData": "predict_grpc"}

    def predict(self, X, names):
        return X
