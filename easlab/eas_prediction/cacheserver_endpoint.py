"""``eas_prediction.cacheserver_endpoint``."""

from __future__ import annotations

from easlab.client.endpoints import (
    CacheServerEndpoint,
    Endpoint,
)

__all__ = ["CacheServerEndpoint", "Endpoint"]
