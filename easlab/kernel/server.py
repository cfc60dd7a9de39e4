"""Starting the kernel: settings, the listening socket, the runtime file, shutdown.

``serve_forever`` is ``easlab serve``; the HTTP side is http.py (connections)
and routes.py (what each path does).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import signal
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

from easlab.errors import UnwritableDirError
from easlab.kernel.control import Kernel
from easlab.kernel.guard import ControlGuard
from easlab.kernel.http import DEFAULT_MAX_BODY, HttpConnection
from easlab.kernel.limits import ADMIN_RESERVE, HttpLimits
from easlab.kernel.routes import KernelServer
from easlab.kernel.state import StateDirInUse, StateLock, forget_everything
from easlab.runtime import client_host

__all__ = ["DEFAULT_MAX_BODY", "serve", "serve_forever"]


def reuse_freed_memory() -> None:
    """Have glibc keep freed blocks for reuse instead of giving them back to the system.

    By default a block above 128 KB is mapped fresh and unmapped when freed, so
    every 600 KB body costs ~150 page faults per buffer (measured: 270 faults and
    ~400 us of system time per request, more than the copies themselves). Blocks
    up to 32 MB now come from the heap, which keeps up to 256 MB of free space.
    Other C libraries have no ``mallopt``; there this does nothing.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # glibc's <malloc.h>
    mallopt(m_mmap_threshold, 32 * 1024 * 1024)  # glibc's maximum on 64-bit systems
    mallopt(m_trim_threshold, 256 * 1024 * 1024)


def allow_open_files(connections: int) -> None:
    """Raise the soft open-file limit (up to the hard one) so ``connections`` fit in it.

    Past the soft limit accept() fails and a client gets no answer at all, not the
    503 that max_connections promises; Go raises this limit at start for the same
    reason. Room is kept for the instances' sockets, logs and models.
    """
    try:
        import resource
    except ImportError:  # Windows
        return
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 256
    if soft == resource.RLIM_INFINITY or (soft >= want) or connections == 0:
        return
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if want > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
        except (OSError, ValueError):
            pass


