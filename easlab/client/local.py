"""``LocalKernel``: run a kernel as a child process and talk to it from Python.

The kernel runs in its own session (``start_new_session``), with its output in
``<state_dir>/kernel.log``, so it survives a notebook kernel restart; the
runtime file (runtime.py) lets a later session find it again.

>>> with LocalKernel(port=0) as k:                          # doctest: +SKIP
...     svc = k.create("service.json")
...     svc.client().predict(StringRequest(b"hi"))
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from easlab import runtime
from easlab.errors import KernelError, KernelNotRunning

if TYPE_CHECKING:
    from easlab.client.control import KernelClient, Service
    from easlab.kernel.limits import HttpLimits

_LISTENING = re.compile(rb"easlab kernel listening on (http://\S+)")
_background: list[LocalKernel] = []  # kernels started for connect(start=True); never stopped by us


def _client_endpoint(url: str) -> str:
    return runtime.client_url(url)


class LocalKernel:
    """A kernel process on this machine: started here (``LocalKernel()``) or found (``attach()``).

    ``port=0`` picks a free port; ``state_dir`` holds logs and the model cache
    (default ``$EASLAB_HOME/state``); ``limits`` (``HttpLimits``) sets the HTTP
    timeouts and sizes; ``idle_timeout`` stops it after that many seconds with no
    services and no requests (0: never); ``fresh`` starts it empty, forgetting the
    services and queue contents an earlier kernel left in ``state_dir`` (a kernel
    started again on the same ``state_dir`` otherwise brings them back). Use it as a context manager to stop the
    kernel on exit.
    """

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        state_dir: str | Path | None = None,
        *,
        max_body: int | None = None,
        limits: HttpLimits | None = None,
        timeout: float = 30.0,
        start: bool = True,
        admin_token: str | None = None,
        idle_timeout: float = 0.0,
        fresh: bool = False,
        with_this_process: bool = False,
    ) -> None:
        self.host = host
        self.idle_timeout = idle_timeout
        #: the kernel stops once this process has ended, even killed (``easlab test``)
        self.with_this_process = with_this_process
        #: start empty (``easlab serve --fresh``): forget the services of an earlier kernel
        self.fresh = fresh
        self.requested_port = port
        self.state_dir = Path(state_dir).expanduser() if state_dir else runtime.default_state_dir()
        self.max_body = max_body
        self.limits = limits
        self.timeout = timeout
        self.process: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None
        self.endpoint = ""
        self.log_path = self.state_dir / "kernel.log"
        #: the control API's token; it reaches the child in its environment, never
        #: on its command line (which every user of the machine can read)
        self.admin_token = (
            admin_token or os.environ.get(runtime.ADMIN_TOKEN_ENV) or (secrets.token_urlsafe(32))
        )
        self._client: KernelClient | None = None
        if start:
            self.start()

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> LocalKernel:
        """Start the kernel process and wait until it listens."""
        if self.process is not None and self.process.poll() is None:
            return self
        runtime.private_dir(self.state_dir)
        cmd = [
            sys.executable,
            "-m",
            "easlab.kernel",
            "--host",
            self.host,
            "--port",
            str(self.requested_port),
            "--state-dir",
            str(self.state_dir),
        ]
        if self.max_body is not None:
            cmd += ["--max-body", str(int(self.max_body))]
        if self.idle_timeout:
            cmd += ["--idle-timeout", str(float(self.idle_timeout))]
        if self.fresh:
            cmd.append("--fresh")
        if self.with_this_process:
            cmd += ["--exit-with", str(os.getpid())]
        if self.limits is not None:
            cmd += self.limits.to_args()
        # the kernel's log is the user's business only (it names services and paths)
        fd = os.open(self.log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        if hasattr(os, "fchmod"):  # a log made by an older easlab may be 0644
            os.fchmod(fd, 0o600)
        with open(fd, "ab") as log:
            offset = log.tell()
            self.process = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # outlives a notebook kernel restart
                cwd=str(self.state_dir),
                env={**os.environ, runtime.ADMIN_TOKEN_ENV: self.admin_token},
            )
        self.pid = self.process.pid
        self.endpoint = self._wait_listening(offset)
        return self

    def _wait_listening(self, offset: int) -> str:
        assert self.process is not None
        deadline = time.monotonic() + self.timeout
        delay = 0.005
        while True:
            with open(self.log_path, "rb") as log:
                log.seek(offset)
                text = log.read()
            found = _LISTENING.search(text)
            if found:
                return _client_endpoint(found.group(1).decode())
            code = self.process.poll()
            if code is not None:
                tail = text.decode("utf-8", "replace").strip()[-2000:]
                if tail.startswith("easlab kernel: ") and "\n" not in tail:
                    # the kernel said why in one line (a port in use, a busy state dir):
                    # the answer stays that one line
                    tail = tail.removeprefix("easlab kernel: ")
                    sep = " "
                else:
                    sep = "\n"
                raise KernelError(
                    0, f"the easlab kernel exited with code {code} before listening:{sep}{tail}"
                )
            if time.monotonic() > deadline:
                self._kill()
                raise KernelError(
                    0,
                    f"the easlab kernel did not start listening within {self.timeout:.0f} s; "
                    f"see {self.log_path}",
                )
            time.sleep(delay)
            delay = min(delay * 2, 0.1)

    @classmethod
    def attach(cls) -> LocalKernel:
        """The kernel recorded in the runtime file (``$EASLAB_HOME/kernel.json``)."""
        found = runtime.read_runtime()
        if found is None:
            raise KernelNotRunning(
                f"no running easlab kernel recorded in {runtime.runtime_file()}; "
                "start one with LocalKernel() or `easlab serve`"
            )
        kernel = cls(
            state_dir=found.get("state_dir"), start=False, admin_token=found.get("admin_token")
        )
        kernel.pid = int(found["pid"])
        kernel.endpoint = _client_endpoint(str(found["endpoint"]))
        return kernel

    @property
    def running(self) -> bool:
        if self.process is not None:
            return self.process.poll() is None
        if self.pid is None:
            return False
        try:
            # A background kernel started by this process is our child: reap it, or
            # its zombie would look alive.
            if os.waitpid(self.pid, os.WNOHANG)[0] == self.pid:
                return False
        except ChildProcessError:
            pass
        return runtime.pid_alive(self.pid)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the kernel and its services (SIGTERM, then SIGKILL after ``timeout``)."""
        if self._client is not None:
            self._client.close()
            self._client = None
        if self.pid is None or not self.running:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while self.running and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.running:
            self._kill()

    def _kill(self) -> None:
        if self.pid is None:
            return
        try:
            os.kill(self.pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        if self.process is not None:
            self.process.wait()

    def __enter__(self) -> LocalKernel:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LocalKernel {self.endpoint or '?'} pid={self.pid} {state}>"

    # -- control -----------------------------------------------------------------------

    def admin_headers(self) -> dict[str, str]:
        """The header a raw HTTP call to the control API (``/easlab/v1``) needs."""
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def client(self) -> KernelClient:
        """The control-API client of this kernel."""
        if self._client is None:
            from easlab.client.control import KernelClient

            self._client = KernelClient(self.endpoint, admin_token=self.admin_token)
        return self._client

    def create(self, spec: dict[str, Any] | str | Path, **options: Any) -> Service:
        """Create a service (service.json path, dict, or JSON/YAML text); see ``KernelClient.create``."""
        return self.client.create(spec, **options)

    def service(self, name: str) -> Service:
        return self.client.service(name)

    def services(self) -> list[dict[str, Any]]:
        return self.client.list()

    def delete(self, name: str) -> dict[str, Any]:
        return self.client.delete(name)


def start_background(state_dir: str | Path | None = None) -> tuple[str, str | None]:
    """``(endpoint, admin token)`` of a running kernel, starting a background one if none runs.

    The kernel outlives this Python process; stop it with
    ``easlab.connect().shutdown()`` or ``LocalKernel.attach().stop()``.
    """
    found = runtime.read_runtime()
    if found is not None:
        from easlab.client.control import KernelClient

        endpoint = _client_endpoint(str(found["endpoint"]))
        token = found.get("admin_token") or None
        try:
            KernelClient(endpoint, timeout=3, admin_token=token).info()
            return endpoint, token
        except KernelError:
            pass
    note = runtime.take_stop_note()
    if note is not None:
        # say why there is a new kernel: the old one's services are gone with it
        print(
            f"easlab: the background kernel at {note.get('endpoint')} {note.get('reason')} "
            f"at {note.get('at')}; starting a new one",
            flush=True,
        )
    kernel = LocalKernel(port=0, state_dir=state_dir, idle_timeout=background_idle_timeout())
    _background.append(kernel)
    return kernel.endpoint, kernel.admin_token


def background_idle_timeout() -> float:
    """A background kernel's idle timeout: ``$EASLAB_IDLE_TIMEOUT`` seconds, default 1 h."""
    from easlab.kernel.idle import BACKGROUND_IDLE_S

    raw = os.environ.get("EASLAB_IDLE_TIMEOUT", "").strip()
    try:
        return float(raw) if raw else BACKGROUND_IDLE_S
    except ValueError:
        raise KernelError(
            0, f"EASLAB_IDLE_TIMEOUT={raw!r} is not a number of seconds (0 for never)"
        ) from None


def kernel_is_down(url: str) -> bool:
    """True when ``url`` is on this machine and nothing listens on its port: a local
    kernel that was stopped. A remote endpoint that refuses is a network problem."""
    import socket
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1", "0.0.0.0"):
        return False
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), timeout=1.0):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False
