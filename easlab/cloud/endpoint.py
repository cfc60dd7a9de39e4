"""Where the PAI-EAS API (or OSS) is reached: https everywhere, http only on loopback."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from easlab.cloud.errors import PaiSetupError


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def resolve_endpoint(value: str, *, what: str = "PAI-EAS endpoint") -> tuple[str, str]:
    """``host[:port]`` or ``scheme://host[:port]`` → ``(scheme, "host:port")``.

    https everywhere; plain http only for a loopback host (a stand-in on this
    machine), which is also the default scheme there.
    """
    text = value.strip().rstrip("/")
    parts = urlsplit(text if "://" in text else "//" + text)
    host = parts.hostname or ""
    try:
        parts.port  # noqa: B018 - a port that is not a number raises here
        odd = bool(parts.path or parts.query or parts.fragment or "@" in parts.netloc)
    except ValueError:
        odd = True
    if not host or odd:
        # a path, a query or user:password@ would be dropped or sent where no one expects:
        # a user name and password in an endpoint would end up in every message naming it
        shown = value if "@" not in value else "an endpoint with user:password@"
        raise PaiSetupError(
            f"{what} takes host[:port] (or https://host[:port]), nothing more; got {shown!r}"
        )
    loopback = is_loopback(host)
    scheme = parts.scheme or ("http" if loopback else "https")
    if scheme not in ("http", "https"):
        raise PaiSetupError(f"{what} {value!r}: only https (and http on loopback) is spoken")
    if scheme == "http" and not loopback:
        raise PaiSetupError(
            f"{what} {value!r}: plain http is allowed only for a loopback host "
            "(credentials and tokens would cross the network in clear); use https"
        )
    return scheme, parts.netloc
