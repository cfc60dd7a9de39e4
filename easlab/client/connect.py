"""``connect()``: find the kernel to talk to (or start one), or PAI-EAS itself.

Separate from control.py (the control API's client) because finding a kernel
may start one (client/local.py) or choose the cloud (easlab/cloud), and both
of those use the control client.
"""

from __future__ import annotations

import os
from typing import Any

from easlab.client.control import _HOW_TO_START, GIVEN_TOKEN, KernelClient
from easlab.errors import KernelError, KernelNotRunning

__all__ = ["KernelEnvironmentWarning", "connect"]


class KernelEnvironmentWarning(UserWarning):
    """The kernel runs in another Python or easlab version than this notebook."""


def _check_environment(info: dict[str, Any]) -> None:
    """Warn when the kernel found is not this environment's: creates would then fail
    far from the cause (a runtime installed here but not there)."""
    import sys
    import warnings

    from easlab import __version__

    differences = []
    python, prefix = info.get("python"), info.get("prefix")
    if prefix and os.path.realpath(str(prefix)) != os.path.realpath(sys.prefix):
        differences.append(f"its Python is {python}, this notebook's is {sys.executable}")
    if info.get("version") and info["version"] != __version__:
        differences.append(f"it runs easlab {info['version']}, this is easlab {__version__}")
    if differences:
        missing = [name for name, ok in (info.get("runtimes") or {}).items() if not ok]
        lacks = f"; it cannot load {', '.join(missing)}" if missing else ""
        warnings.warn(
            KernelEnvironmentWarning(
                f"the easlab kernel at {info.get('endpoint')} was started from another "
                f"environment: {'; '.join(differences)}{lacks}. Processors run with the "
                "kernel's packages; to use this environment's, stop it "
                "(easlab.connect().shutdown()) and connect(start=True) again"
            ),
            stacklevel=3,
        )


def _from_runtime_file(admin_token: str | None = None) -> tuple[KernelClient | None, str]:
    """A client of the kernel recorded in the runtime file, if it is alive and answers;
    else None and what was tried, for the message. Its admin token: ``admin_token``, else
    ``$EASLAB_ADMIN_TOKEN``, else the file's."""
    from easlab.runtime import ADMIN_TOKEN_ENV, read_runtime, runtime_file

    data = read_runtime()  # None when absent, unreadable or its pid is dead
    if data is None:
        return None, f"no running easlab kernel is recorded in {runtime_file()}"
    client = KernelClient(str(data["endpoint"]), timeout=3)
    if admin_token:
        client.use_admin_token(admin_token, GIVEN_TOKEN)
    elif not os.environ.get(ADMIN_TOKEN_ENV, "").strip() and data.get("admin_token"):
        # $EASLAB_ADMIN_TOKEN, set, comes first (client.admin_token): an explicit setting
        # beats a file, as it does with an endpoint given
        client.use_admin_token(str(data["admin_token"]), f"the runtime file {runtime_file()}")
    try:
        info = client.info()
    except KernelError as exc:
        if exc.status == 401:  # a kernel answers, and refuses the token: say which one
            raise
        return None, (
            f"no easlab kernel answers at {client.endpoint}, the kernel {runtime_file()} "
            f"records (pid {data['pid']})"
        )
    _check_environment(info)
    client.timeout = 60
    return client, ""


def connect(
    endpoint: str | None = None,
    start: bool = False,
    *,
    admin_token: str | None = None,
    target: str | None = None,
    region: str | None = None,
    pai_endpoint: str | None = None,
    oss: str | None = None,
    pai_timeout: float | None = None,
) -> KernelClient:
    """A client of the local kernel, or of PAI-EAS itself with ``target="pai"``.

    ``connect(target="pai", region="cn-hangzhou", oss="oss://bucket/prefix")`` (or
    ``connect("pai://cn-hangzhou")``) returns an ``easlab.cloud.PaiClient`` with the
    same verbs, over the official SDK (easlab/cloud/client.py; ``pai_endpoint``
    overrides the API host; ``pai_timeout``: seconds each API call waits for its
    answer, default ``$EASLAB_PAI_TIMEOUT``, else 60).

    Order: ``endpoint`` given → ``$EASLAB_ENDPOINT`` (``pai://REGION`` there means
    PAI-EAS, as given here, unless ``target="local"``) → the kernel recorded in
    ``$EASLAB_HOME/kernel.json`` if alive → with ``start=True`` a new
    background kernel (it outlives the notebook until ``shutdown()``) → else
    ``KernelNotRunning``. The control API's ``admin_token``, unless given:
    ``$EASLAB_ADMIN_TOKEN``, else the kernel's runtime file (with or without an
    ``endpoint``); a refused token's error says which of these it came from.
    """
    env = os.environ.get("EASLAB_ENDPOINT", "").strip()
    if env.startswith("pai://"):
        if not endpoint and target in (None, ""):
            endpoint = env  # PAI-EAS for every call of this environment, as connect("pai://R")
        env = ""  # not a kernel: target="local" looks for the local one
    if target == "pai" or (endpoint or "").startswith("pai://"):
        from easlab.cloud.client import connect_pai

        if endpoint and endpoint.startswith("pai://"):
            region = region or endpoint[len("pai://") :].strip("/") or None
        return connect_pai(  # type: ignore[return-value]
            region, endpoint=pai_endpoint, oss=oss, timeout=pai_timeout
        )
    if target not in (None, "", "local"):
        raise ValueError(f"target is 'local' or 'pai', not {target!r}")
    if endpoint:
        return KernelClient(endpoint, admin_token=admin_token)
    if env:
        return KernelClient(env, admin_token=admin_token, given_as="$EASLAB_ENDPOINT")
    found, tried = _from_runtime_file(admin_token)
    if found:
        return found
    if start:
        from easlab.client.local import start_background

        endpoint, token = start_background()
        return KernelClient(endpoint, admin_token=token)
    why = "names PAI-EAS, not a kernel" if os.environ.get("EASLAB_ENDPOINT") else "is unset"
    raise KernelNotRunning(f"{tried}, and $EASLAB_ENDPOINT {why}: {_HOW_TO_START}")
