# ruff: noqa
# A router as users write it for seldon-core: route_raw answers a message of its own,
# here the one the request's jsonData.route holds (each way the executor reads a route).
class RouteRaw:
    def route_raw(self, msg):
        return msg["jsonData"]["route"]
