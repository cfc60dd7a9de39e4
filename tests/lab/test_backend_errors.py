"""The panel's server side when the kernel refuses it or the browser sends nonsense:
a JSON ``{"error": ...}`` the panel can show, never a bare 500."""

from __future__ import annotations

import http.server
import json
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from easlab.client.control import KernelClient
from easlab.errors import EaslabError
from easlab.lab.backend import PanelBackend, PanelError
from tests.lab.test_panel_security import _login, _xsrf


def test_a_stale_admin_token_is_a_panel_error_that_says_so(kernel):
    # the runtime file the Jupyter server read belongs to an earlier kernel on that port
    stale = KernelClient(kernel.endpoint, admin_token="stale-admin-token-0000")
    backend = PanelBackend(lambda start: stale)
    with pytest.raises(PanelError) as err:
        backend.state()
    # 502, not the kernel's 401: the browser's Jupyter login is fine
    assert err.value.status == 502
    assert "wrong admin token" in err.value.message and "EASLAB_ADMIN_TOKEN" in err.value.message
    with pytest.raises(PanelError) as err:
        backend.act("anything", "token", {})
    assert err.value.status == 502 and "admin token" in err.value.message


def test_a_kernel_that_cannot_start_is_a_panel_error():
    def broken(start: bool):
        raise EaslabError("the kernel did not come up in 30 s: see its log")

    with pytest.raises(PanelError) as err:
        PanelBackend(broken).start_kernel()
    assert err.value.status == 502 and "did not come up" in err.value.message


@pytest.mark.timeout(240)
def test_bad_requests_answer_json_errors(lab):
    api = f"{lab['url']}/easlab-lab/api"
    browser = _login(lab)
    r = browser.get(f"{api}/state?window=abc", timeout=30)
    assert r.status_code == 400 and "window must be whole seconds" in r.json()["error"]
    for body in ("{not json", "[1, 2]"):
        r = browser.post(f"{api}/services/x/scale", data=body, headers=_xsrf(browser), timeout=30)
        assert r.status_code == 400, (body, r.status_code, r.text)
        assert "must be a JSON object" in r.json()["error"]
    # no kernel runs in this lab yet: an action says so, as JSON
    r = browser.post(f"{api}/services/x/stop", data="{}", headers=_xsrf(browser), timeout=30)
    assert r.status_code == 503 and "kernel" in r.json()["error"]


@contextmanager
def _not_a_kernel(body: bytes) -> Iterator[str]:
    """Another program on the recorded port: it answers every path 200 with ``body``."""

    class Answer(http.server.BaseHTTPRequestHandler):
        def _answer(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _answer

        def log_message(self, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.parametrize("body", [b"[]", b"{}", b'{"services": [1]}', b'{"services": ["a"]}'])
def test_an_answer_of_another_shape_is_a_panel_error_that_says_so(body):
    with _not_a_kernel(body) as endpoint:
        other = KernelClient(endpoint, admin_token="admin-token-of-the-panel")
        backend = PanelBackend(lambda start: other)
        calls = [backend.state] + [
            lambda action=action: backend.act("svc", action, {})
            for action in ("stop", "start", "token", "workers", "scale", "delete")
        ]
        for call in calls:
            try:
                call()
            except PanelError as err:
                assert err.status in (400, 502), (body, err.status)
                if err.status == 502:
                    assert endpoint in err.message and "easlab kernel status" in err.message
                assert "admin-token-of-the-panel" not in err.message
        # the list view always notices: it reads every field
        with pytest.raises(PanelError) as err:
            backend.state()
        assert err.value.status == 502 and "shape the panel does not know" in err.value.message


@pytest.mark.timeout(240)
def test_a_recorded_endpoint_that_is_not_a_kernel_answers_json_errors(lab):
    api = f"{lab['url']}/easlab-lab/api"
    browser = _login(lab)
    # kernel.json records a live pid (ours) whose port another program now holds
    for body, status in ((b"{}", 502), (b"[]", 500)):
        with _not_a_kernel(body) as endpoint:
            record = {"endpoint": endpoint, "pid": os.getpid(), "admin_token": "admin-xyz-0000"}
            (lab["home"] / "kernel.json").write_text(json.dumps(record))
            r = browser.get(f"{api}/state", timeout=30)
            # the panel shows {"error": ...}; Jupyter's own {"message": "Unhandled error"}
            # read "easlab: HTTP 500"
            assert r.status_code == status, (body, r.status_code, r.text)
            error = r.json()["error"]
            assert "easlab kernel status" in error and "admin-xyz-0000" not in error
            assert "Traceback" not in r.text
    (lab["home"] / "kernel.json").unlink()


def test_a_recorded_kernel_that_does_not_answer_is_not_no_kernel(tmp_path, monkeypatch):
    # a live kernel process whose port takes connections and never answers (busy, hung):
    # the panel said "No easlab kernel is running" and its "Start a kernel" button started
    # a second kernel that nothing records as the default, so the panel kept saying so
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # connections wait in the backlog: accepted by the OS, never answered
    endpoint = f"http://127.0.0.1:{listener.getsockname()[1]}"
    monkeypatch.setenv("EASLAB_HOME", str(tmp_path))
    monkeypatch.delenv("EASLAB_ENDPOINT", raising=False)
    record = {"endpoint": endpoint, "pid": os.getpid(), "admin_token": "admin-hung-0000"}
    (tmp_path / "kernel.json").write_text(json.dumps(record))
    backend = PanelBackend()
    try:
        with pytest.raises(PanelError) as err:
            backend.state()
        assert err.value.status == 504
        message = err.value.message
        assert f"pid {os.getpid()}" in message and "does not answer" in message
        assert "easlab kernel stop" in message and "admin-hung-0000" not in message
        with pytest.raises(PanelError) as err:
            backend.start_kernel()
        assert err.value.status == 409 and "does not answer" in err.value.message
        assert [p.name for p in tmp_path.glob("runtime/kernel-*.json")] == []  # none started
    finally:
        listener.close()
        from easlab.client import local

        for kernel in local._background:  # one started by the code before this fix
            kernel.stop()
        local._background.clear()


def test_start_with_an_endpoint_set_where_nothing_runs_says_so(monkeypatch):
    # EASLAB_ENDPOINT in Jupyter's environment: connect(start=True) takes it as given,
    # so "Start a kernel" answered 200 and the panel went on saying no kernel runs
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # nothing listens once it is closed
    monkeypatch.setenv("EASLAB_ENDPOINT", f"http://127.0.0.1:{port}")
    with pytest.raises(PanelError) as err:
        PanelBackend().start_kernel()
    assert err.value.status == 502
    assert f"EASLAB_ENDPOINT=http://127.0.0.1:{port}" in err.value.message
    assert "unset EASLAB_ENDPOINT" in err.value.message
