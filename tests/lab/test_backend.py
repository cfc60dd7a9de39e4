"""The panel's server side without a browser: the allow-list over the control API."""

from __future__ import annotations

import pytest
import requests

from easlab.errors import KernelNotRunning
from easlab.lab.backend import PanelBackend, PanelError


def test_state_lists_services_with_traffic_and_no_admin_token(kernel, app_dir):
    kernel.client.create(
        {
            "name": "lab_svc",
            "token": "lab-token-123456",
            "processor_type": "python",
            "processor_path": str(app_dir),
            "processor_entry": "app.py",
            "metadata": {"instance": 1},
        }
    )
    backend = PanelBackend(lambda start: kernel.client)
    desc = kernel.client.describe("lab_svc")
    with requests.Session() as s:
        for _ in range(30):
            s.post(desc["url"], data=b"hi", headers={"Authorization": "lab-token-123456"})
    state = backend.state(30)
    (row,) = [r for r in state["services"] if r["name"] == "lab_svc"]
    assert row["status"] == "Running" and row["running_instance"] == 1
    assert row["windows"]["60s"]["requests"] == 30 and len(row["series"]) == 30
    assert kernel.admin_token not in repr(state)
    # a service's token only through the explicit reveal
    assert "lab-token-123456" not in repr(state) and row["has_token"] is True
    assert backend.act("lab_svc", "token", {}) == {"name": "lab_svc", "token": "lab-token-123456"}

    scaled = backend.act("lab_svc", "scale", {"instances": 2})
    assert scaled["total_instance"] == 2 and "lab-token-123456" not in repr(scaled)
    assert len(backend.act("lab_svc", "workers", {})["workers"]) == 2
    with pytest.raises(PanelError, match="whole number"):
        backend.act("lab_svc", "scale", {"instances": "9; rm -rf"})
    assert backend.act("lab_svc", "stop", {})["status"] == "Stopped"
    assert backend.act("lab_svc", "delete", {}) == {"deleted": "lab_svc"}
    with pytest.raises(PanelError) as err:
        backend.act("lab_svc", "stop", {})
    assert err.value.status == 404


def test_no_kernel_is_a_state_not_an_error():
    def gone(start: bool):
        raise KernelNotRunning("no easlab kernel answers")

    backend = PanelBackend(gone)
    assert backend.state()["kernel"] is None
    with pytest.raises(PanelError) as err:
        backend.act("x", "stop", {})
    assert err.value.status == 503
