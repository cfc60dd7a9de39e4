"""``eas_prediction.queue_types``: the queue-service messages (``queueservice_pb2``)."""
