"""A kernel brings back its services and queue contents after a restart, even after SIGKILL."""

from __future__ import annotations

import stat
import threading

import requests
from kernel_helpers import ECHO_APP, wait_for

from easlab.wire.proto import queue_pb2

TOKEN = "rtok-" + "z" * 8


def _records(endpoint: str, name: str) -> list:
    resp = requests.get(
        f"{endpoint}/api/predict/{name}",
        params={"_index_": "0", "_length_": "100000", "_timeout_": "0s", "_auto_delete_": "false"},
        headers={"Authorization": TOKEN},
        timeout=30,
    )
    assert resp.status_code == 200, resp.text
    frames = queue_pb2.DataFrameListProto()
    frames.ParseFromString(resp.content)
    return list(frames.index)


def test_sigkill_mid_puts_then_restart(easlab_home, make_app, tmp_path):
    from easlab.client.local import LocalKernel

    state = tmp_path / "state"
    folder = make_app("restart_echo", ECHO_APP)
    acked: list[int] = []
    with LocalKernel(port=0, state_dir=state) as first:
        first.client._call(
            "POST",
            "/services",
            {"spec": {"name": "rq", "token": TOKEN, "metadata": {"type": "Queue"}}},
        )
        first.create(
            {
                "name": "restart_echo",
                "token": TOKEN,
                "processor_type": "python",
                "processor_path": str(folder),
                "processor_entry": "app.py",
                "metadata": {"instance": 1},
            }
        )
        url = f"{first.endpoint}/api/predict/rq"

        def put_forever() -> None:
            session = requests.Session()
            i = 0
            while True:
                try:
                    resp = session.post(
                        url, data=b"rec %d" % i, headers={"Authorization": TOKEN}, timeout=5
                    )
                except requests.RequestException:
                    return  # the kernel is gone
                if resp.status_code == 200:
                    acked.append(int(resp.text))
                i += 1

        writer = threading.Thread(target=put_forever, daemon=True)
        writer.start()
        wait_for(lambda: len(acked) >= 300, 60, "300 acknowledged puts")
        assert first.process is not None
        first.process.kill()  # SIGKILL: no clean shutdown
        first.process.wait()
        writer.join(10)
    # secrets stay private
    services = state / "services"
    assert stat.S_IMODE(services.stat().st_mode) == 0o700
    for file in services.iterdir():
        assert stat.S_IMODE(file.stat().st_mode) == 0o600
    assert stat.S_IMODE((state / "queues").stat().st_mode) & 0o077 == 0
    with LocalKernel(port=0, state_dir=state) as second:

        def running() -> bool:
            return any(
                s["name"] == "restart_echo" and s["status"] == "Running" for s in second.services()
            )

        wait_for(running, 120, "the restored service running")
        got = _records(second.endpoint, "rq")
        indexes = [f.index for f in got]
        assert len(indexes) == len(set(indexes))  # exactly once
        assert set(acked) <= set(indexes)  # every acknowledged put survived
        answer = requests.post(
            f"{second.endpoint}/api/predict/restart_echo",
            data=b"back",
            headers={"Authorization": TOKEN},
            timeout=30,
        )
        assert answer.status_code == 200 and answer.content == b"back"
