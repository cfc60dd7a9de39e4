"""Routes: which service answers ``/api/predict/{name}``, and blue-green weights.

Every service has a route under its own name. ``release`` turns the original
service's route into a weighted pair (smooth weighted round robin, so 20% is
exactly 1 request in 5) and closes the new service's own route; deleting
either side of the pair sends all of the entry's traffic to the other (the
survivor's record keeps that route, ``entries_of``, for a restarted kernel).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from easlab.kernel.service import Service


_SERVING = ("Running", "Updating")


class Route:
    """An entry name, the token callers present there, and its weighted backends."""

    __slots__ = ("name", "token", "backends", "_current", "single")

    def __init__(self, name: str, token: str, backends: list[tuple[Service, int]]) -> None:
        self.name = name
        self.token = token
        self.backends: list[tuple[Service, int]] = []
        self._current: list[int] = []
        self.single: Service | None = None
        self.set_backends(backends)

    def set_backends(self, backends: list[tuple[Service, int]]) -> None:
        self.backends = [(svc, max(0, int(w))) for svc, w in backends]
        self._current = [0] * len(self.backends)
        live = [svc for svc, w in self.backends if w > 0]
        self.single = live[0] if len(live) == 1 else None

    def pick(self) -> Service | None:
        """The next backend by smooth weighted round robin (nginx's algorithm).

        A side of a blue-green pair that is not serving (stopped, failed) gets no
        share while the other side serves, as when it is deleted; with no side
        serving, the weighted choice stands and that service answers why (503).
        """
        if self.single is not None:
            return self.single
        total = 0
        best = -1
        current = self._current
        for i, (svc, weight) in enumerate(self.backends):
            if svc.status not in _SERVING:
                continue
            current[i] += weight
            total += weight
            if best < 0 or current[i] > current[best]:
                best = i
        if total == 0 or best < 0:
            return next((svc for svc, w in self.backends if w > 0), None)
        current[best] -= total
        return self.backends[best][0]

    def weights(self) -> dict[str, int]:
        return {svc.name: w for svc, w in self.backends}


class Router:
    """Entry name → Route; lookups accept sub-paths (``/api/predict/name/extra``)."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}

    def lookup(self, name: str) -> Route | None:
        route = self.routes.get(name)
        if route is not None:
            return route
        while "/" in name:
            name = name.rsplit("/", 1)[0]
            route = self.routes.get(name)
            if route is not None:
                return route
        return None

    def open(self, service: Service) -> None:
        """Give a service its own route (create, or reopen after its pair is gone)."""
        self.routes[service.name] = Route(service.name, service.token, [(service, 100)])

    def close(self, name: str) -> None:
        self.routes.pop(name, None)

    def release(self, entry: Service, new: Service, weight: int) -> None:
        """Send ``weight`` % of ``entry``'s route to ``new``; ``new``'s own route closes."""
        route = self.routes.get(entry.name)
        if route is None:
            route = Route(entry.name, entry.token, [])
            self.routes[entry.name] = route
        route.set_backends([(entry, 100 - weight), (new, weight)])
        if new.name != entry.name:
            self.close(new.name)

    def serve_as(self, entry: str, token: str, service: Service) -> None:
        """Send all of ``entry``'s traffic to ``service`` (a restored survivor of a
        blue-green pair whose other side, the entry, was deleted)."""
        self.routes[entry] = Route(entry, token, [(service, 100)])

    def entries_of(self, service: Service) -> dict[str, str]:
        """The routes other than its own that send all their traffic to ``service``
        (what its deleted blue-green partner left it): entry name -> token."""
        return {
            name: route.token
            for name, route in self.routes.items()
            if name != service.name
            and route.backends
            and all(svc is service for svc, _ in route.backends)
        }

    def forget(self, service: Service) -> list[Service]:
        """Remove a deleted service from every route; the services that take its traffic."""
        survivors: list[Service] = []
        for name, route in list(self.routes.items()):
            if not any(svc is service for svc, _ in route.backends):
                continue
            rest = [(svc, w) for svc, w in route.backends if svc is not service]
            if not rest:
                del self.routes[name]
                continue
            # all of the entry's traffic goes to what is left
            route.set_backends([(svc, 100 // len(rest)) for svc, _ in rest])
            survivors.extend(svc for svc, _ in rest)
        return survivors

    def entry_of(self, service: Service) -> Route | None:
        """The weighted route a released service serves behind, if any."""
        for route in self.routes.values():
            if len(route.backends) > 1 and any(svc is service for svc, _ in route.backends):
                return route
        return None

    def names(self) -> list[str]:
        return sorted(self.routes)
