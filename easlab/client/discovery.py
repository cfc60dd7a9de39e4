"""Direct-mode service discovery and smooth weighted round robin (SPEC.md §1).

In direct (VPC) mode the client skips the gateway: a discovery URL lists the
service's instances with weights, a background thread refreshes the list every
few seconds, and each request goes to the next backend by weighted round robin.
Two discovery sources exist: EAS's cache server (``ENDPOINT_TYPE_DIRECT``) and
Alibaba's VIPServer (``ENDPOINT_TYPE_VIPSERVER``).
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import requests

from easlab.errors import PredictException

#: the logger of a discovery whose client gives none (a PredictClient gives its own)
log = logging.getLogger("easlab.client.discovery")

# The official client's defaults (SPEC.md §1): refresh every 3 s, and the first
# predict waits at most 5 s for the first answer of the discovery URL.
DEFAULT_REFRESH_S = 3.0
DEFAULT_FIRST_WAIT_S = 5.0
# A backend that refused a connection is left aside this long (nginx's fail_timeout),
# unless it is the only one left.
DEFAULT_FAIL_TIMEOUT_S = 10.0
# The official client asks this (Alibaba-internal) address for the VIPServer list.
VIPSERVER_SERVERLIST_URL = "http://jmenv.tbsite.net:8080/vipserver/serverlist"

# The official client reads bare IPv4 addresses (port 80); easlab also takes ``ip:port``.
_SERVER = re.compile(r"\d+\.\d+\.\d+\.\d+(?::\d+)?")


@dataclass(frozen=True)
class Backend:
    """One instance of the service as discovery lists it."""

    ip: str
    port: int
    weight: int

    @property
    def address(self) -> str:
        return f"{self.ip}:{self.port}"


class WeightedRoundRobin:
    """Smooth weighted round robin (nginx's): weights 1:3 give ``B A B B`` — no bursts.

    Each pick adds every candidate's weight to its running score, takes the
    highest score and subtracts the candidates' total weight from it. Zero
    weights are never picked. Thread-safe.
    """

    def __init__(self, backends: Iterable[Backend] = ()) -> None:
        self._lock = threading.Lock()
        self._backends: tuple[Backend, ...] = ()
        self._score: dict[Backend, int] = {}
        self._failed_until: dict[str, float] = {}
        self.set_backends(backends)

    @property
    def backends(self) -> tuple[Backend, ...]:
        return self._backends

    def set_backends(self, backends: Iterable[Backend]) -> bool:
        """Replace the list; keep the round-robin state when nothing changed. True if changed."""
        new = tuple(sorted(backends, key=lambda b: (b.ip, b.port, b.weight)))
        with self._lock:
            if new == self._backends:
                return False
            self._backends = new
            self._score = {b: 0 for b in new}
            return True

    def mark_failed(self, backend: Backend, for_s: float = DEFAULT_FAIL_TIMEOUT_S) -> None:
        """Leave ``backend`` aside for ``for_s`` seconds (it refused a connection)."""
        with self._lock:
            self._failed_until[backend.address] = time.monotonic() + for_s

    def pick(self, exclude: Iterable[Backend] = ()) -> Backend | None:
        """The next backend, avoiding ``exclude`` and recent failures when another one is left.

        None when no backend has a positive weight.
        """
        skip = set(exclude)
        now = time.monotonic()
        with self._lock:
            weighted = [b for b in self._backends if b.weight > 0]
            usable = [b for b in weighted if b not in skip]
            healthy = [b for b in usable if self._failed_until.get(b.address, 0.0) <= now]
            # Preferences, not bans: when every backend failed recently or in
            # this call, try them again rather than fail without a request (a
            # restarted instance gets traffic back; a lone backend gets its retries).
            candidates = healthy or usable or weighted
            if not candidates:
                return None
            total = 0
            best = candidates[0]
            for b in candidates:
                self._score[b] += b.weight
                total += b.weight
                if self._score[b] > self._score[best]:
                    best = b
            self._score[best] -= total
            return best


def parse_upstreams(payload: bytes | str) -> list[Backend]:
    """Backends from a cache-server answer:
    ``{"correlative": [..], "endpoints": {"items": [{"ip", "port", "weight"}, ...]}}``."""
    data = json.loads(payload)
    try:
        items = data["endpoints"]["items"] or []
        return [Backend(str(h["ip"]), int(h["port"]), int(h["weight"])) for h in items]
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(
            f"discovery answer is not {{'endpoints': {{'items': [{{'ip', 'port', 'weight'}}]}}}}: "
            f"{e!r} in {str(payload)[:200]!r}"
        ) from e


def _host_of(endpoint: str) -> tuple[str, str]:
    """(scheme, host[:port]) of an endpoint written with or without a scheme."""
    for scheme in ("http://", "https://"):
        if endpoint.startswith(scheme):
            return scheme, endpoint[len(scheme) :].rstrip("/")
    return "http://", endpoint.rstrip("/")


def upstreams_url(endpoint: str, service_name: str) -> str:
    """The cache server's discovery URL for ``service_name`` (SPEC.md §1).

    The service name is cut at ``/`` (``svc/sink`` is served by ``svc``), and
    ``?internal=true`` is added inside an EAS pod (``NAMESPACE`` and ``POD_NAME`` set),
    as the official client does. The official client forces ``http://``;
    easlab keeps ``https://`` when the endpoint says so.
    """
    scheme, host = _host_of(endpoint)
    service = service_name.split("/")[0]
    internal = os.environ.get("NAMESPACE") is not None and os.environ.get("POD_NAME") is not None
    return f"{scheme}{host}/api/v1/servicediscovery/upstreams/{service}" + (
        "?internal=true" if internal else ""
    )


class UpstreamSource:
    """Fetches the backends of a service from the EAS cache server (``ENDPOINT_TYPE_DIRECT``)."""

    def __init__(self, endpoint: str, service_name: str, timeout_s: float = 5.0) -> None:
        self.url = upstreams_url(endpoint, service_name)
        self.timeout_s = timeout_s
        self._http = requests.Session()
        self._http.trust_env = False

    def __call__(self) -> list[Backend]:
        resp = self._http.get(self.url, timeout=self.timeout_s)
        if resp.status_code != 200:
            raise ValueError(f"HTTP {resp.status_code}: {resp.text[:200]}")
        return parse_upstreams(resp.content)

    def close(self) -> None:
        self._http.close()


class VipServerSource:
    """Fetches the backends of a domain from Alibaba's VIPServer (``ENDPOINT_TYPE_VIPSERVER``).

    As the official client: a random server from ``serverlist_url``, then
    ``/vipserver/api/srvIPXT?dom=<domain>&clusters=DEFAULT``; hosts marked
    ``valid`` are kept.
    """

    def __init__(
        self, domain: str, serverlist_url: str | None = None, timeout_s: float = 5.0
    ) -> None:
        self.domain = domain
        self.url = serverlist_url or VIPSERVER_SERVERLIST_URL
        self.timeout_s = timeout_s
        self._http = requests.Session()
        self._http.trust_env = False

    def server(self) -> str:
        """A VIPServer server, at random from ``serverlist_url``."""
        resp = self._http.get(self.url, timeout=self.timeout_s)
        if resp.status_code != 200:
            raise ValueError(f"VIPServer list {self.url}: HTTP {resp.status_code}")
        servers = _SERVER.findall(resp.text)
        if not servers:
            raise ValueError(f"VIPServer list {self.url} names no server: {resp.text[:200]!r}")
        return str(random.choice(servers))

    def __call__(self) -> list[Backend]:
        server = self.server()
        hosts_url = f"http://{server}/vipserver/api/srvIPXT"
        resp = self._http.get(
            hosts_url,
            params={"dom": self.domain, "clusters": "DEFAULT"},
            timeout=self.timeout_s,
        )
        if resp.status_code != 200:
            raise ValueError(f"{hosts_url}: HTTP {resp.status_code}: {resp.text[:200]}")
        hosts = json.loads(resp.content)["hosts"]
        return [
            Backend(str(h["ip"]), int(h["port"]), int(h["weight"])) for h in hosts if h.get("valid")
        ]

    def close(self) -> None:
        self._http.close()


class ServiceDiscovery:
    """Keeps the backend list of one service fresh in a daemon thread and picks backends.

    ``fetch`` returns the current backends (it raises when discovery fails; the
    last good list is kept). ``pick`` waits up to ``first_wait_s`` for the first
    good answer, then raises ``PredictException(500)``.

    Each refresh is logged to ``logger`` as the official client's endpoints log it:
    a failure at ERROR (``sync service endpoints error, [URL]: ...``), the list at
    DEBUG, a new list at INFO (``Service endpoints initialized to: ...``, then
    ``changed to``), an unchanged one at DEBUG.
    """

    def __init__(
        self,
        fetch: Callable[[], list[Backend]],
        *,
        describe: str,
        refresh_s: float = DEFAULT_REFRESH_S,
        first_wait_s: float = DEFAULT_FIRST_WAIT_S,
        logger: logging.Logger | None = None,
    ) -> None:
        self.fetch = fetch
        self.logger = logger or log
        self.describe = describe
        self.refresh_s = refresh_s
        self.first_wait_s = first_wait_s
        self.balancer = WeightedRoundRobin()
        self.last_error: str | None = None
        self._ready = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._thread = threading.Thread(
            target=self._run, name=f"easlab-discovery {self.describe}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=1.0)
        close = getattr(self.fetch, "close", None)
        if close is not None:
            close()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.refresh_s)

    def refresh(self) -> None:
        """Ask discovery once; keep the previous list when it fails."""
        try:
            backends = self.fetch()
        except Exception as e:  # any failure: log it, keep serving the last good list
            self.last_error = f"{type(e).__name__}: {e}"
            self.logger.error(
                "sync service endpoints error, [%s]: %s", self.describe, self.last_error
            )
            return
        # the official endpoints' (host, weight) items, so that a log reads the same
        items = [({"ip": b.ip, "port": b.port}, b.weight) for b in backends]
        self.logger.debug("%s", items)
        first = not self._ready.is_set()
        if self.balancer.set_backends(backends) or first:
            self.logger.info(
                "Service endpoints %s to: %s", "initialized" if first else "changed", items
            )
        else:
            self.logger.debug("Service endpoints unchanged, skip it")
        self.last_error = None
        self._ready.set()

    def pick(self, exclude: Iterable[Backend] = ()) -> Backend:
        """The next backend by weighted round robin (``exclude``: those that failed in this call)."""
        if not self._ready.wait(self.first_wait_s):
            raise PredictException(
                500,
                f"no backend: service discovery {self.describe} gave no answer within "
                f"{self.first_wait_s:g} s (last error: {self.last_error or 'none yet'}); "
                "check the endpoint and that the service exists",
            )
        backend = self.balancer.pick(exclude)
        if backend is None:
            listed = ", ".join(f"{b.address} (weight {b.weight})" for b in self.balancer.backends)
            raise PredictException(
                500,
                f"No backend found for the target service: discovery {self.describe} lists "
                f"{listed or 'no instance'}, and a backend needs a positive weight",
            )
        return backend
