"""The official client's endpoint objects, over easlab's discovery.

``eas_prediction`` code sometimes builds an endpoint by hand
(``GatewayEndpoint(domain, service, logger).get()``); these classes keep those
constructors and methods, and ``WRRScheduler`` picks in the official order.
``PredictClient`` itself uses ``StaticEndpoint`` and ``DiscoveredEndpoint``
(predict_client.py), which balance with easlab's smooth round robin (discovery.py).
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Iterable
from typing import Any

from easlab.client.discovery import Backend, UpstreamSource, VipServerSource
from easlab.client.predict_client import gateway_base, with_scheme
from easlab.errors import PredictException

__all__ = [
    "Endpoint",
    "GatewayEndpoint",
    "VipServerEndpoint",
    "CacheServerEndpoint",
    "WRRScheduler",
    "endpoint_sort_func",
]

# (host, weight) as the official endpoints pass them: ({"ip": ..., "port": ...}, weight)
Item = tuple[dict[str, Any], int]


def endpoint_sort_func(x: Item) -> str:
    """The sort key of an endpoint item: ``"ip:port:weight"``."""
    return f"{x[0]['ip']}:{x[0]['port']}:{x[1]}"


class WRRScheduler:
    """Interleaved weighted round robin over ``(host, weight)`` items, in the official
    scheduler's order: ``schedule()`` / ``get_next(n)``.

    Each round lowers a threshold from the largest weight by the weights' gcd and
    takes, in list order, every item whose weight reaches it: weights 1:3 give
    ``B B A B``. (``PredictClient`` balances with easlab's smooth round robin,
    discovery.py; this class is for code that builds endpoints by hand.) No item
    with a positive weight: None (the official scheduler then hands out zero-weight
    items every other call; SPEC.md §1 counts zero weights as no backend).
    """

    def __init__(self, s: Iterable[Item] | None = None) -> None:
        self.data_set: list[Item] = []
        self.cw = 0
        self.i = -1
        self.max_s: int | None = None
        self.gcd_s: int | None = None
        self.len_s: int | None = None
        self.set_data(s)

    def set_data(self, s: Iterable[Item] | None) -> None:
        """Schedule ``s`` from its start."""
        self.data_set = list(s or [])
        weights = [int(weight) for _, weight in self.data_set]
        self.cw, self.i = 0, -1
        self.max_s = max(weights) if weights else None
        self.gcd_s = math.gcd(*weights) if weights else None
        self.len_s = len(weights) or None

    def reset(self) -> None:
        self.set_data(None)

    def schedule(self) -> Item | None:
        """The next item; None when there is none with a positive weight."""
        if not self.data_set or not self.max_s or self.max_s <= 0:
            return None
        assert self.gcd_s is not None and self.len_s is not None
        while True:
            self.i = (self.i + 1) % self.len_s
            if self.i == 0:
                self.cw -= self.gcd_s
                if self.cw <= 0:
                    self.cw = self.max_s
            item = self.data_set[self.i]
            if int(item[1]) >= self.cw:
                return item

    def get_next(self, n: int = 1) -> Any:
        if n > 1:
            return [self.schedule() for _ in range(n)]
        return self.schedule()


class Endpoint:
    """Backends set by ``set_endpoints`` (or ``sync``); ``get()`` gives ``"ip:port"`` by weight."""

    def __init__(self, logger: logging.Logger | None = None) -> None:
        self.logger = logger or logging.getLogger("easlab.endpoint")
        self.endpoints: list[Item] = []
        self.scheduler: WRRScheduler | None = None
        self._lock = threading.Lock()

    def set_endpoints(self, endpoints: list[Item]) -> None:
        ordered = sorted(endpoints, key=endpoint_sort_func)
        with self._lock:
            if self.scheduler is not None and ordered == self.endpoints:
                self.logger.debug("Service endpoints unchanged, skip it")
                return
            first = self.scheduler is None
            if self.scheduler is None:
                self.scheduler = WRRScheduler(endpoints)
            else:
                self.scheduler.set_data(endpoints)
            self.endpoints = ordered
        self.logger.info(
            "Service endpoints %s to: %s", "initialized" if first else "changed", endpoints
        )

    def get_size(self) -> int:
        with self._lock:
            return len(self.endpoints)

    def sync(self) -> None:
        """Refresh the backends (discovery endpoints override it)."""

    def get(self) -> str:
        with self._lock:
            item = None if self.scheduler is None else self.scheduler.get_next()
        if item is None:
            raise PredictException(
                500,
                "No backend found for the target service: the endpoint has no backend with a "
                "positive weight; call sync() (or set_endpoints()) first",
            )
        host = item[0]
        return f"{host['ip']}:{host['port']}"


def _items(backends: list[Backend]) -> list[Item]:
    return [({"ip": b.ip, "port": b.port}, b.weight) for b in backends]


class GatewayEndpoint(Endpoint):
    """The fixed address of a gateway (or ``custom_url``): ``get()`` always returns it."""

    def __init__(
        self,
        domain: str | None,
        service_name: str,
        logger: logging.Logger | None = None,
        custom_url: str = "",
    ) -> None:
        super().__init__(logger)
        if domain is not None and custom_url:
            # the whole URL of the service, path included (the official endpoint cuts
            # one trailing "/")
            self.domain = with_scheme(custom_url).removesuffix("/")
        else:
            self.domain = gateway_base(domain or "", service_name, os.getenv("NAMESPACE"))

    def set_endpoints(self, endpoints: list[Item]) -> None:
        self.logger.debug("sync nothing for gateway endpoint")

    def get_size(self) -> int:
        return 1

    def get(self) -> str:
        return self.domain


class VipServerEndpoint(Endpoint):
    """Backends of a VIPServer domain; ``sync()`` asks VIPServer."""

    def __init__(self, domain: str, logger: logging.Logger | None = None) -> None:
        super().__init__(logger)
        self.domain = domain

    def get_server(self) -> str:
        """A VIPServer server, at random from its server list (PredictException when none answers)."""
        source = VipServerSource(self.domain)
        try:
            return source.server()
        except Exception as exc:
            raise PredictException(500, f"VIPServer server list: {exc}") from None
        finally:
            source.close()

    def sync(self) -> None:
        source = VipServerSource(self.domain)
        try:
            self.set_endpoints(_items(source()))
        except Exception as exc:  # the official endpoint logs and keeps its backends
            self.logger.error("sync service endpoints error, [%s]: %s", self.domain, exc)
        finally:
            source.close()


class CacheServerEndpoint(Endpoint):
    """Backends from the service-discovery server (direct mode); ``sync()`` asks it."""

    def __init__(
        self, domain: str, service_name: str, logger: logging.Logger | None = None
    ) -> None:
        super().__init__(logger)
        self.domain = domain
        self.service_name = service_name.split("/")[0]
        self.logger.info("Service discovery endpoint is: %s", domain)

    def sync(self) -> None:
        source = UpstreamSource(self.domain, self.service_name)
        try:
            self.set_endpoints(_items(source()))
        except Exception as exc:  # the official endpoint logs and keeps its backends
            self.logger.error("sync service endpoints error, [%s]: %s", source.url, exc)
        finally:
            source.close()
