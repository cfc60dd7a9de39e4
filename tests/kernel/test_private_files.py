"""Every file a kernel writes that holds a secret is private from its first byte.

The kernel is started with umask 0, so a file or folder made with the umask's
mode (and tightened after, or not at all) shows up. The model cache's
``urls.json`` keys are whole URLs, a presigned one's signature included, and it
was written with ``write_text`` (0644 with the usual umask, 0666 here) in a
cache folder made with ``mkdir`` (0755 / 0777); a queue's SQLite file was created
by sqlite with the umask's mode and chmod-ed after.
"""

from __future__ import annotations

import http.server
import os
import stat
import threading

from kernel_helpers import ECHO_APP, app_spec, post

from easlab.client.local import LocalKernel

TOKEN = "private-files-" + "p" * 12
QUEUE_TOKEN = "private-queue-" + "q" * 12
SIGNATURE = "Signature=presigned-" + "g" * 16


class _Model(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Length", "5")
        self.end_headers()
        self.wfile.write(b"model")

    def log_message(self, *args) -> None:
        pass


def test_secrets_are_private_from_the_first_byte(make_app, tmp_path, monkeypatch):
    home, state = tmp_path / "home", tmp_path / "state"
    monkeypatch.setenv("EASLAB_HOME", str(home))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Model)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    model = f"http://127.0.0.1:{server.server_address[1]}/model.bin?{SIGNATURE}"
    folder = make_app("pf_echo", ECHO_APP)
    umask = os.umask(0)  # the kernel inherits it
    try:
        kernel = LocalKernel(port=0, state_dir=state)
        kernel.__enter__()
    finally:
        os.umask(umask)
    try:
        svc = kernel.create({**app_spec("pf_svc", folder), "token": TOKEN, "model_path": model})
        assert post(svc.url, b"hi", TOKEN).content == b"hi"
        kernel.client._call(
            "POST",
            "/services",
            {"spec": {"name": "pf_queue", "token": QUEUE_TOKEN, "metadata": {"type": "Queue"}}},
        )
        admin = kernel.admin_token
        assert admin
        secrets = [TOKEN.encode(), QUEUE_TOKEN.encode(), SIGNATURE.encode(), admin.encode()]
        holders = []
        for root in (home, state):
            for path in [root, *root.rglob("*")]:
                mode = stat.S_IMODE(path.lstat().st_mode)
                if path.is_dir():
                    assert mode & 0o077 == 0, f"{path} is {oct(mode)}"
                elif path.is_file() and any(s in path.read_bytes() for s in secrets):
                    holders.append(path.name)
                    assert mode == 0o600, f"{path} holds a secret and is {oct(mode)}"
        assert "urls.json" in holders  # the presigned URL
        assert any(name.endswith(".json") for name in holders if name != "urls.json")
        for queue_file in (state / "queues").glob("*.sqlite*"):
            mode = stat.S_IMODE(queue_file.stat().st_mode)
            assert mode == 0o600, f"{queue_file} is {oct(mode)}"
        # no secret in a log
        logs = [kernel.log_path, *(state / "logs").glob("*.log*")]
        for log in logs:
            text = log.read_bytes()
            assert not any(s in text for s in secrets), f"a secret in {log}"
    finally:
        kernel.__exit__(None, None, None)
        server.shutdown()
