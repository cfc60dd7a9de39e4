"""``eas_prediction.queue_types``: the queue-service messages (``queueservice_pb2``)."""

# an attribute of the package, as the official package's (its queue client imports it)
from easlab.eas_prediction.queue_types import queueservice_pb2

__all__ = ["queueservice_pb2"]