class UnfailingStream:
    """The kernel's stdout or stderr (its log), whose writes a full disk cannot fail.

    A kernel's prints (a service that could not be restored, a fault's traceback)
    go to its log file; on a full disk each raised OSError where it was printed,
    and a control call whose answer came after a print was never answered. What
    cannot be written is dropped; the rest of the stream is the one it wraps.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return int(self._stream.write(text))
        except OSError:
            return len(text)

    def flush(self) -> None:
        with contextlib.suppress(OSError):
            self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


#: open files a kernel keeps for itself, not for connections: its instances' sockets,
#: pipes and logs (about 6 an instance), models, queue files. Half the limit where
#: that is less than this
FILES_KEPT = 256


def fit_open_files(limits: HttpLimits) -> tuple[HttpLimits, int | None]:
    """``limits`` with max_connections lowered to fit the open-file limit, and that limit
    when it was lowered (else None).

    A connection is an open file. Past the soft limit, accept() fails: the client's
    connection was closed with no answer at all (uvloop) or waited unaccepted
    (asyncio), never the 503 that max_connections promises, and the kernel could not
    open a file or start an instance either. ``allow_open_files`` raises the soft
    limit up to the hard one; where the hard limit is lower (``ulimit -n``, a
    container's), the cap comes down to fit, with room for the kernel's own files
    and the connections kept for the owner (ADMIN_RESERVE).
    """
    try:
        import resource
    except ImportError:  # Windows
        return limits, None
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if not limits.max_connections or soft == resource.RLIM_INFINITY:
        return limits, None
    fit = max(1, soft - min(FILES_KEPT, soft // 2) - ADMIN_RESERVE)
    if limits.max_connections <= fit:
        return limits, None
    return replace(limits, max_connections=fit), soft


def _display_host(host: str) -> str:
    return client_host(host)


class KernelConfigError(Exception):
    """The kernel cannot start with these settings (message says which and how to fix)."""


def admin_token_setting(host: str, admin_token: str | None) -> str:
    """The admin token to use: given, else ``$EASLAB_ADMIN_TOKEN``, else a new one.

    A kernel reachable from other machines must not invent one (nobody else
    could know it, and a weak one would be worse): it refuses to start.
    """
    from easlab.kernel.guard import is_loopback, new_admin_token
    from easlab.runtime import ADMIN_TOKEN_ENV

    token = (admin_token or os.environ.get(ADMIN_TOKEN_ENV, "")).strip()
    if token:
        if len(token) < 16:
            raise KernelConfigError(
                "the admin token is too short (under 16 characters); use e.g. "
                "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`"
            )
        return token
    if not is_loopback(host):
        raise KernelConfigError(
            f"--host {host} makes the control API reachable from other machines; give it an "
            f"explicit admin token: set {ADMIN_TOKEN_ENV} (or --admin-token) to a long random "
            "string, and give the same to clients (README: How the kernel is protected)"
        )
    return new_admin_token()


async def serve(
    host: str = "127.0.0.1",
    port: int = 8080,
    state_dir: str | Path | None = None,
    max_body: int = DEFAULT_MAX_BODY,
    ready: Any = None,
    *,
    admin_token: str | None = None,
    allow_hosts: tuple[str, ...] = (),
    allow_origins: tuple[str, ...] = (),
    limits: HttpLimits | None = None,
    idle_timeout: float = 0.0,
    exit_with: int = 0,
    fresh: bool = False,
) -> None:
    """Run the kernel in the current event loop until shutdown is requested.

    The services a kernel had on this state dir come back (kernel/state.py) unless
    ``fresh``, which forgets them and their queues' contents. One kernel at a time
    serves a state dir: with another one on it, this raises KernelConfigError
    naming that kernel (state.py, ``StateLock``).

    ``limits``: the HTTP timeouts and sizes (``HttpLimits``; its defaults when None).
    ``idle_timeout``: stop after that many seconds without services and requests
    (kernel/idle.py; 0 never). ``exit_with``: stop once that process has ended (0: none).
    """
    from easlab import runtime
    from easlab.kernel import idle

    token = admin_token_setting(host, admin_token)
    loop = asyncio.get_running_loop()
    state = Path(state_dir).expanduser() if state_dir else runtime.default_state_dir()
    try:
        runtime.private_dir(state)
        runtime.private_dir(runtime.runtime_dir())  # where clients find us, once listening
    except UnwritableDirError as exc:  # not "cannot listen" (serve's OSError below)
        raise KernelConfigError(str(exc)) from None
    lock = StateLock(state)
    try:
        lock.acquire()  # before --fresh: never wipe the state of a kernel serving it
    except StateDirInUse as exc:
        raise KernelConfigError(str(exc)) from None
    try:
        if fresh:
            forget_everything(state)
        kernel = Kernel(state.resolve(), loop)
        kernel.idle_timeout = idle_timeout  # reported by info(): `easlab kernel status`
        kernel.start_monitor()
        kernel.restore_queues()  # queue clients get answers from the first request
        guard = ControlGuard(token, host, allow_hosts, allow_origins)
        asked = (limits or HttpLimits()).max_connections
        limits, open_files = fit_open_files(limits or HttpLimits())
        app = KernelServer(kernel, guard, max_body, limits)
        if open_files is not None:
            app.open_files = open_files
            print(
                f"easlab kernel: serving at most {limits.max_connections} connections, not "
                f"{asked} (--max-connections): the open-file limit is {open_files} (ulimit "
                "-n); raise it where the kernel starts to serve more",
                flush=True,
            )
        server = await loop.create_server(
            lambda: HttpConnection(app), host, port, reuse_address=True, backlog=1024
        )
        bound = server.sockets[0].getsockname()[1]
        kernel.host, kernel.port = host, bound
        kernel.endpoint = f"http://{_display_host(host)}:{bound}"
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, kernel.shutdown_requested.set)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass
        runtime.write_runtime(
            kernel.endpoint, os.getpid(), kernel.state_dir, kernel.info()["started_at"], token
        )
        lock.note(kernel.endpoint)  # a second kernel on this state dir names us
        from easlab._auth import masked

        print(f"easlab kernel listening on http://{host}:{bound}", flush=True)
        print(
            f"control API admin token {masked(token)}; clients on this machine read it from "
            f"{runtime.kernel_file(os.getpid())}",
            flush=True,
        )
        kernel._background(kernel.restore())
        if ready is not None:
            ready(kernel)
        watcher = loop.create_task(idle.watch(kernel, app, idle_timeout))
        owner = loop.create_task(idle.watch_owner(kernel, exit_with))
        try:
            await kernel.shutdown_requested.wait()
            watcher.cancel()
            owner.cancel()
        finally:
            server.close()
            await kernel.stop_all()
            runtime.remove_runtime(os.getpid())
            print("easlab kernel stopped", flush=True)
    finally:
        lock.release()


def new_event_loop() -> asyncio.AbstractEventLoop:
    """uvloop's event loop where it is installed (libuv: fewer system calls per
    request, the loop under the uvicorn floor in BENCH-ANCHORS), else asyncio's."""
    try:
        import uvloop
    except ImportError:  # e.g. Windows, where uvloop does not exist
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8080,
    state_dir: str | Path | None = None,
    max_body: int | None = None,
    *,
    admin_token: str | None = None,
    allow_hosts: tuple[str, ...] = (),
    allow_origins: tuple[str, ...] = (),
    limits: HttpLimits | None = None,
    idle_timeout: float = 0.0,
    exit_with: int = 0,
    fresh: bool = False,
) -> None:
    """Serve until SIGINT/SIGTERM or ``POST /easlab/v1/shutdown`` (``easlab serve``).

    Prints ``easlab kernel listening on http://HOST:PORT`` once it accepts
    requests; ``port=0`` picks a free port. ``limits``: see ``HttpLimits``.
    """
    limits = limits or HttpLimits()
    for name in ("stdout", "stderr"):
        stream = getattr(sys, name)
        if stream is not None and not isinstance(stream, UnfailingStream):
            setattr(sys, name, UnfailingStream(stream))
    reuse_freed_memory()
    allow_open_files(limits.max_connections)
    try:
        # Once serving, what exists lives as long as the kernel process: keep it out of
        # the collector's full passes, whose pauses would show in the latency tail.
        loop = new_event_loop()
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(
                serve(
                    host,
                    port,
                    state_dir,
                    max_body or DEFAULT_MAX_BODY,
                    ready=lambda _: gc.freeze(),
                    admin_token=admin_token,
                    allow_hosts=allow_hosts,
                    allow_origins=allow_origins,
                    limits=limits,
                    idle_timeout=idle_timeout,
                    exit_with=exit_with,
                    fresh=fresh,
                )
            )
        finally:
            loop.close()
    except KeyboardInterrupt:
        pass
    except KernelConfigError as exc:
        print(f"easlab kernel: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from None
    except OSError as exc:
        print(f"easlab kernel: {_listen_failure(host, port, exc)}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None


def _listen_failure(host: str, port: int, exc: OSError) -> str:
    """One line for a kernel that could not listen: what holds the port, and the way out."""
    import errno

    if exc.errno == errno.EADDRINUSE:
        return (
            f"port {port} on {host} is already in use: stop what holds it (an earlier "
            "`easlab test` or `easlab serve`, a pysdk project's `ENV/bin/python app.py`; "
            "`easlab kernel status` lists easlab's kernels) or pass another port: --port N "
            "(port= in Python), --port 0 for a free one"
        )
    if exc.errno == errno.EACCES and 0 < port < 1024:
        return (
            f"port {port} on {host} needs root (ports below 1024 are privileged): pass "
            "--port 1024 or above (port= in Python), --port 0 for a free one"
        )
    return f"cannot listen on {host}:{port}: {exc.strerror or exc}"
