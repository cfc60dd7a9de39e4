"""What the panel may ask of the kernel: a short allow-list over ``KernelClient``.

The panel never sees the control API itself: each call here is one of a few
operations (list with traffic, start/stop/delete/scale a service, reveal one
service's token, start a kernel), run with the admin token the Jupyter server
reads from the kernel's runtime file. No answer carries the admin token, and a
service's token only the explicit ``token`` action's answer (the panel's
"reveal token"): lists and service descriptions say ``has_token`` instead.
Kept free of tornado so tests drive it directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from easlab.errors import EaslabError, KernelError, KernelNotRunning

__all__ = ["PanelBackend", "PanelError"]

#: the ServiceDesc fields the panel shows (no spec, signature, token or admin material)
_FIELDS = (
    "name",
    "status",
    "message",
    "url",
    "processor",
    "total_instance",
    "running_instance",
    "pending_instance",
    "current_version",
    "latest_version",
)


class PanelError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PanelBackend:
    """The panel's operations; ``connect`` gives a ``KernelClient`` (or raises KernelNotRunning)."""

    def __init__(self, connect: Callable[[bool], Any] | None = None) -> None:
        self._connect = connect or _default_connect
        # the recorded kernel's own probe goes with the default connect only
        self._stuck: Callable[[], str | None] = _stuck_kernel if connect is None else _never

    def state(self, window: int = 60) -> dict[str, Any]:
        """Whether a kernel runs, and its services with their traffic of the last ``window`` s."""
        try:
            kernel = self._connect(False)
        except KernelNotRunning as exc:
            stuck = self._stuck()
            if stuck:  # not "no kernel" with a button that starts a second one
                raise PanelError(504, stuck) from None
            return {"kernel": None, "message": str(exc), "services": []}
        except EaslabError as exc:
            raise PanelError(_status(exc), str(exc)) from None
        try:
            services = kernel.list()
            metrics = kernel.metrics_all(window)["services"]
        except KernelNotRunning as exc:  # it stopped since connect
            return {"kernel": None, "message": str(exc), "services": []}
        except EaslabError as exc:  # it answers but refuses us (a stale admin token), or hangs
            raise PanelError(_status(exc), str(exc)) from None
        except (AttributeError, KeyError, TypeError) as exc:
            raise _not_easlab(kernel, exc) from None
        try:
            rows = []
            for desc in services:
                row = _shown(desc)
                m = metrics.get(desc["name"], {})
                row["windows"] = m.get("windows", {})
                row["series"] = m.get("series", [])
                rows.append(row)
        except (AttributeError, KeyError, TypeError) as exc:
            raise _not_easlab(kernel, exc) from None
        return {"kernel": {"endpoint": kernel.endpoint}, "services": rows}

    def start_kernel(self) -> dict[str, Any]:
        stuck = self._stuck()
        if stuck:
            raise PanelError(409, stuck)
        try:
            kernel = self._connect(True)
            # connect() takes $EASLAB_ENDPOINT as given, without starting or asking anything:
            # the panel said "started" and went on showing "No easlab kernel is running"
            kernel.info()
        except KernelNotRunning as exc:
            where = os.environ.get("EASLAB_ENDPOINT", "").strip()
            if where:
                raise PanelError(
                    502,
                    f"the Jupyter server's environment sets EASLAB_ENDPOINT={where}, so the "
                    f"panel uses that kernel and starts none; {exc}. Start the kernel there, "
                    "or unset EASLAB_ENDPOINT and restart Jupyter",
                ) from None
            raise PanelError(502, f"could not start a kernel: {exc}") from None
        except EaslabError as exc:
            raise PanelError(_status(exc), f"could not start a kernel: {exc}") from None
        return {"kernel": {"endpoint": kernel.endpoint}}

    def act(self, name: str, action: str, body: dict[str, Any]) -> dict[str, Any]:
        """``stop``, ``start``, ``delete``, ``scale`` (``{"instances": n}``), ``workers`` or
        ``token`` (the service's token: the one answer that carries it) for one service."""
        kernel = self._kernel()
        try:
            if action == "stop":
                return _shown(kernel.stop(name))
            if action == "start":
                return _shown(kernel.start(name))
            if action == "delete":
                return {"deleted": kernel.delete(name).get("deleted", name)}
            if action == "token":
                return {"name": name, "token": kernel.describe(name).get("token")}
            if action == "scale":
                n = body.get("instances")
                if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 64:
                    raise PanelError(400, f"instances must be a whole number 0..64, got {n!r}")
                return _shown(kernel.modify(name, set={"metadata.instance": str(n)}))
            if action == "workers":
                return {"workers": kernel.workers(name)}
        except EaslabError as exc:
            raise PanelError(_status(exc), str(exc)) from None
        except (AttributeError, KeyError, TypeError) as exc:
            raise _not_easlab(kernel, exc) from None
        raise PanelError(404, f"unknown action {action!r}")

    def _kernel(self) -> Any:
        try:
            return self._connect(False)
        except KernelNotRunning as exc:
            raise PanelError(503, str(exc)) from None


