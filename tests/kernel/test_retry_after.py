"""A 503 that will pass (a service still Creating) says Retry-After; the client waits as asked."""

from __future__ import annotations

from kernel_helpers import app_spec, post, wait_for

import easlab
from easlab.client import predict_client

TOKEN = "tok-" + "r" * 8

# initialize() waits until the test creates the file next to app.py
GATED_APP = """
import os
import time
import allspark

class Gated(allspark.BaseProcessor):
    def initialize(self):
        gate = os.path.join(os.path.dirname(os.path.abspath(__file__)), "go")
        while not os.path.exists(gate):
            time.sleep(0.02)

    def process(self, data):
        return b"ran " + data, 200
"""


def test_a_creating_service_answers_retry_after_and_the_client_waits_it(
    kernel, make_app, monkeypatch
):
    name = "retry_gated"
    folder = make_app(name, GATED_APP)
    spec = app_spec(name, folder)
    spec["token"] = TOKEN
    svc = kernel.create(spec, wait=False)
    try:
        assert svc.status == "Creating"
        raw = post(svc.desc["url"], b"x", TOKEN)
        assert raw.status_code == 503 and "is Creating" in raw.text
        assert raw.headers["Retry-After"] == "1"

        pauses: list[float] = []

        def pause(seconds: float) -> None:  # the client's wait: let the service start then
            pauses.append(seconds)
            if len(pauses) == 2:
                (folder / "go").write_text("")
                wait_for(
                    lambda: kernel.client.describe(name)["status"] == "Running",
                    what="the gated service to run",
                )

        monkeypatch.setattr(predict_client, "_pause", pause)
        client = easlab.PredictClient(kernel.endpoint, name)
        client.set_token(TOKEN)
        assert client.predict(b"hi").data == b"ran hi"
        assert pauses == [1.0, 1.0]

        kernel.client.stop(name)
        stopped = post(svc.desc["url"], b"x", TOKEN)
        assert stopped.status_code == 503 and "is Stopped" in stopped.text
        assert "Retry-After" not in stopped.headers  # waiting will not start it
    finally:
        kernel.client.delete(name)
