"""The control plane's lock: admin token, Host and Origin checks, JSON-only bodies.

Anything under ``/easlab/v1`` can start code as the user (a python processor
is a program), so it gets the protections Jupyter Server gives its API:

- ``Authorization: Bearer <admin token>`` on every call (compared in constant
  time; 401 otherwise, without echoing what was sent);
- ``Host`` must name this kernel (its bind address, ``localhost``,
  ``127.0.0.1``, ``[::1]`` or an ``--allow-host`` name), else 403: a
  DNS-rebinding page reaches 127.0.0.1 under its own host name;
- an ``Origin`` header must be the kernel's own (or ``--allow-origin``), else
  403: browsers send one with every cross-site fetch;
- a body must be ``application/json`` (415 otherwise): an HTML form or a
  ``no-cors`` fetch can only send the "simple" content types, so they never
  get as far as the token check.

The data plane (``/api/predict``) stays as on EAS: any client with the
service's token.
"""

from __future__ import annotations

import argparse
import hmac
import ipaddress
import secrets
from collections.abc import Iterable
from urllib.parse import urlsplit

from easlab.runtime import ADMIN_TOKEN_ENV, WILDCARD_HOSTS

_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1"}
_BEARER = ("bearer ", "token ")


def new_admin_token() -> str:
    """A fresh admin token (256 bits, URL-safe)."""
    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    """Whether binding to ``host`` keeps the kernel reachable from this machine only."""
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _host_name(value: str) -> str:
    """``Host``/netloc → host name without port, lower case, brackets dropped."""
    value = value.strip().lower()
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value[1:]
    if value.count(":") == 1:
        return value.split(":", 1)[0]
    return value


class ControlGuard:
    """Decides whether one control call may go on; see the module docstring."""

    def __init__(
        self,
        admin_token: str,
        bind_host: str = "127.0.0.1",
        allow_hosts: Iterable[str] = (),
        allow_origins: Iterable[str] = (),
    ) -> None:
        if not admin_token:
            raise ValueError("the control plane needs a non-empty admin token")
        self._token = admin_token.encode()
        hosts = {_host_name(h) for h in allow_hosts if h.strip()}
        self.any_host = "*" in hosts
        bind = _host_name(bind_host)
        self.hosts = _LOOPBACK_NAMES | hosts | ({bind} if bind not in WILDCARD_HOSTS else set())
        self.origins = {o.strip().rstrip("/").lower() for o in allow_origins if o.strip()}

    def refuse(
        self,
        method: bytes,
        host: str | None,
        origin: str | None,
        content_type: str | None,
        authorization: str | None,
        has_body: bool,
    ) -> tuple[int, str] | None:
        """``(status, message)`` when the call must be refused, else None."""
        if host is not None and not self.host_ok(host):
            return 403, (
                f"Host {_host_name(host)!r} is not this kernel's address: the control API "
                "answers only to localhost, 127.0.0.1, [::1], the address it listens on and "
                "names given with `easlab serve --allow-host NAME`"
            )
        if origin is not None and not self.origin_ok(origin, host):
            return 403, (
                f"cross-origin control calls are refused (Origin {origin!r}); call the "
                "control API from Python or the CLI, or start the kernel with "
                "`--allow-origin ORIGIN` for a page you trust"
            )
        if has_body or method in (b"POST", b"PUT", b"PATCH"):
            media = (content_type or "").split(";", 1)[0].strip().lower()
            if has_body and media != "application/json":
                return 415, (
                    f"control calls take JSON: send 'Content-Type: application/json' "
                    f"(got {media or 'none'!r})"
                )
        if not self.token_ok(authorization):
            why = "missing" if not authorization else "wrong"
            return 401, (
                f"{why} admin token: the control API needs 'Authorization: Bearer <token>'. "
                "A kernel on this machine keeps its token in "
                "$EASLAB_HOME/runtime/kernel-<pid>.json (mode 0600), where easlab.connect(), "
                f"LocalKernel and the easlab CLI read it; for a kernel elsewhere set "
                f"{ADMIN_TOKEN_ENV} or pass --admin-token"
            )
        return None

    def host_ok(self, host: str) -> bool:
        return self.any_host or _host_name(host) in self.hosts

    def origin_ok(self, origin: str, host: str | None) -> bool:
        origin = origin.strip().rstrip("/").lower()
        if origin in self.origins or "*" in self.origins:
            return True
        parts = urlsplit(origin)
        # the kernel's own pages (none today) would carry Origin == http://<Host>
        return (
            host is not None
            and parts.scheme in ("http", "https")
            and (parts.netloc == host.strip().lower())
        )

    def token_ok(self, authorization: str | None) -> bool:
        if not authorization:
            return False
        value = authorization.strip()
        lower = value.lower()
        for prefix in _BEARER:
            if lower.startswith(prefix):
                value = value[len(prefix) :].strip()
                break
        return hmac.compare_digest(value.encode(), self._token)


def add_security_arguments(parser: argparse.ArgumentParser, token: bool = True) -> None:
    """The lock's settings, shared by ``easlab serve`` and ``python -m easlab.kernel``.

    ``token=False`` when the parser already has ``--admin-token`` (the CLI's
    common options, where it names the token of the kernel to talk to).
    """
    if token:
        parser.add_argument(
            "--admin-token",
            default=None,
            metavar="TOKEN",
            help="the control API's token (default: $EASLAB_ADMIN_TOKEN, else a new random "
            "one on a loopback host; required with any other --host)",
        )
    parser.add_argument(
        "--allow-host",
        action="append",
        metavar="NAME",
        help="another Host name the control API answers to (repeatable; '*' for any)",
    )
    parser.add_argument(
        "--allow-origin",
        action="append",
        metavar="ORIGIN",
        help="a browser Origin allowed to call the control API, e.g. http://localhost:8888",
    )
