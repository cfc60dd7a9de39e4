"""The official client's endpoint objects: where a ``PredictClient`` sends each call.

``GatewayEndpoint`` is one fixed address (gateway mode, or a ``custom_url``);
``CacheServerEndpoint`` (direct mode) and ``VipServerEndpoint`` hold the backends a
``ServiceDiscovery`` lists (discovery.py), picked by easlab's smooth weighted round
robin. ``PredictClient.init()`` makes one of them (``client.endpoint``, of the
official class, as the official client's) and starts the discovery's refresh thread;
``eas_prediction`` code that builds one by hand (``GatewayEndpoint(domain, service,
logger).get()``) keeps those constructors and methods, its ``sync()`` asking once.
``Endpoint`` with ``WRRScheduler`` keeps the official scheduler and its order for
code that sets the backends itself.
"""

from __future__ import annotations

import logging
import math
import os
import re
import threading
from collections.abc import Iterable
from typing import Any

from easlab.client.discovery import (
    DEFAULT_REFRESH_S,
    Backend,
    ServiceDiscovery,
    UpstreamSource,
    VipServerSource,
)
from easlab.errors import PredictException

__all__ = [
    "Endpoint",
    "GatewayEndpoint",
    "DiscoveredEndpoint",
    "VipServerEndpoint",
    "CacheServerEndpoint",
    "WRRScheduler",
    "endpoint_sort_func",
    "gateway_base",
    "with_scheme",
]

# (host, weight) as the official endpoints pass them: ({"ip": ..., "port": ...}, weight)
Item = tuple[dict[str, Any], int]


def gateway_base(endpoint: str, service_name: str, namespace: str | None) -> str:
    """The base URL of a gateway endpoint, as the official client builds it (SPEC.md §1).

    ``host:port`` gets ``http://``; ``http://`` and ``https://`` URLs are kept;
    no endpoint inside an EAS pod means ``http://<service-name-with-dashes>.<NAMESPACE>:8080``.
    """
    if not endpoint:
        if not namespace:
            raise PredictException(
                500,
                "'endpoint' must be set when running outside eas service: pass "
                "PredictClient('http://host:port', 'service') or call set_endpoint()",
            )
        endpoint = f"{service_name.replace('_', '-')}.{namespace}:8080"
    if not endpoint.startswith(("http://", "https://")):
        endpoint = "http://" + endpoint
    base, found, _ = endpoint.partition("/api/predict")
    if found and "/" not in base.split("://", 1)[1]:
        # the service's URL given as the endpoint: sent on, it would reach
        # /api/predict/NAME/api/predict/NAME and be refused as a wrong token
        raise PredictException(
            500,
            f"the endpoint {endpoint!r} holds the service's path: pass the base, "
            f"PredictClient('{base}', '{service_name}'), or the whole URL as "
            f"PredictClient(custom_url='{endpoint}')",
        )
    return endpoint.rstrip("/")


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://")


def with_scheme(url: str) -> str:
    """``url`` with ``http://`` in front when it names no scheme (``host:port/path``), as
    urllib3, the official client's transport, reads a ``custom_url`` without one."""
    return url if _SCHEME.match(url) else "http://" + url


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


class DiscoveredEndpoint(Endpoint):
    """Backends a ``ServiceDiscovery`` keeps (direct and VIPServer mode): ``get()`` the
    next ``"ip:port"`` by smooth weighted round robin, ``get_size()`` and ``endpoints``
    (``[({"ip": .., "port": ..}, weight), ...]``) what discovery lists, ``sync()`` asks
    it now, ``set_endpoints()`` replaces the list until its next answer.

    The backend list lives in the discovery, not in ``Endpoint``'s scheduler, so
    ``Endpoint.__init__`` (which sets that up) is not called.
    """

    def __init__(
        self, discovery: ServiceDiscovery, domain: str, logger: logging.Logger | None = None
    ) -> None:
        self.logger = logger or logging.getLogger("easlab.endpoint")
        self.discovery = discovery
        self.domain = domain

    def pick(self, exclude: Iterable[Backend] | None = None) -> Backend:
        """The next backend, avoiding ``exclude`` (those that failed in this call)."""
        return self.discovery.pick(exclude or ())

    def get(self) -> str:
        """The next backend as ``"ip:port"`` (no scheme, as the official endpoint gives it;
        backends inside a VPC speak plain HTTP)."""
        return self.pick().address

    @property
    def endpoints(self) -> list[Item]:  # type: ignore[override]
        return _items(self.discovery.balancer.backends)

    def get_size(self) -> int:
        return len(self.discovery.balancer.backends)

    def sync(self) -> None:
        """Ask discovery now (a failure is logged, the last list kept)."""
        self.discovery.refresh()

    def set_endpoints(self, endpoints: list[Item]) -> None:
        self.discovery.balancer.set_backends(
            Backend(str(host["ip"]), int(host["port"]), int(weight)) for host, weight in endpoints
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.discovery.describe})"


class VipServerEndpoint(DiscoveredEndpoint):
    """Backends of a VIPServer domain (``ENDPOINT_TYPE_VIPSERVER``)."""

    def __init__(
        self,
        domain: str,
        logger: logging.Logger | None = None,
        *,
        refresh_s: float = DEFAULT_REFRESH_S,
    ) -> None:
        discovery = ServiceDiscovery(
            VipServerSource(domain),
            describe=f"VIPServer domain {domain}",
            refresh_s=refresh_s,
            logger=logger,
        )
        super().__init__(discovery, domain, logger)

    def get_server(self) -> str:
        """A VIPServer server, at random from its server list (PredictException when none answers)."""
        source = VipServerSource(self.domain)
        try:
            return source.server()
        except Exception as exc:
            raise PredictException(500, f"VIPServer server list: {exc}") from None
        finally:
            source.close()


class CacheServerEndpoint(DiscoveredEndpoint):
    """Backends from the EAS service-discovery server (direct mode, ``ENDPOINT_TYPE_DIRECT``)."""

    def __init__(
        self,
        domain: str,
        service_name: str,
        logger: logging.Logger | None = None,
        *,
        refresh_s: float = DEFAULT_REFRESH_S,
    ) -> None:
        source = UpstreamSource(domain, service_name)
        discovery = ServiceDiscovery(
            source, describe=source.url, refresh_s=refresh_s, logger=logger
        )
        super().__init__(discovery, domain, logger)
        self.service_name = service_name.split("/")[0]
        self.logger.info("Service discovery endpoint is: %s", domain)


def _items(backends: Iterable[Backend]) -> list[Item]:
    return [({"ip": b.ip, "port": b.port}, b.weight) for b in backends]
