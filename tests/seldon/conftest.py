"""Seldon fixtures: the real seldon-core 1.18.2 (its own venv, `make seldon-venv`)
serving the same component classes as easlab, one microservice per class."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = Path(__file__).resolve().parent / "components"
SELDON_VENV = ROOT / ".venv-seldon"


def _seldon_python() -> Path:
    exe = SELDON_VENV / "bin" / "python"
    if not exe.exists():
        subprocess.run(["make", "-C", str(ROOT), "seldon-venv"], check=True)
    return exe


def wait_http(url: str, proc: subprocess.Popen | None = None, deadline: float = 60) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before answering {url}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {deadline}s")


class _Microservices:
    """One server per (class, parameters, env), started on first use; ``_start`` says how."""

    def __init__(self) -> None:
        self.procs: dict[tuple[str, ...], tuple[subprocess.Popen, str]] = {}
        self.metrics: dict[tuple[str, ...], str] = {}

    def metrics_url(self, cls: str, parameters: str = "[]") -> str:
        """The class's Prometheus text: ``GET /metrics`` on its metrics port."""
        self.url(cls, parameters)
        return self.metrics[(cls, parameters)]

    def url(
        self,
        cls: str,
        parameters: str = "[]",
        service_type: str = "MODEL",
        env: dict[str, str] | None = None,
    ) -> str:
        """The microservice's base URL; ``env``: settings added to its environment
        (``PAYLOAD_PASSTHROUGH``, ``FLASK_*``), a microservice of its own."""
        key = (cls, parameters, *sorted((env or {}).items()))
        if key not in self.procs:
            http = free_port()
            metrics = free_port(http)  # two servers on one port answered as one (see ports.py)
            args = [cls, "--service-type", service_type, "--http-port", str(http),
                    "--metrics-port", str(metrics), "--grpc-workers", "0",
                    "--single-threaded", "1", "--parameters", parameters]  # fmt: skip
            proc = self._start(args, env or {})
            base = f"http://127.0.0.1:{http}"
            wait_http(base + "/health/ping", proc)
            # the metrics port is another server, which may come up after the HTTP port
            # (seldon-core starts it beside its gunicorn app): a test's first request to
            # it must not race its start
            wait_http(f"http://127.0.0.1:{metrics}/metrics", proc)
            self.procs[key] = (proc, base)
            self.metrics[key] = f"http://127.0.0.1:{metrics}/metrics"
        return self.procs[key][1]

    def _start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        raise NotImplementedError

    def close(self) -> None:
        for proc, _ in self.procs.values():
            _signal_group(proc, signal.SIGTERM)
        for proc, _ in self.procs.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
            _signal_group(proc, signal.SIGKILL)  # whatever of the group is still there


class RealSeldon(_Microservices):
    """Starts ``seldon-core-microservice <Class>`` once per (class, parameters)."""

    def _start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        exe = _seldon_python()
        return subprocess.Popen(
            [str(exe.parent / "seldon-core-microservice"), *args],
            cwd=COMPONENTS,
            env={**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            # its own process group: close() ends the microservice's gunicorn worker
            # and multiprocessing children with it (a terminate of the parent alone
            # left them running, orphaned)
            start_new_session=True,
        )


def _signal_group(proc: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


@pytest.fixture(scope="session")
def real_seldon():
    server = RealSeldon()
    yield server
    server.close()


@pytest.fixture(scope="session")
def components_dir() -> Path:
    if str(COMPONENTS) not in sys.path:
        sys.path.insert(0, str(COMPONENTS))
    return COMPONENTS


@pytest.fixture(scope="module")
def kernel(tmp_path_factory):
    """A serving kernel of its own (its own EASLAB_HOME) for one test module."""
    from easlab.client.local import LocalKernel

    home = tmp_path_factory.mktemp("easlab_home")
    old = os.environ.get("EASLAB_HOME")
    os.environ["EASLAB_HOME"] = str(home)
    with LocalKernel(port=0, state_dir=tmp_path_factory.mktemp("state")) as k:
        yield k
    if old is None:
        os.environ.pop("EASLAB_HOME", None)
    else:
        os.environ["EASLAB_HOME"] = old


class EaslabSeldon(_Microservices):
    """Starts ``easlab seldon <Class>`` (the standalone command) once per (class, parameters),
    with the same arguments as the real microservice."""

    def _start(self, args: list[str], env: dict[str, str]) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-m", "easlab.cli", "seldon", *args],
            cwd=COMPONENTS,
            env={**os.environ, **env, "PYTHONPATH": str(ROOT)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            start_new_session=True,  # close() signals its group, as RealSeldon's
        )


@pytest.fixture(scope="session")
def easlab_seldon():
    server = EaslabSeldon()
    yield server
    server.close()
