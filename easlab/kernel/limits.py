"""``HttpLimits``: what one client may hold of the kernel's HTTP server, and for how long.

The defaults are those of production servers, chosen so that a normal client
never meets them while a slow or hostile one cannot hold connections or memory
without bound (issue 17):

================== ======== ==========================================================
limit              default  what it follows
================== ======== ==========================================================
header_timeout     60 s     nginx ``client_header_timeout`` 60 s, Node ``headersTimeout`` 60 s
body_timeout       60 s     nginx ``client_body_timeout`` 60 s (time between two reads)
min_body_rate      64 KiB/s after a body's first ``body_timeout`` seconds, its average since
                            then; Kestrel ``MinRequestBodyDataRate`` (240 B/s after a 5 s
                            grace) and Apache ``mod_reqtimeout`` (``body=20,MinRate=500``)
                            are the model, at a rate for the networks a kernel serves (see
                            the field)
keepalive_timeout  75 s     nginx ``keepalive_timeout`` 75 s; longer than clients keep an
                            idle pooled connection (httpx 5 s, aiohttp 15 s), so the client
                            closes first and never sends on a connection being closed
max_url_size       8 KiB    nginx ``large_client_header_buffers`` (8 KiB a line, else 414),
                            Apache ``LimitRequestLine`` 8190
max_header_size    64 KiB   tornado (Jupyter's server) ``max_header_size`` 64 KiB; nginx 32
                            KiB in all, Node and h11 16 KiB
max_headers        100      Apache ``LimitRequestFields`` and gunicorn 100 (Node 2000)
max_body_buffer    512 MiB  all request bodies held at once, every connection together
                            (8 bodies of the default ``--max-body``; never below it), so
                            that clients without a token cannot run the kernel out of
                            memory with many large bodies (503 above)
max_connections    1000     nginx's shipped ``worker_connections 1024`` (a load test at
                            16 connections is far below); ``easlab serve`` raises the
                            open-file limit to fit it, so the answer past it can be sent.
                            ``ADMIN_RESERVE`` more are kept for calls with the admin
                            token, so that the owner can still act when it is reached
================== ======== ==========================================================

``0`` turns a limit off. A request the kernel is working on (waiting for the
model) is never timed out: only a stalled read or an idle keep-alive
connection is closed.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, fields, replace
from typing import Any

#: connections past ``max_connections`` kept for the owner: one is served only for a
#: request that carries the admin token, anything else there gets the same 503 as
#: past the cap (HttpConnection.connection_made). A handful suffice: the owner needs
#: one call (``easlab kernel status``, ``stop``) to see and end what fills the kernel.
ADMIN_RESERVE = 8


def _limit(default: float, metavar: str, help: str) -> Any:  # noqa: A002
    return field(default=default, metadata={"metavar": metavar, "help": help})


@dataclass(frozen=True)
class HttpLimits:
    """Timeouts and sizes the kernel's HTTP server enforces; ``0`` turns one off.

    >>> LocalKernel(port=0, limits=HttpLimits(header_timeout=5))   # doctest: +SKIP
    """

    header_timeout: float = _limit(
        60.0,
        "SECONDS",
        "close a connection whose request head (request line and headers) is not complete "
        "this long after its first byte, or after connecting (408 once a request began)",
    )
    body_timeout: float = _limit(
        60.0,
        "SECONDS",
        "answer 408 and close when a request body stalls this long between two reads",
    )
    # Why 64 KiB/s: the kernel serves this machine (loopback, GB/s) or a LAN, where any
    # client sends far faster (1 Mbit/s is 122 KiB/s); a body of --max-body's default
    # 64 MiB then gets at most body_timeout + 17 min. A sender of one byte a second,
    # which body_timeout alone never closes (it counts only the gap between two reads),
    # is closed one body_timeout after its head. Servers on the internet use lower rates
    # (Kestrel 240 B/s) because their clients are phones on bad links.
    min_body_rate: int = _limit(
        64 * 1024,
        "BYTES_PER_S",
        "answer 408 and close when a request body, after its first --body-timeout seconds, "
        "has averaged fewer bytes a second than this, so a slow sender cannot hold a "
        "connection for ever",
    )
    keepalive_timeout: float = _limit(
        75.0, "SECONDS", "close a keep-alive connection idle this long between requests"
    )
    max_url_size: int = _limit(
        8 * 1024, "BYTES", "longest request target (path and query) accepted (414 above)"
    )
    max_header_size: int = _limit(
        64 * 1024,
        "BYTES",
        "largest total of header names and values in one request (431 above)",
    )
    max_headers: int = _limit(
        100, "COUNT", "most header fields (distinct names) in one request (431 above)"
    )
    max_body_buffer: int = _limit(
        512 * 1024 * 1024,
        "BYTES",
        "most bytes of request bodies the kernel holds at once, all connections together "
        "(never below --max-body); a body that would pass it is answered 503",
    )
    max_connections: int = _limit(
        1000,
        "COUNT",
        "most client connections open at once; past it a new one is answered 503 and closed "
        f"(unless it calls with the admin token: {ADMIN_RESERVE} more are kept for those)",
    )

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            count = isinstance(f.default, int)  # a size or a count, not seconds
            if isinstance(value, float) and count and value.is_integer():
                value = int(value)
                object.__setattr__(self, f.name, value)
            if (
                isinstance(value, bool)
                or not isinstance(value, int if count else (int, float))
                or value < 0
            ):
                kind = "a whole number" if count else "a number of seconds"
                raise ValueError(
                    f"HttpLimits.{f.name} must be {kind} >= 0 (0 turns it off), got {value!r}"
                )

    # -- how the server reads them -------------------------------------------------

    def cap(self, name: str) -> int:
        """A size limit as a plain bound for the hot path: off (0) is no bound."""
        value = int(getattr(self, name))
        return value if value > 0 else sys.maxsize

    @property
    def sweep_interval(self) -> float | None:
        """How often the server looks for stalled and idle connections (None: never).

        A timeout then fires between its value and its value plus this interval.
        """
        timeouts = [
            t for t in (self.header_timeout, self.body_timeout, self.keepalive_timeout) if t
        ]
        if timeouts:
            return min(1.0, min(timeouts) / 4)
        return 1.0 if self.min_body_rate else None

    # -- what clients are told (the flag that raises each limit is named) ----------

    def url_too_long(self, size: int) -> str:
        return (
            f"request target of {size} bytes or more is above the kernel's limit of "
            f"{self.max_url_size} bytes; send the data in the body, or start the kernel "
            "with a larger --max-url-size (easlab serve --max-url-size BYTES)"
        )

    def headers_too_big(self, size: int) -> str:
        return (
            f"request headers of {size} bytes or more are above the kernel's limit of "
            f"{self.max_header_size} bytes (header names and values together); send fewer or "
            "smaller headers, or start the kernel with a larger --max-header-size "
            "(easlab serve --max-header-size BYTES)"
        )

    def trailers_too_big(self, size: int) -> str:
        return (
            f"chunked request body: {size} bytes or more of chunk extensions or trailer fields "
            f"with no body data, above the kernel's limit of {self.max_header_size} bytes for "
            "a head; the kernel reads no trailers: send the body without them, or start the "
            "kernel with a larger --max-header-size (easlab serve --max-header-size BYTES)"
        )

    def too_many_headers(self) -> str:
        return (
            f"request has more than {self.max_headers} header fields, the kernel's limit; send "
            "fewer, or start the kernel with a larger --max-headers (easlab serve --max-headers N)"
        )

    def head_timed_out(self) -> str:
        return (
            f"request head (request line and headers) not complete after "
            f"{self.header_timeout:g} s; the kernel closes stalled connections (easlab serve "
            "--header-timeout SECONDS)"
        )

    def body_timed_out(self) -> str:
        return (
            f"request body stalled: no bytes for {self.body_timeout:g} s; the kernel closes "
            "stalled connections (easlab serve --body-timeout SECONDS)"
        )

    def body_too_slow(self, received: int, seconds: float) -> str:
        return (
            f"request body too slow: {received} bytes in {seconds:.0f} s, below the kernel's "
            f"minimum of {self.min_body_rate} bytes a second once a body has taken "
            f"{self.body_timeout:g} s; send the body at once, or start the kernel with a "
            "smaller --min-body-rate (easlab serve --min-body-rate BYTES_PER_S; 0 turns it off)"
        )

    def body_buffer_full(self, held: int, size: int, limit: int, so_far: bool = False) -> str:
        what = f"{size} bytes so far" if so_far else f"{size} bytes"
        return (
            f"the kernel already holds {held} bytes of request bodies, and this body "
            f"({what}) would pass its limit of {limit} bytes for all connections together; "
            "retry later, send smaller bodies, or start the kernel with a larger "
            "--max-body-buffer (easlab serve --max-body-buffer BYTES)"
        )

    def unchecked_bodies_full(self, held: int, size: int, limit: int, so_far: bool = False) -> str:
        what = f"{size} bytes so far" if so_far else f"{size} bytes"
        return (
            f"the kernel already holds {held} bytes of bodies whose EAS signature it can check "
            f"only once they are in, and this body ({what}) would pass its limit of {limit} "
            "bytes for such bodies (a quarter of --max-body-buffer); send the Content-MD5 "
            "header (the hex md5 of the body) with the signature, as the official client "
            "does: the kernel then checks the signature before it reads the body"
        )

    def too_many_connections(self, open_files: int | None = None) -> str:
        """``open_files``: the open-file limit the cap was lowered to fit (server.py)."""
        if open_files is not None:
            return (
                f"the kernel already holds {self.max_connections} connections, its limit, "
                f"lowered to fit its open-file limit of {open_files} (ulimit -n); retry "
                "later, reuse connections (keep-alive), or raise that limit where the kernel "
                "starts (ulimit -n 4096, or the hard limit of its container or service) and "
                "restart it; past the limit only calls with the admin token are served"
            )
        return (
            f"the kernel already holds {self.max_connections} connections, its limit; retry "
            "later, reuse connections (keep-alive), or start the kernel with a larger "
            "--max-connections (easlab serve --max-connections N); past the limit only calls "
            "with the admin token are served"
        )

    # -- one declaration for `easlab serve`, `python -m easlab.kernel` and LocalKernel --

    def to_args(self) -> list[str]:
        """The command-line flags that give these limits to ``python -m easlab.kernel``."""
        return [arg for f in fields(self) for arg in (_flag(f.name), str(getattr(self, f.name)))]

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> HttpLimits:
        """The limits parsed by :func:`add_arguments` (defaults for flags not given)."""
        given = {
            f.name: getattr(args, f.name)
            for f in fields(cls)
            if getattr(args, f.name, None) is not None
        }
        return replace(cls(), **given)


def _shown(value: float) -> str:
    """A default as the help shows it: seconds as given, sizes in whole bytes (not 5.4e+08)."""
    return f"{value:g}" if isinstance(value, float) else str(value)


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add one flag per limit (``--header-timeout`` ... ``--max-connections``) to a parser."""
    defaults = HttpLimits()
    for f in fields(HttpLimits):
        default = getattr(defaults, f.name)
        parser.add_argument(
            _flag(f.name),
            type=float if isinstance(default, float) else int,
            default=None,
            metavar=f.metadata["metavar"],
            help=f"{f.metadata['help']} (default {_shown(default)}; 0 turns it off)",
        )