def _status(exc: EaslabError) -> int:
    """The panel's status for a kernel's refusal: the kernel's own for what the panel asked
    wrongly (404 unknown service, 400 …); 502 when the kernel refused the Jupyter server
    (401/403: the admin token it read is stale) or failed: the browser's login is fine,
    and a 401 would read as "log in to Jupyter again"."""
    status = exc.status if isinstance(exc, KernelError) else 0
    return status if 400 <= status < 500 and status not in (401, 403) else 502


def _not_easlab(kernel: Any, exc: Exception) -> PanelError:
    """A 200 answer of the wrong shape: something other than an easlab kernel (of this
    version) answers at the recorded endpoint, e.g. another program took a dead kernel's port."""
    return PanelError(
        502,
        f"{kernel.endpoint} answered in a shape the panel does not know "
        f"({type(exc).__name__}: {str(exc)[:80]}); is it an easlab kernel of this easlab? "
        "`easlab kernel status` says which kernel runs; `easlab kernel stop` then "
        "`easlab kernel start` starts a fresh one",
    )


def _shown(desc: Any) -> dict[str, Any]:
    """What the panel may see of a ServiceDesc: ``_FIELDS``, and whether it has a token."""
    row = {k: desc.get(k) for k in _FIELDS}
    row["has_token"] = bool(desc.get("token"))
    return row


def _never() -> str | None:
    return None


def _stuck_kernel() -> str | None:
    """What to do when the recorded kernel's process lives and its port takes connections
    but it does not answer (busy, hung): connect() reports it as no kernel, and a start
    would run a second kernel beside it that nothing records as the default."""
    from easlab.client.control import KernelClient
    from easlab.client.local import kernel_is_down
    from easlab.runtime import client_url, read_runtime, runtime_file

    data = read_runtime()  # None when absent or its pid is dead
    if data is None:
        return None
    endpoint = client_url(str(data["endpoint"]))
    if kernel_is_down(endpoint):
        return None
    probe = KernelClient(endpoint, timeout=3, admin_token=data.get("admin_token") or None)
    try:
        probe.info()
    except KernelNotRunning:
        return None
    except EaslabError as exc:
        return (
            f"the easlab kernel {runtime_file()} records (pid {data['pid']}) is alive but "
            f"does not answer: {exc}. Wait if it is busy, or stop it (`easlab kernel stop`, "
            f"else `kill {data['pid']}`) and start a new one"
        )
    finally:
        probe.close()
    return None


def _default_connect(start: bool) -> Any:
    from easlab.client.connect import connect

    # the panel shows the local kernel: $EASLAB_ENDPOINT=pai://REGION sends the verbs of
    # this environment to PAI-EAS, not the panel
    return connect(None, start=start, target="local")
